/*
 * io_jsonl.c — JSON Lines input: {"id": ..., "vector": [...], "metadata": {...},
 * "text": "...", "embedder": {...}}, or for binary vectors (the hamming
 * metric) {"id": ..., "bits": "0f3a..."}.
 *
 * Each line is parsed with jansson (a real parser with line/column errors;
 * no hand-written JSON; it refuses invalid UTF-8). The id (a string or an
 * integer), the metadata object and the text (a string of at most
 * VDB_MAX_TEXT bytes) are kept as compact JSON text so that queries return
 * them verbatim (a text's newlines stay escaped). Either every record has
 * an id or none has; metadata and text may be sparse (missing ones are
 * stored as null); metadata nests at most VDB_MAX_META_DEPTH levels (what
 * walks it later recurses once a level). The embedder identity (modelid.c)
 * is the set's: every record carries the same one, or none does. A query
 * stream (vdb_vecs.allow_text_only) also takes records with a text and no
 * vector: lexical queries, rows of zeros marked in vdb_vecs.novec; with
 * vdb_vecs.query_opts, a query's own options (query_opts.c). Any other
 * field (those options in a build's input too) is ignored.
 */
#include "reader_internal.h"
#include "modelid.h"
#include "query_opts.h"
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <string.h>

#ifndef JSON_PARSER_MAX_DEPTH
#define JSON_PARSER_MAX_DEPTH 2048 /* jansson's own nesting limit, as it is built by default */
#endif

int vdb_jsonl_record_buffered(const vdb_reader *r)
{
	return memchr(r->buf + r->pos, '\n', r->len - r->pos) != NULL;
}

/* Does j, at nesting level depth, hold objects or arrays deeper than
 * VDB_MAX_META_DEPTH? Recurses at most that deep, whatever j holds. */
static bool nested_too_deep(json_t *j, unsigned depth)
{
	if (!json_is_object(j) && !json_is_array(j))
		return false;
	if (depth > VDB_MAX_META_DEPTH)
		return true;
	json_t *e;
	if (json_is_array(j)) {
		size_t i;
		json_array_foreach(j, i, e)
			if (nested_too_deep(e, depth + 1))
				return true;
	} else {
		const char *k;
		json_object_foreach(j, k, e)
			if (nested_too_deep(e, depth + 1))
				return true;
	}
	return false;
}

#define FAIL(...) do { s = vdb_fail(VDB_EFORMAT, __VA_ARGS__); goto out; } while (0)

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* What a record with a text but no vector is missing. */
#define TEXT_ONLY ": a text record is embedded first (vdb-text embed)"

/* A float vector: "vector" as an array of numbers. Fixes v->dim at the
 * first record and checks it after. */
static vdb_status read_vector(vdb_reader *r, vdb_vecs *v, json_t *o, size_t ln, size_t rec)
{
	json_t *vec = json_object_get(o, "vector");
	VDB_RETURN_IF(!vec, VDB_EFORMAT, "%s: line %zu (record %zu): \"vector\" is missing%s",
	              r->name, ln, rec, json_object_get(o, "bits")
	              ? " (\"bits\" is a binary vector: build with -m hamming)"
	              : json_object_get(o, "text") ? TEXT_ONLY : "");
	VDB_RETURN_IF(!json_is_array(vec), VDB_EFORMAT,
	              "%s: line %zu (record %zu): \"vector\" is not an array", r->name, ln, rec);
	size_t d = json_array_size(vec);
	VDB_RETURN_IF(d == 0 || d > VDB_MAX_DIM, VDB_EFORMAT,
	              "%s: line %zu (record %zu): dimension %zu is out of range (1..%u)", r->name, ln,
	              rec, d, VDB_MAX_DIM);
	VDB_RETURN_IF(v->dim && d != v->dim, VDB_EFORMAT,
	              "%s: line %zu (record %zu): dimension %zu differs from the expected %u", r->name,
	              ln, rec, d, v->dim);
	if (!v->dim)
		v->dim = (uint32_t)d;
	vdb_status s = vdb_vecs_reserve_row(v);
	if (s)
		return s;
	float *row = v->data + v->n * v->dim;
	for (size_t i = 0; i < d; i++) {
		json_t *e = json_array_get(vec, i);
		VDB_RETURN_IF(!json_is_number(e), VDB_EFORMAT,
		              "%s: line %zu (record %zu): vector[%zu] is not a number", r->name, ln, rec,
		              i);
		double x = json_number_value(e);
		VDB_RETURN_IF(!isfinite(x) || fabs(x) > FLT_MAX, VDB_EFORMAT,
		              "%s: line %zu (record %zu): vector[%zu] = %g is out of float range",
		              r->name, ln, rec, i, x);
		row[i] = (float)x;
	}
	double sq;
	VDB_RETURN_IF(!vdb_row_length_ok(row, v->dim, &sq), VDB_EFORMAT,
	              "%s: line %zu (record %zu): the vector's squared length %.3g is over %.3g "
	              "(VDB_MAX_SQNORM): its distances would overflow float32", r->name, ln, rec, sq,
	              VDB_MAX_SQNORM);
	return VDB_OK;
}

/* A binary vector: "bits" as hex, two digits a byte, byte 0 first. Fixes
 * v->dim (in bits) at the first record and checks it after. */
static vdb_status read_bits(vdb_reader *r, vdb_vecs *v, json_t *o, size_t ln, size_t rec)
{
	json_t *bits = json_object_get(o, "bits");
	VDB_RETURN_IF(!bits, VDB_EFORMAT, "%s: line %zu (record %zu): \"bits\" is missing%s",
	              r->name, ln, rec, json_object_get(o, "text") ? TEXT_ONLY
	              : " (the hamming metric takes binary vectors as hex strings)");
	VDB_RETURN_IF(!json_is_string(bits), VDB_EFORMAT,
	              "%s: line %zu (record %zu): \"bits\" is not a string of hex digits", r->name,
	              ln, rec);
	const char *hex = json_string_value(bits);
	size_t len = json_string_length(bits);
	VDB_RETURN_IF(len % 2, VDB_EFORMAT, "%s: line %zu (record %zu): \"bits\" has an odd number "
	              "(%zu) of hex digits; each byte takes two", r->name, ln, rec, len);
	VDB_RETURN_IF(len == 0 || len * 4 > VDB_MAX_DIM, VDB_EFORMAT,
	              "%s: line %zu (record %zu): \"bits\" holds %zu bits, out of range (8..%u)",
	              r->name, ln, rec, len * 4, VDB_MAX_DIM);
	VDB_RETURN_IF(v->dim && len * 4 != v->dim, VDB_EFORMAT,
	              "%s: line %zu (record %zu): \"bits\" holds %zu bits; expected %u", r->name,
	              ln, rec, len * 4, v->dim);
	for (size_t i = 0; i < len; i++)
		VDB_RETURN_IF(hex_digit(hex[i]) < 0, VDB_EFORMAT,
		              "%s: line %zu (record %zu): \"bits\"[%zu] is not a hex digit", r->name,
		              ln, rec, i);
	if (!v->dim)
		v->dim = (uint32_t)(len * 4);
	vdb_status s = vdb_vecs_reserve_row(v);
	if (s)
		return s;
	unsigned char *row = (unsigned char *)v->data + v->n * (len / 2);
	for (size_t i = 0; i < len / 2; i++)
		row[i] = (unsigned char)(hex_digit(hex[2 * i]) << 4 | hex_digit(hex[2 * i + 1]));
	return VDB_OK;
}

/* The record's "embedder" (null or absent: none) against the set's. */
static vdb_status read_embedder(vdb_reader *r, vdb_vecs *v, json_t *e, size_t ln, size_t rec)
{
	if ((!e || json_is_null(e)) && v->embedder_seen && !v->embedder)
		return VDB_OK; /* raw vectors, as the records before */
	size_t wn = strlen(r->name) + 64;
	char *where = malloc(wn), *canon = NULL;
	if (!where)
		return vdb_fail(VDB_ENOMEM, "out of memory");
	snprintf(where, wn, "%s: line %zu (record %zu)", r->name, ln, rec);
	vdb_status s = VDB_OK;
	if (e && !json_is_null(e) && !(s = vdb_modelid_canon(e, where, &canon)) &&
	    vdb_modelid_dim(canon) != v->dim)
		s = vdb_fail(VDB_EFORMAT, "%s: \"embedder\".\"dim\" is %u but the vector has %u "
		             "dimensions", where, vdb_modelid_dim(canon), v->dim);
	if (!s && !v->embedder_seen) {
		v->embedder = canon, canon = NULL;
		v->embedder_seen = 1;
	} else if (!s && (!canon != !v->embedder ||
	                  (canon && strcmp(canon, v->embedder) &&
	                   !vdb_modelid_same(canon, v->embedder)))) {
		char now[256] = "has no \"embedder\"", before[256] = "have none";
		if (canon) {
			memcpy(now, "embedded by ", 12);
			vdb_modelid_describe(canon, now + 12, sizeof now - 12);
		}
		if (v->embedder) {
			memcpy(before, "come from ", 10);
			vdb_modelid_describe(v->embedder, before + 10, sizeof before - 10);
		}
		s = vdb_fail(VDB_EFORMAT, "%s: %s, but the records before it %s: the records of one "
		             "input set come from one embedder, or none does", where, now, before);
	}
	free(canon);
	free(where);
	return s;
}

vdb_status vdb_read_jsonl_record(vdb_reader *r, vdb_vecs *v, int *got)
{
	*got = 0;
	const char *line;
	size_t len;
	bool more;
	vdb_status s;
	do {
		if ((s = vdb_rd_line(r, &line, &len, &more)))
			return s;
		if (!more)
			return VDB_OK;
	} while (vdb_blank_line(line, len));

	size_t rec = r->records, ln = r->line;
	json_error_t err;
	json_t *o = json_loadb(line, (size_t)len, JSON_REJECT_DUPLICATES, &err);
	char *text = NULL;
	s = VDB_OK;
	if (!o && json_error_code(&err) == json_error_stack_overflow)
		FAIL("%s: line %zu (record %zu): JSON nested deeper than %d levels at column %d "
		     "(metadata may nest %u)", r->name, ln, rec, JSON_PARSER_MAX_DEPTH, err.column,
		     VDB_MAX_META_DEPTH);
	if (!o)
		FAIL("%s: line %zu (record %zu): malformed JSON: %s at column %d", r->name, ln, rec,
		     err.text, err.column);
	if (!json_is_object(o))
		FAIL("%s: line %zu (record %zu): expected an object", r->name, ln, rec);
	json_t *id = json_object_get(o, "id");
	json_t *meta = json_object_get(o, "metadata");
	json_t *txt = json_object_get(o, "text");
	if (id && !json_is_string(id) && !json_is_integer(id))
		FAIL("%s: line %zu (record %zu): \"id\" must be a string or an integer", r->name, ln,
		     rec);
	if (meta && !json_is_object(meta) && !json_is_null(meta))
		FAIL("%s: line %zu (record %zu): \"metadata\" must be an object", r->name, ln, rec);
	if (meta && nested_too_deep(meta, 1))
		FAIL("%s: line %zu (record %zu): \"metadata\" nests deeper than the limit of %u "
		     "levels", r->name, ln, rec, VDB_MAX_META_DEPTH);
	if (txt && !json_is_string(txt) && !json_is_null(txt))
		FAIL("%s: line %zu (record %zu): \"text\" must be a string", r->name, ln, rec);
	if (json_is_string(txt) && json_string_length(txt) > VDB_MAX_TEXT)
		FAIL("%s: line %zu (record %zu): \"text\" holds %zu bytes, over the limit of %u "
		     "(VDB_MAX_TEXT): split it first (vdb-text chunk)", r->name, ln, rec,
		     json_string_length(txt), VDB_MAX_TEXT);
	if (v->n > 0 && (id != NULL) != (v->id_off != NULL))
		FAIL("%s: line %zu (record %zu): %s", r->name, ln, rec,
		     id ? "has an id but the vectors before it do not"
		        : "has no id but the vectors before it do");
	/* a query stream's lexical query: a text, no vector (a row of zeros) */
	bool novec = v->allow_text_only && json_is_string(txt) && !json_object_get(o, "bits") &&
	             !json_object_get(o, "vector");
	if (novec && json_string_length(txt) == 0)
		FAIL("%s: line %zu (record %zu): \"text\" is empty: a text query needs words", r->name,
		     ln, rec);
	if (novec && !v->dim)
		FAIL("%s: line %zu (record %zu): a text query without a vector needs the index's "
		     "dimension", r->name, ln, rec);
	if (novec && !(s = vdb_vecs_reserve_row(v)))
		memset((char *)v->data + v->n * vdb_vecs_row_bytes(v), 0, vdb_vecs_row_bytes(v));
	else if (!novec)
		s = v->binary ? read_bits(r, v, o, ln, rec) : read_vector(r, v, o, ln, rec);
	if (s || (s = vdb_vecs_mark_row(v, novec)))
		goto out;
	if (!novec && (s = read_embedder(r, v, json_object_get(o, "embedder"), ln, rec)))
		goto out;
	/* the texts kept: id, metadata, text (jansson escapes a text's control
	 * bytes, so each stays on one line) */
	json_t *keep[VDB_NCOLS] = { id, json_is_null(meta) ? NULL : meta,
	                            json_is_null(txt) ? NULL : txt };
	unsigned set = 0;
	for (int c = 0; c < VDB_NCOLS; c++) {
		if (!keep[c])
			continue;
		text = json_dumps(keep[c], JSON_ENCODE_ANY | JSON_COMPACT | JSON_PRESERVE_ORDER);
		if (!text || (s = vdb_vecs_push(v, c, text, strlen(text)))) {
			s = vdb_fail(VDB_ENOMEM, "out of memory"); /* 70, not bad data */
			goto out;
		}
		free(text);
		text = NULL;
		set |= 1u << c;
	}
	if ((s = vdb_vecs_push_nulls(v, set)))
		goto out;
	/* a query's own k, filter, ef, nprobe, probes, exclude (query streams) */
	if (v->query_opts && (s = vdb_query_opts_read(r, v, o, ln, rec)))
		goto out;
	v->n++;
	*got = 1;
out:
	free(text);
	json_decref(o);
	return s;
}

void vdb_record_label(const char *name, size_t line, size_t rec, const json_t *obj, char *dst,
                      size_t n)
{
	json_t *id = obj ? json_object_get(obj, "id") : NULL;
	char *t = id ? json_dumps(id, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
	if (t && strlen(t) > 80)
		memcpy(t + 77, "...", 4);
	if (t)
		snprintf(dst, n, "%s: line %zu (record %zu, id %s)", name, line, rec, t);
	else
		snprintf(dst, n, "%s: line %zu (record %zu)", name, line, rec);
	free(t);
}
