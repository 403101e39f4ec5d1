/*
 * embed_records.c — the filter of vdb-text embed: JSON Lines text records
 * in, the same records with "vector" and "embedder" out.
 *
 * A batch of records is read (the raw lines, serially), then checked,
 * embedded and printed: in one parallel step, CHUNK records a task, when the
 * kind embeds texts one by one (fasttext, vec); else checked in parallel,
 * embedded at once (exec) and printed in parallel. Nothing of a batch is
 * written before all of it is done, and a failure names the batch's first
 * failing record in input order, so a failing record never leaves a line of
 * its batch (the earlier batches' lines are out: it is a filter). Each output line is the input object with every field in its
 * place, "vector" replacing an existing one (else added after the last
 * field), then "embedder" likewise; the vector's floats are printed with 9
 * significant digits, enough to read back the same float32.
 */
#define __STDC_WANT_IEC_60559_BFP_EXT__ 1 /* strfromf */
#include "embed_internal.h"
#include "jsonout.h"
#include "reader_internal.h"
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Records a batch by default: an exec embedder's run (one run per batch:
 * an embedder that loads a model pays that once per batch, so batches are
 * large; 256 texts a run took the fastText CLI 12 times as long as one run
 * over 117,659 texts); for the kinds that embed texts one by one, a
 * parallel step (fewer, longer steps: the threads wait less at the steps'
 * ends while the lines are read and written). A batch also ends once its
 * lines hold VDB_EMBED_BATCH_BYTES. */
#define DEFAULT_BATCH_EXEC 16384
#define DEFAULT_BATCH 4096

/* ===== An output line: a growing buffer (jsonout.h) whose first failure
 * sticks, checked once when the line is written ===== */
typedef struct {
	vdb_jout j;
	bool failed;
} text_buf;

static void put(text_buf *b, const char *s, size_t n)
{
	if (!b->failed && vdb_jout_raw(&b->j, s, n))
		b->failed = true;
}

static void put_json(text_buf *b, const json_t *v)
{
	char *t = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!t) {
		b->failed = true;
		return;
	}
	put(b, t, strlen(t));
	free(t);
}

static void put_vector(text_buf *b, const float *v, uint32_t d)
{
	char num[32];
	put(b, "[", 1);
	for (uint32_t i = 0; i < d; i++) {
		int n = strfromf(num + 1, sizeof num - 1, "%.9g", v[i]);
		num[0] = ',';
		put(b, i ? num : num + 1, (size_t)n + (i > 0));
	}
	put(b, "]", 1);
}

/* ===== One record of a batch ===== */
typedef struct {
	size_t off, len;   /* its line in the batch's arena */
	size_t line, rec;  /* 1-based line, 0-based record number */
	json_t *obj;
	const char *text;
	size_t text_len;
	char *msg;         /* why it is refused (NULL: fine) */
	vdb_status st;     /* and with which status */
	text_buf out;
} slot;

/* "NAME: line L (record R, id ID)" */
static void label(const slot *s, const char *name, char *dst, size_t n)
{
	vdb_record_label(name, s->line, s->rec, s->obj, dst, n);
}

static char *dup_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *dup_msg(const char *fmt, ...)
{
	char m[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(m, sizeof m, fmt, ap);
	va_end(ap);
	return strdup(m);
}

/* Parse and check one record; s->msg says why it is refused. */
static void check(slot *s, const char *arena)
{
	s->st = VDB_EFORMAT;
	json_error_t err;
	s->obj = json_loadb(arena + s->off, s->len, JSON_REJECT_DUPLICATES, &err);
	if (!s->obj) {
		s->msg = dup_msg("malformed JSON: %s at column %d", err.text, err.column);
		return;
	}
	if (!json_is_object(s->obj)) {
		json_decref(s->obj);
		s->obj = NULL;
		s->msg = dup_msg("expected an object");
		return;
	}
	json_t *id = json_object_get(s->obj, "id"), *t = json_object_get(s->obj, "text");
	if (id && !json_is_string(id) && !json_is_integer(id))
		s->msg = dup_msg("\"id\" must be a string or an integer");
	else if (!t)
		s->msg = dup_msg("\"text\" is missing: a record to embed needs its text");
	else if (!json_is_string(t))
		s->msg = dup_msg("\"text\" is not a string");
	else if (json_string_length(t) == 0)
		s->msg = dup_msg("\"text\" is empty");
	else if (json_string_length(t) > VDB_MAX_TEXT)
		s->msg = dup_msg("\"text\" is %zu bytes, over the limit of %u (VDB_MAX_TEXT)",
		                 json_string_length(t), VDB_MAX_TEXT);
	else {
		s->text = json_string_value(t);
		s->text_len = json_string_length(t);
	}
}

/* The output line: the object with its vector and embedder in place. */
static void print(slot *s, const float *v, uint32_t d, const char *identity)
{
	text_buf *b = &s->out;
	bool vec = false, emb = false;
	const char *key;
	json_t *val;
	put(b, "{", 1);
	json_object_foreach(s->obj, key, val) {
		if (b->j.len > 1)
			put(b, ",", 1);
		json_t *k = json_string(key);
		put_json(b, k);
		json_decref(k);
		put(b, ":", 1);
		if (!strcmp(key, "vector")) {
			put_vector(b, v, d);
			vec = true;
		} else if (!strcmp(key, "embedder")) {
			put(b, identity, strlen(identity));
			emb = true;
		} else
			put_json(b, val);
	}
	if (!vec) {
		put(b, ",\"vector\":", 10);
		put_vector(b, v, d);
	}
	if (!emb) {
		put(b, ",\"embedder\":", 12);
		put(b, identity, strlen(identity));
	}
	put(b, "}\n", 2);
}

typedef struct {
	vdb_embedder *e;
	vdb_reader *in;
	FILE *out;
	slot *slots;
	size_t batch, n;
	char *arena;
	size_t arena_len, arena_cap;
	const char **texts;
	size_t *lens;
	float *vecs;
	size_t vcap;
	size_t records;
	vdb_status batch_st; /* a whole batch's failure (exec) */
	size_t batch_bad;
	char batch_msg[1024];
} filter;

static void clear_batch(filter *f)
{
	for (size_t i = 0; i < f->n; i++) {
		json_decref(f->slots[i].obj);
		free(f->slots[i].msg);
		vdb_jout_free(&f->slots[i].out.j);
		memset(&f->slots[i], 0, sizeof f->slots[i]);
	}
	f->n = 0;
	f->arena_len = 0;
}

/* Read up to f->batch records' lines into the arena. */
static vdb_status read_batch(filter *f)
{
	while (f->n < f->batch && f->arena_len < VDB_EMBED_BATCH_BYTES) {
		const char *line;
		size_t len;
		bool got;
		vdb_status s = vdb_rd_line(f->in, &line, &len, &got);
		if (s)
			return s;
		if (!got)
			break;
		if (vdb_blank_line(line, len))
			continue;
		if ((s = vdb_grow((void **)&f->arena, &f->arena_cap, f->arena_len + len, 1,
		                  "the batch")))
			return s;
		memcpy(f->arena + f->arena_len, line, len);
		f->slots[f->n] = (slot){ .off = f->arena_len, .len = len, .line = f->in->line,
		                         .rec = f->records + f->n };
		f->arena_len += len;
		f->n++;
	}
	return VDB_OK;
}

static vdb_status fail_at(filter *f, vdb_status st, size_t i, const char *why)
{
	char where[640], msg[1024];
	snprintf(msg, sizeof msg, "%s", why);
	if (i < f->n)
		label(&f->slots[i], f->in->name, where, sizeof where);
	else {
		/* the whole batch */
		char a[256], b[256];
		label(&f->slots[0], f->in->name, a, sizeof a);
		label(&f->slots[f->n - 1], "", b, sizeof b);
		snprintf(where, sizeof where, "%s to%s", a, b + 1);
	}
	return vdb_fail(st, "%s: %s", where, msg);
}

/* Texts a worker takes at a time when the kind embeds texts one by one. */
#define CHUNK 16

/* Check, embed and print records [from, to) (texts embedded one by one):
 * the first refused record's slot gets the message, and nothing after it in
 * the chunk is done. */
static void chunk(filter *f, size_t from, size_t to)
{
	size_t stop = to, bad;
	for (size_t i = from; i < to && stop == to; i++) {
		check(&f->slots[i], f->arena);
		if (f->slots[i].msg)
			stop = i;
		f->texts[i] = f->slots[i].text;
		f->lens[i] = f->slots[i].text_len;
	}
	uint32_t d = f->e->dim;
	float *v = f->vecs + from * d;
	size_t cap = (stop - from) * d; /* room for them all: no realloc */
	vdb_status s = vdb_embed_batch(f->e, f->texts + from, f->lens + from, stop - from, &v, &cap,
	                               &bad);
	if (s) {
		slot *b = &f->slots[from + (bad < stop - from ? bad : 0)];
		free(b->msg);
		b->msg = strdup(vdb_last_error());
		b->st = s;
		return;
	}
	for (size_t i = from; i < stop; i++)
		print(&f->slots[i], f->vecs + i * d, d, f->e->identity);
}

/* The whole batch at once (an exec embedder runs once a batch). */
static void whole(filter *f)
{
	size_t n = f->n, bad;
	#pragma omp parallel for schedule(dynamic, 8) if (n > 64)
	for (size_t i = 0; i < n; i++)
		check(&f->slots[i], f->arena);
	for (size_t i = 0; i < n; i++) {
		if (f->slots[i].msg)
			return;
		f->texts[i] = f->slots[i].text;
		f->lens[i] = f->slots[i].text_len;
	}
	vdb_status s = vdb_embed_batch(f->e, f->texts, f->lens, n, &f->vecs, &f->vcap, &bad);
	if (s) {
		f->batch_st = s;
		f->batch_bad = bad;
		snprintf(f->batch_msg, sizeof f->batch_msg, "%s", vdb_last_error());
		return;
	}
	uint32_t d = f->e->dim;
	#pragma omp parallel for schedule(dynamic, 8) if (n > 64)
	for (size_t i = 0; i < n; i++)
		print(&f->slots[i], f->vecs + i * d, d, f->e->identity);
}

static vdb_status one_batch(filter *f)
{
	size_t n = f->n;
	f->batch_st = VDB_OK;
	if (f->e->kind->per_text) {
		/* one parallel step: check, embed and print, CHUNK records a task */
		size_t need;
		if (!vdb_mul_ok(n, f->e->dim, &need) ||
		    vdb_grow((void **)&f->vecs, &f->vcap, need, sizeof(float), "vectors"))
			return vdb_fail(VDB_ENOMEM, "out of memory for %zu vectors", n);
		size_t chunks = (n + CHUNK - 1) / CHUNK;
		#pragma omp parallel for schedule(dynamic, 1) if (chunks > 1)
		for (size_t c = 0; c < chunks; c++)
			chunk(f, c * CHUNK, c * CHUNK + CHUNK < n ? c * CHUNK + CHUNK : n);
	} else
		whole(f);
	/* the first record refused, in input order */
	for (size_t i = 0; i < n; i++)
		if (f->slots[i].msg)
			return fail_at(f, f->slots[i].st, i, f->slots[i].msg);
	if (f->batch_st)
		return fail_at(f, f->batch_st, f->batch_bad, f->batch_msg);
	for (size_t i = 0; i < n; i++)
		VDB_RETURN_IF(f->slots[i].out.failed, VDB_ENOMEM, "out of memory printing a record");
	for (size_t i = 0; i < n; i++)
		fwrite(f->slots[i].out.j.p, 1, f->slots[i].out.j.len, f->out);
	VDB_RETURN_IF(ferror(f->out), VDB_EIO, "writing the output failed: %s", strerror(errno));
	f->records += n;
	return VDB_OK;
}

vdb_status vdb_embed_records(vdb_embedder *e, const char *path, FILE *out,
                             const vdb_embed_opts *o, size_t *records)
{
	*records = 0;
	filter f = { .e = e, .out = out, .batch = o && o->batch ? o->batch
	             : e->kind->per_text ? DEFAULT_BATCH : DEFAULT_BATCH_EXEC };
	VDB_RETURN_IF(f.batch > VDB_MAX_EMBED_BATCH, VDB_EINVAL, "a batch of %zu texts: over "
	              "the limit of %u (VDB_MAX_EMBED_BATCH)", f.batch, VDB_MAX_EMBED_BATCH);
	vdb_status s = vdb_reader_open(&f.in, path ? path : "-", VDB_FMT_JSONL);
	if (s)
		return s;
	f.slots = calloc(f.batch, sizeof *f.slots);
	f.texts = calloc(f.batch, sizeof *f.texts);
	f.lens = calloc(f.batch, sizeof *f.lens);
	if (!f.slots || !f.texts || !f.lens)
		s = vdb_fail(VDB_ENOMEM, "out of memory for a batch of %zu records", f.batch);
	/* jansson seeds its hash function at the first object it makes: here,
	 * before the parallel parsers */
	json_decref(json_object());
	while (!s) {
		if ((s = read_batch(&f)) || f.n == 0)
			break;
		s = one_batch(&f);
		clear_batch(&f);
		if (!s && o && o->progress)
			o->progress(o->progress_ctx, f.records, 0);
	}
	clear_batch(&f);
	*records = f.records;
	vdb_reader_close(f.in);
	free(f.slots);
	free(f.texts);
	free(f.lens);
	free(f.vecs);
	free(f.arena);
	return s;
}
