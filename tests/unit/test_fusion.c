/* test_fusion.c — RRF and weighted fusion of two ranked lists against
 * values worked by hand (lib/fusion.c). */
#include "fusion.h"
#include "tap.h"
#include <math.h>
#include <string.h>

/* A list entry: an integer id (ref = the id) or a string id (ref given). */
static vdb_cand num(int64_t id, float v)
{
	vdb_cand c;
	vdb_cand_id(&c, NULL, 0, id);
	c.dist = v;
	c.ref = id;
	return c;
}

static vdb_cand str(const char *json, int64_t ref, float v)
{
	vdb_cand c;
	vdb_cand_id(&c, json, strlen(json), 0);
	c.dist = v;
	c.ref = ref;
	return c;
}

static vdb_fuse_ws *ws;

static size_t fuse(vdb_fusion fu, double alpha, double rk, const vdb_cand *v, size_t nv,
                   const vdb_cand *l, size_t nl, size_t k, vdb_fused_hit *h)
{
	vdb_fusion_opts f;
	vdb_fusion_opts_init(&f);
	f.fusion = fu, f.alpha = alpha, f.rrf_k = rk;
	size_t n = 0;
	ok(vdb_fuse(&f, v, nv, l, nl, k, &ws, h, &n) == VDB_OK, "fuse %zu + %zu", nv, nl);
	return n;
}

static int order_is(const vdb_fused_hit *h, size_t n, const int64_t *want, size_t nw)
{
	if (n != nw)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (h[i].id != want[i])
			return 0;
	return 1;
}

int main(void)
{
	vdb_fusion_opts f;
	vdb_fusion_opts_init(&f);
	ok(f.fusion == VDB_FUSION_RRF && f.alpha == 0.5 && f.rrf_k == 60 && f.depth == 0,
	   "defaults: rrf, alpha 0.5, rrf_k 60, depth 0");
	ok(vdb_fusion_depth(&f, 10) == 100 && vdb_fusion_depth(&f, 300) == 300,
	   "depth 0 is max(k, 100)");
	f.depth = 20;
	ok(vdb_fusion_depth(&f, 10) == 20 && vdb_fusion_depth(&f, 30) == 30, "depth is max(depth, k)");
	vdb_fusion p;
	ok(vdb_fusion_parse("rrf", &p) == VDB_OK && p == VDB_FUSION_RRF, "parse rrf");
	ok(vdb_fusion_parse("weighted", &p) == VDB_OK && p == VDB_FUSION_WEIGHTED, "parse weighted");
	ok(vdb_fusion_parse("RRF", &p) == VDB_EINVAL, "parse refuses RRF");

	/* vector: 10 (d 1), 20 (d 2), 30 (d 5); BM25: 20 (5), 40 (3), 10 (1) */
	vdb_cand v[] = { num(10, 1), num(20, 2), num(30, 5) };
	vdb_cand l[] = { num(20, 5), num(40, 3), num(10, 1) };
	vdb_fused_hit h[8];
	size_t n = fuse(VDB_FUSION_RRF, 0, 60, v, 3, l, 3, 8, h);
	ok(order_is(h, n, (int64_t[]){ 20, 10, 40, 30 }, 4), "rrf order 20 10 40 30");
	ok(h[0].score == (float)(1.0 / 62 + 1.0 / 61), "rrf score of 20: 1/62 + 1/61");
	ok(h[1].score == (float)(1.0 / 61 + 1.0 / 63), "rrf score of 10: 1/61 + 1/63");
	ok(h[2].score == (float)(1.0 / 62) && h[3].score == (float)(1.0 / 63),
	   "rrf scores of 40 and 30: one list each");
	ok(h[0].vec_rank == 2 && h[0].lex_rank == 1 && h[0].vec_dist == 2 && h[0].lex_score == 5,
	   "20 keeps its ranks and values");
	ok(h[2].vec_rank == 0 && isnan(h[2].vec_dist) && h[2].lex_rank == 2 && h[2].lex_score == 3,
	   "40: no vector rank (0) nor distance (NaN)");
	ok(h[3].lex_rank == 0 && isnan(h[3].lex_score) && h[3].vec_rank == 3,
	   "30: no lexical rank (0) nor score (NaN)");
	n = fuse(VDB_FUSION_RRF, 0, 1, v, 3, l, 3, 2, h);
	ok(order_is(h, n, (int64_t[]){ 20, 10 }, 2) && h[0].score == (float)(1.0 / 3 + 1.0 / 2),
	   "rrf_k 1, k 2: 20 scores 1/3 + 1/2, two hits kept");

	/* weighted: vector 10 -> 1, 20 -> 0.75, 30 -> 0; BM25 20 -> 1, 40 -> 0.5, 10 -> 0 */
	n = fuse(VDB_FUSION_WEIGHTED, 0.25, 60, v, 3, l, 3, 8, h);
	ok(order_is(h, n, (int64_t[]){ 20, 40, 10, 30 }, 4), "weighted 0.25: 20 40 10 30");
	ok(h[0].score == 0.9375f && h[1].score == 0.375f && h[2].score == 0.25f && h[3].score == 0,
	   "weighted 0.25 scores 0.9375 0.375 0.25 0");
	n = fuse(VDB_FUSION_WEIGHTED, 1, 60, v, 3, l, 3, 8, h);
	ok(order_is(h, n, (int64_t[]){ 10, 20, 30, 40 }, 4) && h[3].score == 0,
	   "weighted 1: the vector order, then the lexical-only hit (0; ties to the smaller id)");
	n = fuse(VDB_FUSION_WEIGHTED, 0, 60, v, 3, l, 3, 8, h);
	ok(order_is(h, n, (int64_t[]){ 20, 40, 10, 30 }, 4), "weighted 0: the lexical order");

	/* one hit, or equal values: the list scales to 1 */
	vdb_cand v1[] = { num(7, 3) }, l2[] = { num(9, 2), num(8, 2) };
	n = fuse(VDB_FUSION_WEIGHTED, 0.5, 60, v1, 1, l2, 2, 8, h);
	ok(order_is(h, n, (int64_t[]){ 7, 8, 9 }, 3) && h[0].score == 0.5f && h[1].score == 0.5f &&
	   h[2].score == 0.5f, "one hit and equal scores scale to 1; ties to the smaller id");

	/* ties: integer ids before strings, strings by their JSON text */
	vdb_cand vt[] = { str("\"b\"", 100, 1), num(5, 2) };
	vdb_cand lt[] = { str("\"a\"", 101, 9), num(3, 4) };
	n = fuse(VDB_FUSION_RRF, 0, 60, vt, 2, lt, 2, 8, h);
	ok(order_is(h, n, (int64_t[]){ 101, 100, 3, 5 }, 4),
	   "rrf ties at 1/61 and 1/62: \"a\" before \"b\", 3 before 5");
	vdb_cand lt2[] = { num(3, 9), str("\"a\"", 101, 4) };
	n = fuse(VDB_FUSION_RRF, 0, 60, vt, 2, lt2, 2, 8, h);
	ok(order_is(h, n, (int64_t[]){ 3, 100, 5, 101 }, 4), "an integer id wins a tie with a string");

	/* empty lists */
	n = fuse(VDB_FUSION_RRF, 0, 60, v, 0, l, 1, 8, h);
	ok(n == 1 && h[0].id == 20 && h[0].vec_rank == 0, "an empty vector list");
	n = fuse(VDB_FUSION_WEIGHTED, 0.5, 60, v, 0, l, 0, 8, h);
	ok(n == 0, "two empty lists: no hit");
	vdb_fuse_ws_free(ws);
	return done_testing();
}
