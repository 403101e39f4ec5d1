/*
 * distance_avx512.c — the AVX-512 kernels (F, BW, VL, DQ, VNNI, VPOPCNTDQ),
 * compiled with those flags: only to be used after vdb_cpu_has_avx512()
 * (distance_x86.c) said yes.
 *
 * The table holds the kernels written for 512-bit registers; a slot left
 * NULL takes the AVX2 kernel (distance.c completes the level once).
 */
#include "distance.h"
#include <immintrin.h>

const vdb_kernels vdb_kernels_avx512 = {
	.name = "avx512",
	.pq4_block = vdb_pq4_block_avx512,
};
