/*
 * vecs.c — vdb_vecs, the growable set of rows that readers fill and
 * builds consume.
 *
 * Rows are one contiguous float array (the layout every kernel and sgemm
 * wants); binary rows are packed bytes in the same array, so everything
 * that moves a set's rows around moves them too. Ids and metadata are JSON texts in one byte buffer each with an
 * offset array, so a million short ids cost two allocations, not a million,
 * and the same layout is written to the index file as-is.
 */
#include "reader_internal.h"
#include <math.h>
#include <string.h>

void vdb_vecs_init(vdb_vecs *v)
{
	memset(v, 0, sizeof *v);
}

void vdb_vecs_clear(vdb_vecs *v)
{
	v->n = 0;
	v->id_len = v->meta_len = 0;
	if (v->id_off)
		v->id_off[0] = 0;
	if (v->meta_off)
		v->meta_off[0] = 0;
}

void vdb_vecs_free(vdb_vecs *v)
{
	free(v->data);
	free(v->id_buf);
	free(v->id_off);
	free(v->meta_buf);
	free(v->meta_off);
	vdb_vecs_init(v);
}

void vdb_normalize(float *x, size_t d)
{
	double s = 0;
	for (size_t i = 0; i < d; i++)
		s += (double)x[i] * x[i];
	if (s == 0)
		return;
	float inv = (float)(1.0 / sqrt(s));
	for (size_t i = 0; i < d; i++)
		x[i] *= inv;
}

size_t vdb_vecs_row_bytes(const vdb_vecs *v)
{
	return vdb_vector_bytes(v->binary, v->dim);
}

void vdb_vecs_normalize(vdb_vecs *v)
{
	if (v->binary)
		return; /* bits have no length to normalise */
	#pragma omp parallel for schedule(static)
	for (size_t j = 0; j < v->n; j++)
		vdb_normalize(v->data + j * v->dim, v->dim);
}

int vdb_row_length_ok(const float *row, uint32_t d, double *sq)
{
	double s = 0;
	for (uint32_t i = 0; i < d; i++)
		s += (double)row[i] * row[i];
	*sq = s;
	return s <= VDB_MAX_SQNORM;
}

vdb_status vdb_vecs_reserve_row(vdb_vecs *v)
{
	VDB_RETURN_IF(v->n >= VDB_MAX_COUNT, VDB_EFORMAT, "more than %llu vectors",
	              (unsigned long long)VDB_MAX_COUNT);
	if (v->n < v->cap)
		return VDB_OK;
	size_t cap = v->cap ? v->cap * 2 : 1024, bytes;
	VDB_RETURN_IF(!vdb_mul_ok(cap, vdb_vecs_row_bytes(v), &bytes), VDB_ENOMEM,
	              "vector set too large");
	float *d = vdb_realloc(v->data, bytes, "vectors");
	if (!d)
		return VDB_ENOMEM;
	v->data = d;
	v->cap = cap;
	return VDB_OK;
}

/* Texts: row i is buf[off[i], off[i+1]). */
static vdb_status push_text(char **buf, size_t *len, size_t *cap, uint64_t **off, size_t *ocap,
                            size_t n, const char *text, size_t tlen, const char *what)
{
	vdb_status s;
	if (!*off) {
		/* first text: earlier rows (if any) get null, so every row has one */
		if ((s = vdb_grow((void **)off, ocap, n + 2, sizeof(uint64_t), what)))
			return s;
		*len = 0;
		(*off)[0] = 0;
		for (size_t i = 0; i < n; i++) {
			if ((s = vdb_grow((void **)buf, cap, *len + 4, 1, what)))
				return s;
			memcpy(*buf + *len, "null", 4);
			*len += 4;
			(*off)[i + 1] = *len;
		}
	}
	if ((s = vdb_grow((void **)off, ocap, n + 2, sizeof(uint64_t), what)) ||
	    (s = vdb_grow((void **)buf, cap, *len + tlen, 1, what)))
		return s;
	memcpy(*buf + *len, text, tlen);
	*len += tlen;
	(*off)[n + 1] = *len;
	return VDB_OK;
}

vdb_status vdb_vecs_push_id(vdb_vecs *v, const char *text, size_t len)
{
	return push_text(&v->id_buf, &v->id_len, &v->id_cap, &v->id_off, &v->id_ocap, v->n, text,
	                 len, "ids");
}

vdb_status vdb_vecs_push_meta(vdb_vecs *v, const char *text, size_t len)
{
	return push_text(&v->meta_buf, &v->meta_len, &v->meta_cap, &v->meta_off, &v->meta_ocap,
	                 v->n, text, len, "metadata");
}
