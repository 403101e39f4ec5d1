/* test_distance.c — every SIMD level against the scalar reference, and the
 * scalar reference against double precision, for d = 1..1100 and unaligned
 * inputs. */
#include "tap.h"
#include "vdb_internal.h"
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

/* Binary codes of every bit length 8..4096 (1..512 bytes), unaligned, as
 * the flat and hnsw hamming indexes use them: a level against the scalar
 * reference, on random bytes and on the extremes (all bits differ, none). */
static void hamming_codes(const vdb_kernels *k, const vdb_kernels *ref)
{
	static uint8_t a[512 + 8], b[512 + 8];
	int bad = 0;
	for (int o = 0; o < 3 && !bad; o++) {
		uint8_t *x = a + o, *y = b + 2 * o + 1;
		for (size_t bits = 8; bits <= 4096 && !bad; bits += 8) {
			size_t n = bits / 8;
			memset(y, 0, n), memset(x, 0xff, n);
			if (k->hamming(x, x, n) != 0 || k->hamming(x, y, n) != bits ||
			    k->hamming(y, x, n) != bits)
				bad = (int)bits;
			for (size_t i = 0; i < n; i++)
				x[i] = (uint8_t)(rnd() * 255), y[i] = (uint8_t)(rnd() * 255);
			if (k->hamming(x, y, n) != ref->hamming(x, y, n))
				bad = (int)bits;
		}
	}
	ok(!bad, "%s hamming equals %s for every code of 8..4096 bits, unaligned (first bad: %d bits)",
	   k->name, ref->name, bad);
}

/* hamming_many over blocks of codes equals hamming row by row, for every
 * code size 1..80 bytes and block lengths around the kernel's unrolling */
static void hamming_many(const vdb_kernels *k, const vdb_kernels *ref)
{
	enum { N = 37, B = 80 };
	static uint8_t codes[N * B + 8], q[B + 8];
	uint32_t out[N];
	int bad = 0;
	for (size_t nb = 1; nb <= B && !bad; nb++) {
		for (size_t i = 0; i < N * nb + 1; i++)
			codes[i] = (uint8_t)(rnd() * 255);
		for (size_t i = 0; i < nb + 1; i++)
			q[i] = (uint8_t)(rnd() * 255);
		for (size_t n = 0; n <= N && !bad; n += n < 4 ? 1 : 11) {
			k->hamming_many(q + 1, codes + 1, nb, n, out);
			for (size_t j = 0; j < n; j++)
				if (out[j] != ref->hamming(q + 1, codes + 1 + j * nb, nb))
					bad = (int)nb;
		}
	}
	ok(!bad, "%s hamming_many equals %s hamming row by row for 1..80-byte codes (first bad: %d)",
	   k->name, ref->name, bad);
}

/* One value of an adversarial pattern: huge (squares near 1e34), tiny
 * (products near 1e-30, still normal), magnitudes mixed over 30 decades
 * in one vector, and cancellation (b close to a: l2 from the last bits; b
 * of alternating sign: dot near 0). Finite results only: no NaN, no inf. */
static void pattern(int p, float *a, float *b, size_t d)
{
	for (size_t i = 0; i < d; i++) {
		float x = rnd(), y = rnd();
		switch (p) {
		case 0: a[i] = x * 1e17f, b[i] = y * 1e17f; break;
		case 1: a[i] = x * 1e-15f, b[i] = y * 1e-15f; break;
		case 2: a[i] = x * powf(10, 15 * rnd()), b[i] = y * powf(10, 15 * rnd()); break;
		case 3: a[i] = x * 1e4f, b[i] = a[i] * (1 + 1e-6f * y); break;
		default: a[i] = x, b[i] = (i & 1 ? -a[i] : a[i]) * (1 + 1e-6f * y); break;
		}
	}
}

/* l2sq_many, n contiguous rows against one query, equals the level's row
 * by row l2sq of the scalar reference (1e-5 of the sum of the terms) and
 * double precision within the bound the exact filter relies on
 * (vdb_kernel_gamma(d) times the exact value), on random values and the
 * adversarial patterns above (odd rows close to the query, but for the tiny
 * and mixed patterns, whose differences would square to subnormals), for d = 1..40
 * and larger odd and even dims, block lengths around the kernels' groups
 * of 4 and 8, unaligned; it writes nothing past out[n - 1]; rows equal to
 * the query give 0, an overflowing sum +inf. dot_many the same on the same
 * rows, against dot and the bound on the sum of |q[i] x[i]| (the ip scan's). */
static void l2sq_many(const vdb_kernels *k, const vdb_kernels *ref)
{
	enum { N = 21, D = 300 };
	static float rows[N * D + 8], qb[D + 8], scratch[D];
	static const size_t big[] = { 64, 100, 127, 128, 129, 255, 300 }, ns[] = { 0, 1, 3, 4, 5, 7,
		                                                                   8, 9, 12, 15, 16,
		                                                                   17, 21 };
	float out[N + 1];
	double worst_ref = 0, worst_bound = 0, worst_dot = 0, worst_dot_bound = 0;
	size_t at_ref = 0, at_bound = 0;
	int bad = 0;
	float *q = qb + 1, *x = rows + 3;
	for (size_t di = 0; di < 40 + sizeof big / sizeof *big; di++) {
		size_t d = di < 40 ? di + 1 : big[di - 40];
		for (int p = -1; p < 5; p++) {
			for (size_t j = 0; j < N; j++) {
				float *y = x + j * d;
				if (p < 0)
					for (size_t i = 0; i < d; i++)
						y[i] = rnd(), scratch[i] = rnd();
				else
					pattern(p, j ? scratch : q, y, d);
				if (p < 0 && !j)
					memcpy(q, scratch, d * sizeof *q);
				if (j & 1 && p != 1 && p != 2) /* (not where squares would be subnormal) */
					for (size_t i = 0; i < d; i++)
						y[i] = q[i] * (1 + 1e-6f * rnd());
			}
			for (size_t ni = 0; ni < sizeof ns / sizeof *ns; ni++) {
				size_t n = ns[ni];
				out[n] = -7.0f;
				k->l2sq_many(q, x, d, n, out);
				if (out[n] != -7.0f)
					bad = 1;
				for (size_t j = 0; j < n; j++) {
					const float *y = x + j * d;
					double l2 = 0;
					for (size_t i = 0; i < d; i++) {
						double t = (double)q[i] - y[i];
						l2 += t * t;
					}
					double er = fabs(out[j] - ref->l2sq(q, y, d)) / (l2 > 1e-300 ? l2 : 1e-300);
					double eb = fabs(out[j] - l2) / (vdb_kernel_gamma(d) * l2 + 1e-300);
					if (!(er <= worst_ref))
						worst_ref = er, at_ref = d;
					if (!(eb <= worst_bound))
						worst_bound = eb, at_bound = d;
				}
				out[n] = -7.0f;
				k->dot_many(q, x, d, n, out);
				bad |= out[n] != -7.0f;
				for (size_t j = 0; j < n; j++) {
					const float *y = x + j * d;
					double dot = 0, mag = 0;
					for (size_t i = 0; i < d; i++) {
						dot += (double)q[i] * y[i];
						mag += fabs((double)q[i] * y[i]);
					}
					double er = fabs(out[j] - ref->dot(q, y, d)) / (mag > 1e-300 ? mag : 1e-300);
					double eb = fabs(out[j] - dot) / (vdb_kernel_gamma(d) * mag + 1e-300);
					worst_dot = er > worst_dot || er != er ? er : worst_dot;
					worst_dot_bound = eb > worst_dot_bound || eb != eb ? eb : worst_dot_bound;
				}
			}
		}
	}
	ok(!bad && worst_ref <= 1e-5 && worst_bound <= 1,
	   "%s l2sq_many equals %s l2sq row by row (worst %.2g at d=%zu) and double precision "
	   "within the error bound (worst/bound %.2g at d=%zu), random and adversarial rows, "
	   "d=1..300, 0..21 rows, unaligned, nothing written past the rows",
	   k->name, ref->name, worst_ref, at_ref, worst_bound, at_bound);
	ok(!bad && worst_dot <= 1e-5 && worst_dot_bound <= 1,
	   "%s dot_many equals %s dot row by row (worst %.2g of the terms' sum) and double "
	   "precision within the error bound (worst/bound %.2g), the same rows",
	   k->name, ref->name, worst_dot, worst_dot_bound);
	bad = 0;
	for (size_t d = 1; d <= 40 && !bad; d++) {
		for (size_t j = 0; j < N; j++)
			memcpy(x + j * d, q, d * sizeof *q);
		k->l2sq_many(q, x, d, N, out);
		for (size_t j = 0; j < N; j++)
			bad |= out[j] != 0;
		for (size_t i = 0; i < d; i++)
			q[i] = 1e30f;
		for (size_t j = 0; j < N * d; j++)
			x[j] = -1e30f;
		k->l2sq_many(q, x, d, N, out);
		for (size_t j = 0; j < N; j++)
			bad |= out[j] != INFINITY;
		if (bad)
			bad = (int)d;
	}
	ok(!bad, "%s l2sq_many: rows equal to the query give 0, an overflowing sum +inf, d=1..40 "
	   "(first bad d=%d)", k->name, bad);
}

/* Float kernels of a level on adversarial inputs, every length 1..MAXD
 * at three alignments, against double precision within the bound the
 * exact search relies on (vdb_kernel_gamma(d) times the sum of the terms'
 * magnitudes; 4 gamma for cosine's 1 - cos), and the exact identities:
 * l2sq(a, a) = 0, dot(a, 0) = 0, cosine against a zero vector = 1, and an
 * overflowing sum is +inf (l2sq) or -inf (dot), not NaN. */
static void extremes(const vdb_kernels *k)
{
	static float buf_a[MAXD + 8], buf_b[MAXD + 8], zero[MAXD + 8];
	const char *pname[] = { "huge", "tiny", "mixed", "close", "alternating" };
	for (int p = 0; p < 5; p++) {
		double worst[3] = { 0 };
		size_t worst_d[3] = { 0 };
		for (int o = 0; o < 3; o++) {
			float *a = buf_a + o, *b = buf_b + 2 * o + 1;
			for (size_t d = 1; d <= MAXD; d++) {
				pattern(p, a, b, d);
				double l2 = 0, dot = 0, m_dot = 0, aa = 0, bb = 0;
				for (size_t i = 0; i < d; i++) {
					double t = (double)a[i] - b[i];
					l2 += t * t, dot += (double)a[i] * b[i];
					m_dot += fabs((double)a[i] * b[i]);
					aa += (double)a[i] * a[i], bb += (double)b[i] * b[i];
				}
				double g = vdb_kernel_gamma(d);
				double e[3] = {
					fabs(k->l2sq(a, b, d) - l2) / (g * l2 + 1e-300),
					fabs(k->dot(a, b, d) - dot) / (g * m_dot + 1e-300),
					fabs(k->cosine(a, b, d) - (1 - dot / sqrt(aa * bb))) / (4 * g),
				};
				for (int j = 0; j < 3; j++)
					if (!(e[j] <= worst[j]))
						worst[j] = e[j], worst_d[j] = d;
			}
		}
		ok(worst[0] <= 1 && worst[1] <= 1 && worst[2] <= 1,
		   "%s l2sq, dot, cosine within the error bound on %s values, d=1..%d, unaligned "
		   "(worst/bound %.2g at d=%zu, %.2g at d=%zu, %.2g at d=%zu)",
		   k->name, pname[p], MAXD, worst[0], worst_d[0], worst[1], worst_d[1], worst[2],
		   worst_d[2]);
	}
	int bad = 0;
	float *a = buf_a + 1, *b = buf_b + 2;
	for (size_t d = 1; d <= MAXD && !bad; d++) {
		pattern(2, a, b, d);
		if (k->l2sq(a, a, d) != 0 || k->dot(a, zero + 3, d) != 0 ||
		    k->cosine(a, zero + 1, d) != 1 || k->cosine(zero, b, d) != 1)
			bad = (int)d;
		for (size_t i = 0; i < d; i++)
			a[i] = 1e30f, b[i] = -1e30f;
		if (k->l2sq(a, b, d) != INFINITY || k->dot(a, b, d) != -INFINITY)
			bad = (int)d;
	}
	ok(!bad, "%s: l2sq(a,a) = 0, dot(a,0) = 0, cosine to 0 = 1, overflow is +-inf, d=1..%d "
	   "(first bad d=%d)", k->name, MAXD, bad);
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

/* hits_below: every key <= threshold, in order, as a plain loop finds
 * them, on random keys and adversarial ones: NaN keys, +-inf and signed
 * zero keys, every key a hit, none, thresholds +-inf and NaN, lengths
 * 0..299 (not multiples of 8 or 16); out past the count is not read. */
static void hits_below(const vdb_kernels *k)
{
	static float dots[300];
	static uint32_t got[300], want[300];
	const float thrs[] = { INFINITY, -INFINITY, NAN, 0.0f, -0.0f };
	int bad = 0;
	for (int trial = 0; trial < 3000 && !bad; trial++) {
		size_t n = (size_t)(trial % 300), kind = (size_t)trial % 7;
		for (size_t j = 0; j < n; j++) {
			dots[j] = rnd() * 2;
			if (kind == 1 && j % 3 == 0)
				dots[j] = NAN;
			else if (kind == 2 && j % 5 == 0)
				dots[j] = j % 2 ? INFINITY : -INFINITY;
			else if (kind == 3 && j % 2)
				dots[j] = j % 4 == 1 ? 0.0f : -0.0f;
		}
		float thr = rnd() * 2;
		if (kind == 4) /* every key a hit (bar NaN) */
			thr = 10;
		else if (kind == 5) /* none */
			thr = -10;
		else if (kind >= 6 || kind == 3)
			thr = thrs[(size_t)trial / 7 % 5];
		size_t nw = 0;
		for (size_t j = 0; j < n; j++)
			if (-dots[j] <= thr)
				want[nw++] = (uint32_t)j;
		size_t ng = k->hits_below(dots, n, thr, got);
		if (ng != nw || memcmp(got, want, nw * sizeof *got))
			bad = trial + 1;
	}
	ok(!bad, "%s hits_below lists every key <= threshold, in order (first bad trial %d)", k->name,
	   bad - 1);
}

/* l2sq_f64, dot_f64 (exact search's distances): scalar within the
 * double-rounding bound of a long double sum, d = 1..MAXD, unaligned, on
 * random rows and adversarial ones (huge and tiny magnitudes side by side,
 * near-cancelling pairs, subnormals); every other level equal to scalar
 * bit for bit (one summation order at every level). */
static void exact_f64(const vdb_kernels *k, const vdb_kernels *ref)
{
	static float buf_a[MAXD + 8], buf_b[MAXD + 8];
	double worst[2] = { 0 };
	int differ = 0;
	for (int kind = 0; kind < 4; kind++)
		for (size_t d = 1; d <= MAXD; d++) {
			float *a = buf_a + d % 3, *b = buf_b + d % 5;
			for (size_t i = 0; i < d; i++) {
				a[i] = rnd(), b[i] = rnd();
				if (kind == 1) /* magnitudes from 1e-30 to 1e30 side by side */
					a[i] *= powf(10, (float)(i % 61) - 30), b[i] *= powf(10, (float)(i % 53) - 26);
				else if (kind == 2) /* near-cancelling: b a few ulps from a */
					b[i] = nextafterf(a[i] * 1e6f, INFINITY), a[i] *= 1e6f;
				else if (kind == 3) /* subnormals and zeros */
					a[i] *= 1e-40f, b[i] = i % 7 ? b[i] * 1e-39f : 0;
			}
			long double l2 = 0, dot = 0, mag_l2 = 0, mag_dot = 0;
			for (size_t i = 0; i < d; i++) {
				long double t = (long double)a[i] - b[i];
				l2 += t * t, mag_l2 += t * t;
				dot += (long double)a[i] * b[i], mag_dot += fabsl((long double)a[i] * b[i]);
			}
			double got[2] = { k->l2sq_f64(a, b, d), k->dot_f64(a, b, d) };
			double e[2] = { rel(got[0], (double)l2, (double)mag_l2),
			                rel(got[1], (double)dot, (double)mag_dot) };
			for (int j = 0; j < 2; j++)
				worst[j] = e[j] > worst[j] ? e[j] : worst[j];
			if (ref && (got[0] != ref->l2sq_f64(a, b, d) || got[1] != ref->dot_f64(a, b, d)))
				differ = differ ? differ : (int)d;
		}
	/* (d + 2) double roundings, a little over */
	double bound = (MAXD + 2) * 0x1p-53 * 1.01;
	ok(worst[0] <= bound, "%s l2sq_f64 is within %.2g of the exact sum of |terms| (worst %.2g)",
	   k->name, bound, worst[0]);
	ok(worst[1] <= bound, "%s dot_f64 is within %.2g of the exact sum of |terms| (worst %.2g)",
	   k->name, bound, worst[1]);
	if (ref)
		ok(!differ, "%s l2sq_f64 and dot_f64 equal scalar's bit for bit (first d that differs: %d)",
		   k->name, differ);
}

/* half -> float by the formula, in double */
static double half_value(uint16_t h)
{
	int sign = h >> 15, e = (h >> 10) & 31, m = h & 1023;
	double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(1024 + m, e - 25);
	return sign ? -v : v;
}

/* Decoders: scalar by the formula (every half), other levels bit for bit */
static void decoders(const vdb_kernels *k, const vdb_kernels *ref)
{
	static uint16_t h[65536 + 3];
	static float a[65536 + 3], b[65536 + 3];
	for (uint32_t i = 0; i < 65536; i++)
		h[i + 1] = (uint16_t)i;
	k->decode_f16(h + 1, a, 65536);
	int bad = -1;
	for (uint32_t i = 0; i < 65536 && bad < 0; i++) {
		double want = half_value((uint16_t)i);
		if (isnan(want) ? !isnan(a[i]) : (double)a[i] != want || !signbit(a[i]) != !signbit(want))
			bad = (int)i;
	}
	ok(bad < 0, "%s decode_f16 gives every half's exact value (first bad 0x%04x)", k->name,
	   bad < 0 ? 0 : bad);
	static uint8_t c[MAXD + 3];
	static float lo[MAXD + 3], step[MAXD + 3];
	int bad_f16 = 0, bad_sq8 = 0;
	for (size_t n = 1; n <= MAXD; n++) {
		for (size_t i = 0; i < n + 3; i++) {
			c[i] = (uint8_t)(rnd() * 255);
			lo[i] = rnd() * 10, step[i] = (rnd() + 1) / 100;
			h[i] = (uint16_t)(c[i] * 97 + i) & 0x7bff; /* finite */
		}
		k->decode_sq8(c + 1, lo + 2, step + 3, a, n);
		ref->decode_sq8(c + 1, lo + 2, step + 3, b, n);
		if (!bad_sq8 && memcmp(a, b, n * sizeof *a))
			bad_sq8 = (int)n;
		k->decode_f16(h + 1, a, n);
		ref->decode_f16(h + 1, b, n);
		if (!bad_f16 && memcmp(a, b, n * sizeof *a))
			bad_f16 = (int)n;
	}
	ok(!bad_sq8, "%s decode_sq8 equals %s bit for bit, n=1..%d (first bad n=%d)", k->name,
	   ref->name, MAXD, bad_sq8);
	ok(!bad_f16, "%s decode_f16 equals %s bit for bit, n=1..%d (first bad n=%d)", k->name,
	   ref->name, MAXD, bad_f16);
}

/* Distances to compressed rows against double precision over the decoded
 * row (ref NULL), or against another level. */
/* Byte codes: exact integer sums, on random codes and on the extremes (0
 * against 255 in every place, 255 against 255: the largest sums d = 65536
 * allows; bytes around the sign bit 127/128, which the VNNI kernels flip),
 * every length to MAXD and a long one, at every offset mod 4 (each round
 * its own). By the formula, in 64 bits. */
static uint8_t byte_of(int round, size_t i, int which)
{
	static const uint8_t edge[] = { 0, 1, 127, 128, 129, 254, 255 };
	switch (round) {
	case 0: return (uint8_t)(rnd() * 128 + 128);
	case 1: return which ? 0 : 255;
	case 2: return which ? 255 : (uint8_t)((i & 1) * 255);
	case 3: return 255;
	case 4: return which ? 128 : 127;
	default: return edge[(size_t)((rnd() + 1) * 3.5f) % sizeof edge];
	}
}

static void byte_codes(const vdb_kernels *k)
{
	static uint8_t a[65536 + 8], b[65536 + 8];
	int bad_l2 = 0, bad_dot = 0;
	for (int round = 0; round < 6; round++) {
		size_t oa = (size_t)round % 4, ob = (size_t)(round + 1) % 4 + 1;
		for (size_t n = 1; n <= MAXD + 1; n++) {
			size_t len = n == MAXD + 1 ? 65536 : n;
			for (size_t i = 0; i < len + 5; i++)
				a[i] = byte_of(round, i, 0), b[i] = byte_of(round, i, 1);
			uint64_t l2 = 0, dot = 0;
			for (size_t i = 0; i < len; i++) {
				int64_t t = (int64_t)a[i + oa] - b[i + ob];
				l2 += (uint64_t)(t * t);
				dot += (uint64_t)a[i + oa] * b[i + ob];
			}
			if (!bad_l2 && k->l2sq_u8(a + oa, b + ob, len) != l2)
				bad_l2 = (int)len;
			if (!bad_dot && k->dot_u8(a + oa, b + ob, len) != dot)
				bad_dot = (int)len;
		}
	}
	ok(!bad_l2, "%s l2sq_u8 is the exact sum, random and extreme codes (first bad d=%d)", k->name,
	   bad_l2);
	ok(!bad_dot, "%s dot_u8 is the exact sum, random and extreme codes (first bad d=%d)", k->name,
	   bad_dot);
}

/* l2sq_u8_many: rows picked by id from a table of rows `stride` apart (a
 * graph's records, the code first), random and extreme codes (byte_of's
 * rounds), every count 0..11 (the blocks of four and what is left), every
 * length to 300, each id's row checked by the formula in 64 bits. The rows'
 * bytes after the code are noise, which no sum may read. */
static void byte_codes_many(const vdb_kernels *k)
{
	enum { ROWS = 16, MAXL = 300, STRIDE = MAXL + 37 };
	static uint8_t q[MAXL + 1], t[ROWS * STRIDE + 1];
	uint32_t ids[12], out[12];
	int bad = 0;
	for (int round = 0; round < 6 && !bad; round++)
		for (size_t d = 1; d <= MAXL && !bad; d++) {
			/* round 0 also against a query offset by one byte (unaligned) */
			uint8_t *qq = q + (round == 0 && d % 2);
			for (size_t i = 0; i < d; i++)
				qq[i] = byte_of(round, i, 0);
			for (size_t r = 0; r < ROWS; r++)
				for (size_t i = 0; i < STRIDE; i++)
					t[r * STRIDE + i] = i < d ? byte_of(round, i + r, 1) : (uint8_t)(rnd() * 128 + 128);
			for (size_t n = 0; n <= 11 && !bad; n++) {
				for (size_t j = 0; j < n; j++)
					ids[j] = (uint32_t)((rnd() + 1) * ROWS / 2) % ROWS;
				for (size_t j = 0; j <= n && j < 12; j++)
					out[j] = 0xdeadbeefu;
				k->l2sq_u8_many(qq, t, STRIDE, ids, n, d, out);
				for (size_t j = 0; j < n && !bad; j++) {
					uint64_t l2 = 0;
					for (size_t i = 0; i < d; i++) {
						int64_t x = (int64_t)qq[i] - t[ids[j] * STRIDE + i];
						l2 += (uint64_t)(x * x);
					}
					if (out[j] != l2)
						bad = (int)d;
				}
				if (n < 12 && out[n] != 0xdeadbeefu) /* nothing written beyond n */
					bad = (int)d;
			}
		}
	ok(!bad, "%s l2sq_u8_many is the exact sum of each row picked, random and extreme codes "
	   "(first bad d=%d)", k->name, bad);
}

static void coded(const vdb_kernels *k, const vdb_kernels *ref)
{
	static float qb[MAXD + 8], stepb[MAXD + 8], dec[MAXD];
	static uint8_t cb[MAXD + 8];
	static uint16_t hb[MAXD + 8];
	double worst[4] = { 0 };
	size_t worst_d[4] = { 0 };
	for (int o = 0; o < 2; o++) {
		float *q = qb + o, *step = stepb + 2 * o;
		uint8_t *c = cb + 3 * o;
		uint16_t *h = hb + o;
		for (size_t d = 1; d <= MAXD; d++) {
			for (size_t i = 0; i < d; i++) {
				q[i] = rnd() * 2;
				step[i] = (rnd() + 1.5f) / 128;
				c[i] = (uint8_t)((rnd() + 1) * 127.5f);
				h[i] = (uint16_t)((uint32_t)((rnd() + 1) * 32767.5f) & 0x7bff); /* finite */
			}
			double l2 = 0, m_l2 = 0, dot = 0, m_dot = 0, l2h = 0, doth = 0, m_doth = 0;
			k->decode_f16(h, dec, d);
			for (size_t i = 0; i < d; i++) {
				double t = q[i] - (double)c[i] * step[i];
				l2 += t * t;
				dot += (double)q[i] * c[i], m_dot += fabs((double)q[i] * c[i]);
				double u = (double)q[i] - dec[i];
				l2h += u * u;
				doth += (double)q[i] * dec[i], m_doth += fabs((double)q[i] * dec[i]);
			}
			m_l2 = l2;
			double e[4];
			if (ref) {
				e[0] = rel(k->l2sq_sq8(q, c, step, d), ref->l2sq_sq8(q, c, step, d), m_l2);
				e[1] = rel(k->dot_sq8(q, c, d), ref->dot_sq8(q, c, d), m_dot);
				e[2] = rel(k->l2sq_f16(q, h, d), ref->l2sq_f16(q, h, d), l2h);
				e[3] = rel(k->dot_f16(q, h, d), ref->dot_f16(q, h, d), m_doth);
			} else {
				e[0] = rel(k->l2sq_sq8(q, c, step, d), l2, m_l2);
				e[1] = rel(k->dot_sq8(q, c, d), dot, m_dot);
				e[2] = rel(k->l2sq_f16(q, h, d), l2h, l2h);
				e[3] = rel(k->dot_f16(q, h, d), doth, m_doth);
			}
			for (int j = 0; j < 4; j++)
				if (e[j] > worst[j])
					worst[j] = e[j], worst_d[j] = d;
		}
	}
	const char *names[] = { "l2sq_sq8", "dot_sq8", "l2sq_f16", "dot_f16" };
	for (int j = 0; j < 4; j++)
		ok(worst[j] <= 1e-5, "%s %s agrees with %s for d=1..%d, unaligned (worst %.2g at d=%zu)",
		   k->name, names[j], ref ? ref->name : "double precision", MAXD, worst[j],
		   worst_d[j]);
}

/* vdb_simd_check: VDB_SIMD names a level this machine runs, or it fails
 * with a message naming the value */
static void simd_check(void)
{
	const char *foreign = vdb_kernels_level("avx2") ? "neon" : "avx2";
	setenv("VDB_SIMD", "avx1024", 1);
	ok(vdb_simd_check() == VDB_EINVAL && strstr(vdb_last_error(), "VDB_SIMD=avx1024") &&
	   strstr(vdb_last_error(), "unknown"),
	   "VDB_SIMD=avx1024 is refused as unknown: %s", vdb_last_error());
	setenv("VDB_SIMD", foreign, 1);
	ok(vdb_simd_check() == VDB_EUNSUPPORTED && strstr(vdb_last_error(), foreign),
	   "VDB_SIMD=%s, a level this machine does not run, is refused: %s", foreign,
	   vdb_last_error());
	setenv("VDB_SIMD", "", 1);
	ok(vdb_simd_check() == VDB_OK, "an empty VDB_SIMD means the best level");
	setenv("VDB_SIMD", "scalar", 1);
	ok(vdb_simd_check() == VDB_OK, "VDB_SIMD=scalar is accepted");
	unsetenv("VDB_SIMD");
}

int main(void)
{
	const vdb_kernels *scalar = vdb_kernels_level("scalar");
	ok(scalar && !strcmp(scalar->name, "scalar"), "the scalar level always exists");
	reference(scalar);
	hamming(scalar);
	hamming_codes(scalar, scalar);
	hamming_many(scalar, scalar);
	next_below(scalar);
	hits_below(scalar);
	exact_f64(scalar, NULL);
	decoders(scalar, scalar);
	coded(scalar, NULL);
	byte_codes(scalar);
	byte_codes_many(scalar);
	extremes(scalar);
	l2sq_many(scalar, scalar);
	/* every SIMD level this machine runs, against the scalar reference */
	const char *simd[] = { "avx512", "avx2", "neon" };
	int tested = 0;
	for (size_t i = 0; i < sizeof simd / sizeof *simd; i++) {
		const vdb_kernels *k = vdb_kernels_level(simd[i]);
		if (!k)
			continue;
		tested++;
		compare(k, scalar, "scalar");
		hamming(k);
		hamming_codes(k, scalar);
		hamming_many(k, scalar);
		next_below(k);
		hits_below(k);
		exact_f64(k, scalar);
		decoders(k, scalar);
		coded(k, scalar);
		byte_codes(k);
		byte_codes_many(k);
		extremes(k);
		l2sq_many(k, scalar);
	}
	if (!tested)
		skip("this CPU runs no SIMD level (AVX2+FMA, NEON): only the scalar level is tested");
#if defined(__aarch64__)
	ok(vdb_kernels_level("neon") != NULL, "every aarch64 build runs the neon level");
#endif
	simd_check();
	ok(vdb_kernels_level("avx1024") == NULL && vdb_kernels_level("nonsense") == NULL,
	   "unknown or unsupported levels are NULL");
	/* VDB_SIMD is read once, at the first vdb_kernels_get() */
	setenv("VDB_SIMD", "scalar", 1);
	ok(!strcmp(vdb_kernels_get()->name, "scalar"), "VDB_SIMD=scalar forces the scalar level");
	return done_testing();
}
