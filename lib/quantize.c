/*
 * quantize.c — the quantizers of vdb-quantize: sq8, fp16, pq and binary.
 *
 * A quantizer turns a vector of dim floats into a code of a fixed number of
 * bytes and back. What each kind learns from training data:
 *   sq8     the range [lo, hi] of every dimension; a value becomes the
 *           nearest of 256 evenly spaced levels lo + c * (hi - lo) / 255
 *           (rounding, so the error is at most (hi - lo) / 510 inside the
 *           range; outside it the value is clamped to lo or hi);
 *   fp16    nothing (IEEE half, round to nearest even, by bit manipulation);
 *   pq      256 k-means centroids per subspace (kmeans.c, pq.c);
 *   binary  nothing (bit i is x[i] > 0, LSB first; decodes to +1/-1).
 *
 * Memory: a quantizer owns its tables (a few MB at most for pq); an opened
 * quantizer is a copy of the file's sections, checked on the way in, so it
 * does not keep the file mapped. Threads: encode and decode are read-only
 * on the quantizer and parallel over rows (OpenMP); pq encoding runs on
 * the exact k-NN engine (knn.c). Nothing allocates per vector.
 *
 * The file is the index container (file.c) with type "QUNT":
 *   header  dim, storage (= kind), count (training vectors), params[0]
 *           kind, [1] pq_m, [2] seed, [3] code size (checked on open)
 *   SQ8R    sq8: dim float32 lo, then dim float32 hi
 *   PQCB    pq: pq_m x 256 x (dim / pq_m) float32 centroids
 * Format history: QUNT 1 (container 1.0) as above. Opening checks every
 * section checksum (the file is small) and every size and value before
 * trusting it.
 *
 * Evaluation (vdb_quant_eval_*) streams a base set: each block is encoded
 * and decoded once, feeding the error sums, an exact k-NN over the
 * original rows and a second k-NN over the decoded rows (binary: bounded
 * heaps of hamming distances between query and base codes).
 */
#include "quantize.h"
#include "kmeans.h"
#include "random.h"
#include "topk.h"
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <string.h>

#define SEC_SQ8R VDB_FOURCC('S', 'Q', '8', 'R')
#define SEC_PQCB VDB_FOURCC('P', 'Q', 'C', 'B')
/* rows x dims below which a loop is not worth a thread team */
#define PAR_MIN_WORK 65536

struct vdb_quantizer {
	vdb_quant_kind kind;
	uint32_t dim, pq_m;
	size_t code_size;
	uint64_t seed, trained_on;
	float *lo, *hi, *step, *scale; /* sq8: per dimension; one allocation */
	vdb_pq pq;                     /* pq */
	char *path;                    /* opened from (NULL: trained) */
	size_t file_size;
	vdb_header h;
};

/* ===== Names ===== */
static const char *const kind_names[] = { NULL, "sq8", "fp16", "pq", "binary" };

const char *vdb_quant_kind_name(vdb_quant_kind k)
{
	return k >= VDB_QUANT_SQ8 && k <= VDB_QUANT_BINARY ? kind_names[k] : "unknown";
}

vdb_status vdb_quant_kind_parse(const char *s, vdb_quant_kind *out)
{
	for (int k = VDB_QUANT_SQ8; k <= VDB_QUANT_BINARY; k++)
		if (!strcmp(s, kind_names[k])) {
			*out = (vdb_quant_kind)k;
			return VDB_OK;
		}
	return vdb_fail(VDB_EINVAL, "unknown quantizer kind '%s' (expected sq8, fp16, pq or binary)",
	                s);
}

void vdb_quant_params_init(vdb_quant_params *p)
{
	p->pq_m = 0;
	p->seed = VDB_DEFAULT_SEED;
}

static int storage_of(vdb_quant_kind k)
{
	static const int st[] = { 0, VDB_STORAGE_SQ8, VDB_STORAGE_F16, VDB_STORAGE_PQ,
		                  VDB_STORAGE_BINARY };
	return st[k];
}

static size_t code_size_of(vdb_quant_kind k, uint32_t dim, uint32_t m)
{
	switch (k) {
	case VDB_QUANT_SQ8: return dim;
	case VDB_QUANT_FP16: return 2 * (size_t)dim;
	case VDB_QUANT_PQ: return m;
	case VDB_QUANT_BINARY: return ((size_t)dim + 7) / 8;
	}
	return 0;
}

/* ===== Training ===== */
static uint32_t default_pq_m(uint32_t dim)
{
	uint32_t m = dim / 8 ? dim / 8 : 1;
	while (dim % m)
		m--;
	return m;
}

/* "8, 16, 32" — some divisors of dim for a message */
static void divisors(uint32_t dim, char *buf, size_t len)
{
	size_t used = 0;
	buf[0] = 0;
	int shown = 0;
	for (uint32_t m = 2; m < dim && shown < 8 && used < len; m++)
		if (dim % m == 0) {
			int w = snprintf(buf + used, len - used, "%s%u", shown ? ", " : "", m);
			if (w < 0)
				break;
			used += (size_t)w;
			shown++;
		}
	if (!shown)
		snprintf(buf, len, "1 or %u", dim);
}

static vdb_quantizer *quantizer_new(vdb_quant_kind kind, uint32_t dim, uint32_t m)
{
	vdb_quantizer *q = calloc(1, sizeof *q);
	if (!q) {
		vdb_fail(VDB_ENOMEM, "out of memory");
		return NULL;
	}
	q->kind = kind, q->dim = dim, q->pq_m = m;
	q->code_size = code_size_of(kind, dim, m);
	if (kind == VDB_QUANT_SQ8) {
		q->lo = vdb_malloc(4 * (size_t)dim * sizeof(float), "sq8 ranges");
		if (!q->lo) {
			free(q);
			return NULL;
		}
		q->hi = q->lo + dim, q->step = q->hi + dim, q->scale = q->step + dim;
	}
	return q;
}

/* step and scale from lo and hi: level c decodes to lo + c * step, a
 * value x encodes to round((x - lo) * scale) */
static void sq8_derive(vdb_quantizer *q)
{
	for (uint32_t j = 0; j < q->dim; j++) {
		float r = q->hi[j] - q->lo[j];
		q->step[j] = r / 255.0f;
		q->scale[j] = r > 0 ? 255.0f / r : 0.0f;
	}
}

vdb_status vdb_quantizer_train(vdb_quantizer **out, vdb_quant_kind kind, uint32_t dim,
                               const float *data, size_t n, const vdb_quant_params *p)
{
	*out = NULL;
	vdb_quant_params def;
	if (!p) {
		vdb_quant_params_init(&def);
		p = &def;
	}
	VDB_RETURN_IF(kind < VDB_QUANT_SQ8 || kind > VDB_QUANT_BINARY, VDB_EINVAL,
	              "unknown quantizer kind %d", (int)kind);
	VDB_RETURN_IF(dim == 0 || dim > VDB_MAX_DIM, VDB_EINVAL,
	              "dimension %u is out of range (1..%u)", dim, VDB_MAX_DIM);
	uint32_t m = 0;
	if (kind == VDB_QUANT_PQ) {
		m = p->pq_m ? p->pq_m : default_pq_m(dim);
		char some[128];
		divisors(dim, some, sizeof some);
		VDB_RETURN_IF(m > dim || dim % m, VDB_EINVAL,
		              "pq-m %u must divide the dimension %u (e.g. %s)", m, dim, some);
	}
	VDB_RETURN_IF(n == 0, VDB_EFORMAT, "no training vectors");
	VDB_RETURN_IF(kind == VDB_QUANT_PQ && n < VDB_PQ_KSUB, VDB_EFORMAT,
	              "pq: training needs at least %u vectors (256 centroids per subspace); "
	              "the input has %zu", VDB_PQ_KSUB, n);
	for (size_t i = 0; i < n; i++)
		for (uint32_t j = 0; j < dim; j++) {
			float v = data[i * dim + j];
			VDB_RETURN_IF(!isfinite(v), VDB_EFORMAT,
			              "training vector %zu, dimension %u: value is not finite", i, j);
			VDB_RETURN_IF(kind == VDB_QUANT_FP16 && fabsf(v) >= VDB_F16_OVERFLOW,
			              VDB_EFORMAT, "training vector %zu, dimension %u: %g is beyond the "
			              "fp16 range (|x| <= 65504)", i, j, (double)v);
		}
	vdb_quantizer *q = quantizer_new(kind, dim, m);
	if (!q)
		return VDB_ENOMEM;
	q->seed = p->seed;
	q->trained_on = n;
	if (kind == VDB_QUANT_SQ8) {
		for (uint32_t j = 0; j < dim; j++)
			q->lo[j] = q->hi[j] = data[j];
		for (size_t i = 1; i < n; i++) {
			const float *row = data + i * dim;
			for (uint32_t j = 0; j < dim; j++) {
				q->lo[j] = row[j] < q->lo[j] ? row[j] : q->lo[j];
				q->hi[j] = row[j] > q->hi[j] ? row[j] : q->hi[j];
			}
		}
		for (uint32_t j = 0; j < dim; j++)
			if (!isfinite(q->hi[j] - q->lo[j])) {
				vdb_status s = vdb_fail(VDB_EFORMAT, "sq8: dimension %u spans %g..%g, a "
				                        "range too large for float32", j,
				                        (double)q->lo[j], (double)q->hi[j]);
				vdb_quantizer_free(q);
				return s;
			}
		sq8_derive(q);
	} else if (kind == VDB_QUANT_PQ) {
		vdb_status s = vdb_pq_train(&q->pq, data, n, dim, m, p->seed);
		if (s) {
			vdb_quantizer_free(q);
			return s;
		}
	}
	*out = q;
	return VDB_OK;
}

vdb_quant_kind vdb_quantizer_kind(const vdb_quantizer *q) { return q->kind; }
uint32_t vdb_quantizer_dim(const vdb_quantizer *q) { return q->dim; }
size_t vdb_quantizer_code_size(const vdb_quantizer *q) { return q->code_size; }

void vdb_quantizer_free(vdb_quantizer *q)
{
	if (!q)
		return;
	free(q->lo);
	vdb_pq_free(&q->pq);
	free(q->path);
	free(q);
}

/* ===== Encoding and decoding ===== */
vdb_status vdb_quantizer_encode(const vdb_quantizer *q, const float *x, size_t n,
                                uint8_t *codes)
{
	const uint32_t d = q->dim;
	const size_t cs = q->code_size;
	const int par = (double)n * d > PAR_MIN_WORK;
	switch (q->kind) {
	case VDB_QUANT_SQ8:
		#pragma omp parallel for schedule(static) if (par)
		for (size_t i = 0; i < n; i++) {
			const float *row = x + i * d;
			uint8_t *c = codes + i * cs;
			for (uint32_t j = 0; j < d; j++) {
				float t = (row[j] - q->lo[j]) * q->scale[j];
				/* written so that NaN gives 0, not undefined behaviour */
				c[j] = t > 0 ? (t < 255.0f ? (uint8_t)(t + 0.5f) : 255) : 0;
			}
		}
		return VDB_OK;
	case VDB_QUANT_FP16:
		for (size_t i = 0; i < n; i++)
			for (uint32_t j = 0; j < d; j++)
				if (fabsf(x[i * d + j]) >= VDB_F16_OVERFLOW) {
					if (n == 1)
						return vdb_fail(VDB_EFORMAT, "dimension %u: %g is beyond the "
						                "fp16 range (|x| <= 65504)", j,
						                (double)x[i * d + j]);
					return vdb_fail(VDB_EFORMAT, "vector %zu, dimension %u: %g is beyond "
					                "the fp16 range (|x| <= 65504)", i, j,
					                (double)x[i * d + j]);
				}
		#pragma omp parallel for schedule(static) if (par)
		for (size_t i = 0; i < n; i++)
			for (uint32_t j = 0; j < d; j++) {
				uint16_t h = vdb_f32_to_f16(x[i * d + j]);
				codes[i * cs + 2 * j] = (uint8_t)(h & 0xff);
				codes[i * cs + 2 * j + 1] = (uint8_t)(h >> 8);
			}
		return VDB_OK;
	case VDB_QUANT_PQ:
		return vdb_pq_encode(&q->pq, x, n, codes);
	case VDB_QUANT_BINARY:
		#pragma omp parallel for schedule(static) if (par)
		for (size_t i = 0; i < n; i++) {
			uint8_t *c = codes + i * cs;
			memset(c, 0, cs);
			for (uint32_t j = 0; j < d; j++)
				c[j >> 3] |= (uint8_t)((x[i * d + j] > 0) << (j & 7));
		}
		return VDB_OK;
	}
	return vdb_fail(VDB_EINTERNAL, "quantizer of unknown kind %d", (int)q->kind);
}

void vdb_quantizer_decode(const vdb_quantizer *q, const uint8_t *codes, size_t n, float *x)
{
	const uint32_t d = q->dim;
	const size_t cs = q->code_size;
	const int par = (double)n * d > PAR_MIN_WORK;
	switch (q->kind) {
	case VDB_QUANT_SQ8:
		#pragma omp parallel for schedule(static) if (par)
		for (size_t i = 0; i < n; i++)
			for (uint32_t j = 0; j < d; j++)
				x[i * d + j] = q->lo[j] + (float)codes[i * cs + j] * q->step[j];
		break;
	case VDB_QUANT_FP16:
		#pragma omp parallel for schedule(static) if (par)
		for (size_t i = 0; i < n; i++)
			for (uint32_t j = 0; j < d; j++)
				x[i * d + j] = vdb_f16_to_f32((uint16_t)(codes[i * cs + 2 * j] |
				                                         codes[i * cs + 2 * j + 1] << 8));
		break;
	case VDB_QUANT_PQ:
		vdb_pq_decode(&q->pq, codes, n, x);
		break;
	case VDB_QUANT_BINARY:
		#pragma omp parallel for schedule(static) if (par)
		for (size_t i = 0; i < n; i++)
			for (uint32_t j = 0; j < d; j++)
				x[i * d + j] = (codes[i * cs + (j >> 3)] >> (j & 7)) & 1 ? 1.0f : -1.0f;
		break;
	}
}

/* ===== Files ===== */
vdb_status vdb_quantizer_save(const vdb_quantizer *q, const char *path)
{
	vdb_file_writer *w;
	vdb_status s = vdb_file_create(&w, path);
	if (s)
		return s;
	if (q->kind == VDB_QUANT_SQ8) {
		s = vdb_file_begin_section(w, SEC_SQ8R);
		if (!s)
			s = vdb_file_append(w, q->lo, q->dim * sizeof(float));
		if (!s)
			s = vdb_file_append(w, q->hi, q->dim * sizeof(float));
		if (!s)
			s = vdb_file_end_section(w);
	} else if (q->kind == VDB_QUANT_PQ) {
		s = vdb_file_write_section(w, SEC_PQCB, q->pq.cb,
		                           (size_t)q->pq_m * VDB_PQ_KSUB * q->pq.dsub * sizeof(float));
	}
	if (s) {
		vdb_file_abort(w);
		return s;
	}
	vdb_header h;
	memset(&h, 0, sizeof h);
	h.type = VDB_QUANT_FOURCC;
	h.dim = q->dim;
	h.storage = (uint32_t)storage_of(q->kind);
	h.count = h.live = q->trained_on;
	h.params[0] = (uint64_t)q->kind;
	h.params[1] = q->pq_m;
	h.params[2] = q->seed;
	h.params[3] = q->code_size;
	return vdb_file_commit(w, &h);
}

/* The section of that kind, which must be exactly want bytes. */
static vdb_status need_section(const vdb_file *f, uint32_t kind, size_t want, const void **out)
{
	char k[5];
	size_t len;
	*out = vdb_file_section(f, kind, &len);
	VDB_RETURN_IF(!*out, VDB_ECORRUPT, "%s: section %s is missing (corrupt quantizer file)",
	              f->path, vdb_fourcc_str(kind, k));
	VDB_RETURN_IF(len != want, VDB_ECORRUPT,
	              "%s: section %s holds %zu bytes where %zu were expected (corrupt quantizer "
	              "file)", f->path, vdb_fourcc_str(kind, k), len, want);
	return VDB_OK;
}

static vdb_status all_finite(const vdb_file *f, uint32_t kind, const float *v, size_t n)
{
	char k[5];
	for (size_t i = 0; i < n; i++)
		VDB_RETURN_IF(!isfinite(v[i]), VDB_ECORRUPT,
		              "%s: section %s: value %zu is not finite (corrupt quantizer file)",
		              f->path, vdb_fourcc_str(kind, k), i);
	return VDB_OK;
}

/* lo then hi (finite, as all_finite checked) into q, checked as ranges */
static vdb_status sq8_load(vdb_quantizer *q, const char *path, const char *what,
                           const float *ranges)
{
	memcpy(q->lo, ranges, 2 * (size_t)q->dim * sizeof(float)); /* lo then hi, as in memory */
	for (uint32_t j = 0; j < q->dim; j++)
		VDB_RETURN_IF(!(q->lo[j] <= q->hi[j]) || !isfinite(q->hi[j] - q->lo[j]), VDB_ECORRUPT,
		              "%s: section SQ8R: dimension %u has min %g, max %g (corrupt %s file)",
		              path, j, (double)q->lo[j], (double)q->hi[j], what);
	sq8_derive(q);
	return VDB_OK;
}

vdb_status vdb_quantizer_sq8_from(vdb_quantizer **out, const char *path, uint32_t dim,
                                  const float *ranges, size_t len)
{
	*out = NULL;
	VDB_RETURN_IF(!ranges || len != 2 * (size_t)dim * sizeof(float), VDB_ECORRUPT,
	              "%s: section SQ8R missing or not %zu bytes (corrupt index file)", path,
	              2 * (size_t)dim * sizeof(float));
	for (size_t i = 0; i < 2 * (size_t)dim; i++)
		VDB_RETURN_IF(!isfinite(ranges[i]), VDB_ECORRUPT,
		              "%s: section SQ8R: value %zu is not finite (corrupt index file)", path, i);
	vdb_quantizer *q = quantizer_new(VDB_QUANT_SQ8, dim, 0);
	if (!q)
		return VDB_ENOMEM;
	vdb_status s = sq8_load(q, path, "index", ranges);
	if (s) {
		vdb_quantizer_free(q);
		return s;
	}
	*out = q;
	return VDB_OK;
}

const float *vdb_quantizer_sq8_ranges(const vdb_quantizer *q) { return q->lo; }
const float *vdb_quantizer_sq8_step(const vdb_quantizer *q) { return q->step; }

static vdb_status quantizer_read(vdb_quantizer **out, const vdb_file *f)
{
	const vdb_header *h = &f->h;
	char k[5];
	VDB_RETURN_IF(h->type != VDB_QUANT_FOURCC, VDB_EFORMAT,
	              "%s: not a quantizer file (a vdb file of type %s; quantizers are made by "
	              "vdb-quantize train)", f->path, vdb_fourcc_str(h->type, k));
	vdb_status s = vdb_file_verify(f);
	if (s)
		return s;
	uint64_t kind = h->params[0], m = h->params[1];
	VDB_RETURN_IF(kind < VDB_QUANT_SQ8 || kind > VDB_QUANT_BINARY, VDB_ECORRUPT,
	              "%s: unknown quantizer kind %llu (corrupt, or written by a newer vdb)",
	              f->path, (unsigned long long)kind);
	VDB_RETURN_IF(h->dim == 0 || h->dim > VDB_MAX_DIM, VDB_ECORRUPT,
	              "%s: dimension %u is out of range (1..%u) (corrupt quantizer file)", f->path,
	              h->dim, VDB_MAX_DIM);
	VDB_RETURN_IF(h->storage != (uint32_t)storage_of((vdb_quant_kind)kind), VDB_ECORRUPT,
	              "%s: storage type %u does not match the kind %s (corrupt quantizer file)",
	              f->path, h->storage, vdb_quant_kind_name((vdb_quant_kind)kind));
	VDB_RETURN_IF(kind == VDB_QUANT_PQ && (m == 0 || m > h->dim || h->dim % m),
	              VDB_ECORRUPT, "%s: pq-m %llu does not divide the dimension %u (corrupt "
	              "quantizer file)", f->path, (unsigned long long)m, h->dim);
	if (kind != VDB_QUANT_PQ)
		m = 0;
	size_t cs = code_size_of((vdb_quant_kind)kind, h->dim, (uint32_t)m);
	VDB_RETURN_IF(h->params[3] != cs, VDB_ECORRUPT,
	              "%s: code size %llu, but a %s quantizer of dimension %u has %zu (corrupt "
	              "quantizer file)", f->path, (unsigned long long)h->params[3],
	              vdb_quant_kind_name((vdb_quant_kind)kind), h->dim, cs);
	vdb_quantizer *q = quantizer_new((vdb_quant_kind)kind, h->dim, (uint32_t)m);
	if (!q)
		return VDB_ENOMEM;
	q->seed = h->params[2];
	q->trained_on = h->count;
	const void *sec;
	if (kind == VDB_QUANT_SQ8) {
		size_t bytes = 2 * (size_t)h->dim * sizeof(float);
		if (!(s = need_section(f, SEC_SQ8R, bytes, &sec)))
			s = all_finite(f, SEC_SQ8R, sec, 2 * (size_t)h->dim);
		if (!s)
			s = sq8_load(q, f->path, "quantizer", sec);
	} else if (kind == VDB_QUANT_PQ) {
		size_t nf = (size_t)VDB_PQ_KSUB * h->dim; /* m x 256 x dsub */
		if (!(s = need_section(f, SEC_PQCB, nf * sizeof(float), &sec)))
			s = all_finite(f, SEC_PQCB, sec, nf);
		if (!s) {
			q->pq.cb = vdb_malloc(nf * sizeof(float), "pq codebooks");
			if (!q->pq.cb)
				s = VDB_ENOMEM;
			else {
				memcpy(q->pq.cb, sec, nf * sizeof(float));
				q->pq.d = h->dim, q->pq.m = (uint32_t)m, q->pq.dsub = h->dim / (uint32_t)m;
			}
		}
	}
	if (!s) {
		q->path = strdup(f->path);
		if (!q->path)
			s = vdb_fail(VDB_ENOMEM, "out of memory");
	}
	if (s) {
		vdb_quantizer_free(q);
		return s;
	}
	q->file_size = f->size;
	q->h = *h;
	*out = q;
	return VDB_OK;
}

vdb_status vdb_quantizer_open(vdb_quantizer **out, const char *path)
{
	*out = NULL;
	vdb_file *f;
	vdb_status s = vdb_file_open(&f, path);
	if (s)
		return s;
	s = quantizer_read(out, f);
	vdb_file_close(f);
	return s;
}

char *vdb_quantizer_info_json(const vdb_quantizer *q)
{
	json_t *o = json_object();
	if (!o)
		return NULL;
	char ver[16];
	if (q->path) {
		json_object_set_new(o, "file", json_string(q->path));
		snprintf(ver, sizeof ver, "%u.%u", q->h.major, q->h.minor);
		json_object_set_new(o, "format", json_string(ver));
		json_object_set_new(o, "size", json_integer((json_int_t)q->file_size));
	}
	json_object_set_new(o, "type", json_string("quantizer"));
	json_object_set_new(o, "kind", json_string(vdb_quant_kind_name(q->kind)));
	json_object_set_new(o, "dim", json_integer(q->dim));
	json_object_set_new(o, "code_size", json_integer((json_int_t)q->code_size));
	json_object_set_new(o, "compression", json_real(4.0 * q->dim / (double)q->code_size));
	if (q->kind == VDB_QUANT_PQ) {
		json_object_set_new(o, "pq_m", json_integer(q->pq_m));
		json_object_set_new(o, "pq_dsub", json_integer(q->dim / q->pq_m));
		json_object_set_new(o, "pq_ksub", json_integer(VDB_PQ_KSUB));
		json_object_set_new(o, "seed", json_integer((json_int_t)q->seed));
	}
	json_object_set_new(o, "trained_on", json_integer((json_int_t)q->trained_on));
	if (q->path) {
		json_object_set_new(o, "sections", vdb_sections_json(&q->h));
	}
	char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	return text;
}

/* ===== Evaluation ===== */
struct vdb_quant_eval {
	const vdb_quantizer *q;
	vdb_metric metric;
	uint32_t d;
	size_t k, nq, n, cap;
	vdb_knn *exact, *coded;  /* coded: NULL for binary */
	uint8_t *qcodes;         /* binary: the queries' codes */
	vdb_topk *heaps;         /* binary: one per query, k slots each */
	double *hdist;
	int64_t *hid;
	uint8_t *codes;          /* block buffers, cap rows */
	float *dec, *norm;
	double *shift, *s1, *s2; /* per dimension, for the variance */
	double sse, max_abs;
};

void vdb_quant_eval_free(vdb_quant_eval *e)
{
	if (!e)
		return;
	vdb_knn_free(e->exact);
	vdb_knn_free(e->coded);
	free(e->qcodes), free(e->heaps), free(e->hdist), free(e->hid);
	free(e->codes), free(e->dec), free(e->norm), free(e->shift);
	free(e);
}

vdb_status vdb_quant_eval_new(vdb_quant_eval **out, const vdb_quantizer *q, vdb_metric m,
                              size_t k, const float *queries, size_t nq)
{
	*out = NULL;
	VDB_RETURN_IF(m != VDB_METRIC_L2 && m != VDB_METRIC_IP && m != VDB_METRIC_COSINE,
	              VDB_EUNSUPPORTED, "evaluation searches with l2, ip or cosine, not %s",
	              vdb_metric_name(m));
	VDB_RETURN_IF(nq == 0, VDB_EINVAL, "evaluation needs at least one query");
	vdb_quant_eval *e = calloc(1, sizeof *e);
	if (!e)
		return vdb_fail(VDB_ENOMEM, "out of memory");
	e->q = q, e->metric = m, e->d = q->dim, e->k = k, e->nq = nq;
	vdb_status s = vdb_knn_new(&e->exact, m, q->dim, k, queries, nq);
	if (!s && q->kind != VDB_QUANT_BINARY)
		s = vdb_knn_new(&e->coded, m, q->dim, k, queries, nq);
	e->shift = vdb_malloc(3 * (size_t)q->dim * sizeof(double), "error sums");
	if (!s && !e->shift)
		s = VDB_ENOMEM;
	if (!s) {
		e->s1 = e->shift + q->dim, e->s2 = e->s1 + q->dim;
		memset(e->shift, 0, 3 * (size_t)q->dim * sizeof(double));
	}
	if (!s && q->kind == VDB_QUANT_BINARY) {
		size_t slots = 0;
		if (!vdb_mul_ok(nq, k, &slots))
			s = vdb_fail(VDB_ENOMEM, "too many queries (%zu)", nq);
		e->qcodes = vdb_malloc(nq * q->code_size, "query codes");
		e->heaps = vdb_malloc(nq * sizeof *e->heaps, "result heaps");
		e->hdist = vdb_malloc(slots * sizeof *e->hdist, "result heaps");
		e->hid = vdb_malloc(slots * sizeof *e->hid, "result heaps");
		if (!s && (!e->qcodes || !e->heaps || !e->hdist || !e->hid))
			s = VDB_ENOMEM;
		if (!s)
			s = vdb_quantizer_encode(q, queries, nq, e->qcodes);
		for (size_t i = 0; !s && i < nq; i++)
			e->heaps[i] = (vdb_topk){ .dist = e->hdist + i * k, .id = e->hid + i * k,
			                          .n = 0, .cap = (uint32_t)k };
	}
	if (s) {
		vdb_quant_eval_free(e);
		return s;
	}
	*out = e;
	return VDB_OK;
}

vdb_status vdb_quant_eval_add(vdb_quant_eval *e, const float *x, size_t n)
{
	const uint32_t d = e->d;
	const size_t cs = e->q->code_size;
	if (n == 0)
		return VDB_OK;
	if (n > e->cap) {
		free(e->codes), free(e->dec), free(e->norm);
		e->cap = 0;
		e->codes = vdb_malloc(n * cs, "codes");
		e->dec = vdb_malloc(n * d * sizeof(float), "decoded vectors");
		e->norm = e->metric == VDB_METRIC_COSINE
		          ? vdb_malloc(n * d * sizeof(float), "normalised vectors") : NULL;
		if (!e->codes || !e->dec || (e->metric == VDB_METRIC_COSINE && !e->norm))
			return VDB_ENOMEM;
		e->cap = n;
	}
	vdb_status s = vdb_quantizer_encode(e->q, x, n, e->codes);
	if (s)
		return s;
	vdb_quantizer_decode(e->q, e->codes, n, e->dec);
	/* error sums; the variance is taken about the first row, which keeps
	 * sum-of-squares cancellation small for data far from the origin */
	if (e->n == 0)
		for (uint32_t j = 0; j < d; j++)
			e->shift[j] = x[j];
	for (size_t i = 0; i < n; i++) {
		const float *a = x + i * d, *b = e->dec + i * d;
		double err = 0;
		for (uint32_t j = 0; j < d; j++) {
			double t = (double)a[j] - b[j], c = (double)a[j] - e->shift[j];
			err += t * t;
			e->max_abs = fabs(t) > e->max_abs ? fabs(t) : e->max_abs;
			e->s1[j] += c;
			e->s2[j] += c * c;
		}
		e->sse += err;
	}
	int64_t id0 = (int64_t)e->n;
	const float *rows = x;
	if (e->metric == VDB_METRIC_COSINE) {
		memcpy(e->norm, x, n * d * sizeof(float));
		for (size_t i = 0; i < n; i++) {
			vdb_normalize(e->norm + i * d, d);
			vdb_normalize(e->dec + i * d, d);
		}
		rows = e->norm;
	}
	if ((s = vdb_knn_add(e->exact, rows, NULL, n, id0)))
		return s;
	if (e->coded) {
		if ((s = vdb_knn_add(e->coded, e->dec, NULL, n, id0)))
			return s;
	} else {
		uint32_t (*ham)(const uint8_t *, const uint8_t *, size_t) = vdb_kernels_get()->hamming;
		const uint8_t *codes = e->codes, *qcodes = e->qcodes;
		vdb_topk *heaps = e->heaps;
		#pragma omp parallel for schedule(dynamic, 1) if ((double)e->nq * n * cs > PAR_MIN_WORK)
		for (size_t qi = 0; qi < e->nq; qi++)
			for (size_t i = 0; i < n; i++)
				topk_push(&heaps[qi], ham(qcodes + qi * cs, codes + i * cs, cs),
				          id0 + (int64_t)i);
	}
	e->n += n;
	return VDB_OK;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* |a ∩ b| over the non-negative ids of two rows of k (sorted in place) */
static size_t overlap(int64_t *a, int64_t *b, size_t k)
{
	qsort(a, k, sizeof *a, cmp_i64);
	qsort(b, k, sizeof *b, cmp_i64);
	size_t i = 0, j = 0, c = 0;
	while (i < k && j < k) {
		if (a[i] < 0)
			i++;
		else if (b[j] < 0)
			j++;
		else if (a[i] < b[j])
			i++;
		else if (a[i] > b[j])
			j++;
		else
			c++, i++, j++;
	}
	return c;
}

vdb_status vdb_quant_eval_result(vdb_quant_eval *e, vdb_quant_stats *r)
{
	memset(r, 0, sizeof *r);
	VDB_RETURN_IF(e->n == 0, VDB_EFORMAT, "evaluation: no base vectors");
	const size_t nq = e->nq, k = e->k;
	int64_t *ex = vdb_malloc(nq * k * sizeof *ex, "results");
	int64_t *co = vdb_malloc(nq * k * sizeof *co, "results");
	float *dist = vdb_malloc(nq * k * sizeof *dist, "results");
	vdb_status s = ex && co && dist ? VDB_OK : VDB_ENOMEM;
	if (!s)
		s = vdb_knn_result(e->exact, ex, dist);
	if (!s && e->coded)
		s = vdb_knn_result(e->coded, co, dist);
	else if (!s)
		for (size_t qi = 0; qi < nq; qi++)
			for (size_t j = 0; j < k; j++)
				co[qi * k + j] = j < e->heaps[qi].n ? e->heaps[qi].id[j] : -1;
	if (!s) {
		size_t want = e->n < k ? e->n : k;
		double sum = 0;
		for (size_t qi = 0; qi < nq; qi++)
			sum += (double)overlap(ex + qi * k, co + qi * k, k) / (double)want;
		double var = 0, nn = (double)e->n;
		for (uint32_t j = 0; j < e->d; j++) {
			double mean = e->s1[j] / nn, v = e->s2[j] / nn - mean * mean;
			var += v > 0 ? v : 0;
		}
		r->n = e->n, r->nq = nq, r->k = k;
		r->mse = e->sse / nn;
		r->variance = var;
		r->max_abs = e->max_abs;
		r->recall = sum / (double)nq;
	}
	free(ex), free(co), free(dist);
	return s;
}
