/* hnsw_codes.c — byte codes of one step for the hnsw graph walk (see
 * hnsw_codes.h). */
#include "hnsw_codes.h"
#include "topk.h"
#include <math.h>
#include <string.h>

vdb_status vdb_hnsw_codes_train(vdb_rows *r, uint32_t dim, const float *x, size_t n)
{
	vdb_rows per;
	vdb_status s = vdb_rows_train(&per, VDB_STORAGE_SQ8, dim, x, n);
	if (s)
		return s;
	/* SQ8R: dim minima, then dim maxima */
	float *ranges = vdb_malloc(2 * (size_t)dim * sizeof *ranges, "sq8 ranges");
	if (!ranges) {
		vdb_rows_free(&per);
		return VDB_ENOMEM;
	}
	float step = 0;
	for (uint32_t i = 0; i < dim; i++)
		step = fmaxf(step, per.step[i]);
	if (!(step > 0))
		step = 1; /* every row the same: any step codes them */
	for (uint32_t i = 0; i < dim; i++) {
		ranges[i] = per.lo[i];
		ranges[dim + i] = per.lo[i] + 255.0f * step;
	}
	vdb_rows uni = per;
	uni.lo = ranges;
	s = vdb_rows_like(r, &uni);
	free(ranges);
	vdb_rows_free(&per);
	return s;
}

bool vdb_hnsw_codes_ok(const vdb_rows *r)
{
	if (r->kind != VDB_STORAGE_SQ8 || !r->dim || !(r->step[0] > 0))
		return false;
	for (uint32_t i = 1; i < r->dim; i++)
		if (fabsf(r->step[i] - r->step[0]) > 1e-5f * r->step[0])
			return false;
	return true;
}

void vdb_hnsw_codes_query(const vdb_rows *r, const float *q, uint8_t *code)
{
	float scale = 1.0f / r->step[0];
	for (uint32_t i = 0; i < r->dim; i++) {
		float t = (q[i] - r->lo[i]) * scale;
		code[i] = t > 0 ? (t < 255.0f ? (uint8_t)(t + 0.5f) : 255) : 0;
	}
}

/* Ask for row x's lines (at most 1 KiB of them: the rest stream in). */
static inline void prefetch_row(const float *x, uint32_t d)
{
	size_t bytes = (size_t)d * sizeof *x;
	for (size_t o = 0; o < bytes && o < 1024; o += 64)
		__builtin_prefetch((const char *)x + o);
}

#define AHEAD 4 /* rows requested ahead of their distance */

void vdb_hnsw_codes_rerank(vdb_rerank *r, vdb_metric m, const float *q, const float *vecs,
                           uint32_t d, const int64_t *cand, size_t nc, size_t k, int64_t *ids,
                           float *dist)
{
	const vdb_kernels *K = vdb_kernels_get();
	memcpy(r->q, q, d * sizeof *r->q);
	if (m == VDB_METRIC_COSINE)
		vdb_normalize(r->q, d);
	for (size_t e = 0; e < nc && e < AHEAD; e++)
		if (cand[e] >= 0)
			prefetch_row(vecs + (size_t)cand[e] * d, d);
	vdb_topk h = { r->hd, r->hi, 0, (uint32_t)k };
	for (size_t e = 0; e < nc; e++) {
		if (e + AHEAD < nc && cand[e + AHEAD] >= 0)
			prefetch_row(vecs + (size_t)cand[e + AHEAD] * d, d);
		if (cand[e] < 0)
			continue;
		const float *x = vecs + (size_t)cand[e] * d;
		/* the metric's distance (cosine: 1 - dot of normalised vectors), in float
		 * as the float32 graph reports it */
		float f = m == VDB_METRIC_L2 ? K->l2sq(r->q, x, d) : 1 - K->dot(r->q, x, d);
		topk_push(&h, f, cand[e]);
	}
	vdb_topk_emit(&h, m, k, ids, dist);
}
