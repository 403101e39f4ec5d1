/*
 * patch.c — metadata patches without a vector (vdb-build --patch), as
 * Qdrant's set_payload: each patch is a JSON merge patch (RFC 7396) of a
 * record's stored metadata, and may replace its text.
 *
 * Every patch is read and checked before any is applied; the patched rows'
 * metadata (and texts) are then written into new columns of the index
 * beside its mapped sections, so that vdb_index_save copies the vectors and
 * the type's sections as they are and makes the payload index again from
 * the new metadata (index.c, save_payload): filters see the new values as
 * soon as the file is in place. The lexical index, derived from the texts
 * (or a metadata field), is made again as an upsert makes it.
 */
#include "idmap.h"
#include "index_internal.h"
#include <stdio.h>
#include <string.h>

typedef struct {
	char *key;     /* the id as a key (idmap.h) */
	size_t len;
	json_t *meta;  /* the merge patch, or NULL */
	json_t *text;  /* the new text (a string or null), or NULL: unchanged */
	const char *name;
	size_t line;
} patch;

struct vdb_patches {
	patch *p;
	size_t n, cap;
	char **names; /* the inputs' names, owned */
	size_t nnames, ncap;
};

vdb_status vdb_patches_new(vdb_patches **out)
{
	*out = calloc(1, sizeof **out);
	return *out ? VDB_OK : vdb_fail(VDB_ENOMEM, "out of memory");
}

size_t vdb_patches_count(const vdb_patches *p)
{
	return p->n;
}

void vdb_patches_free(vdb_patches *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++) {
		free(p->p[i].key);
		json_decref(p->p[i].meta);
		json_decref(p->p[i].text);
	}
	for (size_t i = 0; i < p->nnames; i++)
		free(p->names[i]);
	free(p->names);
	free(p->p);
	free(p);
}

/* Nested deeper than VDB_MAX_META_DEPTH (as the JSONL reader refuses)? */
static bool too_deep(const json_t *j, unsigned depth)
{
	if (!json_is_object(j) && !json_is_array(j))
		return false;
	if (depth > VDB_MAX_META_DEPTH)
		return true;
	const json_t *e;
	size_t i;
	const char *k;
	if (json_is_array(j)) {
		json_array_foreach(j, i, e)
			if (too_deep(e, depth + 1))
				return true;
	} else {
		json_object_foreach((json_t *)j, k, e)
			if (too_deep(e, depth + 1))
				return true;
	}
	return false;
}

/* What is wrong with a patch record o, or NULL. */
static const char *patch_problem(json_t *o)
{
	if (!json_is_object(o))
		return "a patch is an object {\"id\", \"metadata\", \"text\"}";
	json_t *id = json_object_get(o, "id"), *m = json_object_get(o, "metadata"),
	       *t = json_object_get(o, "text");
	if (!json_is_string(id) && !json_is_integer(id))
		return "no \"id\" (a string or an integer)";
	if (json_object_get(o, "vector") || json_object_get(o, "bits"))
		return "a patch has no vector: --upsert replaces a record's vector";
	if (m && !json_is_object(m))
		return "\"metadata\" must be an object (a JSON merge patch)";
	if (m && too_deep(m, 1))
		return "\"metadata\" nests deeper than the limit of VDB_MAX_META_DEPTH levels";
	if (t && !json_is_string(t) && !json_is_null(t))
		return "\"text\" must be a string (or null, to remove it)";
	if (json_is_string(t) && json_string_length(t) > VDB_MAX_TEXT)
		return "\"text\" holds more bytes than the limit VDB_MAX_TEXT";
	if (!m && !t)
		return "nothing to change: give \"metadata\" or \"text\"";
	return NULL;
}

/* Add the patch of line (text len) of input name. */
static vdb_status add_patch(void *ctx, const char *line, size_t len, const char *name,
                            size_t lineno)
{
	vdb_patches *p = ctx;
	json_error_t err;
	json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &err);
	if (!o)
		return vdb_fail(VDB_EFORMAT, "%s: line %zu: malformed JSON: %s at column %d", name,
		                lineno, err.text, err.column);
	const char *why = patch_problem(o);
	vdb_status s = why ? vdb_fail(VDB_EFORMAT, "%s: line %zu: %s", name, lineno, why)
	                   : vdb_grow((void **)&p->p, &p->cap, p->n + 1, sizeof *p->p, "patches");
	json_t *id = json_object_get(o, "id");
	char num[24], *key = NULL;
	const char *kp = num;
	size_t kl = 0;
	if (!s && json_is_string(id))
		kp = json_string_value(id), kl = json_string_length(id);
	else if (!s)
		kl = (size_t)snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(id));
	if (!s && !(key = malloc(kl + 1)))
		s = vdb_fail(VDB_ENOMEM, "out of memory");
	if (!s) {
		memcpy(key, kp, kl);
		json_t *m = json_object_get(o, "metadata"), *t = json_object_get(o, "text");
		p->p[p->n++] = (patch){ key, kl, json_incref(m), json_incref(t), name, lineno };
	}
	json_decref(o);
	return s;
}

vdb_status vdb_patches_read(vdb_patches *p, FILE *f, const char *name)
{
	vdb_status s = vdb_grow((void **)&p->names, &p->ncap, p->nnames + 1, sizeof *p->names,
	                        "patches");
	char *own = s ? NULL : strdup(name);
	if (!s && !own)
		s = vdb_fail(VDB_ENOMEM, "out of memory");
	if (s)
		return s;
	p->names[p->nnames++] = own;
	return vdb_each_line(f, own, add_patch, p);
}

/* ===== Applying ===== */
/* RFC 7396 MergePatch(target, patch), target an object (changed in place):
 * a member null removes the key, an object merges into the stored value
 * (an object, or {} in place of anything else), anything else replaces it. */
static vdb_status merge_patch(json_t *target, json_t *patch)
{
	const char *k;
	json_t *v;
	json_object_foreach(patch, k, v) {
		if (json_is_null(v)) {
			json_object_del(target, k);
			continue;
		}
		json_t *now = json_object_get(target, k), *next;
		if (json_is_object(v)) {
			next = json_is_object(now) ? json_incref(now) : json_object();
			if (next && merge_patch(next, v)) {
				json_decref(next);
				next = NULL;
			}
		} else {
			next = json_deep_copy(v);
		}
		if (!next || json_object_set_new(target, k, next))
			return vdb_fail(VDB_ENOMEM, "out of memory");
	}
	return VDB_OK;
}

/* The new values of the patched rows, by row: NULL where unchanged. */
typedef struct {
	json_t **meta, **text;
	bool any_meta, any_text;
} changes;

/* Row r's metadata as it stands: patched before, else stored ({} for none). */
static vdb_status current_meta(const vdb_index *ix, changes *c, size_t r)
{
	if (c->meta[r])
		return VDB_OK;
	size_t len = 0;
	const char *t = vdb_index_meta_json(ix, (int64_t)r, &len);
	json_t *j = t ? json_loadb(t, len, 0, NULL) : NULL;
	if (!json_is_object(j)) {
		json_decref(j);
		j = json_object();
	}
	c->meta[r] = j;
	return j ? VDB_OK : vdb_fail(VDB_ENOMEM, "out of memory");
}

static vdb_status apply_one(const vdb_index *ix, changes *c, const patch *pt, size_t r)
{
	if (pt->text) {
		json_decref(c->text[r]);
		c->text[r] = json_incref(pt->text);
		c->any_text = true;
	}
	if (!pt->meta)
		return VDB_OK;
	c->any_meta = true;
	vdb_status s = current_meta(ix, c, r);
	return s ? s : merge_patch(c->meta[r], pt->meta);
}

/* Column col of ix made again: the changed rows' values, the others' as
 * stored (null where there is none). */
static vdb_status new_column(const vdb_index *ix, int col, json_t *const *now, vdb_texts *out)
{
	vdb_texts t = { 0 };
	vdb_status s = vdb_grow((void **)&t.off, &t.ocap, ix->count + 1, sizeof *t.off, "offsets");
	if (!s)
		t.off[0] = 0;
	for (size_t r = 0; !s && r < ix->count; r++) {
		char *dump = NULL;
		size_t len = 4;
		const char *x = "null";
		if (now[r] && !json_is_null(now[r])) {
			dump = json_dumps(now[r], JSON_ENCODE_ANY | JSON_COMPACT | JSON_PRESERVE_ORDER);
			if (!dump) {
				s = vdb_fail(VDB_ENOMEM, "out of memory");
				break;
			}
			x = dump, len = strlen(dump);
		} else if (!now[r] && ix->col[col].off) {
			x = vdb_index_col_json(ix, col, (int64_t)r, &len);
			if (!x) {
				x = "null", len = 4; /* verified before: not reached */
			}
		}
		s = vdb_grow((void **)&t.buf, &t.cap, t.len + len + 1, 1, "texts");
		if (!s) {
			memcpy(t.buf + t.len, x, len);
			t.len += len;
			t.off[r + 1] = t.len;
		}
		free(dump);
	}
	if (s) {
		free(t.buf);
		free(t.off);
		return s;
	}
	*out = t;
	return VDB_OK;
}

/* ix's column col becomes t (ix owns it). */
static void set_column(vdb_index *ix, int col, vdb_texts *t)
{
	free(ix->owned.col[col].buf);
	free(ix->owned.col[col].off);
	ix->owned.col[col] = *t;
	ix->col[col].off = t->off;
	ix->col[col].buf = t->buf;
	ix->col[col].len = t->len;
}

/* "NAME: line N (id ID)" of a patch. */
static void patch_label(const patch *pt, char *buf, size_t n)
{
	if (n)
		snprintf(buf, n, "%s: line %zu (id \"%.*s%s\")", pt->name, pt->line,
		         (int)(pt->len > 80 ? 77 : pt->len), pt->key, pt->len > 80 ? "..." : "");
}

vdb_status vdb_index_patch(vdb_index *ix, const vdb_patches *p, size_t *patched, size_t *missing,
                           char *first_missing, size_t n)
{
	*patched = *missing = 0;
	if (n)
		*first_missing = 0;
	changes c = { NULL, NULL, false, false };
	vdb_idmap *m = NULL;
	vdb_status s = vdb_index_verify(ix);
	if (!s && (!(c.meta = calloc(ix->count ? ix->count : 1, sizeof *c.meta)) ||
	           !(c.text = calloc(ix->count ? ix->count : 1, sizeof *c.text))))
		s = vdb_fail(VDB_ENOMEM, "out of memory for the patches of %zu rows", ix->count);
	/* an index without ids: keys are row numbers */
	if (!s)
		s = vdb_idmap_new(&m, ix->count, vdb_idmap_index_key, ix);
	for (size_t i = 0; !s && i < p->n; i++) {
		const patch *pt = &p->p[i];
		size_t pos = 0, hit = 0;
		for (int64_t r; !s && (r = vdb_idmap_next(m, pt->key, pt->len, &pos)) >= 0;)
			if (vdb_index_is_live(ix, r)) {
				s = apply_one(ix, &c, pt, (size_t)r);
				hit++;
			}
		if (!s && !hit && (*missing)++ == 0)
			patch_label(pt, first_missing, n);
	}
	vdb_idmap_free(m);
	for (size_t r = 0; !s && r < ix->count; r++)
		*patched += c.meta[r] || c.text[r];
	vdb_texts meta = { 0 }, text = { 0 };
	if (!s && c.any_meta)
		s = new_column(ix, VDB_COL_META, c.meta, &meta);
	if (!s && c.any_text && (s = new_column(ix, VDB_COL_TEXT, c.text, &text))) {
		free(meta.buf);
		free(meta.off);
	}
	for (size_t r = 0; (c.meta || c.text) && r < ix->count; r++) {
		json_decref(c.meta ? c.meta[r] : NULL);
		json_decref(c.text ? c.text[r] : NULL);
	}
	free(c.meta);
	free(c.text);
	if (s || !*patched)
		return s;
	/* a new metadata column: save_payload makes the payload index from it */
	if (c.any_meta)
		set_column(ix, VDB_COL_META, &meta);
	if (c.any_text)
		set_column(ix, VDB_COL_TEXT, &text);
	/* the lexical index reads the new texts (or field): made again */
	return vdb_index_relex(ix, ix);
}
