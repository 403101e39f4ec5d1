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

const vdb_kernels vdb_kernels_avx512 = {
	.name = "avx512",
	.l2sq_u8 = l2sq_u8_avx512,
	.dot_u8 = dot_u8_avx512,
};
