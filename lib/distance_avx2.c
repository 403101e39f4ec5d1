/*
 * distance_avx2.c — AVX2+FMA kernels.
 *
 * This file alone is compiled with -mavx2 -mfma -mpopcnt (a convenience
 * library of its own in Makefile.am), so nothing here may run before
 * distance.c has checked the CPU. Two 8-wide accumulators hide the FMA
 * latency; unaligned loads accept any pointer; the tail (d % 8) is done
 * with a masked load, so no scalar epilogue can disagree with the body.
 */
#include "distance.h"
#include <immintrin.h>
#include <math.h>
#include <string.h>

static inline float hsum(__m256 v)
{
	__m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
	lo = _mm_add_ps(lo, hi);
	lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
	lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
	return _mm_cvtss_f32(lo);
}

/* mask of the first r (< 8) lanes */
static inline __m256i tail_mask(size_t r)
{
	static const int32_t m[16] = { -1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0 };
	return _mm256_loadu_si256((const __m256i *)(m + 8 - r));
}

static float l2sq_avx2(const float *a, const float *b, size_t d)
{
	__m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
	size_t i = 0;
	for (; i + 16 <= d; i += 16) {
		__m256 t0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
		__m256 t1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
		s0 = _mm256_fmadd_ps(t0, t0, s0);
		s1 = _mm256_fmadd_ps(t1, t1, s1);
	}
	if (i + 8 <= d) {
		__m256 t = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
		s0 = _mm256_fmadd_ps(t, t, s0);
		i += 8;
	}
	if (i < d) {
		__m256i m = tail_mask(d - i);
		__m256 t = _mm256_sub_ps(_mm256_maskload_ps(a + i, m), _mm256_maskload_ps(b + i, m));
		s1 = _mm256_fmadd_ps(t, t, s1);
	}
	return hsum(_mm256_add_ps(s0, s1));
}

static float dot_avx2(const float *a, const float *b, size_t d)
{
	__m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
	size_t i = 0;
	for (; i + 16 <= d; i += 16) {
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
		s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
	}
	if (i + 8 <= d) {
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
		i += 8;
	}
	if (i < d) {
		__m256i m = tail_mask(d - i);
		s1 = _mm256_fmadd_ps(_mm256_maskload_ps(a + i, m), _mm256_maskload_ps(b + i, m), s1);
	}
	return hsum(_mm256_add_ps(s0, s1));
}

static float cosine_avx2(const float *a, const float *b, size_t d)
{
	__m256 ab = _mm256_setzero_ps(), aa = _mm256_setzero_ps(), bb = _mm256_setzero_ps();
	size_t i = 0;
	for (; i + 8 <= d; i += 8) {
		__m256 x = _mm256_loadu_ps(a + i), y = _mm256_loadu_ps(b + i);
		ab = _mm256_fmadd_ps(x, y, ab);
		aa = _mm256_fmadd_ps(x, x, aa);
		bb = _mm256_fmadd_ps(y, y, bb);
	}
	if (i < d) {
		__m256i m = tail_mask(d - i);
		__m256 x = _mm256_maskload_ps(a + i, m), y = _mm256_maskload_ps(b + i, m);
		ab = _mm256_fmadd_ps(x, y, ab);
		aa = _mm256_fmadd_ps(x, x, aa);
		bb = _mm256_fmadd_ps(y, y, bb);
	}
	double na = hsum(aa), nb = hsum(bb);
	if (na == 0 || nb == 0)
		return 1.0f;
	return (float)(1.0 - (double)hsum(ab) / sqrt(na * nb));
}

static uint32_t hamming_avx2(const uint8_t *a, const uint8_t *b, size_t n)
{
	uint64_t c0 = 0, c1 = 0;
	size_t i = 0;
	for (; i + 16 <= n; i += 16) {
		uint64_t x0, y0, x1, y1;
		memcpy(&x0, a + i, 8), memcpy(&y0, b + i, 8);
		memcpy(&x1, a + i + 8, 8), memcpy(&y1, b + i + 8, 8);
		c0 += (uint64_t)_mm_popcnt_u64(x0 ^ y0);
		c1 += (uint64_t)_mm_popcnt_u64(x1 ^ y1);
	}
	for (; i + 8 <= n; i += 8) {
		uint64_t x, y;
		memcpy(&x, a + i, 8), memcpy(&y, b + i, 8);
		c0 += (uint64_t)_mm_popcnt_u64(x ^ y);
	}
	for (; i < n; i++)
		c1 += (uint64_t)_mm_popcnt_u32((unsigned)(a[i] ^ b[i]));
	return (uint32_t)(c0 + c1);
}

/* The keys are computed exactly as the scalar code does (2*d is exact, then
 * one rounding in the subtraction), so both levels pick the same candidates. */
static size_t next_below_avx2(const float *xn, const float *dots, size_t start, size_t n,
                              float thr)
{
	__m256 t = _mm256_set1_ps(thr);
	size_t j = start;
	if (xn) {
		for (; j + 8 <= n; j += 8) {
			__m256 d = _mm256_loadu_ps(dots + j);
			__m256 key = _mm256_sub_ps(_mm256_loadu_ps(xn + j), _mm256_add_ps(d, d));
			int m = _mm256_movemask_ps(_mm256_cmp_ps(key, t, _CMP_LE_OQ));
			if (m)
				return j + (size_t)__builtin_ctz((unsigned)m);
		}
		for (; j < n; j++)
			if (xn[j] - 2.0f * dots[j] <= thr)
				return j;
	} else {
		__m256 zero = _mm256_setzero_ps();
		for (; j + 8 <= n; j += 8) {
			__m256 key = _mm256_sub_ps(zero, _mm256_loadu_ps(dots + j));
			int m = _mm256_movemask_ps(_mm256_cmp_ps(key, t, _CMP_LE_OQ));
			if (m)
				return j + (size_t)__builtin_ctz((unsigned)m);
		}
		for (; j < n; j++)
			if (-dots[j] <= thr)
				return j;
	}
	return n;
}

const vdb_kernels vdb_kernels_avx2 = {
	.name = "avx2",
	.l2sq = l2sq_avx2,
	.dot = dot_avx2,
	.cosine = cosine_avx2,
	.hamming = hamming_avx2,
	.next_below = next_below_avx2,
};
