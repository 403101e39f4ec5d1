/*
 * ivf_scan.c — choosing one query's lists and scanning ivf's float32
 * lists, on one thread or split across several (one query's latency falls
 * with cores).
 *
 * Both work in two passes over a block: the float kernel's keys first (one
 * pass over the rows at memory speed), then the exact distance, in double,
 * only for the keys that can still win. The k-th smallest key of a block
 * bounds the k-th best exact distance before any is computed, so a query
 * computes about k exact distances in its first list instead of one for
 * every row that beats a heap still filling up. Answers are those of the
 * one-pass filter (exact search's): only rows that cannot enter the top k
 * are skipped.
 */
#include "ivf.h"
#include <math.h>
#include <omp.h>

/* The k-th smallest of n >= k keys (top: scratch of capacity >= k). Once
 * the heap is full, a key no smaller than its root cannot change the k-th
 * value: one float comparison. */
static float kth_key(const float *keys, size_t n, uint32_t k, float *top)
{
	uint32_t held = 0;
	size_t j = 0;
	for (; j < k; j++)
		topk_key_push(top, &held, k, keys[j]);
	for (; j < n; j++)
		if (keys[j] < top[0])
			topk_key_push(top, &held, k, keys[j]);
	return top[0];
}

/* The largest key whose exact value can be at most that of the row whose
 * key is kth: |key - exact| <= g * exact (l2), or <= cross (ip, cosine,
 * where the key is the exact value minus shift). */
static float key_bound(const vdb_exact_filter *ef, float kth)
{
	if (ef->m == VDB_METRIC_L2)
		return vdb_float_up(((double)kth + 1e-30) * (1 + ef->g) / (1 - ef->g) + 1e-30);
	return vdb_float_up((double)kth + 2 * ef->cross);
}

#define PROBE_RUN 64u

size_t vdb_ivf_probe(const ivf *f, uint32_t d, ivf_ws *w, size_t nprobe, int threads)
{
	const vdb_kernels *K = vdb_kernels_get();
	uint32_t nlist = f->nlist;
	if (threads < 2 || (size_t)nlist * d < 4 * IVF_SPLIT_MIN) /* a fork and join to save */
		threads = 1;
	/* the centroids in runs of PROBE_RUN rows, a run's keys in one call */
	#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
	for (uint32_t l = 0; l < nlist; l += PROBE_RUN) {
		uint32_t n = nlist - l < PROBE_RUN ? nlist - l : PROBE_RUN;
		K->l2sq_many(w->q, f->cent + (size_t)l * d, d, n, w->keys + l);
	}
	double g = vdb_kernel_gamma(d);
	float thr = INFINITY;
	if (nprobe < nlist) {
		vdb_exact_filter ef = { .m = VDB_METRIC_L2, .g = g };
		thr = key_bound(&ef, kth_key(w->keys, nlist, (uint32_t)nprobe, w->top));
	}
	vdb_topk t = { w->pd, w->pi, 0, (uint32_t)nprobe };
	for (uint32_t l = 0; l < nlist; l++)
		if (w->keys[l] <= thr)
			topk_push(&t, vdb_exact_distance(VDB_METRIC_L2, w->q, f->cent + (size_t)l * d, d), l);
	topk_sort(&t);
	for (uint32_t i = 0; i < t.n; i++) { /* as a batch's exact k-NN reports them */
		double r = vdb_reported_distance(VDB_METRIC_L2, t.dist[i]);
		t.dist[i] = r * r;
	}
	return t.n;
}

/* The exact distance of a row whose key passed, and the filter tightened
 * once the heap is full (as vdb_exact_filter_push). */
static inline void push_exact(vdb_exact_filter *ef, vdb_topk *h, const float *x, int64_t id)
{
	topk_push(h, vdb_exact_distance(ef->m, ef->q, x, ef->d), id);
	if (h->n < h->cap)
		return;
	float t = vdb_float_up(ef->m == VDB_METRIC_L2 ? h->dist[0] * (1 + ef->g) + 1e-30
	                                              : h->dist[0] - ef->shift + ef->cross);
	ef->thr = t < ef->thr ? t : ef->thr;
}

/* Positions [p0, p1) of the lists into h, keys in blocks of IVF_SCAN_BLOCK. */
static void scan_rows(const ivf *f, vdb_exact_filter *ef, ivf_ws *w, uint64_t p0, uint64_t p1,
                      const uint64_t *allow, vdb_topk *h)
{
	const vdb_kernels *K = ef->K;
	uint32_t d = ef->d;
	bool l2 = ef->m == VDB_METRIC_L2;
	size_t n_rows = f->off[f->nlist];
	for (uint64_t b = p0; b < p1; b += IVF_SCAN_BLOCK) {
		size_t n = p1 - b < IVF_SCAN_BLOCK ? (size_t)(p1 - b) : IVF_SCAN_BLOCK;
		const float *x = f->vecs + b * d;
		if (allow) {
			for (size_t j = 0; j < n; j++) {
				uint32_t r = f->row[b + j];
				if (r < n_rows && vdb_rowset_has(allow, r)) {
					w->kept++;
					vdb_exact_filter_push(ef, h, x + j * d, r);
				}
			}
			continue;
		}
		float *keys = w->keys;
		if (l2) {
			K->l2sq_many(ef->q, x, d, n, keys);
		} else {
			K->dot_many(ef->q, x, d, n, keys);
			for (size_t j = 0; j < n; j++)
				keys[j] = -keys[j];
		}
		if (h->n < h->cap && n >= h->cap) {
			float t = key_bound(ef, kth_key(keys, n, h->cap, w->top));
			ef->thr = t < ef->thr ? t : ef->thr;
		}
		for (size_t j = 0; j < n; j++)
			if (keys[j] <= ef->thr)
				push_exact(ef, h, x + j * d, f->row[b + j]);
	}
}

/* The rows at positions seed[0 .. h->cap) (-1: none) into h, as a scan
 * of their lists would rank them: a widened query's k best so far. */
static void seed_heap(const ivf *f, vdb_exact_filter *ef, vdb_topk *h, const int64_t *seed)
{
	for (uint32_t e = 0; seed && e < h->cap; e++)
		if (seed[e] >= 0)
			vdb_exact_filter_push(ef, h, f->vecs + (size_t)seed[e] * ef->d,
			                      f->row[seed[e]]);
}

size_t vdb_ivf_scan(const ivf *f, vdb_metric m, uint32_t d, ivf_ws *const *ws, int threads,
                    size_t nl, const uint64_t *allow, const int64_t *seed, vdb_topk *h)
{
	const ivf_ws *w0 = ws[0];
	uint64_t total = 0;
	for (size_t a = 0; a < nl; a++)
		total += f->off[w0->pi[a] + 1] - f->off[w0->pi[a]];
	if (threads < 2 || total * d < IVF_SPLIT_MIN)
		threads = 1;
	for (int u = 0; u < threads; u++)
		ws[u]->hn = 0, ws[u]->kept = 0; /* (the runtime may give fewer threads) */
	/* thread t scans positions [t*total/T, (t+1)*total/T) of the probed
	 * lists laid end to end, into its own heap; the heaps merge after */
	#pragma omp parallel num_threads(threads) if (threads > 1)
	{
		int t = omp_get_thread_num(), nt = omp_get_num_threads();
		ivf_ws *w = ws[t];
		vdb_topk own = { w->hd, w->hi, 0, h->cap };
		vdb_topk *th = t == 0 ? h : &own;
		vdb_exact_filter ef;
		vdb_exact_filter_init(&ef, m, w0->q, d, f->xmax);
		if (t == 0)
			seed_heap(f, &ef, th, seed);
		uint64_t lo = total * (uint64_t)t / (uint64_t)nt;
		uint64_t hi = total * (uint64_t)(t + 1) / (uint64_t)nt, at = 0;
		for (size_t a = 0; a < nl && at < hi; a++) {
			uint32_t l = (uint32_t)w0->pi[a];
			uint64_t len = f->off[l + 1] - f->off[l];
			uint64_t s = lo > at ? lo - at : 0, e = hi - at < len ? hi - at : len;
			if (s < e)
				scan_rows(f, &ef, w, f->off[l] + s, f->off[l] + e, allow, th);
			at += len;
		}
		if (t > 0)
			w->hn = th->n;
	}
	size_t kept = ws[0]->kept;
	for (int u = 1; u < threads; u++) {
		kept += ws[u]->kept;
		for (uint32_t e = 0; e < ws[u]->hn; e++)
			topk_push(h, ws[u]->hd[e], ws[u]->hi[e]);
	}
	return kept;
}

/* ===== A batch's lists, each read once for all the queries that probe it =====
 * One query at a time, a query's lists come from memory (at 1M x 128 they
 * are 1 MB of a 512 MB array at nprobe 8): the scan waits on memory (about
 * 40 ns of CPU a row, against 6 for the kernel on rows in cache). A batch
 * of queries probes each list several times (4,096 queries at nprobe 8
 * over 4,000 lists: 8 a list); taken list by list in memory order, a block
 * of a list is read once and ranked for each of its queries from cache
 * (about 12 ns a row; 10,000 queries at nprobe 8: search CPU 1.22 s ->
 * 0.55 s, the choice of the lists 0.29 s of it). Every query
 * keeps its heap and filter: its answer is the exact top k of its probed
 * rows (with a filter's allowed set, of the allowed ones, counted for each
 * query as one query at a time counts them), as one query at a time. Threads take runs of lists of about equal
 * work, each with heaps of its own for every query, merged at the end. */

/* rows of a list ranked for each of its queries in turn (at dim 128,
 * 64 KiB: in L2 while the queries take it) */
#define GROUP_BYTES 65536u

struct group_scan {
	const ivf *f;
	vdb_metric m;
	uint32_t d, k;
	const float *q;
	size_t nq;
	const uint32_t *start, *who; /* the pairs of list l: who[start[l] .. start[l+1]) */
	const uint32_t *cut;         /* thread t: lists [cut[t], cut[t+1]) */
	/* thread t, query i (at t * nq + i): its heap (k entries at that times
	 * k), its size, its filter and whether that is set up yet */
	double *hd;
	int64_t *hi;
	uint32_t *hn;
	vdb_exact_filter *ef;
	bool *init;
	float *keys; /* thread t's: keys of a block (IVF_SCAN_BLOCK), then k */
	const uint64_t *allow; /* a filter's rows, or NULL ... */
	size_t *met;           /* ... and thread t's allowed rows met by query i */
};

/* Thread t's lists into its heaps. */
static void group_thread(const struct group_scan *g, int t)
{
	const ivf *f = g->f;
	size_t base = (size_t)t * g->nq;
	uint32_t rows = GROUP_BYTES / (g->d * (uint32_t)sizeof(float));
	rows = rows > g->k ? rows : g->k; /* (a first block bounds the heap by its k-th key) */
	float *keys = g->keys + (size_t)t * (IVF_SCAN_BLOCK + g->k);
	ivf_ws w = { .keys = keys, .top = keys + IVF_SCAN_BLOCK };
	for (uint32_t l = g->cut[t]; l < g->cut[t + 1]; l++) {
		uint32_t a0 = g->start[l], a1 = g->start[l + 1];
		for (uint64_t b = f->off[l]; a0 < a1 && b < f->off[l + 1]; b += rows) {
			uint64_t e = f->off[l + 1] - b < rows ? f->off[l + 1] : b + rows;
			for (uint32_t a = a0; a < a1; a++) {
				size_t i = g->who[a], at = base + i;
				if (!g->init[at]) {
					vdb_exact_filter_init(&g->ef[at], g->m, g->q + i * g->d, g->d, f->xmax);
					g->init[at] = true;
				}
				vdb_topk h = { g->hd + at * g->k, g->hi + at * g->k, g->hn[at], g->k };
				w.kept = 0;
				scan_rows(f, &g->ef[at], &w, b, e, g->allow, &h);
				g->hn[at] = h.n, g->met[at] += w.kept;
			}
		}
	}
}

vdb_status vdb_ivf_scan_batch(const ivf *f, vdb_metric m, uint32_t d, const float *q, size_t nq,
                              const int64_t *probe, size_t nprobe, size_t k, int threads,
                              const uint64_t *allow, const int64_t *seed, size_t *kept,
                              int64_t *ids, float *dist)
{
	uint32_t nlist = f->nlist;
	threads = threads < 1 ? 1 : (size_t)threads > nq && nq ? (int)nq : threads;
	size_t nk = (size_t)threads * nq, np = nq * nprobe, nh = nk * k;
	uint32_t *start = calloc((size_t)nlist + 2, sizeof *start);
	uint32_t *who = malloc((np ? np : 1) * sizeof *who);
	uint32_t *cut = malloc(((size_t)threads + 1) * sizeof *cut);
	nh = nh ? nh : 1;
	double *hd = malloc(nh * sizeof *hd);
	int64_t *hi = malloc(nh * sizeof *hi);
	uint32_t *hn = calloc(nk ? nk : 1, sizeof *hn);
	vdb_exact_filter *ef = malloc((nk ? nk : 1) * sizeof *ef);
	bool *init = calloc(nk ? nk : 1, sizeof *init);
	size_t *met = calloc(nk ? nk : 1, sizeof *met);
	float *keys = malloc((size_t)threads * (IVF_SCAN_BLOCK + k) * sizeof *keys);
	vdb_status st = start && who && cut && hd && hi && hn && ef && init && met && keys
	                        ? VDB_OK
	                        : VDB_ENOMEM;
	if (st)
		goto out;
	/* the pairs (query, list) by list, queries in order within a list */
	for (size_t i = 0; i < nq; i++)
		for (size_t a = 0; a < nprobe && probe[i * nprobe + a] >= 0; a++)
			start[probe[i * nprobe + a] + 2]++;
	for (uint32_t l = 0; l < nlist; l++)
		start[l + 2] += start[l + 1];
	for (size_t i = 0; i < nq; i++)
		for (size_t a = 0; a < nprobe && probe[i * nprobe + a] >= 0; a++)
			who[start[probe[i * nprobe + a] + 1]++] = (uint32_t)i;
	/* runs of lists of about equal work (rows x queries) */
	double total = 0, run = 0;
	for (uint32_t l = 0; l < nlist; l++)
		total += (double)(start[l + 1] - start[l]) * (double)(f->off[l + 1] - f->off[l]);
	int t = 0;
	cut[0] = 0;
	for (uint32_t l = 0; l < nlist && t + 1 < threads; l++) {
		run += (double)(start[l + 1] - start[l]) * (double)(f->off[l + 1] - f->off[l]);
		while (t + 1 < threads && run >= total * (t + 1) / threads)
			cut[++t] = l + 1;
	}
	while (t < threads)
		cut[++t] = nlist;
	/* a seeded query's heap (thread 0's) holds its seed before its lists */
	for (size_t i = 0; seed && i < nq; i++) {
		if (seed[i * k] < 0)
			continue;
		vdb_exact_filter_init(&ef[i], m, q + i * d, d, f->xmax);
		init[i] = true;
		vdb_topk h = { hd + i * k, hi + i * k, 0, (uint32_t)k };
		seed_heap(f, &ef[i], &h, seed + i * k);
		hn[i] = h.n;
	}
	struct group_scan g = { f, m, d, (uint32_t)k, q, nq, start, who, cut, hd, hi, hn, ef, init,
	                        keys, allow, met };
	#pragma omp parallel for schedule(static, 1) num_threads(threads) if (threads > 1)
	for (int u = 0; u < threads; u++)
		group_thread(&g, u);
	/* thread 0's heaps take the others' entries */
	for (size_t i = 0; i < nq; i++) {
		vdb_topk h = { hd + i * k, hi + i * k, hn[i], (uint32_t)k };
		for (size_t at = nq + i; at < nk; at += nq) {
			for (uint32_t e = 0; e < hn[at]; e++)
				topk_push(&h, hd[at * k + e], hi[at * k + e]);
			met[i] += met[at];
		}
		vdb_topk_emit(&h, m, k, ids + i * k, dist + i * k);
		if (kept)
			kept[i] = met[i];
	}
out:
	free(start), free(who), free(cut), free(hd), free(hi), free(hn), free(ef), free(init);
	free(met), free(keys);
	return st;
}
