/*
 * chunk_input.c — vdb-text chunk's filter: documents in, chunk records out.
 *
 * An input is JSONL (one document a line: "id", "text", optional
 * "metadata", any other fields) when its first non-blank byte is '{', else
 * one plain text document named by its path. Everything about a document
 * is checked before its first chunk is written — the record, the id, the
 * text, and that the text is UTF-8 (vdb_utf8_invalid on the raw bytes;
 * jansson also refuses lone surrogate escapes) — so a bad document writes
 * nothing; the chunks of the documents before it are out already, as from
 * any streaming filter, and the status says so.
 *
 * JSONL is read in batches of lines (at most BATCH_RECORDS and about
 * BATCH_BYTES; less when a pipe has nothing more waiting, so that a
 * producer that pauses gets its chunks). jansson's parsing costs more than
 * all the rest, so a batch's records are parsed and chunked in parallel
 * (OpenMP, one vdb_chunk_job with its own chunker per thread, each record's
 * output kept in its thread's buffer) and written in input order by one
 * thread, which also counts, warns and reports progress. The first bad
 * record of a batch, in input order, is the error; the records before it
 * are written. A plain document is read whole (at most VDB_MAX_DOCUMENT)
 * and chunked by one thread.
 */
#include "chunk_internal.h"
#include "reader_internal.h"
#include "utf8.h"
#include <errno.h>
#include <omp.h>
#include <string.h>
#include <sys/stat.h>

#define BATCH_RECORDS 16384
#define BATCH_BYTES (16u << 20)
/* Documents between two progress reports. */
#define PROGRESS_EVERY 4096

static void warn_empty(const vdb_chunk_job *j, const vdb_chunk_hooks *h)
{
	if (!h || !h->warn)
		return;
	char at[160], msg[256];
	vdb_chunk_place(j, at, sizeof at);
	snprintf(msg, sizeof msg, "%s: the text is empty or only whitespace: no chunks", at);
	h->warn(h->warn_ctx, msg);
}

/* One document done: count it, warn if it had no chunk, report progress. */
static void done(const vdb_chunk_job *j, size_t chunks, const vdb_chunk_hooks *h,
                 vdb_chunk_stats *st)
{
	st->documents++;
	st->chunks += chunks;
	if (chunks == 0) {
		st->empty++;
		warn_empty(j, h);
	}
	if (h && h->progress && st->documents % PROGRESS_EVERY == 0)
		h->progress(h->progress_ctx, st->documents, 0);
}

/* ===== JSONL ===== */
#define BAD(...) do { s = vdb_chunk_bad(j, __VA_ARGS__); goto out; } while (0)

/* One JSONL record (j->line_no, j->rec_no set): check it whole, then chunk it. */
static vdb_status jsonl_record(vdb_chunk_job *j, const char *line, size_t len)
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
	s = vdb_chunk_document(j, o, id, meta, json_string_value(text), json_string_length(text));
out:
	json_decref(o);
	return s;
}

typedef struct {
	size_t off, len;      /* the line, in the batch's text */
	size_t line, rec;     /* its numbers */
	int worker;           /* the thread that chunked it */
	size_t out_off, out_len, chunks; /* its records in that thread's output */
} batch_doc;

typedef struct {
	vdb_chunk_job job;
	vdb_status err;       /* the first error of this thread (its smallest record) */
	size_t err_i;
	char msg[1024];
} worker;

typedef struct {
	vdb_reader *r;
	vdb_jout text;        /* the batch's lines */
	batch_doc *docs;
	size_t n, cap;
	worker *w;
	int nw;
	bool paused;          /* the batch ended because the input had nothing waiting */
} batch;

/* Read the next batch of records into b (b->n 0 at the end of the input). */
static vdb_status read_batch(batch *b, vdb_chunk_stats *st)
{
	vdb_reader *r = b->r;
	b->n = 0;
	b->text.len = 0;
	b->paused = false;
	while (b->n < BATCH_RECORDS && b->text.len < BATCH_BYTES) {
		const char *line;
		size_t len;
		bool got;
		vdb_status s = vdb_rd_line(r, &line, &len, &got);
		if (s || !got)
			return s;
		st->bytes += len + 1;
		if (vdb_blank_line(line, len))
			continue;
		if ((s = vdb_grow((void **)&b->docs, &b->cap, b->n + 1, sizeof *b->docs, "batch")))
			return s;
		b->docs[b->n++] = (batch_doc){ .off = b->text.len, .len = len, .line = r->line,
		                               .rec = r->records++ };
		if ((s = vdb_jout_raw(&b->text, line, len)))
			return s;
		/* a producer that pauses gets the chunks of what it sent */
		if (!memchr(r->buf + r->pos, '\n', r->len - r->pos) && vdb_rd_would_block(r)) {
			b->paused = true;
			break;
		}
	}
	return VDB_OK;
}

/* Chunk record i of the batch on the calling thread's worker. */
static void chunk_one(batch *b, size_t i)
{
	worker *w = &b->w[b->nw > 1 ? omp_get_thread_num() : 0];
	if (w->err && w->err_i < i)
		return; /* an earlier record failed: nothing from here on is written */
	batch_doc *d = &b->docs[i];
	w->job.line_no = d->line;
	w->job.rec_no = d->rec;
	d->worker = (int)(w - b->w);
	d->out_off = w->job.out.len;
	vdb_status s = jsonl_record(&w->job, b->text.p + d->off, d->len);
	d->out_len = w->job.out.len - d->out_off;
	d->chunks = w->job.n;
	if (s && !w->err) {
		w->err = s;
		w->err_i = i;
		snprintf(w->msg, sizeof w->msg, "%s", vdb_last_error());
	}
}

static vdb_status chunk_jsonl(batch *b, const vdb_chunk_hooks *h, FILE *out,
                              vdb_chunk_stats *st)
{
	for (;;) {
		vdb_status s = read_batch(b, st);
		if (s || b->n == 0)
			return s;
		int nw = b->nw > 1 && b->n > 1 ? b->nw : 1;
		#pragma omp parallel for schedule(dynamic, 8) num_threads(nw) if (nw > 1)
		for (size_t i = 0; i < b->n; i++)
			chunk_one(b, i);
		/* in input order, up to the first bad record */
		worker *bad = NULL;
		for (int t = 0; t < b->nw; t++)
			if (b->w[t].err && (!bad || b->w[t].err_i < bad->err_i))
				bad = &b->w[t];
		size_t upto = bad ? bad->err_i : b->n;
		for (size_t i = 0; i < upto; i++) {
			batch_doc *d = &b->docs[i];
			const vdb_jout *o = &b->w[d->worker].job.out;
			if (d->out_len && fwrite(o->p + d->out_off, 1, d->out_len, out) != d->out_len)
				return vdb_fail(VDB_EIO, "writing the chunks failed");
			vdb_chunk_job *j = &b->w[0].job; /* only names the document */
			j->line_no = d->line;
			j->rec_no = d->rec;
			done(j, d->chunks, h, st);
		}
		if (bad)
			return vdb_fail(bad->err, "%s", bad->msg);
		if (b->paused && fflush(out)) /* what came in goes out, not into a buffer */
			return vdb_fail(VDB_EIO, "writing the chunks failed: %s", strerror(errno));
		for (int t = 0; t < b->nw; t++)
			b->w[t].job.out.len = 0;
	}
}

/* ===== Plain text ===== */
static vdb_status too_long(const vdb_reader *r)
{
	return vdb_fail(VDB_EFORMAT, "%s: the document is longer than the limit of %u MiB "
	                "(VDB_MAX_DOCUMENT); split the file, or make it JSONL records", r->name,
	                VDB_MAX_DOCUMENT >> 20);
}

static vdb_status chunk_plain(vdb_chunk_job *j, vdb_reader *r, const char *path,
                              const vdb_chunk_hooks *h, FILE *out, vdb_chunk_stats *st)
{
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
	st->bytes += avail;
	size_t off = vdb_utf8_invalid((const unsigned char *)text, avail);
	VDB_RETURN_IF(off < avail, VDB_EFORMAT,
	              "%s: invalid UTF-8 at byte %zu (0x%02x): a plain text document must be "
	              "UTF-8", r->name, off, (unsigned char)text[off]);
	const char *name = path ? path : "stdin";
	off = vdb_utf8_invalid((const unsigned char *)name, strlen(name));
	VDB_RETURN_IF(name[off], VDB_EFORMAT, "%s: the file name, the document's id, is not "
	              "UTF-8 (byte %zu); rename the file", name, off);
	json_t *id = json_string(name);
	if (!id)
		return vdb_fail(VDB_ENOMEM, "out of memory");
	j->file = out; /* a long document's chunks go out as they come */
	vdb_status s = vdb_chunk_document(j, NULL, id, NULL, text, avail);
	json_decref(id);
	if (!s)
		s = vdb_chunk_flush(j, out);
	if (!s)
		done(j, j->n, h, st);
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

static vdb_status input(vdb_chunker *c, vdb_reader *r, const char *path,
                        const vdb_chunk_hooks *h, FILE *out, vdb_chunk_stats *st)
{
	bool jsonl = false;
	vdb_status s = h && h->plain ? VDB_OK : is_jsonl(r, &jsonl);
	if (s)
		return s;
	batch b = { .r = r, .nw = jsonl ? vdb_threads() : 1 };
	if (b.nw < 1)
		b.nw = 1;
	b.w = calloc((size_t)b.nw, sizeof *b.w);
	if (!b.w)
		return vdb_fail(VDB_ENOMEM, "out of memory");
	for (int t = 0; t < b.nw && !s; t++) {
		b.w[t].job = (vdb_chunk_job){ .name = r->name, .jsonl = jsonl, .c = c };
		if (t > 0) /* a chunker is used by one thread at a time */
			s = vdb_chunker_new(&b.w[t].job.c, vdb_chunker_params(c));
	}
	if (!s)
		s = jsonl ? chunk_jsonl(&b, h, out, st) : chunk_plain(&b.w[0].job, r, path, h, out, st);
	for (int t = 0; t < b.nw; t++) {
		if (t > 0)
			vdb_chunker_free(b.w[t].job.c);
		vdb_chunk_job_free(&b.w[t].job);
	}
	free(b.w);
	free(b.docs);
	vdb_jout_free(&b.text);
	return s;
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
	vdb_reader *r;
	vdb_status s = vdb_reader_open(&r, is_stdin ? "-" : path, VDB_FMT_JSONL);
	if (s)
		return s;
	s = input(c, r, is_stdin ? NULL : path, hooks, out, st);
	if (!s && ferror(out))
		s = vdb_fail(VDB_EIO, "writing the chunks failed");
	vdb_reader_close(r);
	return s;
}
