/*
 * range.c — range search: every record within a distance of each query (as
 * FAISS's range_search, pgvector's `WHERE embedding <-> q < R`, Redis's
 * VECTOR_RANGE and Qdrant's score_threshold), for every index type, from
 * the k-NN search every type already has.
 *
 * A k-NN answer sorted by distance holds every record within R once its
 * worst result is beyond R (or it holds every row that may be returned):
 * the boundary is passed. So each query is searched with k (and the
 * search's breadth: ef, nprobe, probes) doubled from round to round until
 * its boundary is passed; its results are then the prefix within R. Exact
 * search would be exact at the first round whose boundary is passed, but
 * each round scans every row: types whose search is exact over float rows
 * (ops->range_scan: flat) are answered by one scan instead, the float
 * kernel filtering within exact search's rounding bound and the exact
 * distance (as k-NN search reports it) deciding. A
 * graph's beam of ef candidates is widened with k (ef >= k), which is the
 * hnsw rule "until the worst of the ef candidates is beyond R". Types
 * whose reach is the lists or buckets they probe (ops->range_confirm: ivf,
 * ivfpq, lsh) can pass the boundary inside the probed lists while an
 * unprobed one still holds records within R: such a query is widened once
 * more and is done when that round finds no new record within R (probing
 * in centroid order from the user's nprobe, as the issue asks). Filters and
 * deleted rows are honoured by the k-NN search itself (vdb_index_search),
 * and so is k means k: fewer than k results means no other row may be
 * returned.
 *
 * Memory: the results of each round are held for at most RANGE_ROUND_IDS
 * ids (the active queries are searched in slices); the answer of a query
 * is kept once it is done. Threads: each round's search is parallel over
 * queries as vdb_index_search is; the bookkeeping between rounds is serial
 * and linear in the results.
 */
#include "index_internal.h"
#include "results_internal.h"
#include "rowset.h"
#include <math.h>
#include <string.h>

/* k of the first round (at most the cap): one hnsw beam of the default ef */
#define RANGE_K0 64u
/* ids (and distances) of one round's search held at once, at most */
#define RANGE_ROUND_IDS ((size_t)1 << 22)

void vdb_range_result_free(vdb_range_result *r)
{
	free(r->lims), free(r->ids), free(r->dist);
	memset(r, 0, sizeof *r);
}

/* One query's answer while the rounds run. */
typedef struct {
	size_t n;        /* results within R (or the cap) */
	size_t prev;     /* within R at the previous round (SIZE_MAX: none yet) */
	size_t k;        /* k of its next round */
	int64_t *ids;
	float *dist;
	bool done, truncated;
} range_query;

static unsigned widen(unsigned base, unsigned round, unsigned max)
{
	uint64_t v = (uint64_t)base << (round < 32 ? round : 32);
	return v > max ? max : (unsigned)v;
}

/* The type's search setting (its ops table's knob) doubled round times
 * from the one given, else from its default, up to its maximum (ivf clamps
 * nprobe to nlist, lsh probes to its buckets, hnsw takes any ef); a default
 * that follows k (ef) is left to k, which the rounds widen. */
static void widen_knob(const vdb_index *ix, vdb_search_opts *so, unsigned round)
{
	const struct vdb_index_knob *kn = ix->ops->knob;
	if (!kn)
		return;
	unsigned v = vdb_knob_value(so, kn);
	if (v || !kn->default_follows_k) /* in range: widen clamps it to the maximum */
		vdb_search_opts_set(so, kn->pub.name, widen(v ? v : kn->pub.def, round, kn->pub.max));
}

/* Is query q (its m results of a k-NN search with k) done? Keeps its
 * answer if so. */
static vdb_status settle(bool confirm, range_query *rq, const int64_t *ids, const float *dist,
                         size_t k, float radius, size_t cap, size_t rows)
{
	size_t m = 0, c = 0;
	while (m < k && ids[m] >= 0)
		m++;
	while (c < m && dist[c] <= radius)
		c++;
	bool all = m < k || k >= rows;  /* every row that may be returned is here */
	bool passed = c < m || all;
	bool done = c >= cap || (passed && (all || !confirm || c == rq->prev));
	rq->prev = c;
	if (!done) {
		/* k too: a k all within R needs a larger one, and a wider search
		 * of a type that fills short answers from more lists (k means k)
		 * only reaches further for more rows */
		rq->k = 2 * k < cap ? 2 * k : cap;
		return VDB_OK;
	}
	rq->done = true;
	rq->truncated = c >= cap && !all && (c > cap || !passed);
	rq->n = c < cap ? c : cap;
	rq->ids = vdb_malloc((rq->n ? rq->n : 1) * sizeof *rq->ids, "range results");
	rq->dist = vdb_malloc((rq->n ? rq->n : 1) * sizeof *rq->dist, "range results");
	if (!rq->ids || !rq->dist)
		return VDB_ENOMEM;
	memcpy(rq->ids, ids, rq->n * sizeof *ids);
	memcpy(rq->dist, dist, rq->n * sizeof *dist);
	return VDB_OK;
}

/* The queries' answers, in the result's arrays. */
static vdb_status gather(range_query *rq, size_t nq, vdb_range_result *res)
{
	size_t total = 0;
	for (size_t i = 0; i < nq; i++)
		total += rq[i].n;
	res->nq = nq;
	res->lims = vdb_malloc((nq + 1) * sizeof *res->lims, "range results");
	res->ids = vdb_malloc((total ? total : 1) * sizeof *res->ids, "range results");
	res->dist = vdb_malloc((total ? total : 1) * sizeof *res->dist, "range results");
	if (!res->lims || !res->ids || !res->dist)
		return VDB_ENOMEM;
	res->lims[0] = 0;
	for (size_t i = 0; i < nq; i++) {
		memcpy(res->ids + res->lims[i], rq[i].ids, rq[i].n * sizeof *res->ids);
		memcpy(res->dist + res->lims[i], rq[i].dist, rq[i].n * sizeof *res->dist);
		res->lims[i + 1] = res->lims[i] + rq[i].n;
		res->truncated += rq[i].truncated;
	}
	return VDB_OK;
}

static vdb_status check_args(float radius, size_t *cap)
{
	VDB_RETURN_IF(isnan(radius), VDB_EINVAL, "the range search's radius is not a number");
	VDB_RETURN_IF(*cap > VDB_MAX_RANGE, VDB_EINVAL,
	              "range search: %zu results per query is more than VDB_MAX_RANGE (%u)", *cap,
	              VDB_MAX_RANGE);
	if (*cap == 0)
		*cap = VDB_MAX_RANGE;
	return VDB_OK;
}

static vdb_status range_rounds(const vdb_index *ix, const float *queries, size_t nq,
                               const vdb_search_opts *o, float radius, size_t cap,
                               vdb_range_result *res, bool confirm)
{
	memset(res, 0, sizeof *res);
	vdb_status st = check_args(radius, &cap);
	if (st)
		return st;
	const size_t rb = vdb_vector_bytes(ix->metric == VDB_METRIC_HAMMING, ix->dim);
	range_query *rq = calloc(nq ? nq : 1, sizeof *rq);
	size_t *act = vdb_malloc((nq ? nq : 1) * sizeof *act, "range queries");
	unsigned char *qs = NULL;
	int64_t *ids = NULL;
	float *dist = NULL;
	size_t qcap = 0, icap = 0, dcap = 0;
	st = rq && act ? VDB_OK : vdb_fail(VDB_ENOMEM, "out of memory for %zu range queries", nq);
	for (size_t i = 0; i < nq && !st; i++)
		rq[i].prev = SIZE_MAX;
	for (size_t i = 0; i < nq && !st; i++)
		rq[i].k = cap < RANGE_K0 ? cap : RANGE_K0;
	for (unsigned round = 0; !st; round++) {
		/* the queries not done (all of one k but where the cap cut it) */
		size_t na = 0;
		for (size_t i = 0; i < nq; i++)
			if (!rq[i].done)
				act[na++] = i;
		if (na == 0)
			break;
		vdb_search_opts so = *o;
		widen_knob(ix, &so, round);
		for (size_t a = 0; a < na && !st;) {
			/* a slice: queries of one k, at most RANGE_ROUND_IDS ids */
			size_t k = rq[act[a]].k, slice = RANGE_ROUND_IDS / k ? RANGE_ROUND_IDS / k : 1;
			size_t m = 0;
			while (a + m < na && m < slice && rq[act[a + m]].k == k)
				m++;
			if ((st = vdb_grow((void **)&qs, &qcap, m * rb, 1, "range queries")) ||
			    (st = vdb_grow((void **)&ids, &icap, m * k, sizeof *ids, "range results")) ||
			    (st = vdb_grow((void **)&dist, &dcap, m * k, sizeof *dist, "range results")))
				break;
			for (size_t j = 0; j < m; j++)
				memcpy(qs + j * rb, (const unsigned char *)queries + act[a + j] * rb, rb);
			so.k = k;
			st = vdb_index_search(ix, (const float *)qs, m, &so, ids, dist);
			for (size_t j = 0; j < m && !st; j++)
				st = settle(confirm, &rq[act[a + j]], ids + j * k, dist + j * k, k, radius, cap,
				            ix->count);
			a += m;
		}
	}
	if (!st)
		st = gather(rq, nq, res);
	for (size_t i = 0; rq && i < nq; i++)
		free(rq[i].ids), free(rq[i].dist);
	free(rq), free(act), free(qs), free(ids), free(dist);
	if (st)
		vdb_range_result_free(res);
	return st;
}

/* ===== Exact search in one scan ===== */
/* A hit: a row within the radius and its reported distance. */
typedef struct {
	float dist;
	int64_t row;
} scan_hit;

/* A query's hits while the rows stream by (one writer: its thread). */
typedef struct {
	size_t n, cap;
	scan_hit *h;
	bool failed;
} scan_hits;

static int hit_cmp(const void *pa, const void *pb)
{
	const scan_hit *a = pa, *b = pb;
	if (a->dist != b->dist)
		return a->dist < b->dist ? -1 : 1;
	return (a->row > b->row) - (a->row < b->row);
}

/* One query against a tile of rows x (their ids rows[], |x|^2 in xn):
 * the float kernel filters with the rounding bound of exact search
 * (vdb_kernel_gamma), the exact distance in double decides, as k-NN
 * search reports it. */
static void scan_tile(const vdb_index *ix, const float *q, double qn, const float *x,
                      const double *xn, const int64_t *rows, size_t nx, float radius,
                      scan_hits *h)
{
	const vdb_kernels *K = vdb_kernels_get();
	const size_t d = ix->dim;
	const double g = 2 * vdb_kernel_gamma(d);
	const double r2 = (double)radius * radius;
	for (size_t j = 0; j < nx && !h->failed; j++) {
		const float *row = x + j * d;
		bool maybe;
		if (ix->metric == VDB_METRIC_L2)
			maybe = (double)K->l2sq(q, row, d) <= r2 * (1 + g) + g * (qn + xn[j]);
		else /* ip: -dot, cosine: 1 - dot (unit vectors) */
			maybe = (ix->metric == VDB_METRIC_IP ? 0 : 1) - (double)K->dot(q, row, d) <=
			        (double)radius + g * sqrt(qn * xn[j]) * 1.01 + 1e-30;
		if (!maybe)
			continue;
		float dist = vdb_reported_distance(ix->metric, vdb_exact_distance(ix->metric, q, row, d));
		if (!(dist <= radius))
			continue;
		if (h->n == h->cap) {
			size_t c = h->cap ? 2 * h->cap : 64;
			scan_hit *n = realloc(h->h, c * sizeof *n);
			if (!n) {
				h->failed = true;
				return;
			}
			h->h = n, h->cap = c;
		}
		h->h[h->n++] = (scan_hit){ dist, rows[j] };
	}
}

/* The rows that may be returned: those o->filter keeps, of the live; NULL
 * (*owned NULL) when that is every row. */
static vdb_status allowed_rows(const vdb_index *ix, const vdb_search_opts *o,
                               const uint64_t **allow, uint64_t **owned)
{
	*allow = ix->live, *owned = NULL;
	if (!o->filter)
		return VDB_OK;
	size_t n;
	vdb_status st = vdb_filter_rows(ix, o->filter, owned, &n);
	if (st)
		return st;
	for (size_t w = 0; ix->live && w < vdb_rowset_words(ix->count); w++)
		(*owned)[w] &= ix->live[w];
	*allow = *owned;
	return VDB_OK;
}

/* Every allowed row's distance to each query, rows gathered a tile at a
 * time (ops->rows, decoded when stored compressed) and shared by the
 * queries, which run in parallel. Memory: a tile of rows and each query's
 * hits. */
static vdb_status range_scan(const vdb_index *ix, const float *queries, size_t nq,
                             const vdb_search_opts *o, float radius, size_t cap,
                             vdb_range_result *res)
{
	const uint64_t *allow;
	uint64_t *owned;
	vdb_status st = allowed_rows(ix, o, &allow, &owned);
	if (st)
		return st;
	const size_t d = ix->dim;
	size_t tile = ((size_t)1 << 18) / d;
	tile = tile < 256 ? 256 : tile;
	float *q = vdb_malloc((nq ? nq : 1) * d * sizeof *q, "range queries");
	double *qn = vdb_malloc((nq ? nq : 1) * sizeof *qn, "range queries");
	float *x = vdb_malloc(tile * d * sizeof *x, "rows");
	double *xn = vdb_malloc(tile * sizeof *xn, "rows");
	int64_t *rows = vdb_malloc(tile * sizeof *rows, "rows");
	scan_hits *h = calloc(nq ? nq : 1, sizeof *h);
	st = q && qn && x && xn && rows && h ? VDB_OK : vdb_fail(VDB_ENOMEM, "out of memory for "
	                                                         "%zu range queries", nq);
	for (size_t i = 0; i < nq && !st; i++) {
		memcpy(q + i * d, queries + i * d, d * sizeof *q);
		if (ix->metric == VDB_METRIC_COSINE) /* as exact k-NN search does */
			vdb_normalize(q + i * d, d);
		double a = 0;
		for (size_t j = 0; j < d; j++)
			a += (double)q[i * d + j] * q[i * d + j];
		qn[i] = a;
	}
	for (size_t next = 0; !st && next < ix->count;) {
		size_t m = 0;
		for (; next < ix->count && m < tile; next++)
			if (!allow || vdb_rowset_has(allow, next))
				rows[m++] = (int64_t)next;
		if (m == 0)
			break;
		ix->ops->rows(ix, rows, m, x);
		for (size_t j = 0; j < m; j++) {
			double a = 0;
			for (size_t t = 0; t < d; t++)
				a += (double)x[j * d + t] * x[j * d + t];
			xn[j] = a;
		}
		#pragma omp parallel for schedule(dynamic, 4) num_threads(vdb_threads()) if (nq > 1)
		for (size_t i = 0; i < nq; i++)
			scan_tile(ix, q + i * d, qn[i], x, xn, rows, m, radius, &h[i]);
	}
	for (size_t i = 0; i < nq && !st; i++)
		if (h[i].failed)
			st = vdb_fail(VDB_ENOMEM, "out of memory for range results");
	range_query *rq = st ? NULL : calloc(nq ? nq : 1, sizeof *rq);
	if (!st && !rq)
		st = vdb_fail(VDB_ENOMEM, "out of memory for range results");
	for (size_t i = 0; i < nq && !st; i++) {
		if (h[i].n > 1)
			qsort(h[i].h, h[i].n, sizeof *h[i].h, hit_cmp);
		rq[i].n = h[i].n < cap ? h[i].n : cap;
		rq[i].truncated = h[i].n > cap;
		rq[i].ids = vdb_malloc((rq[i].n ? rq[i].n : 1) * sizeof *rq[i].ids, "range results");
		rq[i].dist = vdb_malloc((rq[i].n ? rq[i].n : 1) * sizeof *rq[i].dist, "range results");
		if (!rq[i].ids || !rq[i].dist)
			st = VDB_ENOMEM;
		for (size_t j = 0; !st && j < rq[i].n; j++)
			rq[i].ids[j] = h[i].h[j].row, rq[i].dist[j] = h[i].h[j].dist;
	}
	if (!st)
		st = gather(rq, nq, res);
	for (size_t i = 0; rq && i < nq; i++)
		free(rq[i].ids), free(rq[i].dist);
	for (size_t i = 0; h && i < nq; i++)
		free(h[i].h);
	free(rq), free(h), free(q), free(qn), free(x), free(xn), free(rows), free(owned);
	if (st)
		vdb_range_result_free(res);
	return st;
}

vdb_status vdb_index_search_range(const vdb_index *ix, const float *queries, size_t nq,
                                  const vdb_search_opts *o, float radius, size_t cap,
                                  vdb_range_result *res)
{
	/* exact types with float rows scan once; the others widen their search */
	if (ix->ops->range_scan && ix->ops->rows && ix->metric != VDB_METRIC_HAMMING) {
		memset(res, 0, sizeof *res);
		vdb_status st = check_args(radius, &cap);
		return st ? st : range_scan(ix, queries, nq, o, radius, cap, res);
	}
	return range_rounds(ix, queries, nq, o, radius, cap, res, ix->ops->range_confirm);
}

vdb_status vdb_index_search_range_exact(const vdb_index *ix, const float *queries, size_t nq,
                                        float radius, size_t cap, vdb_range_result *res)
{
	memset(res, 0, sizeof *res);
	VDB_RETURN_IF(!ix->ops->rows || ix->metric == VDB_METRIC_HAMMING, VDB_EUNSUPPORTED,
	              "exact range search over %s %s indexes is not supported yet (build a flat "
	              "index of the data)", ix->ops->name, vdb_metric_name(ix->metric));
	vdb_search_opts o;
	vdb_search_opts_init(&o);
	vdb_status st = check_args(radius, &cap);
	return st ? st : range_scan(ix, queries, nq, &o, radius, cap, res);
}

/* ===== Sets of indexes (shards) ===== */
vdb_status vdb_index_search_range_set(const vdb_index *const *ix, size_t n,
                                      const float *queries, size_t nq,
                                      const vdb_search_opts *o, float radius, size_t cap,
                                      vdb_range_result *res)
{
	if (n == 1)
		return vdb_index_search_range(ix[0], queries, nq, o, radius, cap, res);
	memset(res, 0, sizeof *res);
	vdb_status st = check_args(radius, &cap);
	if (st)
		return st;
	vdb_range_result *part = calloc(n, sizeof *part);
	range_query *rq = calloc(nq ? nq : 1, sizeof *rq);
	vdb_cand *c = NULL;
	size_t ccap = 0;
	st = part && rq ? VDB_OK : vdb_fail(VDB_ENOMEM, "out of memory for range results");
	for (size_t i = 0; i < n && !st; i++)
		st = vdb_index_search_range(ix[i], queries, nq, o, radius, cap, &part[i]);
	for (size_t q = 0; q < nq && !st; q++) {
		size_t m = 0;
		for (size_t i = 0; i < n; i++)
			m += part[i].lims[q + 1] - part[i].lims[q];
		if ((st = vdb_grow((void **)&c, &ccap, m, sizeof *c, "range results")))
			break;
		m = 0;
		for (size_t i = 0; i < n; i++) {
			rq[q].truncated |= part[i].truncated && part[i].lims[q + 1] - part[i].lims[q] == cap;
			for (size_t r = part[i].lims[q]; r < part[i].lims[q + 1]; r++) {
				size_t len = 0;
				const char *t = vdb_index_id_json(ix[i], part[i].ids[r], &len);
				vdb_cand_id(&c[m], t, len, part[i].ids[r]);
				c[m].dist = part[i].dist[r];
				c[m++].ref = VDB_SET_REF(i, part[i].ids[r]);
			}
		}
		rq[q].n = m ? vdb_cand_best(c, m, cap) : 0;
		rq[q].truncated |= m > cap;
		rq[q].ids = vdb_malloc((rq[q].n ? rq[q].n : 1) * sizeof *rq[q].ids, "range results");
		rq[q].dist = vdb_malloc((rq[q].n ? rq[q].n : 1) * sizeof *rq[q].dist, "range results");
		if (!rq[q].ids || !rq[q].dist) {
			st = VDB_ENOMEM;
			break;
		}
		for (size_t r = 0; r < rq[q].n; r++)
			rq[q].ids[r] = c[r].ref, rq[q].dist[r] = c[r].dist;
	}
	if (!st)
		st = gather(rq, nq, res);
	for (size_t i = 0; part && i < n; i++)
		vdb_range_result_free(&part[i]);
	for (size_t q = 0; rq && q < nq; q++)
		free(rq[q].ids), free(rq[q].dist);
	free(part), free(rq), free(c);
	if (st)
		vdb_range_result_free(res);
	return st;
}
