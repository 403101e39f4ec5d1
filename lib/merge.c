/*
 * merge.c — the gather of a scatter-gather search: the k best of several
 * shards' results, whether the shards are searched here (a set of indexes)
 * or elsewhere (their vdb-query JSONL files).
 *
 * Each shard returns its own exact top k, so the global top k is among
 * their union: merging is exact, never an approximation on top of the
 * search. Order is by the reported distance, then by id, so that the result
 * does not depend on the order the shards are given in. Ids are compared as
 * values (integers) or texts, since shards have no row numbers in common.
 *
 * Threads: the set search runs the shards one after another, each search
 * parallel over queries as a single index's is (measured: as fast as
 * running the shards side by side, without oversubscribing the cores),
 * then merges the queries in parallel.
 */
#include "index_internal.h"
#include "results_internal.h"
#include "fusion.h"
#include <errno.h>
#include <string.h>

/* ===== Candidates ===== */
void vdb_cand_id(vdb_cand *c, const char *json, size_t len, int64_t row)
{
	c->text = json, c->len = len;
	c->value = row;
	c->num = !json || vdb_id_integer(json, len, &c->value);
}

int vdb_cand_cmp(const void *pa, const void *pb)
{
	const vdb_cand *a = pa, *b = pb;
	if (a->dist != b->dist)
		return a->dist < b->dist ? -1 : 1;
	if (a->num != b->num)
		return a->num ? -1 : 1;
	if (a->num)
		return (a->value > b->value) - (a->value < b->value);
	size_t n = a->len < b->len ? a->len : b->len;
	int c = memcmp(a->text, b->text, n);
	return c ? c : (a->len > b->len) - (a->len < b->len);
}

size_t vdb_cand_best(vdb_cand *c, size_t n, size_t k)
{
	qsort(c, n, sizeof *c, vdb_cand_cmp);
	return n < k ? n : k;
}

/* ===== A set of indexes searched here ===== */
vdb_status vdb_index_search_set(const vdb_index *const *ix, size_t n, const float *queries,
                                size_t nq, const vdb_search_opts *o, int64_t *ids,
                                float *dist)
{
	if (o->offset || o->mmr) /* a deeper search, paged or diversified (mmr.c) */
		return vdb_search_page(ix, n, queries, nq, o, ids, dist);
	if (n == 1)
		return vdb_index_search(ix[0], queries, nq, o, ids, dist);
	size_t k = o->k, per, all;
	VDB_RETURN_IF(!vdb_mul_ok(nq, k, &per) || !vdb_mul_ok(per, n, &all), VDB_ENOMEM,
	              "too many results: %zu queries x %zu x %zu indexes", nq, k, n);
	int64_t *sid = vdb_malloc(all * sizeof *sid, "results");
	float *sdist = vdb_malloc(all * sizeof *sdist, "results");
	vdb_status s = sid && sdist ? VDB_OK : VDB_ENOMEM;
	for (size_t i = 0; i < n && !s; i++)
		s = vdb_index_search(ix[i], queries, nq, o, sid + i * per, sdist + i * per);
	int failed = 0;
	if (!s) {
		#pragma omp parallel if (nq > 1) /* a lone query merges on its own thread */
		{
			vdb_cand *c = malloc(n * k * sizeof *c);
			if (!c) {
				#pragma omp atomic write
				failed = 1;
			}
			#pragma omp for schedule(static)
			for (size_t q = 0; q < nq; q++) {
				if (!c)
					continue;
				size_t m = 0;
				for (size_t i = 0; i < n; i++)
					for (size_t r = 0; r < k; r++) {
						int64_t row = sid[i * per + q * k + r];
						if (row < 0)
							break;
						size_t len = 0;
						const char *t = vdb_index_id_json(ix[i], row, &len);
						vdb_cand_id(&c[m], t, len, row);
						c[m].dist = sdist[i * per + q * k + r];
						c[m++].ref = VDB_SET_REF(i, row);
					}
				size_t keep = vdb_cand_best(c, m, k);
				for (size_t r = 0; r < k; r++) {
					ids[q * k + r] = r < keep ? c[r].ref : -1;
					dist[q * k + r] = r < keep ? c[r].dist : 0;
				}
			}
			free(c);
		}
	}
	if (!s && failed)
		s = vdb_fail(VDB_ENOMEM, "out of memory merging results");
	free(sid);
	free(sdist);
	return s;
}

/* ===== Result files searched elsewhere ===== */
/* A result line's kind, by its fields: "lexical_ranks" (hybrid), "scores"
 * (lexical), else "distances" (vector). */
static const char *const kind_name[] = { "vector", "lexical", "hybrid" };

typedef struct {
	const char *name;
	FILE *f;
	char *line;
	size_t cap, lineno;
	json_t *obj;      /* this query's line */
	vdb_line_kind kind;
	char **texts;     /* its ids', metadata's and texts' JSON texts */
	size_t ntexts, tcap;
} result_file;

static vdb_status keep_text(result_file *r, json_t *v, const char **out, size_t *len)
{
	char *t = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!t || vdb_grow((void **)&r->texts, &r->tcap, r->ntexts + 1, sizeof *r->texts, "ids")) {
		free(t);
		return vdb_fail(VDB_ENOMEM, "out of memory");
	}
	r->texts[r->ntexts++] = t;
	*out = t;
	*len = strlen(t);
	return VDB_OK;
}

static void drop_line(result_file *r)
{
	for (size_t i = 0; i < r->ntexts; i++)
		free(r->texts[i]);
	r->ntexts = 0;
	json_decref(r->obj);
	r->obj = NULL;
}

/* The arrays of a line of kind k, beside "ids" and the extras. */
static const char *const hybrid_arrays[] = {
	"scores", "lexical_scores", "lexical_ranks", "vector_distances", "vector_ranks"
};

/* Does every entry of array a (of the line's length) have the type it
 * needs: a number, or for hybrid lists' columns a number or null (ranks:
 * an integer from 1 or null)? */
static int column_ok(json_t *a, size_t len, int nullable, int rank)
{
	if (!json_is_array(a) || json_array_size(a) != len)
		return 0;
	for (size_t i = 0; i < len; i++) {
		json_t *e = json_array_get(a, i);
		if (nullable && json_is_null(e))
			continue;
		if (rank ? !json_is_integer(e) || json_integer_value(e) < 1 ||
		           json_integer_value(e) > UINT32_MAX : !json_is_number(e))
			return 0;
	}
	return 1;
}

/* Read the next non-blank line as a result object; *eof at the end. */
static vdb_status next_result(result_file *r, int *eof)
{
	drop_line(r);
	ssize_t len;
	*eof = 0;
	while ((len = getline(&r->line, &r->cap, r->f)) > 0) {
		r->lineno++;
		if (strspn(r->line, " \t\r\n") == (size_t)len)
			continue;
		json_error_t err;
		r->obj = json_loadb(r->line, (size_t)len, 0, &err);
		VDB_RETURN_IF(!r->obj, VDB_EFORMAT, "%s: line %zu: malformed JSON: %s", r->name,
		              r->lineno, err.text);
		VDB_RETURN_IF(!json_is_integer(json_object_get(r->obj, "query")), VDB_EFORMAT,
		              "%s: line %zu: no integer \"query\" (not vdb-query output?)", r->name,
		              r->lineno);
		json_t *ids = json_object_get(r->obj, "ids");
		r->kind = json_object_get(r->obj, "lexical_ranks") ? VDB_LINE_HYBRID
		          : json_object_get(r->obj, "scores") ? VDB_LINE_LEXICAL : VDB_LINE_VECTOR;
		size_t n = json_array_size(ids);
		int ok = json_is_array(ids);
		if (r->kind == VDB_LINE_HYBRID)
			for (int c = 0; c < 5; c++)
				ok &= column_ok(json_object_get(r->obj, hybrid_arrays[c]), n, c > 0,
				                c == 2 || c == 4);
		else
			ok &= column_ok(json_object_get(r->obj, r->kind ? "scores" : "distances"), n, 0, 0);
		for (int e = 0; e < VDB_NEXTRA; e++) {
			json_t *m = json_object_get(r->obj, vdb_extra_name[e]);
			ok &= !m || (json_is_array(m) && json_array_size(m) == n);
		}
		VDB_RETURN_IF(!ok, VDB_EFORMAT, "%s: line %zu: \"ids\", \"%s\" (and \"metadata\", "
		              "\"text\") must be arrays of one length, of numbers%s", r->name,
		              r->lineno, r->kind == VDB_LINE_HYBRID ? "scores\", \"lexical_scores\", "
		              "\"lexical_ranks\", \"vector_distances\", \"vector_ranks"
		              : r->kind ? "scores" : "distances",
		              r->kind == VDB_LINE_HYBRID ? " (null where a hit is not in a list; ranks "
		              "from 1)" : "");
		return VDB_OK;
	}
	if (ferror(r->f))
		return vdb_fail(VDB_EIO, "%s: read error: %s", r->name, strerror(errno));
	*eof = 1;
	return VDB_OK;
}

/* What a candidate prints beside its id: extras (metadata, text) and, of
 * hybrid lines, where it stood in its shard's lists. */
typedef struct {
	const char *t[VDB_NEXTRA];
	float lex, vec;
	uint32_t lr, vr;
} extras;

/* The merge's scratch, kept across queries. */
typedef struct {
	vdb_cand *c, *vl, *ll;   /* candidates; hybrid: the vector and BM25 lists */
	size_t ccap, vcap, lcap;
	extras *x;
	size_t xcap;
	vdb_fused_hit *hits;
	size_t hcap;
	vdb_fuse_ws *ws;
} merge_ws;

static float num_at(json_t *o, const char *key, size_t i)
{
	return (float)json_number_value(json_array_get(json_object_get(o, key), i));
}

/* Candidates of one file's line, numbered from *n (their ref: where their
 * extras are in w->x). Lexical lines' scores are negated, so that the
 * order of distances ranks them. */
static vdb_status add_cands(result_file *r, merge_ws *w, size_t *n)
{
	json_t *ids = json_object_get(r->obj, "ids");
	size_t len = json_array_size(ids);
	if (vdb_grow((void **)&w->c, &w->ccap, *n + len, sizeof *w->c, "results") ||
	    vdb_grow((void **)&w->x, &w->xcap, *n + len, sizeof *w->x, "results"))
		return VDB_ENOMEM;
	for (size_t i = 0; i < len; i++) {
		json_t *id = json_array_get(ids, i);
		VDB_RETURN_IF(!json_is_integer(id) && !json_is_string(id), VDB_EFORMAT,
		              "%s: line %zu: ids[%zu] is neither an integer nor a string", r->name,
		              r->lineno, i);
		const char *t;
		size_t tl;
		vdb_status s = keep_text(r, id, &t, &tl);
		vdb_cand *cd = &w->c[*n];
		extras *x = &w->x[*n];
		if (!s)
			vdb_cand_id(cd, t, tl, 0);
		for (int e = 0; e < VDB_NEXTRA && !s; e++) {
			json_t *m = json_object_get(r->obj, vdb_extra_name[e]);
			x->t[e] = NULL;
			if (m)
				s = keep_text(r, json_array_get(m, i), &x->t[e], &tl);
		}
		if (s)
			return s;
		if (r->kind == VDB_LINE_HYBRID) {
			json_t *lr = json_array_get(json_object_get(r->obj, "lexical_ranks"), i);
			json_t *vr = json_array_get(json_object_get(r->obj, "vector_ranks"), i);
			x->lr = (uint32_t)json_integer_value(lr), x->vr = (uint32_t)json_integer_value(vr);
			x->lex = x->lr ? num_at(r->obj, "lexical_scores", i) : 0;
			x->vec = x->vr ? num_at(r->obj, "vector_distances", i) : 0;
			cd->dist = 0;
		} else
			cd->dist = r->kind == VDB_LINE_LEXICAL ? -num_at(r->obj, "scores", i)
			                                       : num_at(r->obj, "distances", i);
		cd->ref = (int64_t)*n;
		(*n)++;
	}
	return VDB_OK;
}

typedef struct {
	const vdb_cand *c;          /* by ref */
	const extras *x;
	const vdb_cand *order;      /* vector and lexical lines: the merged order */
	const vdb_fused_hit *hits;  /* hybrid lines: the fused hits */
	vdb_line_kind kind;
} merged;

static void merged_hit(const void *ctx, size_t r, vdb_hit *h)
{
	const merged *m = ctx;
	int64_t ref = m->hits ? m->hits[r].id : m->order[r].ref;
	const vdb_cand *c = &m->c[ref];
	h->id = c->text, h->id_len = c->len;
	h->num = c->value;
	if (m->hits) {
		const vdb_fused_hit *u = &m->hits[r];
		h->dist = u->score;
		h->lex_score = u->lex_score, h->lex_rank = u->lex_rank;
		h->vec_dist = u->vec_dist, h->vec_rank = u->vec_rank;
	} else /* + 0.0f: a negated 0 prints as 0 */
		h->dist = m->kind == VDB_LINE_LEXICAL ? -m->order[r].dist + 0.0f : m->order[r].dist;
	for (int e = 0; e < VDB_NEXTRA; e++) {
		h->extra[e] = m->x[ref].t[e];
		h->extra_len[e] = h->extra[e] ? strlen(h->extra[e]) : 0;
	}
}

/* The fusion that hybrid lines of every candidate state (--candidates). */
static vdb_status line_fusion(const result_file *r, vdb_fusion_opts *f)
{
	json_t *o = json_object_get(r->obj, "fusion");
	VDB_RETURN_IF(!o, VDB_EFORMAT, "%s: line %zu: a hybrid line without its candidates: "
	              "query the shards with --candidates to merge their hybrid results", r->name,
	              r->lineno);
	json_t *m = json_object_get(o, "method"), *a = json_object_get(o, "alpha");
	json_t *c = json_object_get(o, "rrf_k"), *d = json_object_get(o, "depth");
	vdb_fusion_opts_init(f);
	int ok = json_is_string(m) && !vdb_fusion_parse(json_string_value(m), &f->fusion) &&
	         json_is_number(a) && json_is_number(c) && json_is_integer(d) &&
	         json_integer_value(d) >= 1 && json_integer_value(d) <= VDB_MAX_K;
	if (ok) {
		f->alpha = json_number_value(a), f->rrf_k = json_number_value(c);
		f->depth = (size_t)json_integer_value(d);
		ok = f->alpha >= 0 && f->alpha <= 1 && f->rrf_k > 0;
	}
	VDB_RETURN_IF(!ok, VDB_EFORMAT, "%s: line %zu: \"fusion\" is not {\"method\": \"rrf\" or "
	              "\"weighted\", \"alpha\": 0..1, \"rrf_k\": > 0, \"depth\": 1..%u}", r->name,
	              r->lineno, VDB_MAX_K);
	return VDB_OK;
}

/* Hybrid: the shards' lists merged (the set's lists, when every shard gave
 * its depth best), then fused as the shards fused them; *keep hits. */
static vdb_status fuse_shards(const result_file *rf, size_t nfiles, merge_ws *w, size_t m,
                              size_t k, size_t *keep)
{
	vdb_fusion_opts f;
	vdb_status s = line_fusion(&rf[0], &f);
	for (size_t i = 1; i < nfiles && !s; i++)
		if (!(s = line_fusion(&rf[i], &f)) &&
		    !json_equal(json_object_get(rf[i].obj, "fusion"), json_object_get(rf[0].obj, "fusion")))
			s = vdb_fail(VDB_EFORMAT, "%s: line %zu: \"fusion\" differs from %s: line %zu's: "
			             "the shards were not fused alike", rf[i].name, rf[i].lineno, rf[0].name,
			             rf[0].lineno);
	if (s || vdb_grow((void **)&w->vl, &w->vcap, m ? m : 1, sizeof *w->vl, "results") ||
	    vdb_grow((void **)&w->ll, &w->lcap, m ? m : 1, sizeof *w->ll, "results") ||
	    vdb_grow((void **)&w->hits, &w->hcap, k, sizeof *w->hits, "results"))
		return s ? s : VDB_ENOMEM;
	size_t nv = 0, nl = 0;
	for (size_t i = 0; i < m; i++) {
		if (w->x[i].vr)
			w->vl[nv] = w->c[i], w->vl[nv++].dist = w->x[i].vec;
		if (w->x[i].lr)
			w->ll[nl] = w->c[i], w->ll[nl++].dist = -w->x[i].lex;
	}
	nv = vdb_cand_best(w->vl, nv, f.depth); /* BM25 scores negated: larger first */
	nl = vdb_cand_best(w->ll, nl, f.depth);
	for (size_t i = 0; i < nl; i++)
		w->ll[i].dist = -w->ll[i].dist + 0.0f;
	return vdb_fuse(&f, w->vl, nv, w->ll, nl, k, &w->ws, w->hits, keep);
}

/* One query: every file's line, merged and written. */
static vdb_status merge_query(FILE *out, vdb_output fmt, result_file *rf, size_t n, size_t k,
                              merge_ws *w)
{
	json_int_t q = json_integer_value(json_object_get(rf[0].obj, "query"));
	json_t *qid = json_object_get(rf[0].obj, "query_id");
	size_t m = 0;
	unsigned include = (1u << VDB_NEXTRA) - 1; /* what every file has */
	for (size_t i = 0; i < n; i++) {
		json_int_t qi = json_integer_value(json_object_get(rf[i].obj, "query"));
		json_t *qidi = json_object_get(rf[i].obj, "query_id");
		VDB_RETURN_IF(qi != q, VDB_EFORMAT, "%s: line %zu: query %lld, but %s: line %zu is "
		              "query %lld (results of different queries)", rf[i].name, rf[i].lineno,
		              (long long)qi, rf[0].name, rf[0].lineno, (long long)q);
		VDB_RETURN_IF(!qid != !qidi || (qid && !json_equal(qid, qidi)), VDB_EFORMAT,
		              "%s: line %zu: its \"query_id\" is not %s: line %zu's (results of "
		              "different queries)", rf[i].name, rf[i].lineno, rf[0].name, rf[0].lineno);
		VDB_RETURN_IF(rf[i].kind != rf[0].kind, VDB_EFORMAT, "%s: line %zu: a %s line, but %s: "
		              "line %zu is a %s line (results of different queries)", rf[i].name,
		              rf[i].lineno, kind_name[rf[i].kind], rf[0].name, rf[0].lineno,
		              kind_name[rf[0].kind]);
		for (int e = 0; e < VDB_NEXTRA; e++)
			if (!json_object_get(rf[i].obj, vdb_extra_name[e]))
				include &= ~(1u << e);
		vdb_status s = add_cands(&rf[i], w, &m);
		if (s)
			return s;
	}
	vdb_result_line l = { .query_no = (size_t)q, .kind = rf[0].kind };
	const char *qtext = NULL;
	size_t keep, qlen = 0;
	if (qid) {
		vdb_status s = keep_text(&rf[0], qid, &qtext, &qlen);
		if (s)
			return s;
		l.query_id = qtext, l.query_id_len = qlen;
	}
	merged ctx = { w->c, w->x, NULL, NULL, rf[0].kind };
	if (rf[0].kind == VDB_LINE_HYBRID) {
		vdb_status s = fuse_shards(rf, n, w, m, k, &keep);
		if (s)
			return s;
		ctx.hits = w->hits;
	} else {
		/* sort a copy: the refs index w->c */
		if (vdb_grow((void **)&w->vl, &w->vcap, m ? m : 1, sizeof *w->vl, "results"))
			return VDB_ENOMEM;
		memcpy(w->vl, w->c, m * sizeof *w->vl);
		keep = vdb_cand_best(w->vl, m, k);
		ctx.order = w->vl;
	}
	return vdb_write_line(out, fmt, &l, keep, merged_hit, &ctx, include);
}

vdb_status vdb_results_merge(FILE *out, vdb_output fmt, const char *const *paths, size_t n,
                             size_t k)
{
	VDB_RETURN_IF(fmt == VDB_OUT_IVECS, VDB_EUNSUPPORTED,
	              "merged results are written as jsonl or tsv, not ivecs");
	result_file *rf = calloc(n, sizeof *rf);
	if (!rf)
		return vdb_fail(VDB_ENOMEM, "out of memory");
	vdb_status s = VDB_OK;
	for (size_t i = 0; i < n && !s; i++) {
		int is_stdin = !strcmp(paths[i], "-");
		rf[i].name = is_stdin ? "stdin" : paths[i];
		rf[i].f = is_stdin ? stdin : fopen(paths[i], "r");
		if (!rf[i].f)
			s = vdb_fail(VDB_ENOENT, "%s: %s", paths[i], strerror(errno));
	}
	merge_ws w = { 0 };
	size_t queries = 0;
	while (!s) {
		size_t ended = 0;
		for (size_t i = 0; i < n && !s; i++) {
			int eof;
			s = next_result(&rf[i], &eof);
			ended += (size_t)eof;
		}
		if (s || ended == n)
			break;
		if (ended) {
			size_t e = 0, g = 0;
			for (size_t i = 0; i < n; i++)
				rf[i].obj ? (void)(g = i) : (void)(e = i);
			s = vdb_fail(VDB_EFORMAT, "%s ends after %zu results (line %zu) but %s has more "
			             "(line %zu): the files are not results of the same queries",
			             rf[e].name, queries, rf[e].lineno, rf[g].name, rf[g].lineno);
			break;
		}
		s = merge_query(out, fmt, rf, n, k, &w);
		queries++;
	}
	if (!s && queries == 0)
		s = vdb_fail(VDB_EFORMAT, "no results in %s", n == 1 ? rf[0].name : "any input");
	for (size_t i = 0; i < n; i++) {
		drop_line(&rf[i]);
		free(rf[i].texts);
		free(rf[i].line);
		if (rf[i].f && rf[i].f != stdin)
			fclose(rf[i].f);
	}
	free(rf);
	free(w.c), free(w.vl), free(w.ll), free(w.x), free(w.hits);
	vdb_fuse_ws_free(w.ws);
	return s;
}
