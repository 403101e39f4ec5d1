/*
 * kmeans.c — Lloyd's k-means, the trainer of IVF's coarse quantizer and of
 * PQ's codebooks.
 *
 * Assignment is the expensive step (n x k distances per iteration); it is
 * the exact k-NN engine of knn.c with k = 1, so it runs on sgemm in
 * parallel and its answer does not depend on the thread count. The update
 * sums each cluster's rows in row order (rows sorted by cluster first), so
 * the centroids do not depend on it either: a seed gives one result.
 */
#include "kmeans.h"
#include "random.h"
#include <math.h>
#include <string.h>

vdb_status vdb_nearest(const float *c, size_t k, const float *x, size_t n, uint32_t d,
                       uint32_t *assign, float *dist)
{
	/* blocks of rows bound the knn object's copy of them */
	const size_t block = 65536;
	int64_t *ids = vdb_malloc((n < block ? n : block) * sizeof *ids, "assignments");
	float *dd = vdb_malloc((n < block ? n : block) * sizeof *dd, "assignments");
	vdb_status st = ids && dd ? VDB_OK : VDB_ENOMEM;
	for (size_t r0 = 0; !st && r0 < n; r0 += block) {
		size_t nb = n - r0 < block ? n - r0 : block;
		vdb_knn *s;
		st = vdb_knn_new(&s, VDB_METRIC_L2, d, 1, x + r0 * d, nb);
		if (st)
			break;
		st = vdb_knn_add(s, c, NULL, k, 0);
		if (!st)
			st = vdb_knn_result(s, ids, dd);
		vdb_knn_free(s);
		for (size_t i = 0; !st && i < nb; i++) {
			assign[r0 + i] = ids[i] < 0 ? 0 : (uint32_t)ids[i];
			if (dist)
				dist[r0 + i] = dd[i] * dd[i]; /* knn reports Euclidean */
		}
	}
	free(ids);
	free(dd);
	return st;
}

/* Give each empty cluster half of a big one: copy a centroid chosen with
 * probability proportional to its size and push the two copies apart. */
static void repair_empty(float *cent, size_t k, uint32_t d, size_t *size, size_t n,
                         uint64_t *rng)
{
	for (size_t j = 0; j < k; j++) {
		if (size[j])
			continue;
		size_t c = 0;
		for (;;) {
			size_t r = vdb_rand_below(rng, n), acc = 0;
			for (c = 0; c < k; c++) {
				acc += size[c];
				if (r < acc)
					break;
			}
			if (c < k && size[c] > 1)
				break;
		}
		const float eps = 1.0f / 1024;
		for (uint32_t i = 0; i < d; i++) {
			float v = cent[c * d + i], sgn = (i % 2) ? 1.0f : -1.0f;
			cent[j * d + i] = v * (1 + sgn * eps);
			cent[c * d + i] = v * (1 - sgn * eps);
		}
		size[j] = size[c] / 2;
		size[c] -= size[j];
	}
}

vdb_status vdb_kmeans(const float *x, size_t n, uint32_t d, size_t k, unsigned iters,
                      uint64_t seed, const char *what, float *cent)
{
	VDB_RETURN_IF(k == 0, VDB_EINVAL, "%s: k-means needs at least one centroid", what);
	VDB_RETURN_IF(n < k, VDB_EINVAL,
	              "%s: %zu centroids need at least as many training vectors (there are %zu)",
	              what, k, n);
	if (!iters)
		iters = VDB_KMEANS_ITERS;
	uint64_t rng = seed ^ 0x6b6d65616e73ull;
	/* the training sample: a partial Fisher-Yates shuffle of row numbers */
	size_t m = n, cap = VDB_KMEANS_MAX_PER_CENTROID * k;
	if (cap / VDB_KMEANS_MAX_PER_CENTROID == k && m > cap)
		m = cap;
	size_t *perm = vdb_malloc(n * sizeof *perm, "k-means sample");
	float *xs = m < n ? vdb_malloc(m * d * sizeof(float), "k-means sample") : NULL;
	uint32_t *asg = vdb_malloc(m * sizeof *asg, "k-means assignments");
	uint32_t *prev = vdb_malloc(m * sizeof *prev, "k-means assignments");
	size_t *size = vdb_malloc(k * sizeof *size, "k-means clusters");
	size_t *start = vdb_malloc((k + 1) * sizeof *start, "k-means clusters");
	size_t *order = vdb_malloc(m * sizeof *order, "k-means clusters");
	vdb_status st = VDB_OK;
	if (!perm || (m < n && !xs) || !asg || !prev || !size || !start || !order) {
		st = VDB_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		perm[i] = i;
	size_t shuffle = m < n ? m : k; /* the first k also seed the centroids */
	for (size_t i = 0; i < shuffle; i++) {
		size_t j = i + vdb_rand_below(&rng, n - i), t = perm[i];
		perm[i] = perm[j], perm[j] = t;
	}
	if (xs) {
		#pragma omp parallel for schedule(static)
		for (size_t i = 0; i < m; i++)
			memcpy(xs + i * d, x + perm[i] * d, d * sizeof(float));
		x = xs;
		for (size_t i = 0; i < k; i++)
			perm[i] = i;
	}
	for (size_t j = 0; j < k; j++)
		memcpy(cent + j * d, x + perm[j] * d, d * sizeof(float));

	for (unsigned it = 0; it < iters; it++) {
		st = vdb_nearest(cent, k, x, m, d, asg, NULL);
		if (st)
			goto out;
		if (it > 0 && !memcmp(asg, prev, m * sizeof *asg))
			break;
		memcpy(prev, asg, m * sizeof *asg);
		/* rows sorted by cluster (stable), then each cluster summed in order */
		memset(size, 0, k * sizeof *size);
		for (size_t i = 0; i < m; i++)
			size[asg[i]]++;
		start[0] = 0;
		for (size_t j = 0; j < k; j++)
			start[j + 1] = start[j] + size[j];
		for (size_t i = 0; i < m; i++)
			order[start[asg[i]]++] = i;
		for (size_t j = k; j > 0; j--)
			start[j] = start[j - 1];
		start[0] = 0;
		#pragma omp parallel for schedule(dynamic, 4)
		for (size_t j = 0; j < k; j++) {
			if (!size[j])
				continue;
			double acc[256];
			for (uint32_t i0 = 0; i0 < d; i0 += 256) {
				uint32_t w = d - i0 < 256 ? d - i0 : 256;
				memset(acc, 0, sizeof acc);
				for (size_t r = start[j]; r < start[j + 1]; r++) {
					const float *row = x + order[r] * d + i0;
					for (uint32_t i = 0; i < w; i++)
						acc[i] += row[i];
				}
				for (uint32_t i = 0; i < w; i++)
					cent[j * d + i0 + i] = (float)(acc[i] / (double)size[j]);
			}
		}
		/* not after the last update: the centroids returned are means */
		if (it + 1 < iters)
			repair_empty(cent, k, d, size, m, &rng);
	}
out:
	free(perm), free(xs), free(asg), free(prev), free(size), free(start), free(order);
	return st;
}
