/*
 * idmap.c — finding rows by id, for deletes and upserts.
 *
 * Ids are JSON texts in the file, written by whatever produced the input,
 * so rows are matched on the key (the id as a user writes it), which is
 * also what decides a record's shard. The map is a sorted array of (XXH3
 * of the key, row): built in O(n log n) with no per-row allocation, 16
 * bytes a row, and a lookup is a binary search then a key comparison.
 */
#include "idmap.h"
#include "index_internal.h"
#include "jsontext.h"
#include <stdio.h>
#include <string.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

vdb_status vdb_idkey_of(vdb_idkey *k, const char *json, size_t len, size_t row)
{
	k->hold = NULL;
	if (!json) {
		k->len = (size_t)snprintf(k->num, sizeof k->num, "%zu", row);
		k->ptr = k->num;
		return VDB_OK;
	}
	if (len < 2 || json[0] != '"') { /* an integer id: its digits */
		k->ptr = json;
		k->len = len;
		return VDB_OK;
	}
	vdb_status s = vdb_json_string_bytes(json, len, &k->ptr, &k->len, &k->hold);
	return s ? vdb_fail(s, "id %s", vdb_last_error()) : VDB_OK;
}

void vdb_idkey_done(vdb_idkey *k)
{
	json_decref(k->hold);
	k->hold = NULL;
}

vdb_status vdb_idmap_index_key(const void *ctx, size_t row, vdb_idkey *k)
{
	const vdb_index *ix = ctx;
	size_t len = 0;
	const char *t = vdb_index_id_json(ix, (int64_t)row, &len);
	if (!t && ix->col[VDB_COL_ID].off)
		return vdb_fail(VDB_ECORRUPT, "%s: the id of row %zu is out of range",
		                ix->file ? ix->file->path : "index", row);
	return vdb_idkey_of(k, t, len, row);
}

vdb_status vdb_idmap_vecs_key(const void *ctx, size_t row, vdb_idkey *k)
{
	const vdb_vecs *v = ctx;
	if (!v->id_off)
		return vdb_idkey_of(k, NULL, 0, row);
	return vdb_idkey_of(k, v->id_buf + v->id_off[row],
	                    (size_t)(v->id_off[row + 1] - v->id_off[row]), row);
}

typedef struct {
	uint64_t hash;
	uint64_t row;
} entry;

struct vdb_idmap {
	entry *e;
	size_t n;
	vdb_idmap_key_fn key;
	const void *ctx;
};

static int cmp_entry(const void *a, const void *b)
{
	const entry *x = a, *y = b;
	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return (x->row > y->row) - (x->row < y->row);
}

vdb_status vdb_idmap_new(vdb_idmap **out, size_t n, vdb_idmap_key_fn key, const void *ctx)
{
	*out = NULL;
	vdb_idmap *m = calloc(1, sizeof *m);
	if (!m || !(m->e = vdb_malloc((n ? n : 1) * sizeof *m->e, "the id map"))) {
		free(m);
		return vdb_fail(VDB_ENOMEM, "out of memory for the ids of %zu rows", n);
	}
	m->n = n;
	m->key = key;
	m->ctx = ctx;
	vdb_status s = VDB_OK;
	for (size_t i = 0; i < n && !s; i++) {
		vdb_idkey k;
		if ((s = key(ctx, i, &k)))
			break;
		m->e[i].hash = XXH3_64bits(k.ptr, k.len);
		m->e[i].row = i;
		vdb_idkey_done(&k);
	}
	if (s) {
		vdb_idmap_free(m);
		return s;
	}
	qsort(m->e, n, sizeof *m->e, cmp_entry);
	*out = m;
	return VDB_OK;
}

int64_t vdb_idmap_next(const vdb_idmap *m, const char *key, size_t len, size_t *pos)
{
	uint64_t h = XXH3_64bits(key, len);
	size_t i = *pos;
	if (i == 0) { /* the first entry of that hash */
		size_t lo = 0, hi = m->n;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (m->e[mid].hash < h)
				lo = mid + 1;
			else
				hi = mid;
		}
		i = lo;
	}
	for (; i < m->n && m->e[i].hash == h; i++) {
		vdb_idkey k;
		if (m->key(m->ctx, (size_t)m->e[i].row, &k))
			break;
		int same = k.len == len && !memcmp(k.ptr, key, len);
		vdb_idkey_done(&k);
		if (same) {
			*pos = i + 1;
			return (int64_t)m->e[i].row;
		}
	}
	*pos = m->n; /* no more: later calls stop at once */
	return -1;
}

void vdb_idmap_free(vdb_idmap *m)
{
	if (!m)
		return;
	free(m->e);
	free(m);
}

/* ===== Duplicate ids (vdb-build --dedupe, --append) ===== */
/* "NAME: line N" of row (label), else "record N". */
static void row_name(vdb_row_label_fn label, void *ctx, size_t row, char *buf, size_t n)
{
	if (label)
		label(ctx, row, buf, n);
	else
		snprintf(buf, n, "record %zu", row);
}

/* The id of row of v as written, shortened for a message. */
static void id_text(const vdb_vecs *v, size_t row, char *buf, size_t n)
{
	size_t len = (size_t)(v->id_off[row + 1] - v->id_off[row]);
	snprintf(buf, n, "%.*s%s", (int)(len > 80 ? 77 : len), v->id_buf + v->id_off[row],
	         len > 80 ? "..." : "");
}

/* Move row j of v to row w (w < j), in place. */
static void move_row(vdb_vecs *v, size_t w, size_t j)
{
	size_t rb = vdb_vecs_row_bytes(v);
	memcpy((char *)v->data + w * rb, (char *)v->data + j * rb, rb);
	if (v->novec)
		v->novec[w] = v->novec[j];
	for (int c = 0; c < VDB_NCOLS; c++) {
		vdb_texts *t = &v->col[c];
		if (!t->off)
			continue;
		uint64_t a = t->off[j], len = t->off[j + 1] - a;
		memmove(t->buf + t->off[w], t->buf + a, (size_t)len);
		t->off[w + 1] = t->off[w] + len;
	}
}

/* The row of key in m other than row: the smallest (first) or the largest
 * (!first), or -1 if no other row has it. */
static int64_t other_row(const vdb_idmap *m, const vdb_idkey *k, size_t row, bool first)
{
	size_t pos = 0;
	int64_t found = -1;
	for (int64_t d; (d = vdb_idmap_next(m, k->ptr, k->len, &pos)) >= 0;) {
		if ((size_t)d == row)
			continue;
		if (first)
			return d;
		found = d;
	}
	return found;
}

vdb_status vdb_vecs_dedupe(vdb_vecs *v, vdb_dedupe mode, size_t *dropped, vdb_row_label_fn label,
                           void *ctx)
{
	*dropped = 0;
	if (!v->id_off || v->n < 2)
		return VDB_OK;
	vdb_idmap *m = NULL;
	uint64_t *gone = vdb_rowset_new(v->n, false, "duplicate records");
	vdb_status s = gone ? vdb_idmap_new(&m, v->n, vdb_idmap_vecs_key, v) : VDB_ENOMEM;
	/* which rows go, decided before any moves (the map reads keys through v) */
	for (size_t r = 0; !s && r < v->n; r++) {
		vdb_idkey k;
		if ((s = vdb_idmap_vecs_key(v, r, &k)))
			break;
		/* REFUSE and FIRST look for an earlier record, LAST for a later */
		int64_t d = other_row(m, &k, r, mode != VDB_DEDUPE_LAST);
		vdb_idkey_done(&k);
		if (d < 0 || (mode == VDB_DEDUPE_LAST ? (size_t)d < r : (size_t)d > r))
			continue;
		if (mode == VDB_DEDUPE_REFUSE) {
			char a[512], b[512], id[96];
			row_name(label, ctx, (size_t)d, a, sizeof a);
			row_name(label, ctx, r, b, sizeof b);
			id_text(v, r, id, sizeof id);
			s = vdb_fail(VDB_EFORMAT, "duplicate id %s: %s and %s (--dedupe first or last "
			             "keeps one of them)", id, a, b);
			break;
		}
		vdb_rowset_add(gone, r);
		(*dropped)++;
	}
	vdb_idmap_free(m);
	size_t w = 0;
	for (size_t r = 0; !s && *dropped && r < v->n; r++) {
		if (vdb_rowset_has(gone, r))
			continue;
		if (w != r)
			move_row(v, w, r);
		w++;
	}
	free(gone);
	if (s || *dropped == 0)
		return s;
	v->n = w;
	for (int c = 0; c < VDB_NCOLS; c++)
		if (v->col[c].off)
			v->col[c].len = (size_t)v->col[c].off[w];
	return VDB_OK;
}

vdb_status vdb_index_ids_clash(const vdb_index *ix, const vdb_vecs *v, vdb_row_label_fn label,
                               void *ctx)
{
	/* records without ids are numbered after the index's largest id */
	if (!v->id_off || v->n == 0)
		return VDB_OK;
	vdb_idmap *m;
	vdb_status s = vdb_idmap_new(&m, ix->count, vdb_idmap_index_key, ix);
	for (size_t r = 0; !s && r < v->n; r++) {
		vdb_idkey k;
		if ((s = vdb_idmap_vecs_key(v, r, &k)))
			break;
		size_t pos = 0;
		int64_t b;
		while ((b = vdb_idmap_next(m, k.ptr, k.len, &pos)) >= 0 && !vdb_index_is_live(ix, b))
			;
		vdb_idkey_done(&k);
		if (b >= 0) {
			char a[512], id[96];
			row_name(label, ctx, r, a, sizeof a);
			id_text(v, r, id, sizeof id);
			s = vdb_fail(VDB_EFORMAT, "%s: id %s is already in %s (record %lld): --upsert "
			             "replaces records", a, id, ix->file ? ix->file->path : "the index",
			             (long long)b);
		}
	}
	vdb_idmap_free(m);
	return s;
}
