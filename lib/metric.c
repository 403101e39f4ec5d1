/* metric.c — names of metrics and of output formats. */
#include "vdb_internal.h"
#include <string.h>

static const char *const metric_names[] = { NULL, "l2", "ip", "cosine", "hamming" };

const char *vdb_metric_name(vdb_metric m)
{
	return (m >= VDB_METRIC_L2 && m <= VDB_METRIC_HAMMING) ? metric_names[m] : "unknown";
}

vdb_status vdb_metric_parse(const char *s, vdb_metric *out)
{
	for (int m = VDB_METRIC_L2; m <= VDB_METRIC_HAMMING; m++)
		if (!strcmp(s, metric_names[m])) {
			*out = (vdb_metric)m;
			return VDB_OK;
		}
	return vdb_fail(VDB_EINVAL, "unknown metric '%s' (expected l2, ip, cosine or hamming)", s);
}

vdb_status vdb_output_parse(const char *s, vdb_output *out)
{
	if (!strcmp(s, "jsonl"))
		*out = VDB_OUT_JSONL;
	else if (!strcmp(s, "ivecs"))
		*out = VDB_OUT_IVECS;
	else if (!strcmp(s, "tsv"))
		*out = VDB_OUT_TSV;
	else
		return vdb_fail(VDB_EINVAL, "unknown output format '%s' (expected jsonl, ivecs or tsv)", s);
	return VDB_OK;
}
