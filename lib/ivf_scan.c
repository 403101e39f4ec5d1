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

size_t vdb_ivf_scan(const ivf *f, vdb_metric m, uint32_t d, ivf_ws *const *ws, int threads,
                    size_t nl, const uint64_t *allow, vdb_topk *h)
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
