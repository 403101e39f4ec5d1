/* float_text.h — a float as the shortest decimal that reads back as it. */
#ifndef VDB_FLOAT_TEXT_H
#define VDB_FLOAT_TEXT_H
#include <stdbool.h>
#include <stddef.h>

/* Room for any float's text: "-1.23456789e-45" and the NUL. */
#define VDB_FLOAT_TEXT_MAX 24

/* v as printf's "%.*g" at the least precision of 6..9 whose strtof is v
 * again (NaN and infinities as printf has them) into buf (n bytes, at
 * least VDB_FLOAT_TEXT_MAX for the fast path); returns its length. */
size_t vdb_float_text(float v, char *buf, size_t n);
/* The same by printf and strtof, precision after precision: the fallback
 * of the values vdb_float_text is unsure of, and its tests' reference. */
size_t vdb_float_text_printf(float v, char *buf, size_t n);
#endif
