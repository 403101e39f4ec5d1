/*
 * pq_scan_avx512.c — the 4-bit PQ fast-scan kernel with AVX-512 BW (see
 * pq_scan.c for the block layout): four sub-quantizers' tables in one
 * register, one per 128-bit lane; the last one to three by masked loads
 * (masked-off bytes read as 0: an empty table). Compiled with the avx512
 * flags: only after vdb_cpu_has_avx512() said yes.
 */
#include "distance.h"
#include <immintrin.h>

/* The 16 sums of vectors 0..15 (or 16..31) in 16-bit words: the four lanes
 * added, even and odd vectors interleaved. */
static __m256i finish(__m512i even, __m512i odd)
{
	__m256i e2 = _mm256_add_epi16(_mm512_castsi512_si256(even), _mm512_extracti64x4_epi64(even, 1));
	__m256i o2 = _mm256_add_epi16(_mm512_castsi512_si256(odd), _mm512_extracti64x4_epi64(odd, 1));
	__m128i e = _mm_add_epi16(_mm256_castsi256_si128(e2), _mm256_extracti128_si256(e2, 1));
	__m128i o = _mm_add_epi16(_mm256_castsi256_si128(o2), _mm256_extracti128_si256(o2, 1));
	return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_unpacklo_epi16(e, o)),
	                               _mm_unpackhi_epi16(e, o), 1);
}

uint32_t vdb_pq4_block_avx512(const uint8_t *codes, const uint8_t *lut, size_t m, uint16_t thr,
                              uint16_t *out)
{
	const __m512i nib = _mm512_set1_epi8(0x0f), low = _mm512_set1_epi16(0x00ff);
	__m512i a0e = _mm512_setzero_si512(), a0o = a0e, a1e = a0e, a1o = a0e;
	for (size_t s = 0; s < m; s += 4) {
		__m512i c, t;
		if (s + 4 <= m) {
			c = _mm512_loadu_si512(codes + s * 16);
			t = _mm512_loadu_si512(lut + s * 16);
		} else {
			__mmask64 k = ((__mmask64)1 << ((m - s) * 16)) - 1;
			c = _mm512_maskz_loadu_epi8(k, codes + s * 16);
			t = _mm512_maskz_loadu_epi8(k, lut + s * 16);
		}
		__m512i r0 = _mm512_shuffle_epi8(t, _mm512_and_si512(c, nib));
		__m512i r1 = _mm512_shuffle_epi8(t, _mm512_and_si512(_mm512_srli_epi16(c, 4), nib));
		a0e = _mm512_add_epi16(a0e, _mm512_and_si512(r0, low));
		a0o = _mm512_add_epi16(a0o, _mm512_srli_epi16(r0, 8));
		a1e = _mm512_add_epi16(a1e, _mm512_and_si512(r1, low));
		a1o = _mm512_add_epi16(a1o, _mm512_srli_epi16(r1, 8));
	}
	__m256i v0 = finish(a0e, a0o), v1 = finish(a1e, a1o);
	_mm256_storeu_si256((__m256i *)out, v0);
	_mm256_storeu_si256((__m256i *)(out + 16), v1);
	__m256i t = _mm256_set1_epi16((short)thr);
	return (uint32_t)_mm256_cmple_epu16_mask(v0, t) | (uint32_t)_mm256_cmple_epu16_mask(v1, t) << 16;
}
