/* bench_knn.c — CPU seconds of exact batched search (vdb_knn, one thread)
 * against OpenBLAS's sgemm alone for the same product, in one process,
 * alternating, best of R. CPU time, so a loaded machine skews it less than
 * wall time. Not a test and not installed: make -C build
 * tests/unit/bench_knn, then
 *   build/tests/unit/bench_knn BASE.fvecs QUERIES.fvecs [k] [l2|cosine] [reps] */
#include "vdb_internal.h"
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static float *load(const char *path, size_t *n, uint32_t *d)
{
	FILE *f = fopen(path, "rb");
	int32_t dim;
	if (!f || fread(&dim, 4, 1, f) != 1)
		return NULL;
	fseek(f, 0, SEEK_END);
	long bytes = ftell(f);
	*d = (uint32_t)dim;
	*n = (size_t)bytes / (4 + 4 * (size_t)dim);
	float *x = malloc(*n * dim * sizeof(float));
	fseek(f, 0, SEEK_SET);
	for (size_t i = 0; i < *n; i++)
		if (fread(&dim, 4, 1, f) != 1 || fread(x + i * *d, 4, *d, f) != *d)
			return NULL;
	fclose(f);
	return x;
}

static double cpu(void)
{
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: bench_knn BASE.fvecs QUERIES.fvecs [k] [l2|cosine] [reps]\n");
		return 2;
	}
	size_t n, nq, k = argc > 3 ? (size_t)atoi(argv[3]) : 10;
	uint32_t d, dq;
	vdb_metric m = argc > 4 && !strcmp(argv[4], "cosine") ? VDB_METRIC_COSINE : VDB_METRIC_L2;
	int reps = argc > 5 ? atoi(argv[5]) : 3;
	float *x = load(argv[1], &n, &d), *q = load(argv[2], &nq, &dq);
	if (!x || !q || d != dq) {
		fprintf(stderr, "bench_knn: cannot read %s or %s\n", argv[1], argv[2]);
		return 1;
	}
	if (m == VDB_METRIC_COSINE)
		for (size_t i = 0; i < n; i++)
			vdb_normalize(x + i * d, d);
	omp_set_num_threads(1);
	vdb_blas_single_thread();
	int64_t *ids = malloc(nq * k * sizeof *ids);
	float *dist = malloc(nq * k * sizeof *dist), *out = malloc((size_t)256 * 512 * sizeof *out);
	double best_v = 1e30, best_s = 1e30;
	for (int r = 0; r < reps; r++) {
		double t0 = cpu();
		vdb_knn *s;
		if (vdb_knn_new(&s, m, d, k, q, nq) || vdb_knn_add(s, x, NULL, n, 0) ||
		    vdb_knn_result(s, ids, dist))
			return 1;
		vdb_knn_free(s);
		double t1 = cpu();
		for (size_t q0 = 0; q0 < nq; q0 += 256)
			for (size_t x0 = 0; x0 < n; x0 += 512) {
				int a = (int)(nq - q0 < 256 ? nq - q0 : 256), b = (int)(n - x0 < 512 ? n - x0 : 512);
				cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, a, b, (int)d, 1.0f,
				            q + q0 * d, (int)d, x + x0 * d, (int)d, 0.0f, out, b);
			}
		double t2 = cpu();
		best_v = t1 - t0 < best_v ? t1 - t0 : best_v;
		best_s = t2 - t1 < best_s ? t2 - t1 : best_s;
	}
	printf("%zu x %u, %zu queries, k %zu: vdb %.4f s, sgemm %.4f s (CPU, best of %d): %.0f%% of the bound\n",
	       n, d, nq, k, best_v, best_s, reps, 100 * best_s / best_v);
	return 0;
}
