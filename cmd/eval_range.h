/* eval_range.h — vdb-eval's range search measures (eval_range.c): `vdb-eval
 * range` and `vdb-eval sweep --max-distance`. */
#ifndef VDB_CMD_EVAL_RANGE_H
#define VDB_CMD_EVAL_RANGE_H
#include "common.h"
#include "eval_knobs.h"

/* vdb-eval range [--json] TRUTH [RESULTS]: prints range precision and
 * recall; returns the exit status. */
int eval_range(bool json, int nargs, char **args);

typedef struct {
	char **index;          /* the indexes to sweep */
	size_t nindex;
	const char *queries;
	float radius;
	size_t cap;            /* results per query at most (-k); 0: VDB_MAX_RANGE */
	knob_set *knobs;       /* the values of each search setting to measure */
	unsigned runs;
	const char *format;    /* table (default), csv, json */
} range_sweep_args;

/* vdb-eval sweep --max-distance R: per index and setting, range recall and
 * precision against the exact answer and queries/s; returns the exit
 * status. */
int eval_range_sweep(const range_sweep_args *r);
#endif
