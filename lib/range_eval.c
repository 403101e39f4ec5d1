/*
 * range_eval.c — range precision and recall, as FAISS's range search
 * evaluation computes them: over all queries together (micro-averaged),
 * precision = sum |returned ∩ true| / sum |returned| and recall =
 * sum |returned ∩ true| / sum |true|, so that a query with many records
 * within the radius weighs as much as its records do and a query with
 * none does not divide by zero.
 *
 * From files: vdb-query JSONL lines (the exact ones, from a flat index,
 * and those measured), matched by "query" number, ids compared as their
 * compact JSON text (integer and string ids alike). Memory: every id text
 * of both files is held (one query's sorted for lookups). Not parallel.
 */
#include "vdb_internal.h"
#include <jansson.h>
#include <string.h>

/* ===== In memory ===== */
static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static void finish(vdb_range_scores *s)
{
	s->precision = s->returned ? (double)s->common / (double)s->returned : 1.0;
	s->recall = s->truth ? (double)s->common / (double)s->truth : 1.0;
}

void vdb_range_score(const vdb_range_result *truth, const vdb_range_result *res,
                     vdb_range_scores *out)
{
	memset(out, 0, sizeof *out);
	out->queries = truth->nq;
	size_t most = 0;
	for (size_t q = 0; q < truth->nq; q++)
		if (truth->lims[q + 1] - truth->lims[q] > most)
			most = truth->lims[q + 1] - truth->lims[q];
	int64_t *t = malloc((most ? most : 1) * sizeof *t);
	for (size_t q = 0; q < truth->nq && t; q++) {
		size_t nt = truth->lims[q + 1] - truth->lims[q];
		memcpy(t, truth->ids + truth->lims[q], nt * sizeof *t);
		qsort(t, nt, sizeof *t, cmp_i64);
		out->truth += nt;
		if (q >= res->nq)
			continue;
		for (size_t r = res->lims[q]; r < res->lims[q + 1]; r++) {
			out->returned++;
			out->common += bsearch(&res->ids[r], t, nt, sizeof *t, cmp_i64) != NULL;
		}
	}
	free(t);
	finish(out);
}

/* ===== From result files ===== */
typedef struct {
	char ***ids; /* per query: its ids' texts, sorted; NULL: no line */
	size_t *n;
	size_t nq, cap;
} id_lists;

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void lists_free(id_lists *l)
{
	for (size_t q = 0; q < l->nq; q++) {
		for (size_t i = 0; l->ids[q] && i < l->n[q]; i++)
			free(l->ids[q][i]);
		free(l->ids[q]);
	}
	free(l->ids), free(l->n);
}

/* A line's query number and its ids' texts, into l. */
static vdb_status add_line(id_lists *l, json_t *o, const char *path, size_t line)
{
	json_t *qv = json_object_get(o, "query"), *ids = json_object_get(o, "ids");
	VDB_RETURN_IF(!json_is_integer(qv) || json_integer_value(qv) < 0 || !json_is_array(ids),
	              VDB_EFORMAT, "%s: line %zu: not a vdb-query result line (an integer "
	              "\"query\" and \"ids\")", path, line);
	size_t q = (size_t)json_integer_value(qv);
	VDB_RETURN_IF(q >= VDB_MAX_COUNT, VDB_EFORMAT, "%s: line %zu: query %zu is out of range",
	              path, line, q);
	if (q >= l->nq) {
		size_t want = q + 1;
		if (want > l->cap) {
			size_t c1 = l->cap, c2 = l->cap;
			vdb_status s = vdb_grow((void **)&l->ids, &c1, want, sizeof *l->ids, "results");
			if (!s)
				s = vdb_grow((void **)&l->n, &c2, want, sizeof *l->n, "results");
			if (s)
				return s;
			l->cap = c1 < c2 ? c1 : c2;
		}
		for (size_t i = l->nq; i < want; i++)
			l->ids[i] = NULL, l->n[i] = 0;
		l->nq = want;
	}
	VDB_RETURN_IF(l->ids[q], VDB_EFORMAT, "%s: line %zu: query %zu has a line already", path,
	              line, q);
	size_t n = json_array_size(ids);
	char **t = calloc(n ? n : 1, sizeof *t);
	VDB_RETURN_IF(!t, VDB_ENOMEM, "out of memory reading %s", path);
	l->ids[q] = t;
	l->n[q] = n;
	for (size_t i = 0; i < n; i++) {
		json_t *v = json_array_get(ids, i);
		VDB_RETURN_IF(!json_is_integer(v) && !json_is_string(v), VDB_EFORMAT,
		              "%s: line %zu: id %zu is neither an integer nor a string", path, line, i);
		t[i] = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
		VDB_RETURN_IF(!t[i], VDB_ENOMEM, "out of memory reading %s", path);
	}
	qsort(t, n, sizeof *t, cmp_str);
	for (size_t i = 1; i < n; i++)
		VDB_RETURN_IF(!strcmp(t[i - 1], t[i]), VDB_EFORMAT,
		              "%s: line %zu: id %s is given twice", path, line, t[i]);
	return VDB_OK;
}

static vdb_status load(id_lists *l, const char *path)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
	VDB_RETURN_IF(!f, VDB_ENOENT, "%s: cannot open", path);
	char *buf = NULL;
	size_t cap = 0, line = 0;
	ssize_t len;
	vdb_status s = VDB_OK;
	while (!s && (len = getline(&buf, &cap, f)) >= 0) {
		line++;
		size_t i = 0;
		while (i < (size_t)len && strchr(" \t\r\n", buf[i]))
			i++;
		if (i == (size_t)len)
			continue;
		json_error_t err;
		json_t *o = json_loadb(buf, (size_t)len, 0, &err);
		if (!json_is_object(o))
			s = vdb_fail(VDB_EFORMAT, "%s: line %zu: not a JSON object%s%s", path, line,
			             o ? "" : ": ", o ? "" : err.text);
		else
			s = add_line(l, o, path, line);
		json_decref(o);
	}
	if (!s && ferror(f))
		s = vdb_fail(VDB_EIO, "%s: read error", path);
	free(buf);
	if (f != stdin)
		fclose(f);
	return s;
}

vdb_status vdb_range_eval(const char *truth, const char *results, vdb_range_scores *out)
{
	memset(out, 0, sizeof *out);
	id_lists t = { 0 }, r = { 0 };
	vdb_status s = load(&t, truth);
	if (!s)
		s = load(&r, results);
	for (size_t q = 0; !s && q < t.nq; q++) {
		if (!t.ids[q])
			continue;
		char **tt = t.ids[q];
		out->queries++;
		out->truth += t.n[q];
		if (q >= r.nq || !r.ids[q])
			continue;
		char **rr = r.ids[q];
		out->returned += r.n[q];
		for (size_t i = 0; i < r.n[q]; i++)
			out->common += bsearch(&rr[i], tt, t.n[q], sizeof *tt, cmp_str) != NULL;
	}
	/* results of queries the truth does not have are returned, and wrong */
	for (size_t q = 0; !s && q < r.nq; q++)
		if (r.ids[q] && (q >= t.nq || !t.ids[q]))
			out->returned += r.n[q];
	lists_free(&t);
	lists_free(&r);
	finish(out);
	return s;
}
