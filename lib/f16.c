/* f16.c — IEEE 754 binary16 <-> binary32 by bit manipulation (f16.h): the
 * fp16 quantizer's codes, the f16 storage of indexes and the scalar f16
 * distance kernels read and write halves with these. */
#include "f16.h"
#include <string.h>

uint16_t vdb_f32_to_f16(float f)
{
	uint32_t x;
	memcpy(&x, &f, 4);
	uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
	uint32_t ax = x & 0x7fffffffu;
	if (ax > 0x7f800000u) /* NaN: quiet, top payload bits kept */
		return sign | 0x7e00u | (uint16_t)((ax >> 13) & 0x1ffu);
	if (ax >= 0x477ff000u) /* >= 65520: rounds past the largest half (65504) */
		return sign | 0x7c00u;
	if (ax >= 0x38800000u) { /* >= 2^-14: a normal half */
		/* rebias the exponent (127 -> 15) and keep 10 mantissa bits */
		uint32_t h = (ax - 0x38000000u) >> 13, rest = ax & 0x1fffu;
		if (rest > 0x1000u || (rest == 0x1000u && (h & 1)))
			h++; /* a carry into the exponent is the right answer */
		return sign | (uint16_t)h;
	}
	if (ax < 0x33000000u) /* < 2^-25: rounds to zero (2^-25 itself ties to 0) */
		return sign;
	/* subnormal half: h units of 2^-24; value = m * 2^(e - 150), m with the
	 * implicit bit, so h = m >> (126 - e) (shift 14..24) */
	uint32_t e = ax >> 23, m = (ax & 0x7fffffu) | 0x800000u, shift = 126 - e;
	uint32_t h = m >> shift, rest = m & ((1u << shift) - 1), half = 1u << (shift - 1);
	if (rest > half || (rest == half && (h & 1)))
		h++; /* 0x400 is the smallest normal: also right */
	return sign | (uint16_t)h;
}

float vdb_f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu, x;
	if (e == 0x1f)
		x = sign | 0x7f800000u | (m << 13); /* inf, NaN (payload kept) */
	else if (e)
		x = sign | ((e + 112) << 23) | (m << 13);
	else if (!m)
		x = sign;
	else { /* subnormal: normalise the mantissa */
		uint32_t shift = 0;
		while (!(m & 0x400u))
			m <<= 1, shift++;
		x = sign | ((113 - shift) << 23) | ((m & 0x3ffu) << 13);
	}
	float f;
	memcpy(&f, &x, 4);
	return f;
}
