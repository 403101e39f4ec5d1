/* topk.h — a bounded max-heap of (key, id) candidates for one query.
 * The worst candidate sits at the root, so "is x better than the worst?" is
 * one comparison against key[0]; ties in key put the larger id nearer the
 * root so that, among equals, smaller ids survive. (internal) */
#ifndef VDB_TOPK_H
#define VDB_TOPK_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
	float *key;
	int64_t *id;
	double *ex;      /* exact distance of each candidate */
	uint32_t n, cap;
} vdb_topk;

static inline int topk_worse(float ka, int64_t ia, float kb, int64_t ib)
{
	return ka > kb || (ka == kb && ia > ib);
}

static inline float topk_threshold(const vdb_topk *t)
{
	return t->n < t->cap ? __builtin_inff() : t->key[0];
}

static inline void topk_push(vdb_topk *t, float key, int64_t id, double ex)
{
	size_t i;
	if (t->n < t->cap) {
		i = t->n++;
		while (i > 0) {
			size_t p = (i - 1) / 2;
			if (!topk_worse(key, id, t->key[p], t->id[p]))
				break;
			t->key[i] = t->key[p], t->id[i] = t->id[p], t->ex[i] = t->ex[p];
			i = p;
		}
	} else {
		if (!topk_worse(t->key[0], t->id[0], key, id))
			return;
		i = 0;
		for (;;) {
			size_t l = 2 * i + 1, r = l + 1, m = i;
			float mk = key;
			int64_t mi = id;
			if (l < t->n && topk_worse(t->key[l], t->id[l], mk, mi))
				m = l, mk = t->key[l], mi = t->id[l];
			if (r < t->n && topk_worse(t->key[r], t->id[r], mk, mi))
				m = r;
			if (m == i)
				break;
			t->key[i] = t->key[m], t->id[i] = t->id[m], t->ex[i] = t->ex[m];
			i = m;
		}
	}
	t->key[i] = key, t->id[i] = id, t->ex[i] = ex;
}
#endif
