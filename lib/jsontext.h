/* jsontext.h — the stored JSON texts of ids, metadata and texts, checked
 * before they are printed (the printers) or trusted (--verify). (internal) */
#ifndef VDB_JSONTEXT_H
#define VDB_JSONTEXT_H
#include "vdb_internal.h"
#include <jansson.h>

/* Whether a stored id text (not NUL-terminated) is one JSON string or
 * integer on one line; a stored metadata text one JSON object, or null; a
 * stored text one JSON string of at most VDB_MAX_TEXT bytes, or null. */
int vdb_json_id_ok(const char *text, size_t len);
int vdb_json_meta_ok(const char *text, size_t len);
int vdb_json_text_ok(const char *text, size_t len);
/* The bytes of a stored JSON string (json, len: with its quotes), without
 * quotes or escapes, not NUL-terminated: in place when it has no escape
 * (jansson writes one only where JSON needs it), else decoded into *hold
 * (release it with json_decref; NULL when in place). VDB_EFORMAT if it is
 * not one JSON string. */
vdb_status vdb_json_string_bytes(const char *json, size_t len, const char **p, size_t *n,
                                 json_t **hold);
/* Every id, metadata and text text of ix: VDB_ECORRUPT naming the file and the
 * first bad record (vdb-query --verify). */
vdb_status vdb_index_texts_verify(const vdb_index *ix);
#endif
