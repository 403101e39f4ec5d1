/* vdb_internal.h — helpers shared by the library's own files (not installed). */
#ifndef VDB_INTERNAL_H
#define VDB_INTERNAL_H
#include "config.h"
#include "vdb.h"
#include <stdbool.h>
#include <stdlib.h>

/* ===== Distance kernels (not in vdb.h: a kernel added is no ABI change) ===== */
/* The distance kernels in use, chosen once from the CPU's features
 * (VDB_SIMD=scalar|avx2|avx512|neon forces a level). All take unaligned pointers. */
typedef struct {
	const char *name; /* "scalar", "avx2", "avx512", "neon" */
	float (*l2sq)(const float *a, const float *b, size_t d);
	/* out[j] = l2sq(q, x + j * d) for n contiguous rows (within the same
	 * error bound, vdb_kernel_gamma, not bit for bit): several rows at a
	 * time share the query's loads and hide the FMA latency, as the scan
	 * of an ivf list or of the centroids wants */
	void (*l2sq_many)(const float *q, const float *x, size_t d, size_t n, float *out);
	float (*dot)(const float *a, const float *b, size_t d);
	/* out[j] = dot(q, x + j * d), as l2sq_many: the scan of ip and cosine lists */
	void (*dot_many)(const float *q, const float *x, size_t d, size_t n, float *out);
	/* 1 - cos(a,b), computed from raw (unnormalised) vectors; 1 if either is 0 */
	float (*cosine)(const float *a, const float *b, size_t d);
	/* number of differing bits over nbytes bytes */
	uint32_t (*hamming)(const uint8_t *a, const uint8_t *b, size_t nbytes);
	/* out[j] = hamming(q, codes + j * nbytes) for n contiguous codes: one
	 * call per block keeps a flat scan at memory speed */
	void (*hamming_many)(const uint8_t *q, const uint8_t *codes, size_t nbytes, size_t n,
	                     uint32_t *out);
	/* First j in [start, n) whose ranking key, xn[j] - 2*dots[j] (l2) or
	 * -dots[j] (xn NULL: ip, cosine), is <= thr; n if there is none. The
	 * filter of exact search: most keys lose to the k-th best so far. */
	size_t (*next_below)(const float *xn, const float *dots, size_t start, size_t n,
	                     float thr);
	/* The exact distances of exact search (vdb_exact_distance): sum of
	 * (q[i] - x[i])^2, and of q[i] * x[i], in double, from eight running
	 * sums (lane i mod 8; the tail joins lane 0) added pairwise at the end.
	 * Every level keeps that order, so every level gives the scalar value. */
	double (*l2sq_f64)(const float *q, const float *x, size_t d);
	double (*dot_f64)(const float *q, const float *x, size_t d);
	/* Compressed rows (the sq8 and fp16 storage of flat and hnsw indexes),
	 * compared with a float query without decoding them first. sq8 level c
	 * of dimension i stands for lo[i] + c * step[i]; the caller folds lo
	 * and step into the query: l2sq_sq8 takes q - lo and returns
	 * sum (q[i] - c[i] * step[i])^2; dot_sq8 takes q * step and returns
	 * sum q[i] * c[i] (add dot(q, lo) for the dot product). fp16 rows are
	 * IEEE half precision, little-endian. */
	float (*l2sq_sq8)(const float *q, const uint8_t *c, const float *step, size_t d);
	float (*dot_sq8)(const float *q, const uint8_t *c, size_t d);
	float (*l2sq_f16)(const float *q, const uint16_t *h, size_t d);
	float (*dot_f16)(const float *q, const uint16_t *h, size_t d);
	/* Decode n values: out[i] = lo[i] + c[i] * step[i], or half -> float
	 * (exact). */
	void (*decode_sq8)(const uint8_t *c, const float *lo, const float *step, float *out,
	                   size_t n);
	void (*decode_f16)(const uint16_t *h, float *out, size_t n);
	/* Two byte codes of d values (d <= 65536, so the sums fit): the
	 * integer sum of (a[i] - b[i])^2, and of a[i] * b[i]. The distances of
	 * a search on codes alone, where the query is quantized too. */
	uint32_t (*l2sq_u8)(const uint8_t *a, const uint8_t *b, size_t d);
	/* out[j] = l2sq_u8(q, rows + ids[j] * stride, d) for n rows picked by
	 * id (a graph node's unvisited neighbours): the query's loads shared,
	 * several sums at once */
	void (*l2sq_u8_many)(const uint8_t *q, const uint8_t *rows, size_t stride,
	                     const uint32_t *ids, size_t n, size_t d, uint32_t *out);
	uint32_t (*dot_u8)(const uint8_t *a, const uint8_t *b, size_t d);
	/* ===== 4-bit PQ fast-scan (pq_scan*.c) ===== */
	/* One block of 32 codes of m sub-quantizers of 16 centroids against
	 * m tables of 16 bytes (layout: pq_scan.c): out[i] = the sum of vector
	 * i's entries, modulo 2^16; bit i of the result: out[i] <= thr. */
	uint32_t (*pq4_block)(const uint8_t *codes, const uint8_t *lut, size_t m, uint16_t thr,
	                      uint16_t *out);
	/* The float tables a + b (b NULL: a; m x 16) quantized to bytes in lut:
	 * t ~ low_s + delta * lut, m times the largest byte below 2^16; t (m x
	 * 16 + m floats) is scratch, and may be a. Returns delta (0: all
	 * entries of each subspace equal, or not finite), *lo the sum of the
	 * low_s. Every level gives the same bytes, delta and lo. */
	double (*pq4_quantize)(const float *a, const float *b, size_t m, float *t, uint8_t *lut,
	                       double *lo);
	/* Every j in [0, n) whose key -dots[j] is <= thr (a NaN key is not),
	 * in order, into out (room for n); returns how many: next_below's
	 * filter in one pass, no branch on the keys, so that exact search's
	 * stage touches only the hits. */
	size_t (*hits_below)(const float *dots, size_t n, float thr, uint32_t *out);
} vdb_kernels;

const vdb_kernels *vdb_kernels_get(void);
/* A specific level: "scalar" always exists; NULL if the level is unknown or
 * this CPU cannot run it. Tests compare every level against "scalar". */
const vdb_kernels *vdb_kernels_level(const char *name);

/* Fail with a formatted message when cond holds. */
#define VDB_RETURN_IF(cond, status, ...) \
	do { if (cond) return vdb_fail((status), __VA_ARGS__); } while (0)

/* Overflow-checked size arithmetic: false on overflow. */
static inline bool vdb_mul_ok(size_t a, size_t b, size_t *out)
{
	return !__builtin_mul_overflow(a, b, out);
}
static inline bool vdb_add_ok(size_t a, size_t b, size_t *out)
{
	return !__builtin_add_overflow(a, b, out);
}

/* Bytes of one vector: dim/8 of packed bits (binary, the hamming metric)
 * or dim float32. Queries and rows are laid out with this stride. */
static inline size_t vdb_vector_bytes(bool binary, uint32_t dim)
{
	return binary ? dim / 8 : (size_t)dim * sizeof(float);
}

/* The factor vdb_normalize scales x by: 1/|x| as float32 (1 for a zero
 * vector). */
float vdb_normalize_factor(const float *x, size_t d);

/* malloc that records VDB_ENOMEM in the thread's message on failure. */
void *vdb_malloc(size_t n, const char *what);
void *vdb_realloc(void *p, size_t n, const char *what);

/* Grow *buf (element size es, capacity *cap) to hold at least need items. */
vdb_status vdb_grow(void **buf, size_t *cap, size_t need, size_t es, const char *what);

/* Float kernels filter, exact distances decide: a float sum of d products
 * is within gamma(d) times the sum of their magnitudes of the exact value
 * (the standard bound, (d+4)u, doubled for safety). */
static inline double vdb_kernel_gamma(size_t d)
{
	return 2.0 * ((double)d + 4) * (double)__FLT_EPSILON__ / 2;
}

/* The smallest float >= t: a threshold that keeps every key it must. */
static inline float vdb_float_up(double t)
{
	float f = (float)t;
	return (double)f < t ? __builtin_nextafterf(f, __builtin_inff()) : f;
}

/* one(ctx, ws, i) for every query i < nq, in parallel on at most
 * vdb_threads() threads (never more than nq), each thread with a workspace
 * from make(ctx), freed with drop: nothing is allocated per query. Returns
 * VDB_ENOMEM (no message) if a workspace could not be made; the queries of
 * that thread are skipped. */
vdb_status vdb_for_queries(size_t nq, void *ctx, void *(*make)(void *ctx), void (*drop)(void *ws),
                           void (*one)(void *ctx, void *ws, size_t i));

/* The exact distance of exact search, in double: |q-x|^2 (l2), -<q,x>
 * (ip), 1-<q,x> (cosine, unit rows); and what results report for it. Every
 * index that promises the flat answer uses these two. */
double vdb_exact_distance(vdb_metric m, const float *q, const float *x, size_t d);
/* out[j] = |x_j|^2 (the dot kernel) for n rows of dimension d, on up to
 * threads OpenMP threads: the l2 ranking keys' row term (knn.c). */
void vdb_row_norms(const float *x, size_t n, uint32_t d, float *out, int threads);
float vdb_reported_distance(vdb_metric m, double e);

/* Exact search admits only the rows (ids) whose bit is set in allow (a row
 * bitset that outlives s; NULL: every row). Set before vdb_knn_add. */
void vdb_knn_allow(vdb_knn *s, const uint64_t *allow);

/* At most bytes for the staged rows of one vdb_knn_add call on s (default
 * 256 MB); stages that would need more give way to the exact heap alone
 * (the same answer, slower). For tests: 0 takes that path at any size. */
void vdb_knn_stage_bytes(vdb_knn *s, size_t bytes);

/* The threads vdb_knn_add gives s a block of nx rows: 1 for a small job;
 * a lone query's scan (fewer queries than two per thread) is split over
 * every thread from about 0.1 ms of work. */
int vdb_knn_threads(const vdb_knn *s, size_t nx);

/* The exact k best by hamming distance of nq query codes (cs bytes each,
 * back to back) over n row codes, row i at codes + i * stride; with allow
 * (a row bitset), of the allowed rows only. Ties go to the smaller row;
 * missing results are -1. */
vdb_status vdb_hamming_search(const unsigned char *q, size_t nq, const unsigned char *codes,
                              size_t cs, size_t stride, size_t n, const uint64_t *allow,
                              size_t k, int64_t *ids, float *dist);

#endif
