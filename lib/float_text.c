/*
 * float_text.c — a float as the shortest decimal that reads back as it:
 * what printf's "%.*g" gives at the least precision of 6..9 whose strtof
 * is the float again (search results' distances and scores), without
 * printf: at 6 to 9 digits a float's decimal is found in double
 * arithmetic, whose error (a few parts in 10^16) is far below the digit
 * rounded and the gap to the neighbouring floats, except when the value
 * lies within 1e-6 of a rounding tie or of a neighbour's midpoint: those
 * few take printf and strtof, as before (so the text is the same, byte for
 * byte: tests/unit/test_float_text checks it against them). A JSONL line
 * of distances was mostly this: 150 of 200 ms of CPU for 10k queries of
 * ivf at nprobe 1 went to printf and strtof.
 */
#include "float_text.h"
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 10^-60 .. 10^60 as the nearest doubles (a float's digits need
 * 10^-53 .. 10^33) */
static const double P10[121] = {
	1e-60, 1e-59, 1e-58, 1e-57, 1e-56, 1e-55, 1e-54, 1e-53,
	1e-52, 1e-51, 1e-50, 1e-49, 1e-48, 1e-47, 1e-46, 1e-45,
	1e-44, 1e-43, 1e-42, 1e-41, 1e-40, 1e-39, 1e-38, 1e-37,
	1e-36, 1e-35, 1e-34, 1e-33, 1e-32, 1e-31, 1e-30, 1e-29,
	1e-28, 1e-27, 1e-26, 1e-25, 1e-24, 1e-23, 1e-22, 1e-21,
	1e-20, 1e-19, 1e-18, 1e-17, 1e-16, 1e-15, 1e-14, 1e-13,
	1e-12, 1e-11, 1e-10, 1e-9, 1e-8, 1e-7, 1e-6, 1e-5,
	1e-4, 1e-3, 1e-2, 1e-1, 1e0, 1e1, 1e2, 1e3,
	1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19,
	1e20, 1e21, 1e22, 1e23, 1e24, 1e25, 1e26, 1e27,
	1e28, 1e29, 1e30, 1e31, 1e32, 1e33, 1e34, 1e35,
	1e36, 1e37, 1e38, 1e39, 1e40, 1e41, 1e42, 1e43,
	1e44, 1e45, 1e46, 1e47, 1e48, 1e49, 1e50, 1e51,
	1e52, 1e53, 1e54, 1e55, 1e56, 1e57, 1e58, 1e59,
	1e60
};
#define P10_AT(e) (P10[(e) + 60])

static const uint64_t U10[11] = { 1, 10, 100, 1000, 10000, 100000, 1000000, 10000000,
	                          100000000, 1000000000, 10000000000 };

size_t vdb_float_text_printf(float v, char *buf, size_t n)
{
	int len = 0;
	for (int prec = 6; prec <= 9; prec++) {
		len = snprintf(buf, n, "%.*g", prec, (double)v);
		if (strtof(buf, NULL) == v)
			break;
	}
	return len > 0 ? (size_t)len : 0;
}

/* "%.*g" of the p digits of m (10^(p-1) <= m < 10^p) times 10^(x-p+1):
 * scientific when x < -4 or x >= p, else positional; trailing zeros of
 * the fraction dropped, and its point when none is left. */
static size_t put_g(char *out, bool neg, uint64_t m, int p, int x)
{
	char dig[10];
	for (int i = p - 1; i >= 0; i--, m /= 10)
		dig[i] = (char)('0' + m % 10);
	int nd = p;
	char *o = out;
	if (neg)
		*o++ = '-';
	if (x < -4 || x >= p) {
		while (nd > 1 && dig[nd - 1] == '0')
			nd--;
		*o++ = dig[0];
		if (nd > 1) {
			*o++ = '.';
			memcpy(o, dig + 1, (size_t)nd - 1);
			o += nd - 1;
		}
		int e = x < 0 ? -x : x;
		*o++ = 'e';
		*o++ = x < 0 ? '-' : '+';
		if (e >= 100)
			*o++ = (char)('0' + e / 100);
		*o++ = (char)('0' + e / 10 % 10);
		*o++ = (char)('0' + e % 10);
	} else if (x >= 0) {
		int frac = p - 1 - x; /* digits after the point */
		while (frac > 0 && dig[nd - 1] == '0')
			nd--, frac--;
		memcpy(o, dig, (size_t)x + 1);
		o += x + 1;
		if (frac > 0) {
			*o++ = '.';
			memcpy(o, dig + x + 1, (size_t)frac);
			o += frac;
		}
	} else {
		while (nd > 1 && dig[nd - 1] == '0')
			nd--;
		*o++ = '0';
		*o++ = '.';
		for (int z = -x - 1; z > 0; z--)
			*o++ = '0';
		memcpy(o, dig, (size_t)nd);
		o += nd;
	}
	*o = '\0';
	return (size_t)(o - out);
}

size_t vdb_float_text(float v, char *buf, size_t n)
{
	if (n < VDB_FLOAT_TEXT_MAX)
		return vdb_float_text_printf(v, buf, n);
	if (v == 0 || !isfinite(v))
		return vdb_float_text_printf(v, buf, n);
	bool neg = signbit(v);
	double a = fabs((double)v);
	/* the neighbours' midpoints: the decimals between them read back as v */
	float af = fabsf(v);
	double hi = (a + (double)nextafterf(af, INFINITY)) / 2;
	double lo = (a + (double)nextafterf(af, 0)) / 2;
	int e10 = (int)floor(log10(a));
	for (int p = 6; p <= 9; p++) {
		int x = e10, s = p - 1 - x;
		double m = a * P10_AT(s);
		/* log10's floor can be one off near a power of ten */
		if (m >= (double)U10[p])
			x++, s--, m = a * P10_AT(s);
		else if (m < (double)U10[p - 1])
			x--, s++, m = a * P10_AT(s);
		double f = floor(m), frac = m - f;
		if (fabs(frac - 0.5) < 1e-6 || m >= (double)U10[p] || m < (double)U10[p - 1])
			return vdb_float_text_printf(v, buf, n); /* a tie, or the digits unsure */
		uint64_t dm = (uint64_t)f + (frac > 0.5);
		if (dm == U10[p]) /* rounded up to 10^p */
			dm = U10[p - 1], x++, s--;
		double d = (double)dm * P10_AT(-s), tol = d * 1e-12;
		if (d > lo + tol && d < hi - tol) {
			size_t len = put_g(buf, neg, dm, p, x);
			e10 = x;
			return len;
		}
		if (!(d <= lo - tol || d >= hi + tol))
			return vdb_float_text_printf(v, buf, n); /* near a midpoint: strtof decides */
		e10 = x;
	}
	return vdb_float_text_printf(v, buf, n); /* (9 digits always read back) */
}
