/*
 * payload.c — the payload index: the records' metadata as bitmaps and
 * sorted columns, built when the index is written, so that a filter is
 * resolved with set operations instead of parsing every record's JSON.
 *
 * Every metadata field (nested objects flattened to dotted paths; keys that
 * hold a '.' are not reachable by the filter language and are skipped)
 * gives keys "FIELD\0" + a kind byte + a value, each with the CRoaring
 * bitmap (portable format) of the rows that have it:
 *   's' VALUE  the field is this string        'S'  it is a string
 *   'b' true|false  this boolean               'B'  it is a boolean
 *   'a' VALUE  it is an array holding this string
 *   'e'        it is present and not null
 * and numbers go to a column per field of (value, row) sorted by value,
 * so equality and ranges are binary searches. Sections:
 *   PKEY  u32 count, then count x { u32 key offset, key length; u64 bitmap
 *         offset, bitmap length }, sorted by key bytes
 *   PKST  the key bytes        PBMP  the bitmaps
 *   PFLD  u32 count, then count x { u32 name offset, name length (in PKST);
 *         u64 first, count (in PNUM) }, sorted by name
 *   PNUM  { f64 value; u32 row; u32 0 } sorted by field, value, row
 * Everything read from a file is checked before use (offsets inside their
 * sections, rows below the count): a damaged payload is VDB_ECORRUPT.
 *
 * Recursion is bounded: building descends one level per nested metadata
 * object, at most VDB_MAX_META_DEPTH (JSONL input is refused deeper; a
 * file's older metadata deeper is VDB_EFORMAT here); resolving descends one
 * level per node of the filter's tree, which the parser bounds
 * (VDB_MAX_FILTER_DEPTH), with at most two row sets per level.
 */
#include "payload.h"
#include "filter.h"
#include "rowset.h"
#include <math.h>
#include <roaring/roaring.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define SEC_PKEY VDB_FOURCC('P', 'K', 'E', 'Y')
#define SEC_PKST VDB_FOURCC('P', 'K', 'S', 'T')
#define SEC_PBMP VDB_FOURCC('P', 'B', 'M', 'P')
#define SEC_PFLD VDB_FOURCC('P', 'F', 'L', 'D')
#define SEC_PNUM VDB_FOURCC('P', 'N', 'U', 'M')

typedef struct {
	uint32_t koff, klen;
	uint64_t boff, blen;
} key_entry;

typedef struct {
	uint32_t noff, nlen;
	uint64_t first, count;
} field_entry;

typedef struct {
	double v;
	uint32_t row, pad;
} num_entry;

/* ===== Building ===== */
typedef struct {
	char *key;
	size_t klen;
	uint32_t *rows;
	size_t n, cap;
	uint32_t field;       /* for 'f' entries (field names): the field's number */
	num_entry *nums;      /* for 'f' entries: the field's numbers */
	size_t nn, ncap;
} bkey;

typedef struct {
	bkey *slot;
	size_t cap, used;
	uint32_t nfields;
	int failed;
	int too_deep;         /* failed: metadata nested deeper than VDB_MAX_META_DEPTH */
} builder;

/* The longest dotted path indexed (longer fields are skipped). */
#define PATH_MAX_BYTES 4096

/* The builder's table slot of a key: XXH3, the library's one hash. Only
 * the building table uses it; the section is written in key order, so the
 * file does not depend on the hash. */
static uint64_t hash(const char *s, size_t n)
{
	return XXH3_64bits(s, n);
}

static bkey *lookup(builder *b, const char *key, size_t klen)
{
	if (b->failed)
		return NULL;
	if (2 * (b->used + 1) > b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 256;
		bkey *s = calloc(cap, sizeof *s);
		if (!s) {
			b->failed = 1;
			return NULL;
		}
		for (size_t i = 0; i < b->cap; i++)
			if (b->slot[i].key) {
				size_t j = hash(b->slot[i].key, b->slot[i].klen) & (cap - 1);
				while (s[j].key)
					j = (j + 1) & (cap - 1);
				s[j] = b->slot[i];
			}
		free(b->slot);
		b->slot = s, b->cap = cap;
	}
	size_t j = hash(key, klen) & (b->cap - 1);
	while (b->slot[j].key) {
		if (b->slot[j].klen == klen && !memcmp(b->slot[j].key, key, klen))
			return &b->slot[j];
		j = (j + 1) & (b->cap - 1);
	}
	char *k = malloc(klen ? klen : 1);
	if (!k) {
		b->failed = 1;
		return NULL;
	}
	memcpy(k, key, klen);
	b->slot[j].key = k;
	b->slot[j].klen = klen;
	b->used++;
	return &b->slot[j];
}

/* key = path \0 kind value */
static void add(builder *b, const char *path, char kind, const char *val, size_t vlen,
                uint32_t row)
{
	size_t plen = strlen(path), klen = plen + 2 + vlen;
	char stack[512], *key = klen <= sizeof stack ? stack : malloc(klen);
	if (!key) {
		b->failed = 1;
		return;
	}
	memcpy(key, path, plen);
	key[plen] = 0;
	key[plen + 1] = kind;
	if (vlen)
		memcpy(key + plen + 2, val, vlen);
	bkey *e = lookup(b, key, klen);
	if (key != stack)
		free(key);
	if (!e)
		return;
	if (e->n && e->rows[e->n - 1] == row) /* the same tag twice in one array */
		return;
	if (e->n == e->cap) {
		size_t cap = e->cap ? 2 * e->cap : 4;
		uint32_t *r = realloc(e->rows, cap * sizeof *r);
		if (!r) {
			b->failed = 1;
			return;
		}
		e->rows = r, e->cap = cap;
	}
	e->rows[e->n++] = row;
}

static void add_number(builder *b, const char *path, double v, uint32_t row)
{
	bkey *f = lookup(b, path, strlen(path)); /* field entries: the bare path */
	if (!f)
		return;
	if (f->nn == f->ncap) {
		size_t cap = f->ncap ? 2 * f->ncap : 4;
		num_entry *r = realloc(f->nums, cap * sizeof *r);
		if (!r) {
			b->failed = 1;
			return;
		}
		f->nums = r, f->ncap = cap;
	}
	f->nums[f->nn++] = (num_entry){ v, row, 0 };
}

/* Index value j of the field path[0..pl) (NUL-terminated, in a buffer of
 * PATH_MAX_BYTES that nested fields extend and restore), at nesting depth
 * (the metadata object is 1). */
static void add_value(builder *b, char *path, size_t pl, json_t *j, uint32_t row, unsigned depth)
{
	if (json_is_null(j) || b->failed)
		return;
	add(b, path, 'e', NULL, 0, row);
	if (json_is_string(j)) {
		add(b, path, 'S', NULL, 0, row);
		add(b, path, 's', json_string_value(j), json_string_length(j), row);
	} else if (json_is_boolean(j)) {
		add(b, path, 'B', NULL, 0, row);
		add(b, path, 'b', json_is_true(j) ? "true" : "false", json_is_true(j) ? 4 : 5, row);
	} else if (json_is_number(j)) {
		add_number(b, path, json_number_value(j), row);
	} else if (json_is_array(j)) {
		size_t i;
		json_t *e;
		json_array_foreach(j, i, e)
			if (json_is_string(e))
				add(b, path, 'a', json_string_value(e), json_string_length(e), row);
	} else if (json_is_object(j)) {
		if (depth > VDB_MAX_META_DEPTH) {
			b->failed = b->too_deep = 1;
			return;
		}
		const char *k;
		json_t *v;
		json_object_foreach(j, k, v) {
			size_t kl = strlen(k);
			if (strchr(k, '.') || pl + kl + 2 > PATH_MAX_BYTES)
				continue;
			path[pl] = '.';
			memcpy(path + pl + 1, k, kl + 1);
			add_value(b, path, pl + 1 + kl, v, row, depth + 1);
			path[pl] = 0;
		}
	}
}

static int cmp_bkey(const void *x, const void *y)
{
	const bkey *a = x, *b = y;
	size_t n = a->klen < b->klen ? a->klen : b->klen;
	int c = memcmp(a->key, b->key, n);
	return c ? c : (a->klen > b->klen) - (a->klen < b->klen);
}

static int cmp_num(const void *x, const void *y)
{
	const num_entry *a = x, *b = y;
	if (a->v != b->v)
		return a->v < b->v ? -1 : 1;
	return (a->row > b->row) - (a->row < b->row);
}

static void builder_free(builder *b)
{
	for (size_t i = 0; i < b->cap; i++) {
		free(b->slot[i].key);
		free(b->slot[i].rows);
		free(b->slot[i].nums);
	}
	free(b->slot);
}

/* A growing byte buffer. */
typedef struct {
	unsigned char *p;
	size_t n, cap;
	int failed;
} buf;

static void *put(buf *o, const void *data, size_t n)
{
	if (o->failed)
		return NULL;
	if (vdb_grow((void **)&o->p, &o->cap, o->n + n, 1, "payload index")) {
		o->failed = 1;
		return NULL;
	}
	void *at = o->p + o->n;
	if (data)
		memcpy(at, data, n);
	o->n += n;
	return at;
}

vdb_status vdb_payload_save(vdb_file_writer *w, const uint64_t *md_off, const char *md_buf,
                            size_t count)
{
	builder b = { 0 };
	char path[PATH_MAX_BYTES];
	size_t i = 0;
	for (; i < count && !b.failed; i++) {
		json_t *m = json_loadb(md_buf + md_off[i], (size_t)(md_off[i + 1] - md_off[i]), 0, NULL);
		const char *k;
		json_t *v;
		if (json_is_object(m))
			json_object_foreach(m, k, v) {
				size_t kl = strlen(k);
				if (strchr(k, '.') || kl + 1 > sizeof path)
					continue;
				memcpy(path, k, kl + 1);
				add_value(&b, path, kl, v, (uint32_t)i, 2);
			}
		json_decref(m);
	}
	if (b.too_deep) {
		builder_free(&b);
		return vdb_fail(VDB_EFORMAT, "record %zu: metadata nested deeper than the limit of %u "
		                "levels", i - 1, VDB_MAX_META_DEPTH);
	}
	/* the keys in order; field entries (no \0 in the key) are the numbers' */
	bkey *keys = b.failed ? NULL : malloc((b.used ? b.used : 1) * sizeof *keys);
	size_t nk = 0;
	for (size_t i = 0; keys && i < b.cap; i++)
		if (b.slot[i].key)
			keys[nk++] = b.slot[i];
	vdb_status s = keys ? VDB_OK : vdb_fail(VDB_ENOMEM, "out of memory for the payload index");
	if (keys)
		qsort(keys, nk, sizeof *keys, cmp_bkey);
	buf kt = { 0 }, ks = { 0 }, bm = { 0 }, ft = { 0 }, nm = { 0 };
	uint32_t nkeys = 0, nfields = 0;
	put(&kt, &nkeys, 4);
	put(&ft, &nfields, 4);
	for (size_t i = 0; !s && i < nk; i++) {
		bkey *e = &keys[i];
		key_entry ke = { (uint32_t)ks.n, (uint32_t)e->klen, 0, 0 };
		if (!put(&ks, e->key, e->klen) && e->klen)
			break;
		if (!memchr(e->key, 0, e->klen)) { /* a field: its numbers */
			qsort(e->nums, e->nn, sizeof *e->nums, cmp_num);
			field_entry fe = { ke.koff, ke.klen, nm.n / sizeof(num_entry), e->nn };
			put(&nm, e->nums, e->nn * sizeof *e->nums);
			put(&ft, &fe, sizeof fe);
			nfields++;
			continue;
		}
		roaring_bitmap_t *r = roaring_bitmap_create_with_capacity((uint32_t)e->n);
		if (!r) {
			s = vdb_fail(VDB_ENOMEM, "out of memory for the payload index");
			break;
		}
		roaring_bitmap_add_many(r, e->n, e->rows);
		roaring_bitmap_run_optimize(r);
		ke.boff = bm.n;
		ke.blen = roaring_bitmap_portable_size_in_bytes(r);
		char *at = put(&bm, NULL, ke.blen);
		if (at)
			roaring_bitmap_portable_serialize(r, at);
		roaring_bitmap_free(r);
		put(&kt, &ke, sizeof ke);
		nkeys++;
	}
	if (!s && (kt.failed || ks.failed || bm.failed || ft.failed || nm.failed))
		s = vdb_fail(VDB_ENOMEM, "out of memory for the payload index");
	if (!s) {
		memcpy(kt.p, &nkeys, 4);
		memcpy(ft.p, &nfields, 4);
		s = vdb_file_write_section(w, SEC_PKEY, kt.p, kt.n);
	}
	if (!s)
		s = vdb_file_write_section(w, SEC_PKST, ks.p ? ks.p : (unsigned char *)"", ks.n);
	if (!s)
		s = vdb_file_write_section(w, SEC_PBMP, bm.p ? bm.p : (unsigned char *)"", bm.n);
	if (!s)
		s = vdb_file_write_section(w, SEC_PFLD, ft.p, ft.n);
	if (!s)
		s = vdb_file_write_section(w, SEC_PNUM, nm.p ? nm.p : (unsigned char *)"", nm.n);
	free(kt.p), free(ks.p), free(bm.p), free(ft.p), free(nm.p);
	free(keys);
	builder_free(&b);
	return s;
}

vdb_status vdb_payload_copy(vdb_file_writer *w, const vdb_file *f, int *copied)
{
	vdb_payload p;
	*copied = vdb_payload_open(&p, f, 0);
	if (!*copied)
		return VDB_OK;
	const uint32_t kind[5] = { SEC_PKEY, SEC_PKST, SEC_PBMP, SEC_PFLD, SEC_PNUM };
	const unsigned char *data[5] = { p.kt, p.ks, p.bm, p.ft, p.nm };
	size_t len[5] = { p.ktn, p.ksn, p.bmn, p.ftn, p.nmn };
	vdb_status s = VDB_OK;
	for (int i = 0; i < 5 && !s; i++)
		s = vdb_file_write_section(w, kind[i], data[i], len[i]);
	return s;
}

/* ===== Resolving a filter ===== */

int vdb_payload_open(vdb_payload *p, const vdb_file *f, size_t count)
{
	memset(p, 0, sizeof *p);
	p->f = f;
	p->count = count;
	p->kt = vdb_file_section(f, SEC_PKEY, &p->ktn);
	p->ks = vdb_file_section(f, SEC_PKST, &p->ksn);
	p->bm = vdb_file_section(f, SEC_PBMP, &p->bmn);
	p->ft = vdb_file_section(f, SEC_PFLD, &p->ftn);
	p->nm = vdb_file_section(f, SEC_PNUM, &p->nmn);
	if (!p->kt || !p->ks || !p->bm || !p->ft || !p->nm || p->ktn < 4 || p->ftn < 4)
		return 0;
	memcpy(&p->nkeys, p->kt, 4);
	memcpy(&p->nfields, p->ft, 4);
	return 1;
}

static vdb_status corrupt(const vdb_payload *p, const char *what)
{
	return vdb_fail(VDB_ECORRUPT, "%s: payload index: %s", p->f->path, what);
}

/* Key i's bytes, checked. */
static vdb_status key_at(const vdb_payload *p, uint32_t i, key_entry *e, const char **key)
{
	if ((uint64_t)p->nkeys * sizeof *e + 4 > p->ktn)
		return corrupt(p, "PKEY shorter than its count");
	memcpy(e, p->kt + 4 + (size_t)i * sizeof *e, sizeof *e);
	if ((uint64_t)e->koff + e->klen > p->ksn || e->boff > p->bmn || e->blen > p->bmn - e->boff)
		return corrupt(p, "a key or bitmap outside its section");
	*key = (const char *)p->ks + e->koff;
	return VDB_OK;
}

static int cmp_bytes(const char *a, size_t an, const char *b, size_t bn)
{
	size_t n = an < bn ? an : bn;
	int c = memcmp(a, b, n);
	return c ? c : (an > bn) - (an < bn);
}

/* Sets of rows are bitsets of count bits (rowset.h), combined word by word:
 * CRoaring is the storage format only (rowset.h says why). */

/* The rows of key path \0 kind value, added to out (none if no such key). */
static vdb_status key_rows(const vdb_payload *p, const char *path, char kind, const char *val,
                           size_t vlen, uint64_t *out)
{
	size_t plen = strlen(path), klen = plen + 2 + vlen;
	char *want = malloc(klen);
	if (!want)
		return vdb_fail(VDB_ENOMEM, "out of memory");
	memcpy(want, path, plen);
	want[plen] = 0;
	want[plen + 1] = kind;
	if (vlen)
		memcpy(want + plen + 2, val, vlen);
	uint32_t lo = 0, hi = p->nkeys;
	vdb_status s = VDB_OK;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		key_entry e;
		const char *key = NULL;
		if ((s = key_at(p, mid, &e, &key)))
			break;
		int c = cmp_bytes(key, e.klen, want, klen);
		if (c == 0) {
			if (!vdb_rowset_or_roaring(out, p->count, p->bm + e.boff, (size_t)e.blen))
				s = corrupt(p, "a bitmap that does not decode or names rows beyond the count");
			break;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	free(want);
	return s;
}

/* The numbers of field path, checked: *nums, *n (none: n = 0). */
static vdb_status field_nums(const vdb_payload *p, const char *path, const num_entry **nums,
                             size_t *n)
{
	*n = 0;
	size_t plen = strlen(path);
	if ((uint64_t)p->nfields * sizeof(field_entry) + 4 > p->ftn)
		return corrupt(p, "PFLD shorter than its count");
	uint32_t lo = 0, hi = p->nfields;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		field_entry e;
		memcpy(&e, p->ft + 4 + (size_t)mid * sizeof e, sizeof e);
		if ((uint64_t)e.noff + e.nlen > p->ksn)
			return corrupt(p, "a field name outside PKST");
		int c = cmp_bytes((const char *)p->ks + e.noff, e.nlen, path, plen);
		if (c == 0) {
			size_t total = p->nmn / sizeof(num_entry);
			if (e.first > total || e.count > total - e.first)
				return corrupt(p, "a numeric column outside PNUM");
			*nums = (const num_entry *)(const void *)p->nm + e.first;
			*n = (size_t)e.count;
			return VDB_OK;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return VDB_OK;
}

/* Rows whose number lies in [lo, hi] (with open ends as asked), added to out. */
static vdb_status num_rows(const vdb_payload *p, const char *path, double lo, int lo_open,
                           double hi, int hi_open, uint64_t *out)
{
	const num_entry *nums;
	size_t n;
	vdb_status s = field_nums(p, path, &nums, &n);
	if (s || n == 0)
		return s;
	/* first entry not below lo (or above it, when open); a damaged column
	 * out of order gives a wrong answer, never a read outside it */
	size_t a = 0, b = n;
	while (a < b) {
		size_t m = a + (b - a) / 2;
		if (nums[m].v < lo || (lo_open && nums[m].v == lo))
			a = m + 1;
		else
			b = m;
	}
	for (size_t i = a; i < n; i++) {
		if (nums[i].v > hi || (hi_open && nums[i].v == hi))
			break;
		if (nums[i].row >= p->count)
			return corrupt(p, "a row beyond the count in PNUM");
		out[nums[i].row >> 6] |= (uint64_t)1 << (nums[i].row & 63);
	}
	return VDB_OK;
}

static vdb_status value_rows(const vdb_payload *p, const char *path, const vdb_fvalue *v,
                             uint64_t *out)
{
	switch (v->kind) {
	case V_STRING:
		return key_rows(p, path, 's', v->s, v->len, out);
	case V_BOOL:
		return key_rows(p, path, 'b', v->b ? "true" : "false", v->b ? 4 : 5, out);
	case V_NUMBER:
		return num_rows(p, path, v->num, 0, v->num, 0, out);
	}
	return VDB_OK;
}

static vdb_status node_rows(const vdb_payload *p, const vdb_fnode *n, uint64_t *out);

/* out |= a & ~b (with b NULL: a) for two fresh sets computed by f and g. */
static vdb_status combine(const vdb_payload *p, uint64_t *out, int negate_b,
                          vdb_status (*fa)(const vdb_payload *, const void *, uint64_t *),
                          const void *ca,
                          vdb_status (*fb)(const vdb_payload *, const void *, uint64_t *),
                          const void *cb)
{
	size_t w = vdb_rowset_words(p->count);
	uint64_t *a = calloc(w ? w : 1, sizeof *a), *b = calloc(w ? w : 1, sizeof *b);
	vdb_status s = a && b ? VDB_OK : vdb_fail(VDB_ENOMEM, "out of memory");
	if (!s && fa)
		s = fa(p, ca, a);
	else if (!s) /* no first set: every row */
		for (size_t i = 0; i < w; i++)
			a[i] = ~(uint64_t)0;
	if (!s)
		s = fb(p, cb, b);
	if (!s)
		for (size_t i = 0; i < w; i++)
			out[i] |= a[i] & (negate_b ? ~b[i] : b[i]);
	if (!s && p->count % 64) /* no row beyond the count */
		out[w - 1] &= ((uint64_t)1 << (p->count % 64)) - 1;
	free(a), free(b);
	return s;
}

static vdb_status node_fn(const vdb_payload *p, const void *n, uint64_t *out)
{
	return node_rows(p, n, out);
}

typedef struct {
	const char *field;
	char kind;
	const vdb_fvalue *v;
} leaf;

static vdb_status leaf_fn(const vdb_payload *p, const void *ctx, uint64_t *out)
{
	const leaf *l = ctx;
	if (l->v)
		return value_rows(p, l->field, l->v, out);
	if (l->kind == 'n')
		return num_rows(p, l->field, -INFINITY, 0, INFINITY, 0, out);
	return key_rows(p, l->field, l->kind, NULL, 0, out);
}

/* out |= the rows that pass every operand of n (an F_AND), in two sets
 * whatever the number of operands; once none is left the rest are skipped. */
static vdb_status all_rows(const vdb_payload *p, const vdb_fnode *n, uint64_t *out)
{
	size_t w = vdb_rowset_words(p->count);
	uint64_t *acc = vdb_rowset_new(p->count, false, "the filter's rows");
	uint64_t *t = acc ? vdb_rowset_new(p->count, false, "the filter's rows") : NULL;
	vdb_status s = t ? node_rows(p, n->kids[0], acc) : VDB_ENOMEM;
	for (size_t i = 1; !s && i < n->nkids; i++) {
		memset(t, 0, w * sizeof *t);
		if ((s = node_rows(p, n->kids[i], t)))
			break;
		uint64_t any = 0;
		for (size_t j = 0; j < w; j++)
			any |= acc[j] &= t[j];
		if (!any)
			break;
	}
	if (!s)
		for (size_t j = 0; j < w; j++)
			out[j] |= acc[j];
	free(acc), free(t);
	return s;
}

static vdb_status node_rows(const vdb_payload *p, const vdb_fnode *n, uint64_t *out)
{
	vdb_status s = VDB_OK;
	if (n->id) /* the record id, not a metadata field */
		return p->id_rows ? p->id_rows(p->ix, n, out)
		                  : vdb_fail(VDB_EINTERNAL, "an id test without the index's ids");
	switch (n->kind) {
	case F_OR:
		for (size_t i = 0; !s && i < n->nkids; i++)
			s = node_rows(p, n->kids[i], out);
		return s;
	case F_AND:
		return all_rows(p, n, out);
	case F_NOT:
		return combine(p, out, 1, NULL, NULL, node_fn, n->kids[0]);
	case F_EXISTS:
		return key_rows(p, n->field, 'e', NULL, 0, out);
	case F_CONTAINS:
		return key_rows(p, n->field, 'a', n->vals->s, n->vals->len, out);
	case F_IN:
		for (size_t i = 0; !s && i < n->nvals; i++)
			s = value_rows(p, n->field, &n->vals[i], out);
		return s;
	case F_CMP:
		break;
	}
	const vdb_fvalue *v = n->vals;
	switch (n->op) {
	case OP_EQ:
		return value_rows(p, n->field, v, out);
	case OP_NE: {
		/* the values of the same type, but this one */
		leaf type = { n->field, v->kind == V_NUMBER ? 'n' : v->kind == V_STRING ? 'S' : 'B',
		              NULL };
		leaf eq = { n->field, 0, v };
		return combine(p, out, 1, leaf_fn, &type, leaf_fn, &eq);
	}
	case OP_LT: return num_rows(p, n->field, -INFINITY, 0, v->num, 1, out);
	case OP_LE: return num_rows(p, n->field, -INFINITY, 0, v->num, 0, out);
	case OP_GT: return num_rows(p, n->field, v->num, 1, INFINITY, 0, out);
	case OP_GE: return num_rows(p, n->field, v->num, 0, INFINITY, 0, out);
	}
	return VDB_OK;
}

vdb_status vdb_payload_resolve(const vdb_payload *p, const vdb_filter *f, uint64_t *bits,
                               size_t *n)
{
	vdb_status s = node_rows(p, f->root, bits);
	if (!s) {
		size_t total = 0;
		for (size_t i = 0; i < vdb_rowset_words(p->count); i++)
			total += (size_t)__builtin_popcountll(bits[i]);
		*n = total;
	}
	return s;
}
