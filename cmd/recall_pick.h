/* recall_pick.h — --recall R of vdb-query and vdb-eval check: the search
 * setting an index's measured recall curve says reaches R (recall_pick.c). */
#ifndef VDB_CMD_RECALL_PICK_H
#define VDB_CMD_RECALL_PICK_H
#include "common.h"

/* How far below its promise (--recall R) vdb-eval check lets measured
 * recall@10 fall before it fails: the curve is measured on a sample of
 * about 200 queries, and recall@10 of a few hundred real ones varies by
 * about this much from sample to sample. */
#define RECALL_TOLERANCE 0.02

/* The value of --recall: a number in (0, 1], else a usage error (64). */
double recall_parse(const char *opt, const char *arg);
/* Set so's ef, nprobe or probes for recall target on the n indexes ix (a
 * set of shards: each index's cheapest setting that reached it, the largest
 * of them per knob). Flat indexes need none. An index without a curve is
 * a usage error (64) saying to rebuild; a curve that never reached target
 * gives its largest setting and one warning naming the best recall
 * measured. With -v, each choice on stderr. *promised (may be NULL): the
 * smallest recall measured at the settings chosen (1 for flat). */
void recall_pick(double target, const vdb_index *const *ix, const char *const *names, size_t n,
                 vdb_search_opts *so, double *promised);
#endif
