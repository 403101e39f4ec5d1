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
 * Output: a chunk record is the document's record, its fields in their
 * order, with "id", "text" and "metadata" (added last if missing) replaced.
 * Per document, jansson dumps the other fields, the metadata and the id
 * once into a template (compact); per chunk, the template's pieces, the id
 * with its number, the escaped text (lib/jsonout.c) and the offsets go into
 * one reused buffer, written with one fwrite. Nothing is allocated per
 * chunk or per word once the buffers have grown.
 */
#include "reader_internal.h"
#include "jsonout.h"
#include "utf8.h"
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>

/* Documents between two progress reports. */
#define PROGRESS_EVERY 4096

/* The three fields a chunk record sets; the others are copied as they are. */
enum { SLOT_ID, SLOT_TEXT, SLOT_META, NSLOTS };

typedef struct {
	vdb_chunker *c;
	const vdb_chunk_hooks *h;
	FILE *out;
	vdb_chunk_stats *st;
	vdb_reader *r;
	bool jsonl;             /* the input is JSONL: documents are named by line */
	/* the document being chunked: its record is the text of tmpl with the
	 * slots filled in: piece 0, slot[0], piece 1, slot[1], piece 2,
	 * slot[2], piece 3, where piece i is tmpl.p[piece[i], piece[i + 1]) */
	const char *text;       /* its text, valid UTF-8 */
	vdb_jout tmpl;          /* '{', the other fields, the keys of the slots, '}' */
	size_t piece[NSLOTS + 2];
	int slot[NSLOTS];
	vdb_jout id_open;       /* "DOC#  (the id slot, its number and '"' to come) */
	vdb_jout meta_open;     /* {...,"chunk":{"source":DOC,"number":  */
	size_t n;               /* chunks written of this document */
	vdb_jout line;          /* the chunk record being written */
} chunk_job;

/* The document being read, for messages: "NAME: line L (record R)" or "NAME". */
static void place(const chunk_job *j, char *buf, size_t n)
{
	if (j->jsonl) /* the line is read, the record not yet counted */
		snprintf(buf, n, "%s: line %zu (record %zu)", j->r->name, j->r->line, j->r->records);
	else
		snprintf(buf, n, "%s", j->r->name);
}

static void warn(const chunk_job *j, const char *what)
{
	if (!j->h || !j->h->warn)
		return;
	char at[160], msg[256];
	place(j, at, sizeof at);
	snprintf(msg, sizeof msg, "%s: %s", at, what);
	j->h->warn(j->h->warn_ctx, msg);
}

/* VDB_EFORMAT: the document is bad, the message names it. */
static __attribute__((format(printf, 2, 3))) vdb_status bad(const chunk_job *j,
                                                            const char *fmt, ...)
{
	char at[160], msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	place(j, at, sizeof at);
	return vdb_fail(VDB_EFORMAT, "%s: %s", at, msg);
}

/* ===== One document ===== */
static vdb_status fill_slot(chunk_job *j, int slot, size_t s, size_t e)
{
	vdb_jout *b = &j->line;
	vdb_status st;
	switch (slot) {
	case SLOT_ID:
		if ((st = vdb_jout_raw(b, j->id_open.p, j->id_open.len)) ||
		    (st = vdb_jout_uint(b, j->n)))
			return st;
		return vdb_jout_raw(b, "\"", 1);
	case SLOT_TEXT:
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
	chunk_job *j = ctx;
	vdb_status st = VDB_OK;
	j->line.len = 0;
	for (int i = 0; !st && i <= NSLOTS; i++) {
		st = vdb_jout_raw(&j->line, j->tmpl.p + j->piece[i], j->piece[i + 1] - j->piece[i]);
		if (!st && i < NSLOTS)
			st = fill_slot(j, j->slot[i], s, e);
	}
	if (!st)
		st = vdb_jout_raw(&j->line, "\n", 1);
	if (st)
		return st;
	if (fwrite(j->line.p, 1, j->line.len, j->out) != j->line.len)
		return vdb_fail(VDB_EIO, "writing the chunks failed: %s", strerror(errno));
	j->n++;
	j->st->chunks++;
	return VDB_OK;
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
static vdb_status put_field(chunk_job *j, const char *key, const json_t *v, int *nslots)
{
	vdb_status s = VDB_OK;
	if (j->tmpl.len > 1)
		s = vdb_jout_raw(&j->tmpl, ",", 1);
	if (s || (s = vdb_jout_string(&j->tmpl, key, strlen(key))) ||
	    (s = vdb_jout_raw(&j->tmpl, ":", 1)))
		return s;
	int slot = !strcmp(key, "id") ? SLOT_ID : !strcmp(key, "text") ? SLOT_TEXT
	         : !strcmp(key, "metadata") ? SLOT_META : -1;
	if (slot < 0)
		return put_json(&j->tmpl, v, 0);
	j->slot[*nslots] = slot;
	j->piece[++*nslots] = j->tmpl.len;
	return VDB_OK;
}

/* The fixed parts of the document's chunk records: rec's fields (NULL: a
 * plain document, id, text and metadata only), the id's and the
 * metadata's opening. */
static vdb_status make_template(chunk_job *j, json_t *rec, json_t *id, json_t *meta)
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
	if (!s && nslots < NSLOTS) /* no "metadata": added last */
		s = put_field(j, "metadata", NULL, &nslots);
	if (!s && !(s = vdb_jout_raw(&j->tmpl, "}", 1)))
		j->piece[NSLOTS + 1] = j->tmpl.len;
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

/* Chunk the document of record rec (NULL for a plain document) with id
 * id, text text[0, len) and metadata meta (NULL, null or an object without
 * "chunk"), writing one record per chunk. */
static vdb_status chunk_document(chunk_job *j, json_t *rec, json_t *id, json_t *meta,
                                 const char *text, size_t len)
{
	vdb_status s = make_template(j, rec, id, meta);
	j->text = text;
	j->n = 0;
	if (!s)
		s = vdb_chunk_text(j->c, text, len, write_chunk, j);
	if (!s && j->n == 0) {
		j->st->empty++;
		warn(j, "the text is only whitespace: no chunks");
	}
	j->st->documents++;
	if (j->h && j->h->progress && j->st->documents % PROGRESS_EVERY == 0)
		j->h->progress(j->h->progress_ctx, j->st->documents, 0);
	return s;
}

/* ===== JSONL ===== */
#define BAD(...) do { s = bad(j, __VA_ARGS__); goto out; } while (0)

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
	vdb_status s = VDB_OK;
	json_t *o = NULL, *meta, *text;
	size_t off = vdb_utf8_invalid((const unsigned char *)line, len);
	if (off < len)
		BAD("invalid UTF-8 at byte %zu of the line (0x%02x): texts must be UTF-8", off,
		    (unsigned char)line[off]);
	json_error_t err;
	o = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
	if (!o)
		BAD("malformed JSON: %s at column %d", err.text, err.column);
	if (!json_is_object(o))
		BAD("expected an object with \"id\" and \"text\"");
	json_t *id = json_object_get(o, "id");
	if (!id)
		BAD("\"id\" is missing (a document needs one: its chunks are ID#0, ID#1, ...)");
	if (!json_is_integer(id) && !(json_is_string(id) && json_string_length(id) > 0))
		BAD("\"id\" must be a non-empty string or an integer");
	text = json_object_get(o, "text");
	if (!text)
		BAD("\"text\" is missing");
	if (!json_is_string(text))
		BAD("\"text\" must be a string");
	if (json_string_length(text) == 0)
		BAD("\"text\" is empty");
	meta = json_object_get(o, "metadata");
	if (meta && !json_is_object(meta) && !json_is_null(meta))
		BAD("\"metadata\" must be an object");
	if (meta && json_object_get(meta, "chunk"))
		BAD("\"metadata\" has a \"chunk\" already (is this a chunk record? chunks are "
		    "not chunked again)");
	s = chunk_document(j, o, id, meta, json_string_value(text), json_string_length(text));
out:
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
static vdb_status too_long(const vdb_reader *r)
{
	return vdb_fail(VDB_EFORMAT, "%s: the document is longer than the limit of %u MiB "
	                "(VDB_MAX_DOCUMENT); split the file, or make it JSONL records", r->name,
	                VDB_MAX_DOCUMENT >> 20);
}

static vdb_status chunk_plain(chunk_job *j, const char *path)
{
	vdb_reader *r = j->r;
	struct stat sb; /* a file's size is known: refuse before reading it */
	if (fstat(r->fd, &sb) == 0 && S_ISREG(sb.st_mode) &&
	    (unsigned long long)sb.st_size > VDB_MAX_DOCUMENT)
		return too_long(r);
	size_t avail = r->len - r->pos;
	while (!r->eof && avail <= VDB_MAX_DOCUMENT) { /* a pipe: read up to one byte over */
		size_t want = avail < (1u << 20) ? 1u << 21 : 2 * avail;
		vdb_status s = vdb_rd_want(r, want > VDB_MAX_DOCUMENT ? VDB_MAX_DOCUMENT + 1u : want,
		                           &avail);
		if (s)
			return s;
	}
	if (avail > VDB_MAX_DOCUMENT)
		return too_long(r);
	const char *text = (const char *)r->buf + r->pos;
	j->st->bytes += avail;
	size_t off = vdb_utf8_invalid((const unsigned char *)text, avail);
	VDB_RETURN_IF(off < avail, VDB_EFORMAT,
	              "%s: invalid UTF-8 at byte %zu (0x%02x): a plain text document must be "
	              "UTF-8", r->name, off, (unsigned char)text[off]);
	const char *name = path ? path : "stdin";
	off = vdb_utf8_invalid((const unsigned char *)name, strlen(name));
	VDB_RETURN_IF(name[off], VDB_EFORMAT, "%s: the file name, the document's id, is not "
	              "UTF-8 (byte %zu); rename the file", name, off);
	json_t *id = json_string(name);
	vdb_status s = id ? chunk_document(j, NULL, id, NULL, text, avail)
	                  : vdb_fail(VDB_ENOMEM, "out of memory");
	json_decref(id);
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
	j.jsonl = jsonl;
	if (!s)
		s = jsonl ? chunk_jsonl(&j) : chunk_plain(&j, is_stdin ? NULL : path);
	if (!s && ferror(out))
		s = vdb_fail(VDB_EIO, "writing the chunks failed");
	vdb_jout_free(&j.tmpl);
	vdb_jout_free(&j.id_open);
	vdb_jout_free(&j.meta_open);
	vdb_jout_free(&j.line);
	vdb_reader_close(j.r);
	return s;
}
