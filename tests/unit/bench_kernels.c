/* bench_kernels.c — nanoseconds per call of each distance kernel on every
 * level this machine runs, at d = 128 and 784 (rows in cache), best of 5.
 * Not a test and not installed: make -C build tests/unit/bench_kernels,
 * then build/tests/unit/bench_kernels [reps]. */
#include "vdb_internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { ROWS = 256, MAXD = 784 };
static float q[MAXD], x[ROWS * MAXD], step[MAXD], lo[MAXD], out[MAXD], keys[ROWS];
static uint8_t qc[MAXD], c[ROWS * MAXD];
static uint16_t h[ROWS * MAXD];
static uint32_t counts[ROWS];
static volatile float sink;

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* ns per row of one kernel over ROWS rows, best of 5 */
#define TIME(expr)                                                         \
	do {                                                               \
		best = 1e30;                                               \
		for (int rep = 0; rep < 5; rep++) {                        \
			double t0 = now();                                 \
			float acc = 0;                                     \
			for (int it = 0; it < iters; it++)                 \
				for (size_t r = 0; r < ROWS; r++)          \
					acc += (float)(expr);              \
			double t = (now() - t0) / ((double)iters * ROWS);  \
			sink = acc;                                        \
			if (t < best)                                      \
				best = t;                                  \
		}                                                          \
	} while (0)

int main(int argc, char **argv)
{
	int iters = argc > 1 ? atoi(argv[1]) : 200;
	srand(1);
	for (size_t i = 0; i < ROWS * MAXD; i++) {
		x[i] = (float)((double)rand() / RAND_MAX);
		c[i] = (uint8_t)rand();
		h[i] = (uint16_t)(rand() & 0x3bff);
	}
	for (size_t i = 0; i < MAXD; i++)
		q[i] = (float)((double)rand() / RAND_MAX), step[i] = 0.01f, lo[i] = 0, qc[i] = (uint8_t)rand();
	const char *levels[] = { "scalar", "avx2", "avx512", "neon" };
	const size_t dims[] = { 128, 784 };
	printf("%-14s %4s", "kernel", "d");
	for (size_t l = 0; l < 4; l++)
		if (vdb_kernels_level(levels[l]))
			printf(" %9s", levels[l]);
	printf("  (ns per row)\n");
	const char *names[] = { "l2sq", "dot", "cosine", "l2sq_sq8", "dot_sq8", "l2sq_f16",
		                "dot_f16", "l2sq_u8", "dot_u8", "hamming", "hamming_many",
		                "decode_sq8", "decode_f16", "next_below", "l2sq_many" };
	for (size_t di = 0; di < 2; di++)
		for (size_t f = 0; f < sizeof names / sizeof *names; f++) {
			size_t d = dims[di];
			printf("%-14s %4zu", names[f], d);
			for (size_t l = 0; l < 4; l++) {
				const vdb_kernels *k = vdb_kernels_level(levels[l]);
				if (!k)
					continue;
				double best;
				switch (f) {
				case 0: TIME(k->l2sq(q, x + r * d, d)); break;
				case 1: TIME(k->dot(q, x + r * d, d)); break;
				case 2: TIME(k->cosine(q, x + r * d, d)); break;
				case 3: TIME(k->l2sq_sq8(q, c + r * d, step, d)); break;
				case 4: TIME(k->dot_sq8(q, c + r * d, d)); break;
				case 5: TIME(k->l2sq_f16(q, h + r * d, d)); break;
				case 6: TIME(k->dot_f16(q, h + r * d, d)); break;
				case 7: TIME(k->l2sq_u8(qc, c + r * d, d)); break;
				case 8: TIME(k->dot_u8(qc, c + r * d, d)); break;
				/* codes of d bits */
				case 9: TIME(k->hamming(qc, c + r * d / 8, d / 8)); break;
				case 10: TIME((k->hamming_many(qc, c, d / 8, ROWS, counts), r = ROWS,
				               counts[0])); break;
				case 11: TIME((k->decode_sq8(c + r * d, lo, step, out, d), out[0])); break;
				case 12: TIME((k->decode_f16(h + r * d, out, d), out[0])); break;
				case 13: TIME(k->next_below(x + r, q, 0, d, -1e30f)); break;
				default: TIME((k->l2sq_many(q, x, d, ROWS, keys), r = ROWS, keys[0])); break;
				}
				printf(" %9.2f", best);
			}
			printf("\n");
		}
	return 0;
}
