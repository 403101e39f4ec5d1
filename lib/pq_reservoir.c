/*
 * pq_reservoir.c — a 4-bit scan's candidates gathered in an array and cut
 * to the cap best by a selection when it fills, rather than each pushed
 * into a heap: on WordNet (26k x 100, pq-m 20, refine 4: a heap of 40)
 * the heap's sift-downs were 60% of the scan's own time. The selection's
 * partition has no branch on the keys: with one, its mispredictions cost
 * more than the heap did.
 */
#include "pq_reservoir.h"

size_t vdb_pq_reservoir_bytes(size_t cap)
{
	return VDB_PQ_RESERVOIR_ROOM * cap * (sizeof(double) + sizeof(int64_t));
}

void vdb_pq_reservoir_init(vdb_pq_reservoir *r, void *mem, const vdb_topk *h)
{
	r->key = mem;
	r->id = (int64_t *)(r->key + VDB_PQ_RESERVOIR_ROOM * (size_t)h->cap);
	r->n = 0;
	r->cap = h->cap;
	/* (cap 0: no key is <= NaN, so none is kept) */
	r->thr = !h->cap ? NAN : h->n == h->cap ? h->dist[0] : INFINITY;
}

static inline int better(const vdb_pq_reservoir *r, uint32_t a, uint32_t b)
{
	return topk_worse(r->key[b], r->id[b], r->key[a], r->id[a]);
}

static inline void swap(vdb_pq_reservoir *r, uint32_t a, uint32_t b)
{
	double k = r->key[a];
	int64_t i = r->id[a];
	r->key[a] = r->key[b], r->id[a] = r->id[b];
	r->key[b] = k, r->id[b] = i;
}

/* [lo, hi) around the pivot at hi (Lomuto, without a branch on the keys:
 * every step swaps, the boundary moves when the entry is better); returns
 * the pivot's place. */
static uint32_t partition(vdb_pq_reservoir *r, uint32_t lo, uint32_t hi)
{
	double pk = r->key[hi];
	int64_t pi = r->id[hi];
	uint32_t s = lo;
	for (uint32_t i = lo; i < hi; i++) {
		double k = r->key[i];
		int64_t id = r->id[i];
		uint32_t lt = (uint32_t)(k < pk) | ((uint32_t)(k == pk) & (uint32_t)(id < pi));
		r->key[i] = r->key[s], r->id[i] = r->id[s];
		r->key[s] = k, r->id[s] = id;
		s += lt;
	}
	swap(r, s, hi);
	return s;
}

/* Quickselect (the median of three as pivot): the cap best in [0, cap),
 * the cap-th at cap - 1. */
void vdb_pq_reservoir_keep(vdb_pq_reservoir *r)
{
	if (r->n <= r->cap || !r->cap)
		return;
	uint32_t lo = 0, hi = r->n - 1, want = r->cap - 1;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (better(r, mid, lo))
			swap(r, mid, lo);
		if (better(r, hi, lo))
			swap(r, hi, lo);
		if (better(r, mid, hi))
			swap(r, mid, hi); /* lo, hi, mid in order: the pivot at hi */
		uint32_t s = partition(r, lo, hi);
		if (s == want)
			break;
		if (s < want)
			lo = s + 1;
		else
			hi = s - 1;
	}
	r->n = r->cap;
	double w = r->key[want];
	r->thr = w < r->thr ? w : r->thr; /* (NaN keys: the bound never loosens) */
}

void vdb_pq_reservoir_flush(vdb_pq_reservoir *r, vdb_topk *h)
{
	vdb_pq_reservoir_keep(r);
	for (uint32_t i = 0; i < r->n; i++)
		topk_push(h, r->key[i], r->id[i]);
	r->n = 0;
}
