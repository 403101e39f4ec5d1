/*
 * distance.c — picks the distance kernels once, from the CPU's features.
 *
 * Levels: avx512 (x86: AVX-512 F/BW/VL/DQ/VNNI/VPOPCNTDQ), avx2 (x86: AVX2 +
 * FMA + F16C), neon (aarch64) and scalar (always).
 * A level is built only where the compiler targets its architecture (see
 * configure.ac). VDB_SIMD=scalar|avx2|avx512|neon forces a level, so every path can
 * be tested on one machine; vdb_simd_check() refuses a value that names no
 * level or one this machine cannot run (the commands call it first). The
 * choice is made on first use under pthread_once, so any thread may ask
 * first.
 */
#include "distance.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static const vdb_kernels *chosen;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* The lanes of a 4-bit compare mask, in order: the indices the SIMD
 * hits_below kernels append, four lanes at a time. */
const uint32_t vdb_hit_lanes[16][4] = {
	{ 0 }, { 0 }, { 1 }, { 0, 1 }, { 2 }, { 0, 2 }, { 1, 2 }, { 0, 1, 2 },
	{ 3 }, { 0, 3 }, { 1, 3 }, { 0, 1, 3 }, { 2, 3 }, { 0, 2, 3 }, { 1, 2, 3 }, { 0, 1, 2, 3 },
};

static bool always(void)
{
	return true;
}

/* Every slot of vdb_kernels but the name: a slot added there and not here
 * fails the assertion below. */
#define KERNEL_SLOTS(X)                                                           \
	X(l2sq) X(l2sq_many) X(dot) X(dot_many) X(cosine) X(hamming) X(hamming_many) X(next_below) X(l2sq_f64) \
	X(dot_f64) X(l2sq_sq8) \
	X(dot_sq8) X(l2sq_f16) X(dot_f16) X(decode_sq8) X(decode_f16) X(l2sq_u8) X(l2sq_u8_many) X(dot_u8) \
	X(pq4_block) X(pq4_quantize) X(hits_below)
#define COUNT_SLOT(f) +1
_Static_assert(sizeof(vdb_kernels) == (1 KERNEL_SLOTS(COUNT_SLOT)) * sizeof(void *),
               "KERNEL_SLOTS lists every kernel of vdb_kernels");

/* Every level vdb knows, best first, with the table of the kernels written
 * for it (NULL where this build has none) and the level whose kernels fill
 * the slots that table leaves NULL: a kernel can be written for one level
 * at a time. scalar fills every slot. */
static const struct level {
	const char *name;
	const vdb_kernels *own;
	bool (*runs)(void);
	size_t below;
} levels[] = {
#if VDB_SIMD_AVX512
	{ "avx512", &vdb_kernels_avx512, vdb_cpu_has_avx512, 1 },
#else
	{ "avx512", NULL, NULL, 1 },
#endif
#if VDB_SIMD_AVX2
	{ "avx2", &vdb_kernels_avx2, vdb_cpu_has_avx2, 3 },
#else
	{ "avx2", NULL, NULL, 3 },
#endif
#if VDB_SIMD_NEON
	{ "neon", &vdb_kernels_neon, always, 3 },
#else
	{ "neon", NULL, NULL, 3 },
#endif
	{ "scalar", &vdb_kernels_scalar, always, 3 },
};
#define NLEVELS (sizeof levels / sizeof *levels)

/* The complete table of each level, made once (complete_levels). */
static vdb_kernels complete[NLEVELS];
static pthread_once_t completed = PTHREAD_ONCE_INIT;

static void complete_levels(void)
{
	for (size_t i = NLEVELS; i-- > 0;) { /* lowest first: below is complete */
		const vdb_kernels *own = levels[i].own;
		if (!own)
			continue;
		complete[i] = levels[i].below == i ? *own : complete[levels[i].below];
		complete[i].name = own->name;
#define TAKE_SLOT(f) if (own->f) complete[i].f = own->f;
		KERNEL_SLOTS(TAKE_SLOT)
#undef TAKE_SLOT
	}
}

static const vdb_kernels *kernels_of(const struct level *l)
{
	pthread_once(&completed, complete_levels);
	return &complete[l - levels];
}

static const struct level *find(const char *name)
{
	for (size_t i = 0; i < NLEVELS; i++)
		if (!strcmp(levels[i].name, name))
			return &levels[i];
	return NULL;
}

static bool usable(const struct level *l)
{
	return l->own && l->runs();
}

const vdb_kernels *vdb_kernels_level(const char *name)
{
	const struct level *l = name ? find(name) : NULL;
	return l && usable(l) ? kernels_of(l) : NULL;
}

/* VDB_SIMD, or NULL when unset or empty */
static const char *wanted(void)
{
	const char *want = getenv("VDB_SIMD");
	return want && *want ? want : NULL;
}

vdb_status vdb_simd_check(void)
{
	const char *want = wanted();
	if (!want)
		return VDB_OK;
	const struct level *l = find(want);
	if (l && usable(l))
		return VDB_OK;
	char known[64] = "", runs[64] = "";
	for (size_t i = 0; i < NLEVELS; i++) {
		const char *sep = i ? ", " : "";
		strcat(strcat(known, sep), levels[i].name);
		if (usable(&levels[i]))
			strcat(strcat(runs, *runs ? ", " : ""), levels[i].name);
	}
	if (!l)
		return vdb_fail(VDB_EINVAL, "VDB_SIMD=%.100s: unknown kernel level (known: %s)", want,
		                known);
	return vdb_fail(VDB_EUNSUPPORTED, "VDB_SIMD=%s: %s (this machine runs: %s)", want,
	                l->own ? "this CPU cannot run these kernels"
	                     : "these kernels are not built for this architecture",
	                runs);
}

static void choose(void)
{
	const char *want = wanted();
	chosen = want ? vdb_kernels_level(want) : NULL;
	for (size_t i = 0; !chosen; i++)
		if (usable(&levels[i]))
			chosen = kernels_of(&levels[i]);
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
