/* idmap.h — ids as keys, and the rows that hold each key (idmap.c).
 * (internal) */
#ifndef VDB_IDMAP_H
#define VDB_IDMAP_H
#include "vdb_internal.h"
#include <jansson.h>
#include <stdio.h>

/* The key of an id is the id as a user writes it (vdb_shard_of_key's
 * rule): a string id's UTF-8 bytes without quotes or escapes, an integer
 * id's digits; a record without an id is keyed by its row number. */
typedef struct {
	const char *ptr;
	size_t len;
	char num[24];
	json_t *hold; /* a decoded string with escapes */
} vdb_idkey;

/* k from an id's JSON text (or, json NULL, from row). k->hold must be
 * released with vdb_idkey_done. */
vdb_status vdb_idkey_of(vdb_idkey *k, const char *json, size_t len, size_t row);
void vdb_idkey_done(vdb_idkey *k);

/* Rows by key: (hash, row) pairs sorted, keys compared on a hash match. */
typedef vdb_status (*vdb_idmap_key_fn)(const void *ctx, size_t row, vdb_idkey *k);
typedef struct vdb_idmap vdb_idmap;
vdb_status vdb_idmap_new(vdb_idmap **out, size_t n, vdb_idmap_key_fn key, const void *ctx);
/* The rows whose key is key, in ascending order, one per call: *pos = 0
 * before the first; -1 when there are no more (or on a key that cannot be
 * read, which vdb_idmap_new would have refused). */
int64_t vdb_idmap_next(const vdb_idmap *m, const char *key, size_t len, size_t *pos);
void vdb_idmap_free(vdb_idmap *m);

/* Key functions for an index's rows and a vdb_vecs' rows. */
vdb_status vdb_idmap_index_key(const void *ix, size_t row, vdb_idkey *k);
vdb_status vdb_idmap_vecs_key(const void *v, size_t row, vdb_idkey *k);

/* fn(ctx, line, len, name, lineno) for each line of f (named name) that is
 * not blank, without the blanks around it (update.c): the lines of ids to
 * delete and of patches. A line over VDB_MAX_LINE bytes is VDB_EFORMAT. */
typedef vdb_status (*vdb_line_fn)(void *ctx, const char *line, size_t len, const char *name,
                                  size_t lineno);
vdb_status vdb_each_line(FILE *f, const char *name, vdb_line_fn fn, void *ctx);
#endif
