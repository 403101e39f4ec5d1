/*
 * jsonout.c — JSON text appended to a growing byte buffer.
 *
 * vdb-text chunk writes one record per chunk, and building each as jansson
 * values to dump them costs more than all the chunking (jansson escapes a
 * string character by character through a callback, and formats integers
 * with snprintf). Here a string is copied in runs between the bytes that
 * need an escape, found by a table, and an integer is written by hand. The
 * text written is what jansson writes with JSON_COMPACT (not
 * JSON_ENSURE_ASCII): the same escapes, UTF-8 as is. Callers pass valid
 * UTF-8; nothing here checks it. No state but the buffer: thread-safe on
 * distinct buffers.
 */
#include "jsonout.h"
#include <string.h>

/* 1: the byte needs an escape ('"', '\\', and below 0x20) */
static const unsigned char needs_escape[256] = {
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	['"'] = 1, ['\\'] = 1
};

static vdb_status reserve(vdb_jout *b, size_t more)
{
	size_t need;
	if (!vdb_add_ok(b->len, more, &need))
		return vdb_fail(VDB_ENOMEM, "out of memory: a JSON text of more than %zu bytes",
		                SIZE_MAX);
	if (need <= b->cap)
		return VDB_OK;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	char *p = vdb_realloc(b->p, cap, "JSON output");
	if (!p)
		return VDB_ENOMEM;
	b->p = p;
	b->cap = cap;
	return VDB_OK;
}

vdb_status vdb_jout_raw(vdb_jout *b, const char *s, size_t n)
{
	vdb_status st = reserve(b, n);
	if (st)
		return st;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	return VDB_OK;
}

vdb_status vdb_jout_string_open(vdb_jout *b, const char *s, size_t n)
{
	size_t most;
	if (!vdb_mul_ok(n, 6, &most) || !vdb_add_ok(most, 1, &most))
		return vdb_fail(VDB_ENOMEM, "out of memory: a string of %zu bytes", n);
	vdb_status st = reserve(b, most); /* every byte escaped as \u00XX */
	if (st)
		return st;
	char *o = b->p + b->len;
	*o++ = '"';
	size_t i = 0;
	while (i < n) {
		size_t run = i;
		while (run < n && !needs_escape[(unsigned char)s[run]])
			run++;
		memcpy(o, s + i, run - i);
		o += run - i;
		if (run == n)
			break;
		unsigned char c = (unsigned char)s[run];
		*o++ = '\\';
		switch (c) {
		case '"': *o++ = '"'; break;
		case '\\': *o++ = '\\'; break;
		case '\b': *o++ = 'b'; break;
		case '\f': *o++ = 'f'; break;
		case '\n': *o++ = 'n'; break;
		case '\r': *o++ = 'r'; break;
		case '\t': *o++ = 't'; break;
		default:
			memcpy(o, "u00", 3);
			o[3] = "0123456789ABCDEF"[c >> 4];
			o[4] = "0123456789ABCDEF"[c & 15];
			o += 5;
		}
		i = run + 1;
	}
	b->len = (size_t)(o - b->p);
	return VDB_OK;
}

vdb_status vdb_jout_string(vdb_jout *b, const char *s, size_t n)
{
	vdb_status st = vdb_jout_string_open(b, s, n);
	return st ? st : vdb_jout_raw(b, "\"", 1);
}

vdb_status vdb_jout_uint(vdb_jout *b, unsigned long long v)
{
	char d[20];
	size_t k = sizeof d;
	do
		d[--k] = (char)('0' + v % 10);
	while ((v /= 10));
	return vdb_jout_raw(b, d + k, sizeof d - k);
}

void vdb_jout_free(vdb_jout *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

vdb_status vdb_json_line(FILE *f, json_t *o)
{
	char *text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10))
	               : NULL;
	json_decref(o);
	VDB_RETURN_IF(!text, VDB_ENOMEM, "out of memory writing a JSON line");
	fputs(text, f);
	fputc('\n', f);
	free(text);
	return VDB_OK;
}
