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
#include <errno.h>
#include <string.h>

/* ===== Candidates ===== */
int vdb_id_integer(const char *json, size_t len, int64_t *out)
{
	if (len == 0 || len > 20 || (json[0] != '-' && (json[0] < '0' || json[0] > '9')))
		return 0;
	char buf[24];
	memcpy(buf, json, len);
	buf[len] = 0;
	*out = strtoll(buf, NULL, 10);
	return 1;
}

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
		#pragma omp parallel
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
typedef struct {
	const char *name;
	FILE *f;
	char *line;
	size_t cap, lineno;
	json_t *obj;      /* this query's line */
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
		json_t *ids = json_object_get(r->obj, "ids"), *d = json_object_get(r->obj, "distances");
		VDB_RETURN_IF(!r->obj, VDB_EFORMAT, "%s: line %zu: malformed JSON: %s", r->name,
		              r->lineno, err.text);
		VDB_RETURN_IF(!json_is_integer(json_object_get(r->obj, "query")), VDB_EFORMAT,
		              "%s: line %zu: no integer \"query\" (not vdb-query output?)", r->name,
		              r->lineno);
		int ok = json_is_array(ids) && json_is_array(d) &&
		         json_array_size(ids) == json_array_size(d);
		for (int e = 0; e < VDB_NEXTRA; e++) {
			json_t *m = json_object_get(r->obj, vdb_extra_name[e]);
			ok &= !m || (json_is_array(m) && json_array_size(m) == json_array_size(ids));
		}
		VDB_RETURN_IF(!ok, VDB_EFORMAT, "%s: line %zu: \"ids\", \"distances\" (and "
		              "\"metadata\", \"text\") must be arrays of one length", r->name,
		              r->lineno);
		return VDB_OK;
	}
	if (ferror(r->f))
		return vdb_fail(VDB_EIO, "%s: read error: %s", r->name, strerror(errno));
	*eof = 1;
	return VDB_OK;
}

/* The extras (metadata, text) of the candidates: cand i's are x[i]. */
typedef struct {
	const char *t[VDB_NEXTRA];
} extras;

/* Candidates of one file's line; ref indexes their extras in x. */
static vdb_status add_cands(result_file *r, vdb_cand **c, size_t *n, size_t *cap, extras **x,
                            size_t *xcap)
{
	json_t *ids = json_object_get(r->obj, "ids"), *d = json_object_get(r->obj, "distances");
	size_t len = json_array_size(ids);
	if (vdb_grow((void **)c, cap, *n + len, sizeof **c, "results") ||
	    vdb_grow((void **)x, xcap, *n + len, sizeof **x, "results"))
		return VDB_ENOMEM;
	for (size_t i = 0; i < len; i++) {
		json_t *id = json_array_get(ids, i), *dv = json_array_get(d, i);
		VDB_RETURN_IF(!json_is_integer(id) && !json_is_string(id), VDB_EFORMAT,
		              "%s: line %zu: ids[%zu] is neither an integer nor a string", r->name,
		              r->lineno, i);
		VDB_RETURN_IF(!json_is_number(dv), VDB_EFORMAT,
		              "%s: line %zu: distances[%zu] is not a number", r->name, r->lineno, i);
		const char *t;
		size_t tl;
		vdb_status s = keep_text(r, id, &t, &tl);
		vdb_cand *cd = &(*c)[*n];
		if (!s)
			vdb_cand_id(cd, t, tl, 0);
		for (int e = 0; e < VDB_NEXTRA && !s; e++) {
			json_t *m = json_object_get(r->obj, vdb_extra_name[e]);
			(*x)[*n].t[e] = NULL;
			if (m)
				s = keep_text(r, json_array_get(m, i), &(*x)[*n].t[e], &tl);
		}
		if (s)
			return s;
		cd->dist = (float)json_number_value(dv);
		cd->ref = (int64_t)*n;
		(*n)++;
	}
	return VDB_OK;
}

typedef struct {
	const vdb_cand *c;
	const extras *x;
} merged;

static void merged_hit(const void *ctx, size_t r, vdb_hit *h)
{
	const merged *m = ctx;
	const vdb_cand *c = &m->c[r];
	h->id = c->text, h->id_len = c->len;
	h->num = c->value;
	h->dist = c->dist;
	for (int e = 0; e < VDB_NEXTRA; e++) {
		h->extra[e] = m->x[c->ref].t[e];
		h->extra_len[e] = h->extra[e] ? strlen(h->extra[e]) : 0;
	}
}

/* One query: every file's line, merged and written. */
static vdb_status merge_query(FILE *out, vdb_output fmt, result_file *rf, size_t n, size_t k,
                              vdb_cand **c, size_t *ccap, extras **x, size_t *xcap)
{
	json_int_t q = json_integer_value(json_object_get(rf[0].obj, "query"));
	size_t m = 0;
	unsigned include = (1u << VDB_NEXTRA) - 1; /* what every file has */
	for (size_t i = 0; i < n; i++) {
		json_int_t qi = json_integer_value(json_object_get(rf[i].obj, "query"));
		VDB_RETURN_IF(qi != q, VDB_EFORMAT, "%s: line %zu: query %lld, but %s: line %zu is "
		              "query %lld (results of different queries)", rf[i].name, rf[i].lineno,
		              (long long)qi, rf[0].name, rf[0].lineno, (long long)q);
		for (int e = 0; e < VDB_NEXTRA; e++)
			if (!json_object_get(rf[i].obj, vdb_extra_name[e]))
				include &= ~(1u << e);
		vdb_status s = add_cands(&rf[i], c, &m, ccap, x, xcap);
		if (s)
			return s;
	}
	size_t keep = vdb_cand_best(*c, m, k);
	merged ctx = { *c, *x };
	return vdb_write_hits(out, fmt, (size_t)q, keep, merged_hit, &ctx, include);
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
	vdb_cand *c = NULL;
	extras *x = NULL;
	size_t ccap = 0, xcap = 0, queries = 0;
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
		s = merge_query(out, fmt, rf, n, k, &c, &ccap, &x, &xcap);
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
	free(c);
	free(x);
	return s;
}
