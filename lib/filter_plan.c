/*
 * filter_plan.c — the filtered-search planner: for a batch of queries with
 * a filter (or deleted rows), the exact scan of the kept rows or the
 * index's own filtered search, whichever costs less by estimate, as
 * Qdrant's and pgvector's planners choose by the filter's cardinality.
 *
 * The scan's cost grows with the rows kept: it lists them (a bit test per
 * row of the index), gathers them (a copy, or a decode of compressed
 * rows, per value), then computes every query's distance to each: a
 * small batch with the SIMD kernel, row by row; a large one with one sgemm
 * per tile, cheaper per multiply-add but paying per call for each row's
 * norm and packing (filtered.c, knn.c).
 * A graph walk's cost grows as the rows kept shrink: it keeps the ef best
 * allowed nodes, so it passes through about ef / selectivity nodes before
 * it can stop (every node, at worst, each computed once), each a distance
 * to a row read from a random place (a cache miss). The walk runs one
 * query per thread; a small batch's scan splits the rows over the threads,
 * a large one's runs on one thread unless its tiles are large (knn.c's
 * SERIAL_WORK).
 *
 * The constants are measured (scripts/bench_filter.py --plan, which times
 * both paths over selectivities 0.1%..50%, batched and one query at a
 * time; the curves are in the issue 23 note). Types whose knob is not a
 * beam (ivf's nprobe, lsh's probes) and flat, which is exact either way,
 * keep the fixed crossover: the exact scan under FIXED_SHARE of the rows or
 * FIXED_ROWS rows.
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
 * row of the index listed; a small batch ranked directly
 * (vdb_exact_direct), per value of a kept row gathered, per value and
 * query ranked, and per query (the tiles split over the threads); a larger batch through knn.c, per value of a
 * kept row prepared (gathered, its norm, packed for sgemm), per value and
 * query multiplied, and per query (heaps, results). Measured on 10k-100k
 * rows of 100-128 dimensions, one thread: a lone query ranks a kept row
 * of 128 values in 60-80 ns, a batch of 1,000 in 10-20 ns a query. */
#define NS_LIST 1.0
#define NS_GATHER 0.4
#define NS_DIRECT 0.12
#define NS_DIRECT_QUERY 2000.0
#define NS_PREP 1.17
#define NS_MADD 0.1
#define NS_KNN_QUERY 5000.0
/* as knn.c: multiply-adds of a tile below which one thread does them */
#define SCAN_SERIAL 2.5e8
#define SCAN_TILE_VALUES (1u << 18)

/* The walk, in nanoseconds: WALK_UNIT (plus WALK_UNIT_DIM a dimension) per
 * node of ef / selectivity, WALK_START nodes more (the descent, the first
 * steps), at most WALK_CAP times the nodes (every node once); a node
 * costs WALK_UNIT_2X more for each doubling of the graph's bytes beyond
 * WALK_CACHED (its rows come from memory, not the caches). Measured with
 * M 16, ef 64, one thread: 0.35-0.39 us a unit on siftsmall (6.5 MB) and
 * WordNet (14 MB), 1.05 us on 100k x 128 (65 MB). */
#define WALK_UNIT 250.0
#define WALK_UNIT_DIM 1.1
#define WALK_UNIT_2X 300.0
#define WALK_CACHED 16e6
#define WALK_START 100.0
#define WALK_CAP 0.4
/* bytes a node holds beside its row: M 16's layer-0 links and count */
#define WALK_LINKS 136.0

/* Seconds of the exact scan of m kept rows for nq queries. */
static double scan_seconds(const vdb_index *ix, size_t nq, size_t m, int threads)
{
	double d = ix->dim, q = (double)nq, v = (double)m * d, list = (double)ix->count * NS_LIST;
	unsigned storage = ix->file ? ix->file->h.storage : VDB_STORAGE_F32;
	double decode = storage == VDB_STORAGE_F32 ? 1.0 : DECODE;
	if (vdb_exact_direct(ix, nq)) {
		if (v * (q + 1) < (double)VDB_EXACT_DIRECT_SERIAL)
			threads = 1;
		return (list + (v * (NS_GATHER * decode + NS_DIRECT * q) + NS_DIRECT_QUERY * q) /
		                       threads) * 1e-9;
	}
	double tile = SCAN_TILE_VALUES / d;
	tile = tile < 256 ? 256 : tile;
	double work = q * (v * NS_MADD + NS_KNN_QUERY);
	if (q * tile * d >= SCAN_SERIAL)
		work /= threads;
	return (list + v * NS_PREP * decode + work) * 1e-9;
}

/* Seconds of nq walks of a beam of ef with m of the rows allowed. */
static double walk_seconds(const vdb_index *ix, size_t nq, size_t m, size_t ef, int threads)
{
	double n = (double)ix->count, units = (double)ef * n / (double)m;
	units = (units < WALK_CAP * n ? units : WALK_CAP * n) + WALK_START;
	/* the rows the walk reads: float32, or the codes of a compressed storage */
	unsigned storage = ix->file ? ix->file->h.storage : VDB_STORAGE_F32;
	double row = storage == VDB_STORAGE_F16 ? 2.0 : storage == VDB_STORAGE_SQ8 ? 1.0 : 4.0;
	double bytes = n * (row * ix->dim + WALK_LINKS);
	double unit = WALK_UNIT + WALK_UNIT_DIM * ix->dim;
	if (bytes > WALK_CACHED)
		unit += WALK_UNIT_2X * log2(bytes / WALK_CACHED);
	double waves = ceil((double)nq / (double)threads);
	return waves * units * unit * 1e-9;
}

void vdb_filter_plan_make(const vdb_index *ix, const vdb_search_opts *o, size_t nq,
                          size_t n_allow, vdb_filter_plan *p)
{
	/* the scan gathers float rows: hamming indexes filter their codes in
	 * search_allowed, whatever the share kept */
	bool scan = ix->ops->rows && ix->metric != VDB_METRIC_HAMMING;
	bool index = ix->ops->search_allowed != NULL;
	const struct vdb_index_knob *kn = ix->ops->knob;
	*p = (vdb_filter_plan){ .path = scan ? VDB_FILTER_SCAN : VDB_FILTER_INDEX,
		                .why = "only path", .scan_s = -1, .index_s = -1 };
	if (!scan || !index)
		return;
	if (o->filter_path == VDB_FILTER_SCAN || o->filter_path == VDB_FILTER_INDEX) {
		p->path = o->filter_path, p->why = "forced";
		return;
	}
	if (!kn || !kn->default_follows_k) {
		p->why = "fixed rule";
		p->path = n_allow < FIXED_ROWS || (double)n_allow < FIXED_SHARE * (double)ix->count
		                  ? VDB_FILTER_SCAN
		                  : VDB_FILTER_INDEX;
		return;
	}
	/* a beam of ef (at least k) */
	size_t ef = vdb_knob_value(o, kn);
	ef = ef ? ef : kn->pub.def;
	ef = ef < o->k ? o->k : ef;
	int threads = vdb_threads();
	p->knob = (unsigned)ef;
	p->scan_s = scan_seconds(ix, nq, n_allow, threads);
	p->index_s = walk_seconds(ix, nq, n_allow, ef, threads);
	p->path = p->scan_s <= p->index_s ? VDB_FILTER_SCAN : VDB_FILTER_INDEX;
	p->why = "cheaper";
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
	r->knob = p->knob, r->scan_s = p->scan_s, r->index_s = p->index_s;
}
