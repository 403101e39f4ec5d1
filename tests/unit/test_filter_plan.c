/* test_filter_plan.c — the filtered-search planner's choice of how the
 * exact scan ranks a batch, by OpenBLAS's core and vdb's SIMD level,
 * against the tables vdb-query(1) documents (lib/filter_plan.c). */
#include "filter_plan.h"
#include "tap.h"
#include <math.h>

int main(void)
{
	/* vdb-query(1): ns per multiply-add by core family; 0.1 for a core not named */
	static const struct {
		const char *core;
		double ns;
	} table[] = {
		{ "Prescott", 0.1 }, { "Atom", 0.1 },          { "Core2", 0.06 },
		{ "Nehalem", 0.06 }, { "Sandybridge", 0.032 }, { "Piledriver", 0.032 },
		{ "Haswell", 0.03 }, { "Zen", 0.03 },          { "SkylakeX", 0.03 },
		{ "HASWELL", 0.03 }, /* a build for one CPU names it in capitals */
		{ "unknown", 0.1 },  { "", 0.1 },              { "Zen4", 0.1 },
		{ "Ze", 0.1 },
	};
	for (size_t i = 0; i < sizeof table / sizeof *table; i++)
		ok(fabs(vdb_plan_madd_ns(table[i].core) - table[i].ns) < 1e-12,
		   "core '%s': %g ns per multiply-add", table[i].core, table[i].ns);

	/* a batch of 1,000 ranked directly only where a named core is slower than
	 * the kernels of the level (avx2, avx512 0.093; scalar 0.2) */
	static const struct {
		const char *level, *core;
		bool direct;
	} batch[] = {
		{ "avx2", "Prescott", true },  { "avx512", "Prescott", true }, { "avx2", "Core2", false },
		{ "avx2", "Zen", false },      { "scalar", "Prescott", false }, { "avx2", "unknown", false },
		{ "avx2", "", false },         { "avx2", "PRESCOTT", true },
	};
	for (size_t i = 0; i < sizeof batch / sizeof *batch; i++)
		ok(vdb_plan_direct(VDB_METRIC_L2, 1000, batch[i].level, batch[i].core) == batch[i].direct,
		   "1,000 queries, %s, core '%s': %s", batch[i].level, batch[i].core,
		   batch[i].direct ? "ranked directly" : "through sgemm");
	/* a small batch always directly (l2, cosine); ip never */
	ok(vdb_plan_direct(VDB_METRIC_COSINE, VDB_EXACT_DIRECT_BATCH, "avx2", "Zen"),
	   "64 queries, cosine: directly");
	ok(!vdb_plan_direct(VDB_METRIC_L2, VDB_EXACT_DIRECT_BATCH + 1, "avx2", "Zen"),
	   "65 queries, Zen: through sgemm");
	ok(!vdb_plan_direct(VDB_METRIC_IP, 1, "avx2", "Prescott"), "ip: through sgemm");
	return done_testing();
}
