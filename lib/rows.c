/*
 * rows.c — the storage of flat and hnsw indexes' vectors (see rows.h).
 *
 * fp16 and sq8 are vdb-quantize's quantizers (quantize.c), so an index
 * stored as sq8 holds exactly the codes `vdb-quantize encode` would give for
 * the same data, and decodes to the same floats. Binary rows (the hamming
 * metric) are the input's packed bits, kept as they are.
 */
#include "rows.h"
#include "topk.h"
#include <math.h>
#include <string.h>

static const char *const names[] = { NULL, "f32", "fp16", "sq8" };

vdb_status vdb_storage_parse(const char *s, uint32_t *kind)
{
	for (uint32_t k = VDB_STORAGE_F32; k <= VDB_STORAGE_SQ8; k++)
		if (!strcmp(s, names[k])) {
			*kind = k;
			return VDB_OK;
		}
	return vdb_fail(VDB_EINVAL, "unknown storage '%s' (expected f32, fp16 or sq8)", s);
}

const char *vdb_storage_name(uint32_t kind)
{
	static const char *const all[] = { "?", "f32", "fp16", "sq8", "pq", "binary" };
	return kind < sizeof all / sizeof *all ? all[kind] : "?";
}

static void set_size(vdb_rows *r, uint32_t kind, uint32_t dim)
{
	r->kind = kind;
	r->dim = dim;
	r->size = kind == VDB_STORAGE_BINARY ? dim / 8 :
	          (size_t)dim * (kind == VDB_STORAGE_SQ8 ? 1 : kind == VDB_STORAGE_F16 ? 2 : 4);
	if (kind == VDB_STORAGE_SQ8) {
		r->lo = vdb_quantizer_sq8_ranges(r->q);
		r->step = vdb_quantizer_sq8_step(r->q);
	}
}

/* fp16 holds |x| <= 65504: name the first input value beyond it. */
static vdb_status f16_check(const float *x, size_t n, uint32_t dim)
{
	for (size_t i = 0; i < n * dim; i++)
		VDB_RETURN_IF(fabsf(x[i]) >= VDB_F16_OVERFLOW, VDB_EFORMAT,
		              "--storage fp16: vector %zu of the input, dimension %zu: %g is "
		              "beyond the fp16 range (|x| <= 65504); use --storage sq8 or f32",
		              i / dim + 1, i % dim, (double)x[i]);
	return VDB_OK;
}

vdb_status vdb_rows_kind(const vdb_build_opts *o, uint32_t *kind)
{
	*kind = VDB_STORAGE_F32;
	if (o->metric == VDB_METRIC_HAMMING)
		*kind = VDB_STORAGE_BINARY;
	else if (o->storage)
		return vdb_storage_parse(o->storage, kind);
	return VDB_OK;
}

vdb_status vdb_rows_train(vdb_rows *r, uint32_t kind, uint32_t dim, const float *x, size_t n)
{
	memset(r, 0, sizeof *r);
	if (kind == VDB_STORAGE_F16 && f16_check(x, n, dim))
		return VDB_EFORMAT;
	if (kind == VDB_STORAGE_F16 || kind == VDB_STORAGE_SQ8) {
		vdb_quant_kind qk = kind == VDB_STORAGE_SQ8 ? VDB_QUANT_SQ8 : VDB_QUANT_FP16;
		vdb_status s = vdb_quantizer_train(&r->q, qk, dim, x, n, NULL);
		if (s)
			return vdb_fail(s, "--storage %s: %s", names[kind], vdb_last_error());
	}
	set_size(r, kind, dim);
	return VDB_OK;
}

/* The quantizer of kind for rows of dim (sq8: from its lo/hi ranges). */
static vdb_status rows_make(vdb_rows *r, uint32_t kind, uint32_t dim, const char *path,
                            const float *ranges, size_t len)
{
	memset(r, 0, sizeof *r);
	if (kind == VDB_STORAGE_SQ8) {
		vdb_status s = vdb_quantizer_sq8_from(&r->q, path, dim, ranges, len);
		if (s)
			return s;
	} else if (kind == VDB_STORAGE_F16) {
		/* fp16 learns nothing: one zero row trains a quantizer to encode
		 * the rows an append adds */
		float *zero = calloc(dim, sizeof *zero);
		if (!zero)
			return vdb_fail(VDB_ENOMEM, "out of memory");
		vdb_status s = vdb_quantizer_train(&r->q, VDB_QUANT_FP16, dim, zero, 1, NULL);
		free(zero);
		if (s)
			return s;
	}
	set_size(r, kind, dim);
	return VDB_OK;
}

vdb_status vdb_rows_open(vdb_rows *r, const vdb_file *f, uint32_t dim)
{
	memset(r, 0, sizeof *r);
	uint32_t kind = f->h.storage;
	VDB_RETURN_IF((kind < VDB_STORAGE_F32 || kind > VDB_STORAGE_SQ8) &&
	              kind != VDB_STORAGE_BINARY, VDB_ECORRUPT,
	              "%s: storage type %u is not one of f32, fp16, sq8, binary (corrupt, or written "
	              "by a newer vdb)", f->path, kind);
	size_t len = 0;
	const float *ranges = NULL;
	if (kind == VDB_STORAGE_SQ8)
		ranges = vdb_file_section(f, VDB_SEC_SQ8R, &len);
	return rows_make(r, kind, dim, f->path, ranges, len);
}

vdb_status vdb_rows_like(vdb_rows *r, const vdb_rows *src)
{
	return rows_make(r, src->kind, src->dim, "index", src->lo, vdb_rows_extra_bytes(src));
}

vdb_status vdb_rows_save(const vdb_rows *r, vdb_file_writer *w)
{
	if (r->kind != VDB_STORAGE_SQ8)
		return VDB_OK;
	return vdb_file_write_section(w, VDB_SEC_SQ8R, r->lo, vdb_rows_extra_bytes(r));
}

size_t vdb_rows_extra_bytes(const vdb_rows *r)
{
	return r->kind == VDB_STORAGE_SQ8 ? 2 * (size_t)r->dim * sizeof(float) : 0;
}

vdb_status vdb_rows_encode(const vdb_rows *r, const float *x, size_t n, unsigned char *out,
                           size_t stride)
{
	if (r->kind == VDB_STORAGE_F32 || r->kind == VDB_STORAGE_BINARY) {
		for (size_t i = 0; i < n; i++)
			memcpy(out + i * stride, (const unsigned char *)x + i * r->size, r->size);
		return VDB_OK;
	}
	if (r->kind == VDB_STORAGE_F16 && f16_check(x, n, r->dim))
		return VDB_EFORMAT;
	if (stride == r->size) {
		vdb_status s = vdb_quantizer_encode(r->q, x, n, out);
		return s ? vdb_fail(s, "--storage %s: %s", names[r->kind], vdb_last_error()) : VDB_OK;
	}
	/* rows inside larger records (hnsw): encode in blocks, then place them */
	enum { BLOCK = 4096 };
	unsigned char *buf = vdb_malloc(BLOCK * r->size, "codes");
	if (!buf)
		return VDB_ENOMEM;
	for (size_t b = 0; b < n; b += BLOCK) {
		size_t m = n - b < BLOCK ? n - b : BLOCK;
		vdb_status s = vdb_quantizer_encode(r->q, x + b * r->dim, m, buf);
		if (s) {
			free(buf);
			return vdb_fail(s, "--storage %s: %s", names[r->kind], vdb_last_error());
		}
		for (size_t i = 0; i < m; i++)
			memcpy(out + (b + i) * stride, buf + i * r->size, r->size);
	}
	free(buf);
	return VDB_OK;
}

void vdb_rows_decode(const vdb_rows *r, const vdb_kernels *K, const void *row, float *out)
{
	switch (r->kind) {
	case VDB_STORAGE_SQ8:
		K->decode_sq8(row, r->lo, r->step, out, r->dim);
		break;
	case VDB_STORAGE_F16:
		K->decode_f16(row, out, r->dim);
		break;
	default:
		memcpy(out, row, r->size);
	}
}

void vdb_rows_free(vdb_rows *r)
{
	vdb_quantizer_free(r->q);
	memset(r, 0, sizeof *r);
}

vdb_rerank *vdb_rerank_new(size_t kc, uint32_t dim)
{
	vdb_rerank *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->ids = malloc(kc * sizeof *r->ids);
	r->hi = malloc(kc * sizeof *r->hi);
	r->dist = malloc(kc * sizeof *r->dist);
	r->hd = malloc(kc * sizeof *r->hd);
	r->q = malloc(dim * sizeof *r->q);
	if (!r->ids || !r->hi || !r->dist || !r->hd || !r->q) {
		vdb_rerank_free(r);
		return NULL;
	}
	return r;
}

void vdb_rerank_free(vdb_rerank *r)
{
	if (r)
		free(r->ids), free(r->hi), free(r->dist), free(r->q), free(r->hd);
	free(r);
}

void vdb_rerank_one(vdb_rerank *r, vdb_metric m, const float *q, const float *vecs, uint32_t d,
                    const int64_t *cand, size_t nc, size_t k, int64_t *ids, float *dist)
{
	memcpy(r->q, q, d * sizeof *r->q);
	if (m == VDB_METRIC_COSINE)
		vdb_normalize(r->q, d);
	vdb_topk h = { r->hd, r->hi, 0, (uint32_t)k };
	for (size_t e = 0; e < nc; e++)
		if (cand[e] >= 0)
			topk_push(&h, vdb_exact_distance(m, r->q, vecs + (size_t)cand[e] * d, d), cand[e]);
	vdb_topk_emit(&h, m, k, ids, dist);
}

void vdb_rows_info(const vdb_rows *r, json_t *obj)
{
	if (r->kind == VDB_STORAGE_F32 || r->kind == VDB_STORAGE_BINARY)
		return; /* the rows as given: nothing quantized */
	json_t *q = json_object();
	json_object_set_new(q, "kind", json_string(names[r->kind]));
	json_object_set_new(q, "bits", json_integer(r->kind == VDB_STORAGE_SQ8 ? 8 : 16));
	if (r->kind == VDB_STORAGE_SQ8) {
		/* the per-dimension ranges, summarised: the full table is SQ8R */
		double lo = INFINITY, hi = -INFINITY, step = 0;
		for (uint32_t i = 0; i < r->dim; i++) {
			double h = r->lo[r->dim + i];
			lo = r->lo[i] < lo ? r->lo[i] : lo;
			hi = h > hi ? h : hi;
			step = r->step[i] > step ? r->step[i] : step;
		}
		json_object_set_new(q, "min", json_real(lo));
		json_object_set_new(q, "max", json_real(hi));
		json_object_set_new(q, "largest_step", json_real(step));
	}
	json_object_set_new(obj, "quantizer", q);
}

/* ===== Value checks ===== */
/* Whether n float32 (bytes 4) or fp16 (bytes 2) values at p are all
 * finite: a value is NaN or infinite when its exponent bits are all set.
 * Tested on the bits, branch-free, so that the loop vectorises. */
static bool all_finite(const unsigned char *p, size_t n, size_t bytes)
{
	uint32_t bad = 0;
	if (bytes == 4) {
		for (size_t i = 0; i < n; i++) {
			uint32_t w;
			memcpy(&w, p + 4 * i, 4);
			bad |= (w & 0x7f800000u) == 0x7f800000u;
		}
	} else {
		for (size_t i = 0; i < n; i++) {
			uint16_t h;
			memcpy(&h, p + 2 * i, 2);
			bad |= (h & 0x7c00u) == 0x7c00u;
		}
	}
	return !bad;
}

/* n rows of `per` values of `bytes` each, `stride` bytes apart: the first
 * one that is not finite named in the message. */
static vdb_status check_values(const unsigned char *x, size_t n, size_t per, size_t bytes,
                               size_t stride, const char *path, const char *what)
{
	for (size_t r = 0; r < n; r++) {
		const unsigned char *row = x + r * stride;
		if (all_finite(row, per, bytes))
			continue;
		size_t j = 0;
		while (j + 1 < per && all_finite(row + j * bytes, 1, bytes))
			j++;
		return vdb_fail(VDB_ECORRUPT, "%s: %s: row %zu, dimension %zu is NaN or infinite (a "
		                "stored value never is: the file is damaged)", path, what, r, j);
	}
	return VDB_OK;
}

vdb_status vdb_check_finite(const float *x, size_t n, size_t per, const char *path,
                            const char *what)
{
	return check_values((const unsigned char *)x, n, per, sizeof(float), per * sizeof(float),
	                    path, what);
}

vdb_status vdb_rows_check(const vdb_rows *r, const unsigned char *rows, size_t n, size_t stride,
                          const char *path, const char *what)
{
	if (r->kind == VDB_STORAGE_F32)
		return check_values(rows, n, r->dim, 4, stride, path, what);
	if (r->kind == VDB_STORAGE_F16)
		return check_values(rows, n, r->dim, 2, stride, path, what);
	return VDB_OK; /* sq8 codes and binary rows: every byte is a value */
}
