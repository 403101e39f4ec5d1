/*
 * results.c — reading query results back (vdb-eval recall) and recall@k.
 *
 * Results come from vdb-query as JSONL (one object per query, "ids" an
 * array of integers) or ivecs. Ground truth and results are held in memory:
 * they are k ids per query, small next to the vectors they describe.
 */
#include "vdb_internal.h"
#include <errno.h>
#include <jansson.h>
#include <string.h>

typedef struct {
	int64_t *ids;
	size_t n, cap;   /* in ids */
	size_t nq, width;
	size_t *rowlen;
	size_t rcap;
} rows;

static vdb_status add_row(rows *r, const int64_t *v, size_t len, const char *name)
{
	if (vdb_grow((void **)&r->rowlen, &r->rcap, r->nq + 1, sizeof(size_t), name) ||
	    vdb_grow((void **)&r->ids, &r->cap, r->n + len, sizeof(int64_t), name))
		return VDB_ENOMEM;
	memcpy(r->ids + r->n, v, len * sizeof *v);
	r->n += len;
	r->rowlen[r->nq++] = len;
	if (len > r->width)
		r->width = len;
	return VDB_OK;
}

static vdb_status read_jsonl(FILE *f, const char *name, rows *r)
{
	char *line = NULL;
	size_t cap = 0, lineno = 0;
	ssize_t len;
	int64_t *tmp = NULL;
	size_t tcap = 0;
	vdb_status s = VDB_OK;
	while (!s && (len = getline(&line, &cap, f)) > 0) {
		lineno++;
		size_t i = 0;
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
		else {
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
					s = add_row(r, tmp, n, name);
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

static vdb_status read_ivecs(FILE *f, const char *name, rows *r)
{
	int32_t d;
	int32_t *buf = NULL;
	int64_t *tmp = NULL;
	size_t cap = 0, tcap = 0;
	vdb_status s = VDB_OK;
	size_t rec = 0;
	size_t got;
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
		s = add_row(r, tmp, (size_t)d, name);
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

vdb_status vdb_results_load(const char *path, int64_t **ids, size_t *nq, size_t *width)
{
	*ids = NULL, *nq = *width = 0;
	int is_stdin = !path || !strcmp(path, "-");
	const char *name = is_stdin ? "stdin" : path;
	FILE *f = is_stdin ? stdin : fopen(path, "rb");
	if (!f)
		return vdb_fail(VDB_ENOENT, "%s: %s", path, strerror(errno));
	/* vdb-query's JSONL starts with '{'; ivecs starts with a binary width
	 * whose first byte may look like a blank (10 is '\n'), so peek, no skipping */
	int c = getc(f);
	rows r = { 0 };
	vdb_status s = VDB_OK;
	if (c == EOF)
		s = vdb_fail(VDB_EFORMAT, "%s: no results in input", name);
	else {
		ungetc(c, f);
		s = c == '{' ? read_jsonl(f, name, &r) : read_ivecs(f, name, &r);
	}
	if (!is_stdin)
		fclose(f);
	if (!s) {
		/* pad to a rectangle so row i starts at i * width */
		size_t total;
		if (!vdb_mul_ok(r.nq, r.width ? r.width : 1, &total))
			s = vdb_fail(VDB_ENOMEM, "%s: too many results", name);
		int64_t *out = s ? NULL : vdb_malloc(total * sizeof *out, name);
		if (!s && !out)
			s = VDB_ENOMEM;
		if (!s) {
			size_t src = 0;
			for (size_t i = 0; i < r.nq; i++) {
				for (size_t j = 0; j < r.width; j++)
					out[i * r.width + j] = j < r.rowlen[i] ? r.ids[src + j] : -1;
				src += r.rowlen[i];
			}
			*ids = out, *nq = r.nq, *width = r.width;
		}
	}
	free(r.ids);
	free(r.rowlen);
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
		/* k is small: a quadratic check beats building a set */
		for (size_t i = 0; i < kr; i++) {
			if (r[i] < 0)
				continue;
			for (size_t j = 0; j < kg; j++)
				if (g[j] == r[i]) {
					hits++;
					break;
				}
		}
	}
	return (double)hits / ((double)nq * (double)k);
}
