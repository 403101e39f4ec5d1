/*
 * distance_avx512.c — the AVX-512 kernels (F, BW, VL, DQ, VNNI, VPOPCNTDQ),
 * compiled with those flags: only to be used after vdb_cpu_has_avx512()
 * (distance_x86.c) said yes.
 *
 * The table holds the kernels written for 512-bit registers; a slot left
 * NULL takes the AVX2 kernel (distance.c completes the level once). Tails
 * are masked loads (zeros past the end), so no scalar epilogue can
 * disagree with the body and no byte past the end is read.
 */
#include "distance.h"
#include <immintrin.h>
#include <math.h>
#include <string.h>

/* the first r (< 64) bytes */
static inline __mmask64 bytes_mask(size_t r)
{
	return ((__mmask64)1 << r) - 1;
}

/* Byte codes with VNNI: vpdpbusd multiplies unsigned bytes by signed ones
 * and adds groups of four into 32-bit lanes. The second operand is made
 * signed by flipping its top bit, y ^ 0x80 = y - 128, and the 128 * x
 * this takes off is added back from vpsadbw's byte sums of x:
 * x * y = x * (y - 128) + 128 * x. For l2, x = y = |a - b| (max - min).
 * The 32-bit lanes may wrap on long codes, but the result fits in 32 bits
 * (d <= 65536), so the sum modulo 2^32 is exact. */
static inline uint32_t finish_u8(__m512i prod, __m512i sum)
{
	return (uint32_t)_mm512_reduce_add_epi32(prod) +
	       128u * (uint32_t)_mm512_reduce_add_epi64(sum);
}

static inline void dot_u8_64(__m512i x, __m512i y, __m512i *prod, __m512i *sum)
{
	*prod = _mm512_dpbusd_epi32(*prod, x, _mm512_xor_si512(y, _mm512_set1_epi8(-128)));
	*sum = _mm512_add_epi64(*sum, _mm512_sad_epu8(x, _mm512_setzero_si512()));
}

static inline void l2sq_u8_64(__m512i a, __m512i b, __m512i *prod, __m512i *sum)
{
	__m512i t = _mm512_sub_epi8(_mm512_max_epu8(a, b), _mm512_min_epu8(a, b));
	dot_u8_64(t, t, prod, sum);
}

/* one loop for both sums: block (inlined, constant) adds 64 bytes' terms */
typedef void u8_block(__m512i a, __m512i b, __m512i *prod, __m512i *sum);
static inline __attribute__((always_inline)) uint32_t
sum_u8(const uint8_t *a, const uint8_t *b, size_t d, u8_block *block)
{
	__m512i p0 = _mm512_setzero_si512(), p1 = p0, s0 = p0, s1 = p0;
	size_t i = 0;
	for (; i + 128 <= d; i += 128) {
		block(_mm512_loadu_si512(a + i), _mm512_loadu_si512(b + i), &p0, &s0);
		block(_mm512_loadu_si512(a + i + 64), _mm512_loadu_si512(b + i + 64), &p1, &s1);
	}
	if (i + 64 <= d) {
		block(_mm512_loadu_si512(a + i), _mm512_loadu_si512(b + i), &p0, &s0);
		i += 64;
	}
	if (i < d) {
		__mmask64 m = bytes_mask(d - i);
		block(_mm512_maskz_loadu_epi8(m, a + i), _mm512_maskz_loadu_epi8(m, b + i), &p1, &s1);
	}
	return finish_u8(_mm512_add_epi32(p0, p1), _mm512_add_epi64(s0, s1));
}

static uint32_t l2sq_u8_avx512(const uint8_t *a, const uint8_t *b, size_t d)
{
	return sum_u8(a, b, d, l2sq_u8_64);
}

static uint32_t dot_u8_avx512(const uint8_t *a, const uint8_t *b, size_t d)
{
	return sum_u8(a, b, d, dot_u8_64);
}

/* the first r (< 16) lanes */
static inline __mmask16 lanes_mask(size_t r)
{
	return (__mmask16)((1u << r) - 1);
}

/* ===== float query against a row of floats, halves or sq8 levels ===== */

/* 16 values of a row from i as floats, zeros outside m */
typedef __m512 row_load(const void *row, const float *step, size_t i, __mmask16 m);

static inline __m512 load_f32(const void *row, const float *step, size_t i, __mmask16 m)
{
	(void)step;
	return _mm512_maskz_loadu_ps(m, (const float *)row + i);
}

static inline __m512 load_f16(const void *row, const float *step, size_t i, __mmask16 m)
{
	(void)step;
	return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)row + i));
}

static inline __m512 load_sq8(const void *row, const float *step, size_t i, __mmask16 m)
{
	(void)step;
	__m128i c = _mm_maskz_loadu_epi8(m, (const uint8_t *)row + i);
	return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(c));
}

/* c * step: the sq8 row less lo (the caller folded lo into the query) */
static inline __m512 load_sq8_step(const void *row, const float *step, size_t i, __mmask16 m)
{
	return _mm512_mul_ps(load_sq8(row, step, i, m), _mm512_maskz_loadu_ps(m, step + i));
}

/* acc plus one term per lane: (q - x)^2 or q * x */
typedef __m512 term_fn(__m512 acc, __m512 q, __m512 x);

static inline __m512 term_l2(__m512 acc, __m512 q, __m512 x)
{
	__m512 t = _mm512_sub_ps(q, x);
	return _mm512_fmadd_ps(t, t, acc);
}

static inline __m512 term_dot(__m512 acc, __m512 q, __m512 x)
{
	return _mm512_fmadd_ps(q, x, acc);
}

/* The one loop of the float kernels: four accumulators over 64 values hide
 * the FMA latency, then 16 at a time, then the masked tail. load and term
 * are constants, inlined. */
static inline __attribute__((always_inline)) float
sum_rows(const float *q, const void *row, const float *step, size_t d, row_load *load,
         term_fn *term)
{
	const __mmask16 all = 0xffff;
	__m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
	size_t i = 0;
	for (; i + 64 <= d; i += 64) {
		s0 = term(s0, _mm512_loadu_ps(q + i), load(row, step, i, all));
		s1 = term(s1, _mm512_loadu_ps(q + i + 16), load(row, step, i + 16, all));
		s2 = term(s2, _mm512_loadu_ps(q + i + 32), load(row, step, i + 32, all));
		s3 = term(s3, _mm512_loadu_ps(q + i + 48), load(row, step, i + 48, all));
	}
	for (; i + 16 <= d; i += 16)
		s0 = term(s0, _mm512_loadu_ps(q + i), load(row, step, i, all));
	if (i < d) {
		__mmask16 m = lanes_mask(d - i);
		s1 = term(s1, _mm512_maskz_loadu_ps(m, q + i), load(row, step, i, m));
	}
	return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

static float l2sq_avx512(const float *a, const float *b, size_t d)
{
	return sum_rows(a, b, NULL, d, load_f32, term_l2);
}

/* Eight rows of d values from x against q: eight independent FMA chains,
 * one query load for eight rows, the tail masked. */
static void l2sq_many_avx512(const float *q, const float *x, size_t d, size_t n, float *out)
{
	size_t j = 0;
	for (; j + 8 <= n; j += 8) {
		const float *y = x + j * d;
		__m512 s[8];
		#pragma GCC unroll 8
		for (int r = 0; r < 8; r++)
			s[r] = _mm512_setzero_ps();
		for (size_t i = 0; i < d; i += 16) {
			__mmask16 m = d - i < 16 ? lanes_mask(d - i) : 0xffff;
			__m512 qv = _mm512_maskz_loadu_ps(m, q + i);
			#pragma GCC unroll 8
			for (int r = 0; r < 8; r++)
				s[r] = term_l2(s[r], qv, _mm512_maskz_loadu_ps(m, y + r * d + i));
		}
		#pragma GCC unroll 8
		for (int r = 0; r < 8; r++)
			out[j + r] = _mm512_reduce_add_ps(s[r]);
	}
	for (; j < n; j++)
		out[j] = l2sq_avx512(q, x + j * d, d);
}

static float dot_avx512(const float *a, const float *b, size_t d)
{
	return sum_rows(a, b, NULL, d, load_f32, term_dot);
}

static float l2sq_sq8_avx512(const float *q, const uint8_t *c, const float *step, size_t d)
{
	return sum_rows(q, c, step, d, load_sq8_step, term_l2);
}

static float dot_sq8_avx512(const float *q, const uint8_t *c, size_t d)
{
	return sum_rows(q, c, NULL, d, load_sq8, term_dot);
}

static float l2sq_f16_avx512(const float *q, const uint16_t *h, size_t d)
{
	return sum_rows(q, h, NULL, d, load_f16, term_l2);
}

static float dot_f16_avx512(const float *q, const uint16_t *h, size_t d)
{
	return sum_rows(q, h, NULL, d, load_f16, term_dot);
}

static float cosine_avx512(const float *a, const float *b, size_t d)
{
	__m512 ab0 = _mm512_setzero_ps(), aa0 = ab0, bb0 = ab0, ab1 = ab0, aa1 = ab0, bb1 = ab0;
	size_t i = 0;
	for (; i + 32 <= d; i += 32) {
		__m512 x0 = _mm512_loadu_ps(a + i), y0 = _mm512_loadu_ps(b + i);
		__m512 x1 = _mm512_loadu_ps(a + i + 16), y1 = _mm512_loadu_ps(b + i + 16);
		ab0 = _mm512_fmadd_ps(x0, y0, ab0), ab1 = _mm512_fmadd_ps(x1, y1, ab1);
		aa0 = _mm512_fmadd_ps(x0, x0, aa0), aa1 = _mm512_fmadd_ps(x1, x1, aa1);
		bb0 = _mm512_fmadd_ps(y0, y0, bb0), bb1 = _mm512_fmadd_ps(y1, y1, bb1);
	}
	for (; i < d; i += 16) {
		__mmask16 m = d - i < 16 ? lanes_mask(d - i) : 0xffff;
		__m512 x = _mm512_maskz_loadu_ps(m, a + i), y = _mm512_maskz_loadu_ps(m, b + i);
		ab0 = _mm512_fmadd_ps(x, y, ab0);
		aa0 = _mm512_fmadd_ps(x, x, aa0);
		bb0 = _mm512_fmadd_ps(y, y, bb0);
	}
	double na = _mm512_reduce_add_ps(_mm512_add_ps(aa0, aa1));
	double nb = _mm512_reduce_add_ps(_mm512_add_ps(bb0, bb1));
	if (na == 0 || nb == 0)
		return 1.0f;
	double ab = _mm512_reduce_add_ps(_mm512_add_ps(ab0, ab1));
	return (float)(1.0 - ab / sqrt(na * nb));
}

/* ===== binary codes: VPOPCNTDQ counts the bits of eight words at once ===== */

static uint32_t hamming_avx512(const uint8_t *a, const uint8_t *b, size_t n)
{
	if (n < 64) { /* a few words: a register's reduction costs more */
		uint64_t c = 0, x, y;
		size_t i = 0;
		for (; i + 8 <= n; i += 8) {
			memcpy(&x, a + i, 8), memcpy(&y, b + i, 8);
			c += (uint64_t)_mm_popcnt_u64(x ^ y);
		}
		if (i == n)
			return (uint32_t)c;
		__mmask16 m = (__mmask16)bytes_mask(n - i);
		__m128i t = _mm_xor_si128(_mm_maskz_loadu_epi8(m, a + i), _mm_maskz_loadu_epi8(m, b + i));
		return (uint32_t)(c + (uint64_t)_mm_popcnt_u64((uint64_t)_mm_cvtsi128_si64(t)));
	}
	__m512i c0 = _mm512_setzero_si512(), c1 = c0;
	size_t i = 0;
	for (; i + 128 <= n; i += 128) {
		c0 = _mm512_add_epi64(c0, _mm512_popcnt_epi64(_mm512_xor_si512(
		                                  _mm512_loadu_si512(a + i), _mm512_loadu_si512(b + i))));
		c1 = _mm512_add_epi64(c1, _mm512_popcnt_epi64(_mm512_xor_si512(
		                                  _mm512_loadu_si512(a + i + 64),
		                                  _mm512_loadu_si512(b + i + 64))));
	}
	for (; i < n; i += 64) {
		__mmask64 m = n - i < 64 ? bytes_mask(n - i) : ~(__mmask64)0;
		c0 = _mm512_add_epi64(c0, _mm512_popcnt_epi64(_mm512_xor_si512(
		                                  _mm512_maskz_loadu_epi8(m, a + i),
		                                  _mm512_maskz_loadu_epi8(m, b + i))));
	}
	return (uint32_t)_mm512_reduce_add_epi64(_mm512_add_epi64(c0, c1));
}

/* Adds the neighbouring lanes of the 16 in x, y: lane j of the result is
 * x[2j] + x[2j+1] (j < 4), then y's pairs. */
static inline __m512i add_pairs(__m512i x, __m512i y)
{
	const __m512i even = _mm512_set_epi64(14, 12, 10, 8, 6, 4, 2, 0);
	const __m512i odd = _mm512_set_epi64(15, 13, 11, 9, 7, 5, 3, 1);
	return _mm512_add_epi64(_mm512_permutex2var_epi64(x, even, y),
	                        _mm512_permutex2var_epi64(x, odd, y));
}

/* Eight codes of w (1, 2, 4 or 8) words against the query's words qv
 * (repeated to fill 64 bytes): w registers of 8 word counts, summed by
 * neighbours in log2(w) rounds to one count per code, in code order. */
static inline __attribute__((always_inline)) __m512i
eight_codes(const uint8_t *codes, __m512i qv, size_t w)
{
	__m512i p[8];
	for (size_t r = 0; r < w; r++)
		p[r] = _mm512_popcnt_epi64(_mm512_xor_si512(_mm512_loadu_si512(codes + 64 * r), qv));
	for (size_t n = w; n > 1; n /= 2)
		for (size_t r = 0; r < n / 2; r++)
			p[r] = add_pairs(p[2 * r], p[2 * r + 1]);
	return p[0];
}

static inline __attribute__((always_inline)) void
hamming_blocks(const uint8_t *q, const uint8_t *codes, size_t w, size_t n, uint32_t *out)
{
	uint64_t qw[8];
	for (size_t r = 0; r < 8; r++)
		memcpy(&qw[r], q + 8 * (r % w), 8);
	__m512i qv = _mm512_loadu_si512(qw);
	size_t j = 0;
	for (; j + 8 <= n; j += 8)
		_mm256_storeu_si256((__m256i *)(out + j),
		                    _mm512_cvtepi64_epi32(eight_codes(codes + j * 8 * w, qv, w)));
	for (; j < n; j++)
		out[j] = hamming_avx512(q, codes + j * 8 * w, 8 * w);
}

/* The common code sizes (64 to 512 bits) eight codes at a time; others
 * row by row. */
static void hamming_many_avx512(const uint8_t *q, const uint8_t *codes, size_t nbytes, size_t n,
                                uint32_t *out)
{
	switch (nbytes % 8 ? 0 : nbytes / 8) {
	case 1: hamming_blocks(q, codes, 1, n, out); return;
	case 2: hamming_blocks(q, codes, 2, n, out); return;
	case 4: hamming_blocks(q, codes, 4, n, out); return;
	case 8: hamming_blocks(q, codes, 8, n, out); return;
	default:
		for (size_t j = 0; j < n; j++)
			out[j] = hamming_avx512(q, codes + j * nbytes, nbytes);
	}
}

/* ===== exact search's filter and the decoders ===== */

/* The keys exactly as the scalar code computes them (2*d is exact, then
 * one rounding in the subtraction), so every level picks the same rows. */
static size_t next_below_avx512(const float *xn, const float *dots, size_t start, size_t n,
                                float thr)
{
	__m512 t = _mm512_set1_ps(thr);
	for (size_t j = start; j < n; j += 16) {
		__mmask16 m = n - j < 16 ? lanes_mask(n - j) : 0xffff;
		__m512 d = _mm512_maskz_loadu_ps(m, dots + j);
		__m512 key = xn ? _mm512_sub_ps(_mm512_maskz_loadu_ps(m, xn + j), _mm512_add_ps(d, d))
		                : _mm512_sub_ps(_mm512_setzero_ps(), d);
		__mmask16 hit = _mm512_mask_cmp_ps_mask(m, key, t, _CMP_LE_OQ);
		if (hit)
			return j + (size_t)__builtin_ctz(hit);
	}
	return n;
}

/* Sixteen keys a step (the tail masked), the hits' indices compressed out. */
static size_t hits_below_avx512(const float *dots, size_t n, float thr, uint32_t *out)
{
	__m512 t = _mm512_set1_ps(thr);
	__m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
	size_t c = 0;
	for (size_t j = 0; j < n; j += 16) {
		__mmask16 m = n - j < 16 ? lanes_mask(n - j) : 0xffff;
		__m512 key = _mm512_sub_ps(_mm512_setzero_ps(), _mm512_maskz_loadu_ps(m, dots + j));
		__mmask16 hit = _mm512_mask_cmp_ps_mask(m, key, t, _CMP_LE_OQ);
		_mm512_mask_compressstoreu_epi32(out + c, hit,
		                                 _mm512_add_epi32(lane, _mm512_set1_epi32((int)j)));
		c += (size_t)_mm_popcnt_u32(hit);
	}
	return c;
}

/* a multiply then an add, as the scalar level (this file is compiled with
 * -ffp-contract=off, so they are not fused): the same floats on every level */
static inline __m512 decode_sq8_16(const uint8_t *c, const float *lo, const float *step,
                                   size_t i, __mmask16 m)
{
	__m512 t = _mm512_mul_ps(load_sq8(c, NULL, i, m), _mm512_maskz_loadu_ps(m, step + i));
	return _mm512_add_ps(_mm512_maskz_loadu_ps(m, lo + i), t);
}

static void decode_sq8_avx512(const uint8_t *c, const float *lo, const float *step, float *out,
                              size_t n)
{
	size_t i = 0;
	for (; i + 16 <= n; i += 16)
		_mm512_storeu_ps(out + i, decode_sq8_16(c, lo, step, i, 0xffff));
	if (i < n) {
		__mmask16 m = lanes_mask(n - i);
		_mm512_mask_storeu_ps(out + i, m, decode_sq8_16(c, lo, step, i, m));
	}
}

static void decode_f16_avx512(const uint16_t *h, float *out, size_t n)
{
	size_t i = 0;
	for (; i + 16 <= n; i += 16)
		_mm512_storeu_ps(out + i, load_f16(h, NULL, i, 0xffff));
	if (i < n) {
		__mmask16 m = lanes_mask(n - i);
		_mm512_mask_storeu_ps(out + i, m, load_f16(h, NULL, i, m));
	}
}

const vdb_kernels vdb_kernels_avx512 = {
	.name = "avx512",
	.l2sq = l2sq_avx512,
	.l2sq_many = l2sq_many_avx512,
	.dot = dot_avx512,
	.cosine = cosine_avx512,
	.hamming = hamming_avx512,
	.hamming_many = hamming_many_avx512,
	.next_below = next_below_avx512,
	.hits_below = hits_below_avx512,
	.l2sq_sq8 = l2sq_sq8_avx512,
	.dot_sq8 = dot_sq8_avx512,
	.l2sq_f16 = l2sq_f16_avx512,
	.dot_f16 = dot_f16_avx512,
	.decode_sq8 = decode_sq8_avx512,
	.decode_f16 = decode_f16_avx512,
	.l2sq_u8 = l2sq_u8_avx512,
	.dot_u8 = dot_u8_avx512,
	.pq4_block = vdb_pq4_block_avx512,
};
