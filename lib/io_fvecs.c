/*
 * io_fvecs.c — the TEXMEX binary formats: per record a little-endian int32
 * dimension, then that many float32 (fvecs), int32 (ivecs) or uint8 (bvecs)
 * values. All three become float rows; values are checked to be finite so
 * that a NaN can never reach an index.
 */
#include "reader_internal.h"
#include <errno.h>
#include <math.h>
#include <string.h>

static size_t elem_size(vdb_format f)
{
	return f == VDB_FMT_BVECS ? 1 : 4;
}

int vdb_vecs_record_buffered(const vdb_reader *r)
{
	size_t have = r->len - r->pos;
	if (have < 4)
		return 0;
	int32_t d;
	memcpy(&d, r->buf + r->pos, 4);
	return d > 0 && (uint64_t)have >= 4 + (uint64_t)d * elem_size(r->fmt);
}

/* Binary vectors are bvecs bytes taken as packed bits (8 per byte). */
static vdb_status check_binary(vdb_reader *r)
{
	if (r->fmt == VDB_FMT_FVECS && r->guessed)
		r->fmt = VDB_FMT_BVECS;
	VDB_RETURN_IF(r->fmt != VDB_FMT_BVECS, VDB_EFORMAT,
	              "%s: record %zu: the hamming metric takes binary vectors: bvecs (bytes of "
	              "packed bits) or JSONL \"bits\", not %s", r->name, r->records,
	              vdb_format_name(r->fmt));
	return VDB_OK;
}

vdb_status vdb_read_vecs_record(vdb_reader *r, vdb_vecs *v, int *got)
{
	*got = 0;
	if (v->binary && check_binary(r))
		return VDB_EFORMAT;
	size_t rec = r->records, avail;
	vdb_status s = vdb_rd_want(r, 4, &avail);
	if (s)
		return s;
	if (avail == 0)
		return VDB_OK;
	VDB_RETURN_IF(avail < 4, VDB_EFORMAT,
	              "%s: record %zu: truncated (%zu bytes where a 4-byte dimension was expected)",
	              r->name, rec, avail);
	int32_t d;
	memcpy(&d, r->buf + r->pos, 4);
	VDB_RETURN_IF(d <= 0 || (uint32_t)d > VDB_MAX_DIM, VDB_EFORMAT,
	              "%s: record %zu: dimension %d is out of range (1..%u)%s", r->name, rec, d,
	              VDB_MAX_DIM, r->fmt == VDB_FMT_FVECS && rec == 0
	              ? "; is this really fvecs? (--format)" : "");
	size_t es = elem_size(r->fmt), body = (size_t)d * es;
	if (v->binary) {
		/* dimensions count bits */
		VDB_RETURN_IF((uint64_t)d * 8 > VDB_MAX_DIM, VDB_EFORMAT,
		              "%s: record %zu: %d bytes are %llu bits, beyond the limit of %u", r->name,
		              rec, d, (unsigned long long)d * 8, VDB_MAX_DIM);
		VDB_RETURN_IF(v->dim && (uint32_t)d * 8 != v->dim, VDB_EFORMAT,
		              "%s: record %zu: %d bytes (%d bits) differ from the expected %u bits",
		              r->name, rec, d, d * 8, v->dim);
		d *= 8;
	}
	VDB_RETURN_IF(v->dim && (uint32_t)d != v->dim, VDB_EFORMAT,
	              "%s: record %zu: dimension %d differs from the expected %u", r->name, rec, d,
	              v->dim);
	if ((s = vdb_rd_want(r, 4 + body, &avail)))
		return s;
	VDB_RETURN_IF(avail < 4 + body, VDB_EFORMAT,
	              "%s: record %zu: truncated (expected %zu bytes of vector data, got %zu)",
	              r->name, rec, body, avail - 4);
	if (!v->dim)
		v->dim = (uint32_t)d;
	if ((s = vdb_vecs_reserve_row(v)))
		return s;
	VDB_RETURN_IF(v->id_off && v->n > 0, VDB_EFORMAT,
	              "%s: record %zu: has no id but the vectors before it do", r->name, rec);
	const unsigned char *p = r->buf + r->pos + 4;
	float *row = v->binary ? NULL : v->data + v->n * v->dim;
	if (v->binary)
		memcpy((unsigned char *)v->data + v->n * body, p, body);
	else if (r->fmt == VDB_FMT_BVECS)
		for (int32_t i = 0; i < d; i++)
			row[i] = p[i];
	else if (r->fmt == VDB_FMT_IVECS)
		for (int32_t i = 0; i < d; i++) {
			int32_t x;
			memcpy(&x, p + 4 * i, 4);
			row[i] = (float)x;
		}
	else {
		memcpy(row, p, body);
		for (int32_t i = 0; i < d; i++)
			if (!isfinite(row[i]))
				return vdb_fail(VDB_EFORMAT, "%s: record %zu: value %d is %s", r->name, rec,
				                i, isnan(row[i]) ? "NaN" : "infinite");
		double sq;
		if (!vdb_row_length_ok(row, (uint32_t)d, &sq))
			return vdb_fail(VDB_EFORMAT, "%s: record %zu: the vector's squared length %.3g "
			                "is over %.3g (VDB_MAX_SQNORM): its distances would overflow "
			                "float32", r->name, rec, sq, VDB_MAX_SQNORM);
	}
	if ((s = vdb_vecs_push_nulls(v, 0)))
		return s;
	r->pos += 4 + body;
	v->n++;
	*got = 1;
	return VDB_OK;
}

vdb_status vdb_ivecs_load(const char *path, int32_t **out, size_t *rows, size_t *width)
{
	*out = NULL, *rows = *width = 0;
	vdb_reader *r;
	vdb_status s = vdb_reader_open(&r, path, VDB_FMT_IVECS);
	if (s)
		return s;
	int32_t *data = NULL;
	size_t n = 0, cap = 0, avail;
	int32_t w = -1;
	for (;;) {
		if ((s = vdb_rd_want(r, 4, &avail)))
			break;
		if (avail == 0)
			break;
		int32_t d = -1;
		if (avail >= 4)
			memcpy(&d, r->buf + r->pos, 4);
		if (avail < 4 || d < 0 || (uint32_t)d > VDB_MAX_K || (w >= 0 && d != w)) {
			s = vdb_fail(VDB_EFORMAT, "%s: record %zu: %s", r->name, n,
			             avail < 4 ? "truncated" : (w >= 0 && d != w)
			             ? "width differs from earlier records" : "width out of range");
			break;
		}
		w = d;
		if ((s = vdb_rd_want(r, 4 + 4 * (size_t)d, &avail)))
			break;
		if (avail < 4 + 4 * (size_t)d) {
			s = vdb_fail(VDB_EFORMAT, "%s: record %zu: truncated", r->name, n);
			break;
		}
		if ((s = vdb_grow((void **)&data, &cap, (n + 1) * (size_t)d + 1, 4, r->name)))
			break;
		memcpy(data + n * (size_t)d, r->buf + r->pos + 4, 4 * (size_t)d);
		r->pos += 4 + 4 * (size_t)d;
		n++;
	}
	if (!s && n == 0)
		s = vdb_fail(VDB_EFORMAT, "%s: no records in input", r->name);
	vdb_reader_close(r);
	if (s) {
		free(data);
		return s;
	}
	*out = data, *rows = n, *width = (size_t)w;
	return VDB_OK;
}
