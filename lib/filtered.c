/*
 * filtered.c — search with a metadata filter or deleted rows, for every
 * index type.
 *
 * The filter is resolved once per call (a batch of queries) to a bitset of
 * the rows it keeps, less the deleted ones (an index with deletions and no
 * filter uses its live set as it is); the index then admits only those
 * rows. The planner (filter_plan.c) picks the path by estimated cost: the
 * answer computed exactly over just those rows (a graph search would
 * wander through mostly rejected nodes when few pass; the exact scan of
 * a few rows is cheaper and has recall 1), or the index's own filtered
 * search. Types with float rows can do the exact path (ops->rows); types
 * with their own filtered search (ops->search_allowed) the other, and
 * every search of a hamming index.
 *
 * k means k, filtered or not: a query that comes back with fewer than k
 * results while the index holds k rows it may return (an lsh bucket or ivf
 * list too small, an hnsw node its walk cannot reach) is searched again,
 * alone: through search_allowed, which widens (ivf probes more lists), then
 * if still short exactly over the rows, so that it returns k. Finding the
 * short queries reads one id per query; the normal search is untouched.
 * They are counted in o->widened (vdb-query -v); hamming rows are not
 * floats, so hnsw fills its hamming queries itself (index_hnsw.c).
 */
#include "index_internal.h"
#include "rows.h"
#include "payload.h"
#include "filter.h"
#include "rowset.h"
#include "filter_plan.h"
#include "topk.h"
#include <omp.h>
#include <math.h>
#include <string.h>

/* From the payload index when the file has one, else from each record's
 * JSON. */
vdb_status vdb_filter_rows(const vdb_index *ix, const vdb_filter *f, uint64_t **out, size_t *n)
{
	size_t words = vdb_rowset_words(ix->count);
	uint64_t *bits = vdb_rowset_new(ix->count, false, "the filter's rows");
	if (!bits)
		return VDB_ENOMEM;
	size_t total = 0;
	vdb_payload p;
	/* f->scan (vdb_filter_scan_records) evaluates each record's JSON even
	 * when the payload index exists: the reference the tests compare it with */
	if (ix->file && !f->scan && vdb_payload_open(&p, ix->file, ix->count)) {
		p.id_rows = vdb_filter_id_rows, p.ix = ix;
		vdb_status s = vdb_payload_resolve(&p, f, bits, n);
		if (s)
			free(bits);
		else
			*out = bits;
		return s;
	}
	/* a word per iteration: no two threads write the same word */
	#pragma omp parallel for schedule(dynamic, 64) reduction(+ : total)
	for (size_t w = 0; w < words; w++) {
		uint64_t word = 0;
		for (size_t i = w * 64; i < (w + 1) * 64 && i < ix->count; i++) {
			size_t len = 0, idlen = 0;
			const char *meta = vdb_index_meta_json(ix, (int64_t)i, &len);
			const char *id = vdb_index_id_json(ix, (int64_t)i, &idlen);
			if (vdb_filter_match_record(f, meta, len, id, idlen, (int64_t)i))
				word |= (uint64_t)1 << (i & 63);
		}
		bits[w] = word;
		total += (size_t)__builtin_popcountll(word);
	}
	*out = bits;
	*n = total;
	return VDB_OK;
}

/* A small batch of queries (vdb_exact_direct; any batch when OpenBLAS
 * runs a core slower than vdb's kernels) ranks the kept rows
 * with the SIMD kernel behind exact search's rounding bound
 * (vdb_exact_filter), DIRECT_TILE rows gathered at a time, the tiles split
 * over the threads: a matrix product (knn.c) pays per call for the rows'
 * norms and for packing them, which only a batch of many queries repays.
 * Measured on siftsmall (hnsw rows, 1 thread), one query over 5,000 kept
 * rows: 0.79 ms through knn.c, 0.34 ms direct (most of it reading the rows).
 * With OpenBLAS forced to its Prescott core on the AVX2 Zen 3
 * (OPENBLAS_CORETYPE), 5,000 queries over 25,000 kept rows of 128 values:
 * 1.54 s CPU direct (avx2), 1.69-2.04 s through sgemm (0.50 s with the
 * Zen core). */
#define DIRECT_TILE 256
/* VDB_EXACT_DIRECT_SERIAL: a parallel region costs more than a small scan
 * when the cores are busy (siftsmall, 2,000 rows kept, one query at a time
 * on a loaded 2-core machine: 145 queries/s on 2 threads, 2,963 on one). */

static vdb_status exact_direct(const vdb_index *ix, const float *q, size_t nq, size_t k,
                               const int64_t *map, size_t m, int64_t *ids, float *dist)
{
	const uint32_t d = ix->dim;
	size_t tiles = (m + DIRECT_TILE - 1) / DIRECT_TILE;
	int T = m * d * (nq + 1) < VDB_EXACT_DIRECT_SERIAL ? 1 : vdb_threads();
	T = (size_t)T > tiles ? (int)(tiles ? tiles : 1) : T;
	size_t heaps = (size_t)T * nq;
	float *qs = vdb_malloc(nq * d * sizeof *qs, "queries");
	float *buf = vdb_malloc((size_t)T * DIRECT_TILE * d * sizeof *buf, "filtered rows");
	double *hd = vdb_malloc(heaps * k * sizeof *hd, "result heaps");
	int64_t *hi = vdb_malloc(heaps * k * sizeof *hi, "result heaps");
	vdb_topk *h = vdb_malloc(heaps * sizeof *h, "result heaps");
	vdb_exact_filter *f = vdb_malloc(heaps * sizeof *f, "result heaps");
	vdb_status st = qs && buf && hd && hi && h && f ? VDB_OK : VDB_ENOMEM;
	for (size_t i = 0; !st && i < nq; i++) {
		memcpy(qs + i * d, q + i * d, d * sizeof *qs);
		if (ix->metric == VDB_METRIC_COSINE)
			vdb_normalize(qs + i * d, d);
	}
	for (size_t j = 0; !st && j < heaps; j++) {
		h[j] = (vdb_topk){ hd + j * k, hi + j * k, 0, (uint32_t)k };
		/* cosine rows are unit vectors; l2's bound is relative */
		vdb_exact_filter_init(&f[j], ix->metric, qs + (j % nq) * d, d, 1.0);
	}
	if (!st) {
		#pragma omp parallel num_threads(T) if (T > 1)
		{
			size_t t = (size_t)omp_get_thread_num();
			float *tb = buf + t * DIRECT_TILE * d;
			#pragma omp for schedule(dynamic, 1)
			for (size_t a = 0; a < tiles; a++) {
				size_t r0 = a * DIRECT_TILE, c = m - r0 < DIRECT_TILE ? m - r0 : DIRECT_TILE;
				ix->ops->rows(ix, map + r0, c, tb);
				for (size_t i = 0; i < nq; i++)
					for (size_t j = 0; j < c; j++)
						vdb_exact_filter_push(&f[t * nq + i], &h[t * nq + i], tb + j * d,
						                      map[r0 + j]);
			}
		}
		/* the threads' heaps into the first's: ties still go to the smaller row */
		for (size_t t = 1; t < (size_t)T; t++)
			for (size_t i = 0; i < nq; i++)
				for (uint32_t e = 0; e < h[t * nq + i].n; e++)
					topk_push(&h[i], h[t * nq + i].dist[e], h[t * nq + i].id[e]);
		for (size_t i = 0; i < nq; i++)
			vdb_topk_emit(&h[i], ix->metric, k, ids + i * k, dist + i * k);
	}
	free(qs), free(buf), free(hd), free(hi), free(h), free(f);
	return st;
}

vdb_status vdb_search_exact_allowed(const vdb_index *ix, const float *q, size_t nq, size_t k,
                                    const uint64_t *allow, size_t n_allow, int64_t *ids,
                                    float *dist)
{
	int64_t *map = vdb_malloc((n_allow ? n_allow : 1) * sizeof *map, "filtered rows");
	if (!map)
		return VDB_ENOMEM;
	/* the allowed rows in order, a word of the bitset at a time: a lone
	 * query over few of many rows pays for this more than for ranking them */
	size_t m = 0;
	for (size_t i = 0; !allow && i < ix->count; i++)
		map[m++] = (int64_t)i;
	for (size_t w = 0; allow && w < vdb_rowset_words(ix->count); w++)
		for (uint64_t bits = allow[w]; bits && m < n_allow; bits &= bits - 1) {
			size_t r = w * 64 + (size_t)__builtin_ctzll(bits);
			if (r < ix->count)
				map[m++] = (int64_t)r;
		}
	if (vdb_exact_direct(ix, nq)) {
		vdb_status st = exact_direct(ix, q, nq, k, map, m, ids, dist);
		free(map);
		return st;
	}
	/* rows gathered a tile at a time; their order keeps ties on the smaller row */
	size_t tile = ((size_t)1 << 18) / ix->dim;
	tile = tile < 256 ? 256 : tile;
	float *buf = vdb_malloc(tile * ix->dim * sizeof(float), "filtered rows");
	vdb_knn *s = NULL;
	vdb_status st = buf ? vdb_knn_new(&s, ix->metric, ix->dim, k, q, nq) : VDB_ENOMEM;
	for (size_t t = 0; !st && t < m; t += tile) {
		size_t c = m - t < tile ? m - t : tile;
		ix->ops->rows(ix, map + t, c, buf);
		st = vdb_knn_add(s, buf, NULL, c, (int64_t)t);
	}
	if (!st)
		st = vdb_knn_result(s, ids, dist);
	if (!st)
		for (size_t i = 0; i < nq * k; i++)
			ids[i] = ids[i] >= 0 ? map[ids[i]] : -1;
	vdb_knn_free(s);
	free(buf);
	free(map);
	return st;
}

vdb_status vdb_search_fill(const vdb_index *ix, const float *q, size_t nq,
                           const vdb_search_opts *o, const uint64_t *allow, size_t n_allow,
                           bool widen, int64_t *ids, float *dist)
{
	const size_t k = o->k, want = n_allow < k ? n_allow : k, d = ix->dim;
	/* hamming queries are codes, and its rows are not floats */
	if (want == 0 || ix->metric == VDB_METRIC_HAMMING || !ix->ops->rows)
		return VDB_OK;
	size_t m = 0;
	for (size_t i = 0; i < nq; i++)
		m += ids[i * k + want - 1] < 0;
	if (m == 0)
		return VDB_OK;
	if (o->widened) /* counted once here: the searches below do not count */
		__atomic_add_fetch(o->widened, m, __ATOMIC_RELAXED);
	vdb_search_opts quiet = *o;
	quiet.widened = NULL;
	widen = widen && ix->ops->search_allowed;
	size_t *sel = vdb_malloc(m * sizeof *sel, "short queries");
	float *qs = vdb_malloc(m * d * sizeof *qs, "short queries");
	int64_t *sid = vdb_malloc(m * k * sizeof *sid, "short queries");
	float *sdist = vdb_malloc(m * k * sizeof *sdist, "short queries");
	uint64_t *every = widen && !allow ? vdb_rowset_new(ix->count, true, "the rows") : NULL;
	vdb_status st = sel && qs && sid && sdist && (every || !widen || allow) ? VDB_OK : VDB_ENOMEM;
	for (size_t i = 0, j = 0; !st && i < nq; i++)
		if (ids[i * k + want - 1] < 0) {
			sel[j] = i;
			memcpy(qs + j++ * d, q + i * d, d * sizeof *qs);
		}
	/* widened first (when asked), then exactly those still short */
	for (int exact = !widen; !st && m && exact < 2; exact++) {
		st = exact ? vdb_search_exact_allowed(ix, qs, m, k, allow, n_allow, sid, sdist)
		           : ix->ops->search_allowed(ix, qs, m, &quiet, allow ? allow : every, n_allow,
		                                     sid, sdist);
		size_t left = 0;
		for (size_t j = 0; !st && j < m; j++) {
			memcpy(ids + sel[j] * k, sid + j * k, k * sizeof *ids);
			memcpy(dist + sel[j] * k, sdist + j * k, k * sizeof *dist);
			if (sid[j * k + want - 1] < 0) {
				sel[left] = sel[j];
				memmove(qs + left++ * d, qs + j * d, d * sizeof *qs);
			}
		}
		m = left;
	}
	free(every);
	free(sel), free(qs), free(sid), free(sdist);
	return st;
}

vdb_status vdb_index_search_filtered(const vdb_index *ix, const float *q, size_t nq,
                                     const vdb_search_opts *o, int64_t *ids, float *dist)
{
	/* the exact path gathers float rows (filter_plan.c) */
	bool floats = ix->ops->rows && ix->metric != VDB_METRIC_HAMMING;
	VDB_RETURN_IF(!floats && !ix->ops->search_allowed, VDB_EUNSUPPORTED,
	              "%s is not supported by %s %s indexes yet",
	              o->filter ? "--filter" : "searching with deleted records", ix->ops->name,
	              vdb_metric_name(ix->metric));
	/* the rows that may be returned: those the filter keeps, of the live */
	uint64_t *kept = NULL;
	const uint64_t *allow = ix->live;
	size_t n = ix->count - ix->ndead;
	if (o->filter) {
		vdb_status st = vdb_filter_rows(ix, o->filter, &kept, &n);
		if (st)
			return st;
		if (ix->live) {
			for (size_t w = 0; w < vdb_rowset_words(ix->count); w++)
				kept[w] &= ix->live[w];
			n = vdb_rowset_size(kept, ix->count);
		}
		allow = kept;
	}
	vdb_status st = VDB_OK;
	if (n == 0) { /* nothing passes: empty results, not an error */
		for (size_t i = 0; i < nq * o->k; i++)
			ids[i] = -1, dist[i] = INFINITY;
		free(kept);
		return VDB_OK;
	}
	vdb_filter_plan plan;
	vdb_filter_plan_make(ix, o, nq, n, &plan);
	vdb_filter_plan_note(ix, o, nq, n, &plan);
	if (plan.path == VDB_FILTER_SCAN) {
		st = vdb_search_exact_allowed(ix, q, nq, o->k, allow, n, ids, dist);
	} else {
		/* search_allowed widens as far as it can: what it misses, exactly */
		st = ix->ops->search_allowed(ix, q, nq, o, allow, n, ids, dist);
		if (!st)
			st = vdb_search_fill(ix, q, nq, o, allow, n, false, ids, dist);
	}
	free(kept);
	return st;
}
