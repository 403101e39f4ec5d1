/*
 * index_flat.c — the flat index: every vector, searched exhaustively.
 *
 * It is the ground-truth engine of vdb (recall 1.0 by construction) and the
 * baseline every approximate index is measured against. Sections:
 *   VECS  count x dim float32 rows (normalised for cosine), searched with
 *         one sgemm per tile (see knn.c) in place from the mapping: opening
 *         costs no load. Absent with compressed storage unless --refine.
 *   CODE  with --storage fp16 or sq8: the rows compressed (see rows.h);
 *         a search decodes them a tile at a time and gives the exact answer
 *         over the decoded rows; SQ8R holds sq8's ranges.
 *   NRM2  each (decoded) row's squared norm (l2 and ip): the l2 ranking key
 *         needs it, and both metrics need its maximum for knn.c's rounding
 *         bound.
 * Header params: refine (the best refine*k over the codes are re-ranked
 * with VECS).
 *
 * With the hamming metric CODE holds the binary vectors as given (dim/8
 * bytes each, storage "binary"), there is no NRM2, and a search counts
 * differing bits against every row with the popcount kernel: the exact
 * answer, ties to the smaller id.
 *
 * A filtered search (a row bitset: --filter, deleted rows) is the same scan
 * passing over the rows not allowed: the answer an unfiltered search would
 * give over the kept rows alone. The float rows are scanned in place when most are kept (exact search skips the
 * others), gathered when few are (see GATHER_SHARE); binary rows in blocks,
 * each skipped when it holds no kept row and taken a row at a time when it
 * holds few (knn.c).
 */
#include "index_internal.h"
#include "rows.h"
#include <omp.h>
#include <string.h>

#define SEC_CODE VDB_FOURCC('C', 'O', 'D', 'E')
#define SEC_NRM2 VDB_FOURCC('N', 'R', 'M', '2')

enum { P_REFINE = 1 };

/* flat_search_allowed gathers the kept rows when they are fewer than this
 * share of the rows, else scans every row in place. The gather copies (or
 * decodes) only the kept rows, the scan reads all but copies none. Measured
 * on 100k x 128 (l2, k 10, 200 queries / 1 query on one thread): f32, the
 * gather is faster to ~45% kept in a batch and to ~25% for one query; sq8,
 * whose scan decodes every row, to ~80% and ~35%. The scan costs what an
 * unfiltered search does whatever the share (27 ms / 3.5 ms f32). */
#define GATHER_SHARE 0.3
#define GATHER_SHARE_CODED 0.5

typedef struct {
	vdb_rows rows;
	const float *vecs;           /* float32 rows: f32 storage, or kept for refine */
	const unsigned char *codes;  /* compressed rows (fp16, sq8) */
	const float *norms;          /* l2 and ip */
	unsigned refine;
	float *own_norms;
	unsigned char *own_codes;
} flat;

/* Rows [i0, i0 + n) as float32: the stored rows, or decoded into buf. */
static const float *rows_at(const flat *f, const vdb_kernels *K, size_t i0, size_t n, uint32_t d,
                            float *buf)
{
	if (!f->codes)
		return f->vecs + i0 * d;
	#pragma omp parallel for schedule(static) if (n >= 1024)
	for (size_t j = 0; j < n; j++)
		vdb_rows_decode(&f->rows, K, f->codes + (i0 + j) * f->rows.size, buf + j * d);
	return buf;
}

/* Rows per decoded tile: about 1 MB of floats, enough to keep sgemm busy. */
static size_t tile_rows(uint32_t d)
{
	size_t t = ((size_t)1 << 18) / d;
	return t < 256 ? 256 : t;
}

static vdb_status compute_norms(flat *f, size_t n, uint32_t d)
{
	const vdb_kernels *K = vdb_kernels_get();
	size_t tile = tile_rows(d);
	float *buf = f->codes ? vdb_malloc(tile * d * sizeof(float), "decoded rows") : NULL;
	f->own_norms = vdb_malloc((n ? n : 1) * sizeof(float), "norms");
	if (!f->own_norms || (f->codes && !buf)) {
		free(buf);
		return VDB_ENOMEM;
	}
	for (size_t i0 = 0; i0 < n; i0 += tile) {
		size_t m = n - i0 < tile ? n - i0 : tile;
		const float *x = rows_at(f, K, i0, m, d, buf);
		vdb_row_norms(x, m, d, f->own_norms + i0, omp_get_max_threads());
	}
	free(buf);
	f->norms = f->own_norms;
	return VDB_OK;
}

/* Rows [0, keep) of f->own_codes are coded; code the rest from x (the
 * float32 rows keep..count), then derive the norms. */
static vdb_status finish(vdb_index *ix, flat *f, size_t keep, const float *x)
{
	if (f->rows.kind != VDB_STORAGE_F32) {
		vdb_status s = vdb_rows_encode(&f->rows, x, ix->count - keep,
		                               f->own_codes + keep * f->rows.size, f->rows.size);
		if (s)
			return s;
		f->codes = f->own_codes;
	}
	if (ix->metric == VDB_METRIC_L2 || ix->metric == VDB_METRIC_IP)
		return compute_norms(f, ix->count, ix->dim);
	return VDB_OK;
}

static flat *flat_new(vdb_index *ix, size_t code_bytes)
{
	flat *f = calloc(1, sizeof *f);
	if (!f) {
		vdb_fail(VDB_ENOMEM, "out of memory");
		return NULL;
	}
	ix->impl = f;
	if (code_bytes && !(f->own_codes = vdb_malloc(code_bytes, "compressed rows")))
		return NULL;
	return f;
}

static vdb_status flat_build(vdb_index *ix, vdb_vecs *data, const vdb_build_opts *o)
{
	(void)data; /* index.c already moved data into ix->owned */
	uint32_t kind;
	if (vdb_rows_kind(o, &kind))
		return VDB_EINVAL;
	vdb_rows rows;
	vdb_status s = vdb_rows_train(&rows, kind, ix->dim, ix->owned.data, ix->count);
	if (s)
		return s;
	flat *f = flat_new(ix, kind == VDB_STORAGE_F32 ? 0 : ix->count * rows.size);
	if (f)
		f->rows = rows;
	else
		vdb_rows_free(&rows);
	if (!f)
		return VDB_ENOMEM;
	f->refine = kind == VDB_STORAGE_F32 ? 0 : o->refine;
	f->vecs = ix->owned.data;
	s = finish(ix, f, 0, ix->owned.data);
	if (!s && f->codes && !f->refine) { /* the codes are the index: free the floats */
		free(ix->owned.data);
		ix->owned.data = NULL;
		f->vecs = NULL;
	}
	return s;
}

/* A new flat for ix with bf's storage, its row arrays allocated for
 * ix->count rows (filled by the caller): for an append or a compaction. */
static vdb_status flat_like(vdb_index *ix, const flat *bf, flat **out)
{
	flat *f = *out = flat_new(ix, bf->codes ? ix->count * bf->rows.size : 0);
	if (!f)
		return VDB_ENOMEM;
	vdb_status s = vdb_rows_like(&f->rows, &bf->rows);
	if (s)
		return s;
	f->refine = bf->refine;
	if (bf->vecs) {
		float *all = vdb_malloc(ix->count * ix->dim * sizeof(float), "vectors");
		if (!all)
			return VDB_ENOMEM;
		ix->owned.data = all;
		ix->owned.n = ix->owned.cap = ix->count;
		f->vecs = all;
	}
	return VDB_OK;
}

static vdb_status flat_append(vdb_index *ix, const vdb_index *base, vdb_vecs *data,
                              const vdb_build_opts *o)
{
	(void)o;
	const flat *bf = base->impl;
	const size_t nb = base->count, d = ix->dim;
	flat *f;
	vdb_status s = flat_like(ix, bf, &f);
	if (s)
		return s;
	if (bf->vecs) {
		memcpy(ix->owned.data, bf->vecs, nb * d * sizeof(float));
		memcpy(ix->owned.data + nb * d, data->data, data->n * d * sizeof(float));
	}
	if (bf->codes)
		memcpy(f->own_codes, bf->codes, nb * bf->rows.size);
	return finish(ix, f, nb, data->data);
}

static vdb_status flat_compact(vdb_index *ix, const vdb_index *base, const int64_t *keep,
                               const vdb_build_opts *o)
{
	(void)o;
	const flat *bf = base->impl;
	const size_t n = ix->count, d = ix->dim, cs = bf->rows.size;
	flat *f;
	vdb_status s = flat_like(ix, bf, &f);
	if (s)
		return s;
	for (size_t i = 0; bf->vecs && i < n; i++)
		memcpy(ix->owned.data + i * d, bf->vecs + (size_t)keep[i] * d, d * sizeof(float));
	for (size_t i = 0; bf->codes && i < n; i++)
		memcpy(f->own_codes + i * cs, bf->codes + (size_t)keep[i] * cs, cs);
	return finish(ix, f, n, NULL);
}

static vdb_status flat_save(const vdb_index *ix, vdb_file_writer *w, vdb_header *h)
{
	const flat *f = ix->impl;
	h->storage = f->rows.kind;
	h->params[P_REFINE] = f->refine;
	vdb_status s = VDB_OK;
	if (f->vecs)
		s = vdb_file_write_section(w, VDB_SEC_VECS, f->vecs, ix->count * ix->dim * sizeof(float));
	if (!s && f->codes)
		s = vdb_file_write_section(w, SEC_CODE, f->codes, ix->count * f->rows.size);
	if (!s)
		s = vdb_rows_save(&f->rows, w);
	if (!s && f->norms)
		s = vdb_file_write_section(w, SEC_NRM2, f->norms, ix->count * sizeof(float));
	return s;
}

/* Section kind of exactly count rows of `row` bytes, or an error. */
static const void *rows_section(const vdb_index *ix, uint32_t kind, size_t row)
{
	size_t len, want;
	char fc[5];
	const void *p = vdb_file_section(ix->file, kind, &len);
	if (!p) {
		vdb_fail(VDB_ECORRUPT, "%s: flat index without its %s section", ix->file->path,
		         vdb_fourcc_str(kind, fc));
		return NULL;
	}
	if (!vdb_mul_ok(ix->count, row, &want) || len != want) {
		vdb_fail(VDB_ECORRUPT, "%s: %s section is %zu bytes; %zu vectors of %zu bytes need %zu",
		         ix->file->path, vdb_fourcc_str(kind, fc), len, ix->count, row, want);
		return NULL;
	}
	return p;
}

static vdb_status flat_open(vdb_index *ix)
{
	const vdb_file *file = ix->file;
	flat *f = flat_new(ix, 0);
	if (!f)
		return VDB_ENOMEM;
	vdb_status s = vdb_rows_open(&f->rows, file, ix->dim);
	if (s)
		return s;
	uint64_t refine = file->h.params[P_REFINE];
	VDB_RETURN_IF(refine > VDB_MAX_REFINE || (refine && f->rows.kind == VDB_STORAGE_F32),
	              VDB_ECORRUPT, "%s: flat index with refine %llu (at most %u, and only with "
	              "compressed storage)", file->path, (unsigned long long)refine,
	              VDB_MAX_REFINE);
	f->refine = (unsigned)refine;
	if (f->rows.kind == VDB_STORAGE_F32 || f->refine)
		if (!(f->vecs = rows_section(ix, VDB_SEC_VECS, (size_t)ix->dim * sizeof(float))))
			return VDB_ECORRUPT;
	if (f->rows.kind != VDB_STORAGE_F32)
		if (!(f->codes = rows_section(ix, SEC_CODE, f->rows.size)))
			return VDB_ECORRUPT;
	if (ix->metric == VDB_METRIC_L2 || ix->metric == VDB_METRIC_IP)
		if (!(f->norms = rows_section(ix, SEC_NRM2, sizeof(float))))
			return VDB_ECORRUPT;
	return VDB_OK;
}

/* No structure beyond the checksummed rows: their values. The norms are
 * derived from finite rows, so never NaN or negative (a row of values near
 * the float range may give an infinite one). */
static vdb_status flat_verify(const vdb_index *ix)
{
	const flat *f = ix->impl;
	const char *path = ix->file ? ix->file->path : "index";
	vdb_status s = VDB_OK;
	if (f->vecs)
		s = vdb_check_finite(f->vecs, ix->count, ix->dim, path, "VECS");
	if (!s && f->codes)
		s = vdb_rows_check(&f->rows, f->codes, ix->count, f->rows.size, path, "CODE");
	for (size_t i = 0; !s && f->norms && i < ix->count; i++)
		VDB_RETURN_IF(!(f->norms[i] >= 0), VDB_ECORRUPT,
		              "%s: NRM2: row %zu has squared norm %g (the file is damaged)", path, i,
		              (double)f->norms[i]);
	return s;
}

/* The exact k best over the stored (decoded) rows; with allow (a row
 * bitset), over the allowed ones. */
static vdb_status scan(const vdb_index *ix, const flat *f, const float *q, size_t nq, size_t k,
                       const uint64_t *allow, int64_t *ids, float *dist)
{
	const vdb_kernels *K = vdb_kernels_get();
	uint32_t d = ix->dim;
	size_t tile = f->codes ? tile_rows(d) : ix->count;
	float *buf = f->codes ? vdb_malloc(tile * d * sizeof(float), "decoded rows") : NULL;
	if (f->codes && !buf)
		return VDB_ENOMEM;
	vdb_knn *s;
	vdb_status st = vdb_knn_new(&s, ix->metric, d, k, q, nq);
	if (!st)
		vdb_knn_allow(s, allow);
	for (size_t i0 = 0; !st && i0 < ix->count; i0 += tile) {
		size_t m = ix->count - i0 < tile ? ix->count - i0 : tile;
		st = vdb_knn_add(s, rows_at(f, K, i0, m, d, buf), f->norms ? f->norms + i0 : NULL, m,
		                 (int64_t)i0);
	}
	if (!st)
		st = vdb_knn_result(s, ids, dist);
	vdb_knn_free(s);
	free(buf);
	return st;
}

/* --refine: the candidates of the coded search, re-ranked per query. */
typedef struct {
	const vdb_index *ix;
	const float *q;
	const int64_t *cid;
	size_t k, kc;
	int64_t *ids;
	float *dist;
} rerank_job;

static void *rerank_ws(void *ctx)
{
	const rerank_job *j = ctx;
	return vdb_rerank_new(j->kc, j->ix->dim);
}

static void rerank_drop(void *ws)
{
	vdb_rerank_free(ws);
}

static void rerank_query(void *ctx, void *ws, size_t i)
{
	const rerank_job *j = ctx;
	const flat *f = j->ix->impl;
	uint32_t d = j->ix->dim;
	vdb_rerank_one(ws, j->ix->metric, j->q + i * d, f->vecs, d, j->cid + i * j->kc, j->kc, j->k,
	               j->ids + i * j->k, j->dist + i * j->k);
}

/* Search, or with allow (a row bitset) a filtered search: the rows not
 * allowed are passed over (for binary rows, whole blocks of them). */
static vdb_status search(const vdb_index *ix, const float *q, size_t nq, const vdb_search_opts *o,
                         const uint64_t *allow, int64_t *ids, float *dist)
{
	const flat *f = ix->impl;
	if (f->rows.kind == VDB_STORAGE_BINARY)
		return vdb_hamming_search((const unsigned char *)q, nq, f->codes, f->rows.size,
		                          f->rows.size, ix->count, allow, o->k, ids, dist);
	if (!f->refine)
		return scan(ix, f, q, nq, o->k, allow, ids, dist);
	size_t kc = o->k * f->refine;
	int64_t *cid = vdb_malloc(nq * kc * sizeof *cid, "candidates");
	float *cd = vdb_malloc(nq * kc * sizeof *cd, "candidates");
	vdb_status st = cid && cd ? scan(ix, f, q, nq, kc, allow, cid, cd)
	                : vdb_fail(VDB_ENOMEM, "out of memory for %zu refine candidates", nq * kc);
	if (!st) {
		rerank_job j = { ix, q, cid, o->k, kc, ids, dist };
		if (vdb_for_queries(nq, &j, rerank_ws, rerank_drop, rerank_query))
			st = vdb_fail(VDB_ENOMEM, "out of memory for the re-ranking of refine candidates");
	}
	free(cid);
	free(cd);
	return st;
}

static vdb_status flat_search(const vdb_index *ix, const float *q, size_t nq,
                              const vdb_search_opts *o, int64_t *ids, float *dist)
{
	return search(ix, q, nq, o, NULL, ids, dist);
}

/* A filter keeping few float rows: the kept rows gathered into exact
 * search cost less than the scan of every row (GATHER_SHARE). */
static vdb_status flat_search_allowed(const vdb_index *ix, const float *q, size_t nq,
                                      const vdb_search_opts *o, const uint64_t *allow,
                                      size_t n_allow, int64_t *ids, float *dist)
{
	const flat *f = ix->impl;
	double share = f->codes ? GATHER_SHARE_CODED : GATHER_SHARE;
	if (f->rows.kind != VDB_STORAGE_BINARY && (double)n_allow < share * (double)ix->count)
		return vdb_search_exact_allowed(ix, q, nq, o->k, allow, n_allow, ids, dist);
	return search(ix, q, nq, o, allow, ids, dist);
}

static void flat_rows(const vdb_index *ix, const int64_t *rows, size_t n, float *out)
{
	const flat *f = ix->impl;
	const vdb_kernels *K = vdb_kernels_get();
	uint32_t d = ix->dim;
	for (size_t i = 0; i < n; i++) {
		size_t r = (size_t)rows[i];
		/* the float32 rows when kept (refine): exact */
		if (f->vecs)
			memcpy(out + i * d, f->vecs + r * d, d * sizeof(float));
		else
			vdb_rows_decode(&f->rows, K, f->codes + r * f->rows.size, out + i * d);
	}
}

static void flat_info(const vdb_index *ix, json_t *obj)
{
	const flat *f = ix->impl;
	size_t bpv = f->rows.size + (f->codes && f->vecs ? (size_t)ix->dim * sizeof(float) : 0) +
	             (f->norms ? sizeof(float) : 0);
	json_object_set_new(obj, "bytes_per_vector", json_integer((json_int_t)bpv));
	if (f->codes && f->rows.kind != VDB_STORAGE_BINARY)
		json_object_set_new(obj, "refine", json_integer(f->refine));
	vdb_rows_info(&f->rows, obj);
}

static void flat_free(vdb_index *ix)
{
	flat *f = ix->impl;
	if (f) {
		free(f->own_norms);
		free(f->own_codes);
		vdb_rows_free(&f->rows);
	}
	free(f);
}

const struct vdb_index_ops vdb_flat_ops = {
	.name = "flat",
	.fourcc = VDB_FOURCC('F', 'L', 'A', 'T'),
	.metrics = VDB_BIT(VDB_METRIC_L2) | VDB_BIT(VDB_METRIC_IP) | VDB_BIT(VDB_METRIC_COSINE) |
	           VDB_BIT(VDB_METRIC_HAMMING),
	.storages = VDB_BIT(VDB_STORAGE_F32) | VDB_BIT(VDB_STORAGE_F16) | VDB_BIT(VDB_STORAGE_SQ8),
	.rows_are = "float32 vectors",
	.refine = VDB_REFINE_COMPRESSED,
	.build = flat_build,
	.append = flat_append,
	.compact = flat_compact,
	.save = flat_save,
	.open = flat_open,
	.verify = flat_verify,
	.search = flat_search,
	.search_allowed = flat_search_allowed,
	.rows = flat_rows,
	.info = flat_info,
	.free = flat_free,
	.range_scan = true,
};
