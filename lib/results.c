/*
 * results.c — reading query results back (vdb-eval recall) and recall@k.
 *
 * Results come from vdb-query as JSONL (one object per query, "ids" an
 * array of integers, "query" its number) or ivecs. Ground truth and results
 * are held in memory: they are k ids per query, small next to the vectors
 * they describe.
 *
 * Each result is scored against the ground truth of the query it answers:
 * a JSONL line's "query" number (so lines may come in any order), or its
 * place for ivecs and for JSONL without numbers (all lines have one or
 * none). What would inflate or misplace recall is refused (VDB_EFORMAT,
 * naming the line or record): an id twice among a query's results, a query
 * number out of range or given twice, a query left without results.
 */
#include "vdb_internal.h"
#include <errno.h>
#include <jansson.h>
#include <string.h>

typedef struct {
	const char *name, *unit; /* the input, "line" or "record" */
	size_t nq;               /* the queries to answer (the ground truth's) */
	int64_t *ids;
	size_t n, cap;           /* in ids */
	size_t rows, width;
	size_t *rowlen, *qno;    /* per row read: its length and its query */
	size_t rcap, qcap;
	size_t *at;              /* per query: 1 + the line or record answering it, 0: none */
	int numbered;            /* -1 undecided, 1 by "query", 0 by place */
	size_t first;            /* the line that decided */
	int64_t *sorted;
	size_t scap;
} rows;

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* The answer v[0..len) of query q, from line (or record) pos. */
static vdb_status add_row(rows *r, size_t q, const int64_t *v, size_t len, size_t pos)
{
	if (q >= r->nq && r->numbered == 1)
		return vdb_fail(VDB_EFORMAT, "%s: %s %zu: query %zu is out of range (the ground truth "
		                "has %zu queries)", r->name, r->unit, pos, q, r->nq);
	if (q >= r->nq)
		return vdb_fail(VDB_EFORMAT, "%s: %s %zu: more results than the %zu queries of the "
		                "ground truth", r->name, r->unit, pos, r->nq);
	if (r->at[q])
		return vdb_fail(VDB_EFORMAT, "%s: %s %zu: query %zu is given twice (also at %s %zu)",
		                r->name, r->unit, pos, q, r->unit, r->at[q] - 1);
	if (vdb_grow((void **)&r->sorted, &r->scap, len, sizeof *v, r->name))
		return VDB_ENOMEM;
	memcpy(r->sorted, v, len * sizeof *v);
	qsort(r->sorted, len, sizeof *v, cmp_i64);
	for (size_t i = 1; i < len; i++)
		if (r->sorted[i] >= 0 && r->sorted[i] == r->sorted[i - 1])
			return vdb_fail(VDB_EFORMAT, "%s: %s %zu: id %lld is given twice in the results "
			                "of query %zu (a search returns each record once)", r->name,
			                r->unit, pos, (long long)r->sorted[i], q);
	if (vdb_grow((void **)&r->rowlen, &r->rcap, r->rows + 1, sizeof(size_t), r->name) ||
	    vdb_grow((void **)&r->qno, &r->qcap, r->rows + 1, sizeof(size_t), r->name) ||
	    vdb_grow((void **)&r->ids, &r->cap, r->n + len, sizeof *v, r->name))
		return VDB_ENOMEM;
	memcpy(r->ids + r->n, v, len * sizeof *v);
	r->n += len;
	r->qno[r->rows] = q;
	r->rowlen[r->rows++] = len;
	r->at[q] = pos + 1;
	if (len > r->width)
		r->width = len;
	return VDB_OK;
}

/* The query that JSONL result line lineno answers, into *q. */
static vdb_status line_query(rows *r, json_t *o, size_t lineno, size_t *q)
{
	json_t *v = json_object_get(o, "query");
	if (r->numbered < 0)
		r->numbered = v != NULL, r->first = lineno;
	if (r->numbered != (v != NULL))
		return vdb_fail(VDB_EFORMAT, "%s: line %zu: %s \"query\" number, where line %zu has %s "
		                "(number every line, or none to match them by place)", r->name, lineno,
		                v ? "a" : "no", r->first, v ? "none" : "one");
	if (v && (!json_is_integer(v) || json_integer_value(v) < 0))
		return vdb_fail(VDB_EFORMAT, "%s: line %zu: \"query\" is not a query number (an "
		                "integer from 0)", r->name, lineno);
	*q = v ? (size_t)json_integer_value(v) : r->rows;
	return VDB_OK;
}

static vdb_status read_jsonl(FILE *f, rows *r)
{
	char *line = NULL;
	size_t cap = 0, lineno = 0;
	ssize_t len;
	int64_t *tmp = NULL;
	size_t tcap = 0;
	vdb_status s = VDB_OK;
	const char *name = r->name;
	r->unit = "line";
	while (!s && (len = getline(&line, &cap, f)) > 0) {
		lineno++;
		size_t i = 0, q = 0;
		while (i < (size_t)len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\n' ||
		                           line[i] == '\r'))
			i++;
		if (i == (size_t)len)
			continue;
		json_error_t err;
		json_t *o = json_loadb(line, (size_t)len, 0, &err);
		json_t *arr = o ? json_object_get(o, "ids") : NULL;
		if (!o)
			s = vdb_fail(VDB_EFORMAT, "%s: line %zu: malformed JSON: %s", name, lineno, err.text);
		else if (!json_is_array(arr))
			s = vdb_fail(VDB_EFORMAT, "%s: line %zu: no \"ids\" array", name, lineno);
		else if (!(s = line_query(r, o, lineno, &q))) {
			size_t n = json_array_size(arr);
			if (!vdb_grow((void **)&tmp, &tcap, n, sizeof *tmp, name)) {
				for (size_t j = 0; j < n && !s; j++) {
					json_t *e = json_array_get(arr, j);
					if (!json_is_integer(e))
						s = vdb_fail(VDB_EFORMAT, "%s: line %zu: ids[%zu] is not an integer "
						             "(string ids cannot be matched to ground truth; use "
						             "vdb-query --output ivecs)", name, lineno, j);
					else
						tmp[j] = json_integer_value(e);
				}
				if (!s)
					s = add_row(r, q, tmp, n, lineno);
			} else
				s = VDB_ENOMEM;
		}
		json_decref(o);
	}
	if (!s && ferror(f))
		s = vdb_fail(VDB_EIO, "%s: read error: %s", name, strerror(errno));
	free(line);
	free(tmp);
	return s;
}

/* ivecs results: record i answers query i. */
static vdb_status read_ivecs(FILE *f, rows *r)
{
	int32_t d;
	int32_t *buf = NULL;
	int64_t *tmp = NULL;
	size_t cap = 0, tcap = 0;
	vdb_status s = VDB_OK;
	size_t rec = 0;
	size_t got;
	const char *name = r->name;
	r->unit = "record";
	r->numbered = 0;
	while (!s && (got = fread(&d, 1, 4, f)) == 4) {
		if (d < 0 || (uint32_t)d > VDB_MAX_K) {
			s = vdb_fail(VDB_EFORMAT, "%s: record %zu: width %d is out of range", name, rec, d);
			break;
		}
		if (vdb_grow((void **)&buf, &cap, (size_t)d, 4, name) ||
		    vdb_grow((void **)&tmp, &tcap, (size_t)d, 8, name)) {
			s = VDB_ENOMEM;
			break;
		}
		if (fread(buf, 4, (size_t)d, f) != (size_t)d) {
			s = vdb_fail(VDB_EFORMAT, "%s: record %zu: truncated", name, rec);
			break;
		}
		for (int32_t j = 0; j < d; j++)
			tmp[j] = buf[j];
		s = add_row(r, rec, tmp, (size_t)d, rec); /* records count from 0, as everywhere */
		rec++;
	}
	if (!s && got != 0 && got != 4)
		s = vdb_fail(VDB_EFORMAT, "%s: record %zu: truncated", name, rec);
	if (!s && ferror(f))
		s = vdb_fail(VDB_EIO, "%s: read error: %s", name, strerror(errno));
	free(buf);
	free(tmp);
	return s;
}

/* The rows read, as nq rows of width ids in query order (-1 padded). */
static vdb_status rectangle(const rows *r, int64_t **ids, size_t *width)
{
	for (size_t q = 0; q < r->nq; q++)
		if (!r->at[q])
			return vdb_fail(VDB_EFORMAT, "%s: results for %zu queries, but the ground truth "
			                "has %zu (none for query %zu)", r->name, r->rows, r->nq, q);
	size_t total;
	if (!vdb_mul_ok(r->nq, r->width ? r->width : 1, &total))
		return vdb_fail(VDB_ENOMEM, "%s: too many results", r->name);
	int64_t *out = vdb_malloc(total * sizeof *out, r->name);
	if (!out)
		return VDB_ENOMEM;
	for (size_t i = 0, src = 0; i < r->rows; src += r->rowlen[i++]) {
		int64_t *row = out + r->qno[i] * r->width;
		for (size_t j = 0; j < r->width; j++)
			row[j] = j < r->rowlen[i] ? r->ids[src + j] : -1;
	}
	*ids = out, *width = r->width;
	return VDB_OK;
}

vdb_status vdb_results_load(const char *path, size_t nq, int64_t **ids, size_t *width)
{
	*ids = NULL, *width = 0;
	int is_stdin = !path || !strcmp(path, "-");
	const char *name = is_stdin ? "stdin" : path;
	FILE *f = is_stdin ? stdin : fopen(path, "rb");
	if (!f)
		return vdb_fail(VDB_ENOENT, "%s: %s", path, strerror(errno));
	/* vdb-query's JSONL starts with '{'; ivecs starts with a binary width
	 * whose first byte may look like a blank (10 is '\n'), so peek, no skipping */
	int c = getc(f);
	rows r = { .name = name, .nq = nq, .numbered = -1 };
	r.at = calloc(nq ? nq : 1, sizeof *r.at);
	vdb_status s = r.at ? VDB_OK : vdb_fail(VDB_ENOMEM, "out of memory for %zu queries", nq);
	if (!s && c == EOF)
		s = vdb_fail(VDB_EFORMAT, "%s: no results in input", name);
	else if (!s) {
		ungetc(c, f);
		s = c == '{' ? read_jsonl(f, &r) : read_ivecs(f, &r);
	}
	if (!is_stdin)
		fclose(f);
	if (!s)
		s = rectangle(&r, ids, width);
	free(r.ids);
	free(r.rowlen);
	free(r.qno);
	free(r.at);
	free(r.sorted);
	return s;
}

double vdb_recall(const int32_t *gt, size_t gt_width, const int64_t *res, size_t res_width,
                  size_t nq, size_t k)
{
	if (nq == 0 || k == 0)
		return 0;
	size_t kg = k < gt_width ? k : gt_width, kr = k < res_width ? k : res_width;
	size_t hits = 0;
	for (size_t q = 0; q < nq; q++) {
		const int32_t *g = gt + q * gt_width;
		const int64_t *r = res + q * res_width;
		/* k is small: a quadratic check beats building a set. An id
		 * counts once however often it is repeated (vdb_results_load
		 * refuses repeats; this keeps any other caller honest). */
		for (size_t i = 0; i < kr; i++) {
			if (r[i] < 0)
				continue;
			size_t j = 0, e = 0;
			while (j < kg && g[j] != r[i])
				j++;
			while (j < kg && e < i && r[e] != r[i])
				e++;
			hits += j < kg && e == i;
		}
	}
	return (double)hits / ((double)nq * (double)k);
}
