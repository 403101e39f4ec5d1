/*
 * filter_plan.c — the filtered-search planner: for a batch of queries with
 * a filter (or deleted rows), the exact scan of the kept rows or the
 * index's own filtered search, whichever costs less by estimate, as
 * Qdrant's and pgvector's planners choose by the filter's cardinality.
 *
 * The scan's cost (here: it is the same for every type) grows with the
 * rows kept: it lists them (a bit test per row of the index), gathers them
 * (a copy, or a decode of compressed rows, per value: ops->rows_decoded
 * says which; hnsw's default keeps float32 rows beside its codes), then
 * computes every
 * query's distance to each: a small batch with the SIMD kernel, row by
 * row; a large one with one sgemm per tile, cheaper per multiply-add but
 * paying per call for each row's norm and packing (filtered.c, knn.c). A
 * small batch's scan splits the rows over the threads, a large one's runs
 * on one thread unless its tiles are large (knn.c's SERIAL_WORK).
 *
 * The index's cost is the type's own estimate (ops->filter_cost, in its
 * file, made of the units in filter_plan.h): hnsw's walk passes through
 * about ef / selectivity nodes; ivf and ivfpq choose their lists and test
 * their rows, probing more when they held fewer than half their rows'
 * worth of kept rows; lsh visits its buckets, probing more likewise, and
 * ranks every kept row when that is cheaper.
 * Types without an estimate keep the fixed crossover: the exact scan under
 * FIXED_SHARE of the rows or FIXED_ROWS rows. Flat needs none: its search
 * is the scan.
 *
 * The constants are measured (scripts/bench_filter.py --plan, which times
 * both paths over selectivities 0.1%..50%, batched and one query at a
 * time, for hnsw, ivf and lsh) on an AVX-512 Xeon and checked on an AVX2
 * AMD Zen 3 (the curves are in the issue 23 note); the batched scan's
 * per multiply-add follows the core OpenBLAS runs, and the direct scan's
 * per value the SIMD level, from tables measured on the Zen 3 (below).
 */
#include "filter_plan.h"
#include <math.h>
#include <string.h>
#include <strings.h>

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
 * and query ranked (vdb_plan_direct_ns), and per query (the tiles split
 * over the threads); a larger batch through knn.c, per value of a kept row
 * prepared (gathered, its norm, packed for sgemm), per value and query
 * multiplied, and per query (heaps, results). Measured on 10k-100k rows of
 * 100-128 dimensions, one thread: a lone query ranks a kept row of 128
 * values in 60-80 ns, a batch of 1,000 in 10-20 ns a query. The gather
 * of float32 rows: 0.2 ns a value (hnsw's default index of 100k x 128 one
 * query at a time, 2-20% kept, Zen 3: 38 ns a kept row in all, 12 of them
 * ranking). A batch's fixed cost a query: 1.5-2 us (siftsmall, 1,000 queries
 * of 12-100 kept rows, search CPU less the filter's evaluation). */
#define NS_GATHER 0.2
#define NS_DIRECT_QUERY 2000.0
#define NS_PREP 1.17
#define NS_KNN_QUERY 2000.0

/* The batched scan's cost per multiply-add (sgemm, and the rows whose key
 * passes the bound) follows the kernels OpenBLAS runs (vdb_blas_core, a
 * DYNAMIC_ARCH build's choice from the CPU): not timed at run time, so a
 * plan is the same on every run of one machine. Measured with
 * OPENBLAS_CORETYPE forcing each core on an AMD EPYC (Zen 3), OpenBLAS
 * 0.3.21, one thread, batches of 1,000 and 4,096 of 5,000 queries over
 * 10k and 25k kept rows of 128 values (the slope of vdb-query
 * --filter-path scan's CPU time, best of 3, a loaded machine): Prescott
 * 0.101-0.108 ns (0.1 on the AVX-512 Xeon, where OpenBLAS 0.3.21 does not
 * know the CPU and falls back to Prescott), Core2 0.059-0.061,
 * Sandybridge 0.030-0.035, Zen (Haswell's kernels) 0.026-0.034. The other
 * cores of a family are taken as the one measured; SkylakeX and
 * Cooperlake (AVX-512) could not be measured here: taken as Haswell's,
 * which they should not be slower than. A BLAS that names no known core
 * keeps the Xeon's figure. */
static const struct {
	const char *cores; /* space-separated, as openblas_get_corename spells them */
	double ns;
} MADD_BY_CORE[] = {
	{ "Prescott Katmai Coppermine Northwood Banias Atom Athlon Opteron Barcelona Bobcat Nano",
	  0.10 },
	{ "Core2 Penryn Dunnington Nehalem", 0.060 },
	{ "Sandybridge Bulldozer Piledriver", 0.032 },
	{ "Haswell Zen Steamroller Excavator SkylakeX Cooperlake SapphireRapids", 0.030 },
};
#define NS_MADD_UNKNOWN 0.1

/* The direct scan (filtered.c's exact_direct) per value and query, by SIMD
 * level: measured as the batch's above (-b 64): avx2 0.093 ns, scalar
 * 0.20. AVX-512 could not be measured here: taken as avx2's, as neon is
 * taken as scalar's. */
double vdb_plan_direct_ns(const char *level)
{
	return !strcmp(level, "avx2") || !strcmp(level, "avx512") ? 0.093 : 0.20;
}

/* The table's figure for core, or 0 for a core it does not know */
static double core_madd_ns(const char *core)
{
	size_t n = strlen(core);
	for (size_t i = 0; n && i < sizeof MADD_BY_CORE / sizeof *MADD_BY_CORE; i++)
		for (const char *c = MADD_BY_CORE[i].cores; *c; c += strcspn(c, " "), c += *c == ' ')
			if (strcspn(c, " ") == n && !strncasecmp(c, core, n))
				return MADD_BY_CORE[i].ns;
	return 0;
}

double vdb_plan_madd_ns(const char *core)
{
	double ns = core_madd_ns(core);
	return ns > 0 ? ns : NS_MADD_UNKNOWN;
}

/* only a core the table knows to be slow: a BLAS that cannot name its
 * kernels (another vendor's, perhaps fast) keeps sgemm for a batch */
bool vdb_plan_direct(vdb_metric m, size_t nq, const char *level, const char *core)
{
	if (m != VDB_METRIC_L2 && m != VDB_METRIC_COSINE)
		return false;
	return nq <= VDB_EXACT_DIRECT_BATCH || vdb_plan_direct_ns(level) < core_madd_ns(core);
}

bool vdb_exact_direct(const vdb_index *ix, size_t nq)
{
	return vdb_plan_direct(ix->metric, nq, vdb_kernels_name(), vdb_blas_core());
}
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
	bool decoded = ix->ops->rows_decoded ? ix->ops->rows_decoded(ix) : storage != VDB_STORAGE_F32;
	double decode = decoded ? DECODE : 1.0;
	if (vdb_exact_direct(ix, nq)) {
		if (v * (q + 1) < (double)VDB_EXACT_DIRECT_SERIAL)
			threads = 1;
		double rank = vdb_plan_direct_ns(vdb_kernels_name());
		return (list + (v * (NS_GATHER * decode + rank * q) + NS_DIRECT_QUERY * q) /
		                       threads) * 1e-9;
	}
	double tile = SCAN_TILE_VALUES / d;
	tile = tile < 256 ? 256 : tile;
	double work = q * (v * vdb_plan_madd_ns(vdb_blas_core()) + NS_KNN_QUERY);
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
	r->knob = p->knob, r->knob_name = ix->ops->knob ? ix->ops->knob->pub.name : NULL;
	r->scan_s = p->scan_s, r->index_s = p->index_s;
	r->blas_core = vdb_blas_core(), r->madd_ns = vdb_plan_madd_ns(r->blas_core);
	r->direct = vdb_exact_direct(ix, nq);
}
