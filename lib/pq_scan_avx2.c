/*
 * pq_scan_avx2.c — the 4-bit PQ fast-scan kernel with AVX2 (see pq_scan.c
 * for the block layout): two sub-quantizers' tables sit in one register,
 * one per 128-bit lane, and vpshufb looks up 32 codes at once. Bytes are
 * summed as 16-bit words, the even and odd bytes apart (no widening).
 * Compiled with -mavx2: only after vdb_cpu_has_avx2() said yes.
 */
#include "distance.h"
#include <immintrin.h>

/* The 16 sums of vectors 0..15 (or 16..31): the two lanes (sub-quantizers
 * s and s + 1) added, even and odd vectors interleaved. */
static void finish(__m256i even, __m256i odd, __m128i *v)
{
	__m128i e = _mm_add_epi16(_mm256_castsi256_si128(even), _mm256_extracti128_si256(even, 1));
	__m128i o = _mm_add_epi16(_mm256_castsi256_si128(odd), _mm256_extracti128_si256(odd, 1));
	v[0] = _mm_unpacklo_epi16(e, o);
	v[1] = _mm_unpackhi_epi16(e, o);
}

static uint32_t le_mask(__m128i a, __m128i b, __m128i t)
{
	__m128i la = _mm_cmpeq_epi16(_mm_min_epu16(a, t), a);
	__m128i lb = _mm_cmpeq_epi16(_mm_min_epu16(b, t), b);
	return (uint32_t)_mm_movemask_epi8(_mm_packs_epi16(la, lb));
}

uint32_t vdb_pq4_block_avx2(const uint8_t *codes, const uint8_t *lut, size_t m, uint16_t thr,
                            uint16_t *out)
{
	const __m256i nib = _mm256_set1_epi8(0x0f), low = _mm256_set1_epi16(0x00ff);
	__m256i a0e = _mm256_setzero_si256(), a0o = a0e, a1e = a0e, a1o = a0e;
	for (size_t s = 0; s < m; s += 2) {
		__m256i c, t;
		if (s + 2 <= m) {
			c = _mm256_loadu_si256((const __m256i *)(codes + s * 16));
			t = _mm256_loadu_si256((const __m256i *)(lut + s * 16));
		} else { /* the last of an odd m: an empty table in the upper lane */
			c = _mm256_inserti128_si256(_mm256_setzero_si256(),
			                            _mm_loadu_si128((const __m128i *)(codes + s * 16)), 0);
			t = _mm256_inserti128_si256(_mm256_setzero_si256(),
			                            _mm_loadu_si128((const __m128i *)(lut + s * 16)), 0);
		}
		__m256i r0 = _mm256_shuffle_epi8(t, _mm256_and_si256(c, nib));
		__m256i r1 = _mm256_shuffle_epi8(t, _mm256_and_si256(_mm256_srli_epi16(c, 4), nib));
		a0e = _mm256_add_epi16(a0e, _mm256_and_si256(r0, low));
		a0o = _mm256_add_epi16(a0o, _mm256_srli_epi16(r0, 8));
		a1e = _mm256_add_epi16(a1e, _mm256_and_si256(r1, low));
		a1o = _mm256_add_epi16(a1o, _mm256_srli_epi16(r1, 8));
	}
	__m128i v[4];
	finish(a0e, a0o, v);
	finish(a1e, a1o, v + 2);
	for (int i = 0; i < 4; i++)
		_mm_storeu_si128((__m128i *)(out + 8 * i), v[i]);
	__m128i t = _mm_set1_epi16((short)thr);
	return le_mask(v[0], v[1], t) | le_mask(v[2], v[3], t) << 16;
}

/* vdb_pq4_quantize_scalar's operations, 8 entries at a time: a table's 16
 * entries in two registers, halved for the minimum and maximum in the
 * scalar's order (minps(x, y) is x < y ? x : y, as its comparisons), then
 * scaled, clamped and truncated as it does (no fused multiply-add:
 * -ffp-contract=off). */
double vdb_pq4_quantize_avx2(const float *a, const float *b, size_t m, float *t, uint8_t *lut,
                             double *lo)
{
	unsigned qmax = vdb_pq4_qmax(m);
	float span = 0, *mins = t + m * 16;
	double sum = 0;
	for (size_t s = 0; s < m; s++) {
		__m256 v0 = _mm256_loadu_ps(a + s * 16), v1 = _mm256_loadu_ps(a + s * 16 + 8);
		if (b) {
			v0 = _mm256_add_ps(v0, _mm256_loadu_ps(b + s * 16));
			v1 = _mm256_add_ps(v1, _mm256_loadu_ps(b + s * 16 + 8));
		}
		_mm256_storeu_ps(t + s * 16, v0); /* (t may be a: the same values) */
		_mm256_storeu_ps(t + s * 16 + 8, v1);
		__m256 l8 = _mm256_min_ps(v1, v0), h8 = _mm256_max_ps(v1, v0);
		__m128 l4 = _mm_min_ps(_mm256_extractf128_ps(l8, 1), _mm256_castps256_ps128(l8));
		__m128 h4 = _mm_max_ps(_mm256_extractf128_ps(h8, 1), _mm256_castps256_ps128(h8));
		__m128 l2 = _mm_min_ps(_mm_movehl_ps(l4, l4), l4);
		__m128 h2 = _mm_max_ps(_mm_movehl_ps(h4, h4), h4);
		float mn = _mm_cvtss_f32(_mm_min_ss(_mm_shuffle_ps(l2, l2, 1), l2));
		float mx = _mm_cvtss_f32(_mm_max_ss(_mm_shuffle_ps(h2, h2, 1), h2));
		vdb_pq4_low(mn, mx, mins + s, &sum, &span);
	}
	*lo = sum;
	float inv;
	if (!vdb_pq4_scale(span, qmax, m, lut, &inv))
		return 0;
	const __m256 vinv = _mm256_set1_ps(inv), half = _mm256_set1_ps(0.5f),
	             q = _mm256_set1_ps((float)qmax), zero = _mm256_setzero_ps();
	for (size_t s = 0; s < m; s++) {
		__m256 mn = _mm256_set1_ps(mins[s]);
		__m256i iv[2];
		for (int h = 0; h < 2; h++) {
			__m256 v = _mm256_loadu_ps(t + s * 16 + 8 * h);
			v = _mm256_add_ps(_mm256_mul_ps(_mm256_sub_ps(v, mn), vinv), half);
			v = _mm256_max_ps(v, zero); /* NaN: 0 */
			iv[h] = _mm256_cvttps_epi32(_mm256_min_ps(v, q));
		}
		/* 16 int32 in 0..255 to bytes: pack within lanes, then order them */
		__m256i w = _mm256_permute4x64_epi64(_mm256_packus_epi32(iv[0], iv[1]), 0xd8);
		__m128i bytes = _mm_packus_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
		_mm_storeu_si128((__m128i *)(lut + s * 16), bytes);
	}
	return (double)span / qmax;
}
