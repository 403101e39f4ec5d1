/* rows.h — how flat and hnsw indexes store their vectors (--storage):
 * float32, fp16 (half the bytes, ~3 significant digits) or sq8 (a quarter:
 * one byte per dimension over the data's range in that dimension). A query
 * stays float32 and is compared with the stored rows directly (the kernels
 * of vdb_kernels); with --refine the file also keeps the float32 rows and
 * the best candidates are re-ranked with them. (internal) */
#ifndef VDB_ROWS_H
#define VDB_ROWS_H
#include "file.h"
#include "quantize.h"
#include <jansson.h>

/* The float32 rows (flat indexes, and --refine), count x dim. */
#define VDB_SEC_VECS VDB_FOURCC('V', 'E', 'C', 'S')
/* The SQ8R section of an index: dim float32 lo, then dim hi. */
#define VDB_SEC_SQ8R VDB_FOURCC('S', 'Q', '8', 'R')

typedef struct {
	uint32_t kind;         /* VDB_STORAGE_F32, _F16, _SQ8 or _BINARY (hamming) */
	uint32_t dim;          /* in bits for binary rows */
	size_t size;           /* bytes per row: 4, 2 or 1 per dimension; dim/8 binary */
	vdb_quantizer *q;      /* fp16 and sq8: encodes */
	const float *lo, *step; /* sq8: level c of dimension i is lo[i] + c * step[i] */
} vdb_rows;

/* "f32", "fp16", "sq8"; VDB_EINVAL for anything else. */
vdb_status vdb_storage_parse(const char *s, uint32_t *kind);
const char *vdb_storage_name(uint32_t kind);

/* The storage a build asks for: binary for the hamming metric, else
 * o->storage (VDB_EINVAL if it is unknown). */
vdb_status vdb_rows_kind(const vdb_build_opts *o, uint32_t *kind);
/* Set up the storage of kind for n rows of x (sq8 learns each dimension's
 * range from them; fp16 checks that every value fits). */
vdb_status vdb_rows_train(vdb_rows *r, uint32_t kind, uint32_t dim, const float *x, size_t n);
/* The same from an opened index file (sq8: its SQ8R section). */
vdb_status vdb_rows_open(vdb_rows *r, const vdb_file *f, uint32_t dim);
/* The same storage as src (for an append: the new rows are encoded as the
 * old ones were). */
vdb_status vdb_rows_like(vdb_rows *r, const vdb_rows *src);
/* Write what vdb_rows_open needs (sq8: SQ8R). */
vdb_status vdb_rows_save(const vdb_rows *r, vdb_file_writer *w);
/* Encode n rows of x to rows of r->size bytes, `stride` bytes apart. */
vdb_status vdb_rows_encode(const vdb_rows *r, const float *x, size_t n, unsigned char *out,
                           size_t stride);
/* Decode one stored row to dim floats. */
void vdb_rows_decode(const vdb_rows *r, const vdb_kernels *K, const void *row, float *out);
void vdb_rows_free(vdb_rows *r);

/* ===== Value checks (vdb-query --verify; the sections every query reads
 * in whole are checked when an index is opened) =====
 * Inputs are refused at ingest when a value is NaN or infinite, so a
 * stored one is damage: it makes every distance to its row NaN, which
 * ranks as 0 or never. */
/* n rows of `per` floats: every value finite. VDB_ECORRUPT naming path,
 * the section `what`, the row and the dimension otherwise. */
vdb_status vdb_check_finite(const float *x, size_t n, size_t per, const char *path,
                            const char *what);
/* n stored rows of r, `stride` bytes apart: float32 and fp16 rows finite
 * (sq8 codes and binary rows cannot hold a NaN). */
vdb_status vdb_rows_check(const vdb_rows *r, const unsigned char *rows, size_t n, size_t stride,
                          const char *path, const char *what);
/* --info: "quantizer" of compressed rows (kind, bits, and sq8's ranges
 * summarised), nothing for f32. */
void vdb_rows_info(const vdb_rows *r, json_t *obj);
/* Bytes of the SQ8R section when r is sq8 (for --info), else 0. */
size_t vdb_rows_extra_bytes(const vdb_rows *r);

/* --refine: per-thread scratch for re-ranking up to kc candidates. ids and
 * dist take the candidates of the compressed search. */
typedef struct {
	int64_t *ids, *hi;
	float *dist, *q;
	double *hd;
} vdb_rerank;
vdb_rerank *vdb_rerank_new(size_t kc, uint32_t dim);
void vdb_rerank_free(vdb_rerank *r);
/* The k best of nc candidate rows (ids into vecs, -1 ignored) by exact
 * distance to query q (normalised here for cosine), with the float32 rows
 * vecs; results in ids/dist as an index search returns them. */
void vdb_rerank_one(vdb_rerank *r, vdb_metric m, const float *q, const float *vecs, uint32_t d,
                    const int64_t *cand, size_t nc, size_t k, int64_t *ids, float *dist);

/* A query in the form the kernels take (see vdb_kernels): qp holds dim
 * floats, *bias the constant part of a dot product. */
static inline void vdb_rows_prepare(const vdb_rows *r, vdb_metric m, const float *q, float *qp,
                                    float *bias)
{
	const vdb_kernels *K = vdb_kernels_get();
	*bias = 0;
	if (r->kind != VDB_STORAGE_SQ8) {
		for (uint32_t i = 0; i < r->dim; i++)
			qp[i] = q[i];
	} else if (m == VDB_METRIC_L2) {
		for (uint32_t i = 0; i < r->dim; i++)
			qp[i] = q[i] - r->lo[i];
	} else {
		*bias = K->dot(q, r->lo, r->dim);
		for (uint32_t i = 0; i < r->dim; i++)
			qp[i] = q[i] * r->step[i];
	}
}

/* Ranking distance of a prepared query to a stored row: squared L2, or
 * -dot for ip and (normalised) cosine; for binary rows the bit count that
 * differs (qp holds the query's bytes, not floats). */
static inline float vdb_rows_rank(const vdb_rows *r, const vdb_kernels *K, vdb_metric m,
                                  const float *qp, float bias, const void *row)
{
	bool l2 = m == VDB_METRIC_L2;
	switch (r->kind) {
	case VDB_STORAGE_BINARY:
		return (float)K->hamming((const uint8_t *)qp, row, r->size);
	case VDB_STORAGE_SQ8:
		return l2 ? K->l2sq_sq8(qp, row, r->step, r->dim) : -(bias + K->dot_sq8(qp, row, r->dim));
	case VDB_STORAGE_F16:
		return l2 ? K->l2sq_f16(qp, row, r->dim) : -K->dot_f16(qp, row, r->dim);
	default:
		return l2 ? K->l2sq(qp, row, r->dim) : -K->dot(qp, row, r->dim);
	}
}
#endif
