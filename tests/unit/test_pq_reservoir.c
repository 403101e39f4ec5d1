/* test_pq_reservoir.c — the reservoir a 4-bit ivfpq scan gathers its
 * candidates in (pq_reservoir.c): whatever it is offered, in whatever
 * order, flushing it leaves in the heap the cap best (key, then id) of
 * everything offered and of what the heap held, as a reference (every
 * pair sorted with qsort, the first cap taken) says. Random keys, keys
 * from a handful of values (ties broken by id), ascending and descending
 * runs, all equal, infinities; cap 1, 2, 40, 1000; fewer offered than
 * cap; a heap full or part full before the scan; cap 0 keeps nothing.
 * And the bound: once cap keys are held, no key above thr is among the
 * cap best of what was offered (the scan's threshold relies on it). */
#include "tap.h"
#include "pq_reservoir.h"
#include <stdlib.h>
#include <string.h>

static unsigned seed = 2026;
static unsigned rnd(void)
{
	seed = seed * 1103515245u + 12345u;
	return (seed >> 8) & 0xffffff;
}

typedef struct {
	double key;
	int64_t id;
} pair;

static int cmp(const void *a, const void *b)
{
	const pair *x = a, *y = b;
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return (x->id > y->id) - (x->id < y->id);
}

enum { RANDOM, FEW, UP, DOWN, EQUAL, INF, KINDS };
static const char *kind_name[] = { "random", "few values", "ascending", "descending",
	                           "all equal", "with infinities" };

static double key_of(int kind, size_t i, size_t n)
{
	switch (kind) {
	case RANDOM: return (double)rnd() / 1e3 - 5e3;
	case FEW: return (double)(rnd() % 5);
	case UP: return (double)i;
	case DOWN: return (double)(n - i);
	case EQUAL: return 1.5;
	default: return rnd() % 7 == 0 ? (rnd() & 1 ? INFINITY : -INFINITY) : (double)(rnd() % 100);
	}
}

/* n pairs offered to a reservoir for a heap of cap that already holds pre
 * of them (the first pre offered); 1 when the heap ends as the reference. */
static int run(int kind, uint32_t cap, size_t n, size_t pre)
{
	pair *all = malloc((n + 1) * sizeof *all);
	double *hd = malloc((cap + 1) * sizeof *hd);
	int64_t *hi = malloc((cap + 1) * sizeof *hi);
	void *mem = malloc(vdb_pq_reservoir_bytes(cap) + 1);
	vdb_topk h = { hd, hi, 0, cap };
	int good = all && hd && hi && mem;
	/* ids: a shuffled range, so that id order is not offer order */
	for (size_t i = 0; good && i < n; i++) {
		all[i].key = key_of(kind, i, n);
		all[i].id = (int64_t)i;
	}
	for (size_t i = n; good && i > 1; i--) {
		size_t j = rnd() % i;
		int64_t t = all[i - 1].id;
		all[i - 1].id = all[j].id, all[j].id = t;
	}
	for (size_t i = 0; good && i < pre && i < n; i++)
		topk_push(&h, all[i].key, all[i].id);
	vdb_pq_reservoir r;
	if (good)
		vdb_pq_reservoir_init(&r, mem, &h);
	for (size_t i = pre; good && i < n; i++) {
		vdb_pq_reservoir_push(&r, all[i].key, all[i].id);
		/* the bound: the cap best so far are all at or under it */
		if (r.n >= cap && cap) {
			pair *so_far = malloc((i + 1) * sizeof *so_far);
			memcpy(so_far, all, (i + 1) * sizeof *so_far);
			qsort(so_far, i + 1, sizeof *so_far, cmp);
			if (!(so_far[cap - 1].key <= r.thr))
				good = 0;
			free(so_far);
		}
	}
	if (good)
		vdb_pq_reservoir_flush(&r, &h);
	qsort(all, n, sizeof *all, cmp);
	uint32_t want = n < cap ? (uint32_t)n : cap;
	if (good && h.n != want)
		good = 0;
	topk_sort(&h);
	for (uint32_t i = 0; good && i < want; i++)
		if (h.id[i] != all[i].id || !(h.dist[i] == all[i].key))
			good = 0;
	free(all), free(hd), free(hi), free(mem);
	return good;
}

int main(void)
{
	static const uint32_t caps[] = { 1, 2, 40, 1000 };
	for (int kind = 0; kind < KINDS; kind++)
		for (size_t c = 0; c < sizeof caps / sizeof *caps; c++) {
			uint32_t cap = caps[c];
			int good = 1;
			size_t ns[] = { 0, 1, cap / 2, cap, cap + 1, 2 * cap, 2 * cap + 1, 5 * cap + 3, 3000 };
			for (size_t i = 0; i < sizeof ns / sizeof *ns; i++)
				for (int rep = 0; rep < 4; rep++)
					good &= run(kind, cap, ns[i], 0);
			ok(good, "%s keys, cap %u: the cap best of all offered, in any count", kind_name[kind],
			   cap);
			good = run(kind, cap, 5 * cap + 7, cap) & run(kind, cap, 5 * cap + 7, cap / 2 + 1) &
			       run(kind, cap, 3000, cap);
			ok(good, "%s keys, cap %u: a heap full or part full before: the best of both",
			   kind_name[kind], cap);
		}
	ok(run(RANDOM, 0, 100, 0), "cap 0: nothing kept, nothing written");
	return done_testing();
}
