/*
 * pq.c — product quantization (Jégou, Douze, Schmid 2011): a vector is cut
 * into m subvectors, each replaced by the nearest of 256 centroids trained
 * by k-means on that subspace, so a code is m bytes. Distances to a query
 * are sums of m table lookups (asymmetric distance: the query stays exact).
 */
#include "kmeans.h"
#include <stdbool.h>
#include <string.h>

void vdb_pq_free(vdb_pq *pq)
{
	if (!pq->borrowed)
		free(pq->cb);
	free(pq->cbt);
	pq->cb = pq->cbt = NULL;
}

vdb_status vdb_pq_prepare(vdb_pq *pq)
{
	size_t ds = pq->dsub;
	pq->cbt = vdb_malloc((size_t)pq->m * VDB_PQ_KSUB * ds * sizeof(float), "pq codebooks");
	if (!pq->cbt)
		return VDB_ENOMEM;
	for (uint32_t s = 0; s < pq->m; s++)
		for (uint32_t j = 0; j < VDB_PQ_KSUB; j++)
			for (size_t i = 0; i < ds; i++)
				pq->cbt[((size_t)s * ds + i) * VDB_PQ_KSUB + j] =
					pq->cb[((size_t)s * VDB_PQ_KSUB + j) * ds + i];
	return VDB_OK;
}

/* Rows [r0, r0 + nb) of subspace s of x, contiguous. */
static void subvectors(const float *x, uint32_t d, uint32_t dsub, uint32_t s, size_t r0,
                       size_t nb, float *out)
{
	for (size_t i = 0; i < nb; i++)
		memcpy(out + i * dsub, x + (r0 + i) * d + (size_t)s * dsub, dsub * sizeof(float));
}

vdb_status vdb_pq_train(vdb_pq *pq, const float *x, size_t n, uint32_t d, uint32_t m,
                        uint64_t seed)
{
	return vdb_pq_train_k(pq, x, n, d, m, VDB_PQ_KSUB, seed);
}

/* The number of centroids of each subspace. */
static uint32_t ksub_of(const vdb_pq *pq)
{
	return pq->ksub ? pq->ksub : VDB_PQ_KSUB;
}

vdb_status vdb_pq_train_k(vdb_pq *pq, const float *x, size_t n, uint32_t d, uint32_t m,
                          uint32_t ksub, uint64_t seed)
{
	memset(pq, 0, sizeof *pq);
	pq->ksub = ksub == VDB_PQ_KSUB ? 0 : ksub;
	VDB_RETURN_IF(m == 0 || d % m, VDB_EINVAL,
	              "pq-m %u must divide the dimension %u", m, d);
	VDB_RETURN_IF(n < VDB_PQ_KSUB, VDB_EINVAL,
	              "pq: training needs at least %u vectors (there are %zu)", VDB_PQ_KSUB, n);
	pq->d = d, pq->m = m, pq->dsub = d / m;
	size_t ns = n < (size_t)VDB_PQ_KSUB * VDB_KMEANS_MAX_PER_CENTROID
	                    ? n : (size_t)VDB_PQ_KSUB * VDB_KMEANS_MAX_PER_CENTROID;
	pq->cb = calloc((size_t)m * VDB_PQ_KSUB * pq->dsub, sizeof(float));
	/* a strided sample keeps the same rows for every subspace */
	float *sub = vdb_malloc(ns * pq->dsub * sizeof(float), "pq training");
	vdb_status st = pq->cb && sub ? VDB_OK : VDB_ENOMEM;
	if (!pq->cb)
		vdb_fail(VDB_ENOMEM, "out of memory for the pq codebooks");
	for (uint32_t s = 0; !st && s < m; s++) {
		for (size_t i = 0; i < ns; i++) {
			size_t r = (size_t)((double)i * (double)n / (double)ns);
			memcpy(sub + i * pq->dsub, x + r * d + (size_t)s * pq->dsub,
			       pq->dsub * sizeof(float));
		}
		st = vdb_kmeans(sub, ns, pq->dsub, ksub_of(pq), 0, seed + s, "pq",
		                pq->cb + (size_t)s * VDB_PQ_KSUB * pq->dsub);
	}
	free(sub);
	if (st)
		vdb_pq_free(pq);
	return st;
}

vdb_status vdb_pq_encode(const vdb_pq *pq, const float *x, size_t n, uint8_t *codes)
{
	const size_t block = 65536;
	size_t nb0 = n < block ? n : block;
	float *sub = vdb_malloc(nb0 * pq->dsub * sizeof(float), "pq encoding");
	uint32_t *asg = vdb_malloc(nb0 * sizeof *asg, "pq encoding");
	vdb_status st = sub && asg ? VDB_OK : VDB_ENOMEM;
	for (size_t r0 = 0; !st && r0 < n; r0 += block) {
		size_t nb = n - r0 < block ? n - r0 : block;
		for (uint32_t s = 0; !st && s < pq->m; s++) {
			subvectors(x, pq->d, pq->dsub, s, r0, nb, sub);
			st = vdb_nearest(pq->cb + (size_t)s * VDB_PQ_KSUB * pq->dsub, ksub_of(pq), sub,
			                 nb, pq->dsub, asg, NULL);
			for (size_t i = 0; !st && i < nb; i++)
				codes[(r0 + i) * pq->m + s] = (uint8_t)asg[i];
		}
	}
	free(sub);
	free(asg);
	return st;
}

void vdb_pq_decode(const vdb_pq *pq, const uint8_t *codes, size_t n, float *x)
{
	for (size_t i = 0; i < n; i++)
		for (uint32_t s = 0; s < pq->m; s++)
			memcpy(x + i * pq->d + (size_t)s * pq->dsub,
			       pq->cb + ((size_t)s * VDB_PQ_KSUB + codes[i * pq->m + s]) * pq->dsub,
			       pq->dsub * sizeof(float));
}

/* One table of one subspace from the transposed codebook: the inner loop
 * runs over the 256 centroids. */
static void table_t(const float *cbt, const float *x, size_t ds, bool l2, float *t)
{
	for (size_t j = 0; j < VDB_PQ_KSUB; j++)
		t[j] = 0;
	for (size_t i = 0; i < ds; i++) {
		const float *col = cbt + i * VDB_PQ_KSUB;
		float xi = x[i];
		if (l2) {
			#pragma omp simd
			for (size_t j = 0; j < VDB_PQ_KSUB; j++)
				t[j] += (xi - col[j]) * (xi - col[j]);
		} else {
			#pragma omp simd
			for (size_t j = 0; j < VDB_PQ_KSUB; j++)
				t[j] += xi * col[j];
		}
	}
}

static void table(const vdb_pq *pq, const float *x, bool l2, float *table)
{
	const vdb_kernels *K = vdb_kernels_get();
	size_t ds = pq->dsub;
	for (uint32_t s = 0; s < pq->m; s++) {
		float *t = table + (size_t)s * VDB_PQ_KSUB;
		const float *xs = x + (size_t)s * ds;
		if (pq->cbt) {
			table_t(pq->cbt + (size_t)s * ds * VDB_PQ_KSUB, xs, ds, l2, t);
			continue;
		}
		const float *c = pq->cb + (size_t)s * VDB_PQ_KSUB * ds;
		for (uint32_t j = 0; j < VDB_PQ_KSUB; j++)
			t[j] = l2 ? K->l2sq(xs, c + (size_t)j * ds, ds) : K->dot(xs, c + (size_t)j * ds, ds);
	}
}

void vdb_pq_table_l2(const vdb_pq *pq, const float *r, float *t)
{
	table(pq, r, true, t);
}

void vdb_pq_table_dot(const vdb_pq *pq, const float *q, float *t)
{
	table(pq, q, false, t);
}
