/* distance.h — the per-level kernel tables behind vdb_kernels_get(). (internal) */
#ifndef VDB_DISTANCE_H
#define VDB_DISTANCE_H
#include "vdb_internal.h"

extern const vdb_kernels vdb_kernels_scalar;
/* Defined in distance_avx2.c, compiled with -mavx2 -mfma: only to be used
 * after the CPU check in distance.c. */
extern const vdb_kernels vdb_kernels_avx2;
#endif
