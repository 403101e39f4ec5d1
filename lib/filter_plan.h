/* filter_plan.h — the filtered-search planner: scan the kept rows exactly,
 * or search the index admitting only them, by estimated cost; and the unit
 * costs the index types' own estimates (ops->filter_cost) are made of.
 * (internal) */
#ifndef VDB_FILTER_PLAN_H
#define VDB_FILTER_PLAN_H
#include "index_internal.h"

/* Does the exact scan of nq queries over kept rows rank them directly
 * (the SIMD kernel behind exact search's bound, tiles over the threads)
 * rather than through knn.c's matrix products (filtered.c)? l2 or cosine,
 * and a batch of at most VDB_EXACT_DIRECT_BATCH queries, or any batch when
 * OpenBLAS's core (vdb_blas_core) multiplies slower than vdb's kernels
 * rank (vdb_plan_direct_ns against vdb_plan_madd_ns: a fallback core far
 * below the CPU's SIMD level, as Prescott's on an AVX2 or AVX-512 CPU). */
#define VDB_EXACT_DIRECT_BATCH 64
/* ... on one thread below this many values ranked (rows x dimension x
 * (queries + 1)) */
#define VDB_EXACT_DIRECT_SERIAL ((size_t)1 << 22)
bool vdb_exact_direct(const vdb_index *ix, size_t nq);
/* ... for metric m, with the SIMD level and the OpenBLAS core named */
bool vdb_plan_direct(vdb_metric m, size_t nq, const char *level, const char *core);

/* The unit costs, in nanoseconds on one thread, of the index types'
 * estimates (filter_plan.c says where they were measured):
 * VDB_PLAN_NS_VALUE a value of a row ranked against one query by the
 * distance kernel (rows read in order); VDB_PLAN_NS_TEST a row tested
 * against the allowed set (a bit of the row bitset). */
#define VDB_PLAN_NS_VALUE 0.12
#define VDB_PLAN_NS_TEST 1.0
/* A row ranked one at a time into a query's top k through the exact
 * filter (vdb_exact_filter_push: its key, the exact distance near the
 * cut, the heap), beyond its distance: measured on 100k x 128, Zen 3
 * (ivf's filtered lists and lsh's candidates, 75-80 ns a row in all). */
#define VDB_PLAN_NS_PUSH 45.0
/* A row read from a random place among bytes of the index (a cache miss
 * once they outgrow the caches), beside ranking it. */
double vdb_plan_fetch_ns(double bytes);
/* The batched exact scan's nanoseconds per multiply-add with the kernels
 * of OpenBLAS's core (vdb_blas_core), from a measured table. */
double vdb_plan_madd_ns(const char *core);
/* The direct scan's nanoseconds per value of a kept row ranked against a
 * query with the distance kernels of SIMD level (vdb_kernels_name), from
 * a measured table. */
double vdb_plan_direct_ns(const char *level);
/* The waves of nq queries searched one per thread on threads threads. */
double vdb_plan_waves(size_t nq, int threads);

typedef struct {
	int path;               /* VDB_FILTER_SCAN or VDB_FILTER_INDEX */
	const char *why;        /* "cheaper", "forced", "only path", "fixed rule" */
	unsigned knob;          /* the index's setting estimated with (ef, nprobe), or 0 */
	double scan_s, index_s; /* each path's estimated seconds (negative: none) */
} vdb_filter_plan;

/* The plan for nq queries of ix (o: k, the knob, filter_path) with n_allow
 * of its rows allowed (n_allow > 0). */
void vdb_filter_plan_make(const vdb_index *ix, const vdb_search_opts *o, size_t nq,
                          size_t n_allow, vdb_filter_plan *p);
/* Record p for nq queries in o->plans (when not NULL). */
void vdb_filter_plan_note(const vdb_index *ix, const vdb_search_opts *o, size_t nq,
                          size_t n_allow, const vdb_filter_plan *p);
#endif
