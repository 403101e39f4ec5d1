/* eval_knobs.h — the search settings (knobs) vdb-eval sweeps and checks:
 * one option per knob the library's index types have (--ef, --nprobe,
 * --probes, ...), each a list of values; nothing here names a knob. */
#ifndef VDB_CMD_EVAL_KNOBS_H
#define VDB_CMD_EVAL_KNOBS_H
#include "common.h"

#define EVAL_MAX_KNOBS 16

typedef struct {
	const vdb_knob *knob;
	unsigned *v;   /* the values given (NULL: none) */
	size_t n;
	bool used;     /* sweep: some index takes it */
} knob_values;

typedef struct {
	knob_values k[EVAL_MAX_KNOBS];
	size_t n;
} knob_set;

/* One entry per knob of the library (vdb_knob_at), no values. */
void knobs_init(knob_set *s);
void knobs_free(knob_set *s);
/* The values of the knob named name; NULL when name is NULL or unknown. */
knob_values *knobs_find(knob_set *s, const char *name);
/* Values given for some knob (at most one of them per knob when one). */
size_t knobs_given(const knob_set *s, bool one);
/* "--ef, --nprobe or --probes" (sep " or "), or "--ef|--nprobe|--probes". */
void knobs_names(const knob_set *s, const char *last_sep, const char *sep, char *buf,
                 size_t size);
/* getopt's long options for the knobs (values first .. first+n-1), followed
 * by base (terminated by a zero entry); caller frees. */
struct option *knobs_longopts(const knob_set *s, int first, const struct option *base);
/* The help lines of the knob options. */
void knobs_help(const knob_set *s);
/* Sets so's knob to v (a usage error if out of range). */
void knobs_set(vdb_search_opts *so, const vdb_knob *k, unsigned v);
/* vdb-eval types [--json]: what each index type can do, a line each (a
 * table, or JSON Lines); the exit status. */
int eval_types(bool json, int nargs, char **args);
#endif
