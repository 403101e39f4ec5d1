/*
 * filter_plan.c — the filtered-search planner: for a batch of queries with
 * a filter (or deleted rows), the exact scan of the kept rows or the
 * index's own filtered search, whichever costs less by estimate, as
 * Qdrant's and pgvector's planners choose by the filter's cardinality.
 *
 * The scan's cost (here: it is the same for every type) grows with the
 * rows kept: it lists them (a bit test per row of the index), gathers them
 * (a copy, or a decode of compressed rows, per value), then computes every
 * query's distance to each: a small batch with the SIMD kernel, row by
 * row; a large one with one sgemm per tile, cheaper per multiply-add but
 * paying per call for each row's norm and packing (filtered.c, knn.c). A
 * small batch's scan splits the rows over the threads, a large one's runs
 * on one thread unless its tiles are large (knn.c's SERIAL_WORK).
 *
 * The index's cost is the type's own estimate (ops->filter_cost, in its
 * file, made of the units in filter_plan.h): hnsw's walk passes through
 * about ef / selectivity nodes; ivf chooses its lists and tests their rows,
 * probing more when they hold fewer than k kept rows; lsh visits its
 * buckets, probing more, and ranks every kept row when that is cheaper.
 * Types without an estimate keep the fixed crossover: the exact scan under
 * FIXED_SHARE of the rows or FIXED_ROWS rows. Flat needs none: its search
 * is the scan.
 *
 * The constants are measured (scripts/bench_filter.py --plan, which times
 * both paths over selectivities 0.1%..50%, batched and one query at a
 * time, for hnsw, ivf and lsh) on an AVX-512 Xeon and checked on an AVX2
 * AMD Zen 3 (the curves are in the issue 23 note).
 */
#include "filter_plan.h"
#include <math.h>

/* Compressed rows (fp16, sq8) decode: the scan's gather costs this many
 * times a copy (not measured here: an estimate). */
#define DECODE 3.0

/* The fixed crossover of the types without an estimate (measured on
 * siftsmall for hnsw before the planner: 1,500 rows kept). */
#define FIXED_SHARE 0.02
#define FIXED_ROWS 1500

/* The scan, in nanoseconds (filtered.c's vdb_search_exact_allowed): per
 * row of the index listed (VDB_PLAN_NS_TEST); a small batch ranked
 * directly (vdb_exact_direct), per value of a kept row gathered, per value
 * and query ranked (VDB_PLAN_NS_VALUE), and per query (the tiles split
 * over the threads); a larger batch through knn.c, per value of a kept row
 * prepared (gathered, its norm, packed for sgemm), per value and query
 * multiplied, and per query (heaps, results). Measured on 10k-100k rows of
 * 100-128 dimensions, one thread: a lone query ranks a kept row of 128
 * values in 60-80 ns, a batch of 1,000 in 10-20 ns a query. */
#define NS_GATHER 0.4
#define NS_DIRECT_QUERY 2000.0
#define NS_PREP 1.17
#define NS_MADD 0.1
#define NS_KNN_QUERY 5000.0
/* as knn.c: multiply-adds of a tile below which one thread does them */
#define SCAN_SERIAL 2.5e8
#define SCAN_TILE_VALUES (1u << 18)

/* A random row: FETCH_CACHED while the index's bytes stay in the caches
 * (FETCH_BYTES), then FETCH_2X more for each doubling beyond (hnsw's walk,
 * which reads a row from a random place per distance: 0.35-0.39 us a node
 * of ~30 distances on siftsmall (6.5 MB) and WordNet (14 MB), 1.05 us on
 * 100k x 128 (65 MB), M 16, one thread). */
#define FETCH_CACHED 2.0
#define FETCH_2X 10.0
#define FETCH_BYTES 16e6

double vdb_plan_fetch_ns(double bytes)
{
	return FETCH_CACHED + (bytes > FETCH_BYTES ? FETCH_2X * log2(bytes / FETCH_BYTES) : 0);
}

double vdb_plan_waves(size_t nq, int threads)
{
	return ceil((double)nq / (double)(threads > 0 ? threads : 1));
}

/* Seconds of the exact scan of m kept rows for nq queries. */
static double scan_seconds(const vdb_index *ix, size_t nq, size_t m, int threads)
{
	/* listed a word of the bitset at a time, then each kept row */
	double d = ix->dim, q = (double)nq, v = (double)m * d;
	double list = ((double)ix->count / 64 + (double)m) * VDB_PLAN_NS_TEST;
	unsigned storage = ix->file ? ix->file->h.storage : VDB_STORAGE_F32;
	double decode = storage == VDB_STORAGE_F32 ? 1.0 : DECODE;
	if (vdb_exact_direct(ix, nq)) {
		if (v * (q + 1) < (double)VDB_EXACT_DIRECT_SERIAL)
			threads = 1;
		return (list + (v * (NS_GATHER * decode + VDB_PLAN_NS_VALUE * q) + NS_DIRECT_QUERY * q) /
		                       threads) * 1e-9;
	}
	double tile = SCAN_TILE_VALUES / d;
	tile = tile < 256 ? 256 : tile;
	double work = q * (v * NS_MADD + NS_KNN_QUERY);
	if (q * tile * d >= SCAN_SERIAL)
		work /= threads;
	return (list + v * NS_PREP * decode + work) * 1e-9;
}

void vdb_filter_plan_make(const vdb_index *ix, const vdb_search_opts *o, size_t nq,
                          size_t n_allow, vdb_filter_plan *p)
{
	/* the scan gathers float rows: hamming indexes filter their codes in
	 * search_allowed, whatever the share kept */
	bool scan = ix->ops->rows && ix->metric != VDB_METRIC_HAMMING;
	bool index = ix->ops->search_allowed != NULL;
	*p = (vdb_filter_plan){ .path = scan ? VDB_FILTER_SCAN : VDB_FILTER_INDEX,
		                .why = "only path", .scan_s = -1, .index_s = -1 };
	if (!scan || !index)
		return;
	if (o->filter_path == VDB_FILTER_SCAN || o->filter_path == VDB_FILTER_INDEX) {
		p->path = o->filter_path, p->why = "forced";
		return;
	}
	if (!ix->ops->filter_cost) {
		p->why = "fixed rule";
		p->path = n_allow < FIXED_ROWS || (double)n_allow < FIXED_SHARE * (double)ix->count
		                  ? VDB_FILTER_SCAN
		                  : VDB_FILTER_INDEX;
		return;
	}
	int threads = vdb_threads();
	p->scan_s = scan_seconds(ix, nq, n_allow, threads);
	p->index_s = ix->ops->filter_cost(ix, o, nq, n_allow, threads, &p->knob);
	p->path = p->scan_s <= p->index_s ? VDB_FILTER_SCAN : VDB_FILTER_INDEX;
	/* an infinite estimate: the index would lose recall (its type says why) */
	p->why = isinf(p->index_s) ? "the index would see too few kept records" : "cheaper";
}

void vdb_filter_plan_note(const vdb_index *ix, const vdb_search_opts *o, size_t nq,
                          size_t n_allow, const vdb_filter_plan *p)
{
	vdb_filter_plans *r = o->plans;
	if (!r)
		return;
	__atomic_add_fetch(&r->queries[p->path], nq, __ATOMIC_RELAXED);
	r->path = p->path, r->why = p->why;
	r->kept = n_allow, r->rows = ix->count, r->batch = nq;
	r->knob = p->knob, r->knob_name = ix->ops->knob ? ix->ops->knob->pub.name : NULL;
	r->scan_s = p->scan_s, r->index_s = p->index_s;
}
