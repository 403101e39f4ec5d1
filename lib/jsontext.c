/*
 * jsontext.c — the stored JSON texts of ids, metadata and texts, checked
 * before anything prints them.
 *
 * vdb stores each id as jansson dumps it (a JSON string or integer) and each
 * record's metadata as a compact JSON object (or null) and its text as a
 * JSON string (or null), and the commands
 * print those texts as they are inside their own JSONL and TSV lines. A
 * crafted file with valid checksums can hold any bytes there: an id text
 * `1], "distances": [0]}\n{"query": 1, "ids": ["FORGED"` forges a result
 * line, an empty or blank one leaves an empty slot in "ids", a raw newline
 * in metadata (JSON allows one between tokens) breaks the line. So a text is
 * printed only if it is one JSON value of its kind on one line: no byte
 * below 0x20 anywhere, and valid as jansson reads it.
 *
 * Cost. Checking every text at open would be O(all texts) before every
 * query, so printing checks what it prints. An id is checked by a scan of
 * the forms vdb writes (an integer of at most 18 digits; a string of
 * printable ASCII needing no escape), and by jansson otherwise (escapes,
 * UTF-8, long integers, anything forged): about 150 instructions a result,
 * +0.5% on 10,000 printed results of a flat index (callgrind), where
 * formatting a result line costs about 10,000. Metadata is printed only
 * with --include metadata or --get, and only jansson can say it is valid:
 * 12,000 to 18,000 instructions each, which about doubles the cost of
 * printing a result with its metadata, and is still less than reading all
 * of an index's metadata at open whenever a run prints fewer results than
 * the index holds. Stored texts (a record's "text") likewise: jansson reads
 * each one printed (--include text, --get), a cost in proportion to its
 * length, paid only by runs that print them. vdb-query --verify checks every
 * text of the file.
 */
#include "jsontext.h"
#include "index_internal.h"
#include <jansson.h>
#include <string.h>

/* No control byte: JSON's whitespace between tokens may be a tab or a
 * newline, which a JSONL or TSV line cannot hold. */
static int one_line(const char *t, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)t[i] < 0x20)
			return 0;
	return 1;
}

static int loads_as(const char *t, size_t len, int col)
{
	json_error_t err;
	json_t *j = json_loadb(t, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &err);
	int ok = col == VDB_COL_ID     ? json_is_string(j) || json_is_integer(j)
	         : col == VDB_COL_META ? json_is_object(j) || json_is_null(j)
	                               : json_is_null(j) || (json_is_string(j) &&
	                                                     json_string_length(j) <= VDB_MAX_TEXT);
	json_decref(j);
	return ok;
}

/* The bytes a JSON string holds as they are: printable ASCII but " and \\ */
static const unsigned char plain[256] = { [0x20 ... 0x21] = 1, [0x23 ... 0x5b] = 1,
                                          [0x5d ... 0x7e] = 1 };

int vdb_json_id_ok(const char *t, size_t len)
{
	if (len == 0)
		return 0;
	/* an integer as jansson writes it: -?(0|[1-9][0-9]*), at most 18
	 * digits (so it fits in 64 bits) */
	size_t i = t[0] == '-';
	if (len > i && len - i <= 18 && t[i] >= '0' && t[i] <= '9') {
		if (t[i] == '0' && len - i > 1)
			return 0;
		for (; i < len; i++)
			if (t[i] < '0' || t[i] > '9')
				return 0;
		return 1;
	}
	/* a string of printable ASCII that needs no escape */
	if (len >= 2 && t[0] == '"' && t[len - 1] == '"') {
		const unsigned char *p = (const unsigned char *)t + 1, *end = p + len - 2;
		while (p < end && plain[*p])
			p++;
		if (p == end)
			return 1;
	}
	return one_line(t, len) && loads_as(t, len, VDB_COL_ID);
}

/* Metadata (an object or null), text (a string or null). */
static int sparse_ok(const char *t, size_t len, int col)
{
	if (len == 4 && !memcmp(t, "null", 4))
		return 1;
	return one_line(t, len) && loads_as(t, len, col);
}

int vdb_json_meta_ok(const char *t, size_t len)
{
	return sparse_ok(t, len, VDB_COL_META);
}

int vdb_json_text_ok(const char *t, size_t len)
{
	return sparse_ok(t, len, VDB_COL_TEXT);
}

vdb_status vdb_index_texts_check(const vdb_index *ix, int64_t row, unsigned include)
{
	static int (*const ok[VDB_NCOLS])(const char *, size_t) = { vdb_json_id_ok,
	                                                             vdb_json_meta_ok,
	                                                             vdb_json_text_ok };
	static const char *const what[VDB_NCOLS] = {
		"id is not a JSON string or integer", "metadata is not a JSON object",
		"text is not a JSON string (of at most VDB_MAX_TEXT bytes)" };
	/* the id always (it is printed with every result), then what is included */
	unsigned cols = 1u << VDB_COL_ID | (include & VDB_INCLUDE_META ? 1u << VDB_COL_META : 0) |
	                (include & VDB_INCLUDE_TEXT ? 1u << VDB_COL_TEXT : 0);
	for (int c = 0; c < VDB_NCOLS; c++) {
		if (!(cols & 1u << c) || !ix->col[c].off)
			continue;
		size_t len = 0;
		const char *t = vdb_index_col_json(ix, c, row, &len);
		VDB_RETURN_IF(!t || !ok[c](t, len), VDB_ECORRUPT, "%s: record %lld: the stored %s on "
		              "one line (corrupt index)", ix->file ? ix->file->path : "index",
		              (long long)row, what[c]);
	}
	return VDB_OK;
}

vdb_status vdb_index_texts_verify(const vdb_index *ix)
{
	vdb_status s = VDB_OK;
	for (size_t i = 0; i < ix->count && !s; i++)
		s = vdb_index_texts_check(ix, (int64_t)i, VDB_INCLUDE_META | VDB_INCLUDE_TEXT);
	return s;
}

vdb_status vdb_json_string_bytes(const char *json, size_t len, const char **p, size_t *n,
                                 json_t **hold)
{
	*hold = NULL;
	VDB_RETURN_IF(len < 2 || json[0] != '"', VDB_EFORMAT, "%.*s is not a JSON string",
	              (int)(len > 64 ? 64 : len), json);
	if (!memchr(json, '\\', len)) {
		*p = json + 1, *n = len - 2;
		return VDB_OK;
	}
	json_error_t err;
	json_t *s = json_loadb(json, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
	if (!json_is_string(s)) {
		json_decref(s);
		return vdb_fail(VDB_EFORMAT, "%.*s is not a JSON string: %s",
		                (int)(len > 64 ? 64 : len), json, err.text);
	}
	*hold = s;
	*p = json_string_value(s), *n = json_string_length(s);
	return VDB_OK;
}
