/*
 * index_flat.c — the flat index: every vector, searched exhaustively.
 *
 * It is the ground-truth engine of vdb (recall 1.0 by construction) and the
 * baseline every approximate index is measured against. Sections: VECS, the
 * count x dim float32 rows (normalised for cosine), searched with one sgemm
 * per tile (see knn.c). The
 * rows are used in place from the mapping: opening costs no load. NRM2
 * holds each row's squared norm (l2 and ip): the l2 ranking key needs it,
 * and both metrics need its maximum for the rounding bound of knn.c.
 */
#include "index_internal.h"
#include <string.h>

#define SEC_VECS VDB_FOURCC('V', 'E', 'C', 'S')
#define SEC_NRM2 VDB_FOURCC('N', 'R', 'M', '2')

typedef struct {
	const float *vecs;
	const float *norms;  /* l2 and ip */
	float *own_norms;
} flat;

static vdb_status compute_norms(flat *f, size_t n, uint32_t d)
{
	f->own_norms = vdb_malloc(n * sizeof(float), "norms");
	if (!f->own_norms)
		return VDB_ENOMEM;
	#pragma omp parallel for schedule(static)
	for (size_t j = 0; j < n; j++) {
		float acc = 0;
		for (size_t i = 0; i < d; i++)
			acc += f->vecs[j * d + i] * f->vecs[j * d + i];
		f->own_norms[j] = acc;
	}
	f->norms = f->own_norms;
	return VDB_OK;
}

static vdb_status flat_build(vdb_index *ix, vdb_vecs *data, const vdb_build_opts *o)
{
	(void)data, (void)o; /* index.c already moved data into ix->owned */
	flat *f = calloc(1, sizeof *f);
	if (!f)
		return vdb_fail(VDB_ENOMEM, "out of memory");
	ix->impl = f;
	f->vecs = ix->owned.data;
	if (ix->metric != VDB_METRIC_COSINE)
		return compute_norms(f, ix->count, ix->dim);
	return VDB_OK;
}

static vdb_status flat_append(vdb_index *ix, const vdb_index *base, vdb_vecs *data,
                              const vdb_build_opts *o)
{
	const flat *bf = base->impl;
	size_t nb = base->count * ix->dim, nn = data->n * ix->dim;
	float *all = vdb_malloc((nb + nn) * sizeof(float), "vectors");
	if (!all)
		return VDB_ENOMEM;
	memcpy(all, bf->vecs, nb * sizeof(float));
	memcpy(all + nb, data->data, nn * sizeof(float));
	ix->owned.data = all;
	ix->owned.n = ix->owned.cap = ix->count;
	return flat_build(ix, NULL, o);
}

static vdb_status flat_save(const vdb_index *ix, vdb_file_writer *w, vdb_header *h)
{
	const flat *f = ix->impl;
	h->storage = VDB_STORAGE_F32;
	vdb_status s = vdb_file_write_section(w, SEC_VECS, f->vecs,
	                                      ix->count * ix->dim * sizeof(float));
	if (!s && f->norms)
		s = vdb_file_write_section(w, SEC_NRM2, f->norms, ix->count * sizeof(float));
	return s;
}

static vdb_status flat_open(vdb_index *ix)
{
	const char *path = ix->file->path;
	VDB_RETURN_IF(ix->file->h.storage != VDB_STORAGE_F32, VDB_ECORRUPT,
	              "%s: flat index with storage type %u (expected f32)", path,
	              ix->file->h.storage);
	flat *f = calloc(1, sizeof *f);
	if (!f)
		return vdb_fail(VDB_ENOMEM, "out of memory");
	ix->impl = f;
	size_t len, want;
	f->vecs = vdb_file_section(ix->file, SEC_VECS, &len);
	VDB_RETURN_IF(!f->vecs, VDB_ECORRUPT, "%s: flat index without a VECS section", path);
	VDB_RETURN_IF(!vdb_mul_ok(ix->count, ix->dim, &want) || !vdb_mul_ok(want, 4, &want) ||
	              len != want, VDB_ECORRUPT,
	              "%s: VECS section is %zu bytes; %zu vectors of dimension %u need %zu",
	              path, len, ix->count, ix->dim, want);
	if (ix->metric != VDB_METRIC_COSINE) {
		f->norms = vdb_file_section(ix->file, SEC_NRM2, &len);
		VDB_RETURN_IF(!f->norms || len != ix->count * sizeof(float), VDB_ECORRUPT,
		              "%s: NRM2 section missing or of the wrong size", path);
	}
	return VDB_OK;
}

static vdb_status flat_verify(const vdb_index *ix)
{
	(void)ix; /* no structure beyond the checksummed rows */
	return VDB_OK;
}

static vdb_status flat_search(const vdb_index *ix, const float *q, size_t nq,
                              const vdb_search_opts *o, int64_t *ids, float *dist)
{
	const flat *f = ix->impl;
	vdb_knn *s;
	vdb_status st = vdb_knn_new(&s, ix->metric, ix->dim, o->k, q, nq);
	if (st)
		return st;
	st = vdb_knn_add(s, f->vecs, f->norms, ix->count, 0);
	if (!st)
		st = vdb_knn_result(s, ids, dist);
	vdb_knn_free(s);
	return st;
}

static void flat_info(const vdb_index *ix, json_t *obj)
{
	const flat *f = ix->impl;
	size_t bpv = (size_t)ix->dim * sizeof(float) + (f->norms ? sizeof(float) : 0);
	json_object_set_new(obj, "bytes_per_vector", json_integer((json_int_t)bpv));
}

static void flat_free(vdb_index *ix)
{
	flat *f = ix->impl;
	if (f)
		free(f->own_norms);
	free(f);
}

const struct vdb_index_ops vdb_flat_ops = {
	.name = "flat",
	.fourcc = VDB_FOURCC('F', 'L', 'A', 'T'),
	.build = flat_build,
	.append = flat_append,
	.save = flat_save,
	.open = flat_open,
	.verify = flat_verify,
	.search = flat_search,
	.info = flat_info,
	.free = flat_free,
};
