/* jsonout.h — JSON text appended to a growing byte buffer, for writers
 * that emit many records of one shape faster than building jansson values
 * (the values themselves still come from jansson). (internal) */
#ifndef VDB_JSONOUT_H
#define VDB_JSONOUT_H
#include "vdb_internal.h"
#include <jansson.h>
#include <stdio.h>

typedef struct {
	char *p;
	size_t len, cap;
} vdb_jout;

/* Each appends to b; VDB_ENOMEM (b unchanged) if it cannot grow. */
vdb_status vdb_jout_raw(vdb_jout *b, const char *s, size_t n);
/* s[0, n), valid UTF-8 (may hold NUL), as a quoted JSON string: '"', '\'
 * and the control characters below 0x20 escaped, everything else as is. */
vdb_status vdb_jout_string(vdb_jout *b, const char *s, size_t n);
/* The same without the closing quote (a string continued by more calls). */
vdb_status vdb_jout_string_open(vdb_jout *b, const char *s, size_t n);
vdb_status vdb_jout_uint(vdb_jout *b, unsigned long long v);
void vdb_jout_free(vdb_jout *b);

/* o (a reference stolen; NULL: out of memory) written to f as one compact
 * line, keys in order, reals with up to 10 significant digits (the report
 * rows of sweeps and metrics). VDB_ENOMEM; the caller checks f. */
vdb_status vdb_json_line(FILE *f, json_t *o);
#endif
