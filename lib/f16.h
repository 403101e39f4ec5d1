/* f16.h — half-precision floats, a number format shared by the quantizer,
 * the index storages and the distance kernels (which must not depend on
 * the quantizer). (internal) */
#ifndef VDB_F16_H
#define VDB_F16_H
#include <stdint.h>

/* IEEE 754 binary16 <-> binary32 by bit manipulation (no F16C needed).
 * float -> half rounds to nearest, ties to even; values from 65520 up
 * overflow to infinity; subnormal halves are produced and read exactly;
 * a NaN stays a (quiet) NaN with the sign kept. half -> float is exact. */
uint16_t vdb_f32_to_f16(float f);
float vdb_f16_to_f32(uint16_t h);

/* The smallest magnitude that fp16 rounds to infinity. */
#define VDB_F16_OVERFLOW 65520.0f
#endif
