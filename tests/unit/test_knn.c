/* test_knn.c — the exact k-NN engine against a naive double-precision
 * brute force: every metric, ties, both parallel paths, streamed blocks,
 * rows masked by an allow bitset; and exact hamming search against a naive
 * popcount. */
#include "tap.h"
#include "vdb_internal.h"
#include "topk.h"
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct { double d; int64_t id; } cand;
static int cmp(const void *a, const void *b)
{
	const cand *x = a, *y = b;
	if (x->d != y->d)
		return x->d < y->d ? -1 : 1;
	return (x->id > y->id) - (x->id < y->id);
}

/* allow: a row bitset, or NULL for every row */
static int allowed(const uint64_t *allow, size_t j)
{
	return !allow || (allow[j / 64] >> (j % 64) & 1);
}

static void naive(vdb_metric m, const float *x, size_t n, const float *q, size_t d, size_t k,
                  const uint64_t *allow, int64_t *ids, double *dist)
{
	cand *c = malloc((n ? n : 1) * sizeof *c);
	size_t nc = 0;
	for (size_t j = 0; j < n; j++) {
		if (!allowed(allow, j))
			continue;
		double acc = 0;
		for (size_t i = 0; i < d; i++) {
			double a = q[i], b = x[j * d + i];
			acc += m == VDB_METRIC_L2 ? (a - b) * (a - b) : a * b;
		}
		if (m == VDB_METRIC_IP)
			acc = -acc;
		else if (m == VDB_METRIC_COSINE)
			acc = 1 - acc; /* the rows and the query come in normalised */
		else
			acc = sqrt(acc);
		c[nc++] = (cand){ acc, (int64_t)j };
	}
	qsort(c, nc, sizeof *c, cmp);
	for (size_t r = 0; r < k; r++) {
		ids[r] = r < nc ? c[r].id : -1;
		dist[r] = r < nc ? c[r].d : 0;
	}
	free(c);
}

/* topk_sort (quicksort, insertion, a heapsort past its depth) against
 * qsort on pairs: n entries in a pattern (0 random, 1 ascending, 2
 * descending, 3 one distance for all (ids shuffled: the smaller id first),
 * 4 three distances, 5 organ pipe), from a heap or not, at full depth or
 * depth 0 (the heapsort at once). */
static int check_sort(size_t n, int pattern, int heap, int depth0)
{
	double *d = malloc((n + 1) * sizeof *d);
	int64_t *id = malloc((n + 1) * sizeof *id);
	cand *c = malloc((n + 1) * sizeof *c);
	unsigned seed = (unsigned)(n * 13 + (size_t)pattern);
	for (size_t e = 0; e < n; e++) {
		seed = seed * 1103515245u + 12345u;
		unsigned r = seed >> 8;
		double v = pattern == 0 ? (double)r / 16777216.0 : pattern == 1 ? (double)e
		         : pattern == 2 ? (double)(n - e) : pattern == 3 ? 0.5 : pattern == 4 ? r % 3
		         : (double)(e < n / 2 ? e : n - e);
		d[e] = v, id[e] = (int64_t)((e * 7919) % (n ? n : 1)) * 3 + (int64_t)(r % 3);
		c[e] = (cand){ d[e], id[e] };
	}
	/* ids unique: e * 7919 mod n is a permutation when n is not a multiple of 7919 */
	vdb_topk t = { d, id, 0, (uint32_t)n };
	if (heap)
		for (size_t e = 0; e < n; e++)
			topk_push(&t, d[e], id[e]);
	else
		t.n = (uint32_t)n;
	if (depth0)
		topk_sort_range(d, id, n, 0);
	else
		topk_sort(&t);
	qsort(c, n, sizeof *c, cmp);
	size_t bad = 0;
	for (size_t e = 0; e < n; e++)
		bad += d[e] != c[e].d || id[e] != c[e].id;
	free(d), free(id), free(c);
	return ok(bad == 0, "topk_sort n=%zu pattern %d%s%s: %zu entries out of place", n, pattern,
	          heap ? " from a heap" : "", depth0 ? " depth 0" : "", bad);
}

/* A bitset of n rows keeping about keep% of them (none at 0), spread out;
 * NULL at 100. */
static uint64_t *allow_of(size_t n, unsigned keep)
{
	if (keep >= 100)
		return NULL;
	uint64_t *a = calloc(n / 64 + 1, sizeof *a);
	for (size_t j = 0; j < n; j++)
		if ((j * 7919) % 100 < keep)
			a[j / 64] |= (uint64_t)1 << (j % 64);
	return a;
}

/* levels > 0: integer values in 0..levels-1, so many exact ties;
 * offset: added to every value (data far from the origin) */
static float offset;
static void fill(float *v, size_t n, unsigned levels, unsigned *seed)
{
	for (size_t i = 0; i < n; i++) {
		*seed = *seed * 1103515245u + 12345u;
		unsigned r = (*seed >> 8) & 0xffff;
		v[i] = offset + (levels ? (float)(r % levels) : (float)r / 32768.0f - 1.0f);
	}
}

/* heap_only: no stages (knn.c's path for stages above STAGE_BYTES), every
 * row that passes its key threshold straight into the exact heap */
static int heap_only;

/* Run the engine (feeding the base in blocks of `block`, admitting about
 * keep% of the rows) and compare. */
static int check_kept(vdb_metric m, size_t n, size_t nq, size_t d, size_t k, unsigned levels,
                      size_t block, int threads, unsigned keep)
{
	uint64_t *allow = allow_of(n, keep);
	unsigned seed = (unsigned)(n * 31 + nq * 7 + d + k + levels);
	float *x = malloc(n * d * sizeof *x), *q = malloc(nq * d * sizeof *q);
	fill(x, n * d, levels, &seed);
	fill(q, nq * d, levels, &seed);
	/* cosine rows go in normalised, as the flat index and groundtruth do */
	float *xin = malloc(n * d * sizeof *xin);
	memcpy(xin, x, n * d * sizeof *x);
	if (m == VDB_METRIC_COSINE)
		for (size_t j = 0; j < n; j++)
			vdb_normalize(xin + j * d, d);
	vdb_set_threads(threads);
	vdb_knn *s;
	int good = vdb_knn_new(&s, m, (uint32_t)d, k, q, nq) == VDB_OK;
	if (good)
		vdb_knn_allow(s, allow);
	if (good && heap_only)
		vdb_knn_stage_bytes(s, 0);
	for (size_t j = 0; good && j < n; j += block)
		good = vdb_knn_add(s, xin + j * d, NULL, n - j < block ? n - j : block,
		                   (int64_t)j) == VDB_OK;
	int64_t *ids = malloc(nq * k * sizeof *ids), *want = malloc(k * sizeof *want);
	float *dist = malloc(nq * k * sizeof *dist);
	double *wd = malloc(k * sizeof *wd);
	good = good && vdb_knn_result(s, ids, dist) == VDB_OK;
	size_t bad_ids = 0;
	double worst = 0;
	/* cosine is defined on the rows as stored: normalised once, in float */
	float *qn = malloc(d * sizeof *qn);
	for (size_t qi = 0; good && qi < nq; qi++) {
		memcpy(qn, q + qi * d, d * sizeof *qn);
		if (m == VDB_METRIC_COSINE)
			vdb_normalize(qn, d);
		naive(m, m == VDB_METRIC_COSINE ? xin : x, n, qn, d, k, allow, want, wd);
		for (size_t r = 0; r < k; r++) {
			if (ids[qi * k + r] != want[r])
				bad_ids++;
			if (want[r] >= 0) {
				/* relative for l2 and ip; cosine lives in [0, 2]: absolute */
				double e = fabs(dist[qi * k + r] - wd[r]) /
				           (m == VDB_METRIC_COSINE ? 1.0 : fabs(wd[r]) + 1e-6);
				if (e > worst)
					worst = e;
			}
		}
	}
	vdb_knn_free(s);
	free(qn);
	free(x), free(q), free(xin), free(ids), free(want), free(dist), free(wd), free(allow);
	return ok(good && bad_ids == 0 && worst < 1e-4,
	          "%s%s n=%zu nq=%zu d=%zu k=%zu levels=%u block=%zu threads=%d kept=%u%%: %zu ids "
	          "differ, worst distance error %.2g", heap_only ? "heap alone, " : "",
	          vdb_metric_name(m), n, nq, d, k, levels, block,
	          threads, keep, bad_ids, worst);
}

/* Rows near float's limits in a call's first tile (no bitset, at least
 * knn.c's SEED_ROWS * k rows, so the stage's cut is seeded from the tile's
 * keys): every `every`-th of the first `span` rows (the tile is 512) has
 * each value 3e38, |x|^2 overflows float and, with queries of positive
 * values, so does 2<q,x>: the key |x|^2 - 2<q,x> is inf - inf, NaN. Input
 * never holds such rows (vdb(7): a squared length at most VDB_MAX_SQNORM),
 * but a crafted index file can (the fuzzer's regress-knn-seed-nan.vdb).
 * The right answer is the brute force in double, where those rows are
 * about 8.5e38 away and every finite row within 3: with at least k finite
 * rows they are never among the k nearest and must not displace a finite
 * one, and the finite ones must all be there, in brute force's order. */
static int check_huge(size_t n, size_t nq, size_t k, size_t every, size_t span)
{
	size_t d = 8, huge = 0;
	unsigned seed = (unsigned)(n + k * 3 + every);
	float *x = malloc(n * d * sizeof *x), *q = malloc(nq * d * sizeof *q);
	fill(x, n * d, 0, &seed);
	fill(q, nq * d, 0, &seed);
	for (size_t i = 0; i < nq * d; i++)
		q[i] = 0.25f + fabsf(q[i]) * 0.75f; /* positive: 2<q,x> overflows to +inf */
	for (size_t j = 0; j < span && j < n; j += every, huge++)
		for (size_t i = 0; i < d; i++)
			x[j * d + i] = 3e38f;
	vdb_set_threads(1);
	vdb_knn *s;
	int good = vdb_knn_new(&s, VDB_METRIC_L2, (uint32_t)d, k, q, nq) == VDB_OK;
	good = good && vdb_knn_add(s, x, NULL, n, 0) == VDB_OK;
	int64_t *ids = malloc(nq * k * sizeof *ids), *want = malloc(k * sizeof *want);
	float *dist = malloc(nq * k * sizeof *dist);
	double *wd = malloc(k * sizeof *wd);
	good = good && vdb_knn_result(s, ids, dist) == VDB_OK;
	size_t bad = 0;
	for (size_t qi = 0; good && qi < nq; qi++) {
		naive(VDB_METRIC_L2, x, n, q + qi * d, d, k, NULL, want, wd);
		for (size_t r = 0; r < k; r++)
			bad += ids[qi * k + r] != want[r] || !(wd[r] < 10) ||
			       fabs(dist[qi * k + r] - wd[r]) > 1e-4 * (wd[r] + 1e-6);
	}
	vdb_knn_free(s);
	free(x), free(q), free(ids), free(want), free(dist), free(wd);
	return ok(good && bad == 0,
	          "l2 n=%zu nq=%zu k=%zu, %zu rows of 3e38 (NaN keys) in the first tile: %zu "
	          "results differ from brute force", n, nq, k, huge, bad);
}

static int check(vdb_metric m, size_t n, size_t nq, size_t d, size_t k, unsigned levels,
                 size_t block, int threads)
{
	return check_kept(m, n, nq, d, k, levels, block, threads, 100);
}

/* vdb_hamming_search over n random codes of cs bytes laid stride bytes
 * apart, about keep% of them allowed, against a naive popcount. */
static int check_hamming(size_t n, size_t nq, size_t cs, size_t stride, size_t k, unsigned keep,
                         int threads)
{
	unsigned seed = (unsigned)(n + nq * 3 + cs * 5 + stride + k + keep);
	unsigned char *codes = malloc(n * stride + 1), *q = malloc(nq * cs);
	for (size_t i = 0; i < n * stride; i++)
		seed = seed * 1103515245u + 12345u, codes[i] = (unsigned char)(seed >> 16);
	for (size_t i = 0; i < nq * cs; i++)
		seed = seed * 1103515245u + 12345u, q[i] = (unsigned char)(seed >> 16);
	uint64_t *allow = allow_of(n, keep);
	int64_t *ids = malloc(nq * k * sizeof *ids);
	float *dist = malloc(nq * k * sizeof *dist);
	cand *c = malloc((n ? n : 1) * sizeof *c);
	vdb_set_threads(threads);
	int good = vdb_hamming_search(q, nq, codes, cs, stride, n, allow, k, ids, dist) == VDB_OK;
	size_t bad = 0;
	for (size_t qi = 0; good && qi < nq; qi++) {
		size_t nc = 0;
		for (size_t j = 0; j < n; j++) {
			if (!allowed(allow, j))
				continue;
			unsigned bits = 0;
			for (size_t b = 0; b < cs; b++)
				bits += (unsigned)__builtin_popcount(q[qi * cs + b] ^ codes[j * stride + b]);
			c[nc++] = (cand){ bits, (int64_t)j };
		}
		qsort(c, nc, sizeof *c, cmp);
		for (size_t r = 0; r < k; r++)
			bad += r < nc ? ids[qi * k + r] != c[r].id || dist[qi * k + r] != (float)c[r].d
			              : ids[qi * k + r] != -1;
	}
	free(codes), free(q), free(allow), free(ids), free(dist), free(c);
	return ok(good && bad == 0, "hamming n=%zu nq=%zu bytes=%zu stride=%zu k=%zu kept=%u%%: "
	          "%zu results differ", n, nq, cs, stride, k, keep, bad);
}

int main(void)
{
	vdb_metric ms[] = { VDB_METRIC_L2, VDB_METRIC_IP, VDB_METRIC_COSINE };
	static const size_t sort_n[] = { 0, 1, 2, 16, 17, 100, 1000, 20000 };
	for (size_t i = 0; i < sizeof sort_n / sizeof *sort_n; i++)
		for (int pattern = 0; pattern < 6; pattern++) {
			check_sort(sort_n[i], pattern, 1, 0);
			check_sort(sort_n[i], pattern, 0, 0);
			check_sort(sort_n[i], pattern, 0, 1);
		}
	for (int mi = 0; mi < 3; mi++) {
		vdb_metric m = ms[mi];
		/* many queries: threads own query blocks */
		check(m, 5000, 100, 33, 10, 0, 5000, 2);
		/* few queries over several tiles: threads split the base and merge */
		check(m, 9000, 1, 16, 10, 0, 9000, 2);
		check(m, 9000, 3, 16, 7, 0, 9000, 2);
		/* exact ties everywhere: the smaller id must win */
		check(m, 3000, 40, 8, 20, 3, 3000, 2);
		check(m, 3000, 2, 8, 20, 2, 3000, 2);
		/* the base streamed in odd-sized blocks, single thread */
		check(m, 2500, 17, 20, 15, 0, 333, 1);
		check(m, 2500, 17, 20, 15, 4, 1, 1);
		/* k larger than the base: the rest is -1 */
		check(m, 5, 3, 4, 9, 0, 5, 2);
		/* dimension 1 and a large dimension */
		check(m, 700, 9, 1, 5, 0, 700, 2);
		check(m, 300, 5, 1100, 5, 0, 300, 2);
	}
	/* far from the origin the sgemm key's rounding error dwarfs the gaps
	 * between neighbours: the answer must still be exact */
	offset = 1000.0f;
	check(VDB_METRIC_L2, 4000, 20, 64, 10, 0, 4000, 2);
	check(VDB_METRIC_L2, 4000, 2, 64, 10, 0, 4000, 2);
	check(VDB_METRIC_IP, 4000, 20, 64, 10, 0, 4000, 2);
	offset = 0;
	/* an allow bitset: only its rows, on both parallel paths, with ties */
	for (int mi = 0; mi < 3; mi++) {
		check_kept(ms[mi], 5000, 100, 33, 10, 0, 5000, 2, 50);
		check_kept(ms[mi], 9000, 3, 16, 7, 0, 9000, 2, 5);
		check_kept(ms[mi], 3000, 40, 8, 20, 3, 1000, 1, 90);
		check_kept(ms[mi], 2000, 5, 8, 10, 0, 2000, 2, 0);
	}
	/* enough work for two threads (knn.c's SERIAL_WORK): first with
	 * OpenBLAS's own threads inside sgemm (the library leaves its thread
	 * count alone), then with OpenBLAS on one thread and our threads owning
	 * query blocks (as the commands set it, vdb_blas_single_thread) */
	check(VDB_METRIC_L2, 20000, 400, 32, 10, 0, 20000, 2);
	heap_only = 1; /* the exact heap alone there too (see below) */
	check(VDB_METRIC_L2, 20000, 400, 32, 100, 0, 20000, 2);
	heap_only = 0;
	vdb_blas_single_thread();
	check(VDB_METRIC_L2, 20000, 400, 32, 10, 0, 20000, 2);
	/* a lone query (or fewer than two a thread) over enough rows: its scan
	 * is split over the threads, without sgemm (tile_dots), and gives the
	 * one-thread answer, ties to the smaller id; far from the origin too */
	for (int mi = 0; mi < 3; mi++) {
		check(ms[mi], 40000, 1, 32, 10, 0, 40000, 2);
		check(ms[mi], 40000, 3, 32, 10, 0, 40000, 2);
		check(ms[mi], 40000, 1, 32, 20, 3, 40000, 2);
		check_kept(ms[mi], 40000, 2, 32, 10, 0, 40000, 2, 50);
	}
	offset = 1000.0f;
	check(VDB_METRIC_L2, 20000, 1, 64, 10, 0, 20000, 2);
	/* the first tile, before a heap is full (knn.c's stage bounds the cut
	 * from its keys): k near a tile's rows, ties, a sparse bitset, far
	 * from the origin */
	check(VDB_METRIC_L2, 5000, 10, 16, 100, 0, 5000, 1);
	check(VDB_METRIC_IP, 5000, 10, 16, 128, 0, 5000, 1);
	offset = 0;
	for (int mi = 0; mi < 3; mi++) {
		check(ms[mi], 5000, 10, 16, 100, 3, 5000, 1);
		check_kept(ms[mi], 5000, 10, 16, 60, 0, 5000, 1, 20);
	}
	/* rows staged by key (knn.c knn_stage): stages that fill and drop rows
	 * many times over (k 200 of 30,000), flush early (ties, data far from
	 * the origin), span base blocks, and k 257 (once the first k beyond
	 * staging) */
	for (int mi = 0; mi < 3; mi++) {
		check(ms[mi], 30000, 40, 24, 200, 0, 30000, 2);
		check(ms[mi], 30000, 40, 24, 256, 4, 7001, 1);
		check(ms[mi], 6000, 40, 24, 257, 0, 6000, 2);
		check_kept(ms[mi], 30000, 40, 24, 150, 0, 9000, 2, 30);
	}
	/* every k is staged, and so is the split scan of a few queries (the
	 * stage's cut from a histogram of its keys, stage_kth_near): k 1000 in
	 * a batch, k 300 and 120 alone or in pairs (ties: two levels), every
	 * key tied (one level: the histogram's span is 0) */
	for (int mi = 0; mi < 3; mi++) {
		check(ms[mi], 20000, 20, 16, 1000, 0, 20000, 2);
		check(ms[mi], 40000, 1, 32, 300, 0, 40000, 2);
		check(ms[mi], 40000, 2, 8, 120, 2, 40000, 2);
		check_kept(ms[mi], 40000, 3, 16, 500, 0, 40000, 2, 30);
	}
	/* a call's first tile seeds the stage's cut from its keys (knn.c
	 * stage_seed): bases of about one tile, where most of the k nearest
	 * are in it; ties; far from the origin below */
	for (int mi = 0; mi < 3; mi++) {
		check(ms[mi], 600, 50, 8, 10, 0, 600, 1);
		check(ms[mi], 520, 30, 12, 100, 0, 520, 1);
		check(ms[mi], 700, 30, 6, 25, 3, 700, 1);
	}
	/* rows near float's limits in the first tile: NaN keys (inf - inf)
	 * among numeric ones, then fewer than k numeric keys in the tile */
	check_huge(1100, 20, 10, 7, 512);
	check_huge(1100, 20, 100, 3, 512);
	check_huge(1100, 20, 10, 1, 505);
	/* k 1 (k-means' nearest centroid): the stage's cut is the least key */
	for (int mi = 0; mi < 3; mi++) {
		check(ms[mi], 20000, 30, 16, 1, 0, 20000, 2);
		check(ms[mi], 20000, 2, 16, 1, 3, 20000, 2);
	}
	check(VDB_METRIC_L2, 3000, 10, 8, 50, 1, 3000, 1);
	check(VDB_METRIC_IP, 3000, 10, 2, 50, 2, 3000, 1);
	offset = 1000.0f;
	check(VDB_METRIC_L2, 40000, 1, 32, 300, 0, 40000, 2);
	check(VDB_METRIC_L2, 20000, 40, 32, 100, 0, 20000, 2);
	check(VDB_METRIC_IP, 20000, 40, 32, 100, 0, 5000, 1);
	check(VDB_METRIC_L2, 600, 50, 16, 10, 0, 600, 1);
	check(VDB_METRIC_IP, 520, 30, 16, 100, 0, 520, 1);
	offset = 0;
	/* the exact heap alone (stages beyond their memory budget: a large k
	 * over a large batch), on every parallel path: a batch, a split scan,
	 * streamed blocks, ties, k 1, k beyond the rows, a bitset, far from
	 * the origin */
	heap_only = 1;
	static const struct {
		size_t n, nq, d, k;
		unsigned levels;
		size_t block;
		int threads;
		unsigned keep;
	} alone[] = {
		{ 5000, 100, 33, 10, 0, 5000, 2, 100 }, { 30000, 40, 24, 200, 0, 30000, 2, 100 },
		{ 40000, 3, 32, 100, 0, 40000, 2, 100 }, { 3000, 40, 8, 20, 3, 3000, 2, 100 },
		{ 2500, 17, 20, 15, 4, 333, 1, 100 },    { 20000, 30, 16, 1, 0, 20000, 2, 100 },
		{ 5, 3, 4, 9, 0, 5, 2, 100 },            { 5000, 100, 33, 10, 0, 5000, 2, 50 },
	};
	for (int mi = 0; mi < 3; mi++)
		for (size_t c = 0; c < sizeof alone / sizeof *alone; c++)
			check_kept(ms[mi], alone[c].n, alone[c].nq, alone[c].d, alone[c].k, alone[c].levels,
			           alone[c].block, alone[c].threads, alone[c].keep);
	offset = 1000.0f;
	check(VDB_METRIC_L2, 4000, 20, 64, 10, 0, 4000, 2);
	check(VDB_METRIC_L2, 20000, 1, 64, 10, 0, 20000, 2);
	check(VDB_METRIC_IP, 4000, 20, 64, 10, 0, 4000, 2);
	offset = 0;
	heap_only = 0;
	{
		float q[128] = { 0 };
		vdb_knn *s1, *sb;
		vdb_set_threads(2);
		int made = vdb_knn_new(&s1, VDB_METRIC_L2, 128, 10, q, 1) == VDB_OK;
		ok(made && vdb_knn_threads(s1, 100000) == 2,
		   "a lone query over 100k x 128 rows is split over 2 threads");
		ok(made && vdb_knn_threads(s1, 500) == 1, "but not a scan of one tile");
		float qs[100 * 8] = { 0 };
		made = vdb_knn_new(&sb, VDB_METRIC_L2, 8, 10, qs, 100) == VDB_OK;
		ok(made && vdb_knn_threads(sb, 1000) == 1, "a small batch stays on one thread");
		vdb_knn_free(s1);
		vdb_knn_free(sb);
	}
	/* hamming: whole blocks, blocks taken a row at a time (few allowed,
	 * or codes apart as in a graph's records), ties of short codes */
	check_hamming(5000, 30, 16, 16, 10, 100, 2);
	check_hamming(5000, 30, 16, 16, 10, 60, 2);
	check_hamming(5000, 30, 16, 16, 10, 3, 2);
	check_hamming(3000, 20, 2, 2, 25, 40, 1);
	check_hamming(3000, 20, 8, 200, 10, 100, 2);
	check_hamming(3000, 20, 8, 200, 10, 10, 2);
	check_hamming(1000, 3, 4, 4, 10, 0, 2);
	check_hamming(7, 3, 4, 4, 10, 50, 1);
	vdb_knn *s;
	ok(vdb_knn_new(&s, VDB_METRIC_HAMMING, 4, 1, NULL, 0) == VDB_EUNSUPPORTED,
	   "hamming is refused by the float engine");
	ok(vdb_knn_new(&s, VDB_METRIC_L2, 4, 0, NULL, 0) == VDB_EINVAL &&
	   strstr(vdb_last_error(), "k 0") != NULL, "k = 0 is refused with a message");
	return done_testing();
}
