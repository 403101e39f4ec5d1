/* quantize.h — scalar conversions of the quantizers, exposed for the unit
 * tests and for storage types of indexes. (internal) */
#ifndef VDB_QUANTIZE_H
#define VDB_QUANTIZE_H
#include "file.h"

/* The file type of a quantizer file (the index container's type field). */
#define VDB_QUANT_FOURCC VDB_FOURCC('Q', 'U', 'N', 'T')

/* IEEE 754 binary16 <-> binary32 by bit manipulation (no F16C needed).
 * float -> half rounds to nearest, ties to even; values from 65520 up
 * overflow to infinity; subnormal halves are produced and read exactly;
 * a NaN stays a (quiet) NaN with the sign kept. half -> float is exact. */
uint16_t vdb_f32_to_f16(float f);
float vdb_f16_to_f32(uint16_t h);

/* The smallest magnitude that fp16 rounds to infinity. */
#define VDB_F16_OVERFLOW 65520.0f
#endif
