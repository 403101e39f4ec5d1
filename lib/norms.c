/*
 * norms.c — the factors that normalised a cosine index's rows.
 *
 * A cosine index stores unit rows (distances are then one dot product),
 * so the original vectors would be lost; the CNRM section keeps the factor
 * each row was scaled by (f32, 1/length), and a record is given back as
 * the stored row divided by it (vdb_index_record_vector, dump.c): dividing
 * by the very factor, not multiplying by a length, gives vectors that most
 * often normalise to the same stored row again (a float32 rounding apart
 * at worst), so a dump built again answers as the index did. Every path that writes rows writes
 * the factors with them: a build and an append (and so an upsert) measure
 * the new rows before they are normalised, a compaction keeps the kept
 * rows' factors, a delete writes the file's own again. An index appended
 * to a file without the section has none either (its old rows' lengths
 * are unknown): its records are given back normalised, with a warning.
 */
#include "norms.h"
#include <math.h>
#include <string.h>

vdb_status vdb_norms_take(vdb_index *ix, const vdb_index *base, const vdb_vecs *data,
                          const int64_t *keep)
{
	if (ix->metric != VDB_METRIC_COSINE || (base && !base->norms))
		return VDB_OK;
	float *n = vdb_malloc((ix->count ? ix->count : 1) * sizeof *n, "row factors");
	if (!n)
		return VDB_ENOMEM;
	size_t from = 0;
	if (base && keep) {
		for (size_t i = 0; i < ix->count; i++)
			n[i] = base->norms[keep[i]];
		from = ix->count;
	} else if (base) {
		memcpy(n, base->norms, base->count * sizeof *n);
		from = base->count;
	}
	for (size_t i = from; data && i < ix->count; i++)
		n[i] = vdb_normalize_factor(data->data + (i - from) * data->dim, data->dim);
	free(ix->norms_owned);
	ix->norms_owned = n;
	ix->norms = n;
	return VDB_OK;
}

vdb_status vdb_norms_save(const vdb_index *ix, vdb_file_writer *w)
{
	if (!ix->norms)
		return VDB_OK;
	return vdb_file_write_section(w, VDB_SEC_NORM, ix->norms, ix->count * sizeof(float));
}

vdb_status vdb_norms_open(vdb_index *ix)
{
	size_t len;
	const float *n = vdb_file_section(ix->file, VDB_SEC_NORM, &len);
	if (!n)
		return VDB_OK;
	VDB_RETURN_IF(ix->metric != VDB_METRIC_COSINE, VDB_ECORRUPT,
	              "%s: a row-factor section in a %s index (corrupt index)", ix->file->path,
	              vdb_metric_name(ix->metric));
	VDB_RETURN_IF(len != ix->count * sizeof(float), VDB_ECORRUPT,
	              "%s: the row-factor section is %zu bytes; %zu rows need %zu (corrupt index)",
	              ix->file->path, len, ix->count, ix->count * sizeof(float));
	ix->norms = n;
	return VDB_OK;
}

vdb_status vdb_norms_verify(const vdb_index *ix)
{
	for (size_t i = 0; ix->norms && i < ix->count; i++)
		VDB_RETURN_IF(!(ix->norms[i] > 0) || isinf(ix->norms[i]), VDB_ECORRUPT,
		              "%s: row %zu's normalisation factor is %g (corrupt index)",
		              ix->file ? ix->file->path : "index", i, (double)ix->norms[i]);
	return VDB_OK;
}
