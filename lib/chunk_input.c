/*
 * chunk_input.c — vdb-text chunk's filter: documents in, chunk records out.
 *
 * An input is JSONL (one document a line: "id", "text", optional
 * "metadata", any other fields) when its first non-blank byte is '{', else
 * one plain text document named by its path. Inputs are streamed: JSONL
 * line by line through the reader's buffer (a line at most VDB_MAX_LINE), a
 * plain document read whole (at most VDB_MAX_DOCUMENT). Everything about a
 * document is checked before its first chunk is written — the record, the
 * id, the text, and that the text is UTF-8 (vdb_utf8_invalid; jansson also
 * refuses invalid UTF-8 and lone surrogate escapes in JSON strings) — so a
 * bad document writes nothing; the chunks of the documents before it are
 * out already, as from any streaming filter, and the status says so.
 *
 * Output: the document's record itself (jansson keeps its fields in their
 * order) with "id", "text" and metadata's "chunk" set in place for each
 * chunk, dumped compact into one reused buffer and written with one fwrite.
 * Per chunk that costs a copy of the chunk's text; nothing per word.
 */
#include "reader_internal.h"
#include "utf8.h"
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>

/* Documents between two progress reports. */
#define PROGRESS_EVERY 4096

typedef struct {
	vdb_chunker *c;
	const vdb_chunk_hooks *h;
	FILE *out;
	vdb_chunk_stats *st;
	vdb_reader *r;
	char where[160];        /* "NAME: line L (record R)" or "NAME", for messages */
	/* the document being chunked */
	const char *text;       /* its text, valid UTF-8 */
	json_t *rec;            /* the output record, changed in place per chunk */
	json_t *id, *chunk_text, *number, *start, *end;
	char *doc_id;           /* the document's id as text, then "#" */
	size_t doc_id_len, n;   /* n: chunks written of this document */
	char *buf;              /* the dumped record */
	size_t cap;
} chunk_job;

static void warn(chunk_job *j, const char *what)
{
	if (!j->h || !j->h->warn)
		return;
	char msg[256];
	snprintf(msg, sizeof msg, "%s: %s", j->where, what);
	j->h->warn(j->h->warn_ctx, msg);
}

/* ===== One document ===== */
static vdb_status write_chunk(void *ctx, size_t s, size_t e)
{
	chunk_job *j = ctx;
	char num[24];
	int k = snprintf(num, sizeof num, "%zu", j->n);
	memcpy(j->doc_id + j->doc_id_len, num, (size_t)k);
	if (json_string_setn_nocheck(j->id, j->doc_id, j->doc_id_len + (size_t)k) ||
	    json_string_setn_nocheck(j->chunk_text, j->text + s, e - s) ||
	    json_integer_set(j->number, (json_int_t)j->n) ||
	    json_integer_set(j->start, (json_int_t)s) || json_integer_set(j->end, (json_int_t)e))
		return vdb_fail(VDB_ENOMEM, "out of memory");
	for (;;) {
		size_t need = json_dumpb(j->rec, j->buf, j->cap, JSON_COMPACT | JSON_PRESERVE_ORDER);
		if (need == 0)
			return vdb_fail(VDB_ENOMEM, "%s: chunk %zu: cannot write its record", j->where,
			                j->n);
		if (need < j->cap) {
			j->buf[need] = '\n';
			if (fwrite(j->buf, 1, need + 1, j->out) != need + 1)
				return vdb_fail(VDB_EIO, "writing the chunks failed: %s", strerror(errno));
			break;
		}
		void *b = vdb_realloc(j->buf, need + need / 2 + 1, "chunk record");
		if (!b)
			return VDB_ENOMEM;
		j->buf = b;
		j->cap = need + need / 2 + 1;
	}
	j->n++;
	j->st->chunks++;
	return VDB_OK;
}

/* Chunk the document of record rec (its "id" is id_val, text text[0, len),
 * metadata meta: an object without "chunk"), writing rec once per chunk. */
static vdb_status chunk_document(chunk_job *j, json_t *rec, json_t *id_val, json_t *meta,
                                 const char *text, size_t len)
{
	char idbuf[32];
	const char *idt = idbuf;
	size_t idlen;
	if (json_is_string(id_val)) {
		idt = json_string_value(id_val);
		idlen = json_string_length(id_val);
	} else
		idlen = (size_t)snprintf(idbuf, sizeof idbuf, "%" JSON_INTEGER_FORMAT,
		                         json_integer_value(id_val));
	vdb_status s = VDB_OK;
	json_t *chunk = json_object();
	j->doc_id = vdb_malloc(idlen + 24, "chunk id");
	j->id = json_string("");
	j->chunk_text = json_string("");
	j->number = json_integer(0);
	j->start = json_integer(0);
	j->end = json_integer(0);
	if (!chunk || !j->doc_id || !j->id || !j->chunk_text || !j->number || !j->start ||
	    !j->end || json_object_set(chunk, "source", id_val) ||
	    json_object_set(chunk, "number", j->number) ||
	    json_object_set(chunk, "start", j->start) || json_object_set(chunk, "end", j->end) ||
	    json_object_set(meta, "chunk", chunk) || json_object_set(rec, "id", j->id) ||
	    json_object_set(rec, "text", j->chunk_text) || json_object_set(rec, "metadata", meta)) {
		s = vdb_fail(VDB_ENOMEM, "out of memory");
		goto out;
	}
	memcpy(j->doc_id, idt, idlen);
	j->doc_id[idlen] = '#';
	j->doc_id_len = idlen + 1;
	j->rec = rec;
	j->text = text;
	j->n = 0;
	s = vdb_chunk_text(j->c, text, len, write_chunk, j);
	if (!s && j->n == 0) {
		j->st->empty++;
		warn(j, "the text is only whitespace: no chunks");
	}
out:
	json_decref(chunk);
	json_decref(j->id);
	json_decref(j->chunk_text);
	json_decref(j->number);
	json_decref(j->start);
	json_decref(j->end);
	free(j->doc_id);
	j->doc_id = NULL;
	j->st->documents++;
	if (j->h && j->h->progress && j->st->documents % PROGRESS_EVERY == 0)
		j->h->progress(j->h->progress_ctx, j->st->documents, 0);
	return s;
}

/* ===== JSONL ===== */
#define BAD(...) do { s = vdb_fail(VDB_EFORMAT, __VA_ARGS__); goto out; } while (0)

/* The next line of the input, at r's buffer: *line, *len; *got false at
 * the end of the input. */
static vdb_status read_line(vdb_reader *r, const char **line, size_t *len, bool *got)
{
	*got = false;
	for (size_t from = 0;;) {
		size_t have = r->len - r->pos;
		const char *start = (const char *)r->buf + r->pos;
		const char *nl = memchr(start + from, '\n', have - from);
		size_t n = nl ? (size_t)(nl - start) : have;
		/* bounded, or a file without newlines would be buffered whole */
		VDB_RETURN_IF(n > VDB_MAX_LINE, VDB_EFORMAT, "%s: line %zu is longer than the limit "
		              "of %u MiB (VDB_MAX_LINE)", r->name, r->line + 1, VDB_MAX_LINE >> 20);
		if (nl || (r->eof && have)) {
			*line = start;
			*len = n;
			*got = true;
			r->pos += n + (nl != NULL);
			r->line++;
			return VDB_OK;
		}
		if (r->eof)
			return VDB_OK;
		from = have;
		vdb_status s = vdb_rd_want(r, have + 1, &have);
		if (s)
			return s;
	}
}

/* Only spaces, tabs and carriage returns? (skipped, as vdb's JSONL reader does) */
static bool blank_line(const char *s, size_t n)
{
	size_t i = 0;
	while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r'))
		i++;
	return i == n;
}

/* One JSONL record: check it whole, then chunk it. */
static vdb_status jsonl_record(chunk_job *j, const char *line, size_t len)
{
	vdb_reader *r = j->r;
	snprintf(j->where, sizeof j->where, "%s: line %zu (record %zu)", r->name, r->line,
	         r->records);
	const char *w = j->where;
	vdb_status s = VDB_OK;
	json_t *o = NULL, *meta = NULL, *text = NULL;
	size_t bad = vdb_utf8_invalid((const unsigned char *)line, len);
	if (bad < len)
		BAD("%s: invalid UTF-8 at byte %zu of the line (0x%02x): texts must be UTF-8", w, bad,
		    (unsigned char)line[bad]);
	json_error_t err;
	o = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
	if (!o)
		BAD("%s: malformed JSON: %s at column %d", w, err.text, err.column);
	if (!json_is_object(o))
		BAD("%s: expected an object with \"id\" and \"text\"", w);
	json_t *id = json_object_get(o, "id");
	if (!id)
		BAD("%s: \"id\" is missing (a document needs one: its chunks are ID#0, ID#1, ...)", w);
	if (!json_is_integer(id) && !(json_is_string(id) && json_string_length(id) > 0))
		BAD("%s: \"id\" must be a non-empty string or an integer", w);
	text = json_object_get(o, "text");
	if (!text)
		BAD("%s: \"text\" is missing", w);
	if (!json_is_string(text))
		BAD("%s: \"text\" must be a string", w);
	if (json_string_length(text) == 0)
		BAD("%s: \"text\" is empty", w);
	json_incref(text); /* the source, while "text" holds each chunk */
	meta = json_object_get(o, "metadata");
	if (meta && !json_is_object(meta) && !json_is_null(meta))
		BAD("%s: \"metadata\" must be an object", w);
	if (meta && json_object_get(meta, "chunk"))
		BAD("%s: \"metadata\" has a \"chunk\" already (is this a chunk record? chunks are "
		    "not chunked again)", w);
	meta = meta && json_is_object(meta) ? json_incref(meta) : json_object();
	if (!meta) {
		s = vdb_fail(VDB_ENOMEM, "out of memory");
		goto out;
	}
	json_incref(id); /* rec's "id" is replaced */
	s = chunk_document(j, o, id, meta, json_string_value(text), json_string_length(text));
	json_decref(id);
out:
	json_decref(meta);
	json_decref(text);
	json_decref(o);
	return s;
}

static vdb_status chunk_jsonl(chunk_job *j)
{
	vdb_reader *r = j->r;
	for (;;) {
		const char *line;
		size_t len;
		bool got;
		vdb_status s = read_line(r, &line, &len, &got);
		if (s || !got)
			return s;
		j->st->bytes += len + 1;
		if (blank_line(line, len))
			continue;
		if ((s = jsonl_record(j, line, len)))
			return s;
		r->records++;
	}
}

/* ===== Plain text ===== */
static vdb_status chunk_plain(chunk_job *j, const char *path)
{
	vdb_reader *r = j->r;
	snprintf(j->where, sizeof j->where, "%s", r->name);
	size_t avail = r->len - r->pos;
	while (!r->eof) {
		VDB_RETURN_IF(avail > VDB_MAX_DOCUMENT, VDB_EFORMAT,
		              "%s: the document is longer than the limit of %u MiB (VDB_MAX_DOCUMENT)"
		              "; split the file, or make it JSONL records", r->name,
		              VDB_MAX_DOCUMENT >> 20);
		size_t want = avail < (1u << 20) ? 1u << 21 : 2 * avail;
		vdb_status s = vdb_rd_want(r, want > VDB_MAX_DOCUMENT ? VDB_MAX_DOCUMENT + 1u : want,
		                           &avail);
		if (s)
			return s;
	}
	VDB_RETURN_IF(avail > VDB_MAX_DOCUMENT, VDB_EFORMAT,
	              "%s: the document is longer than the limit of %u MiB (VDB_MAX_DOCUMENT); "
	              "split the file, or make it JSONL records", r->name, VDB_MAX_DOCUMENT >> 20);
	const char *text = (const char *)r->buf + r->pos;
	j->st->bytes += avail;
	size_t bad = vdb_utf8_invalid((const unsigned char *)text, avail);
	VDB_RETURN_IF(bad < avail, VDB_EFORMAT,
	              "%s: invalid UTF-8 at byte %zu (0x%02x): a plain text document must be "
	              "UTF-8", r->name, bad, (unsigned char)text[bad]);
	const char *name = path ? path : "stdin";
	bad = vdb_utf8_invalid((const unsigned char *)name, strlen(name));
	VDB_RETURN_IF(name[bad], VDB_EFORMAT, "%s: the file name, the document's id, is not "
	              "UTF-8 (byte %zu); rename the file", name, bad);
	json_t *rec = json_object(), *id = json_string(name);
	json_t *meta = json_object();
	vdb_status s = !rec || !id || !meta || json_object_set(rec, "id", id)
	               ? vdb_fail(VDB_ENOMEM, "out of memory")
	               : chunk_document(j, rec, id, meta, text, avail);
	json_decref(rec);
	json_decref(id);
	json_decref(meta);
	return s;
}

/* ===== The input ===== */
/* Is the input JSONL: '{' as its first non-blank byte? (peeks only) */
static vdb_status is_jsonl(vdb_reader *r, bool *jsonl)
{
	*jsonl = false;
	for (size_t i = 0;; i++) {
		size_t avail;
		vdb_status s = vdb_rd_want(r, i + 1, &avail);
		if (s || avail <= i)
			return s;
		unsigned char ch = r->buf[r->pos + i];
		if (ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r') {
			*jsonl = ch == '{';
			return VDB_OK;
		}
	}
}

vdb_status vdb_chunk_input(vdb_chunker *c, const char *path, const vdb_chunk_hooks *hooks,
                           FILE *out, vdb_chunk_stats *st)
{
	bool is_stdin = !path || !strcmp(path, "-");
	if (!is_stdin) {
		struct stat sb;
		VDB_RETURN_IF(stat(path, &sb) == 0 && S_ISDIR(sb.st_mode), VDB_ENOENT,
		              "%s: is a directory (give its files: DIR/*)", path);
	}
	chunk_job j = { .c = c, .h = hooks, .out = out, .st = st };
	vdb_status s = vdb_reader_open(&j.r, is_stdin ? "-" : path, VDB_FMT_JSONL);
	if (s)
		return s;
	bool jsonl = false;
	if (!(hooks && hooks->plain))
		s = is_jsonl(j.r, &jsonl);
	if (!s)
		s = jsonl ? chunk_jsonl(&j) : chunk_plain(&j, is_stdin ? NULL : path);
	if (!s && ferror(out))
		s = vdb_fail(VDB_EIO, "writing the chunks failed");
	free(j.buf);
	vdb_reader_close(j.r);
	return s;
}
