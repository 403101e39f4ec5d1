/*
 * knn.c — exact k nearest neighbours, the engine of flat search and of
 * vdb-eval groundtruth.
 *
 * A block of queries meets a tile of base rows in one sgemm (OpenBLAS),
 * which gives a ranking key per pair: for l2, |x|^2 - 2<q,x> (= |q-x|^2 -
 * |q|^2); for ip and cosine, -<q,x>. The key is fast but rounded, and on
 * data far from the origin its error can exceed the gaps between
 * neighbours. So the key only filters: a row can be among the k nearest
 * only if its key is within a proven rounding bound B of the k-th best
 * exact distance so far (or, staged, within 2B of the k-th best key: see
 * knn_stage), and every row that passes gets its distance computed
 * directly, in double. The heap holds those exact distances, ties
 * go to the smaller id, and the result is the brute-force answer on any
 * data. B is the standard bound for a float dot product, (d+4)u times the
 * sum of |terms| (bounded with |q||x|), doubled for safety; for ordinary
 * data it is far below the gaps, so few rows beyond the answer are
 * recomputed, and on adversarial data the search degrades to exact
 * brute force instead of returning wrong neighbours.
 *
 * Parallelism (OpenMP): with enough queries, threads own blocks of queries
 * and stream the base tile by tile (each heap has one writer, no locks);
 * with few queries, threads split the base and keep private heaps that are
 * merged at the end (ties go to the smaller id in both, so a split scan
 * gives the one-thread answer). A lone query is split from a much smaller
 * scan than a batch is spread (SPLIT_WORK, SERIAL_WORK): its latency falls
 * with cores. A single-threaded BLAS runs inside our threads; a
 * multi-threaded one gets large blocks from one thread (see blas_threaded).
 * The library never changes OpenBLAS's process-wide thread count.
 * Base blocks can be fed in any order and size (ground truth streams a
 * base larger than memory); all state lives in the vdb_knn object.
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
#define QGROUP_BYTES ((size_t)1 << 20) /* a thread's queries, met by each base tile in turn */
#define SERIAL_WORK 2.5e8 /* multiply-adds below which one thread does it all */
#define SPLIT_WORK 1e6    /* ... but a lone query's scan is split from here (~0.1 ms) */
#define DIRECT_QUERIES 4 /* fewer queries than this: no sgemm (tile_keys) */
#define BIG_QBLOCK 2048 /* when BLAS runs the threads: blocks big enough to split */
#define STAGE_CAP 3     /* staged rows a query holds, times k, before it drops some */
#define STAGE_MIN 64    /* ... and at least this many */
#define STAGE_BUCKETS 256 /* the histogram that bounds a stage's k-th key */
#define STAGE_BYTES ((size_t)256 << 20) /* at most this for the stages of one call */
#define BIG_XTILE 2048 /* (and the most rows a tile has) */
#define FLUSH_AHEAD 2  /* staged rows whose lines are asked for ahead of their exact distance */
#define SEED_ROWS 4   /* a first tile of this many rows per k seeds the stage's cut */

struct vdb_knn {
	vdb_metric metric;
	uint32_t dim;
	size_t k, nq;
	float *q;        /* nq x dim, normalised for cosine */
	double *qn;      /* |q|^2 */
	double *dist;    /* nq x k heaps of exact distances */
	int64_t *id;
	uint32_t *cnt;
	double *bound;   /* per query, for the current block: B above */
	const uint64_t *allow; /* vdb_knn_allow: a row bitset, or NULL */
	size_t stage_bytes; /* at most this for the stages of one call (STAGE_BYTES) */
};

/* Who runs sgemm in parallel. The library only asks OpenBLAS, never sets
 * its process-wide thread count: a program may search from several
 * threads, and may use OpenBLAS itself.
 *   - A BLAS that runs single-threaded (a serial or pthreads OpenBLAS set to
 *     one thread, as the vdb commands set it: vdb_blas_single_thread) is
 *     called from each of our threads on its own blocks: no pools fight.
 *   - A BLAS that spreads each sgemm over its own threads (a pthreads
 *     OpenBLAS left at its default, or Debian's OpenMP OpenBLAS, which
 *     follows the calling thread's OpenMP thread count and serialises calls
 *     made from inside a parallel region) gets large blocks from one
 *     thread, and our threads scan the results in parallel.
 * Both use every core. */
static pthread_once_t blas_once = PTHREAD_ONCE_INIT;
static int blas_openmp; /* written once, under blas_once */
static void blas_probe(void)
{
	blas_openmp = openblas_get_parallel() == 2;
}

/* Would an sgemm called now from this thread run on several threads? */
static int blas_threaded(void)
{
	pthread_once(&blas_once, blas_probe);
	return blas_openmp ? omp_get_max_threads() > 1 : openblas_get_num_threads() > 1;
}

/* The kernels OpenBLAS runs sgemm with (its core: "Zen", "Haswell",
 * "Prescott", ...; a DYNAMIC_ARCH build picks them at load from the CPU, or
 * from OPENBLAS_CORETYPE), asked, never set; "unknown" where the BLAS
 * cannot say. */
const char *vdb_blas_core(void)
{
#ifdef HAVE_OPENBLAS_GET_CORENAME
	const char *c = openblas_get_corename();
	return c && *c ? c : "unknown";
#else
	return "unknown";
#endif
}

void vdb_blas_single_thread(void)
{
	pthread_once(&blas_once, blas_probe);
	if (!blas_openmp)
		openblas_set_num_threads(1);
}

static vdb_topk heap_of(vdb_knn *s, size_t qi)
{
	return (vdb_topk){ s->dist + qi * s->k, s->id + qi * s->k, s->cnt[qi], (uint32_t)s->k };
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
	vdb_knn *s = calloc(1, sizeof *s);
	if (!s)
		return vdb_fail(VDB_ENOMEM, "out of memory");
	s->metric = m, s->dim = dim, s->k = k, s->nq = nq;
	s->stage_bytes = STAGE_BYTES;
	size_t nqd, slots;
	if (!vdb_mul_ok(nq, dim, &nqd) || !vdb_mul_ok(nq, k, &slots)) {
		free(s);
		return vdb_fail(VDB_ENOMEM, "exact search: too many queries (%zu)", nq);
	}
	s->q = vdb_malloc(nqd * sizeof(float), "queries");
	s->qn = vdb_malloc(nq * sizeof(double), "queries");
	s->bound = vdb_malloc(nq * sizeof(double), "queries");
	s->dist = vdb_malloc(slots * sizeof(double), "result heaps");
	s->id = vdb_malloc(slots * sizeof(int64_t), "result heaps");
	s->cnt = calloc(nq ? nq : 1, sizeof(uint32_t));
	if (!s->q || !s->qn || !s->bound || !s->dist || !s->id || !s->cnt) {
		vdb_knn_free(s);
		return vdb_fail(VDB_ENOMEM, "out of memory for %zu queries", nq);
	}
	if (nqd)
		memcpy(s->q, queries, nqd * sizeof(float));
	const vdb_kernels *K = vdb_kernels_get();
	for (size_t i = 0; i < nq; i++) {
		float *q = s->q + i * dim;
		if (m == VDB_METRIC_COSINE)
			vdb_normalize(q, dim);
		s->qn[i] = K->dot_f64(q, q, dim); /* eight sums, not one chain of dim adds */
	}
	*out = s;
	return VDB_OK;
}

void vdb_knn_allow(vdb_knn *s, const uint64_t *allow)
{
	s->allow = allow;
}

void vdb_knn_stage_bytes(vdb_knn *s, size_t bytes)
{
	s->stage_bytes = bytes;
}

void vdb_knn_free(vdb_knn *s)
{
	if (!s)
		return;
	free(s->q), free(s->qn), free(s->bound), free(s->dist), free(s->id), free(s->cnt);
	free(s);
}

/* In double (the kernels' l2sq_f64, dot_f64: eight running sums, in one
 * order at every SIMD level): the same value whichever thread, path or
 * level computes it. */
double vdb_exact_distance(vdb_metric m, const float *q, const float *x, size_t d)
{
	const vdb_kernels *K = vdb_kernels_get();
	if (m == VDB_METRIC_L2)
		return K->l2sq_f64(q, x, d);
	double acc = K->dot_f64(q, x, d);
	return m == VDB_METRIC_IP ? -acc : 1.0 - acc;
}

float vdb_reported_distance(vdb_metric m, double e)
{
	/* rounding can put a cosine distance a hair outside [0, 2] */
	if (m == VDB_METRIC_COSINE)
		e = e < 0 ? 0 : e > 2 ? 2 : e;
	return (float)(m == VDB_METRIC_L2 ? sqrt(e > 0 ? e : 0) : e);
}

void vdb_exact_filter_init(vdb_exact_filter *f, vdb_metric m, const float *q, uint32_t d,
                           double xmax)
{
	f->K = vdb_kernels_get();
	double qn = f->K->dot_f64(q, q, d);
	f->m = m;
	f->q = q;
	f->d = d;
	f->g = vdb_kernel_gamma(d);
	f->cross = f->g * sqrt(qn * xmax) * 1.01 + 1e-30;
	f->shift = m == VDB_METRIC_COSINE ? 1 : 0;
	f->thr = INFINITY;
}

double vdb_max_norm2(const float *x, size_t n, uint32_t d, double start)
{
	double xmax = start;
	#pragma omp parallel for reduction(max : xmax) schedule(static)
	for (size_t i = 0; i < n; i++) {
		double a = 0;
		for (uint32_t j = 0; j < d; j++)
			a += (double)x[i * d + j] * x[i * d + j];
		xmax = a > xmax ? a : xmax;
	}
	return xmax;
}

void vdb_topk_emit(vdb_topk *t, vdb_metric m, size_t k, int64_t *ids, float *dist)
{
	topk_sort(t);
	for (size_t r = 0; r < k; r++) {
		ids[r] = r < t->n ? t->id[r] : -1;
		dist[r] = r < t->n ? vdb_reported_distance(m, t->dist[r]) : INFINITY;
	}
}

/* The key a row needs to possibly beat the heap's worst: +inf until the
 * heap is full, then the worst exact distance moved into key space plus
 * the rounding bound, rounded up to a float. */
static float key_threshold(const vdb_knn *s, const vdb_topk *h, size_t qi)
{
	if (h->n < h->cap)
		return INFINITY;
	double off = s->metric == VDB_METRIC_L2 ? s->qn[qi] : s->metric == VDB_METRIC_COSINE ? 1 : 0;
	return vdb_float_up(h->dist[0] - off + s->bound[qi]);
}

/* A query's rows whose key passed its threshold, staged before their exact
 * distance: an exact distance in double for every row that beats the k-th
 * best so far (about k ln(n/k) of n, in scan order) would cost more than
 * the sgemm at k 100, and a heap of keys updated per row nearly as much.
 * Staged, a row costs its key and a store. When the stage fills (cap
 * rows), a key that k staged keys are no greater than, close above the
 * k-th (stage_kth_near), bounds the cut: a row whose key is above it plus
 * twice the rounding bound cannot be among the k nearest (k staged rows
 * are nearer, whatever the rounding), so those rows are dropped and later
 * rows must beat it. At the end of the call (or when too many stay: ties,
 * data far from the origin) the staged rows within the bound get their
 * exact distance into the heap, so the answer is the one the heap alone
 * gives. Per call: the keys of one base block share a bound. Every path
 * stages (a batch, a split scan of a few queries, any k) unless the
 * stages would pass s->stage_bytes (STAGE_BYTES: k in the thousands over a
 * large batch; vdb_knn_stage_bytes lowers it for one object, as the unit
 * test does to reach the heap alone). */
typedef struct {
	float *key;      /* the staged rows (n of them, at most cap) */
	int64_t *id;
	float kth;       /* the k-th smallest key seen this call, or above it; +inf */
	uint32_t n, cap;
} knn_stage;

/* Stages for nq queries, or NULL (too much memory for a large k and batch:
 * the exact heap alone, slower, the same answer); stages_free frees them. */
static knn_stage *stages_new(const vdb_knn *s, size_t nq)
{
	size_t k = s->k, cap = STAGE_CAP * k < STAGE_MIN ? STAGE_MIN : STAGE_CAP * k;
	if (nq == 0 || nq > s->stage_bytes / (cap * (sizeof(float) + sizeof(int64_t))))
		return NULL;
	knn_stage *st = calloc(nq, sizeof *st);
	float *key = vdb_malloc(nq * cap * sizeof *key, "staged rows");
	int64_t *id = vdb_malloc(nq * cap * sizeof *id, "staged rows");
	if (!st || !key || !id) {
		free(st), free(key), free(id);
		return NULL;
	}
	for (size_t a = 0; a < nq; a++)
		st[a] = (knn_stage){ key + a * cap, id + a * cap, INFINITY, 0, (uint32_t)cap };
	return st;
}

static void stages_free(knn_stage *st)
{
	if (st)
		free(st[0].key), free(st[0].id);
	free(st);
}

static void stage_reset(knn_stage *st)
{
	st->n = 0, st->kth = INFINITY;
}

/* The key a row needs to possibly be among the k nearest: the exact
 * heap's threshold, and the stage's k-th key plus twice the bound. */
static float stage_threshold(const vdb_knn *s, const knn_stage *st, const vdb_topk *h,
                             size_t qi)
{
	float t = key_threshold(s, h, qi);
	if (st->kth < INFINITY)
		t = fminf(t, vdb_float_up((double)st->kth + 2 * s->bound[qi]));
	return t;
}

/* A key that at least k of n keys (k <= n) are no greater than, close
 * above the k-th smallest: the top of the bucket where a histogram of the
 * keys between the smallest and the largest (nb buckets, at most
 * STAGE_BUCKETS) reaches k. Passes without branches on the keys' order,
 * which a quickselect or a heap of keys takes many of. The bucket's top is
 * checked by counting; where the arithmetic gives none (a range beyond
 * floats, or a rounding at a bucket's edge) the largest key serves:
 * looser, as true. */
static float kth_near(const float *key, uint32_t n, uint32_t nb, uint32_t k)
{
	uint32_t cnt[STAGE_BUCKETS], real = 0, e = 0;
	memset(cnt, 0, nb * sizeof *cnt);
	/* four running minima and maxima: one chain waits on each min's latency */
	float l4[4] = { INFINITY, INFINITY, INFINITY, INFINITY };
	float h4[4] = { -INFINITY, -INFINITY, -INFINITY, -INFINITY };
	for (; e + 4 <= n; e += 4) /* (a NaN key: rows near float's limits) */
		for (int l = 0; l < 4; l++) {
			float v = key[e + l];
			real += v == v, l4[l] = v < l4[l] ? v : l4[l], h4[l] = v > h4[l] ? v : h4[l];
		}
	for (; e < n; e++)
		real += key[e] == key[e],
		l4[0] = key[e] < l4[0] ? key[e] : l4[0], h4[0] = key[e] > h4[0] ? key[e] : h4[0];
	float lo = fminf(fminf(l4[0], l4[1]), fminf(l4[2], l4[3]));
	float hi = fmaxf(fmaxf(h4[0], h4[1]), fmaxf(h4[2], h4[3]));
	if (real < k) /* fewer than k keys are no greater than anything */
		return INFINITY;
	double span = (double)hi - (double)lo;
	if (!(span > 0 && span < INFINITY))
		return hi;
	double scale = (nb - 1) / span;
	for (uint32_t e = 0; e < n; e++)
		if (key[e] == key[e])
			cnt[(uint32_t)(((double)key[e] - lo) * scale)]++;
	uint32_t b = 0, below = cnt[0];
	while (below < k)
		below += cnt[++b];
	float top = vdb_float_up((double)lo + (b + 1) / scale);
	uint32_t c = 0;
	for (uint32_t e = 0; e < n; e++)
		c += key[e] <= top;
	return c >= k && top < hi ? top : hi;
}

/* The stage's keys: as many buckets as it holds rows, up to STAGE_BUCKETS. */
static float stage_kth_near(const knn_stage *st, uint32_t k)
{
	return kth_near(st->key, st->n, st->cap < STAGE_BUCKETS ? st->cap : STAGE_BUCKETS, k);
}

/* Bound the cut by the staged keys when k or more are staged (it can only
 * tighten kth), and drop the rows beyond the threshold. */
static float stage_select(const vdb_knn *s, knn_stage *st, const vdb_topk *h, size_t qi)
{
	if (st->n >= s->k) {
		float kth = stage_kth_near(st, (uint32_t)s->k);
		st->kth = kth < st->kth ? kth : st->kth;
	}
	float t = stage_threshold(s, st, h, qi);
	uint32_t n = 0;
	for (uint32_t e = 0; e < st->n; e++) {
		float key = st->key[e];
		int64_t id = st->id[e];
		st->key[n] = key, st->id[n] = id;
		n += key <= t;
	}
	st->n = n;
	return t;
}

/* Ask for a base row's cache lines ahead of its exact distance: the staged
 * rows are scattered over the base block, mostly beyond L2. */
static void prefetch_row(const float *r, size_t d)
{
	for (size_t b = 0; b < d * sizeof *r; b += 64)
		__builtin_prefetch((const char *)r + b);
}

/* The staged rows within the threshold get their exact distance into h
 * (x: the call's base block, its first row id0); the stage empties, and
 * keeps its k-th key (a bound still). */
static void stage_flush(const vdb_knn *s, knn_stage *st, vdb_topk *h, size_t qi,
                        const float *x, int64_t id0)
{
	size_t d = s->dim;
	const float *q = s->q + qi * d;
	float t = stage_select(s, st, h, qi);
	for (uint32_t e = 0; e < st->n && e < FLUSH_AHEAD; e++)
		prefetch_row(x + (size_t)(st->id[e] - id0) * d, d);
	for (uint32_t e = 0; e < st->n; e++) {
		if (e + FLUSH_AHEAD < st->n)
			prefetch_row(x + (size_t)(st->id[e + FLUSH_AHEAD] - id0) * d, d);
		if (st->key[e] <= t) {
			topk_push(h, vdb_exact_distance(s->metric, q, x + (size_t)(st->id[e] - id0) * d, d),
			          st->id[e]);
			t = fminf(t, key_threshold(s, h, qi));
		}
	}
	st->n = 0;
}

/* A stage that filled: drop the rows now beyond the threshold; if most
 * stay (ties, or a bound wider than the gaps), flush them. */
static void stage_compact(const vdb_knn *s, knn_stage *st, vdb_topk *h, size_t qi,
                          const float *x, int64_t id0)
{
	stage_select(s, st, h, qi);
	if (st->n > st->cap - s->k)
		stage_flush(s, st, h, qi, x, id0);
}

/* A call's first tile, before anything is staged or the heap is full:
 * every key would pass (a threshold of +inf) until the stage fills, and
 * then a loose one. Seed the stage's k-th key from the tile's keys instead
 * (all of them: no bitset), so that from the first row on only rows near
 * the k nearest pass. The k rows at or below it pass too and get staged,
 * which is what makes it a bound (stage_threshold). */
static void stage_seed(knn_stage *st, const float *row, size_t nxt, uint32_t k)
{
	float key[BIG_XTILE];
	for (size_t j = 0; j < nxt; j++)
		key[j] = -row[j];
	st->kth = kth_near(key, (uint32_t)nxt, STAGE_BUCKETS, k);
}

/* The tile's rows of one query (row: its keys, negated) into its stage. */
static void stage_tile(const vdb_knn *s, knn_stage *st, vdb_topk *h, size_t qi, const float *row,
                       const float *x, size_t nxt, int64_t id0, int64_t xid0)
{
	const vdb_kernels *K = vdb_kernels_get();
	if (st->kth == INFINITY && st->n == 0 && h->n < h->cap && !s->allow && nxt >= SEED_ROWS * s->k)
		stage_seed(st, row, nxt, (uint32_t)s->k);
	float thr = stage_threshold(s, st, h, qi);
	/* the rows within thr in one pass; a compaction below can only lower
	 * thr, so each hit is checked again against the current one */
	uint32_t hit[BIG_XTILE];
	size_t nh = K->hits_below(row, nxt, thr, hit);
	for (size_t e = 0; e < nh; e++) {
		size_t j = hit[e];
		uint64_t id = (uint64_t)id0 + j;
		float key = -row[j];
		if (!(key <= thr) || (s->allow && !((s->allow[id >> 6] >> (id & 63)) & 1)))
			continue;
		st->key[st->n] = key, st->id[st->n++] = (int64_t)id;
		if (s->k == 1 && key < st->kth) { /* the nearest (k-means, ivf's lists): exact at once */
			st->kth = key;
			thr = stage_threshold(s, st, h, qi);
		}
		if (st->n == st->cap) {
			stage_compact(s, st, h, qi, x, xid0);
			thr = stage_threshold(s, st, h, qi);
		}
	}
}

/* Scan one tile of negated keys (tile_keys: nqb queries from q0, x nxt
 * rows) into the heaps, or with stages into theirs (xb: the call's base
 * block, its first row xid0, for the exact distances of staged rows). */
static void scan_tile(const vdb_knn *s, vdb_topk *heaps, knn_stage *stages, size_t q0,
                      size_t nqb, const float *dots, const float *x, size_t nxt, int64_t id0,
                      const float *xb, int64_t xid0)
{
	size_t d = s->dim;
	const vdb_kernels *K = vdb_kernels_get();
	for (size_t a = 0; stages && a < nqb; a++)
		stage_tile(s, &stages[a], &heaps[a], q0 + a, dots + a * nxt, xb, nxt, id0, xid0);
	for (size_t a = 0; !stages && a < nqb; a++) {
		vdb_topk *h = &heaps[a];
		const float *row = dots + a * nxt;
		const float *q = s->q + (q0 + a) * d;
		float thr = key_threshold(s, h, q0 + a);
		/* most keys lose to the threshold: a SIMD kernel skips them */
		for (size_t j = K->next_below(NULL, row, 0, nxt, thr); j < nxt;
		     j = K->next_below(NULL, row, j + 1, nxt, thr)) {
			uint64_t id = (uint64_t)id0 + j;
			if (s->allow && !((s->allow[id >> 6] >> (id & 63)) & 1))
				continue;
			topk_push(h, vdb_exact_distance(s->metric, q, x + j * d, d), (int64_t)id);
			thr = key_threshold(s, h, q0 + a);
		}
	}
}

/* The keys of nqb queries by nxt rows, negated, into out (nqb x nxt):
 * <q,x> for ip and cosine (keyn NULL); for l2, 2<q,x> - |x|^2, which
 * sgemm computes itself from out preloaded with -|x|^2 (alpha 2, beta 1:
 * no pass that zeroes out, none that adds the norms; the one rounding of
 * the sum is the one the key had). Fewer than DIRECT_QUERIES queries take
 * the dot kernel row by row: sgemm pads so small a block to its register
 * tile and packs every row first, which makes a lone query several times
 * slower than the scan of its rows. */
static void tile_keys(const float *q, size_t nqb, const float *x, const float *keyn, size_t nxt,
                      size_t d, float *out)
{
	if (nqb < DIRECT_QUERIES) {
		const vdb_kernels *K = vdb_kernels_get();
		for (size_t a = 0; a < nqb; a++)
			for (size_t j = 0; j < nxt; j++) {
				float dot = K->dot(q + a * d, x + j * d, d);
				out[a * nxt + j] = keyn ? 2.0f * dot - keyn[j] : dot;
			}
		return;
	}
	if (keyn) {
		float neg[BIG_XTILE];
		for (size_t j = 0; j < nxt; j++)
			neg[j] = -keyn[j];
		for (size_t a = 0; a < nqb; a++)
			memcpy(out + a * nxt, neg, nxt * sizeof *out);
	}
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nqb, (int)nxt, (int)d,
	            keyn ? 2.0f : 1.0f, q, (int)d, x, (int)d, keyn ? 1.0f : 0.0f, out, (int)nxt);
}

/* One call's base block, as the three strategies below take it. */
typedef struct {
	const float *x;
	const float *keyn; /* l2: |x|^2 per row; NULL: ip and cosine */
	size_t nx;
	int64_t id0;
	int T;             /* our threads */
} knn_block;

void vdb_row_norms(const float *x, size_t n, uint32_t d, float *out, int threads)
{
	const vdb_kernels *K = vdb_kernels_get();
	#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
	for (size_t j = 0; j < n; j++)
		out[j] = K->dot(x + j * d, x + j * d, d);
}

/* |x|^2 per row (caller frees), when not given and the metric needs them. */
static vdb_status row_norms(const vdb_knn *s, const float *x, size_t nx, int T, float **out)
{
	float *norms = vdb_malloc(nx * sizeof(float), "norms");
	if (!norms)
		return VDB_ENOMEM;
	vdb_row_norms(x, nx, s->dim, norms, T);
	*out = norms;
	return VDB_OK;
}

/* The rounding bound of each query's keys over a block of nx rows. */
static void set_bounds(vdb_knn *s, const float *xnorm, size_t nx, int T)
{
	double xmax = 1.0; /* cosine rows are unit vectors (or zero) */
	if (s->metric != VDB_METRIC_COSINE) {
		float mx = 0;
		#pragma omp parallel for reduction(max : mx) schedule(static) if (T > 1 && s->nq >= (size_t)T)
		for (size_t j = 0; j < nx; j++)
			mx = xnorm[j] > mx ? xnorm[j] : mx;
		xmax = mx;
	}
	double gamma = vdb_kernel_gamma(s->dim);
	for (size_t i = 0; i < s->nq; i++) {
		double cross = sqrt(s->qn[i]) * sqrt(xmax) * (s->metric == VDB_METRIC_COSINE ? 1.01 : 1);
		s->bound[i] = gamma * (s->metric == VDB_METRIC_L2 ? xmax + 2 * cross : cross);
	}
}

/* BLAS parallel inside each sgemm (called from this thread), our threads
 * on the scan. */
static vdb_status add_blas_parallel(vdb_knn *s, const knn_block *b)
{
	size_t d = s->dim, nx = b->nx;
	size_t qb = s->nq < BIG_QBLOCK ? s->nq : BIG_QBLOCK;
	float *dots = vdb_malloc(qb * BIG_XTILE * sizeof(float), "distance tiles");
	vdb_topk *heaps = vdb_malloc(qb * sizeof(vdb_topk), "result heaps");
	knn_stage *stages = stages_new(s, qb);
	if (!dots || !heaps) {
		free(dots), free(heaps), stages_free(stages);
		return VDB_ENOMEM;
	}
	for (size_t q0 = 0; q0 < s->nq; q0 += qb) {
		size_t nqb = s->nq - q0 < qb ? s->nq - q0 : qb;
		for (size_t a = 0; a < nqb; a++) {
			heaps[a] = heap_of(s, q0 + a);
			if (stages)
				stage_reset(&stages[a]);
		}
		for (size_t t0 = 0; t0 < nx; t0 += BIG_XTILE) {
			size_t nxt = nx - t0 < BIG_XTILE ? nx - t0 : BIG_XTILE;
			tile_keys(s->q + q0 * d, nqb, b->x + t0 * d, b->keyn ? b->keyn + t0 : NULL, nxt, d,
			          dots);
			#pragma omp parallel for schedule(dynamic, 16) num_threads(b->T)
			for (size_t a = 0; a < nqb; a++)
				scan_tile(s, heaps + a, stages ? stages + a : NULL, q0 + a, 1, dots + a * nxt,
				          b->x + t0 * d, nxt, b->id0 + (int64_t)t0, b->x, b->id0);
		}
		#pragma omp parallel for schedule(dynamic, 16) num_threads(b->T) if (stages)
		for (size_t a = 0; a < nqb; a++) {
			if (stages)
				stage_flush(s, &stages[a], &heaps[a], q0 + a, b->x, b->id0);
			s->cnt[q0 + a] = heaps[a].n;
		}
	}
	free(dots);
	free(heaps);
	stages_free(stages);
	return VDB_OK;
}

/* Threads own groups of queries: each heap has exactly one writer. A
 * group meets the base tile by tile, each tile (read from memory once per
 * group) in sgemm blocks of QBLOCK queries while it is in cache: the base
 * streams from memory once per group, not once per block. */
static vdb_status add_query_blocks(vdb_knn *s, const knn_block *b)
{
	size_t d = s->dim, nx = b->nx, T = (size_t)b->T;
	size_t cap = QGROUP_BYTES / (d * sizeof(float));
	size_t group = (s->nq + T - 1) / T;
	group = group > cap ? cap : group;
	group = group < 1 ? 1 : group;
	size_t qb = group < QBLOCK ? group : QBLOCK;
	size_t ngroups = (s->nq + group - 1) / group;
	float *buf = vdb_malloc(T * qb * XTILE * sizeof(float), "distance tiles");
	vdb_topk *hbuf = vdb_malloc(T * group * sizeof(vdb_topk), "result heaps");
	knn_stage *sbuf = stages_new(s, T * group);
	if (!buf || !hbuf) {
		free(buf), free(hbuf), stages_free(sbuf);
		return VDB_ENOMEM;
	}
	#pragma omp parallel num_threads(b->T)
	{
		float *dots = buf + (size_t)omp_get_thread_num() * qb * XTILE;
		vdb_topk *heaps = hbuf + (size_t)omp_get_thread_num() * group;
		knn_stage *stages = sbuf ? sbuf + (size_t)omp_get_thread_num() * group : NULL;
		#pragma omp for schedule(dynamic, 1)
		for (size_t gi = 0; gi < ngroups; gi++) {
			size_t g0 = gi * group, ng = s->nq - g0 < group ? s->nq - g0 : group;
			for (size_t a = 0; a < ng; a++) {
				heaps[a] = heap_of(s, g0 + a);
				if (stages)
					stage_reset(&stages[a]);
			}
			for (size_t t0 = 0; t0 < nx; t0 += XTILE) {
				size_t nxt = nx - t0 < XTILE ? nx - t0 : XTILE;
				for (size_t q0 = g0; q0 < g0 + ng; q0 += qb) {
					size_t nqb = g0 + ng - q0 < qb ? g0 + ng - q0 : qb;
					tile_keys(s->q + q0 * d, nqb, b->x + t0 * d, b->keyn ? b->keyn + t0 : NULL,
					          nxt, d, dots);
					scan_tile(s, heaps + (q0 - g0), stages ? stages + (q0 - g0) : NULL, q0, nqb,
					          dots, b->x + t0 * d, nxt, b->id0 + (int64_t)t0, b->x, b->id0);
				}
			}
			for (size_t a = 0; a < ng; a++) {
				if (stages)
					stage_flush(s, &stages[a], &heaps[a], g0 + a, b->x, b->id0);
				s->cnt[g0 + a] = heaps[a].n;
			}
		}
	}
	free(buf);
	free(hbuf);
	stages_free(sbuf);
	return VDB_OK;
}

/* Each private heap began as a copy of the shared one, which keeps the
 * rows of earlier calls: only this call's rows are merged in. */
static void merge_private(vdb_knn *s, const vdb_topk *ph, size_t T, int64_t id0, size_t nx)
{
	for (size_t a = 0; a < s->nq; a++) {
		vdb_topk h = heap_of(s, a);
		for (size_t t = 0; t < T; t++) {
			const vdb_topk *p = &ph[t * s->nq + a];
			for (uint32_t e = 0; e < p->n; e++)
				if (p->id[e] >= id0 && p->id[e] < id0 + (int64_t)nx)
					topk_push(&h, p->dist[e], p->id[e]);
		}
		s->cnt[a] = h.n;
	}
}

/* Few queries: threads split the base, keep private heaps, merge. */
static vdb_status add_split_base(vdb_knn *s, const knn_block *b)
{
	size_t d = s->dim, nx = b->nx, nq = s->nq, k = s->k, T = (size_t)b->T;
	size_t per = nq * k, ntiles = (nx + XTILE - 1) / XTILE;
	int64_t *pid = vdb_malloc(T * per * sizeof(int64_t), "result heaps");
	double *pdist = vdb_malloc(T * per * sizeof(double), "result heaps");
	float *buf = vdb_malloc(T * nq * XTILE * sizeof(float), "distance tiles");
	vdb_topk *ph = vdb_malloc(T * nq * sizeof(vdb_topk), "result heaps");
	knn_stage *sbuf = stages_new(s, T * nq);
	vdb_status st = !pid || !pdist || !buf || !ph ? VDB_ENOMEM : VDB_OK;
	/* private heaps start as copies, so thresholds are tight from the start */
	for (size_t t = 0; !st && t < T; t++)
		for (size_t a = 0; a < nq; a++) {
			vdb_topk *p = &ph[t * nq + a];
			*p = (vdb_topk){ pdist + t * per + a * k, pid + t * per + a * k, s->cnt[a],
			                 (uint32_t)k };
			memcpy(p->dist, s->dist + a * k, s->cnt[a] * sizeof(double));
			memcpy(p->id, s->id + a * k, s->cnt[a] * sizeof(int64_t));
		}
	if (!st) {
		#pragma omp parallel num_threads(b->T)
		{
			int t = omp_get_thread_num();
			float *dots = buf + (size_t)t * nq * XTILE;
			vdb_topk *heaps = ph + (size_t)t * nq;
			knn_stage *stages = sbuf ? sbuf + (size_t)t * nq : NULL;
			for (size_t a = 0; stages && a < nq; a++)
				stage_reset(&stages[a]);
			#pragma omp for schedule(dynamic, 1) nowait
			for (size_t ti = 0; ti < ntiles; ti++) {
				size_t t0 = ti * XTILE, nxt = nx - t0 < XTILE ? nx - t0 : XTILE;
				tile_keys(s->q, nq, b->x + t0 * d, b->keyn ? b->keyn + t0 : NULL, nxt, d, dots);
				scan_tile(s, heaps, stages, 0, nq, dots, b->x + t0 * d, nxt,
				          b->id0 + (int64_t)t0, b->x, b->id0);
			}
			for (size_t a = 0; stages && a < nq; a++)
				stage_flush(s, &stages[a], &heaps[a], a, b->x, b->id0);
		}
		merge_private(s, ph, T, b->id0, nx);
	}
	free(pid), free(pdist), free(buf), free(ph);
	stages_free(sbuf);
	return st;
}

/* Fewer queries than two per thread over several tiles: the threads split
 * the base (add_split_base) rather than the queries. */
static int splits_base(const vdb_knn *s, int T, size_t nx)
{
	return s->nq < (size_t)(2 * T) && (nx + XTILE - 1) / XTILE >= 2;
}

int vdb_knn_threads(const vdb_knn *s, size_t nx)
{
	int T = omp_get_max_threads();
	double work = (double)s->nq * (double)nx * (double)s->dim;
	if (T > 1 && splits_base(s, T, nx) && work >= SPLIT_WORK)
		return T;
	/* below a few milliseconds of work, waking threads costs more than it saves */
	return work < SERIAL_WORK ? 1 : T;
}

vdb_status vdb_knn_add(vdb_knn *s, const float *x, const float *xnorm, size_t nx, int64_t id0)
{
	if (nx == 0 || s->nq == 0)
		return VDB_OK;
	int T = vdb_knn_threads(s, nx);
	float *norms = NULL;
	if (s->metric != VDB_METRIC_COSINE && !xnorm) {
		vdb_status st = row_norms(s, x, nx, T, &norms);
		if (st)
			return st;
		xnorm = norms;
	}
	set_bounds(s, xnorm, nx, T);
	knn_block b = { x, s->metric == VDB_METRIC_L2 ? xnorm : NULL, nx, id0, T };
	int bt = blas_threaded();
	/* a small job on an OpenMP BLAS: it would start its own team for each
	 * sgemm. Its thread count follows this thread's OpenMP one, which is
	 * this thread's alone (an ICV, not the process's): 1 for the call. */
	int saved = bt && blas_openmp && T == 1 ? omp_get_max_threads() : 0;
	if (saved)
		omp_set_num_threads(1);
	/* a lone query split over our threads (no sgemm: tile_keys); with
	 * more queries, a threaded BLAS spreads each sgemm itself */
	int split = splits_base(s, T, nx);
	vdb_status st;
	if (bt && T > 1 && !(split && s->nq < DIRECT_QUERIES))
		st = add_blas_parallel(s, &b);
	else if (!split)
		st = add_query_blocks(s, &b);
	else
		st = add_split_base(s, &b);
	if (saved)
		omp_set_num_threads(saved);
	free(norms);
	return st;
}

vdb_status vdb_knn_result(vdb_knn *s, int64_t *ids, float *dist)
{
	int T = omp_get_max_threads();
	/* each thread sorts a copy of a query's heap (the object stays as it
	 * was): heapsort, ties to the smaller id, as the heap orders them */
	double *bd = vdb_malloc((size_t)T * s->k * sizeof *bd, "results");
	int64_t *bi = vdb_malloc((size_t)T * s->k * sizeof *bi, "results");
	if (!bd || !bi) {
		free(bd), free(bi);
		return VDB_ENOMEM;
	}
	#pragma omp parallel if (s->nq * s->k > 100000)
	{
		size_t t = (size_t)omp_get_thread_num();
		#pragma omp for schedule(static)
		for (size_t qi = 0; qi < s->nq; qi++) {
			vdb_topk h = { bd + t * s->k, bi + t * s->k, s->cnt[qi], (uint32_t)s->k };
			memcpy(h.dist, s->dist + qi * s->k, h.n * sizeof *h.dist);
			memcpy(h.id, s->id + qi * s->k, h.n * sizeof *h.id);
			topk_sort(&h);
			int64_t *oi = ids + qi * s->k;
			float *od = dist + qi * s->k;
			for (size_t r = 0; r < s->k; r++) {
				oi[r] = r < h.n ? h.id[r] : -1;
				od[r] = r < h.n ? vdb_reported_distance(s->metric, h.dist[r]) : 0;
			}
		}
	}
	free(bd), free(bi);
	return VDB_OK;
}

/* ===== Exact hamming search ===== */
/* Rows per kernel call; a block holding fewer than 1 in SPARSE allowed rows
 * has their distances taken one at a time instead (on 256-bit codes a
 * distance alone costs about 1.6 times one of a kernel call's). */
#define HBLOCK 1024
#define SPARSE 2

/* The allowed rows of block [b, b + m) into h: one kernel call over the
 * block when the codes are contiguous and enough rows are allowed, else
 * one distance per allowed row. Only rows that beat the k-th best so far
 * reach the heap (ties: topk_push decides by id). */
static void hamming_block(const vdb_kernels *K, vdb_topk *h, const unsigned char *q,
                          const unsigned char *codes, size_t cs, size_t stride, size_t b,
                          size_t m, const uint64_t *allow, uint32_t *bd)
{
	size_t kept = m;
	if (allow) {
		kept = 0;
		for (size_t w = b >> 6; w < (b + m + 63) >> 6; w++)
			kept += (size_t)__builtin_popcountll(allow[w]);
		if (kept == 0)
			return;
	}
	if (stride == cs && kept * SPARSE >= m) {
		K->hamming_many(q, codes + b * cs, cs, m, bd);
		for (size_t j = 0; j < m; j++)
			if ((h->n < h->cap || bd[j] <= h->dist[0]) &&
			    (!allow || ((allow[(b + j) >> 6] >> ((b + j) & 63)) & 1)))
				topk_push(h, bd[j], (int64_t)(b + j));
		return;
	}
	for (size_t w = b >> 6; w < (b + m + 63) >> 6; w++)
		for (uint64_t bits = allow ? allow[w] : ~(uint64_t)0; bits; bits &= bits - 1) {
			size_t r = (w << 6) + (size_t)__builtin_ctzll(bits);
			if (r < b || r >= b + m)
				continue;
			uint32_t dr = K->hamming(q, codes + r * stride, cs);
			if (h->n < h->cap || dr <= h->dist[0])
				topk_push(h, dr, (int64_t)r);
		}
}

vdb_status vdb_hamming_search(const unsigned char *q, size_t nq, const unsigned char *codes,
                              size_t cs, size_t stride, size_t n, const uint64_t *allow,
                              size_t k, int64_t *ids, float *dist)
{
	const vdb_kernels *K = vdb_kernels_get();
	vdb_status st = VDB_OK;
	#pragma omp parallel if (nq > 1)
	{
		double *hd = malloc(k * sizeof *hd);
		int64_t *hi = malloc(k * sizeof *hi);
		uint32_t *bd = malloc(HBLOCK * sizeof *bd);
		if (!hd || !hi || !bd) {
			#pragma omp atomic write
			st = VDB_ENOMEM;
		}
		#pragma omp for schedule(dynamic, 4)
		for (size_t i = 0; i < nq; i++) {
			if (!hd || !hi || !bd)
				continue;
			vdb_topk h = { hd, hi, 0, (uint32_t)k };
			for (size_t b = 0; b < n; b += HBLOCK)
				hamming_block(K, &h, q + i * cs, codes, cs, stride, b,
				              n - b < HBLOCK ? n - b : HBLOCK, allow, bd);
			vdb_topk_emit(&h, VDB_METRIC_HAMMING, k, ids + i * k, dist + i * k);
		}
		free(hd), free(hi), free(bd);
	}
	VDB_RETURN_IF(st, st, "out of memory for the results of %zu queries", nq);
	return VDB_OK;
}
