/*
 * rowset.c — row bitsets, and their CRoaring form in index files.
 *
 * In memory a set of rows is a plain bitset: membership is one load in the
 * search loop, and a million rows take 125 KB. In files a set is a CRoaring
 * portable bitmap (Debian's libroaring-dev): a few deleted rows of a large
 * index take bytes, not a bitset's fixed size, and any CRoaring reader can
 * decode it.
 */
#include "rowset.h"
#include <roaring/roaring.h>
#include <string.h>

uint64_t *vdb_rowset_new(size_t count, bool full, const char *what)
{
	size_t words = vdb_rowset_words(count);
	uint64_t *s = vdb_malloc((words ? words : 1) * sizeof *s, what);
	if (!s)
		return NULL;
	memset(s, full ? 0xff : 0, words * sizeof *s);
	if (full && count % 64)
		s[words - 1] = ((uint64_t)1 << (count % 64)) - 1;
	return s;
}

size_t vdb_rowset_size(const uint64_t *s, size_t count)
{
	size_t n = 0, words = vdb_rowset_words(count);
	for (size_t w = 0; w < words; w++)
		n += (size_t)__builtin_popcountll(s[w]);
	return n;
}

void vdb_rowset_invert(uint64_t *s, size_t count)
{
	size_t words = vdb_rowset_words(count);
	for (size_t w = 0; w < words; w++)
		s[w] = ~s[w];
	if (count % 64)
		s[words - 1] &= ((uint64_t)1 << (count % 64)) - 1;
}

typedef struct {
	uint64_t *bits;
	size_t count;
	int bad;
} visit;

static bool set_row(uint32_t v, void *ctx)
{
	visit *x = ctx;
	if (v >= x->count) {
		x->bad = 1;
		return false;
	}
	vdb_rowset_add(x->bits, v);
	return true;
}

int vdb_rowset_or_roaring(uint64_t *bits, size_t count, const void *data, size_t len)
{
	roaring_bitmap_t *r = roaring_bitmap_portable_deserialize_safe(data, len);
	if (!r)
		return 0;
	visit x = { bits, count, 0 };
	roaring_iterate(r, set_row, &x);
	roaring_bitmap_free(r); /* this CRoaring's free does not take NULL */
	return !x.bad;
}

vdb_status vdb_rowset_absent_roaring(const uint64_t *s, size_t count, void **out, size_t *len)
{
	*out = NULL;
	roaring_bitmap_t *r = roaring_bitmap_create();
	if (!r)
		return vdb_fail(VDB_ENOMEM, "out of memory");
	for (size_t i = 0; i < count; i++)
		if (!vdb_rowset_has(s, i))
			roaring_bitmap_add(r, (uint32_t)i);
	roaring_bitmap_run_optimize(r);
	*len = roaring_bitmap_portable_size_in_bytes(r);
	*out = vdb_malloc(*len ? *len : 1, "deleted rows");
	if (*out)
		roaring_bitmap_portable_serialize(r, *out);
	roaring_bitmap_free(r);
	return *out ? VDB_OK : VDB_ENOMEM;
}
