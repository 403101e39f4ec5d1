/*
 * norms.c — the factors that normalised a cosine index's rows.
 *
 * A cosine index stores unit rows (distances are then one dot product),
 * so the original vectors would be lost; the CNRM section keeps the factor
 * each row was scaled by (f32, 1/length), and a record is given back as
 * the stored row divided by it, each value then chosen among the floats
 * that normalise to the stored one so that the vector normalises to the
 * very row again (vdb_norms_restore): a dump built again is the same index
 * and answers byte for byte as it did. Every path that writes rows writes
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

/* ===== Giving a row back ===== */
/* Row i's normalised value from y: what vdb_normalize computes. */
static inline float scaled(float y, float f)
{
	return y * f;
}

/* y moved one float away from zero (out) or towards it, if it still
 * scales to u; 0 if it would not. */
static int step(float *y, float u, float f, int out)
{
	float n = nextafterf(*y, (out == (*y >= 0)) ? INFINITY : -INFINITY);
	if (n == 0 || (n < 0) != (*y < 0) || scaled(n, f) != u)
		return 0;
	*y = n;
	return 1;
}

typedef struct {
	float mag;
	uint32_t i;
} by_mag;

static int cmp_mag(const void *a, const void *b)
{
	const by_mag *x = a, *y = b;
	return x->mag < y->mag ? -1 : x->mag > y->mag ? 1 : (x->i > y->i) - (x->i < y->i);
}

/* The given vector of a row, from its unit row u and factor f: u / f, then
 * each value moved, within the floats that scale to its u (the original's
 * own is one of them), until the vector's own factor is f again: the
 * values with the smallest magnitudes first, each a float at a time (their
 * steps move the length least). It then normalises to u exactly, as the
 * original did, so that an index built from it is the same. */
void vdb_norms_restore(const float *u, float f, uint32_t d, float *y)
{
	for (uint32_t i = 0; i < d; i++) {
		y[i] = u[i] / f;
		/* into the floats that scale to u[i] (a step or two at most) */
		for (int k = 0; k < 4 && u[i] != 0 && scaled(y[i], f) != u[i]; k++)
			y[i] = nextafterf(y[i], scaled(y[i], f) < u[i] ? INFINITY : -INFINITY);
	}
	float g = vdb_normalize_factor(y, d);
	if (g == f || f == 1.0f)
		return;
	by_mag *o = malloc((size_t)d * sizeof *o);
	if (!o)
		return; /* a float32 rounding off, no worse */
	uint32_t n = 0;
	for (uint32_t i = 0; i < d; i++)
		if (u[i] != 0 && scaled(y[i], f) == u[i])
			o[n++] = (by_mag){ fabsf(y[i]), i };
	qsort(o, n, sizeof *o, cmp_mag);
	double s = 0;
	for (uint32_t i = 0; i < d; i++)
		s += (double)y[i] * y[i];
	for (int pass = 0; pass < 4 && g != f; pass++) {
		for (uint32_t j = 0; j < n; j++) {
			uint32_t i = o[j].i;
			float was = y[i];
			/* a factor above f: the vector is too short */
			while ((float)(1.0 / sqrt(s)) != f && step(&y[i], u[i], f, g > f))
				s += (double)y[i] * y[i] - (double)was * was, was = y[i];
			if ((float)(1.0 / sqrt(s)) == f && (g = vdb_normalize_factor(y, d)) == f)
				break;
		}
		g = vdb_normalize_factor(y, d);
	}
	free(o);
}
