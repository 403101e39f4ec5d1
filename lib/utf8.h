/* utf8.h — UTF-8 validation and character boundaries, on bytes. (internal) */
#ifndef VDB_UTF8_H
#define VDB_UTF8_H
#include <stddef.h>

/* Offset of the first byte of s[0, n) that does not start a well-formed
 * UTF-8 character (RFC 3629: no overlong forms, no surrogates, nothing
 * above U+10FFFF, no character cut by the end), or n if all is valid. */
size_t vdb_utf8_invalid(const unsigned char *s, size_t n);
/* The largest character boundary <= pos in valid UTF-8 s (pos itself if a
 * character starts there; never moves back more than 3 bytes). */
size_t vdb_utf8_floor(const unsigned char *s, size_t pos);
#endif
