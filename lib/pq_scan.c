/*
 * pq_scan.c — the scalar reference of the 4-bit PQ fast-scan kernel
 * (vdb_kernels.pq4_block), which the SIMD levels (pq_scan_avx2.c,
 * pq_scan_avx512.c, pq_scan_neon.c) must match exactly: the sums are
 * integers.
 *
 * A block holds the codes of 32 vectors for m sub-quantizers of 16
 * centroids: for sub-quantizer s, 16 bytes at codes + 16 s, byte i holding
 * the code of vector i in its low nibble and of vector i + 16 in its high
 * one. The table of s is the 16 bytes at lut + 16 s. out[i] is the sum over
 * s of lut[16 s + code(i, s)], modulo 2^16 (the caller keeps m times the
 * largest entry below 2^16), and bit i of the result tells out[i] <= thr.
 */
#include "distance.h"

uint32_t vdb_pq4_block_scalar(const uint8_t *codes, const uint8_t *lut, size_t m, uint16_t thr,
                              uint16_t *out)
{
	uint32_t mask = 0;
	for (unsigned i = 0; i < 32; i++) {
		uint32_t s = 0;
		for (size_t j = 0; j < m; j++) {
			uint8_t c = codes[j * 16 + (i & 15)];
			s += lut[j * 16 + (i < 16 ? c & 15 : c >> 4)];
		}
		out[i] = (uint16_t)s;
		mask |= (uint32_t)(out[i] <= thr) << i;
	}
	return mask;
}
