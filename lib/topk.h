/* topk.h — a bounded max-heap of (distance, id) for one query.
 * The worst candidate sits at the root, so "does x beat the worst?" is one
 * comparison; among equal distances the larger id is worse, so that ties
 * go to the smaller id. Distances are exact (double). (internal) */
#ifndef VDB_TOPK_H
#define VDB_TOPK_H
#include "vdb_internal.h"
#include <stddef.h>
#include <stdint.h>

typedef struct {
	double *dist;
	int64_t *id;
	uint32_t n, cap;
} vdb_topk;

static inline int topk_worse(double da, int64_t ia, double db, int64_t ib)
{
	return da > db || (da == db && ia > ib);
}

/* Place (dist, id) at the root of a heap of n entries and sift it down;
 * returns its final slot (the caller stores it there). */
static inline size_t topk_sift_down(vdb_topk *t, uint32_t n, double dist, int64_t id)
{
	size_t i = 0;
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		double md = dist;
		int64_t mi = id;
		if (l < n && topk_worse(t->dist[l], t->id[l], md, mi))
			m = l, md = t->dist[l], mi = t->id[l];
		if (r < n && topk_worse(t->dist[r], t->id[r], md, mi))
			m = r;
		if (m == i)
			return i;
		t->dist[i] = t->dist[m], t->id[i] = t->id[m];
		i = m;
	}
}

static inline void topk_push(vdb_topk *t, double dist, int64_t id)
{
	size_t i;
	if (t->n < t->cap) {
		i = t->n++;
		while (i > 0) {
			size_t p = (i - 1) / 2;
			if (!topk_worse(dist, id, t->dist[p], t->id[p]))
				break;
			t->dist[i] = t->dist[p], t->id[i] = t->id[p];
			i = p;
		}
	} else {
		if (!topk_worse(t->dist[0], t->id[0], dist, id))
			return;
		i = topk_sift_down(t, t->n, dist, id);
	}
	t->dist[i] = dist, t->id[i] = id;
}

/* Take the root (the worst entry) out. With negated keys the heap is a
 * priority queue that gives the smallest key first (lsh's probe sets). */
static inline void topk_pop(vdb_topk *t, double *dist, int64_t *id)
{
	*dist = t->dist[0], *id = t->id[0];
	uint32_t n = --t->n;
	if (n == 0)
		return;
	double d = t->dist[n];
	int64_t x = t->id[n];
	size_t i = topk_sift_down(t, n, d, x);
	t->dist[i] = d, t->id[i] = x;
}

/* Sort a heap's entries in place, best first (heapsort: the heap is used up). */
static inline void topk_heapsort(vdb_topk *t)
{
	for (uint32_t n = t->n; n > 1; n--) {
		double top_d = t->dist[0], d = t->dist[n - 1];
		int64_t top_id = t->id[0], id = t->id[n - 1];
		size_t i = topk_sift_down(t, n - 1, d, id);
		t->dist[i] = d, t->id[i] = id;
		t->dist[n - 1] = top_d, t->id[n - 1] = top_id;
	}
}

static inline void topk_swap(double *d, int64_t *id, size_t a, size_t b)
{
	double td = d[a];
	int64_t ti = id[a];
	d[a] = d[b], id[a] = id[b], d[b] = td, id[b] = ti;
}

#define TOPK_INSERTION 16 /* ranges this short are sorted by insertion */

/* n entries, best first, in any order: quicksort (median of three) down to
 * short ranges, then insertion; past depth splits (an adversarial order)
 * a range is heapsorted. About half the time of heapsort on k 100 (the
 * sift-downs of a heap walk its whole depth, each level a mispredicted
 * branch). (dist, id) is a total order, so any correct sort gives the
 * one answer. */
static inline void topk_sort_range(double *d, int64_t *id, size_t n, unsigned depth)
{
	while (n > TOPK_INSERTION) {
		if (depth-- == 0) {
			vdb_topk h = { d, id, 0, (uint32_t)n };
			for (size_t e = 0; e < n; e++)
				topk_push(&h, d[e], id[e]); /* entry e is at slot e = h.n */
			topk_heapsort(&h);
			return;
		}
		size_t m = n / 2, last = n - 1;
		if (topk_worse(d[0], id[0], d[m], id[m]))
			topk_swap(d, id, 0, m);
		if (topk_worse(d[m], id[m], d[last], id[last]))
			topk_swap(d, id, m, last);
		if (topk_worse(d[0], id[0], d[m], id[m]))
			topk_swap(d, id, 0, m);
		double pd = d[m];
		int64_t pi = id[m];
		size_t i = 0, j = last; /* d[0] <= pivot <= d[last]: sentinels */
		for (;;) {
			do
				i++;
			while (topk_worse(pd, pi, d[i], id[i]));
			do
				j--;
			while (topk_worse(d[j], id[j], pd, pi));
			if (i >= j)
				break;
			topk_swap(d, id, i, j);
		}
		/* [0, i) <= pivot <= [i, n), neither empty: recurse into the
		 * shorter, loop on the longer */
		if (i < n - i) {
			topk_sort_range(d, id, i, depth);
			d += i, id += i, n -= i;
		} else {
			topk_sort_range(d + i, id + i, n - i, depth);
			n = i;
		}
	}
	for (size_t e = 1; e < n; e++) {
		double ed = d[e];
		int64_t ei = id[e];
		size_t f = e;
		for (; f > 0 && topk_worse(d[f - 1], id[f - 1], ed, ei); f--)
			d[f] = d[f - 1], id[f] = id[f - 1];
		d[f] = ed, id[f] = ei;
	}
}

/* Sort the entries in place, best first (the heap is used up). */
static inline void topk_sort(vdb_topk *t)
{
	unsigned depth = 0;
	for (uint32_t n = t->n; n > 1; n >>= 1)
		depth += 2;
	topk_sort_range(t->dist, t->id, t->n, depth);
}

/* Exact ranking behind a float filter, as exact search does it: a row's
 * key from the SIMD kernel (|q-x|^2 for l2, -<q,x> otherwise) is within a
 * proven rounding bound of its exact value, so a row whose key is above
 * the heap's worst exact distance plus that bound cannot enter the heap and
 * needs no exact distance. xmax: the largest |x|^2 of the rows (ip and
 * cosine bound their rounding with it). */
typedef struct {
	const vdb_kernels *K;
	vdb_metric m;
	const float *q;
	uint32_t d;
	double g, cross, shift;
	float thr;
} vdb_exact_filter;

void vdb_exact_filter_init(vdb_exact_filter *f, vdb_metric m, const float *q, uint32_t d,
                           double xmax);

static inline void vdb_exact_filter_push(vdb_exact_filter *f, vdb_topk *h, const float *x,
                                         int64_t id)
{
	float key = f->m == VDB_METRIC_L2 ? f->K->l2sq(f->q, x, f->d) : -f->K->dot(f->q, x, f->d);
	if (key > f->thr)
		return;
	topk_push(h, vdb_exact_distance(f->m, f->q, x, f->d), id);
	if (h->n == h->cap)
		f->thr = vdb_float_up(f->m == VDB_METRIC_L2 ? h->dist[0] * (1 + f->g) + 1e-30
		                                            : h->dist[0] - f->shift + f->cross);
}

/* The largest |x|^2 over n rows of x and start (in parallel). */
double vdb_max_norm2(const float *x, size_t n, uint32_t d, double start);

/* Sort t and write its entries as a search returns them: k ids (-1 past
 * the end) and distances as metric m reports them (knn.c). */
void vdb_topk_emit(vdb_topk *t, vdb_metric m, size_t k, int64_t *ids, float *dist);
/* A max-heap of the k smallest float keys seen (no ids: a threshold, not
 * an answer), top[0] the largest of the *n held: key joins while fewer
 * than k are held, then only below top[0]. */
static inline void topk_key_push(float *top, uint32_t *n, uint32_t k, float key)
{
	uint32_t i;
	if (*n < k) { /* sift up */
		for (i = (*n)++; i > 0 && top[(i - 1) / 2] < key; i = (i - 1) / 2)
			top[i] = top[(i - 1) / 2];
	} else if (key < top[0]) { /* replace the root, sift down */
		for (i = 0;;) {
			uint32_t l = 2 * i + 1, m = l + 1 < k && top[l + 1] > top[l] ? l + 1 : l;
			if (l >= k || top[m] <= key)
				break;
			top[i] = top[m];
			i = m;
		}
	} else {
		return;
	}
	top[i] = key;
}

#endif
