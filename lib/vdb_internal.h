/* vdb_internal.h — helpers shared by the library's own files (not installed). */
#ifndef VDB_INTERNAL_H
#define VDB_INTERNAL_H
#include "config.h"
#include "vdb.h"
#include <stdbool.h>
#include <stdlib.h>

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
float vdb_reported_distance(vdb_metric m, double e);

/* Exact search admits only the rows (ids) whose bit is set in allow (a row
 * bitset that outlives s; NULL: every row). Set before vdb_knn_add. */
void vdb_knn_allow(vdb_knn *s, const uint64_t *allow);

/* The exact k best by hamming distance of nq query codes (cs bytes each,
 * back to back) over n row codes, row i at codes + i * stride; with allow
 * (a row bitset), of the allowed rows only. Ties go to the smaller row;
 * missing results are -1. */
vdb_status vdb_hamming_search(const unsigned char *q, size_t nq, const unsigned char *codes,
                              size_t cs, size_t stride, size_t n, const uint64_t *allow,
                              size_t k, int64_t *ids, float *dist);

#endif
