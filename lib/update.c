/*
 * update.c — deletes (by id or by filter) and upserts by id.
 *
 * A delete does not move a row: it clears the row's bit in the index's live
 * set, which vdb_index_save writes as the TOMB section (the deleted rows, a
 * CRoaring bitmap) beside the unchanged sections, and which every search
 * applies as it applies a filter's rows (filtered.c): graphs keep walking
 * through deleted nodes, so results keep their k live hits. An upsert is an
 * append plus the deletion of the rows the new records replace, saved as
 * one file. vdb_index_compact (index.c) removes the deleted rows for good.
 * The lexical index is derived from the texts: an upsert (as an append and
 * a compaction) builds it again over the live rows; a delete keeps it, its
 * statistics counting the deleted rows until then (vdb_index_relex).
 * Every one of them first checks the index as --verify does: a damaged file
 * is refused (VDB_ECORRUPT), never copied on with fresh checksums.
 */
#include "idmap.h"
#include "index_internal.h"
#include "rowset.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>

size_t vdb_index_live(const vdb_index *ix)
{
	return ix->count - ix->ndead;
}

int vdb_index_is_live(const vdb_index *ix, int64_t row)
{
	return row >= 0 && (size_t)row < ix->count && (!ix->live || vdb_rowset_has(ix->live, (size_t)row));
}

int64_t vdb_index_find_id(const vdb_index *ix, const char *id)
{
	size_t want = strlen(id);
	for (size_t i = 0; i < ix->count; i++) {
		vdb_idkey k;
		if (!vdb_index_is_live(ix, (int64_t)i) || vdb_idmap_index_key(ix, i, &k))
			continue;
		int same = k.len == want && !memcmp(k.ptr, id, want);
		vdb_idkey_done(&k);
		if (same)
			return (int64_t)i;
	}
	return -1;
}

/* ===== Lists of ids ===== */
void vdb_idlist_init(vdb_idlist *l)
{
	memset(l, 0, sizeof *l);
}

void vdb_idlist_free(vdb_idlist *l)
{
	free(l->buf);
	free(l->off);
	vdb_idlist_init(l);
}

static vdb_status idlist_add(vdb_idlist *l, const char *key, size_t len)
{
	vdb_status s = vdb_grow((void **)&l->off, &l->ocap, l->n + 2, sizeof *l->off, "ids");
	if (!s)
		s = vdb_grow((void **)&l->buf, &l->cap, l->len + len + 1, 1, "ids");
	if (s)
		return s;
	if (l->n == 0)
		l->off[0] = 0;
	memcpy(l->buf + l->len, key, len);
	l->len += len;
	l->off[++l->n] = l->len;
	return VDB_OK;
}

/* The key a line names: a JSON object's "id", a JSON string, or the text. */
static vdb_status line_key(void *ctx, const char *line, size_t len, const char *name,
                           size_t lineno)
{
	vdb_idlist *l = ctx;
	if (line[0] != '{' && line[0] != '"')
		return idlist_add(l, line, len);
	json_error_t err;
	json_t *j = json_loadb(line, len, JSON_DECODE_ANY, &err), *id = j;
	if (!j)
		return vdb_fail(VDB_EFORMAT, "%s: line %zu: %s", name, lineno, err.text);
	if (json_is_object(j))
		id = json_object_get(j, "id");
	char num[24];
	vdb_status s;
	if (json_is_string(id))
		s = idlist_add(l, json_string_value(id), json_string_length(id));
	else if (json_is_integer(id))
		s = idlist_add(l, num, (size_t)snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT,
		                                       json_integer_value(id)));
	else
		s = vdb_fail(VDB_EFORMAT, "%s: line %zu: %s", name, lineno,
		             json_is_object(j) ? "no \"id\" (a string or an integer)"
		                               : "an id is a string or an integer");
	json_decref(j);
	return s;
}

vdb_status vdb_each_line(FILE *f, const char *name, vdb_line_fn fn, void *ctx)
{
	char *line = NULL;
	size_t cap = 0, lineno = 0;
	ssize_t got;
	vdb_status s = VDB_OK;
	errno = 0;
	while (!s && (got = getline(&line, &cap, f)) >= 0) {
		lineno++;
		size_t len = (size_t)got, start = 0;
		while (len && strchr(" \t\r\n", line[len - 1]))
			len--;
		while (start < len && (line[start] == ' ' || line[start] == '\t'))
			start++;
		if (len > VDB_MAX_LINE)
			s = vdb_fail(VDB_EFORMAT, "%s: line %zu: longer than the limit of %u bytes "
			             "(VDB_MAX_LINE)", name, lineno, VDB_MAX_LINE);
		else if (start < len)
			s = fn(ctx, line + start, len - start, name, lineno);
	}
	if (!s && ferror(f))
		s = vdb_fail(VDB_EIO, "%s: read error: %s", name, strerror(errno));
	free(line);
	return s;
}

vdb_status vdb_idlist_read(vdb_idlist *l, FILE *f, const char *name)
{
	return vdb_each_line(f, name, line_key, l);
}

/* ===== Deletes and upserts ===== */
static vdb_status ensure_live(vdb_index *ix)
{
	if (!ix->live && !(ix->live = vdb_rowset_new(ix->count, true, "the live rows")))
		return VDB_ENOMEM;
	return VDB_OK;
}

/* Delete row r of ix (live set made): 1 if it was live, else 0. */
static size_t kill_row(vdb_index *ix, size_t r)
{
	if (!vdb_rowset_has(ix->live, r))
		return 0;
	vdb_rowset_del(ix->live, r);
	ix->ndead++;
	return 1;
}

/* Delete the live rows of ix with key; how many. */
static size_t delete_key(vdb_index *ix, const vdb_idmap *m, const char *key, size_t len)
{
	size_t pos = 0, n = 0;
	for (int64_t r; (r = vdb_idmap_next(m, key, len, &pos)) >= 0;)
		n += kill_row(ix, (size_t)r);
	return n;
}

static void drop_unused_live(vdb_index *ix)
{
	if (ix->live && ix->ndead == 0) {
		free(ix->live);
		ix->live = NULL;
	}
}

/* The row a key names in an index without ids: its number, or -1. */
static int64_t row_number(const char *key, size_t len, size_t count)
{
	uint64_t v = 0;
	if (len == 0 || len > 19 || (len > 1 && key[0] == '0'))
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (key[i] < '0' || key[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(key[i] - '0');
	}
	return v < count ? (int64_t)v : -1;
}

vdb_status vdb_index_delete(vdb_index *ix, const vdb_idlist *ids, size_t *deleted,
                            size_t *missing)
{
	*deleted = *missing = 0;
	vdb_idmap *m = NULL;
	/* the file's sections are written again as they are, the texts through
	 * their offsets: check them, and everything else, first (index.c) */
	vdb_status s = vdb_index_verify(ix);
	/* without ids a key is a row number: no map to build */
	if (!s && ix->col[VDB_COL_ID].off)
		s = vdb_idmap_new(&m, ix->count, vdb_idmap_index_key, ix);
	if (!s)
		s = ensure_live(ix);
	for (size_t i = 0; !s && i < ids->n; i++) {
		const char *key = ids->buf + ids->off[i];
		size_t len = (size_t)(ids->off[i + 1] - ids->off[i]), n = 0;
		if (m) {
			n = delete_key(ix, m, key, len);
		} else {
			int64_t r = row_number(key, len, ix->count);
			n = r >= 0 ? kill_row(ix, (size_t)r) : 0;
		}
		*deleted += n;
		*missing += n == 0;
	}
	vdb_idmap_free(m);
	drop_unused_live(ix);
	return s;
}

vdb_status vdb_index_delete_filter(vdb_index *ix, const vdb_filter *f, size_t *deleted)
{
	*deleted = 0;
	uint64_t *rows = NULL;
	size_t n = 0;
	/* as vdb_index_delete: checked first, then the filter's rows (from the
	 * payload index when the file has one) go */
	vdb_status s = vdb_index_verify(ix);
	if (!s)
		s = vdb_filter_rows(ix, f, &rows, &n);
	if (!s && n)
		s = ensure_live(ix);
	for (size_t r = 0; !s && n && r < ix->count; r++)
		if (vdb_rowset_has(rows, r))
			*deleted += kill_row(ix, r);
	free(rows);
	drop_unused_live(ix);
	return s;
}

vdb_status vdb_index_upsert(vdb_index **out, const vdb_index *base, vdb_vecs *data,
                            const vdb_build_opts *o, size_t *replaced)
{
	*out = NULL;
	*replaced = 0;
	VDB_RETURN_IF(!data->id_off && data->n, VDB_EFORMAT,
	              "an upsert matches records by id, and the input has none (--append adds "
	              "records without ids)");
	/* which rows go: found before the append, which normalises data */
	uint64_t *gone = vdb_rowset_new(base->count + data->n, false, "replaced rows");
	vdb_idmap *bm = NULL, *dm = NULL;
	vdb_status s = gone ? VDB_OK : VDB_ENOMEM;
	if (!s)
		s = vdb_idmap_new(&bm, base->count, vdb_idmap_index_key, base);
	if (!s)
		s = vdb_idmap_new(&dm, data->n, vdb_idmap_vecs_key, data);
	for (size_t r = 0; !s && r < data->n; r++) {
		vdb_idkey k;
		if ((s = vdb_idmap_vecs_key(data, r, &k)))
			break;
		size_t pos = 0;
		for (int64_t b; (b = vdb_idmap_next(bm, k.ptr, k.len, &pos)) >= 0;)
			if (vdb_index_is_live(base, b) && !vdb_rowset_has(gone, (size_t)b)) {
				vdb_rowset_add(gone, (size_t)b);
				(*replaced)++;
			}
		/* the input's last record of an id wins */
		pos = 0;
		for (int64_t d; (d = vdb_idmap_next(dm, k.ptr, k.len, &pos)) >= 0;)
			if ((size_t)d > r) {
				vdb_rowset_add(gone, base->count + r);
				break;
			}
		vdb_idkey_done(&k);
	}
	vdb_idmap_free(bm);
	vdb_idmap_free(dm);
	vdb_index *ix = NULL;
	if (!s)
		s = vdb_index_append_rows(&ix, base, data, o);
	if (!s)
		s = ensure_live(ix);
	for (size_t i = 0; !s && i < ix->count; i++)
		if (vdb_rowset_has(gone, i))
			kill_row(ix, i);
	free(gone);
	if (!s)
		drop_unused_live(ix);
	if (!s)
		s = vdb_index_relex(ix, base);
	if (s) {
		vdb_index_close(ix);
		return s;
	}
	drop_unused_live(ix);
	*out = ix;
	return VDB_OK;
}
