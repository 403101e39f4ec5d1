/*
 * distance_neon.c — Advanced SIMD (NEON) kernels for aarch64.
 *
 * Built only where the compiler targets aarch64 (configure's SIMD_NEON),
 * where NEON is part of every CPU: no run-time check. The float kernels
 * (l2, inner product, cosine) are NEON: four 4-wide accumulators hide the
 * fused multiply-add latency, and the tail (d % 4) goes through a
 * zero-padded block, so no scalar epilogue can disagree with the body. The
 * other entries are the scalar reference's, which gcc already compiles to
 * NEON where it pays (popcount, the sq8 and fp16 loops).
 */
#include "distance.h"
#include <arm_neon.h>
#include <math.h>
#include <string.h>

/* the last r (< 4) floats of a row, zero-padded to a full vector */
static inline float32x4_t load_tail(const float *p, size_t r)
{
	float t[4] = { 0 };
	memcpy(t, p, r * sizeof *t);
	return vld1q_f32(t);
}

static float l2sq_neon(const float *a, const float *b, size_t d)
{
	float32x4_t s0 = vdupq_n_f32(0), s1 = s0, s2 = s0, s3 = s0;
	size_t i = 0;
	for (; i + 16 <= d; i += 16) {
		float32x4_t t0 = vsubq_f32(vld1q_f32(a + i), vld1q_f32(b + i));
		float32x4_t t1 = vsubq_f32(vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
		float32x4_t t2 = vsubq_f32(vld1q_f32(a + i + 8), vld1q_f32(b + i + 8));
		float32x4_t t3 = vsubq_f32(vld1q_f32(a + i + 12), vld1q_f32(b + i + 12));
		s0 = vfmaq_f32(s0, t0, t0);
		s1 = vfmaq_f32(s1, t1, t1);
		s2 = vfmaq_f32(s2, t2, t2);
		s3 = vfmaq_f32(s3, t3, t3);
	}
	for (; i + 4 <= d; i += 4) {
		float32x4_t t = vsubq_f32(vld1q_f32(a + i), vld1q_f32(b + i));
		s0 = vfmaq_f32(s0, t, t);
	}
	if (i < d) {
		float32x4_t t = vsubq_f32(load_tail(a + i, d - i), load_tail(b + i, d - i));
		s1 = vfmaq_f32(s1, t, t);
	}
	return vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
}

/* Four rows of d values from x against q: four independent FMA chains,
 * one query load for four rows, the tail zero-padded. */
static void l2sq_many_neon(const float *q, const float *x, size_t d, size_t n, float *out)
{
	size_t j = 0;
	for (; j + 4 <= n; j += 4) {
		const float *y = x + j * d;
		float32x4_t s[4];
		for (int r = 0; r < 4; r++)
			s[r] = vdupq_n_f32(0);
		size_t i = 0;
		for (; i + 4 <= d; i += 4) {
			float32x4_t qv = vld1q_f32(q + i);
			for (int r = 0; r < 4; r++) {
				float32x4_t t = vsubq_f32(qv, vld1q_f32(y + r * d + i));
				s[r] = vfmaq_f32(s[r], t, t);
			}
		}
		if (i < d) {
			float32x4_t qv = load_tail(q + i, d - i);
			for (int r = 0; r < 4; r++) {
				float32x4_t t = vsubq_f32(qv, load_tail(y + r * d + i, d - i));
				s[r] = vfmaq_f32(s[r], t, t);
			}
		}
		for (int r = 0; r < 4; r++)
			out[j + r] = vaddvq_f32(s[r]);
	}
	for (; j < n; j++)
		out[j] = l2sq_neon(q, x + j * d, d);
}

static float dot_neon(const float *a, const float *b, size_t d)
{
	float32x4_t s0 = vdupq_n_f32(0), s1 = s0, s2 = s0, s3 = s0;
	size_t i = 0;
	for (; i + 16 <= d; i += 16) {
		s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
		s1 = vfmaq_f32(s1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
		s2 = vfmaq_f32(s2, vld1q_f32(a + i + 8), vld1q_f32(b + i + 8));
		s3 = vfmaq_f32(s3, vld1q_f32(a + i + 12), vld1q_f32(b + i + 12));
	}
	for (; i + 4 <= d; i += 4)
		s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
	if (i < d)
		s1 = vfmaq_f32(s1, load_tail(a + i, d - i), load_tail(b + i, d - i));
	return vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
}

static inline void cosine_step(float32x4_t x, float32x4_t y, float32x4_t *ab, float32x4_t *aa,
                               float32x4_t *bb)
{
	*ab = vfmaq_f32(*ab, x, y);
	*aa = vfmaq_f32(*aa, x, x);
	*bb = vfmaq_f32(*bb, y, y);
}

static float cosine_neon(const float *a, const float *b, size_t d)
{
	float32x4_t ab = vdupq_n_f32(0), aa = ab, bb = ab;
	size_t i = 0;
	for (; i + 4 <= d; i += 4)
		cosine_step(vld1q_f32(a + i), vld1q_f32(b + i), &ab, &aa, &bb);
	if (i < d)
		cosine_step(load_tail(a + i, d - i), load_tail(b + i, d - i), &ab, &aa, &bb);
	double na = vaddvq_f32(aa), nb = vaddvq_f32(bb);
	if (na == 0 || nb == 0)
		return 1.0f;
	return (float)(1.0 - (double)vaddvq_f32(ab) / sqrt(na * nb));
}

/* ===== The scalar reference's, for the entries without a NEON kernel ===== */
static uint32_t hamming_ref(const uint8_t *a, const uint8_t *b, size_t n)
{
	return vdb_kernels_scalar.hamming(a, b, n);
}

static void hamming_many_ref(const uint8_t *q, const uint8_t *codes, size_t nbytes, size_t n,
                             uint32_t *out)
{
	vdb_kernels_scalar.hamming_many(q, codes, nbytes, n, out);
}

static size_t next_below_ref(const float *xn, const float *dots, size_t start, size_t n,
                             float thr)
{
	return vdb_kernels_scalar.next_below(xn, dots, start, n, thr);
}

/* Four keys a step: a compare, its lanes folded into a 4-bit mask, the
 * mask's lanes appended from vdb_hit_lanes (c <= j: the store stays below
 * j + 4 <= n). */
static size_t hits_below_neon(const float *dots, size_t n, float thr, uint32_t *out)
{
	static const uint32_t bit[4] = { 1, 2, 4, 8 };
	float32x4_t t = vdupq_n_f32(thr);
	uint32x4_t bits = vld1q_u32(bit);
	size_t c = 0, j = 0;
	for (; j + 4 <= n; j += 4) {
		uint32x4_t le = vcleq_f32(vnegq_f32(vld1q_f32(dots + j)), t);
		uint32_t m = vaddvq_u32(vandq_u32(le, bits));
		vst1q_u32(out + c, vaddq_u32(vld1q_u32(vdb_hit_lanes[m]), vdupq_n_u32((uint32_t)j)));
		c += (size_t)__builtin_popcount(m);
	}
	for (; j < n; j++) {
		out[c] = (uint32_t)j;
		c += -dots[j] <= thr;
	}
	return c;
}

static float l2sq_sq8_ref(const float *q, const uint8_t *c, const float *step, size_t d)
{
	return vdb_kernels_scalar.l2sq_sq8(q, c, step, d);
}

static float dot_sq8_ref(const float *q, const uint8_t *c, size_t d)
{
	return vdb_kernels_scalar.dot_sq8(q, c, d);
}

static float l2sq_f16_ref(const float *q, const uint16_t *h, size_t d)
{
	return vdb_kernels_scalar.l2sq_f16(q, h, d);
}

static float dot_f16_ref(const float *q, const uint16_t *h, size_t d)
{
	return vdb_kernels_scalar.dot_f16(q, h, d);
}

static void decode_sq8_ref(const uint8_t *c, const float *lo, const float *step, float *out,
                           size_t n)
{
	vdb_kernels_scalar.decode_sq8(c, lo, step, out, n);
}

static void decode_f16_ref(const uint16_t *h, float *out, size_t n)
{
	vdb_kernels_scalar.decode_f16(h, out, n);
}

const vdb_kernels vdb_kernels_neon = {
	.name = "neon",
	.l2sq = l2sq_neon,
	.l2sq_many = l2sq_many_neon,
	.dot = dot_neon,
	.cosine = cosine_neon,
	.hamming = hamming_ref,
	.hamming_many = hamming_many_ref,
	.next_below = next_below_ref,
	.hits_below = hits_below_neon,
	.l2sq_sq8 = l2sq_sq8_ref,
	.dot_sq8 = dot_sq8_ref,
	.l2sq_f16 = l2sq_f16_ref,
	.dot_f16 = dot_f16_ref,
	.decode_sq8 = decode_sq8_ref,
	.decode_f16 = decode_f16_ref,
	.pq4_block = vdb_pq4_block_neon,
};
