/* modelid.h — the identity of the embedder that made a set of vectors
 * (modelid.c): read from records, stored in an index, compared with the
 * queries'. (internal) */
#ifndef VDB_MODELID_H
#define VDB_MODELID_H
#include "vdb_internal.h"
#include <jansson.h>

/* The EMBD section of an index: the identity's canonical compact JSON. */
/* Check a record's "embedder" object j (where: "stdin: line 3 (record 2)",
 * for messages) and set *out to its canonical compact JSON (caller frees):
 * {"kind": "fasttext"|"vec"|"exec", "name": 1..VDB_MAX_EMBEDDER_NAME
 * bytes, "xxh3": 16 lowercase hex digits, "dim": 1..VDB_MAX_DIM}, in that
 * order, other keys dropped. VDB_EFORMAT naming where and the field. */
vdb_status vdb_modelid_canon(json_t *j, const char *where, char **out);
/* Whether two canonical identities are the same embedder: kind, xxh3 and
 * dim (the name is for people; a renamed model file is the same model). */
int vdb_modelid_same(const char *a, const char *b);
/* The identity's dim (0 if the text is not an identity). */
uint32_t vdb_modelid_dim(const char *json);
/* "exec \"./embed.sh\" (xxh3 0123456789abcdef, dim 50)" for messages. */
void vdb_modelid_describe(const char *json, char *buf, size_t n);
#endif
