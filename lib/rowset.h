/* rowset.h — sets of rows as plain bitsets (one bit per row, 64 to a
 * word), and their CRoaring form in index files (rowset.c). (internal) */
#ifndef VDB_ROWSET_H
#define VDB_ROWSET_H
#include "vdb_internal.h"

static inline size_t vdb_rowset_words(size_t count)
{
	return (count + 63) / 64;
}
static inline int vdb_rowset_has(const uint64_t *s, size_t i)
{
	return (int)((s[i >> 6] >> (i & 63)) & 1);
}
static inline void vdb_rowset_add(uint64_t *s, size_t i)
{
	s[i >> 6] |= (uint64_t)1 << (i & 63);
}
static inline void vdb_rowset_del(uint64_t *s, size_t i)
{
	s[i >> 6] &= ~((uint64_t)1 << (i & 63));
}

/* A set of count rows, all present (full) or none; NULL with VDB_ENOMEM
 * recorded. Bits past count are always 0. */
uint64_t *vdb_rowset_new(size_t count, bool full, const char *what);
size_t vdb_rowset_size(const uint64_t *s, size_t count);
/* Complement in place (the bits past count stay 0). */
void vdb_rowset_invert(uint64_t *s, size_t count);

/* Add to bits the rows of a portable CRoaring bitmap read from a file: it
 * is decoded with the bounds-checked reader and only visited (set
 * operations on a crafted container can crash this CRoaring), and every
 * row is checked against count. 0 if it does not decode or names a row
 * >= count. */
int vdb_rowset_or_roaring(uint64_t *bits, size_t count, const void *data, size_t len);

/* The rows absent from s (count rows) as a portable CRoaring bitmap:
 * *out malloc'd, *len bytes. */
vdb_status vdb_rowset_absent_roaring(const uint64_t *s, size_t count, void **out, size_t *len);
#endif
