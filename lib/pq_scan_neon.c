/*
 * pq_scan_neon.c — the 4-bit PQ fast-scan kernel with NEON (see pq_scan.c
 * for the block layout): a sub-quantizer's 16-byte table in one register,
 * vqtbl1q_u8 looks up 16 codes at once (the low nibbles: vectors 0..15,
 * the high ones: 16..31), and the bytes are widened into four 16-bit
 * accumulators of 8 vectors. Advanced SIMD is part of every AArch64 CPU.
 */
#include "distance.h"
#include <arm_neon.h>

/* bit i of the result: v[i] <= t */
static uint32_t le_bits(uint16x8_t v, uint16x8_t t)
{
	static const uint16_t w[8] = { 1, 2, 4, 8, 16, 32, 64, 128 };
	return vaddvq_u16(vandq_u16(vcleq_u16(v, t), vld1q_u16(w)));
}

uint32_t vdb_pq4_block_neon(const uint8_t *codes, const uint8_t *lut, size_t m, uint16_t thr,
                            uint16_t *out)
{
	const uint8x16_t nib = vdupq_n_u8(0x0f);
	uint16x8_t a0 = vdupq_n_u16(0), a1 = a0, a2 = a0, a3 = a0;
	for (size_t s = 0; s < m; s++) {
		uint8x16_t c = vld1q_u8(codes + s * 16), t = vld1q_u8(lut + s * 16);
		uint8x16_t r0 = vqtbl1q_u8(t, vandq_u8(c, nib));
		uint8x16_t r1 = vqtbl1q_u8(t, vshrq_n_u8(c, 4));
		a0 = vaddw_u8(a0, vget_low_u8(r0));
		a1 = vaddw_high_u8(a1, r0);
		a2 = vaddw_u8(a2, vget_low_u8(r1));
		a3 = vaddw_high_u8(a3, r1);
	}
	vst1q_u16(out, a0);
	vst1q_u16(out + 8, a1);
	vst1q_u16(out + 16, a2);
	vst1q_u16(out + 24, a3);
	uint16x8_t t = vdupq_n_u16(thr);
	return le_bits(a0, t) | le_bits(a1, t) << 8 | le_bits(a2, t) << 16 | le_bits(a3, t) << 24;
}
