/*
 * distance_x86.c — can this x86 CPU run the AVX2 (AVX-512) kernels? Built only where
 * the compiler targets x86 (configure's SIMD_X86), with the base flags: it
 * runs before any AVX2 instruction may.
 */
#include "distance.h"
#include <cpuid.h>

bool vdb_cpu_has_avx2(void)
{
	__builtin_cpu_init();
	/* F16C from CPUID leaf 1 (ECX bit 29): clang's __builtin_cpu_supports
	 * does not know "f16c" */
	unsigned a, b, c, d;
	int f16c = __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29));
	return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
	       __builtin_cpu_supports("popcnt") && f16c;
}

/* The AVX-512 level: the AVX2 level's features (its kernels fill the slots
 * the AVX-512 table leaves empty) and F, BW, VL, DQ, VNNI and VPOPCNTDQ,
 * as Ice Lake, Sapphire Rapids and Zen 4 have. */
bool vdb_cpu_has_avx512(void)
{
	return vdb_cpu_has_avx2() && __builtin_cpu_supports("avx512f") &&
	       __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
	       __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vnni") &&
	       __builtin_cpu_supports("avx512vpopcntdq");
}
