/* index_row.c — one stored vector of an index as floats, for the callers
 * that read rows one at a time (dump.c's records, mmr.c's re-ranking). */
#include "index_internal.h"
#include "rows.h"

vdb_status vdb_index_row_vector(const vdb_index *ix, int64_t row, float *out)
{
	VDB_RETURN_IF(!ix->ops->rows || ix->metric == VDB_METRIC_HAMMING, VDB_EUNSUPPORTED,
	              "%s %s indexes cannot return their stored vectors yet", ix->ops->name,
	              vdb_metric_name(ix->metric));
	VDB_RETURN_IF(row < 0 || (size_t)row >= ix->count, VDB_EINVAL, "row %lld is not in the index",
	              (long long)row);
	ix->ops->rows(ix, &row, 1, out);
	/* opening does not read every row: a damaged one is named, not printed */
	return vdb_check_finite(out, 1, ix->dim, ix->file ? ix->file->path : "index",
	                        "stored vector");
}
