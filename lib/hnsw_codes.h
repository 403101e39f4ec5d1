/* hnsw_codes.h — byte codes for the graph walk (hnsw's default storage for
 * l2 and cosine): sq8 rows whose every dimension has the same step, so that
 * the squared L2 distance of two codes, an exact integer sum (the l2sq_u8
 * kernel), is the distance of the vectors they stand for over step^2. The
 * query is quantized as the rows are, the graph is walked on codes alone,
 * and the beam's best are re-ranked with the float32 vectors (VECS, mapped:
 * only the rows re-ranked are read). The file holds plain sq8 rows and an
 * SQ8R section: nothing new to read or verify. (internal) */
#ifndef VDB_HNSW_CODES_H
#define VDB_HNSW_CODES_H
#include "rows.h"

/* Candidates re-ranked per result when a build names no --refine: the
 * beam's best min(ef, HNSW_CODES_REFINE * k). */
#define HNSW_CODES_REFINE 10u

/* sq8 rows for x (n rows of dim), with one step for every dimension: the
 * widest dimension's range over 255; each dimension keeps its own minimum. */
vdb_status vdb_hnsw_codes_train(vdb_rows *r, uint32_t dim, const float *x, size_t n);

/* Whether rows r can be walked on codes: sq8 with one step (to a few ulps)
 * for every dimension. */
bool vdb_hnsw_codes_ok(const vdb_rows *r);

/* A query (dim floats, normalised already for cosine) as a code, the rows'
 * way (rounded, clamped to 0..255). */
void vdb_hnsw_codes_query(const vdb_rows *r, const float *q, uint8_t *code);


/* The k best of nc candidates (ids into vecs, -1 ignored) by distance to
 * query q (normalised here for cosine), with the float kernels (as the
 * float32 graph ranks and reports), the rows read a few ahead. l2 and
 * cosine only. */
void vdb_hnsw_codes_rerank(vdb_rerank *r, vdb_metric m, const float *q, const float *vecs,
                           uint32_t d, const int64_t *cand, size_t nc, size_t k, int64_t *ids,
                           float *dist);
#endif
