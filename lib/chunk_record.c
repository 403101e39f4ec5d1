/*
 * chunk_record.c — the chunk records of one document.
 *
 * A chunk record is the document's record, its fields in their order, with
 * "id", "text" and "metadata" (added last if missing) replaced. Per
 * document, jansson dumps the other fields, the metadata and the id once
 * into a template (compact JSON); per chunk, the template's pieces, the id
 * with its number, the escaped text (jsonout.c) and the offsets are
 * appended to the job's output buffer. Nothing is allocated per chunk or
 * per word once the buffers have grown. A job belongs to one thread.
 */
#include "chunk_internal.h"
#include <errno.h>
#include <stdarg.h>
#include <string.h>

/* Output buffered before it is written (when the job writes at all). */
#define FLUSH_BYTES (1u << 20)

void vdb_chunk_place(const vdb_chunk_job *j, char *buf, size_t n)
{
	if (j->jsonl)
		snprintf(buf, n, "%s: line %zu (record %zu)", j->name, j->line_no, j->rec_no);
	else
		snprintf(buf, n, "%s", j->name);
}

vdb_status vdb_chunk_bad(const vdb_chunk_job *j, const char *fmt, ...)
{
	char at[160], msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	vdb_chunk_place(j, at, sizeof at);
	return vdb_fail(VDB_EFORMAT, "%s: %s", at, msg);
}

static vdb_status fill_slot(vdb_chunk_job *j, int slot, size_t s, size_t e)
{
	vdb_jout *b = &j->out;
	vdb_status st;
	switch (slot) {
	case VDB_SLOT_ID:
		if ((st = vdb_jout_raw(b, j->id_open.p, j->id_open.len)) ||
		    (st = vdb_jout_uint(b, j->n)))
			return st;
		return vdb_jout_raw(b, "\"", 1);
	case VDB_SLOT_TEXT:
		return vdb_jout_string(b, j->text + s, e - s);
	default:
		if ((st = vdb_jout_raw(b, j->meta_open.p, j->meta_open.len)) ||
		    (st = vdb_jout_uint(b, j->n)) || (st = vdb_jout_raw(b, ",\"start\":", 9)) ||
		    (st = vdb_jout_uint(b, s)) || (st = vdb_jout_raw(b, ",\"end\":", 7)) ||
		    (st = vdb_jout_uint(b, e)))
			return st;
		return vdb_jout_raw(b, "}}", 2);
	}
}

static vdb_status write_chunk(void *ctx, size_t s, size_t e)
{
	vdb_chunk_job *j = ctx;
	vdb_status st = VDB_OK;
	for (int i = 0; !st && i <= VDB_NSLOTS; i++) {
		st = vdb_jout_raw(&j->out, j->tmpl.p + j->piece[i], j->piece[i + 1] - j->piece[i]);
		if (!st && i < VDB_NSLOTS)
			st = fill_slot(j, j->slot[i], s, e);
	}
	if (!st)
		st = vdb_jout_raw(&j->out, "\n", 1);
	if (!st && j->file && j->out.len >= FLUSH_BYTES)
		st = vdb_chunk_flush(j, j->file);
	if (!st)
		j->n++;
	return st;
}

/* Append a jansson value's compact JSON text to b (skip: bytes left off
 * its end). */
static vdb_status put_json(vdb_jout *b, const json_t *v, size_t skip)
{
	char *d = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	if (!d)
		return vdb_fail(VDB_ENOMEM, "out of memory");
	size_t n = strlen(d);
	vdb_status s = vdb_jout_raw(b, d, n - (skip < n ? skip : n));
	free(d);
	return s;
}

/* One field of the record into the template: "key": and its value, or a
 * slot for the chunk's own id, text or metadata. */
static vdb_status put_field(vdb_chunk_job *j, const char *key, const json_t *v, int *nslots)
{
	vdb_status s = VDB_OK;
	if (j->tmpl.len > 1)
		s = vdb_jout_raw(&j->tmpl, ",", 1);
	if (s || (s = vdb_jout_string(&j->tmpl, key, strlen(key))) ||
	    (s = vdb_jout_raw(&j->tmpl, ":", 1)))
		return s;
	int slot = !strcmp(key, "id") ? VDB_SLOT_ID : !strcmp(key, "text") ? VDB_SLOT_TEXT
	         : !strcmp(key, "metadata") ? VDB_SLOT_META : -1;
	if (slot < 0)
		return put_json(&j->tmpl, v, 0);
	j->slot[*nslots] = slot;
	j->piece[++*nslots] = j->tmpl.len;
	return VDB_OK;
}

/* The fixed parts of the document's chunk records: rec's fields (NULL: a
 * plain document, id, text and metadata only), the id's and the
 * metadata's opening. */
static vdb_status make_template(vdb_chunk_job *j, json_t *rec, json_t *id, json_t *meta)
{
	j->tmpl.len = j->id_open.len = j->meta_open.len = 0;
	j->piece[0] = 0;
	int nslots = 0;
	vdb_status s = vdb_jout_raw(&j->tmpl, "{", 1);
	const char *key;
	json_t *v;
	if (rec)
		json_object_foreach(rec, key, v)
			if (!s)
				s = put_field(j, key, v, &nslots);
	if (!rec && !s && !(s = put_field(j, "id", NULL, &nslots)))
		s = put_field(j, "text", NULL, &nslots);
	if (!s && nslots < VDB_NSLOTS) /* no "metadata": added last */
		s = put_field(j, "metadata", NULL, &nslots);
	if (!s && !(s = vdb_jout_raw(&j->tmpl, "}", 1)))
		j->piece[VDB_NSLOTS + 1] = j->tmpl.len;
	if (s)
		return s;

	char num[32];
	const char *idt = num;
	size_t idlen;
	if (json_is_string(id)) {
		idt = json_string_value(id);
		idlen = json_string_length(id);
	} else
		idlen = (size_t)snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT,
		                         json_integer_value(id));
	if ((s = vdb_jout_string_open(&j->id_open, idt, idlen)) ||
	    (s = vdb_jout_raw(&j->id_open, "#", 1)))
		return s;
	bool empty = !meta || !json_is_object(meta) || json_object_size(meta) == 0;
	if (empty)
		s = vdb_jout_raw(&j->meta_open, "{", 1);
	else if (!(s = put_json(&j->meta_open, meta, 1)))
		s = vdb_jout_raw(&j->meta_open, ",", 1);
	if (s || (s = vdb_jout_raw(&j->meta_open, "\"chunk\":{\"source\":", 18)) ||
	    (s = json_is_string(id) ? vdb_jout_string(&j->meta_open, idt, idlen)
	                            : vdb_jout_raw(&j->meta_open, num, idlen)))
		return s;
	return vdb_jout_raw(&j->meta_open, ",\"number\":", 10);
}

vdb_status vdb_chunk_document(vdb_chunk_job *j, json_t *rec, json_t *id, json_t *meta,
                              const char *text, size_t len)
{
	j->text = text;
	j->n = 0;
	vdb_status s = make_template(j, rec, id, meta);
	return s ? s : vdb_chunk_text(j->c, text, len, write_chunk, j);
}

vdb_status vdb_chunk_flush(vdb_chunk_job *j, FILE *f)
{
	if (j->out.len && fwrite(j->out.p, 1, j->out.len, f) != j->out.len)
		return vdb_fail(VDB_EIO, "writing the chunks failed: %s", strerror(errno));
	j->out.len = 0;
	return VDB_OK;
}

void vdb_chunk_job_free(vdb_chunk_job *j)
{
	vdb_jout_free(&j->out);
	vdb_jout_free(&j->tmpl);
	vdb_jout_free(&j->id_open);
	vdb_jout_free(&j->meta_open);
}
