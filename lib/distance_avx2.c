/*
 * distance_avx2.c — AVX2+FMA kernels.
 *
 * This file alone is compiled with -mavx2 -mfma -mf16c -mpopcnt (a convenience
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

/* The eight sums of a0..a7, in order, in one vector */
static inline __m256 hsum8(const __m256 *a)
{
	__m256 u0 = _mm256_hadd_ps(_mm256_hadd_ps(a[0], a[1]), _mm256_hadd_ps(a[2], a[3]));
	__m256 u1 = _mm256_hadd_ps(_mm256_hadd_ps(a[4], a[5]), _mm256_hadd_ps(a[6], a[7]));
	/* u0: rows 0..3 over lanes 0..3, then over lanes 4..7; u1: rows 4..7 */
	return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

/* Eight rows of d values from x against q: eight independent FMA chains,
 * one query load for eight rows; squared differences (l2) or products. */
static inline __attribute__((always_inline)) void rows8(const float *q, const float *x, size_t d,
                                                        float *out, bool l2)
{
	__m256 s[8];
	#pragma GCC unroll 8
	for (int r = 0; r < 8; r++)
		s[r] = _mm256_setzero_ps();
	size_t i = 0;
	for (; i + 8 <= d; i += 8) {
		__m256 qv = _mm256_loadu_ps(q + i);
		#pragma GCC unroll 8
		for (int r = 0; r < 8; r++) {
			__m256 v = _mm256_loadu_ps(x + r * d + i);
			__m256 t = l2 ? _mm256_sub_ps(qv, v) : v;
			s[r] = _mm256_fmadd_ps(t, l2 ? t : qv, s[r]);
		}
	}
	if (i < d) {
		__m256i m = tail_mask(d - i);
		__m256 qv = _mm256_maskload_ps(q + i, m);
		#pragma GCC unroll 8
		for (int r = 0; r < 8; r++) {
			__m256 v = _mm256_maskload_ps(x + r * d + i, m);
			__m256 t = l2 ? _mm256_sub_ps(qv, v) : v;
			s[r] = _mm256_fmadd_ps(t, l2 ? t : qv, s[r]);
		}
	}
	_mm256_storeu_ps(out, hsum8(s));
}

static float dot_avx2(const float *a, const float *b, size_t d);

/* n rows: eight at a time, the rest one by one */
static inline __attribute__((always_inline)) void many(const float *q, const float *x, size_t d,
                                                       size_t n, float *out, bool l2)
{
	size_t j = 0;
	for (; j + 8 <= n; j += 8)
		rows8(q, x + j * d, d, out + j, l2);
	for (; j < n; j++)
		out[j] = l2 ? l2sq_avx2(q, x + j * d, d) : dot_avx2(q, x + j * d, d);
}

static void l2sq_many_avx2(const float *q, const float *x, size_t d, size_t n, float *out)
{
	many(q, x, d, n, out, true);
}

static void dot_many_avx2(const float *q, const float *x, size_t d, size_t n, float *out)
{
	many(q, x, d, n, out, false);
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

/* w words of query against n codes of w words; inlined with w constant so
 * that the query's words stay in registers and the loop is unrolled. */
static inline __attribute__((always_inline)) void
hamming_words(const uint64_t *qw, const uint8_t *codes, size_t w, size_t n, uint32_t *out)
{
	for (size_t j = 0; j < n; j++) {
		const uint8_t *c = codes + j * w * 8;
		uint64_t acc = 0;
		for (size_t i = 0; i < w; i++) {
			uint64_t x;
			memcpy(&x, c + 8 * i, 8);
			acc += (uint64_t)_mm_popcnt_u64(x ^ qw[i]);
		}
		out[j] = (uint32_t)acc;
	}
}

/* The common code sizes (64 to 512 bits) get a kernel each; others take
 * the general one per row. */
static void hamming_many_avx2(const uint8_t *q, const uint8_t *codes, size_t nbytes, size_t n,
                              uint32_t *out)
{
	uint64_t qw[8] = { 0 };
	if (nbytes % 8 == 0 && nbytes <= 64)
		memcpy(qw, q, nbytes);
	switch (nbytes % 8 ? 0 : nbytes / 8) {
	case 1: hamming_words(qw, codes, 1, n, out); return;
	case 2: hamming_words(qw, codes, 2, n, out); return;
	case 4: hamming_words(qw, codes, 4, n, out); return;
	case 8: hamming_words(qw, codes, 8, n, out); return;
	default:
		for (size_t j = 0; j < n; j++)
			out[j] = hamming_avx2(q, codes + j * nbytes, nbytes);
	}
}

/* The keys are computed exactly as the scalar code does (2*d is exact, then
 * one rounding in the subtraction), so both levels pick the same candidates. */
/* The scalar order of l2sq_f64 and dot_f64 (vdb_kernels): lanes 0..3 in
 * lo, 4..7 in hi, the tail into lane 0 one term at a time, then the same
 * pairwise sum; -ffp-contract=off keeps each product and sum apart, as
 * scalar does. */
static double lanes_finish(__m256d lo, __m256d hi, const float *q, const float *x, size_t i,
                           size_t d, bool l2)
{
	double a[8];
	_mm256_storeu_pd(a, lo);
	_mm256_storeu_pd(a + 4, hi);
	for (; i < d; i++) {
		double t = l2 ? (double)q[i] - x[i] : (double)q[i];
		a[0] += t * (l2 ? t : (double)x[i]);
	}
	return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

static double l2sq_f64_avx2(const float *q, const float *x, size_t d)
{
	__m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
	size_t i = 0;
	for (; i + 8 <= d; i += 8) {
		__m256 a = _mm256_loadu_ps(q + i), b = _mm256_loadu_ps(x + i);
		__m256d tl = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(a)),
		                           _mm256_cvtps_pd(_mm256_castps256_ps128(b)));
		__m256d th = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(a, 1)),
		                           _mm256_cvtps_pd(_mm256_extractf128_ps(b, 1)));
		lo = _mm256_add_pd(lo, _mm256_mul_pd(tl, tl));
		hi = _mm256_add_pd(hi, _mm256_mul_pd(th, th));
	}
	return lanes_finish(lo, hi, q, x, i, d, true);
}

static double dot_f64_avx2(const float *q, const float *x, size_t d)
{
	__m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
	size_t i = 0;
	for (; i + 8 <= d; i += 8) {
		__m256 a = _mm256_loadu_ps(q + i), b = _mm256_loadu_ps(x + i);
		lo = _mm256_add_pd(lo, _mm256_mul_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(a)),
		                                     _mm256_cvtps_pd(_mm256_castps256_ps128(b))));
		hi = _mm256_add_pd(hi, _mm256_mul_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(a, 1)),
		                                     _mm256_cvtps_pd(_mm256_extractf128_ps(b, 1))));
	}
	return lanes_finish(lo, hi, q, x, i, d, false);
}

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

/* Eight keys a step: one compare and movemask, then each half's lanes
 * appended from vdb_hit_lanes (four indices stored whatever the count: c
 * <= j, so the stores stay below j + 8 <= n). */
static size_t hits_below_avx2(const float *dots, size_t n, float thr, uint32_t *out)
{
	__m256 t = _mm256_set1_ps(thr), zero = _mm256_setzero_ps();
	__m128i four = _mm_set1_epi32(4);
	size_t c = 0, j = 0;
	for (; j + 8 <= n; j += 8) {
		__m256 key = _mm256_sub_ps(zero, _mm256_loadu_ps(dots + j));
		unsigned m = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(key, t, _CMP_LE_OQ));
		__m128i base = _mm_set1_epi32((int)j);
		__m128i lo = _mm_loadu_si128((const __m128i *)vdb_hit_lanes[m & 15]);
		__m128i hi = _mm_loadu_si128((const __m128i *)vdb_hit_lanes[m >> 4]);
		_mm_storeu_si128((__m128i *)(out + c), _mm_add_epi32(lo, base));
		c += (size_t)_mm_popcnt_u32(m & 15);
		_mm_storeu_si128((__m128i *)(out + c), _mm_add_epi32(hi, _mm_add_epi32(base, four)));
		c += (size_t)_mm_popcnt_u32(m >> 4);
	}
	for (; j < n; j++) {
		out[c] = (uint32_t)j;
		c += -dots[j] <= thr;
	}
	return c;
}

/* 8 sq8 levels as floats; r < 8 reads only r bytes (the rest are 0) */
static inline __m256 load_u8(const uint8_t *c, size_t r)
{
	uint64_t x = 0;
	memcpy(&x, c, r);
	return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)x)));
}

/* 8 halves as floats (F16C); r < 8 reads only r of them */
static inline __m256 load_f16(const uint16_t *h, size_t r)
{
	uint16_t t[8] = { 0 };
	memcpy(t, h, r * sizeof *h);
	return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)t));
}

static float l2sq_sq8_avx2(const float *q, const uint8_t *c, const float *step, size_t d)
{
	__m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
	size_t i = 0;
	for (; i + 16 <= d; i += 16) {
		__m256 t0 = _mm256_fnmadd_ps(load_u8(c + i, 8), _mm256_loadu_ps(step + i),
		                             _mm256_loadu_ps(q + i));
		__m256 t1 = _mm256_fnmadd_ps(load_u8(c + i + 8, 8), _mm256_loadu_ps(step + i + 8),
		                             _mm256_loadu_ps(q + i + 8));
		s0 = _mm256_fmadd_ps(t0, t0, s0);
		s1 = _mm256_fmadd_ps(t1, t1, s1);
	}
	for (; i < d; i += 8) {
		size_t r = d - i < 8 ? d - i : 8;
		__m256 qv = r == 8 ? _mm256_loadu_ps(q + i) : _mm256_maskload_ps(q + i, tail_mask(r));
		__m256 sv = r == 8 ? _mm256_loadu_ps(step + i)
		                   : _mm256_maskload_ps(step + i, tail_mask(r));
		__m256 t = _mm256_fnmadd_ps(load_u8(c + i, r), sv, qv);
		s0 = _mm256_fmadd_ps(t, t, s0);
	}
	return hsum(_mm256_add_ps(s0, s1));
}

static float dot_sq8_avx2(const float *q, const uint8_t *c, size_t d)
{
	__m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
	size_t i = 0;
	for (; i + 16 <= d; i += 16) {
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), load_u8(c + i, 8), s0);
		s1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), load_u8(c + i + 8, 8), s1);
	}
	for (; i < d; i += 8) {
		size_t r = d - i < 8 ? d - i : 8;
		__m256 qv = r == 8 ? _mm256_loadu_ps(q + i) : _mm256_maskload_ps(q + i, tail_mask(r));
		s0 = _mm256_fmadd_ps(qv, load_u8(c + i, r), s0);
	}
	return hsum(_mm256_add_ps(s0, s1));
}

static float l2sq_f16_avx2(const float *q, const uint16_t *h, size_t d)
{
	__m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
	size_t i = 0;
	for (; i + 16 <= d; i += 16) {
		__m256 t0 = _mm256_sub_ps(_mm256_loadu_ps(q + i),
		                          _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + i))));
		__m256 t1 = _mm256_sub_ps(_mm256_loadu_ps(q + i + 8),
		                          _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + i + 8))));
		s0 = _mm256_fmadd_ps(t0, t0, s0);
		s1 = _mm256_fmadd_ps(t1, t1, s1);
	}
	for (; i < d; i += 8) {
		size_t r = d - i < 8 ? d - i : 8;
		__m256 qv = r == 8 ? _mm256_loadu_ps(q + i) : _mm256_maskload_ps(q + i, tail_mask(r));
		__m256 t = _mm256_sub_ps(qv, load_f16(h + i, r));
		s0 = _mm256_fmadd_ps(t, t, s0);
	}
	return hsum(_mm256_add_ps(s0, s1));
}

static float dot_f16_avx2(const float *q, const uint16_t *h, size_t d)
{
	__m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
	size_t i = 0;
	for (; i + 16 <= d; i += 16) {
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i),
		                     _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + i))), s0);
		s1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8),
		                     _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + i + 8))), s1);
	}
	for (; i < d; i += 8) {
		size_t r = d - i < 8 ? d - i : 8;
		__m256 qv = r == 8 ? _mm256_loadu_ps(q + i) : _mm256_maskload_ps(q + i, tail_mask(r));
		s0 = _mm256_fmadd_ps(qv, load_f16(h + i, r), s0);
	}
	return hsum(_mm256_add_ps(s0, s1));
}

/* a multiply then an add, as the scalar level (this file is compiled with
 * -ffp-contract=off, so they are not fused): the same floats on every level */
static void decode_sq8_avx2(const uint8_t *c, const float *lo, const float *step, float *out,
                            size_t n)
{
	size_t i = 0;
	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(out + i, _mm256_add_ps(_mm256_loadu_ps(lo + i),
		                                        _mm256_mul_ps(load_u8(c + i, 8),
		                                                      _mm256_loadu_ps(step + i))));
	for (; i < n; i++) {
		float t = (float)c[i] * step[i];
		out[i] = lo[i] + t;
	}
}

static void decode_f16_avx2(const uint16_t *h, float *out, size_t n)
{
	size_t i = 0;
	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + i))));
	if (i < n) {
		float t[8];
		_mm256_storeu_ps(t, load_f16(h + i, n - i));
		memcpy(out + i, t, (n - i) * sizeof *out);
	}
}

/* Byte codes: 16 bytes at a time widened to 16 bits, where a - b and the
 * products are exact, and vpmaddwd sums the pairs into 32-bit lanes (at
 * most 2 * 255^2 each). The lanes may wrap on long codes, but the total
 * fits in 32 bits (d <= 65536), so the sum modulo 2^32 is exact. The tail
 * (d % 32) is the last 32 bytes with those already counted zeroed (a
 * zero adds nothing to either sum); codes under 32 bytes are copied. */
static inline __m256i lo16(__m256i v)
{
	return _mm256_cvtepu8_epi16(_mm256_castsi256_si128(v));
}

static inline __m256i hi16(__m256i v)
{
	return _mm256_cvtepu8_epi16(_mm256_extracti128_si256(v, 1));
}

static inline uint32_t hsum_epi32(__m256i v)
{
	__m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
	s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
	s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
	return (uint32_t)_mm_cvtsi128_si32(s);
}

/* l2: |a - b| in bytes (max - min), widened by interleaving with zero (the
 * lanes' order does not matter to a sum): three instructions fewer per 32
 * bytes than widening a and b */
static inline __m256i l2sq_u8_32(__m256i a, __m256i b, __m256i s)
{
	__m256i t = _mm256_sub_epi8(_mm256_max_epu8(a, b), _mm256_min_epu8(a, b));
	__m256i z = _mm256_setzero_si256();
	__m256i t0 = _mm256_unpacklo_epi8(t, z), t1 = _mm256_unpackhi_epi8(t, z);
	return _mm256_add_epi32(s, _mm256_add_epi32(_mm256_madd_epi16(t0, t0),
	                                            _mm256_madd_epi16(t1, t1)));
}

static inline __m256i dot_u8_32(__m256i a, __m256i b, __m256i s)
{
	return _mm256_add_epi32(s, _mm256_add_epi32(_mm256_madd_epi16(lo16(a), lo16(b)),
	                                            _mm256_madd_epi16(hi16(a), hi16(b))));
}

static inline __m256i load32(const uint8_t *p)
{
	return _mm256_loadu_si256((const __m256i *)p);
}

/* one loop for both sums: block (inlined, constant) adds 32 bytes' terms */
typedef __m256i u8_block(__m256i a, __m256i b, __m256i s);
static inline __attribute__((always_inline)) uint32_t
sum_u8(const uint8_t *a, const uint8_t *b, size_t d, u8_block *block)
{
	__m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
	size_t i = 0;
	for (; i + 64 <= d; i += 64) {
		s0 = block(load32(a + i), load32(b + i), s0);
		s1 = block(load32(a + i + 32), load32(b + i + 32), s1);
	}
	if (i + 32 <= d) {
		s0 = block(load32(a + i), load32(b + i), s0);
		i += 32;
	}
	if (i < d && d >= 32) { /* the last d - i bytes of the last 32 */
		static const int8_t ones[64] = { [32] = -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
			                         -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
			                         -1, -1, -1, -1, -1, -1, -1, -1, -1, -1 };
		__m256i m = load32((const uint8_t *)ones + (d - i));
		s1 = block(_mm256_and_si256(load32(a + d - 32), m),
		           _mm256_and_si256(load32(b + d - 32), m), s1);
	} else if (i < d) {
		uint8_t x[32] = { 0 }, y[32] = { 0 };
		memcpy(x, a, d), memcpy(y, b, d);
		s1 = block(load32(x), load32(y), s1);
	}
	return hsum_epi32(_mm256_add_epi32(s0, s1));
}

static uint32_t l2sq_u8_avx2(const uint8_t *a, const uint8_t *b, size_t d)
{
	return sum_u8(a, b, d, l2sq_u8_32);
}

static uint32_t dot_u8_avx2(const uint8_t *a, const uint8_t *b, size_t d)
{
	return sum_u8(a, b, d, dot_u8_32);
}

/* Four rows against one query: the query's block loaded once for the four,
 * four independent sums, one reduction for the four (hadd). */
static inline void l2sq_u8_four(const uint8_t *q, const uint8_t *const r[4], size_t d,
                                uint32_t *out)
{
	__m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
	size_t i = 0;
	for (; i + 32 <= d; i += 32) {
		__m256i x = load32(q + i);
		s0 = l2sq_u8_32(x, load32(r[0] + i), s0);
		s1 = l2sq_u8_32(x, load32(r[1] + i), s1);
		s2 = l2sq_u8_32(x, load32(r[2] + i), s2);
		s3 = l2sq_u8_32(x, load32(r[3] + i), s3);
	}
	if (i < d) { /* the last 32 bytes, those already counted zeroed (d >= 32) */
		static const int8_t ones[64] = { [32] = -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
			                         -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
			                         -1, -1, -1, -1, -1, -1, -1, -1, -1, -1 };
		__m256i m = load32((const uint8_t *)ones + (d - i));
		__m256i x = _mm256_and_si256(load32(q + d - 32), m);
		s0 = l2sq_u8_32(x, _mm256_and_si256(load32(r[0] + d - 32), m), s0);
		s1 = l2sq_u8_32(x, _mm256_and_si256(load32(r[1] + d - 32), m), s1);
		s2 = l2sq_u8_32(x, _mm256_and_si256(load32(r[2] + d - 32), m), s2);
		s3 = l2sq_u8_32(x, _mm256_and_si256(load32(r[3] + d - 32), m), s3);
	}
	/* lanes: s0 s0 s1 s1 s2 s2 s3 s3 per half, then s0 s1 s2 s3 per half */
	__m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(s0, s1), _mm256_hadd_epi32(s2, s3));
	__m128i t = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
	_mm_storeu_si128((__m128i *)out, t);
}

static void l2sq_u8_many_avx2(const uint8_t *q, const uint8_t *rows, size_t stride,
                              const uint32_t *ids, size_t n, size_t d, uint32_t *out)
{
	size_t j = 0;
	if (d >= 32)
		for (; j + 4 <= n; j += 4) {
			const uint8_t *r[4] = { rows + ids[j] * stride, rows + ids[j + 1] * stride,
				                rows + ids[j + 2] * stride, rows + ids[j + 3] * stride };
			l2sq_u8_four(q, r, d, out + j);
		}
	for (; j < n; j++)
		out[j] = l2sq_u8_avx2(q, rows + ids[j] * stride, d);
}

const vdb_kernels vdb_kernels_avx2 = {
	.name = "avx2",
	.l2sq = l2sq_avx2,
	.l2sq_many = l2sq_many_avx2,
	.dot_many = dot_many_avx2,
	.dot = dot_avx2,
	.cosine = cosine_avx2,
	.hamming = hamming_avx2,
	.hamming_many = hamming_many_avx2,
	.next_below = next_below_avx2,
	.hits_below = hits_below_avx2,
	.l2sq_f64 = l2sq_f64_avx2,
	.dot_f64 = dot_f64_avx2,
	.l2sq_sq8 = l2sq_sq8_avx2,
	.dot_sq8 = dot_sq8_avx2,
	.l2sq_f16 = l2sq_f16_avx2,
	.dot_f16 = dot_f16_avx2,
	.decode_sq8 = decode_sq8_avx2,
	.decode_f16 = decode_f16_avx2,
	.l2sq_u8 = l2sq_u8_avx2,
	.l2sq_u8_many = l2sq_u8_many_avx2,
	.dot_u8 = dot_u8_avx2,
	.pq4_block = vdb_pq4_block_avx2,
	.pq4_quantize = vdb_pq4_quantize_avx2,
};
