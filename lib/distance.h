/* distance.h — the per-level kernel tables behind vdb_kernels_get(). (internal)
 * A SIMD level's table may leave a slot NULL: distance.c fills it from the
 * level below (avx512 from avx2, avx2 and neon from scalar), so a kernel is
 * written for one level at a time; scalar fills every slot. */
#ifndef VDB_DISTANCE_H
#define VDB_DISTANCE_H
#include "vdb_internal.h"
#include <math.h>
#include <string.h>

extern const vdb_kernels vdb_kernels_scalar;
/* hits_below's lanes of a 4-bit mask (distance.c): row m lists the set
 * bits of m in order (the rest 0, written past the count and overwritten) */
extern const uint32_t vdb_hit_lanes[16][4];
#if VDB_SIMD_AVX2
/* Defined in distance_avx2.c, compiled with -mavx2 -mfma: only to be used
 * after vdb_cpu_has_avx2() (distance_x86.c) said yes. */
extern const vdb_kernels vdb_kernels_avx2;
bool vdb_cpu_has_avx2(void);
#endif
#if VDB_SIMD_AVX512
/* Defined in distance_avx512.c: the kernels written for AVX-512 (a NULL
 * slot takes the AVX2 kernel, distance.c). Only after vdb_cpu_has_avx512()
 * said yes. */
extern const vdb_kernels vdb_kernels_avx512;
bool vdb_cpu_has_avx512(void);
#endif
/* pq4_quantize's steps every level shares: the largest byte (m of them sum
 * below 2^16); a table's low and span kept (its minimum mn, maximum mx);
 * the scale from the largest span, false (lut zeroed) when it is 0 or not
 * finite. */
static inline unsigned vdb_pq4_qmax(size_t m)
{
	return m <= 257 ? 255 : m < 65535 ? (unsigned)(65535 / m) : 1;
}

static inline void vdb_pq4_low(float mn, float mx, float *low, double *sum, float *span)
{
	*low = mn;
	*sum += mn;
	*span = mx - mn > *span ? mx - mn : *span;
}

static inline bool vdb_pq4_scale(float span, unsigned qmax, size_t m, uint8_t *lut, float *inv)
{
	*inv = (float)qmax / span;
	if (!(span > 0) || !isfinite(span) || !(*inv > 0) || !isfinite(*inv)) {
		memset(lut, 0, m * 16);
		return false;
	}
	return true;
}

/* The 4-bit PQ fast-scan kernels of each level (pq_scan*.c) */
uint32_t vdb_pq4_block_scalar(const uint8_t *codes, const uint8_t *lut, size_t m, uint16_t thr,
                              uint16_t *out);
double vdb_pq4_quantize_scalar(const float *a, const float *b, size_t m, float *t, uint8_t *lut,
                               double *lo);
#if VDB_SIMD_AVX2
uint32_t vdb_pq4_block_avx2(const uint8_t *codes, const uint8_t *lut, size_t m, uint16_t thr,
                            uint16_t *out);
double vdb_pq4_quantize_avx2(const float *a, const float *b, size_t m, float *t, uint8_t *lut,
                             double *lo);
#endif
#if VDB_SIMD_AVX512
uint32_t vdb_pq4_block_avx512(const uint8_t *codes, const uint8_t *lut, size_t m, uint16_t thr,
                              uint16_t *out);
#endif
#if VDB_SIMD_NEON
uint32_t vdb_pq4_block_neon(const uint8_t *codes, const uint8_t *lut, size_t m, uint16_t thr,
                            uint16_t *out);
/* Defined in distance_neon.c: Advanced SIMD is part of every AArch64 CPU. */
extern const vdb_kernels vdb_kernels_neon;
#endif
#endif
