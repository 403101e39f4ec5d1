/*
 * lex_tokens_records.c — the filter of vdb-text tokens: JSON Lines records
 * in, each written back with "terms" (its text's terms as the lexical
 * index sees them: lex_analyze.c).
 *
 * The output line is the input line with ,"terms":[...] put before its
 * closing brace: every field kept byte for byte, in place. A record that
 * already has "terms" is written again by jansson with the new array in
 * the old one's place. One record at a time, one analyzer: the terms of a
 * record go straight into the output line's buffer.
 */
#include "jsonout.h"
#include "lex_analyze.h"
#include "reader_internal.h"
#include "utf8.h"
#include <errno.h>
#include <jansson.h>
#include <string.h>

typedef struct {
	vdb_analyzer *a;
	vdb_reader *in;
	FILE *out;
	const char *field;
	vdb_jout line;   /* the output line */
	vdb_jout terms;  /* "[...]" */
	size_t rec;      /* records so far */
} tokens_filter;

/* "NAME: line L (record R[, id ID])" */
static void label(const tokens_filter *f, json_t *obj, char *dst, size_t n)
{
	vdb_record_label(f->in->name, f->in->line, f->rec, obj, dst, n);
}

static vdb_status refuse(const tokens_filter *f, json_t *obj, vdb_status s, const char *why)
{
	char where[640];
	label(f, obj, where, sizeof where);
	return vdb_fail(s, "%s: %s", where, why);
}

static vdb_status add_term(void *ctx, const char *term, size_t len)
{
	vdb_jout *b = ctx;
	if (b->len > 1 && vdb_jout_raw(b, ",", 1))
		return VDB_ENOMEM;
	return vdb_jout_string(b, term, len);
}

/* The string to analyse: "text", or metadata field f->field. */
static vdb_status source(const tokens_filter *f, json_t *obj, const char **text, size_t *len)
{
	json_t *t;
	char why[400];
	if (f->field) {
		json_t *m = json_object_get(obj, "metadata");
		t = json_is_object(m) ? json_object_get(m, f->field) : NULL;
		snprintf(why, sizeof why, "metadata field \"%.200s\"", f->field);
	} else {
		t = json_object_get(obj, "text");
		snprintf(why, sizeof why, "\"text\"");
	}
	if (!t || !json_is_string(t)) {
		char m[512];
		snprintf(m, sizeof m, "%s is %s", why,
		         t ? "not a string" : f->field ? "missing" : "missing: a record to analyse "
		                                                      "needs its text");
		return refuse(f, obj, VDB_EFORMAT, m);
	}
	*text = json_string_value(t);
	*len = json_string_length(t);
	return VDB_OK;
}

/* The output line of obj (read from line[0, n)) with f->terms. */
static vdb_status compose(tokens_filter *f, json_t *obj, const char *line, size_t n)
{
	f->line.len = 0;
	if (json_object_get(obj, "terms")) {
		/* replace it in place: jansson writes the record again */
		json_t *terms = json_loadb(f->terms.p, f->terms.len, 0, NULL);
		char *t = NULL;
		if (terms && !json_object_set_new(obj, "terms", terms))
			t = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
		vdb_status s = t ? vdb_jout_raw(&f->line, t, strlen(t))
		                 : vdb_fail(VDB_ENOMEM, "out of memory writing a record");
		free(t);
		return s ? s : vdb_jout_raw(&f->line, "\n", 1);
	}
	while (n && line[n - 1] != '}')
		n--; /* trailing spaces */
	const char *p = line + n - 1; /* the closing brace */
	while (p > line && (p[-1] == ' ' || p[-1] == '\t' || p[-1] == '\r' || p[-1] == '\n'))
		p--;
	bool empty = p[-1] == '{';
	vdb_status s;
	if ((s = vdb_jout_raw(&f->line, line, (size_t)(p - line))) ||
	    (s = vdb_jout_raw(&f->line, empty ? "\"terms\":" : ",\"terms\":", 9 - empty)) ||
	    (s = vdb_jout_raw(&f->line, f->terms.p, f->terms.len)) ||
	    (s = vdb_jout_raw(&f->line, "}\n", 2)))
		return s;
	return VDB_OK;
}

static vdb_status one_record(tokens_filter *f, const char *line, size_t n)
{
	size_t bad = vdb_utf8_invalid((const unsigned char *)line, n);
	if (bad < n) {
		char m[128];
		snprintf(m, sizeof m, "invalid UTF-8 at byte %zu of the line", bad);
		return refuse(f, NULL, VDB_EFORMAT, m);
	}
	json_error_t err;
	json_t *obj = json_loadb(line, n, JSON_REJECT_DUPLICATES, &err);
	if (!obj || !json_is_object(obj)) {
		char m[256];
		if (obj)
			snprintf(m, sizeof m, "expected an object");
		else
			snprintf(m, sizeof m, "malformed JSON: %s at column %d", err.text, err.column);
		json_decref(obj);
		return refuse(f, NULL, VDB_EFORMAT, m);
	}
	const char *text = NULL;
	size_t len = 0;
	vdb_status s = source(f, obj, &text, &len);
	f->terms.len = 0;
	if (!s && !(s = vdb_jout_raw(&f->terms, "[", 1))) {
		s = vdb_analyze(f->a, text, len, add_term, &f->terms, NULL);
		if (s == VDB_EFORMAT)
			s = refuse(f, obj, s, vdb_last_error());
	}
	if (!s && !(s = vdb_jout_raw(&f->terms, "]", 1)))
		s = compose(f, obj, line, n);
	json_decref(obj);
	if (s)
		return s;
	fwrite(f->line.p, 1, f->line.len, f->out);
	VDB_RETURN_IF(ferror(f->out), VDB_EIO, "writing the output failed: %s", strerror(errno));
	f->rec++;
	return VDB_OK;
}

static vdb_status make_analyzer(const vdb_lexical_opts *o, vdb_analyzer **a)
{
	char *stop = NULL;
	size_t len = 0;
	vdb_status s = o && o->stopwords ? vdb_stopwords_load(o->stopwords, &stop, &len) : VDB_OK;
	if (!s)
		s = vdb_analyzer_new(a, o ? o->language : NULL, stop, len);
	free(stop);
	return s;
}

vdb_status vdb_tokens_records(const vdb_lexical_opts *o, const char *path, FILE *out,
                              size_t *records)
{
	*records = 0;
	tokens_filter f = { .out = out, .field = o ? o->field : NULL };
	vdb_status s = make_analyzer(o, &f.a);
	if (s)
		return s;
	s = vdb_reader_open(&f.in, path ? path : "-", VDB_FMT_JSONL);
	while (!s) {
		const char *line;
		size_t n;
		bool got;
		if ((s = vdb_rd_line(f.in, &line, &n, &got)) || !got)
			break;
		if (!vdb_blank_line(line, n))
			s = one_record(&f, line, n);
	}
	*records = f.rec;
	if (f.in)
		vdb_reader_close(f.in);
	vdb_analyzer_free(f.a);
	vdb_jout_free(&f.line);
	vdb_jout_free(&f.terms);
	return s;
}
