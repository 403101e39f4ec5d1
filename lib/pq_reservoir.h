/* pq_reservoir.h — the candidates of a 4-bit ivfpq scan, collected before
 * they meet the caller's heap (pq_reservoir.c). (internal) */
#ifndef VDB_PQ_RESERVOIR_H
#define VDB_PQ_RESERVOIR_H
#include "topk.h"
#include <math.h>

/* Up to VDB_PQ_RESERVOIR_ROOM x cap (key, id) pairs, each of key <= thr:
 * cap of them have a key <= thr (once thr is finite), so a larger key
 * cannot be among the cap best. Full, it keeps its cap best (a selection,
 * as FAISS's reservoir result handler) and thr becomes the worst of them;
 * flushed, the heap gets what pushing every candidate would have left in
 * it. */
#define VDB_PQ_RESERVOIR_ROOM 4

typedef struct {
	double *key;
	int64_t *id;
	uint32_t n, cap;
	double thr;
} vdb_pq_reservoir;

/* Bytes of memory a reservoir for cap entries takes (8-byte aligned). */
size_t vdb_pq_reservoir_bytes(size_t cap);
/* A reservoir in mem (vdb_pq_reservoir_bytes(h->cap)) for h's cap best,
 * its bound h's worst when h is full. */
void vdb_pq_reservoir_init(vdb_pq_reservoir *r, void *mem, const vdb_topk *h);
/* Keep the cap best of the n > cap held (by topk_worse's order); thr: the
 * worst of them. */
void vdb_pq_reservoir_keep(vdb_pq_reservoir *r);
/* The cap best held into h. */
void vdb_pq_reservoir_flush(vdb_pq_reservoir *r, vdb_topk *h);

static inline void vdb_pq_reservoir_push(vdb_pq_reservoir *r, double key, int64_t id)
{
	if (r->n >= r->cap && !(key <= r->thr)) /* (as topk_push: any key while not full) */
		return;
	r->key[r->n] = key, r->id[r->n] = id;
	if (++r->n == VDB_PQ_RESERVOIR_ROOM * r->cap)
		vdb_pq_reservoir_keep(r);
	else if (r->n == r->cap && r->thr == INFINITY) { /* a first bound: the worst of cap */
		double w = -INFINITY;
		for (uint32_t i = 0; i < r->n; i++)
			w = r->key[i] > w ? r->key[i] : w;
		r->thr = w;
	}
}
#endif
