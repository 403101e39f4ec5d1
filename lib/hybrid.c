/*
 * hybrid.c — hybrid search: the vector list and the BM25 list of each
 * query, from an index or a set of shards, fused into one ranked list.
 *
 * Each list is searched as its own mode searches it (vdb_index_search_set,
 * vdb_index_search_text_set: filters and deletions apply to both; a set's
 * BM25 statistics are the set's), max(depth, k) deep, then each query's
 * two lists are fused (fusion.c) in parallel over the queries. Ids are
 * ordered for ties as the set merge orders them (merge.c).
 */
#include "fusion.h"
#include "index_internal.h"
#include <string.h>

typedef struct {
	const vdb_index *const *ix;
	size_t n, d, k;
	const vdb_fusion_opts *f;
	const int64_t *vid, *lid;
	const float *vdist, *lscore;
	vdb_fused_hit *hits;
	int failed;
} hybrid_job;

typedef struct {
	vdb_cand *c; /* 2 x d: the vector list, then the BM25 list */
	vdb_fuse_ws *w;
} hybrid_ws;

static void *ws_make(void *ctx)
{
	const hybrid_job *j = ctx;
	hybrid_ws *w = calloc(1, sizeof *w);
	if (w && !(w->c = malloc(2 * j->d * sizeof *w->c))) {
		free(w);
		w = NULL;
	}
	return w;
}

static void ws_drop(void *p)
{
	hybrid_ws *w = p;
	vdb_fuse_ws_free(w->w);
	free(w->c);
	free(w);
}

/* A list's results (-1 ends it) as cands. */
static size_t cands(const hybrid_job *j, const int64_t *ids, const float *v, vdb_cand *c)
{
	size_t m = 0;
	for (; m < j->d && ids[m] >= 0; m++) {
		int64_t ref = ids[m], row;
		size_t len = 0;
		const vdb_index *one = vdb_set_owner(j->ix, j->n, ref, &row);
		const char *t = vdb_index_id_json(one, row, &len);
		vdb_cand_id(&c[m], t, len, row);
		c[m].dist = v[m];
		c[m].ref = ref;
	}
	return m;
}

static void one_query(void *ctx, void *wsp, size_t q)
{
	hybrid_job *j = ctx;
	hybrid_ws *w = wsp;
	size_t d = j->d, k = j->k;
	size_t nv = cands(j, j->vid + q * d, j->vdist + q * d, w->c);
	size_t nl = cands(j, j->lid + q * d, j->lscore + q * d, w->c + nv);
	vdb_fused_hit *h = j->hits + q * k;
	size_t got = 0;
	if (vdb_fuse(j->f, w->c, nv, w->c + nv, nl, k, &w->w, h, &got)) {
		#pragma omp atomic write
		j->failed = 1;
	}
	for (size_t r = got; r < k; r++)
		h[r] = (vdb_fused_hit){ .id = -1 };
}

vdb_status vdb_index_search_hybrid(const vdb_index *const *ix, size_t n, const float *queries,
                                   const char *const *texts, const size_t *lens, size_t nq,
                                   const vdb_search_opts *o, const vdb_fusion_opts *f,
                                   vdb_fused_hit *hits)
{
	VDB_RETURN_IF(n == 0, VDB_EINVAL, "hybrid search of no index");
	VDB_RETURN_IF(f->fusion != VDB_FUSION_RRF && f->fusion != VDB_FUSION_WEIGHTED, VDB_EINVAL,
	              "unknown fusion %d", (int)f->fusion);
	VDB_RETURN_IF(!(f->alpha >= 0 && f->alpha <= 1), VDB_EINVAL,
	              "fusion alpha %g is outside 0..1", f->alpha);
	VDB_RETURN_IF(!(f->rrf_k > 0), VDB_EINVAL, "the rrf constant %g is not positive", f->rrf_k);
	if (nq == 0)
		return VDB_OK;
	vdb_search_opts deep = *o;
	deep.k = vdb_fusion_depth(f, o->k);
	deep.offset = 0, deep.mmr = 0; /* the fused list is not paged or diversified */
	VDB_RETURN_IF(deep.k > VDB_MAX_K, VDB_EINVAL, "fusion depth %zu is over %u (VDB_MAX_K)",
	              deep.k, VDB_MAX_K);
	size_t all;
	VDB_RETURN_IF(!vdb_mul_ok(nq, deep.k, &all) || all > SIZE_MAX / 16, VDB_ENOMEM,
	              "too many candidates: %zu queries x %zu", nq, deep.k);
	int64_t *vid = vdb_malloc(all * sizeof *vid, "candidates");
	int64_t *lid = vdb_malloc(all * sizeof *lid, "candidates");
	float *vdist = vdb_malloc(all * sizeof *vdist, "candidates");
	float *lscore = vdb_malloc(all * sizeof *lscore, "candidates");
	vdb_status s = vid && lid && vdist && lscore ? VDB_OK : VDB_ENOMEM;
	if (!s)
		s = vdb_index_search_set(ix, n, queries, nq, &deep, vid, vdist);
	if (!s)
		s = vdb_index_search_text_set(ix, n, texts, lens, nq, &deep, lid, lscore);
	if (!s) {
		hybrid_job j = { ix, n, deep.k, vdb_fusion_width(f, o->k), f, vid, lid, vdist, lscore,
		                 hits, 0 };
		s = vdb_for_queries(nq, &j, ws_make, ws_drop, one_query);
		if (s || j.failed)
			s = vdb_fail(VDB_ENOMEM, "out of memory fusing results");
	}
	free(vid);
	free(lid);
	free(vdist);
	free(lscore);
	return s;
}
