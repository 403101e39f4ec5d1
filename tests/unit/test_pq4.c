/* test_pq4.c — the 4-bit PQ fast-scan kernel (vdb_kernels.pq4_block) of
 * every level against an independent reference (the plain sum of table
 * entries written here), and against the scalar level: every m from 1 to
 * 300, misaligned codes and tables, random and extreme tables (all 0, all
 * 255, sums wrapping past 2^16), every threshold edge. Then the table
 * quantization (vdb_pq4_quantize): the integer sums stay within m/2 steps
 * of the float sums, and never exceed 2^16 - 1; every level quantizes as
 * the scalar does, bit for bit, on random and adversarial tables (huge,
 * tiny, equal, signed zeros, infinities, NaN, m past 257). */
#include "tap.h"
#include "vdb_internal.h"
#include "pq_fast.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAXM 300

static unsigned seed = 777;
static unsigned rnd(void)
{
	seed = seed * 1103515245u + 12345u;
	return (seed >> 8) & 0xffffff;
}

/* the sum for vector i, by the layout's definition (pq_scan.c) */
static uint16_t ref_sum(const uint8_t *codes, const uint8_t *lut, size_t m, unsigned i)
{
	uint32_t s = 0;
	for (size_t j = 0; j < m; j++) {
		uint8_t byte = codes[j * 16 + i % 16];
		unsigned c = i < 16 ? byte & 15u : byte >> 4;
		s += lut[j * 16 + c];
	}
	return (uint16_t)(s & 0xffff);
}

enum { RANDOM, ZERO, FULL, LOWBITS };

static int check_level(const vdb_kernels *k)
{
	static uint8_t cbuf[MAXM * 16 + 64], lbuf[MAXM * 16 + 64];
	int bad = 0;
	size_t worst_m = 0;
	for (int kind = RANDOM; kind <= LOWBITS; kind++)
		for (size_t off = 0; off < 4; off++)
			for (size_t m = 1; m <= MAXM; m++) {
				uint8_t *codes = cbuf + off, *lut = lbuf + 3 * off + 1;
				for (size_t i = 0; i < m * 16; i++) {
					codes[i] = (uint8_t)rnd();
					lut[i] = kind == ZERO ? 0 : kind == FULL ? 255
					         : kind == LOWBITS ? (uint8_t)(rnd() & 1) : (uint8_t)rnd();
				}
				uint16_t want[32], got[32], sc[32];
				for (unsigned i = 0; i < 32; i++)
					want[i] = ref_sum(codes, lut, m, i);
				/* thresholds: below all, at a sum, the maximum */
				uint16_t thrs[3] = { 0, want[rnd() % 32], UINT16_MAX };
				for (int t = 0; t < 3; t++) {
					uint32_t mk = k->pq4_block(codes, lut, m, thrs[t], got);
					uint32_t ms = vdb_kernels_level("scalar")->pq4_block(codes, lut, m,
					                                                       thrs[t], sc);
					uint32_t mw = 0;
					for (unsigned i = 0; i < 32; i++)
						mw |= (uint32_t)(want[i] <= thrs[t]) << i;
					if (memcmp(got, want, sizeof got) || memcmp(sc, want, sizeof sc) ||
					    mk != mw || ms != mw) {
						if (!bad)
							worst_m = m;
						bad++;
					}
				}
			}
	ok(bad == 0, "%s pq4_block equals the reference sums and masks for m=1..%d, "
	   "misaligned, random/zero/full/low tables (%d wrong, first at m=%zu)",
	   k->name, MAXM, bad, worst_m);
	return bad;
}

/* the scalar reference of the tables' quantization */
static double Q(const float *a, const float *b, size_t m, float *t, uint8_t *lut, double *lo)
{
	return vdb_kernels_level("scalar")->pq4_quantize(a, b, m, t, lut, lo);
}

static void check_quantize(void)
{
	static float t[MAXM * 16], half[MAXM * 16], scratch[MAXM * 17];
	static uint8_t lut[MAXM * 16];
	int bad = 0;
	for (size_t m = 1; m <= MAXM; m++) {
		float scale = m % 7 == 0 ? 1e30f : m % 5 == 0 ? 1e-30f : 1.0f;
		for (size_t i = 0; i < m * 16; i++) {
			t[i] = ((float)(rnd() % 20001) / 10000.0f - 1.0f) * scale;
			half[i] = t[i] / 2; /* exact: quantized as half + half */
		}
		double lo, delta = m % 2 ? Q(t, NULL, m, scratch, lut, &lo)
		                         : Q(half, half, m, scratch, lut, &lo);
		unsigned maxsum = 0;
		for (size_t s = 0; s < m; s++) {
			unsigned mx = 0;
			for (int j = 0; j < 16; j++)
				mx = lut[s * 16 + j] > mx ? lut[s * 16 + j] : mx;
			maxsum += mx;
		}
		/* one code: entry j of each subspace */
		for (int trial = 0; trial < 20; trial++) {
			double exact = 0;
			unsigned sum = 0;
			for (size_t s = 0; s < m; s++) {
				unsigned j = rnd() % 16;
				exact += t[s * 16 + j];
				sum += lut[s * 16 + j];
			}
			double got = lo + delta * sum;
			if (fabs(got - exact) > (m * 0.5 + 1e-3) * delta + 1e-6 * fabs(exact))
				bad++;
		}
		if (maxsum > UINT16_MAX || !(delta > 0))
			bad++;
	}
	ok(bad == 0, "vdb_pq4_quantize: sums within m/2 steps of the float sums, below 2^16, "
	   "m=1..%d, tiny and huge tables (%d bad)", MAXM, bad);
	float flat[32];
	for (int i = 0; i < 32; i++)
		flat[i] = 3.0f;
	double lo;
	ok(Q(flat, NULL, 2, scratch, lut, &lo) == 0 && lo == 6.0 && !lut[0] && !lut[31],
	   "vdb_pq4_quantize: equal entries give step 0, the sum of the lows, zero bytes");
	flat[5] = INFINITY;
	ok(Q(flat, NULL, 2, scratch, lut, &lo) == 0 && !lut[5],
	   "vdb_pq4_quantize: an infinite entry gives step 0, not undefined bytes");
}

enum { Q_RANDOM, Q_HUGE, Q_TINY, Q_FLAT, Q_ZEROS, Q_INF, Q_NAN, Q_KINDS };

static int check_quantize_level(const vdb_kernels *k)
{
	static float a[MAXM * 16], b[MAXM * 16], ts[MAXM * 17], tk[MAXM * 17];
	static uint8_t ls[MAXM * 16], lk[MAXM * 16];
	int bad = 0;
	for (int kind = Q_RANDOM; kind < Q_KINDS; kind++)
		for (size_t m = 1; m <= MAXM; m += m < 20 ? 1 : 7) {
			for (size_t i = 0; i < m * 16; i++) {
				float r = (float)(rnd() % 20001) / 10000.0f - 1.0f;
				a[i] = kind == Q_HUGE ? r * 3e38f : kind == Q_TINY ? r * 1e-38f
				       : kind == Q_FLAT ? 2.5f : kind == Q_ZEROS ? (rnd() & 1 ? 0.0f : -0.0f) : r;
				b[i] = kind == Q_ZEROS ? -0.0f : (float)(rnd() % 2001) / 1000.0f - 1.0f;
			}
			if (kind == Q_INF)
				a[rnd() % (m * 16)] = rnd() & 1 ? INFINITY : -INFINITY;
			if (kind == Q_NAN)
				a[rnd() % (m * 16)] = NAN;
			for (int withb = 0; withb < 2; withb++) {
				double los, lok;
				memset(ls, 0x5a, sizeof ls), memset(lk, 0xa5, sizeof lk);
				double ds = Q(a, withb ? b : NULL, m, ts, ls, &los);
				double dk = k->pq4_quantize(a, withb ? b : NULL, m, tk, lk, &lok);
				bool same_lo = los == lok || (isnan(los) && isnan(lok));
				if (memcmp(&ds, &dk, sizeof ds) || !same_lo || memcmp(ls, lk, m * 16) ||
				    memcmp(ts, tk, m * 16 * sizeof(float)))
					bad++;
			}
		}
	ok(bad == 0, "%s pq4_quantize equals the scalar bit for bit (bytes, step, low sum, the "
	   "summed table): random, huge, tiny, equal, signed zeros, inf, NaN; m=1..%d (%d differ)",
	   k->name, MAXM, bad);
	return bad;
}

int main(void)
{
	const char *levels[] = { "scalar", "avx2", "avx512", "neon" };
	for (size_t i = 0; i < sizeof levels / sizeof *levels; i++) {
		const vdb_kernels *k = vdb_kernels_level(levels[i]);
		if (k)
			check_level(k), check_quantize_level(k);
		else
			skip(levels[i]);
	}
	check_quantize();
	return done_testing();
}
