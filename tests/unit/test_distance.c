/* test_distance.c — every SIMD level against the scalar reference, and the
 * scalar reference against double precision, for d = 1..1100 and unaligned
 * inputs. */
#include "tap.h"
#include "vdb.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAXD 1100

static unsigned seed = 12345;
static float rnd(void)
{
	seed = seed * 1103515245u + 12345u;
	return (float)((seed >> 8) & 0xffff) / 32768.0f - 1.0f;
}

/* relative error against the sum of |terms|, so cancellation cannot make
 * a correct kernel look wrong */
static double rel(double got, double want, double mag)
{
	return fabs(got - want) / (mag > 1e-30 ? mag : 1e-30);
}

static void compare(const vdb_kernels *k, const vdb_kernels *ref, const char *what)
{
	static float buf_a[MAXD + 8], buf_b[MAXD + 8];
	double worst[3] = { 0 };
	size_t worst_d[3] = { 0 };
	int off_a[] = { 0, 1, 3 }, off_b[] = { 0, 2, 5 };
	for (int o = 0; o < 3; o++) {
		float *a = buf_a + off_a[o], *b = buf_b + off_b[o];
		for (size_t d = 1; d <= MAXD; d++) {
			float scale = (d % 97 == 0) ? 1000.0f : 1.0f;  /* some large magnitudes */
			double mag_l2 = 0, mag_dot = 0;
			for (size_t i = 0; i < d; i++) {
				a[i] = rnd() * scale, b[i] = rnd() * scale;
				double t = (double)a[i] - b[i];
				mag_l2 += t * t;
				mag_dot += fabs((double)a[i] * b[i]);
			}
			double e[3] = {
				rel(k->l2sq(a, b, d), ref->l2sq(a, b, d), mag_l2),
				rel(k->dot(a, b, d), ref->dot(a, b, d), mag_dot),
				fabs(k->cosine(a, b, d) - ref->cosine(a, b, d)),
			};
			for (int j = 0; j < 3; j++)
				if (e[j] > worst[j])
					worst[j] = e[j], worst_d[j] = d;
		}
	}
	const char *names[] = { "l2sq", "dot", "cosine" };
	for (int j = 0; j < 3; j++)
		ok(worst[j] <= 1e-5, "%s %s agrees with %s for d=1..%d, unaligned (worst %.2g at d=%zu)",
		   k->name, names[j], what, MAXD, worst[j], worst_d[j]);
}

static void hamming(const vdb_kernels *k)
{
	static uint8_t a[MAXD + 3], b[MAXD + 3];
	int bad = 0;
	for (size_t n = 1; n <= MAXD && !bad; n++) {
		for (size_t i = 0; i < n + 3; i++) {
			a[i] = (uint8_t)(rnd() * 255), b[i] = (uint8_t)(rnd() * 255);
		}
		uint32_t want = 0;
		for (size_t i = 0; i < n; i++)
			for (int bit = 0; bit < 8; bit++)
				want += ((a[i + 1] ^ b[i + 3]) >> bit) & 1;
		if (k->hamming(a + 1, b + 3, n) != want)
			bad = (int)n;
	}
	ok(!bad, "%s hamming counts bits exactly for 1..%d bytes, unaligned (first bad n=%d)",
	   k->name, MAXD, bad);
}

/* the scalar reference itself against double precision */
static void reference(const vdb_kernels *s)
{
	static float a[MAXD], b[MAXD];
	double worst = 0;
	for (size_t d = 1; d <= MAXD; d++) {
		double l2 = 0, dot = 0, aa = 0, bb = 0, mdot = 0;
		for (size_t i = 0; i < d; i++) {
			a[i] = rnd(), b[i] = rnd();
			double t = (double)a[i] - b[i];
			l2 += t * t, dot += (double)a[i] * b[i], mdot += fabs((double)a[i] * b[i]);
			aa += (double)a[i] * a[i], bb += (double)b[i] * b[i];
		}
		double e1 = rel(s->l2sq(a, b, d), l2, l2), e2 = rel(s->dot(a, b, d), dot, mdot);
		double e3 = fabs(s->cosine(a, b, d) - (1 - dot / sqrt(aa * bb)));
		if (e1 > worst) worst = e1;
		if (e2 > worst) worst = e2;
		if (e3 > worst) worst = e3;
	}
	ok(worst <= 1e-5, "scalar kernels agree with double precision (worst %.2g)", worst);
	float z[4] = { 0 }, one[4] = { 1, 2, 3, 4 };
	ok(s->cosine(z, one, 4) == 1.0f && s->cosine(one, z, 4) == 1.0f,
	   "cosine distance with a zero vector is 1");
	ok(fabsf(s->cosine(one, one, 4)) < 1e-6f, "cosine distance of a vector to itself is 0");
}

/* next_below: both levels find the same first candidate as a plain loop */
static void next_below(const vdb_kernels *k)
{
	static float xn[300], dots[300];
	int bad = 0;
	for (int trial = 0; trial < 2000 && !bad; trial++) {
		size_t n = (size_t)(trial % 300) + 1, start = (size_t)trial % n;
		for (size_t j = 0; j < n; j++)
			xn[j] = rnd() * 4 + 4, dots[j] = rnd() * 2;
		float thr = rnd() * 6;
		for (int l2 = 0; l2 < 2; l2++) {
			size_t want = n;
			for (size_t j = start; j < n; j++)
				if ((l2 ? xn[j] - 2.0f * dots[j] : -dots[j]) <= thr) {
					want = j;
					break;
				}
			if (k->next_below(l2 ? xn : NULL, dots, start, n, thr) != want)
				bad = trial + 1;
		}
	}
	ok(!bad, "%s next_below finds the first key <= threshold (first bad trial %d)", k->name,
	   bad - 1);
}

int main(void)
{
	const vdb_kernels *scalar = vdb_kernels_level("scalar");
	ok(scalar && !strcmp(scalar->name, "scalar"), "the scalar level always exists");
	reference(scalar);
	hamming(scalar);
	next_below(scalar);
	const vdb_kernels *avx2 = vdb_kernels_level("avx2");
	if (avx2) {
		compare(avx2, scalar, "scalar");
		hamming(avx2);
		next_below(avx2);
	} else
		skip("this CPU has no AVX2+FMA: only the scalar level is tested");
	ok(vdb_kernels_level("avx512") == NULL && vdb_kernels_level("nonsense") == NULL,
	   "unknown or unsupported levels are NULL");
	/* VDB_SIMD is read once, at the first vdb_kernels_get() */
	setenv("VDB_SIMD", "scalar", 1);
	ok(!strcmp(vdb_kernels_get()->name, "scalar"), "VDB_SIMD=scalar forces the scalar level");
	return done_testing();
}
