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
 *
 * And the reference of the tables' quantization (vdb_kernels.pq4_quantize),
 * which the levels must match bit for bit: the same float operations in
 * the same order (the minimum and maximum of a table by halving, as
 * registers do).
 */
#include "distance.h"
#include <string.h>

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

/* lo[j] = the smaller of v[j] and v[j + n], hi[j] the larger (n entries):
 * halving 16 entries four times is a minimum and a maximum in registers. */
static void halve(const float *vl, const float *vh, float *lo, float *hi, int n)
{
	for (int j = 0; j < n; j++) {
		lo[j] = vl[j + n] < vl[j] ? vl[j + n] : vl[j];
		hi[j] = vh[j + n] > vh[j] ? vh[j + n] : vh[j];
	}
}

double vdb_pq4_quantize_scalar(const float *a, const float *b, size_t m, float *t, uint8_t *lut,
                               double *lo)
{
	unsigned qmax = vdb_pq4_qmax(m);
	float span = 0, *mins = t + m * 16;
	double sum = 0;
	for (size_t s = 0; s < m; s++) {
		float v[16], l8[8], h8[8], l4[4], h4[4], l2[2], h2[2];
		const float *as = a + s * 16;
		if (b)
			for (int j = 0; j < 16; j++)
				v[j] = as[j] + b[s * 16 + j];
		else
			memcpy(v, as, sizeof v);
		memcpy(t + s * 16, v, sizeof v); /* (t may be a: the same values) */
		halve(v, v, l8, h8, 8);
		halve(l8, h8, l4, h4, 4);
		halve(l4, h4, l2, h2, 2);
		float mn = l2[1] < l2[0] ? l2[1] : l2[0], mx = h2[1] > h2[0] ? h2[1] : h2[0];
		vdb_pq4_low(mn, mx, mins + s, &sum, &span);
	}
	*lo = sum;
	float inv, q = (float)qmax;
	if (!vdb_pq4_scale(span, qmax, m, lut, &inv))
		return 0;
	for (size_t s = 0; s < m; s++) {
		const float *ts = t + s * 16;
		float mn = mins[s];
		int32_t iv[16];
		for (int j = 0; j < 16; j++) {
			float v = (ts[j] - mn) * inv + 0.5f; /* NaN: 0 */
			v = v > 0 ? v : 0;
			iv[j] = (int32_t)(v < q ? v : q);
		}
		for (int j = 0; j < 16; j++)
			lut[s * 16 + j] = (uint8_t)iv[j];
	}
	return (double)span / qmax;
}
