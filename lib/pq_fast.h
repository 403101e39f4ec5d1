/* pq_fast.h — ivfpq's 4-bit codes scanned in registers (pq_fast.c). (internal) */
#ifndef VDB_PQ_FAST_H
#define VDB_PQ_FAST_H
#include "ivf.h"

/* What a 4-bit ivfpq keeps in memory beside the file's one-byte codes. */
typedef struct vdb_pq4 vdb_pq4;

/* Pack f's codes (f->codes, one per byte, values masked to 4 bits) by
 * blocks of 32 rows of a list, and for l2 the per-list tables. */
vdb_status vdb_pq4_make(vdb_pq4 **out, const ivf *f, vdb_metric metric, uint32_t d);
void vdb_pq4_free(vdb_pq4 *p);
/* Bytes resident for the packed codes and the tables. */
size_t vdb_pq4_bytes(const vdb_pq4 *p);
/* Of which the l2 per-list tables (0: none, ip or cosine or too large). */
size_t vdb_pq4_table_bytes(const vdb_pq4 *p);
/* ivf_codec.scan for f's 4-bit codes, packed in p (w->table holds at least
 * m x 256 floats). */
void vdb_pq4_scan(const ivf *f, const vdb_pq4 *p, vdb_metric m, uint32_t d, ivf_ws *w,
                  size_t nl, const uint64_t *allow, vdb_topk *h, bool by_pos);
/* Quantize the float tables a + b (b NULL: a; m x 16) to bytes in lut:
 * t ~ low_s + delta * lut, m times the largest byte below 2^16; t (m x 16
 * + m floats) is scratch, and may be a. Returns delta (0: all entries of
 * each subspace equal, or not finite), *lo the sum of the low_s. */
double vdb_pq4_quantize(const float *a, const float *b, size_t m, float *t, uint8_t *lut,
                        double *lo);
#endif
