/*
 * knn.c — exact k nearest neighbours, the engine of flat search and of
 * vdb-eval groundtruth.
 *
 * Distances for a block of queries against a tile of base rows come from one
 * sgemm (OpenBLAS): for l2, |x|^2 - 2<q,x> ranks like |q-x|^2; for ip and
 * cosine, -<q,x>. That ranking key is fast but rounds differently from a
 * direct computation, so each query keeps a few more candidates than asked
 * (kk = k + slack) and every candidate that enters the heap gets its exact
 * distance computed directly in double. The answer is the k best by exact
 * distance, ties to the smaller id: the brute-force answer, at gemm speed.
 *
 * Parallelism (OpenMP): with enough queries, threads own blocks of queries
 * and stream the base tile by tile (each heap has one writer, no locks);
 * with few queries, threads split the base and keep private heaps that are
 * merged at the end. BLAS itself runs single-threaded inside our threads.
 * Base blocks can be fed in any order and any size (ground truth streams a
 * base larger than memory), state lives in the vdb_knn object.
 */
#include "vdb_internal.h"
#include "topk.h"
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <string.h>

#define QBLOCK 256    /* queries per sgemm block: amortises packing the base tile */
#define XTILE 512     /* base rows per tile: 256x512 floats of results stay in L2 */
#define SLACK 16

struct vdb_knn {
	vdb_metric metric;
	uint32_t dim;
	size_t k, kk, nq;
	float *q;        /* nq x dim, normalised for cosine */
	float *key;      /* nq x kk heap storage */
	int64_t *id;
	double *ex;
	uint32_t *cnt;
};

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;
/* vdb parallelises above BLAS; a threaded BLAS underneath would oversubscribe. */
static void blas_single_thread(void) { openblas_set_num_threads(1); }

static vdb_topk heap_of(vdb_knn *s, size_t qi)
{
	return (vdb_topk){ s->key + qi * s->kk, s->id + qi * s->kk, s->ex + qi * s->kk,
	                   s->cnt[qi], (uint32_t)s->kk };
}

vdb_status vdb_knn_new(vdb_knn **out, vdb_metric m, uint32_t dim, size_t k,
                       const float *queries, size_t nq)
{
	*out = NULL;
	VDB_RETURN_IF(m != VDB_METRIC_L2 && m != VDB_METRIC_IP && m != VDB_METRIC_COSINE,
	              VDB_EUNSUPPORTED, "exact search supports l2, ip and cosine, not %s",
	              vdb_metric_name(m));
	VDB_RETURN_IF(k == 0 || k > VDB_MAX_K, VDB_EINVAL, "k %zu is out of range (1..%u)", k,
	              VDB_MAX_K);
	VDB_RETURN_IF(dim == 0 || dim > VDB_MAX_DIM, VDB_EINVAL, "dimension %u is out of range", dim);
	pthread_once(&blas_once, blas_single_thread);
	vdb_knn *s = calloc(1, sizeof *s);
	if (!s)
		return vdb_fail(VDB_ENOMEM, "out of memory");
	s->metric = m, s->dim = dim, s->k = k, s->nq = nq;
	s->kk = k + SLACK + k / 4;
	size_t nqd, slots;
	if (!vdb_mul_ok(nq, dim, &nqd) || !vdb_mul_ok(nq, s->kk, &slots)) {
		free(s);
		return vdb_fail(VDB_ENOMEM, "exact search: too many queries (%zu)", nq);
	}
	s->q = vdb_malloc(nqd * sizeof(float), "queries");
	s->key = vdb_malloc(slots * sizeof(float), "candidate heaps");
	s->id = vdb_malloc(slots * sizeof(int64_t), "candidate heaps");
	s->ex = vdb_malloc(slots * sizeof(double), "candidate heaps");
	s->cnt = calloc(nq ? nq : 1, sizeof(uint32_t));
	if (!s->q || !s->key || !s->id || !s->ex || !s->cnt) {
		vdb_knn_free(s);
		return vdb_fail(VDB_ENOMEM, "out of memory for %zu queries", nq);
	}
	if (nqd)
		memcpy(s->q, queries, nqd * sizeof(float));
	if (m == VDB_METRIC_COSINE)
		for (size_t i = 0; i < nq; i++)
			vdb_normalize(s->q + i * dim, dim);
	*out = s;
	return VDB_OK;
}

void vdb_knn_free(vdb_knn *s)
{
	if (!s)
		return;
	free(s->q), free(s->key), free(s->id), free(s->ex), free(s->cnt);
	free(s);
}

static double exact_distance(vdb_metric m, const float *q, const float *x, size_t d)
{
	double acc = 0;
	if (m == VDB_METRIC_L2) {
		for (size_t i = 0; i < d; i++) {
			double t = (double)q[i] - (double)x[i];
			acc += t * t;
		}
		return acc;
	}
	for (size_t i = 0; i < d; i++)
		acc += (double)q[i] * (double)x[i];
	return m == VDB_METRIC_IP ? -acc : 1.0 - acc;
}

/* Scan one sgemm result (nqb queries x nxt rows) into the queries' heaps. */
static void scan_tile(const vdb_knn *s, vdb_topk *heaps, const float *qblk, size_t nqb,
                      const float *dots, const float *x, const float *xn, size_t nxt,
                      int64_t id0)
{
	size_t d = s->dim;
	const vdb_kernels *K = vdb_kernels_get();
	for (size_t a = 0; a < nqb; a++) {
		vdb_topk *h = &heaps[a];
		const float *row = dots + a * nxt;
		const float *q = qblk + a * d;
		float thr = topk_threshold(h);
		/* most keys lose to the threshold: a SIMD kernel skips them */
		for (size_t j = K->next_below(xn, row, 0, nxt, thr); j < nxt;
		     j = K->next_below(xn, row, j + 1, nxt, thr)) {
			float key = xn ? xn[j] - 2.0f * row[j] : -row[j];
			topk_push(h, key, id0 + (int64_t)j, exact_distance(s->metric, q, x + j * d, d));
			thr = topk_threshold(h);
		}
	}
}

static void tile_dots(const float *q, size_t nqb, const float *x, size_t nxt, size_t d,
                      float *out)
{
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nqb, (int)nxt, (int)d, 1.0f, q,
	            (int)d, x, (int)d, 0.0f, out, (int)nxt);
}

vdb_status vdb_knn_add(vdb_knn *s, const float *x, const float *xnorm, size_t nx, int64_t id0)
{
	if (nx == 0 || s->nq == 0)
		return VDB_OK;
	size_t d = s->dim;
	float *norms = NULL;
	if (s->metric == VDB_METRIC_L2 && !xnorm) {
		norms = vdb_malloc(nx * sizeof(float), "norms");
		if (!norms)
			return VDB_ENOMEM;
		#pragma omp parallel for schedule(static)
		for (size_t j = 0; j < nx; j++) {
			float acc = 0;
			for (size_t i = 0; i < d; i++)
				acc += x[j * d + i] * x[j * d + i];
			norms[j] = acc;
		}
		xnorm = norms;
	}
	if (s->metric != VDB_METRIC_L2)
		xnorm = NULL;
	int T = omp_get_max_threads();
	size_t ntiles = (nx + XTILE - 1) / XTILE;
	vdb_status st = VDB_OK;

	if (s->nq >= (size_t)(2 * T) || ntiles < 2) {
		/* threads own query blocks: each heap has exactly one writer */
		size_t qb = (s->nq + 4 * (size_t)T - 1) / (4 * (size_t)T);
		qb = qb < 1 ? 1 : qb > QBLOCK ? QBLOCK : qb;
		size_t nblocks = (s->nq + qb - 1) / qb;
		float *buf = vdb_malloc((size_t)T * qb * XTILE * sizeof(float), "distance tiles");
		if (!buf) {
			free(norms);
			return VDB_ENOMEM;
		}
		#pragma omp parallel
		{
			float *dots = buf + (size_t)omp_get_thread_num() * qb * XTILE;
			vdb_topk heaps[QBLOCK];
			#pragma omp for schedule(dynamic, 1)
			for (size_t b = 0; b < nblocks; b++) {
				size_t q0 = b * qb, nqb = s->nq - q0 < qb ? s->nq - q0 : qb;
				for (size_t a = 0; a < nqb; a++)
					heaps[a] = heap_of(s, q0 + a);
				for (size_t t0 = 0; t0 < nx; t0 += XTILE) {
					size_t nxt = nx - t0 < XTILE ? nx - t0 : XTILE;
					tile_dots(s->q + q0 * d, nqb, x + t0 * d, nxt, d, dots);
					scan_tile(s, heaps, s->q + q0 * d, nqb, dots, x + t0 * d,
					          xnorm ? xnorm + t0 : NULL, nxt, id0 + (int64_t)t0);
				}
				for (size_t a = 0; a < nqb; a++)
					s->cnt[q0 + a] = heaps[a].n;
			}
		}
		free(buf);
	} else {
		/* few queries: threads split the base, keep private heaps, merge */
		size_t nq = s->nq, kk = s->kk;
		size_t per = nq * kk;
		float *pkey = vdb_malloc((size_t)T * per * sizeof(float), "candidate heaps");
		int64_t *pid = vdb_malloc((size_t)T * per * sizeof(int64_t), "candidate heaps");
		double *pex = vdb_malloc((size_t)T * per * sizeof(double), "candidate heaps");
		float *buf = vdb_malloc((size_t)T * nq * XTILE * sizeof(float), "distance tiles");
		vdb_topk *ph = vdb_malloc((size_t)T * nq * sizeof(vdb_topk), "candidate heaps");
		if (!pkey || !pid || !pex || !buf || !ph) {
			st = VDB_ENOMEM;
			goto out_few;
		}
		for (size_t t = 0; t < (size_t)T; t++)
			for (size_t a = 0; a < nq; a++)
				ph[t * nq + a] = (vdb_topk){ pkey + t * per + a * kk, pid + t * per + a * kk,
				                             pex + t * per + a * kk, 0, (uint32_t)kk };
		#pragma omp parallel
		{
			int t = omp_get_thread_num();
			float *dots = buf + (size_t)t * nq * XTILE;
			vdb_topk *heaps = ph + (size_t)t * nq;
			#pragma omp for schedule(dynamic, 1)
			for (size_t ti = 0; ti < ntiles; ti++) {
				size_t t0 = ti * XTILE, nxt = nx - t0 < XTILE ? nx - t0 : XTILE;
				tile_dots(s->q, nq, x + t0 * d, nxt, d, dots);
				scan_tile(s, heaps, s->q, nq, dots, x + t0 * d,
				          xnorm ? xnorm + t0 : NULL, nxt, id0 + (int64_t)t0);
			}
		}
		for (size_t a = 0; a < nq; a++) {
			vdb_topk h = heap_of(s, a);
			for (size_t t = 0; t < (size_t)T; t++) {
				const vdb_topk *p = &ph[t * nq + a];
				for (uint32_t e = 0; e < p->n; e++)
					topk_push(&h, p->key[e], p->id[e], p->ex[e]);
			}
			s->cnt[a] = h.n;
		}
out_few:
		free(pkey), free(pid), free(pex), free(buf), free(ph);
	}
	free(norms);
	return st;
}

typedef struct {
	double ex;
	int64_t id;
} cand;

static int cand_cmp(const void *a, const void *b)
{
	const cand *x = a, *y = b;
	if (x->ex != y->ex)
		return x->ex < y->ex ? -1 : 1;
	return (x->id > y->id) - (x->id < y->id);
}

vdb_status vdb_knn_result(vdb_knn *s, int64_t *ids, float *dist)
{
	int T = omp_get_max_threads();
	cand *all = vdb_malloc((size_t)T * s->kk * sizeof *all, "results");
	if (!all)
		return VDB_ENOMEM;
	#pragma omp parallel
	{
		cand *c = all + (size_t)omp_get_thread_num() * s->kk;
		#pragma omp for schedule(static)
		for (size_t qi = 0; qi < s->nq; qi++) {
			size_t n = s->cnt[qi];
			const double *ex = s->ex + qi * s->kk;
			const int64_t *id = s->id + qi * s->kk;
			int64_t *oi = ids + qi * s->k;
			float *od = dist + qi * s->k;
			for (size_t e = 0; e < n; e++)
				c[e] = (cand){ ex[e], id[e] };
			qsort(c, n, sizeof *c, cand_cmp);
			for (size_t r = 0; r < s->k; r++) {
				if (r < n) {
					double e = c[r].ex;
					oi[r] = c[r].id;
					/* rounding can put a cosine distance a hair outside [0, 2] */
					if (s->metric == VDB_METRIC_COSINE)
						e = e < 0 ? 0 : e > 2 ? 2 : e;
					od[r] = (float)(s->metric == VDB_METRIC_L2 ? sqrt(e > 0 ? e : 0) : e);
				} else {
					oi[r] = -1;
					od[r] = 0;
				}
			}
		}
	}
	free(all);
	return VDB_OK;
}
