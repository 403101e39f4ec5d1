/* test_rcurve.c — an hnsw index's recall curve (lib/recall_curve.c) against
 * its definition: at each setting of the curve, the recall@k of every
 * sample query searched at that setting, counted here against answers
 * found here by brute force. The ladder skips the queries that already
 * found all k (hnsw's ef nests its answers): the points must still be what
 * searching every query gives. Measured again on two threads, the points
 * stay and so does the caller's thread count. */
#include "recall_curve.h"
#include "tap.h"
#include <stdlib.h>
#include <string.h>

#define N 3000
#define DIM 12

static uint64_t rng = 88172645463325252ull;
static float rnd(void)
{
	rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
	return (float)(rng >> 40) / (float)(1u << 24);
}

/* The k nearest rows of q (l2, double sums; random floats leave no ties). */
static void brute(const float *x, const float *q, size_t k, int64_t *out)
{
	double best[VDB_RECALL_K];
	size_t got = 0;
	for (size_t r = 0; r < N; r++) {
		double d = 0;
		for (size_t j = 0; j < DIM; j++) {
			double t = (double)x[r * DIM + j] - q[j];
			d += t * t;
		}
		if (got == k && d >= best[k - 1])
			continue;
		size_t at = got < k ? got++ : k - 1;
		while (at > 0 && best[at - 1] > d) {
			best[at] = best[at - 1], out[at] = out[at - 1];
			at--;
		}
		best[at] = d, out[at] = (int64_t)r;
	}
}

int main(void)
{
	vdb_set_threads(1);
	float *x = malloc((size_t)N * DIM * sizeof *x);
	vdb_vecs v;
	vdb_vecs_init(&v);
	v.dim = DIM, v.n = v.cap = N;
	v.data = malloc((size_t)N * DIM * sizeof(float));
	if (!x || !v.data)
		return 1;
	for (size_t i = 0; i < (size_t)N * DIM; i++)
		x[i] = v.data[i] = rnd();
	/* a sparse graph and a narrow build beam: most queries find their k at
	 * the ladder's first steps, some only much later */
	vdb_build_opts o;
	vdb_build_opts_init(&o);
	o.type = "hnsw";
	o.metric = VDB_METRIC_L2;
	o.recall_curve = 1;
	vdb_build_opts_set(&o, "M", 3);
	vdb_build_opts_set(&o, "ef_construction", 12);
	vdb_index *ix = NULL;
	if (!ok(vdb_index_build(&ix, &v, &o) == VDB_OK, "an l2 hnsw of %d x %d is built", N, DIM)) {
		diag("%s", vdb_last_error());
		return done_testing();
	}
	size_t npt = 0;
	const vdb_recall_point *pt = vdb_index_recall_curve(ix, &npt);
	/* the same sample again (drawn with the index's seed from its rows) */
	vdb_rcurve_prep *p = NULL;
	ok(vdb_rcurve_prepare(&p, ix, NULL) == VDB_OK && p, "the curve's sample is drawn again");
	ok(npt >= 4, "the curve has %zu points (at least 4: queries leave the ladder early)", npt);
	ok(npt && pt[0].recall < 0.9, "its first point is below 0.9 (%.4f)", npt ? pt[0].recall : 0);
	size_t k = p ? p->k : 0, nq = p ? p->nq : 0;
	int64_t *truth = malloc(nq * k * sizeof *truth), *ids = malloc(nq * k * sizeof *ids);
	float *dist = malloc(nq * k * sizeof *dist);
	for (size_t i = 0; p && i < nq; i++)
		brute(x, p->q + i * DIM, k, truth + i * k);
	for (size_t s = 0; p && s < npt; s++) {
		vdb_search_opts so;
		vdb_search_opts_init(&so);
		so.k = k;
		vdb_search_opts_set(&so, "ef", pt[s].setting);
		if (vdb_index_search(ix, p->q, nq, &so, ids, dist)) {
			ok(0, "search at ef %u: %s", pt[s].setting, vdb_last_error());
			continue;
		}
		size_t hits = 0;
		for (size_t i = 0; i < nq; i++)
			for (size_t a = 0; a < k; a++)
				for (size_t b = 0; b < k; b++)
					hits += ids[i * k + a] == truth[i * k + b];
		double want = (double)hits / ((double)nq * (double)k);
		ok(pt[s].recall == want, "ef %u: the curve's recall %.4f is every query's, %.4f",
		   pt[s].setting, pt[s].recall, want);
	}
	/* measured again on two threads: the same points, and the caller's
	 * thread count as it was (a small sample runs on the calling thread
	 * alone, in a region of its own) */
	vdb_recall_point one[VDB_RECALL_MAX_POINTS];
	memcpy(one, pt, npt * sizeof *pt);
	vdb_set_threads(2);
	ok(vdb_index_measure_recall(ix) == VDB_OK, "the curve is measured again on 2 threads");
	size_t npt2 = 0;
	const vdb_recall_point *pt2 = vdb_index_recall_curve(ix, &npt2);
	bool same = npt2 == npt;
	for (size_t s = 0; same && s < npt; s++)
		same = pt2[s].setting == one[s].setting && pt2[s].recall == one[s].recall;
	ok(same, "the same %zu points", npt);
	ok(vdb_threads() == 2, "the caller's thread count is still 2 (%d)", vdb_threads());
	free(truth), free(ids), free(dist), free(x);
	vdb_rcurve_prep_free(p);
	vdb_index_close(ix);
	return done_testing();
}
