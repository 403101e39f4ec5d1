/*
 * lex_search.c — BM25 top-k over the lexical index of one index or of a
 * set of shards (whose statistics are summed, so that they rank as one;
 * each shard's k best are merged by score, ties to the smaller id, as the
 * results of shards searched apart merge).
 *
 * Scores are SQLite FTS5's bm25() with the sign turned: for each query term
 * t (a term given twice counts twice, as FTS5 sums each phrase) in row d,
 * idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(d) / avglen)). The
 * top k come from MaxScore (Turtle and Flood 1995) with block-max bounds
 * (Ding and Suel 2011): terms sorted by their largest possible score; once
 * the k-th best score reaches the sum of the smallest bounds, those terms
 * can no longer make a row enter alone, so only the rows of the others are
 * candidates, and a candidate looks into a non-essential term's list only
 * while its score plus the bounds of the terms left (the block's bound for
 * the term at hand, found without decoding the block) can still beat the
 * k-th. Bounds come from each list's and block's largest tf and smallest
 * row length: BM25 rises with tf and falls with the length for every k1 and
 * b, so they hold for any the query gives. A row's score is summed in query
 * order whatever the path, so that equal scores are equal and ties go to
 * the smaller row. Rows are visited ascending, so a row that only ties the
 * k-th best never enters.
 *
 * Each thread keeps a workspace (analyzer, cursors, blocks, heap): nothing
 * is allocated per query once it has grown to the longest query.
 */
#include "index_internal.h"
#include "lex_analyze.h"
#include "lexical.h"
#include "results_internal.h"
#include "topk.h"
#include "utf8.h"
#include <math.h>
#include <string.h>

/* Bounds are raised by this much: a row's score and a sum of bounds are
 * summed in different orders, and may round differently. */
#define BOUND_SLACK (1 + 1e-9)

typedef struct {
	const vdb_index *const *ix;
	size_t n;
	const vdb_index *const *sx; /* whose statistics: ix, or o->stats */
	size_t sn;
	const char *const *texts;
	const size_t *lens;
	size_t k;
	double k1, b, N, avg;
	uint64_t **allow; /* per index: the rows that may be returned; NULL: all */
	int64_t *ids;
	float *scores;
	unsigned char *over; /* per query: more than VDB_MAX_QUERY_TERMS terms */
	int nomem;
} search_ctx;

/* A distinct term of a query. */
typedef struct {
	uint32_t off, len; /* in the workspace's arena */
	uint32_t qpos;     /* its first place in the query */
	uint32_t weight;   /* how often the query names it */
	double idf;
} qterm;

/* A term's list in one index, as a search walks it. */
typedef struct {
	const vdb_lex_term *t;
	const vdb_lex_block *bl;       /* its blocks: in the file, or &one */
	vdb_lex_block one;
	uint32_t nb, blk, n, pos, row; /* row UINT32_MAX: past the end */
	int decoded;                   /* block blk is in rows/tfs */
	uint32_t *rows, *tfs;
	double wid, ub;                /* weight * idf; bound of the whole list */
	uint32_t qpos;
} cursor;

typedef struct {
	vdb_analyzer *a;
	char *arena;
	size_t alen, acap;
	qterm *q;
	uint32_t nq;
	cursor *c;
	uint32_t *blocks; /* 2 * VDB_LEX_BLOCK per cursor */
	double *prefix, *part;
	uint32_t *match;
	vdb_topk heap;
	vdb_cand *cand;   /* a set: each index's k best, merged by id */
	int over;
} workspace;

#define MAXQ VDB_MAX_QUERY_TERMS

static void drop(void *p)
{
	workspace *w = p;
	vdb_analyzer_free(w->a);
	free(w->arena), free(w->q), free(w->c), free(w->blocks), free(w->prefix), free(w->part);
	free(w->match), free(w->heap.dist), free(w->heap.id), free(w->cand);
	free(w);
}

static void *make(void *p)
{
	search_ctx *c = p;
	const vdb_lex *lx = c->ix[0]->lex;
	workspace *w = calloc(1, sizeof *w);
	if (!w)
		return NULL;
	w->q = malloc((MAXQ + 1) * sizeof *w->q);
	w->c = malloc(MAXQ * sizeof *w->c);
	w->blocks = malloc((size_t)MAXQ * 2 * VDB_LEX_BLOCK * sizeof *w->blocks);
	w->prefix = malloc(MAXQ * sizeof *w->prefix);
	w->part = malloc(MAXQ * sizeof *w->part);
	w->match = malloc(MAXQ * sizeof *w->match);
	w->heap.dist = malloc(c->k * sizeof *w->heap.dist);
	w->heap.id = malloc(c->k * sizeof *w->heap.id);
	w->heap.cap = (uint32_t)c->k;
	if (c->n > 1)
		w->cand = malloc(c->n * c->k * sizeof *w->cand);
	if ((c->n > 1 && !w->cand) || !w->q || !w->c || !w->blocks || !w->prefix || !w->part || !w->match || !w->heap.dist ||
	    !w->heap.id || vdb_analyzer_new(&w->a, lx->language, lx->stopwords, lx->stoplen)) {
		drop(w);
		return NULL;
	}
	for (uint32_t i = 0; i < MAXQ; i++)
		w->c[i].rows = w->blocks + (size_t)i * 2 * VDB_LEX_BLOCK,
		w->c[i].tfs = w->c[i].rows + VDB_LEX_BLOCK;
	return w;
}

/* vdb_term_fn: a query term into the workspace. */
static vdb_status add_term(void *p, const char *term, size_t len)
{
	workspace *w = p;
	if (w->nq == MAXQ) {
		w->over = 1;
		return VDB_EFORMAT;
	}
	if (vdb_grow((void **)&w->arena, &w->acap, w->alen + len, 1, "query terms"))
		return VDB_ENOMEM;
	memcpy(w->arena + w->alen, term, len);
	w->q[w->nq++] = (qterm){ (uint32_t)w->alen, (uint32_t)len, w->nq, 1, 0 };
	w->alen += len;
	return VDB_OK;
}

static int qterm_cmp(const char *arena, const qterm *x, const qterm *y)
{
	size_t m = x->len < y->len ? x->len : y->len;
	int c = memcmp(arena + x->off, arena + y->off, m);
	return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Sort the query's terms by their bytes (insertion sort: queries are
 * short, and a sort with a context would need qsort_r) and merge equal
 * ones into one with their count as weight. */
static void distinct_terms(workspace *w)
{
	qterm *q = w->q;
	for (uint32_t i = 1; i < w->nq; i++) {
		qterm x = q[i];
		uint32_t j = i;
		while (j > 0 && qterm_cmp(w->arena, &q[j - 1], &x) > 0) {
			q[j] = q[j - 1];
			j--;
		}
		q[j] = x;
	}
	uint32_t m = 0;
	for (uint32_t i = 0; i < w->nq; i++) {
		if (m && !qterm_cmp(w->arena, &q[m - 1], &q[i])) {
			q[m - 1].weight++;
			q[m - 1].qpos = q[i].qpos < q[m - 1].qpos ? q[i].qpos : q[m - 1].qpos;
		} else {
			q[m++] = q[i];
		}
	}
	w->nq = m;
}

/* BM25 of one posting, as FTS5 computes it. */
static inline double bm25(const search_ctx *c, double wid, uint32_t tf, uint32_t len)
{
	double f = (double)tf;
	return wid * (f * (c->k1 + 1.0)) / (f + c->k1 * (1 - c->b + c->b * (double)len / c->avg));
}

/* Decode from block cu->blk on to the first that holds a posting. */
static void load(const vdb_lex *lx, size_t count, cursor *cu)
{
	for (; cu->blk < cu->nb; cu->blk++) {
		cu->n = (uint32_t)vdb_lex_decode(lx, cu->t, cu->bl, cu->blk, count, cu->rows, cu->tfs);
		cu->pos = 0;
		if (cu->n) {
			cu->decoded = 1;
			cu->row = cu->rows[0];
			return;
		}
	}
	cu->decoded = 1;
	cu->row = UINT32_MAX;
}

static inline void next(const vdb_lex *lx, size_t count, cursor *cu)
{
	if (++cu->pos < cu->n) {
		cu->row = cu->rows[cu->pos];
		return;
	}
	cu->blk++;
	load(lx, count, cu);
}

/* Move to the block that may hold row d (its last row >= d) without
 * decoding it; 0 if the list ends before d. */
static int shallow(cursor *cu, uint32_t d)
{
	if (cu->decoded && cu->row >= d)
		return cu->row != UINT32_MAX;
	uint32_t b = cu->blk;
	while (b < cu->nb && cu->bl[b].last_row < d)
		b++;
	if (b != cu->blk)
		cu->blk = b, cu->decoded = 0;
	if (b == cu->nb) {
		cu->decoded = 1, cu->row = UINT32_MAX;
		return 0;
	}
	return 1;
}

/* To the first posting of row >= d. */
static void seek(const vdb_lex *lx, size_t count, cursor *cu, uint32_t d)
{
	if (!shallow(cu, d))
		return;
	if (!cu->decoded)
		load(lx, count, cu);
	while (cu->row < d)
		next(lx, count, cu);
}

static int by_bound(const void *a, const void *b)
{
	const cursor *x = a, *y = b;
	return (x->ub > y->ub) - (x->ub < y->ub);
}

/* The rows of index j into the heap. */
static void search_index(const search_ctx *c, workspace *w, size_t j)
{
	const vdb_index *ix = c->ix[j];
	const vdb_lex *lx = ix->lex;
	const uint64_t *allow = c->allow[j];
	size_t count = ix->count;
	cursor *cu = w->c;
	uint32_t m = 0;
	for (uint32_t i = 0; i < w->nq; i++) {
		int64_t t = vdb_lex_find(lx, w->arena + w->q[i].off, w->q[i].len);
		cursor *x = &cu[m];
		if (t < 0 || !vdb_lex_blocks(lx, &lx->terms[t], &x->bl, &x->one))
			continue;
		m++;
		x->t = &lx->terms[t], x->nb = vdb_lex_nblocks(x->t), x->blk = 0;
		x->wid = w->q[i].weight * w->q[i].idf;
		x->ub = bm25(c, x->wid, x->t->max_tf, x->t->min_len) * BOUND_SLACK;
		x->qpos = w->q[i].qpos;
		load(lx, count, x);
	}
	/* cursors move with their buffers; a block made up moves too */
	qsort(cu, m, sizeof *cu, by_bound);
	for (uint32_t i = 0; i < m; i++)
		if (cu[i].nb == 1)
			cu[i].bl = &cu[i].one;
	for (uint32_t i = 0; i < m; i++)
		w->prefix[i] = (i ? w->prefix[i - 1] : 0) + cu[i].ub;
	vdb_topk *h = &w->heap;
	uint32_t ne = 0; /* cu[0, ne): non-essential */
	double theta = h->n == h->cap ? -h->dist[0] : -1;
	for (;;) {
		while (ne < m && w->prefix[ne] <= theta)
			ne++;
		uint32_t d = UINT32_MAX;
		for (uint32_t i = ne; i < m; i++)
			d = cu[i].row < d ? cu[i].row : d;
		if (d == UINT32_MAX)
			break;
		uint32_t nm = 0, len = lx->lens[d];
		int ok = !allow || vdb_rowset_has(allow, d);
		double score = 0;
		for (uint32_t i = ne; i < m; i++)
			if (cu[i].row == d) {
				if (ok) {
					w->part[nm] = bm25(c, cu[i].wid, cu[i].tfs[cu[i].pos], len);
					score += w->part[nm];
					w->match[nm++] = i;
				}
				next(lx, count, &cu[i]);
			}
		if (!ok)
			continue;
		for (uint32_t i = ne; i-- > 0;) {
			if (score + w->prefix[i] <= theta)
				goto next_row;
			if (!shallow(&cu[i], d))
				continue;
			const vdb_lex_block *b = &cu[i].bl[cu[i].blk];
			double bb = bm25(c, cu[i].wid, b->max_tf, b->min_len) * BOUND_SLACK;
			if (score + (i ? w->prefix[i - 1] : 0) + bb <= theta)
				continue;
			seek(lx, count, &cu[i], d);
			if (cu[i].row == d) {
				w->part[nm] = bm25(c, cu[i].wid, cu[i].tfs[cu[i].pos], len);
				score += w->part[nm];
				w->match[nm++] = i;
			}
		}
		/* in query order: the same sum whichever path found the terms */
		for (uint32_t a = 1; a < nm; a++)
			for (uint32_t b = a; b > 0 && cu[w->match[b - 1]].qpos > cu[w->match[b]].qpos; b--) {
				uint32_t t = w->match[b];
				double p = w->part[b];
				w->match[b] = w->match[b - 1], w->part[b] = w->part[b - 1];
				w->match[b - 1] = t, w->part[b - 1] = p;
			}
		score = 0;
		for (uint32_t a = 0; a < nm; a++)
			score += w->part[a];
		if (score > theta || h->n < h->cap) {
			topk_push(h, -score, d);
			if (h->n == h->cap)
				theta = -h->dist[0];
		}
	next_row:;
	}
}

static void one(void *p, void *ws, size_t qi)
{
	search_ctx *c = p;
	workspace *w = ws;
	w->nq = 0, w->alen = 0, w->over = 0, w->heap.n = 0;
	size_t k = c->k;
	int64_t *ids = c->ids + qi * k;
	float *sc = c->scores + qi * k;
	vdb_status s = vdb_analyze(w->a, c->texts[qi], c->lens[qi], add_term, w, NULL);
	if (s) {
		c->over[qi] = (unsigned char)(w->over ? 1 : 2);
		w->nq = 0;
	}
	distinct_terms(w);
	for (uint32_t i = 0; i < w->nq; i++) {
		double df = 0;
		for (size_t j = 0; j < c->sn; j++) {
			const vdb_lex *lx = c->sx[j]->lex;
			int64_t t = vdb_lex_find(lx, w->arena + w->q[i].off, w->q[i].len);
			df += t >= 0 ? lx->terms[t].df : 0;
		}
		double idf = log((c->N - df + 0.5) / (df + 0.5));
		w->q[i].idf = idf <= 0 ? 1e-6 : idf;
	}
	if (c->n == 1) {
		if (w->nq)
			search_index(c, w, 0);
		topk_sort(&w->heap);
		for (size_t r = 0; r < k; r++) {
			ids[r] = r < w->heap.n ? w->heap.id[r] : -1;
			sc[r] = r < w->heap.n ? (float)-w->heap.dist[r] : 0;
		}
		return;
	}
	/* a set: each index's k best, as a search of that index alone finds
	 * them, merged as vdb_index_search_set and --merge merge results: by
	 * score, ties to the smaller id */
	size_t m = 0;
	for (size_t j = 0; w->nq && j < c->n; j++) {
		w->heap.n = 0;
		search_index(c, w, j);
		topk_sort(&w->heap);
		for (uint32_t r = 0; r < w->heap.n; r++, m++) {
			size_t len = 0;
			int64_t row = w->heap.id[r];
			const char *t = vdb_index_id_json(c->ix[j], row, &len);
			vdb_cand_id(&w->cand[m], t, len, row);
			w->cand[m].dist = (float)w->heap.dist[r];
			w->cand[m].ref = VDB_SET_REF(j, row);
		}
	}
	size_t keep = vdb_cand_best(w->cand, m, k);
	for (size_t r = 0; r < k; r++) {
		ids[r] = r < keep ? w->cand[r].ref : -1;
		sc[r] = r < keep ? -w->cand[r].dist : 0;
	}
}

int vdb_index_has_lexical(const vdb_index *ix)
{
	return ix->lex != NULL;
}

static const char *ix_name(const vdb_index *ix)
{
	return ix->file ? ix->file->path : "the index";
}

/* A text query that cannot be run: VDB_EFORMAT naming it. */
static vdb_status check_text(const char *t, size_t len, size_t q)
{
	size_t bad = vdb_utf8_invalid((const unsigned char *)t, len), i = 0;
	VDB_RETURN_IF(bad < len, VDB_EFORMAT, "query %zu: invalid UTF-8 at byte %zu of its text", q,
	              bad);
	while (i < len && strchr(" \t\n\v\f\r", t[i]) && t[i])
		i++;
	VDB_RETURN_IF(i == len, VDB_EFORMAT, "query %zu: the text is empty", q);
	return VDB_OK;
}

/* Every index of a set has a lexical index of the same analysis as
 * first's. */
static vdb_status check_set(const vdb_index *const *ix, size_t n, const vdb_index *first)
{
	for (size_t j = 0; j < n; j++) {
		const vdb_lex *a = ix[j]->lex, *b = first->lex;
		VDB_RETURN_IF(!a, VDB_EUNSUPPORTED, "%s has no lexical index: text queries need one "
		              "(rebuild it with vdb-build --lexical)", ix_name(ix[j]));
		VDB_RETURN_IF(strcmp(a->language, b->language) || a->stoplen != b->stoplen ||
		              memcmp(a->stopwords, b->stopwords, a->stoplen) ||
		              !a->field != !b->field || (a->field && strcmp(a->field, b->field)),
		              VDB_EFORMAT, "%s and %s index their texts differently (language, stop "
		              "words or field): they cannot be searched as one set", ix_name(first),
		              ix_name(ix[j]));
	}
	return VDB_OK;
}

vdb_status vdb_index_search_text_set(const vdb_index *const *ix, size_t n,
                                     const char *const *texts, const size_t *lens, size_t nq,
                                     const vdb_search_opts *o, int64_t *ids, float *scores)
{
	if (o->offset) /* a deeper search, paged (mmr.c) */
		return vdb_search_text_page(ix, n, texts, lens, nq, o, ids, scores);
	VDB_RETURN_IF(o->k == 0 || o->k > VDB_MAX_K, VDB_EINVAL, "k %zu is out of range (1..%u)",
	              o->k, VDB_MAX_K);
	VDB_RETURN_IF(!(o->k1 >= 0) || !isfinite(o->k1) || !(o->b >= 0 && o->b <= 1), VDB_EINVAL,
	              "BM25 parameters out of range: k1 %g (at least 0), b %g (0..1)", (double)o->k1,
	              (double)o->b);
	const vdb_index *const *sx = o->stats ? o->stats : ix;
	size_t sn = o->stats ? o->nstats : n;
	VDB_RETURN_IF(sn == 0, VDB_EINVAL, "BM25 statistics of no index");
	vdb_status s = check_set(sx, sn, sx[0]);
	if (!s)
		s = check_set(ix, n, sx[0]);
	for (size_t q = 0; !s && q < nq; q++)
		s = check_text(texts[q], lens[q], q);
	if (s)
		return s;
	vdb_analyzer *a;
	const vdb_lex *lx = ix[0]->lex;
	if ((s = vdb_analyzer_new(&a, lx->language, lx->stopwords, lx->stoplen)))
		return vdb_fail(VDB_ECORRUPT, "%s: the lexical index's language: %s", ix_name(ix[0]),
		                vdb_last_error());
	vdb_analyzer_free(a);
	search_ctx c = { ix, n, sx, sn, texts, lens, o->k, o->k1, o->b, 0, 0, NULL, ids, scores,
		         NULL, 0 };
	double total = 0;
	for (size_t j = 0; j < sn; j++)
		c.N += (double)sx[j]->lex->rows, total += (double)sx[j]->lex->total;
	c.avg = c.N > 0 ? total / c.N : 1;
	c.allow = calloc(n, sizeof *c.allow);
	c.over = calloc(nq ? nq : 1, 1);
	s = c.allow && c.over ? VDB_OK : vdb_fail(VDB_ENOMEM, "out of memory");
	for (size_t j = 0; !s && j < n; j++) {
		size_t kept;
		if (o->filter)
			s = vdb_filter_rows(ix[j], o->filter, &c.allow[j], &kept);
		else if (ix[j]->live && !(c.allow[j] = vdb_rowset_new(ix[j]->count, true, "rows")))
			s = VDB_ENOMEM;
		for (size_t w = 0; !s && ix[j]->live && w < vdb_rowset_words(ix[j]->count); w++)
			c.allow[j][w] &= ix[j]->live[w];
	}
	if (!s && vdb_for_queries(nq, &c, make, drop, one))
		s = vdb_fail(VDB_ENOMEM, "out of memory for the text queries' workspaces");
	for (size_t q = 0; !s && q < nq; q++)
		if (c.over[q])
			s = c.over[q] == 1 ? vdb_fail(VDB_EFORMAT, "query %zu: more than %u terms (the "
			                              "limit of one text query)", q, VDB_MAX_QUERY_TERMS)
			                   : vdb_fail(VDB_ENOMEM, "query %zu: out of memory", q);
	for (size_t j = 0; c.allow && j < n; j++)
		free(c.allow[j]);
	free(c.allow);
	free(c.over);
	return s;
}

vdb_status vdb_index_search_text(const vdb_index *ix, const char *const *texts,
                                 const size_t *lens, size_t nq, const vdb_search_opts *o,
                                 int64_t *ids, float *scores)
{
	return vdb_index_search_text_set(&ix, 1, texts, lens, nq, o, ids, scores);
}
