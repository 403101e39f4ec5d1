/*
 * distance.c — picks the distance kernels once, from the CPU's features.
 *
 * Levels: scalar (always) and avx2 (AVX2 + FMA + F16C). VDB_SIMD=scalar|avx2
 * forces a level, so every path can be tested on one machine; a level the
 * CPU cannot run falls back to the best one it can. The choice is made on
 * first use under pthread_once, so any thread may ask first.
 */
#include "distance.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

static const vdb_kernels *chosen;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static int cpu_has_avx2(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_cpu_init();
	/* F16C from CPUID leaf 1 (ECX bit 29): clang's __builtin_cpu_supports
	 * does not know "f16c" */
	unsigned a, b, c, d;
	int f16c = __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29));
	return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
	       __builtin_cpu_supports("popcnt") && f16c;
#else
	return 0;
#endif
}

const vdb_kernels *vdb_kernels_level(const char *name)
{
	if (!name)
		return NULL;
	if (!strcmp(name, "scalar"))
		return &vdb_kernels_scalar;
	if (!strcmp(name, "avx2"))
		return cpu_has_avx2() ? &vdb_kernels_avx2 : NULL;
	return NULL;
}

static void choose(void)
{
	const char *want = getenv("VDB_SIMD");
	chosen = want ? vdb_kernels_level(want) : NULL;
	if (!chosen)
		chosen = cpu_has_avx2() ? &vdb_kernels_avx2 : &vdb_kernels_scalar;
}

const vdb_kernels *vdb_kernels_get(void)
{
	pthread_once(&once, choose);
	return chosen;
}

const char *vdb_kernels_name(void)
{
	return vdb_kernels_get()->name;
}
