/*
 * distance_scalar.c — the portable reference kernels.
 *
 * Plain loops with four independent accumulators: they break the add
 * dependency chain and let gcc -O2 -ftree-vectorize use whatever the base
 * ISA offers. Every SIMD level is tested against these.
 */
#include "distance.h"
#include "f16.h"
#include <math.h>
#include <string.h>

static float l2sq_scalar(const float *a, const float *b, size_t d)
{
	float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
	size_t i = 0;
	for (; i + 4 <= d; i += 4) {
		float t0 = a[i] - b[i], t1 = a[i + 1] - b[i + 1];
		float t2 = a[i + 2] - b[i + 2], t3 = a[i + 3] - b[i + 3];
		s0 += t0 * t0, s1 += t1 * t1, s2 += t2 * t2, s3 += t3 * t3;
	}
	for (; i < d; i++) {
		float t = a[i] - b[i];
		s0 += t * t;
	}
	return (s0 + s1) + (s2 + s3);
}

static void l2sq_many_scalar(const float *q, const float *x, size_t d, size_t n, float *out)
{
	for (size_t j = 0; j < n; j++)
		out[j] = l2sq_scalar(q, x + j * d, d);
}

static float dot_scalar(const float *a, const float *b, size_t d);

static void dot_many_scalar(const float *q, const float *x, size_t d, size_t n, float *out)
{
	for (size_t j = 0; j < n; j++)
		out[j] = dot_scalar(q, x + j * d, d);
}

static float dot_scalar(const float *a, const float *b, size_t d)
{
	float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
	size_t i = 0;
	for (; i + 4 <= d; i += 4) {
		s0 += a[i] * b[i], s1 += a[i + 1] * b[i + 1];
		s2 += a[i + 2] * b[i + 2], s3 += a[i + 3] * b[i + 3];
	}
	for (; i < d; i++)
		s0 += a[i] * b[i];
	return (s0 + s1) + (s2 + s3);
}

static float cosine_scalar(const float *a, const float *b, size_t d)
{
	float ab0 = 0, ab1 = 0, aa0 = 0, aa1 = 0, bb0 = 0, bb1 = 0;
	size_t i = 0;
	for (; i + 2 <= d; i += 2) {
		ab0 += a[i] * b[i], ab1 += a[i + 1] * b[i + 1];
		aa0 += a[i] * a[i], aa1 += a[i + 1] * a[i + 1];
		bb0 += b[i] * b[i], bb1 += b[i + 1] * b[i + 1];
	}
	for (; i < d; i++)
		ab0 += a[i] * b[i], aa0 += a[i] * a[i], bb0 += b[i] * b[i];
	double aa = (double)aa0 + aa1, bb = (double)bb0 + bb1;
	if (aa == 0 || bb == 0)
		return 1.0f;
	return (float)(1.0 - ((double)ab0 + ab1) / sqrt(aa * bb));
}

/* Eight lanes, each a product then a sum (two statements: no compiler
 * fuses them into an fma, which would round differently from the SIMD
 * levels), reduced as ((0+1)+(2+3))+((4+5)+(6+7)). */
static double lanes_sum(const double *a)
{
	return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

static double l2sq_f64_scalar(const float *q, const float *x, size_t d)
{
	double a[8] = { 0 };
	size_t i = 0;
	for (; i + 8 <= d; i += 8)
		for (size_t l = 0; l < 8; l++) {
			double t = (double)q[i + l] - x[i + l];
			double p = t * t;
			a[l] += p;
		}
	for (; i < d; i++) {
		double t = (double)q[i] - x[i];
		double p = t * t;
		a[0] += p;
	}
	return lanes_sum(a);
}

static double dot_f64_scalar(const float *q, const float *x, size_t d)
{
	double a[8] = { 0 };
	size_t i = 0;
	for (; i + 8 <= d; i += 8)
		for (size_t l = 0; l < 8; l++) {
			double p = (double)q[i + l] * x[i + l];
			a[l] += p;
		}
	for (; i < d; i++) {
		double p = (double)q[i] * x[i];
		a[0] += p;
	}
	return lanes_sum(a);
}

static uint32_t hamming_scalar(const uint8_t *a, const uint8_t *b, size_t n)
{
	uint64_t c = 0;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t x, y;
		memcpy(&x, a + i, 8);
		memcpy(&y, b + i, 8);
		c += (uint64_t)__builtin_popcountll(x ^ y);
	}
	for (; i < n; i++)
		c += (uint64_t)__builtin_popcount((unsigned)(a[i] ^ b[i]));
	return (uint32_t)c;
}

static void hamming_many_scalar(const uint8_t *q, const uint8_t *codes, size_t nbytes, size_t n,
                                uint32_t *out)
{
	for (size_t j = 0; j < n; j++)
		out[j] = hamming_scalar(q, codes + j * nbytes, nbytes);
}

static size_t next_below_scalar(const float *xn, const float *dots, size_t start, size_t n,
                                float thr)
{
	size_t j = start;
	if (xn) {
		for (; j < n; j++)
			if (xn[j] - 2.0f * dots[j] <= thr)
				return j;
	} else {
		for (; j < n; j++)
			if (-dots[j] <= thr)
				return j;
	}
	return n;
}

/* out[c] is written for every key (c <= j: within out), kept by the count */
static size_t hits_below_scalar(const float *dots, size_t n, float thr, uint32_t *out)
{
	size_t c = 0;
	for (size_t j = 0; j < n; j++) {
		out[c] = (uint32_t)j;
		c += -dots[j] <= thr;
	}
	return c;
}

static float l2sq_sq8_scalar(const float *q, const uint8_t *c, const float *step, size_t d)
{
	float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
	size_t i = 0;
	for (; i + 4 <= d; i += 4) {
		float t0 = q[i] - (float)c[i] * step[i], t1 = q[i + 1] - (float)c[i + 1] * step[i + 1];
		float t2 = q[i + 2] - (float)c[i + 2] * step[i + 2];
		float t3 = q[i + 3] - (float)c[i + 3] * step[i + 3];
		s0 += t0 * t0, s1 += t1 * t1, s2 += t2 * t2, s3 += t3 * t3;
	}
	for (; i < d; i++) {
		float t = q[i] - (float)c[i] * step[i];
		s0 += t * t;
	}
	return (s0 + s1) + (s2 + s3);
}

static float dot_sq8_scalar(const float *q, const uint8_t *c, size_t d)
{
	float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
	size_t i = 0;
	for (; i + 4 <= d; i += 4) {
		s0 += q[i] * (float)c[i], s1 += q[i + 1] * (float)c[i + 1];
		s2 += q[i + 2] * (float)c[i + 2], s3 += q[i + 3] * (float)c[i + 3];
	}
	for (; i < d; i++)
		s0 += q[i] * (float)c[i];
	return (s0 + s1) + (s2 + s3);
}

static float l2sq_f16_scalar(const float *q, const uint16_t *h, size_t d)
{
	float s0 = 0, s1 = 0;
	size_t i = 0;
	for (; i + 2 <= d; i += 2) {
		float t0 = q[i] - vdb_f16_to_f32(h[i]), t1 = q[i + 1] - vdb_f16_to_f32(h[i + 1]);
		s0 += t0 * t0, s1 += t1 * t1;
	}
	for (; i < d; i++) {
		float t = q[i] - vdb_f16_to_f32(h[i]);
		s0 += t * t;
	}
	return s0 + s1;
}

static float dot_f16_scalar(const float *q, const uint16_t *h, size_t d)
{
	float s0 = 0, s1 = 0;
	size_t i = 0;
	for (; i + 2 <= d; i += 2)
		s0 += q[i] * vdb_f16_to_f32(h[i]), s1 += q[i + 1] * vdb_f16_to_f32(h[i + 1]);
	for (; i < d; i++)
		s0 += q[i] * vdb_f16_to_f32(h[i]);
	return s0 + s1;
}

/* one multiply and one add (no fused multiply-add), as vdb-quantize decodes:
 * every level decodes a code to the same floats */
static void decode_sq8_scalar(const uint8_t *c, const float *lo, const float *step, float *out,
                              size_t n)
{
	for (size_t i = 0; i < n; i++) {
		float t = (float)c[i] * step[i];
		out[i] = lo[i] + t;
	}
}

static void decode_f16_scalar(const uint16_t *h, float *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = vdb_f16_to_f32(h[i]);
}

static uint32_t l2sq_u8_scalar(const uint8_t *a, const uint8_t *b, size_t d)
{
	uint32_t s = 0;
	for (size_t i = 0; i < d; i++) {
		int t = (int)a[i] - (int)b[i];
		s += (uint32_t)(t * t);
	}
	return s;
}

static void l2sq_u8_many_scalar(const uint8_t *q, const uint8_t *rows, size_t stride,
                                const uint32_t *ids, size_t n, size_t d, uint32_t *out)
{
	for (size_t j = 0; j < n; j++)
		out[j] = l2sq_u8_scalar(q, rows + ids[j] * stride, d);
}

static uint32_t dot_u8_scalar(const uint8_t *a, const uint8_t *b, size_t d)
{
	uint32_t s = 0;
	for (size_t i = 0; i < d; i++)
		s += (uint32_t)a[i] * b[i];
	return s;
}

const vdb_kernels vdb_kernels_scalar = {
	.name = "scalar",
	.l2sq = l2sq_scalar,
	.l2sq_many = l2sq_many_scalar,
	.dot = dot_scalar,
	.dot_many = dot_many_scalar,
	.cosine = cosine_scalar,
	.hamming = hamming_scalar,
	.hamming_many = hamming_many_scalar,
	.next_below = next_below_scalar,
	.hits_below = hits_below_scalar,
	.l2sq_f64 = l2sq_f64_scalar,
	.dot_f64 = dot_f64_scalar,
	.l2sq_sq8 = l2sq_sq8_scalar,
	.dot_sq8 = dot_sq8_scalar,
	.l2sq_f16 = l2sq_f16_scalar,
	.dot_f16 = dot_f16_scalar,
	.decode_sq8 = decode_sq8_scalar,
	.decode_f16 = decode_f16_scalar,
	.l2sq_u8 = l2sq_u8_scalar,
	.l2sq_u8_many = l2sq_u8_many_scalar,
	.dot_u8 = dot_u8_scalar,
	.pq4_block = vdb_pq4_block_scalar,
	.pq4_quantize = vdb_pq4_quantize_scalar,
};
