/*
 * vecs.c — vdb_vecs, the growable set of rows that readers fill and
 * builds consume.
 *
 * Rows are one contiguous float array (the layout every kernel and sgemm
 * wants); binary rows are packed bytes in the same array, so everything
 * that moves a set's rows around moves them too. Ids, metadata and texts
 * are JSON texts in one byte buffer each (a column) with an offset array,
 * so a million short ids cost two allocations, not a million, and the same
 * layout is written to the index file as-is.
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
	for (int c = 0; c < VDB_NCOLS; c++) {
		v->col[c].len = 0;
		if (v->col[c].off)
			v->col[c].off[0] = 0;
	}
	v->qopt.len = 0, v->nqopt = 0;
}

void vdb_vecs_free(vdb_vecs *v)
{
	free(v->data);
	for (int c = 0; c < VDB_NCOLS; c++) {
		free(v->col[c].buf);
		free(v->col[c].off);
	}
	free(v->embedder);
	free(v->novec);
	free(v->qopt.buf), free(v->qopt.off);
	vdb_vecs_init(v);
}

float vdb_normalize_factor(const float *x, size_t d)
{
	double s = 0;
	for (size_t i = 0; i < d; i++)
		s += (double)x[i] * x[i];
	return s == 0 ? 1.0f : (float)(1.0 / sqrt(s));
}

void vdb_normalize(float *x, size_t d)
{
	float inv = vdb_normalize_factor(x, d);
	if (inv == 1.0f)
		return;
	for (size_t i = 0; i < d; i++)
		x[i] *= inv;
}

size_t vdb_vecs_row_bytes(const vdb_vecs *v)
{
	return vdb_vector_bytes(v->binary, v->dim);
}

const char *vdb_vecs_col_json(const vdb_vecs *v, int col, size_t i, size_t *len)
{
	const vdb_texts *t = col >= 0 && col < VDB_NCOLS ? &v->col[col] : NULL;
	if (!t || !t->off) {
		*len = 0;
		return NULL;
	}
	*len = t->off[i + 1] - t->off[i];
	return t->buf + t->off[i];
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
static const char *const col_name[VDB_NCOLS] = { "ids", "metadata", "texts" };

vdb_status vdb_vecs_push(vdb_vecs *v, int col, const char *text, size_t tlen)
{
	vdb_texts *t = &v->col[col];
	const char *what = col_name[col];
	size_t n = v->n;
	vdb_status s;
	if (!t->off) {
		/* first text: earlier rows (if any) get null, so every row has one */
		if ((s = vdb_grow((void **)&t->off, &t->ocap, n + 2, sizeof(uint64_t), what)))
			return s;
		t->len = 0;
		t->off[0] = 0;
		for (size_t i = 0; i < n; i++) {
			if ((s = vdb_grow((void **)&t->buf, &t->cap, t->len + 4, 1, what)))
				return s;
			memcpy(t->buf + t->len, "null", 4);
			t->len += 4;
			t->off[i + 1] = t->len;
		}
	}
	if ((s = vdb_grow((void **)&t->off, &t->ocap, n + 2, sizeof(uint64_t), what)) ||
	    (s = vdb_grow((void **)&t->buf, &t->cap, t->len + tlen, 1, what)))
		return s;
	memcpy(t->buf + t->len, text, tlen);
	t->len += tlen;
	t->off[n + 1] = t->len;
	return VDB_OK;
}

vdb_status vdb_vecs_mark_row(vdb_vecs *v, int novec)
{
	if (!v->novec && !novec)
		return VDB_OK;
	if (!v->novec) {
		/* the first row without a vector: the rows before have theirs */
		vdb_status s = vdb_grow((void **)&v->novec, &v->novec_cap, v->n + 1, 1, "queries");
		if (s)
			return s;
		memset(v->novec, 0, v->n + 1);
	} else if (v->n >= v->novec_cap) {
		vdb_status s = vdb_grow((void **)&v->novec, &v->novec_cap, v->n + 1, 1, "queries");
		if (s)
			return s;
	}
	v->novec[v->n] = (unsigned char)(novec != 0);
	return VDB_OK;
}

vdb_status vdb_vecs_push_nulls(vdb_vecs *v, unsigned set)
{
	vdb_status s = VDB_OK;
	for (int c = VDB_COL_META; c < VDB_NCOLS && !s; c++)
		if (v->col[c].off && !(set & 1u << c))
			s = vdb_vecs_push(v, c, "null", 4);
	return s;
}
