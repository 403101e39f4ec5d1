/*
 * query_batch.c — a batch of query records answered by their kinds.
 *
 * A record with a vector and no text is a vector query; a text and no
 * vector (the reader's novec rows), a BM25 query; both, a hybrid query
 * when the set has a lexical index (else the vector query it always was:
 * text beside a vector, as vdb-text embed writes it, stays a vector query
 * on indexes built without --lexical). The rows of each kind are gathered
 * and searched together, then the lines are written in input order. A
 * batch where some record has its own options (k, filter, ef, ...) is
 * searched a group of equal options at a time (query_batch_opts, below).
 */
#include "query.h"
#include <jansson.h>
#include <math.h>
#include <string.h>

enum { K_VECTOR, K_LEXICAL, K_HYBRID };

void query_bufs_free(query_bufs *b)
{
	free(b->kind), free(b->slot), free(b->vrows), free(b->hrows), free(b->tbuf);
	free(b->ltext), free(b->htext), free(b->llen), free(b->hlen), free(b->toff);
	free(b->vids), free(b->lids), free(b->vdist), free(b->lscore), free(b->hits);
	memset(b, 0, sizeof *b);
}

static void *grow(void *p, size_t n, size_t es)
{
	void *q = realloc(p, (n ? n : 1) * es);
	if (!q)
		cmd_die(vdb_fail(VDB_ENOMEM, "out of memory for a batch of queries"));
	return q;
}

static void room(query_bufs *b, size_t n, size_t k, size_t width, size_t rowbytes)
{
	if (n * width > b->hcap) {
		b->hits = grow(b->hits, n * width, sizeof *b->hits);
		b->hcap = n * width;
	}
	if (n > b->rows) {
		b->kind = grow(b->kind, n, 1);
		b->slot = grow(b->slot, n, sizeof *b->slot);
		b->ltext = grow(b->ltext, n, sizeof *b->ltext);
		b->htext = grow(b->htext, n, sizeof *b->htext);
		b->llen = grow(b->llen, n, sizeof *b->llen);
		b->hlen = grow(b->hlen, n, sizeof *b->hlen);
		b->toff = grow(b->toff, n, sizeof *b->toff);
		b->rows = n;
	}
	if (n * rowbytes > b->vcap) {
		b->vrows = grow(b->vrows, n, rowbytes);
		b->hrows = grow(b->hrows, n, rowbytes);
		b->vcap = n * rowbytes;
	}
	if (n * k > b->results) {
		b->vids = grow(b->vids, n * k, sizeof *b->vids);
		b->lids = grow(b->lids, n * k, sizeof *b->lids);
		b->vdist = grow(b->vdist, n * k, sizeof *b->vdist);
		b->lscore = grow(b->lscore, n * k, sizeof *b->lscore);
		b->results = n * k;
	}
}

/* Row i's text, decoded from its JSON text into b->tbuf at *used. */
static void take_text(query_bufs *b, const vdb_vecs *q, size_t i, size_t *used, size_t *len)
{
	size_t jl;
	const char *j = vdb_vecs_col_json(q, VDB_COL_TEXT, i, &jl);
	json_t *t = json_loadb(j, jl, JSON_DECODE_ANY, NULL);
	if (!json_is_string(t))
		cmd_die(vdb_fail(VDB_EINTERNAL, "a query's text does not decode"));
	*len = json_string_length(t);
	if (*used + *len + 1 > b->tcap) {
		b->tcap = 2 * (*used + *len + 1);
		b->tbuf = grow(b->tbuf, b->tcap, 1);
	}
	memcpy(b->tbuf + *used, json_string_value(t), *len + 1);
	json_decref(t);
	b->toff[i] = *used;
	*used += *len + 1;
}

/* The first index of the set without a lexical index. */
static const char *without_lexical(const query_ctx *c)
{
	for (size_t i = 0; i < c->nix; i++)
		if (!vdb_index_has_lexical(c->ix[i]))
			return c->names[i];
	return c->names[0];
}

/* A failed BM25 search of nt texts: find the query it failed on, to name
 * its record (the library names its place in the call). */
static void text_failed(const query_ctx *c, query_bufs *b, const char *const *texts,
                        const size_t *lens, size_t nt, const size_t *rows, const char *input,
                        size_t first, vdb_status s)
{
	if (s == VDB_EFORMAT) {
		vdb_search_opts one = c->so;
		one.k = 1;
		for (size_t t = 0; t < nt; t++) {
			vdb_status e = vdb_index_search_text_set(c->ix, c->nix, texts + t, lens + t, 1, &one,
			                                         b->lids, b->lscore);
			if (e) {
				/* the library's "query 0: " is this record */
				char msg[1024];
				const char *m = vdb_last_error();
				snprintf(msg, sizeof msg, "%s", strncmp(m, "query 0: ", 9) ? m : m + 9);
				cmd_die(vdb_fail(e, "%s: record %zu: %s", input, first + rows[t], msg));
			}
		}
	}
	cmd_die(s);
}

/* Row i's kind: a vector query, a lexical one (a text, no vector) or a
 * hybrid one (both, on a set with a lexical index). Exits (64) for a text
 * query on a set without a lexical index, and for --mmr on a text query or
 * --offset/--mmr on a hybrid one. */
static unsigned char row_kind(const query_ctx *c, const vdb_vecs *q, size_t i,
                              const char *input, size_t first)
{
	int novec = q->novec && q->novec[i];
	size_t tl;
	const char *tj = vdb_vecs_col_json(q, VDB_COL_TEXT, i, &tl);
	int text = tj && !(tl == 4 && !memcmp(tj, "null", 4));
	if (novec && !c->lexical)
		cmd_usage_error("%s: record %zu is a text query (a \"text\" without a \"vector\"), "
		                "but %s has no lexical index: build it with vdb-build --lexical, "
		                "or give the query a vector", input, first + i, without_lexical(c));
	unsigned char kind = novec ? K_LEXICAL : text && c->lexical ? K_HYBRID : K_VECTOR;
	if ((kind == K_LEXICAL && c->so.mmr) || (kind == K_HYBRID && (c->so.offset || c->so.mmr)))
		cmd_usage_error("%s: record %zu is a %s query: %s", input, first + i,
		                kind == K_LEXICAL ? "text" : "hybrid",
		                kind == K_LEXICAL ? "--mmr needs query vectors"
		                : "--offset and --mmr do not apply to fused results");
	return kind;
}

static void query_batch_opts(const query_ctx *c, const vdb_vecs *q, const char *input,
                             size_t first, size_t *qno, query_bufs *b, cmd_span *search_s);

void query_batch(const query_ctx *c, const vdb_vecs *q, const char *input, size_t first,
                 size_t *qno, query_bufs *b, cmd_span *search_s)
{
	if (c->range) { /* --max-distance: query_range.c */
		query_range(c, q, input, first, qno, search_s);
		return;
	}
	if (q->nqopt) { /* some query has its own options */
		query_batch_opts(c, q, input, first, qno, b, search_s);
		return;
	}
	size_t n = q->n, k = c->so.k, rb = vdb_vecs_row_bytes(q);
	size_t width = vdb_fusion_width(&c->fo, k);
	room(b, n, k, width, rb);
	vdb_fusion_opts used_fusion = c->fo; /* as hybrid lines of every candidate state it */
	used_fusion.depth = vdb_fusion_depth(&c->fo, k);
	size_t nv = 0, nl = 0, nh = 0, used = 0;
	size_t *lrow = grow(NULL, n, sizeof *lrow); /* lexical slot -> row, for messages */
	/* a batch of vector queries only (no text query, no text or no lexical
	 * index) is searched where it was read */
	size_t tl;
	int vector_only = !q->novec && (!vdb_vecs_col_json(q, VDB_COL_TEXT, 0, &tl) || !c->lexical);
	for (size_t i = 0; i < n; i++) {
		b->kind[i] = row_kind(c, q, i, input, first);
		if (b->kind[i] == K_VECTOR) {
			if (!vector_only)
				memcpy(b->vrows + nv * rb, (const char *)q->data + i * rb, rb);
			b->slot[i] = nv++;
		} else if (b->kind[i] == K_LEXICAL) {
			take_text(b, q, i, &used, &b->llen[nl]);
			lrow[nl] = i;
			b->slot[i] = nl++;
		} else {
			memcpy(b->hrows + nh * rb, (const char *)q->data + i * rb, rb);
			take_text(b, q, i, &used, &b->hlen[nh]);
			b->slot[i] = nh++;
		}
	}
	/* the text buffer is final now: point at it */
	for (size_t i = 0; i < n; i++)
		if (b->kind[i] == K_LEXICAL)
			b->ltext[b->slot[i]] = b->tbuf + b->toff[i];
		else if (b->kind[i] == K_HYBRID)
			b->htext[b->slot[i]] = b->tbuf + b->toff[i];
	cmd_span t0 = cmd_span_now();
	vdb_status s;
	const void *vq = vector_only ? (const void *)q->data : b->vrows;
	if (nv && (s = vdb_index_search_set(c->ix, c->nix, vq, nv, &c->so, b->vids, b->vdist)))
		cmd_die(s);
	if (nl && (s = vdb_index_search_text_set(c->ix, c->nix, b->ltext, b->llen, nl, &c->so,
	                                         b->lids, b->lscore)))
		text_failed(c, b, b->ltext, b->llen, nl, lrow, input, first, s);
	if (nh && (s = vdb_index_search_hybrid(c->ix, c->nix, (const float *)b->hrows, b->htext,
	                                       b->hlen, nh, &c->so, &c->fo, b->hits))) {
		size_t *hrow = lrow;
		for (size_t i = 0, h = 0; i < n; i++)
			if (b->kind[i] == K_HYBRID)
				hrow[h++] = i;
		text_failed(c, b, b->htext, b->hlen, nh, hrow, input, first, s);
	}
	cmd_span_add(search_s, t0);
	free(lrow);
	for (size_t i = 0; i < n; i++) {
		vdb_result_line l = { .query_no = (*qno)++, .width = c->width };
		l.query_id = vdb_vecs_col_json(q, VDB_COL_ID, i, &l.query_id_len);
		size_t at = b->slot[i] * k;
		if (b->kind[i] == K_HYBRID) {
			l.kind = VDB_LINE_HYBRID;
			l.fusion = c->fo.candidates ? &used_fusion : NULL;
			s = vdb_write_hybrid(stdout, c->out, c->ix, c->nix, &l, b->hits + b->slot[i] * width,
			                     width, c->include);
		} else {
			l.kind = b->kind[i] == K_LEXICAL ? VDB_LINE_LEXICAL : VDB_LINE_VECTOR;
			s = vdb_write_result_line(stdout, c->out, c->ix, c->nix, &l,
			                          (l.kind ? b->lids : b->vids) + at,
			                          (l.kind ? b->lscore : b->vdist) + at, k, c->include);
		}
		if (s) {
			cmd_check_stdout(); /* a reader gone ends quietly */
			cmd_die(s);       /* else a stored text that would break the line */
		}
		if (b->kind[i] == K_HYBRID)
			query_metrics_results(NULL, 0, b->hits + b->slot[i] * width, width);
		else
			query_metrics_results((l.kind ? b->lids : b->vids) + at, k, NULL, 0);
	}
}

/* ===== Queries with their own options (vdb_vecs.qopt) =====
 * A batch where some record carries its own k, filter, ef, nprobe, probes
 * or exclude: its queries are grouped by their option sets (a record
 * without options is in the command line's), and each group is searched as
 * a batch of its own, its filter parsed once (groups are sorted by filter
 * text, so a filter is parsed once a run of groups). Excluded ids are
 * searched past: a group asks for k plus its queries' count of excluded ids
 * (at most the live records), and each query drops its own, so that it
 * still returns min(k, matching live records) on an exact index. The
 * batch is cut in ranges of at most OPT_RANGE_RESULTS results (a range
 * holds one query at least), written in input order. */
#define OPT_RANGE_RESULTS ((size_t)1 << 22)

typedef struct {
	vdb_query_opts o;
	size_t row;
	size_t k, kx; /* results written; searched (k and the excluded ids, capped) */
} qrow;

/* Order of option sets: filter text (none first), k, kx, the search settings. */
static int cmp_opts(const qrow *x, const qrow *y)
{
	int c = (x->o.filter != NULL) - (y->o.filter != NULL);
	if (!c && x->o.filter)
		c = strcmp(x->o.filter, y->o.filter);
#define CMP(f) if (!c) c = (x->f > y->f) - (x->f < y->f)
	CMP(k); CMP(kx);
	for (size_t i = 0; i < VDB_MAX_KNOBS; i++)
		CMP(o.knob[i]);
#undef CMP
	return c;
}

static int cmp_qrow(const void *a, const void *b)
{
	const qrow *x = a, *y = b;
	int c = cmp_opts(x, y);
	return c ? c : (x->row > y->row) - (x->row < y->row);
}

/* Is result ref (a row, or VDB_SET_REF for sets) one of o's excluded ids?
 * An index without stored ids names its rows by their numbers. */
static int excluded(const query_ctx *c, int64_t ref, const vdb_query_opts *o)
{
	if (ref < 0 || !o->nexclude)
		return 0;
	int64_t row = c->nix > 1 ? ref & 0xffffffff : ref;
	size_t len = 0;
	const char *t = vdb_index_id_json(c->ix[c->nix > 1 ? ref >> 32 : 0], row, &len);
	char num[24];
	if (!t)
		len = (size_t)snprintf(num, sizeof num, "%lld", (long long)row), t = num;
	for (size_t e = 0; e < o->nexclude; e++)
		if (strlen(o->exclude[e]) == len && !memcmp(o->exclude[e], t, len))
			return 1;
	return 0;
}

/* One query's kx results (ids, vals) less its excluded ids, its first k
 * into out (ids -1 and vals INFINITY past the end). */
static void keep_results(const query_ctx *c, const qrow *r, const int64_t *ids,
                         const float *vals, int64_t *oid, float *oval)
{
	size_t m = 0;
	for (size_t j = 0; j < r->kx && m < r->k; j++)
		if (!excluded(c, ids[j], &r->o))
			oid[m] = ids[j], oval[m++] = vals[j];
	for (; m < r->k; m++)
		oid[m] = -1, oval[m] = INFINITY;
}

/* The same for hybrid hits: width of them in, ow out. */
static void keep_hits(const query_ctx *c, const qrow *r, const vdb_fused_hit *h, size_t width,
                      vdb_fused_hit *out, size_t ow)
{
	size_t m = 0;
	for (size_t j = 0; j < width && m < ow && h[j].id >= 0; j++)
		if (!excluded(c, h[j].id, &r->o))
			out[m++] = h[j];
	for (; m < ow; m++)
		out[m] = (vdb_fused_hit){ .id = -1 };
}

/* The results of one range's queries, where they go (by row of the batch:
 * b->slot). */
typedef struct {
	int64_t *ids;
	float *vals;
	vdb_fused_hit *hits;
} opt_out;

/* Search group g[0..ng) (one option set, rows in input order) with so and
 * put each query's kept results at its place in out. */
static void search_group(const query_ctx *c, const vdb_vecs *q, const qrow *g, size_t ng,
                         const vdb_search_opts *so, const char *input, size_t first,
                         query_bufs *b, opt_out *out, cmd_span *search_s)
{
	size_t rb = vdb_vecs_row_bytes(q), kx = so->k, width = vdb_fusion_width(&c->fo, kx);
	size_t nv = 0, nl = 0, nh = 0, used = 0;
	size_t *vrow = grow(NULL, 3 * ng, sizeof *vrow), *lrow = vrow + ng, *hrow = lrow + ng;
	for (size_t j = 0; j < ng; j++) {
		size_t i = g[j].row;
		if (b->kind[i] == K_VECTOR) {
			memcpy(b->vrows + nv * rb, (const char *)q->data + i * rb, rb);
			vrow[nv++] = j;
		} else if (b->kind[i] == K_LEXICAL) {
			take_text(b, q, i, &used, &b->llen[nl]);
			lrow[nl++] = j;
		} else {
			memcpy(b->hrows + nh * rb, (const char *)q->data + i * rb, rb);
			take_text(b, q, i, &used, &b->hlen[nh]);
			hrow[nh++] = j;
		}
	}
	for (size_t t = 0; t < nl; t++)
		b->ltext[t] = b->tbuf + b->toff[g[lrow[t]].row];
	for (size_t t = 0; t < nh; t++)
		b->htext[t] = b->tbuf + b->toff[g[hrow[t]].row];
	size_t most = nv > nl ? nv : nl;
	int64_t *ids = grow(NULL, most * kx, sizeof *ids);
	float *vals = grow(NULL, most * kx, sizeof *vals);
	vdb_fused_hit *hits = grow(NULL, nh * width, sizeof *hits);
	/* rows of the batch, for messages about a text query */
	size_t *at = grow(NULL, nl > nh ? nl : nh, sizeof *at);
	cmd_span t0 = cmd_span_now();
	vdb_status s;
	if (nv && (s = vdb_index_search_set(c->ix, c->nix, (const float *)b->vrows, nv, so, ids,
	                                    vals)))
		cmd_die(s);
	for (size_t t = 0; t < nv; t++) {
		const qrow *r = &g[vrow[t]];
		keep_results(c, r, ids + t * kx, vals + t * kx, out->ids + b->slot[r->row],
		             out->vals + b->slot[r->row]);
	}
	if (nl && (s = vdb_index_search_text_set(c->ix, c->nix, b->ltext, b->llen, nl, so, ids,
	                                         vals))) {
		for (size_t t = 0; t < nl; t++)
			at[t] = g[lrow[t]].row;
		text_failed(c, b, b->ltext, b->llen, nl, at, input, first, s);
	}
	for (size_t t = 0; t < nl; t++) {
		const qrow *r = &g[lrow[t]];
		keep_results(c, r, ids + t * kx, vals + t * kx, out->ids + b->slot[r->row],
		             out->vals + b->slot[r->row]);
	}
	if (nh && (s = vdb_index_search_hybrid(c->ix, c->nix, (const float *)b->hrows, b->htext,
	                                       b->hlen, nh, so, &c->fo, hits))) {
		for (size_t t = 0; t < nh; t++)
			at[t] = g[hrow[t]].row;
		text_failed(c, b, b->htext, b->hlen, nh, at, input, first, s);
	}
	for (size_t t = 0; t < nh; t++) {
		const qrow *r = &g[hrow[t]];
		keep_hits(c, r, hits + t * width, width, out->hits + b->slot[r->row],
		          vdb_fusion_width(&c->fo, r->k));
	}
	cmd_span_add(search_s, t0);
	free(vrow), free(ids), free(vals), free(hits), free(at);
}

/* Answer rows r[0..n) (in input order) of q, numbered from *qno. */
static void answer_range(const query_ctx *c, const vdb_vecs *q, qrow *r, size_t n,
                         const char *input, size_t first, size_t *qno, query_bufs *b,
                         cmd_span *search_s)
{
	/* each query's place among the results, in input order */
	size_t nvals = 0, nhits = 0;
	for (size_t j = 0; j < n; j++) {
		size_t i = r[j].row;
		b->kind[i] = row_kind(c, q, i, input, first);
		if (b->kind[i] == K_HYBRID)
			b->slot[i] = nhits, nhits += vdb_fusion_width(&c->fo, r[j].k);
		else
			b->slot[i] = nvals, nvals += r[j].k;
	}
	opt_out out = { grow(NULL, nvals, sizeof *out.ids), grow(NULL, nvals, sizeof *out.vals),
	                grow(NULL, nhits, sizeof *out.hits) };
	qrow *g = grow(NULL, n, sizeof *g);
	memcpy(g, r, n * sizeof *g);
	qsort(g, n, sizeof *g, cmp_qrow);
	vdb_filter *filter = NULL;
	const char *parsed = NULL; /* filter's text */
	for (size_t lo = 0, hi; lo < n; lo = hi) {
		for (hi = lo + 1; hi < n && !cmp_opts(&g[lo], &g[hi]); hi++)
			;
		vdb_search_opts so = c->so;
		const vdb_query_opts *o = &g[lo].o;
		so.k = g[lo].kx;
		for (size_t i = 0; i < VDB_MAX_KNOBS; i++) /* the record's settings win */
			so.knob[i] = o->knob[i] ? o->knob[i] : so.knob[i];
		if (o->filter && (!parsed || strcmp(parsed, o->filter))) {
			vdb_filter_free(filter);
			vdb_status s = cmd_filter_parse(&filter, o->filter);
			if (s) /* checked when read */
				cmd_die(s);
			parsed = o->filter;
		}
		if (o->filter)
			so.filter = filter;
		search_group(c, q, g + lo, hi - lo, &so, input, first, b, &out, search_s);
	}
	vdb_filter_free(filter);
	free(g);
	for (size_t j = 0; j < n; j++) {
		size_t i = r[j].row;
		/* ivecs rows: the k the line asked for, else -k's */
		vdb_result_line l = { .query_no = (*qno)++, .width = r[j].o.k ? r[j].o.k : c->width };
		l.query_id = vdb_vecs_col_json(q, VDB_COL_ID, i, &l.query_id_len);
		vdb_status s;
		if (b->kind[i] == K_HYBRID) {
			vdb_fusion_opts used = c->fo;
			used.depth = vdb_fusion_depth(&c->fo, r[j].k);
			l.kind = VDB_LINE_HYBRID;
			l.fusion = c->fo.candidates ? &used : NULL;
			s = vdb_write_hybrid(stdout, c->out, c->ix, c->nix, &l, out.hits + b->slot[i],
			                     vdb_fusion_width(&c->fo, r[j].k), c->include);
		} else {
			l.kind = b->kind[i] == K_LEXICAL ? VDB_LINE_LEXICAL : VDB_LINE_VECTOR;
			s = vdb_write_result_line(stdout, c->out, c->ix, c->nix, &l, out.ids + b->slot[i],
			                          out.vals + b->slot[i], r[j].k, c->include);
		}
		if (s) {
			cmd_check_stdout();
			cmd_die(s);
		}
		if (b->kind[i] == K_HYBRID)
			query_metrics_results(NULL, 0, out.hits + b->slot[i],
			                      vdb_fusion_width(&c->fo, r[j].k));
		else
			query_metrics_results(out.ids + b->slot[i], r[j].k, NULL, 0);
	}
	free(out.ids), free(out.vals), free(out.hits);
}

static void query_batch_opts(const query_ctx *c, const vdb_vecs *q, const char *input,
                             size_t first, size_t *qno, query_bufs *b, cmd_span *search_s)
{
	size_t n = q->n, live = 0;
	for (size_t i = 0; i < c->nix; i++)
		live += vdb_index_live(c->ix[i]);
	room(b, n, 1, 1, vdb_vecs_row_bytes(q));
	qrow *r = grow(NULL, n, sizeof *r);
	for (size_t i = 0; i < n; i++) {
		vdb_status s = vdb_query_opts_get(q, i, &r[i].o);
		if (s)
			cmd_die(s);
		r[i].row = i;
		/* k beyond the live records asks for nothing more than all of them */
		size_t k = r[i].o.k ? r[i].o.k : c->so.k, cap = live ? live : 1;
		r[i].k = k < cap ? k : cap;
		r[i].kx = r[i].k + r[i].o.nexclude < cap ? r[i].k + r[i].o.nexclude : cap;
	}
	for (size_t lo = 0, hi; lo < n; lo = hi) {
		size_t results = r[lo].kx;
		for (hi = lo + 1; hi < n && results + r[hi].kx <= OPT_RANGE_RESULTS; hi++)
			results += r[hi].kx;
		answer_range(c, q, r + lo, hi - lo, input, first, qno, b, search_s);
	}
	for (size_t i = 0; i < n; i++)
		vdb_query_opts_done(&r[i].o);
	free(r);
}
