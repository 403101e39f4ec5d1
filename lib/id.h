/* id.h — what an id's JSON text says about the id, shared by the writers
 * (output.c) and the merges (merge.c) without either depending on the
 * other. (internal) */
#ifndef VDB_ID_H
#define VDB_ID_H
#include <stddef.h>
#include <stdint.h>

/* Whether an id's JSON text (not NUL-terminated) is an integer; its value
 * in *out if so. */
int vdb_id_integer(const char *json, size_t len, int64_t *out);
#endif
