/*
 * fusion.c — Reciprocal Rank Fusion and relative score fusion of one
 * query's vector list and BM25 list.
 *
 * RRF (Cormack, Clarke and Buettcher, 2009): a hit scores the sum, over
 * the lists holding it, of 1 / (rrf_k + rank), rank counted from 1; ranks
 * only, so the lists' scales do not matter. Weighted fusion is Weaviate's
 * relativeScoreFusion: each list's values are scaled per query to [0, 1]
 * by min-max, best = 1 (the vector list's smallest distance, the BM25
 * list's largest score; a list whose values are all equal, one hit
 * included, scales to 1), and a hit scores alpha * vector + (1 - alpha) *
 * lexical, a list without it adding 0.
 *
 * Scores are computed in double from the lists' float values, the vector
 * term first, in the order the man page gives, so that anyone can recompute
 * them and their ties; they are reported as float. Hits are matched across
 * the lists by their ref (a row, VDB_SET_REF, or the merge's number of an
 * id), so a set's shards may hold equal ids without being confused.
 */
#include "fusion.h"
#include <math.h>
#include <string.h>

vdb_status vdb_fusion_parse(const char *s, vdb_fusion *out)
{
	if (!strcmp(s, "rrf"))
		*out = VDB_FUSION_RRF;
	else if (!strcmp(s, "weighted"))
		*out = VDB_FUSION_WEIGHTED;
	else
		return vdb_fail(VDB_EINVAL, "'%s' is not a fusion (expected rrf or weighted)", s);
	return VDB_OK;
}

void vdb_fusion_opts_init(vdb_fusion_opts *f)
{
	f->fusion = VDB_FUSION_RRF;
	f->alpha = 0.5;
	f->rrf_k = 60;
	f->depth = 0;
	f->candidates = 0;
}

size_t vdb_fusion_width(const vdb_fusion_opts *f, size_t k)
{
	return f->candidates ? 2 * vdb_fusion_depth(f, k) : k;
}

size_t vdb_fusion_depth(const vdb_fusion_opts *f, size_t k)
{
	size_t d = f->depth ? f->depth : (k > 100 ? k : 100);
	return d > k ? d : k;
}

/* A hit of the union of the lists. */
typedef struct {
	vdb_cand key; /* the id's order (dist unused) */
	double score;
	float lex, vec;
	uint32_t lr, vr;
} fused;

/* Scratch: the union's hits, a hash of their refs (open addressing, -1
 * empty) and the k best's places. Nothing is allocated once it has grown. */
struct vdb_fuse_ws {
	fused *u;
	size_t ucap;
	int32_t *slot;
	size_t scap;
	uint32_t *top;
	size_t tcap;
};

void vdb_fuse_ws_free(vdb_fuse_ws *w)
{
	if (!w)
		return;
	free(w->u);
	free(w->slot);
	free(w->top);
	free(w);
}

static int fused_cmp(const fused *a, const fused *b)
{
	if (a->score != b->score)
		return a->score > b->score ? -1 : 1;
	int c = vdb_cand_cmp(&a->key, &b->key); /* dist is 0 in both: the ids decide */
	if (c)
		return c;
	return (a->key.ref > b->key.ref) - (a->key.ref < b->key.ref);
}

static int fused_qcmp(const void *a, const void *b)
{
	return fused_cmp(a, b);
}

/* The hit of ref in the union: its place, a new one (*m grows) if absent. */
static uint32_t hit_of(vdb_fuse_ws *w, size_t mask, int64_t ref, const vdb_cand *c, size_t *m)
{
	size_t h = (size_t)(((uint64_t)ref * 0x9E3779B97F4A7C15ull) >> 17) & mask;
	while (w->slot[h] >= 0 && w->u[w->slot[h]].key.ref != ref)
		h = (h + 1) & mask;
	if (w->slot[h] < 0) {
		fused *u = &w->u[*m];
		u->key = *c;
		u->key.dist = 0;
		u->vr = u->lr = 0;
		u->vec = u->lex = NAN;
		w->slot[h] = (int32_t)(*m)++;
	}
	return (uint32_t)w->slot[h];
}

/* The list's values scaled to [0, 1], best = 1: v of one entry. */
typedef struct {
	double lo, hi;
	int smaller_better;
} scale;

static scale scale_of(const vdb_cand *c, size_t n, int smaller_better)
{
	scale s = { 0, 0, smaller_better };
	for (size_t i = 0; i < n; i++) {
		double v = c[i].dist;
		if (i == 0 || v < s.lo)
			s.lo = v;
		if (i == 0 || v > s.hi)
			s.hi = v;
	}
	return s;
}

static double scaled(const scale *s, double v)
{
	if (!(s->hi > s->lo))
		return 1;
	return s->smaller_better ? (s->hi - v) / (s->hi - s->lo) : (v - s->lo) / (s->hi - s->lo);
}

vdb_status vdb_fuse(const vdb_fusion_opts *f, const vdb_cand *vec, size_t nv,
                    const vdb_cand *lex, size_t nl, size_t k, vdb_fuse_ws **wp,
                    vdb_fused_hit *hits, size_t *nhits)
{
	*nhits = 0;
	if (!*wp && !(*wp = calloc(1, sizeof **wp)))
		return vdb_fail(VDB_ENOMEM, "out of memory fusing results");
	vdb_fuse_ws *w = *wp;
	size_t n = nv + nl, hcap = 16;
	while (hcap < 2 * n)
		hcap *= 2;
	VDB_RETURN_IF(n > INT32_MAX / 4, VDB_ENOMEM, "too many candidates to fuse: %zu", n);
	if (vdb_grow((void **)&w->u, &w->ucap, n ? n : 1, sizeof *w->u, "fusion") ||
	    vdb_grow((void **)&w->slot, &w->scap, hcap, sizeof *w->slot, "fusion") ||
	    vdb_grow((void **)&w->top, &w->tcap, k ? k : 1, sizeof *w->top, "fusion"))
		return VDB_ENOMEM;
	memset(w->slot, 0xff, hcap * sizeof *w->slot);
	size_t m = 0;
	/* a ref twice in one list keeps its first place */
	for (size_t i = 0; i < nv; i++) {
		fused *u = &w->u[hit_of(w, hcap - 1, vec[i].ref, &vec[i], &m)];
		if (!u->vr)
			u->vec = vec[i].dist, u->vr = (uint32_t)i + 1;
	}
	for (size_t i = 0; i < nl; i++) {
		fused *u = &w->u[hit_of(w, hcap - 1, lex[i].ref, &lex[i], &m)];
		if (!u->lr)
			u->lex = lex[i].dist, u->lr = (uint32_t)i + 1;
	}
	scale vs = scale_of(vec, nv, 1), ls = scale_of(lex, nl, 0);
	for (size_t i = 0; i < m; i++) {
		fused *u = &w->u[i];
		double sv = 0, sl = 0;
		if (f->fusion == VDB_FUSION_WEIGHTED) {
			if (u->vr)
				sv = f->alpha * scaled(&vs, u->vec);
			if (u->lr)
				sl = (1 - f->alpha) * scaled(&ls, u->lex);
		} else {
			if (u->vr)
				sv = 1 / (f->rrf_k + u->vr);
			if (u->lr)
				sl = 1 / (f->rrf_k + u->lr);
		}
		u->score = sv + sl;
	}
	/* the k best, in order: all of them sorted, or the few kept sorted */
	size_t keep = 0;
	if (k >= m) {
		qsort(w->u, m, sizeof *w->u, fused_qcmp);
		for (; keep < m; keep++)
			w->top[keep] = (uint32_t)keep;
	} else
		for (size_t i = 0; i < m; i++) {
			if (keep == k && fused_cmp(&w->u[i], &w->u[w->top[k - 1]]) >= 0)
				continue;
			size_t at = keep < k ? keep++ : k - 1;
			while (at > 0 && fused_cmp(&w->u[i], &w->u[w->top[at - 1]]) < 0) {
				w->top[at] = w->top[at - 1];
				at--;
			}
			w->top[at] = (uint32_t)i;
		}
	for (size_t i = 0; i < keep; i++) {
		const fused *u = &w->u[w->top[i]];
		hits[i] = (vdb_fused_hit){ .id = u->key.ref, .score = (float)u->score,
		                           .lex_score = u->lex, .vec_dist = u->vec,
		                           .lex_rank = u->lr, .vec_rank = u->vr };
	}
	*nhits = keep;
	return VDB_OK;
}
