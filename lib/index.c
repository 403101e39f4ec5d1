/*
 * index.c — what every index type shares: choosing the type, the text
 * columns (ids, metadata, texts) and the embedder identity, saving through
 * the atomic file writer, opening and checking a mapped file, and the
 * --info description. The commands talk to this file only; they never know
 * which type they hold.
 */
#include "index_internal.h"
#include "jsontext.h"
#include "lex_analyze.h"
#include "lexical.h"
#include "modelid.h"
#include "norms.h"
#include "payload.h"
#include "random.h"
#include "recall_curve.h"
#include "rowset.h"
#include "rows.h"
#include <math.h>
#include <string.h>

void vdb_build_opts_init(vdb_build_opts *o)
{
	memset(o, 0, sizeof *o);
	o->type = "flat";
	o->metric = VDB_METRIC_L2;
	o->seed = VDB_DEFAULT_SEED;
	o->storage = NULL; /* the type's own: f32, or hnsw's byte codes (hnsw_codes.h) */
}

void vdb_search_opts_init(vdb_search_opts *o)
{
	memset(o, 0, sizeof *o);
	o->k = VDB_DEFAULT_K;
	o->k1 = VDB_BM25_K1;
	o->b = VDB_BM25_B;
}

static const struct vdb_index_ops *type_by_fourcc(uint32_t fc)
{
	const struct vdb_index_ops *t;
	for (size_t i = 0; (t = vdb_index_type_at(i)); i++)
		if (t->fourcc == fc)
			return t;
	return NULL;
}

/* ===== Build and save ===== */
vdb_status vdb_build_opts_check(const vdb_build_opts *o)
{
	const struct vdb_index_ops *ops = vdb_index_type_named(o->type);
	if (!ops)
		return VDB_EINVAL;
	vdb_status s = vdb_index_caps_check(ops, o);
	if (s)
		return s;
	VDB_RETURN_IF(o->shards > VDB_MAX_SHARDS || (o->shards && o->shard >= o->shards), VDB_EINVAL,
	              "shard %u/%u is out of range", o->shard, o->shards);
	VDB_RETURN_IF(o->refine > VDB_MAX_REFINE, VDB_EINVAL, "--refine %u is out of range (0..%u)",
	              o->refine, VDB_MAX_REFINE);
	if (o->lexical) { /* a language libstemmer lacks, before any input is read */
		vdb_analyzer *a;
		s = vdb_analyzer_new(&a, o->lexical->language, NULL, 0);
		if (s)
			return s;
		vdb_analyzer_free(a);
	}
	return ops->check ? ops->check(o) : VDB_OK;
}

/* ix's columns and embedder: those of ix->owned that it has. */
static void point_cols(vdb_index *ix)
{
	for (int c = 0; c < VDB_NCOLS; c++) {
		const vdb_texts *t = &ix->owned.col[c];
		if (t->off)
			ix->col[c].off = t->off, ix->col[c].buf = t->buf, ix->col[c].len = t->len;
	}
	if (ix->owned.embedder)
		ix->embedder = ix->owned.embedder;
}

static vdb_index *index_new(const struct vdb_index_ops *ops, vdb_metric m, uint32_t dim,
                            size_t count, uint64_t seed)
{
	vdb_index *ix = calloc(1, sizeof *ix);
	if (!ix) {
		vdb_fail(VDB_ENOMEM, "out of memory");
		return NULL;
	}
	ix->ops = ops;
	ix->metric = m;
	ix->dim = dim;
	ix->count = count;
	ix->seed = seed;
	vdb_vecs_init(&ix->owned);
	return ix;
}

/* The lexical index of a new index's records (o: vdb-build --lexical). */
static vdb_status build_lexical(vdb_index *ix, const vdb_lexical_opts *o)
{
	VDB_RETURN_IF(!o->field && !ix->col[VDB_COL_TEXT].off, VDB_EFORMAT,
	              "--lexical indexes the records' \"text\", and no record has one (or name a "
	              "metadata field with --lexical-field)");
	VDB_RETURN_IF(o->field && !ix->col[VDB_COL_META].off, VDB_EFORMAT,
	              "--lexical-field %s: no record has metadata", o->field);
	char *stop = NULL;
	size_t len = 0;
	vdb_status s = o->stopwords ? vdb_stopwords_load(o->stopwords, &stop, &len) : VDB_OK;
	if (!s)
		s = vdb_lex_build(&ix->lex, ix, o->language, stop, len, o->field);
	free(stop);
	VDB_RETURN_IF(!s && ix->lex->total == 0, VDB_EFORMAT,
	              "--lexical: no record has a term to index in its %s%s (every token a stop "
	              "word, or no text at all)", o->field ? "metadata field " : "\"text\"",
	              o->field ? o->field : "");
	return s;
}

vdb_status vdb_index_build(vdb_index **out, vdb_vecs *data, const vdb_build_opts *o)
{
	*out = NULL;
	vdb_status s = vdb_build_opts_check(o);
	if (s)
		return s;
	const struct vdb_index_ops *ops = vdb_index_type_named(o->type);
	VDB_RETURN_IF(data->n == 0, VDB_EFORMAT, "no vectors to index");
	VDB_RETURN_IF(!data->binary != (o->metric != VDB_METRIC_HAMMING), VDB_EINVAL,
	              "the hamming metric takes binary vectors, and only it does");
	vdb_index *ix = index_new(ops, o->metric, data->dim, data->n, o->seed);
	if (!ix)
		return VDB_ENOMEM;
	ix->shard = o->shard;
	ix->shards = o->shards;
	if ((s = vdb_norms_take(ix, NULL, data, NULL))) { /* before normalising */
		vdb_index_close(ix);
		return s;
	}
	if (o->metric == VDB_METRIC_COSINE)
		vdb_vecs_normalize(data);
	ix->owned = *data;
	vdb_vecs_init(data);
	data->dim = ix->dim;
	point_cols(ix);
	s = o->lexical ? build_lexical(ix, o->lexical) : VDB_OK;
	vdb_rcurve_prep *curve = NULL; /* drawn while the build's vectors are whole */
	if (!s && o->recall_curve)
		s = vdb_rcurve_prepare(&curve, ix, ix->owned.data);
	if (!s)
		s = ops->build(ix, &ix->owned, o);
	if (!s && curve)
		s = vdb_rcurve_measure(ix, curve);
	vdb_rcurve_prep_free(curve);
	if (s) {
		vdb_index_close(ix);
		return s;
	}
	*out = ix;
	return VDB_OK;
}

/* Where row i of a new index takes its texts (of each column) from. */
typedef struct {
	const vdb_index *base;
	const vdb_vecs *data;  /* rows base->count.. (an append) */
	const int64_t *keep;   /* or: base's rows keep[i] (a compaction) */
	uint64_t next_id;      /* the id of data's first row if it has none */
} text_source;

/* The JSON text of row i's entry of column c; a row without one gets its
 * number (ids: a new row the next free integer) or null. */
static const char *text_of(const text_source *src, int c, size_t i, char num[24], size_t *len)
{
	const vdb_index *b = src->base;
	size_t r = src->keep ? (size_t)src->keep[i] : i, id = r;
	if (!src->keep && i >= b->count) {
		const vdb_texts *t = &src->data->col[c];
		r = i - b->count;
		id = (size_t)src->next_id + r;
		if (t->off) {
			*len = (size_t)(t->off[r + 1] - t->off[r]);
			return t->buf + t->off[r];
		}
	} else if (b->col[c].off) {
		/* the file's offsets, checked: NULL if they are broken */
		return vdb_index_col_json(b, c, (int64_t)r, len);
	}
	if (c != VDB_COL_ID) {
		*len = 4;
		return "null";
	}
	*len = (size_t)snprintf(num, 24, "%zu", id);
	return num;
}

static const char *const col_what[VDB_NCOLS] = { "id", "metadata", "text" };

/* Column c of n rows. */
static vdb_status gather_texts(vdb_vecs *out, int c, const text_source *src, size_t n)
{
	vdb_texts t = { 0 };
	vdb_status s = vdb_grow((void **)&t.off, &t.ocap, n + 1, sizeof *t.off, "offsets");
	if (!s)
		t.off[0] = 0;
	for (size_t i = 0; !s && i < n; i++) {
		char num[24];
		size_t tl;
		const char *x = text_of(src, c, i, num, &tl);
		if (!x) {
			const vdb_index *b = src->base;
			s = vdb_fail(VDB_ECORRUPT, "%s: %s offsets broken at record %zu", b->file ?
			             b->file->path : "index", col_what[c], i);
			break;
		}
		s = vdb_grow((void **)&t.buf, &t.cap, t.len + tl + 1, 1, "texts");
		if (!s) {
			memcpy(t.buf + t.len, x, tl);
			t.len += tl;
			t.off[i + 1] = t.len;
		}
	}
	if (s) {
		free(t.buf);
		free(t.off);
		return s;
	}
	out->col[c] = t;
	return VDB_OK;
}

/* The id a new row without one gets: its row number, unless a compaction
 * has left integer ids at or beyond the count (the ids of removed rows are
 * not reused while a larger one is in the index). */
static uint64_t next_free_id(const vdb_index *base)
{
	uint64_t next = base->count;
	for (size_t i = 0; base->col[VDB_COL_ID].off && i < base->count; i++) {
		size_t len;
		const char *t = vdb_index_id_json(base, (int64_t)i, &len);
		if (!t || !len || len > 19)
			continue;
		uint64_t v = 0;
		size_t j = 0;
		for (; j < len && t[j] >= '0' && t[j] <= '9'; j++) /* texts are not terminated */
			v = v * 10 + (uint64_t)(t[j] - '0');
		if (j < len)
			continue;
		if (v >= next)
			next = v + 1;
	}
	return next;
}

/* ix's columns whose bit (1 << VDB_COL_*) is in cols, from src; its
 * embedder, base's; ix points at them. */
static vdb_status set_texts(vdb_index *ix, const text_source *src, unsigned cols)
{
	vdb_status s = VDB_OK;
	for (int c = 0; c < VDB_NCOLS && !s; c++)
		if (cols & 1u << c)
			s = gather_texts(&ix->owned, c, src, ix->count);
	const char *e = src->base->embedder;
	if (!s && e && !(ix->owned.embedder = strdup(e)))
		s = vdb_fail(VDB_ENOMEM, "out of memory");
	point_cols(ix);
	return s;
}

vdb_status vdb_index_relex(vdb_index *ix, const vdb_index *base)
{
	if (!base->lex)
		return VDB_OK;
	vdb_lex *lx;
	vdb_status s = vdb_lex_rebuild(&lx, ix, base->lex);
	if (s)
		return s;
	vdb_lex_free(ix->lex);
	ix->lex = lx;
	return VDB_OK;
}

vdb_status vdb_index_append(vdb_index **out, const vdb_index *base, vdb_vecs *data,
                            const vdb_build_opts *o)
{
	vdb_status s = vdb_index_append_rows(out, base, data, o);
	if (!s && (s = vdb_index_relex(*out, base))) {
		vdb_index_close(*out);
		*out = NULL;
	}
	return s;
}

vdb_status vdb_index_append_rows(vdb_index **out, const vdb_index *base, vdb_vecs *data,
                                 const vdb_build_opts *o)
{
	*out = NULL;
	const struct vdb_index_ops *ops = base->ops;
	VDB_RETURN_IF(!ops->append, VDB_EUNSUPPORTED, "cannot append to a %s index (rebuild it instead)",
	              ops->name);
	VDB_RETURN_IF(data->n == 0, VDB_EFORMAT, "no vectors to add");
	vdb_status s = vdb_index_verify(base); /* see vdb_index_verify */
	if (s)
		return s;
	VDB_RETURN_IF(!data->binary != (base->metric != VDB_METRIC_HAMMING), VDB_EINVAL,
	              "the hamming metric takes binary vectors, and only it does");
	VDB_RETURN_IF(data->dim != base->dim, VDB_EFORMAT,
	              "the new vectors have dimension %u; the index has dimension %u", data->dim,
	              base->dim);
	if ((s = vdb_index_embedder_check(base, base->file ? base->file->path : "the index",
	                                  data->embedder, "the new records", 1)))
		return s;
	VDB_RETURN_IF(base->count + data->n > VDB_MAX_COUNT, VDB_EINVAL,
	              "%zu + %zu vectors exceed the limit of %llu", base->count, data->n,
	              VDB_MAX_COUNT);
	vdb_index *ix = index_new(ops, base->metric, base->dim, base->count + data->n, base->seed);
	if (!ix)
		return VDB_ENOMEM;
	ix->shard = base->shard;
	ix->shards = base->shards;
	ix->owned.dim = ix->dim;
	s = vdb_norms_take(ix, base, data, NULL); /* before normalising */
	if (ix->metric == VDB_METRIC_COSINE)
		vdb_vecs_normalize(data);
	text_source src = { base, data, NULL, data->id_off ? 0 : next_free_id(base) };
	unsigned cols = 0;
	for (int c = 0; c < VDB_NCOLS; c++)
		if (base->col[c].off || data->col[c].off)
			cols |= 1u << c;
	if (!s)
		s = set_texts(ix, &src, cols);
	if (!s)
		s = ops->append(ix, base, data, o);
	/* deleted rows stay deleted */
	if (!s && base->live && !(ix->live = vdb_rowset_new(ix->count, true, "the live rows")))
		s = VDB_ENOMEM;
	for (size_t i = 0; !s && base->live && i < base->count; i++)
		if (!vdb_rowset_has(base->live, i))
			vdb_rowset_del(ix->live, i);
	ix->ndead = base->ndead;
	if (s) {
		vdb_index_close(ix);
		return s;
	}
	*out = ix;
	return VDB_OK;
}

vdb_status vdb_index_compact(vdb_index **out, const vdb_index *base, const vdb_build_opts *o)
{
	*out = NULL;
	const struct vdb_index_ops *ops = base->ops;
	VDB_RETURN_IF(!ops->compact, VDB_EUNSUPPORTED, "cannot compact a %s index yet (rebuild it)",
	              ops->name);
	size_t n = base->count - base->ndead;
	VDB_RETURN_IF(n == 0, VDB_EFORMAT, "every record of the index is deleted: a compaction "
	              "would leave none (build a new index instead)");
	vdb_status s = vdb_index_verify(base); /* see vdb_index_verify */
	if (s)
		return s;
	int64_t *keep = vdb_malloc(n * sizeof *keep, "kept rows");
	vdb_index *ix = keep ? index_new(ops, base->metric, base->dim, n, base->seed) : NULL;
	if (!ix) {
		free(keep);
		return vdb_fail(VDB_ENOMEM, "out of memory");
	}
	for (size_t i = 0, m = 0; i < base->count; i++)
		if (!base->live || vdb_rowset_has(base->live, i))
			keep[m++] = (int64_t)i;
	ix->shard = base->shard;
	ix->shards = base->shards;
	ix->owned.dim = ix->dim;
	/* rows are renumbered: an index that named records by row number now
	 * names them by the numbers they had, as explicit ids */
	text_source src = { base, NULL, keep, 0 };
	unsigned cols = 1u << VDB_COL_ID;
	for (int c = 0; c < VDB_NCOLS; c++)
		if (base->col[c].off)
			cols |= 1u << c;
	s = set_texts(ix, &src, cols);
	if (!s)
		s = vdb_norms_take(ix, base, NULL, keep);
	if (!s)
		s = vdb_index_relex(ix, base);
	if (!s)
		s = ops->compact(ix, base, keep, o);
	free(keep);
	if (s) {
		vdb_index_close(ix);
		return s;
	}
	*out = ix;
	return VDB_OK;
}

/* The sections of each column: offsets, texts. */
static const uint32_t col_sec[VDB_NCOLS][2] = { { VDB_SEC_IDOF, VDB_SEC_IDTX },
                                                { VDB_SEC_MDOF, VDB_SEC_MDTX },
                                                { VDB_SEC_TXOF, VDB_SEC_TXTX } };

static vdb_status save_texts(vdb_file_writer *w, const vdb_index *ix, int c)
{
	const uint64_t *off = ix->col[c].off;
	vdb_status s = vdb_file_write_section(w, col_sec[c][0], off,
	                                      (ix->count + 1) * sizeof(uint64_t));
	if (!s)
		s = vdb_file_write_section(w, col_sec[c][1], ix->col[c].buf, (size_t)off[ix->count]);
	return s;
}

/* Filters resolve against the payload index instead of each record's
 * JSON. Metadata still in its file (a delete) keeps the file's index. */
static vdb_status save_payload(vdb_file_writer *w, const vdb_index *ix)
{
	size_t len;
	if (ix->file && ix->col[VDB_COL_META].buf == vdb_file_section(ix->file, VDB_SEC_MDTX, &len)) {
		int copied;
		vdb_status s = vdb_payload_copy(w, ix->file, &copied);
		if (s || copied)
			return s;
	}
	return vdb_payload_save(w, ix->col[VDB_COL_META].off, ix->col[VDB_COL_META].buf, ix->count);
}

vdb_status vdb_index_save(const vdb_index *ix, const char *path)
{
	vdb_file_writer *w;
	vdb_status s = vdb_file_create(&w, path);
	if (s)
		return s;
	vdb_header h;
	memset(&h, 0, sizeof h);
	h.type = ix->ops->fourcc;
	h.metric = ix->metric;
	h.dim = ix->dim;
	h.count = ix->count;
	h.live = ix->count - ix->ndead;
	h.params[VDB_PARAM_SEED] = ix->seed;
	h.shard = ix->shard;
	h.shards = ix->shards;
	s = ix->ops->save(ix, w, &h);
	for (int c = 0; c < VDB_NCOLS && !s; c++) {
		if (!ix->col[c].off)
			continue;
		h.flags |= 1u << c; /* VDB_FLAG_IDS, _META, _TEXT */
		s = save_texts(w, ix, c);
		if (!s && c == VDB_COL_META)
			s = save_payload(w, ix);
	}
	if (!s && ix->embedder)
		s = vdb_file_write_section(w, VDB_SEC_EMBD, ix->embedder, strlen(ix->embedder));
	if (!s)
		s = vdb_norms_save(ix, w);
	if (!s && ix->lex)
		s = vdb_lex_save(ix->lex, w);
	if (!s)
		s = vdb_rcurve_save(ix, w);
	if (!s && ix->ndead) {
		void *tomb;
		size_t len;
		s = vdb_rowset_absent_roaring(ix->live, ix->count, &tomb, &len);
		if (!s)
			s = vdb_file_write_section(w, VDB_SEC_TOMB, tomb, len);
		free(tomb);
	}
	if (s) {
		vdb_file_abort(w);
		return s;
	}
	return vdb_file_commit(w, &h);
}

/* ===== Open ===== */
static vdb_status open_texts(vdb_index *ix, int c)
{
	size_t olen;
	ix->col[c].off = vdb_file_section(ix->file, col_sec[c][0], &olen);
	ix->col[c].buf = vdb_file_section(ix->file, col_sec[c][1], &ix->col[c].len);
	VDB_RETURN_IF(!ix->col[c].off || !ix->col[c].buf ||
	              olen != (ix->count + 1) * sizeof(uint64_t), VDB_ECORRUPT,
	              "%s: %s sections missing or of the wrong size", ix->file->path, col_what[c]);
	return VDB_OK;
}

/* The EMBD section, if any: one canonical identity of the index's dim. */
static vdb_status open_embedder(vdb_index *ix)
{
	size_t len;
	const char *e = vdb_file_section(ix->file, VDB_SEC_EMBD, &len);
	if (!e)
		return VDB_OK;
	const char *path = ix->file->path;
	VDB_RETURN_IF(len > VDB_MAX_EMBEDDER_NAME + 256, VDB_ECORRUPT,
	              "%s: the embedder section is %zu bytes (corrupt index)", path, len);
	json_t *j = json_loadb(e, len, JSON_REJECT_DUPLICATES, NULL);
	char *canon = NULL;
	vdb_status s = j ? vdb_modelid_canon(j, path, &canon) : VDB_EFORMAT;
	json_decref(j);
	if (s == VDB_ENOMEM)
		return s;
	if (s || strlen(canon) != len || memcmp(canon, e, len) || vdb_modelid_dim(canon) != ix->dim) {
		free(canon);
		return vdb_fail(VDB_ECORRUPT, "%s: the embedder section is not an embedder identity "
		                "of the index's dimension %u (corrupt index)", path, ix->dim);
	}
	ix->owned.embedder = canon;
	ix->embedder = canon;
	return VDB_OK;
}

/* The TOMB section (format 2) as the live set: its count of deleted rows
 * must be the header's count minus live. */
static vdb_status open_tombstones(vdb_index *ix)
{
	const vdb_file *f = ix->file;
	size_t len;
	const void *tomb = vdb_file_section(f, VDB_SEC_TOMB, &len);
	uint64_t dead = f->h.count - f->h.live;
	VDB_RETURN_IF(!tomb != !dead || (dead && f->h.major < 2), VDB_ECORRUPT,
	              "%s: %llu deleted rows in the header, but %s", f->path,
	              (unsigned long long)dead, tomb ? "a tombstone section" : "no tombstone section");
	if (!tomb)
		return VDB_OK;
	uint64_t *d = vdb_rowset_new(ix->count, false, "deleted rows");
	if (!d)
		return VDB_ENOMEM;
	if (!vdb_rowset_or_roaring(d, ix->count, tomb, len) || vdb_rowset_size(d, ix->count) != dead) {
		free(d);
		return vdb_fail(VDB_ECORRUPT, "%s: the tombstone section does not decode to the "
		                "header's %llu deleted rows of %zu", f->path, (unsigned long long)dead,
		                ix->count);
	}
	vdb_rowset_invert(d, ix->count);
	ix->live = d;
	ix->ndead = (size_t)dead;
	return VDB_OK;
}

vdb_status vdb_index_open(vdb_index **out, const char *path)
{
	*out = NULL;
	vdb_file *f;
	vdb_status s = vdb_file_open(&f, path);
	if (s)
		return s;
	const vdb_header *h = &f->h;
	char fc[5];
	const struct vdb_index_ops *ops = type_by_fourcc(h->type);
	if (!ops) {
		s = vdb_fail(VDB_ECORRUPT, "%s: unknown index type '%s'", path,
		             vdb_fourcc_str(h->type, fc));
		vdb_file_close(f);
		return s;
	}
	bool hamming = h->metric == VDB_METRIC_HAMMING;
	if (h->metric < VDB_METRIC_L2 || h->metric > VDB_METRIC_HAMMING || h->dim == 0 ||
	    h->dim > VDB_MAX_DIM || h->count > VDB_MAX_COUNT || h->live > h->count ||
	    hamming != (h->storage == VDB_STORAGE_BINARY) || (hamming && h->dim % 8) ||
	    h->shards > VDB_MAX_SHARDS || (h->shards && h->shard >= h->shards)) {
		s = vdb_fail(VDB_ECORRUPT, "%s: header values out of range (metric %u, dim %u, "
		             "count %llu, storage %u, shard %u/%u)", path, h->metric, h->dim,
		             (unsigned long long)h->count, h->storage, h->shard, h->shards);
		vdb_file_close(f);
		return s;
	}
	vdb_index *ix = calloc(1, sizeof *ix);
	if (!ix) {
		vdb_file_close(f);
		return vdb_fail(VDB_ENOMEM, "out of memory");
	}
	ix->ops = ops;
	ix->file = f;
	ix->metric = (vdb_metric)h->metric;
	ix->dim = h->dim;
	ix->count = (size_t)h->count;
	ix->seed = h->params[VDB_PARAM_SEED];
	ix->shard = h->shard;
	ix->shards = h->shards;
	vdb_vecs_init(&ix->owned);
	s = ops->open(ix);
	for (int c = 0; c < VDB_NCOLS && !s; c++)
		if (h->flags & 1u << c) /* VDB_FLAG_IDS, _META, _TEXT */
			s = open_texts(ix, c);
	if (!s)
		s = open_embedder(ix);
	if (!s)
		s = open_tombstones(ix);
	if (!s)
		s = vdb_norms_open(ix);
	if (!s)
		s = vdb_lex_open(&ix->lex, f, ix->count);
	if (!s)
		s = vdb_rcurve_open(ix);
	if (s) {
		vdb_index_close(ix);
		return s;
	}
	*out = ix;
	return VDB_OK;
}

/* Everything a file's bytes could get wrong: the checksums, the text
 * offsets, then the type's structure and stored values (its verify op).
 * Opening checks only what every search needs at once (sizes, parameters,
 * the small tables each query reads in whole), so that it stays cheap on a
 * large index; searches keep within bounds on what opening leaves
 * unchecked. Changing an index does not: an append, an upsert, a delete and
 * a compaction rewrite the file from its sections, and insertion trusts
 * the graph's lists, so they run this first. It is linear in the file, as
 * the rewrite is, and keeps a damaged index from being copied into one
 * that would pass the checksums. */
vdb_status vdb_index_verify(const vdb_index *ix)
{
	if (ix->file) {
		vdb_status s = vdb_file_verify(ix->file);
		if (s)
			return s;
	}
	const char *name = ix->file ? ix->file->path : "index";
	/* offsets must rise and stay inside their text, or id lookups would lie */
	for (int c = 0; c < VDB_NCOLS; c++) {
		const uint64_t *off = ix->col[c].off;
		for (size_t i = 0; off && i < ix->count; i++)
			VDB_RETURN_IF(off[i] > off[i + 1] || off[i + 1] > ix->col[c].len, VDB_ECORRUPT,
			              "%s: %s offsets broken at record %zu", name, col_what[c], i);
	}
	vdb_status s = vdb_index_texts_verify(ix); /* what the printers will print */
	if (!s)
		s = vdb_norms_verify(ix);
	if (!s && ix->lex)
		s = vdb_lex_verify(ix->lex, name, ix->count);
	return s ? s : ix->ops->verify(ix);
}

void vdb_index_close(vdb_index *ix)
{
	if (!ix)
		return;
	if (ix->impl)
		ix->ops->free(ix);
	vdb_vecs_free(&ix->owned);
	vdb_lex_free(ix->lex);
	free(ix->curve);
	vdb_file_close(ix->file);
	free(ix->live);
	free(ix->norms_owned);
	free(ix);
}

/* ===== Search and accessors ===== */
vdb_status vdb_index_search(const vdb_index *ix, const float *queries, size_t nq,
                            const vdb_search_opts *o, int64_t *ids, float *dist)
{
	VDB_RETURN_IF(o->k == 0 || o->k > VDB_MAX_K, VDB_EINVAL, "k %zu is out of range (1..%u)",
	              o->k, VDB_MAX_K);
	if (o->filter || ix->live)
		return vdb_index_search_filtered(ix, queries, nq, o, ids, dist);
	vdb_status s = ix->ops->search(ix, queries, nq, o, ids, dist);
	return s ? s : vdb_search_fill(ix, queries, nq, o, NULL, ix->count, true, ids, dist);
}

uint32_t vdb_index_dim(const vdb_index *ix) { return ix->dim; }
vdb_metric vdb_index_metric(const vdb_index *ix) { return ix->metric; }
size_t vdb_index_count(const vdb_index *ix) { return ix->count; }
const char *vdb_index_type(const vdb_index *ix) { return ix->ops->name; }

/* Checked here rather than at open: an O(count) scan would make opening a
 * large index slow, and one lookup's check is two comparisons. */
static const char *text_at(const uint64_t *off, const char *buf, size_t len, size_t count,
                           int64_t i, size_t *out_len)
{
	if (!off || i < 0 || (size_t)i >= count)
		return NULL;
	uint64_t a = off[i], b = off[i + 1];
	if (a > b || b > len)
		return NULL;
	*out_len = (size_t)(b - a);
	return buf + a;
}

const char *vdb_index_col_json(const vdb_index *ix, int c, int64_t i, size_t *len)
{
	if (c < 0 || c >= VDB_NCOLS)
		return NULL;
	return text_at(ix->col[c].off, ix->col[c].buf, ix->col[c].len, ix->count, i, len);
}

const char *vdb_index_id_json(const vdb_index *ix, int64_t i, size_t *len)
{
	return vdb_index_col_json(ix, VDB_COL_ID, i, len);
}

const char *vdb_index_meta_json(const vdb_index *ix, int64_t i, size_t *len)
{
	return vdb_index_col_json(ix, VDB_COL_META, i, len);
}

const char *vdb_index_text_json(const vdb_index *ix, int64_t i, size_t *len)
{
	return vdb_index_col_json(ix, VDB_COL_TEXT, i, len);
}

int vdb_index_has_ids(const vdb_index *ix) { return ix->col[VDB_COL_ID].off != NULL; }
int vdb_index_has_meta(const vdb_index *ix) { return ix->col[VDB_COL_META].off != NULL; }
int vdb_index_has_text(const vdb_index *ix) { return ix->col[VDB_COL_TEXT].off != NULL; }
const char *vdb_index_embedder(const vdb_index *ix) { return ix->embedder; }

uint32_t vdb_index_shard(const vdb_index *ix, uint32_t *shards)
{
	*shards = ix->shards;
	return ix->shards ? ix->shard : 0;
}

char *vdb_index_info_json(const vdb_index *ix)
{
	json_t *o = json_object();
	char ver[16];
	if (ix->file) {
		json_object_set_new(o, "file", json_string(ix->file->path));
		snprintf(ver, sizeof ver, "%u.%u", ix->file->h.major, ix->file->h.minor);
		json_object_set_new(o, "format", json_string(ver));
		json_object_set_new(o, "size", json_integer((json_int_t)ix->file->size));
	}
	json_object_set_new(o, "type", json_string(ix->ops->name));
	json_object_set_new(o, "metric", json_string(vdb_metric_name(ix->metric)));
	json_object_set_new(o, "dim", json_integer(ix->dim));
	json_object_set_new(o, "count", json_integer((json_int_t)ix->count));
	json_object_set_new(o, "live", json_integer((json_int_t)(ix->count - ix->ndead)));
	json_object_set_new(o, "deleted", json_integer((json_int_t)ix->ndead));
	json_object_set_new(o, "deleted_fraction",
	                    json_real(ix->count ? (double)ix->ndead / (double)ix->count : 0));
	unsigned st = ix->file ? ix->file->h.storage : VDB_STORAGE_F32;
	json_object_set_new(o, "storage", json_string(vdb_storage_name(st)));
	json_object_set_new(o, "ids", json_boolean(ix->col[VDB_COL_ID].off != NULL));
	json_object_set_new(o, "metadata", json_boolean(ix->col[VDB_COL_META].off != NULL));
	json_object_set_new(o, "text", json_boolean(ix->col[VDB_COL_TEXT].off != NULL));
	json_t *emb = ix->embedder ? json_loads(ix->embedder, JSON_DECODE_ANY, NULL) : NULL;
	json_object_set_new(o, "embedder", emb ? emb : json_null());
	json_object_set_new(o, "seed", json_integer((json_int_t)ix->seed));
	if (ix->shards) {
		json_object_set_new(o, "shard", json_integer(ix->shard));
		json_object_set_new(o, "shards", json_integer(ix->shards));
	}
	ix->ops->info(ix, o);
	/* what the type can do (its ops table): metrics, storage, refine, knob */
	json_object_set_new(o, "capabilities", vdb_index_type_json(ix->ops));
	if (ix->lex)
		vdb_lex_info(ix->lex, o);
	vdb_rcurve_info(ix, o);
	if (ix->file) {
		json_object_set_new(o, "sections", vdb_sections_json(&ix->file->h));
	}
	char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	return text;
}
