/* query_opts.h — a JSONL query record's own search options, checked and
 * kept as it is read (query_opts.c). (internal) */
#ifndef VDB_QUERY_OPTS_H
#define VDB_QUERY_OPTS_H
#include "reader_internal.h"

/* Check record o's options (line ln, record rec of r) and keep them as row
 * v->n's entry of v->qopt (call before v->n++): VDB_EFORMAT naming the
 * input, the line and the option when one is malformed. */
vdb_status vdb_query_opts_read(vdb_reader *r, vdb_vecs *v, json_t *o, size_t ln, size_t rec);
#endif
