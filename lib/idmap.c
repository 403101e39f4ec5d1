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
