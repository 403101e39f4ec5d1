/*
 * dump.c — the stored records as JSON Lines, the input vdb-build takes
 * (vdb-query --dump, --get): an index dumped and built again with the same
 * options answers as it did. Vectors are printed with %.9g, which gives
 * float32 back exactly; a cosine index's rows are given back at their
 * sizes before normalisation (norms.c), binary rows as "bits".
 */
#include "index_internal.h"
#include "norms.h"
#include "rows.h"
#include "rowset.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

int vdb_index_normalised_only(const vdb_index *ix)
{
	return ix->metric == VDB_METRIC_COSINE && !ix->norms;
}

vdb_status vdb_index_record_vector(const vdb_index *ix, int64_t row, float *out)
{
	vdb_status s = vdb_index_row_vector(ix, row, out);
	if (s || !ix->norms)
		return s;
	float n = ix->norms[row];
	VDB_RETURN_IF(!(n > 0) || isinf(n), VDB_ECORRUPT, "%s: row %lld's normalisation factor is "
	              "%g (corrupt index)", ix->file ? ix->file->path : "index", (long long)row,
	              (double)n);
	float *u = vdb_malloc(ix->dim * sizeof *u, "a record's vector");
	if (!u)
		return VDB_ENOMEM;
	memcpy(u, out, ix->dim * sizeof *u);
	vdb_norms_restore(u, n, ix->dim, out);
	free(u);
	return vdb_check_finite(out, 1, ix->dim, ix->file ? ix->file->path : "index",
	                        "stored vector");
}

/* "bits": row's packed bits as hex (v: room for the row). */
static vdb_status put_bits(FILE *f, const vdb_index *ix, int64_t row, float *v)
{
	VDB_RETURN_IF(!ix->ops->rows || row < 0 || (size_t)row >= ix->count, VDB_EINVAL,
	              "row %lld is not in the index", (long long)row);
	ix->ops->rows(ix, &row, 1, v);
	const unsigned char *b = (const unsigned char *)v;
	fputs("\"bits\": \"", f);
	for (uint32_t i = 0; i < ix->dim / 8; i++)
		fprintf(f, "%02x", b[i]);
	fputc('"', f);
	return VDB_OK;
}

/* v: dim floats of scratch. */
static vdb_status put_record(FILE *f, const vdb_index *ix, int64_t row, float *v)
{
	bool bits = ix->metric == VDB_METRIC_HAMMING;
	vdb_status s = bits ? VDB_OK : vdb_index_record_vector(ix, row, v);
	if (!s)
		s = vdb_index_texts_check(ix, row, VDB_INCLUDE_META | VDB_INCLUDE_TEXT);
	if (s)
		return s;
	size_t len;
	const char *idj = vdb_index_id_json(ix, row, &len);
	if (idj)
		fprintf(f, "{\"id\": %.*s, ", (int)len, idj);
	else
		fprintf(f, "{\"id\": %lld, ", (long long)row);
	if (bits) {
		if ((s = put_bits(f, ix, row, v)))
			return s;
	} else {
		fputs("\"vector\": [", f);
		for (uint32_t i = 0; i < ix->dim; i++)
			fprintf(f, i ? ", %.9g" : "%.9g", (double)v[i]);
		fputc(']', f);
	}
	const char *md = vdb_index_meta_json(ix, row, &len);
	if (md)
		fprintf(f, ", \"metadata\": %.*s", (int)len, md);
	const char *tx = vdb_index_text_json(ix, row, &len);
	if (tx)
		fprintf(f, ", \"text\": %.*s", (int)len, tx);
	if (ix->embedder)
		fprintf(f, ", \"embedder\": %s", ix->embedder);
	fputs("}\n", f);
	return ferror(f) ? vdb_fail(VDB_EIO, "write error") : VDB_OK;
}

vdb_status vdb_write_record(FILE *f, const vdb_index *ix, int64_t row)
{
	float *v = vdb_malloc(ix->dim * sizeof *v, "a record's vector");
	if (!v)
		return VDB_ENOMEM;
	vdb_status s = put_record(f, ix, row, v);
	free(v);
	return s;
}

/* The live rows passing filter (NULL: all live rows) as a new bitset. */
static vdb_status kept_rows(const vdb_index *ix, const vdb_filter *filter, uint64_t **out)
{
	size_t n;
	vdb_status s = filter ? vdb_filter_rows(ix, filter, out, &n) : VDB_OK;
	if (s)
		return s;
	if (!filter && !(*out = vdb_rowset_new(ix->count, true, "the live rows")))
		return VDB_ENOMEM;
	for (size_t w = 0; ix->live && w < vdb_rowset_words(ix->count); w++)
		(*out)[w] &= ix->live[w];
	return VDB_OK;
}

vdb_status vdb_index_dump(FILE *f, const vdb_index *ix, const vdb_filter *filter, size_t *n)
{
	*n = 0;
	uint64_t *rows;
	vdb_status s = kept_rows(ix, filter, &rows);
	if (s)
		return s;
	float *v = vdb_malloc(ix->dim * sizeof *v, "a record's vector");
	s = v ? VDB_OK : VDB_ENOMEM;
	for (size_t i = 0; !s && i < ix->count; i++) {
		if (!vdb_rowset_has(rows, i))
			continue;
		s = put_record(f, ix, (int64_t)i, v);
		*n += !s;
	}
	free(v);
	free(rows);
	return s;
}

vdb_status vdb_index_filter_count(const vdb_index *ix, const vdb_filter *filter, size_t *kept)
{
	uint64_t *rows;
	vdb_status s = kept_rows(ix, filter, &rows);
	if (s)
		return s;
	*kept = vdb_rowset_size(rows, ix->count);
	free(rows);
	return VDB_OK;
}
