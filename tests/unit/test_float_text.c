/* test_float_text.c — vdb_float_text (lib/float_text.c) against libc:
 * printf's "%.*g" at the least precision 6..9 whose strtof gives the
 * float back (vdb_float_text_printf, which is only that), byte for byte, on random floats of every exponent and on the
 * values where rounding is closest to a tie or a neighbour's midpoint. */
#include "float_text.h"
#include "tap.h"
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t next32(void)
{
	rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

static float of_bits(uint32_t b)
{
	float v;
	memcpy(&v, &b, sizeof v);
	return v;
}

/* how many of the values differ from the reference (the first few shown) */
static size_t differ(const float *v, size_t n)
{
	size_t bad = 0;
	for (size_t i = 0; i < n; i++) {
		char got[VDB_FLOAT_TEXT_MAX], want[64];
		size_t gl = vdb_float_text(v[i], got, sizeof got), wl = vdb_float_text_printf(v[i], want, sizeof want);
		if (gl != wl || strcmp(got, want)) {
			if (bad++ < 5)
				diag("%a: got \"%s\" (%zu), want \"%s\"", (double)v[i], got, gl, want);
		}
	}
	return bad;
}

#define N 2000000
static float vals[N];

int main(void)
{
	/* random bit patterns: every exponent, subnormals, both signs */
	size_t n = 0;
	while (n < N) {
		float v = of_bits(next32());
		if (isfinite(v))
			vals[n++] = v;
	}
	ok(differ(vals, n) == 0, "%zu random floats of every exponent", n);
	/* distances as searches give them: 0..1e4, and small ones */
	for (size_t i = 0; i < N; i++)
		vals[i] = (float)(next32() % 100000000) / (i % 2 ? 1e4f : 1e9f);
	ok(differ(vals, N) == 0, "%d floats in distance ranges", N);
	/* adversarial: powers of ten and two and their neighbours, integers
	 * and halves (ties at 7-8 digits: 1234567.5), 5 at the digit after
	 * the 6th..9th, the extremes */
	n = 0;
	for (int e = -45; e <= 38; e++) {
		float p = strtof("1", NULL) * (float)pow(10, e);
		for (int k = -3; k <= 3; k++) {
			float v = p;
			for (int s = 0; s < (k < 0 ? -k : k); s++)
				v = nextafterf(v, k < 0 ? 0 : INFINITY);
			vals[n++] = v, vals[n++] = -v;
		}
	}
	for (int e = -149; e <= 127; e++) {
		float p = ldexpf(1, e);
		vals[n++] = p, vals[n++] = nextafterf(p, 0), vals[n++] = nextafterf(p, INFINITY);
	}
	for (uint32_t i = 0; i < 200000; i++) {
		vals[n++] = (float)(next32() % 16777216);        /* integers (exact) */
		vals[n++] = (float)(next32() % 8388608) + 0.5f;  /* halves (exact) */
		int digits = 6 + (int)(i % 4);                   /* d.ddddd5 x 10^e */
		uint64_t m = (uint64_t)next32() % 100000000ull * 10 + 5;
		double t = (double)m / pow(10, digits + 1 + (int)(next32() % 3)) *
		           pow(10, (int)(next32() % 60) - 30);
		vals[n++] = (float)t;
	}
	vals[n++] = FLT_MAX, vals[n++] = -FLT_MAX, vals[n++] = FLT_MIN, vals[n++] = FLT_TRUE_MIN;
	vals[n++] = 0.0f, vals[n++] = -0.0f, vals[n++] = 1.0f, vals[n++] = 0.1f, vals[n++] = 1e-5f;
	ok(differ(vals, n) == 0, "%zu adversarial floats", n);
	/* NaN and infinities: printf's text (output.c maps them before) */
	char got[VDB_FLOAT_TEXT_MAX], want[64];
	float odd[3] = { NAN, INFINITY, -INFINITY };
	for (int i = 0; i < 3; i++) {
		vdb_float_text(odd[i], got, sizeof got);
		snprintf(want, sizeof want, "%.6g", (double)odd[i]);
		ok(!strcmp(got, want), "%s as printf has it", want);
	}
	/* a small buffer: printf's truncation */
	vdb_float_text(1.2345678f, got, 5);
	ok(!strcmp(got, "1.23"), "a 5-byte buffer holds \"1.23\" (got \"%s\")", got);
	return done_testing();
}
