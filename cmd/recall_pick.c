/* recall_pick.c — --recall R: pick ef, nprobe or probes from the recall
 * curve each index measured of itself when it was built (lib/recall_curve.c). */
#include "recall_pick.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

double recall_parse(const char *opt, const char *arg)
{
	double r = cmd_double(opt, arg, 0, 1);
	if (!(r > 0))
		cmd_usage_error("%s: '%s' is not a recall in (0, 1] (0 asks for nothing)", opt, arg);
	return r;
}

void recall_pick(double target, const vdb_index *const *ix, const char *const *names, size_t n,
                 vdb_search_opts *so, double *promised)
{
	double least = 1;
	bool warned = false;
	for (size_t i = 0; i < n; i++) {
		const char *knob = vdb_index_knob(ix[i]);
		if (!knob || vdb_index_metric(ix[i]) == VDB_METRIC_HAMMING) {
			if (!knob && cmd_opts.verbose)
				fprintf(stderr, "%s: --recall %g: %s is flat: exact, recall 1\n", cmd_name,
				        target, names[i]);
			if (knob)
				cmd_usage_error("--recall: %s is a hamming index, which measures no recall "
				                "curve: give --%s", names[i], knob);
			continue;
		}
		unsigned setting;
		double recall;
		int reached;
		vdb_status s = vdb_index_pick_setting(ix[i], names[i], target, &setting, &recall,
		                                      &reached);
		if (s)
			cmd_usage_error("--recall: %s", vdb_last_error());
		if (setting > vdb_search_opts_get(so, knob) && vdb_search_opts_set(so, knob, setting))
			cmd_die(VDB_EINTERNAL);
		if (recall < least)
			least = recall;
		if (!reached && !warned)
			cmd_warn("--recall %g: %s measured at most recall %.4f (at %s %u, the largest "
			         "setting measured); using it", target, names[i], recall, knob, setting);
		warned |= !reached;
		if (cmd_opts.verbose)
			fprintf(stderr, "%s: --recall %g: %s: %s %u (measured recall@10 %.4f)\n", cmd_name,
			        target, names[i], knob, setting, recall);
	}
	if (promised)
		*promised = least;
}
