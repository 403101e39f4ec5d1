/*
 * mmr.c — paging (--offset) and diversity (--mmr) over a search's ranking.
 *
 * Both are post-processing of a deeper search of the same set of indexes
 * (vdb_index_search_set with k + offset, or with fetch_k candidates for
 * MMR; vdb_index_search_text_set with k + offset for BM25 queries), so
 * they work for every index type, with filters, deletions and shards
 * alike, and the search loops are untouched.
 *
 * Maximal marginal relevance follows LangChain's maximal_marginal_relevance
 * (langchain_community.vectorstores.utils): the first pick is the candidate
 * most similar to the query; then, with S the picks so far, the next is
 *     argmax over c not in S of  lambda * sim(q, c) - (1 - lambda) * max_{s in S} sim(c, s)
 * with sim the cosine similarity of the vectors, 0 where a vector is all
 * zeros (LangChain maps NaN to 0). Ties go to the earlier candidate, i.e.
 * the one the search ranked first (LangChain's strict '>'). Cosine whatever
 * the index's metric: that is LangChain's choice over any store (a FAISS L2
 * index included), and it keeps both terms on one bounded scale, [-1, 1],
 * so that lambda weighs them alike on every index. On l2 and ip indexes
 * lambda 1 therefore orders the fetched candidates by cosine, which is the
 * index's own order only for vectors of one norm. Hamming indexes hold no
 * float vectors: refused.
 *
 * Memory: one workspace per thread (fetch x dim floats and fetch doubles);
 * nothing per query. Threads: queries in parallel (vdb_for_queries); the
 * stored vectors are read with vdb_index_row_vector, which is read-only.
 */
#include "index_internal.h"
#include "results_internal.h"
#include <math.h>
#include <omp.h>
#include <string.h>

size_t vdb_mmr_fetch_k(size_t k)
{
	size_t f = k > VDB_MAX_K / 4 ? VDB_MAX_K : 4 * k;
	return f < VDB_MMR_MIN_FETCH ? VDB_MMR_MIN_FETCH : f;
}

/* ===== The selection ===== */
typedef struct {
	float *vec;      /* the candidates' vectors, n x dim */
	double *rel;     /* sim(q, c) */
	double *red;     /* max over the picks of sim(c, s); -inf before any */
	double *norm;    /* |c| */
	unsigned char *taken;
	size_t cap;
} mmr_ws;

static void ws_free(mmr_ws *w)
{
	if (!w)
		return;
	free(w->vec), free(w->rel), free(w->red), free(w->norm), free(w->taken);
	free(w);
}

static mmr_ws *ws_new(size_t n, uint32_t dim)
{
	mmr_ws *w = calloc(1, sizeof *w);
	size_t m = n ? n : 1;
	if (!w)
		return NULL;
	w->vec = malloc(m * dim * sizeof *w->vec);
	w->rel = malloc(m * sizeof *w->rel);
	w->red = malloc(m * sizeof *w->red);
	w->norm = malloc(m * sizeof *w->norm);
	w->taken = malloc(m);
	w->cap = n;
	if (!w->vec || !w->rel || !w->red || !w->norm || !w->taken) {
		ws_free(w);
		return NULL;
	}
	return w;
}

static double dot(const float *a, const float *b, uint32_t d)
{
	double s = 0;
	for (uint32_t i = 0; i < d; i++)
		s += (double)a[i] * b[i];
	return s;
}

static double cosine(double ab, double na, double nb)
{
	return na > 0 && nb > 0 ? ab / (na * nb) : 0;
}

/* Select into pick (see vdb_mmr_select) with w's room; *bad: the
 * candidate whose vector could not be read (the status is returned). */
static vdb_status select_in(mmr_ws *w, const vdb_index *const *ix, size_t nix, const float *q,
                            const int64_t *cand, size_t n, double lambda, size_t want,
                            size_t *pick, size_t *m, size_t *bad)
{
	uint32_t d = ix[0]->dim;
	double nq = sqrt(dot(q, q, d));
	*m = 0;
	for (size_t c = 0; c < n; c++) {
		int64_t row;
		const vdb_index *o = vdb_set_owner(ix, nix, cand[c], &row);
		vdb_status s = vdb_index_row_vector(o, row, w->vec + c * d);
		if (s) {
			*bad = c;
			return s;
		}
		w->norm[c] = sqrt(dot(w->vec + c * d, w->vec + c * d, d));
		w->rel[c] = cosine(dot(q, w->vec + c * d, d), nq, w->norm[c]);
		w->red[c] = -INFINITY;
		w->taken[c] = 0;
	}
	want = want < n ? want : n;
	for (size_t p = 0; p < want; p++) {
		size_t best = n;
		double top = -INFINITY;
		for (size_t c = 0; c < n; c++) {
			if (w->taken[c])
				continue;
			/* the first pick: the most similar to the query */
			double score = p == 0 ? w->rel[c]
			                      : lambda * w->rel[c] - (1 - lambda) * w->red[c];
			if (best == n || score > top)
				best = c, top = score;
		}
		w->taken[best] = 1;
		pick[(*m)++] = best;
		const float *b = w->vec + best * d;
		for (size_t c = 0; c < n; c++)
			if (!w->taken[c]) {
				double s = cosine(dot(w->vec + c * d, b, d), w->norm[c], w->norm[best]);
				if (s > w->red[c])
					w->red[c] = s;
			}
	}
	return VDB_OK;
}

static vdb_status check_args(const vdb_index *const *ix, size_t nix, double lambda)
{
	VDB_RETURN_IF(!(lambda >= 0 && lambda <= 1), VDB_EINVAL,
	              "MMR lambda %g is outside 0..1", lambda);
	VDB_RETURN_IF(nix == 0, VDB_EINVAL, "MMR over no index");
	VDB_RETURN_IF(ix[0]->metric == VDB_METRIC_HAMMING, VDB_EUNSUPPORTED,
	              "MMR needs float vectors: hamming indexes hold bit codes");
	return VDB_OK;
}

vdb_status vdb_mmr_select(const vdb_index *const *ix, size_t nix, const float *q,
                          const int64_t *cand, size_t n, double lambda, size_t want,
                          size_t *pick, size_t *m)
{
	*m = 0;
	vdb_status s = check_args(ix, nix, lambda);
	if (s)
		return s;
	mmr_ws *w = ws_new(n, ix[0]->dim);
	if (!w)
		return vdb_fail(VDB_ENOMEM, "out of memory for %zu MMR candidates", n);
	size_t bad;
	s = select_in(w, ix, nix, q, cand, n, lambda, want, pick, m, &bad);
	ws_free(w);
	return s;
}

/* ===== Paging a deeper search ===== */
typedef struct {
	const vdb_index *const *ix;
	size_t nix;
	const float *q;
	const vdb_search_opts *o;
	size_t fetch, want;
	const int64_t *cid;
	const float *cdist;
	int64_t *ids;
	float *dist;
	int failed;          /* a vector could not be read: query failed_q */
	size_t failed_q;
	omp_lock_t lock;     /* guards failed, failed_q (a named critical would be a global) */
} page_job;

typedef struct {
	mmr_ws *mmr;
	size_t *pick;
} page_ws;

static void *page_make(void *ctx)
{
	const page_job *j = ctx;
	page_ws *w = calloc(1, sizeof *w);
	if (!w)
		return NULL;
	w->pick = malloc(j->fetch * sizeof *w->pick);
	w->mmr = j->o->mmr ? ws_new(j->fetch, j->ix[0]->dim) : NULL;
	if (!w->pick || (j->o->mmr && !w->mmr)) {
		free(w->pick), ws_free(w->mmr), free(w);
		return NULL;
	}
	return w;
}

static void page_drop(void *p)
{
	page_ws *w = p;
	free(w->pick), ws_free(w->mmr), free(w);
}

static void page_one(void *ctx, void *p, size_t i)
{
	page_job *j = ctx;
	page_ws *w = p;
	const int64_t *cid = j->cid + i * j->fetch;
	const float *cdist = j->cdist + i * j->fetch;
	size_t n = 0, m, k = j->o->k, bad;
	while (n < j->fetch && cid[n] >= 0)
		n++;
	if (j->o->mmr) {
		if (select_in(w->mmr, j->ix, j->nix, j->q + i * j->ix[0]->dim, cid, n, j->o->mmr_lambda,
		              j->want, w->pick, &m, &bad)) {
			omp_set_lock(&j->lock);
			if (!j->failed || i < j->failed_q)
				j->failed = 1, j->failed_q = i;
			omp_unset_lock(&j->lock);
			m = 0;
		}
	} else {
		m = n < j->want ? n : j->want;
		for (size_t r = 0; r < m; r++)
			w->pick[r] = r;
	}
	for (size_t r = 0; r < k; r++) {
		size_t at = j->o->offset + r;
		j->ids[i * k + r] = at < m ? cid[w->pick[at]] : -1;
		j->dist[i * k + r] = at < m ? cdist[w->pick[at]] : INFINITY;
	}
}

static vdb_status check_page(const vdb_search_opts *o)
{
	VDB_RETURN_IF(o->k == 0 || o->k > VDB_MAX_K || o->offset > VDB_MAX_K - o->k, VDB_EINVAL,
	              "k %zu + offset %zu is over %u (VDB_MAX_K)", o->k, o->offset, VDB_MAX_K);
	return VDB_OK;
}

vdb_status vdb_search_text_page(const vdb_index *const *ix, size_t n,
                                const char *const *texts, const size_t *lens, size_t nq,
                                const vdb_search_opts *o, int64_t *ids, float *scores)
{
	vdb_status s = check_page(o);
	if (s)
		return s;
	VDB_RETURN_IF(o->mmr, VDB_EUNSUPPORTED, "MMR of text queries: they have no vectors");
	size_t k = o->k, want = k + o->offset, all;
	VDB_RETURN_IF(!vdb_mul_ok(nq, want, &all), VDB_ENOMEM,
	              "too many results: %zu queries x %zu", nq, want);
	int64_t *cid = vdb_malloc((all ? all : 1) * sizeof *cid, "results");
	float *csc = vdb_malloc((all ? all : 1) * sizeof *csc, "results");
	vdb_search_opts deep = *o;
	deep.k = want, deep.offset = 0;
	s = cid && csc ? VDB_OK : VDB_ENOMEM;
	if (!s)
		s = vdb_index_search_text_set(ix, n, texts, lens, nq, &deep, cid, csc);
	for (size_t q = 0; !s && q < nq; q++)
		for (size_t r = 0; r < k; r++) {
			size_t at = q * want + o->offset + r;
			ids[q * k + r] = cid[at];
			scores[q * k + r] = csc[at];
		}
	free(cid);
	free(csc);
	return s;
}

vdb_status vdb_search_page(const vdb_index *const *ix, size_t n, const float *queries,
                           size_t nq, const vdb_search_opts *o, int64_t *ids, float *dist)
{
	vdb_status s = check_page(o);
	if (s)
		return s;
	size_t k = o->k, want = k + o->offset, fetch = want;
	if (o->mmr) {
		if ((s = check_args(ix, n, o->mmr_lambda)))
			return s;
		VDB_RETURN_IF(o->fetch_k && (o->fetch_k < k || o->fetch_k > VDB_MAX_K), VDB_EINVAL,
		              "MMR fetch_k %zu is outside k..%u (k %zu)", o->fetch_k, VDB_MAX_K, k);
		fetch = o->fetch_k ? o->fetch_k : vdb_mmr_fetch_k(want);
		fetch = fetch < want ? want : fetch; /* the picks paged past come from it too */
	}
	size_t all;
	VDB_RETURN_IF(!vdb_mul_ok(nq, fetch, &all), VDB_ENOMEM,
	              "too many candidates: %zu queries x %zu", nq, fetch);
	int64_t *cid = vdb_malloc((all ? all : 1) * sizeof *cid, "candidates");
	float *cdist = vdb_malloc((all ? all : 1) * sizeof *cdist, "candidates");
	vdb_search_opts deep = *o;
	deep.k = fetch, deep.offset = 0, deep.mmr = 0;
	s = cid && cdist ? VDB_OK : VDB_ENOMEM;
	if (!s)
		s = vdb_index_search_set(ix, n, queries, nq, &deep, cid, cdist);
	page_job j = { .ix = ix, .nix = n, .q = queries, .o = o, .fetch = fetch, .want = want,
	               .cid = cid, .cdist = cdist, .ids = ids, .dist = dist };
	omp_init_lock(&j.lock);
	if (!s && nq && vdb_for_queries(nq, &j, page_make, page_drop, page_one))
		s = vdb_fail(VDB_ENOMEM, "out of memory for %zu candidates a query", fetch);
	omp_destroy_lock(&j.lock);
	if (!s && j.failed) {
		/* again on this thread, for the message of the vector that failed */
		size_t *pick = vdb_malloc(fetch * sizeof *pick, "candidates"), m = 0, c = 0;
		const int64_t *qc = cid + j.failed_q * fetch;
		while (c < fetch && qc[c] >= 0)
			c++;
		s = pick ? vdb_mmr_select(ix, n, queries + j.failed_q * ix[0]->dim, qc, c,
		                          o->mmr_lambda, want, pick, &m) : VDB_ENOMEM;
		if (!s)
			s = vdb_fail(VDB_EINTERNAL, "query %zu: MMR failed", j.failed_q);
		free(pick);
	}
	free(cid);
	free(cdist);
	return s;
}
