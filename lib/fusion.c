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

/* A list entry: which list (0 vector, 1 lexical) and its place. */
typedef struct {
	int64_t ref;
	uint32_t list, pos;
} entry;

/* A hit of the union of the lists. */
typedef struct {
	vdb_cand key; /* the id's order (dist unused) */
	double score;
	float lex, vec;
	uint32_t lr, vr;
} fused;

struct vdb_fuse_ws {
	entry *e;
	size_t ecap;
	fused *u;
	size_t ucap;
};

void vdb_fuse_ws_free(vdb_fuse_ws *w)
{
	if (!w)
		return;
	free(w->e);
	free(w->u);
	free(w);
}

static int entry_cmp(const void *pa, const void *pb)
{
	const entry *a = pa, *b = pb;
	if (a->ref != b->ref)
		return a->ref < b->ref ? -1 : 1;
	return (a->list > b->list) - (a->list < b->list);
}

static int fused_cmp(const void *pa, const void *pb)
{
	const fused *a = pa, *b = pb;
	if (a->score != b->score)
		return a->score > b->score ? -1 : 1;
	int c = vdb_cand_cmp(&a->key, &b->key); /* dist is 0 in both: the ids decide */
	if (c)
		return c;
	return (a->key.ref > b->key.ref) - (a->key.ref < b->key.ref);
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
	size_t n = nv + nl;
	if (vdb_grow((void **)&w->e, &w->ecap, n ? n : 1, sizeof *w->e, "fusion") ||
	    vdb_grow((void **)&w->u, &w->ucap, n ? n : 1, sizeof *w->u, "fusion"))
		return VDB_ENOMEM;
	for (size_t i = 0; i < nv; i++)
		w->e[i] = (entry){ vec[i].ref, 0, (uint32_t)i };
	for (size_t i = 0; i < nl; i++)
		w->e[nv + i] = (entry){ lex[i].ref, 1, (uint32_t)i };
	qsort(w->e, n, sizeof *w->e, entry_cmp);
	scale vs = scale_of(vec, nv, 1), ls = scale_of(lex, nl, 0);
	size_t m = 0;
	for (size_t i = 0; i < n; m++) {
		fused *u = &w->u[m];
		u->vr = u->lr = 0;
		u->vec = u->lex = NAN;
		int64_t ref = w->e[i].ref;
		for (; i < n && w->e[i].ref == ref; i++) {
			const entry *e = &w->e[i];
			const vdb_cand *c = e->list ? &lex[e->pos] : &vec[e->pos];
			u->key = *c;
			if (e->list)
				u->lex = c->dist, u->lr = e->pos + 1;
			else
				u->vec = c->dist, u->vr = e->pos + 1;
		}
		u->key.dist = 0;
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
	qsort(w->u, m, sizeof *w->u, fused_cmp);
	size_t keep = m < k ? m : k;
	for (size_t i = 0; i < keep; i++) {
		const fused *u = &w->u[i];
		hits[i] = (vdb_fused_hit){ .id = u->key.ref, .score = (float)u->score,
		                           .lex_score = u->lex, .vec_dist = u->vec,
		                           .lex_rank = u->lr, .vec_rank = u->vr };
	}
	*nhits = keep;
	return VDB_OK;
}
