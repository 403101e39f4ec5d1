/*
 * index_ivf.c — inverted-file indexes: "ivf" (IVF-Flat), and the lists
 * "ivfpq" (IVF-PQ, index_ivfpq.c: its codes) shares with it, as in FAISS's
 * IndexIVFFlat and IndexIVFPQ.
 *
 * k-means (kmeans.c) cuts the space into nlist cells; each vector is filed
 * in the list of its nearest centroid, and a query scans only the nprobe
 * lists whose centroids are nearest to it. Lists are contiguous: rows are
 * stored in list order, with the original row number of each position.
 *
 * ivf keeps full vectors. Its scan ranks rows with the SIMD kernel and
 * keeps only those within the kernel's proven rounding bound of the k-th
 * best, whose distance it then computes exactly, in double, as exact
 * search does: with nprobe = nlist the answer is exactly the flat index's.
 *
 * ivfpq keeps m bytes per vector: the product-quantized residual (vector
 * minus its centroid). Distances are sums of table lookups (asymmetric: the
 * query is not quantized); l2 needs a table per probed list, ip and cosine
 * one per query plus <q, centroid>. With --refine R the file also keeps the
 * vectors, and the R*k best by code are re-ranked exactly.
 *
 * Sections: IVCE centroids (nlist x dim f32), IVOF list offsets
 * (u64[nlist+1], positions), IVRW row number of each position (u32),
 * IVVE vectors in list order (ivf; ivfpq with refine), PQCB codebooks
 * (m x 256 x dim/m f32) and PQCO codes (count x m bytes) for ivfpq.
 * Header params: nlist, pq_m, refine, the largest |x|^2 and, for ivfpq, the
 * mean squared error of the build's vectors against their list centroid and
 * against its reconstruction by code (doubles, as bits).
 */

#include "ivf.h"
#include "filter_plan.h"
#include "random.h"
#include "rows.h"
#include <math.h>
#include <omp.h>
#include <string.h>


static uint32_t default_nlist(size_t n)
{
	double v = 4 * sqrt((double)n);
	size_t l = (size_t)(v + 0.5);
	return (uint32_t)(l < 1 ? 1 : l > n ? n : l > MAX_NLIST ? MAX_NLIST : l);
}

/* nlist: lists (0: default_nlist; the range is checked by vdb_build_opts_check) */
const struct vdb_index_param vdb_ivf_nlist_param = {
	.name = "nlist", .option = "--nlist", .what = "lists (default about 4*sqrt(count))",
	.min = 1, .max = MAX_NLIST,
};
static const struct vdb_index_param *const params[] = { &vdb_ivf_nlist_param, NULL };

/* File the rows of x in the lists of their nearest centroids: offsets and
 * the row of each position (stable: rows keep their order in a list). */
static vdb_status fill_lists(ivf *f, const float *x, size_t n, uint32_t d)
{
	uint32_t *asg = vdb_malloc(n * sizeof *asg, "list assignments");
	f->own_off = calloc((size_t)f->nlist + 1, sizeof *f->own_off);
	f->own_row = vdb_malloc(n * sizeof *f->own_row, "list rows");
	if (!asg || !f->own_off || !f->own_row) {
		free(asg);
		return vdb_fail(VDB_ENOMEM, "out of memory for the lists of %zu vectors", n);
	}
	vdb_status st = vdb_nearest(f->own_cent, f->nlist, x, n, d, asg, NULL);
	if (!st) {
		uint64_t *off = f->own_off;
		for (size_t i = 0; i < n; i++)
			off[asg[i] + 1]++;
		for (uint32_t l = 0; l < f->nlist; l++)
			off[l + 1] += off[l];
		for (size_t i = 0; i < n; i++)
			f->own_row[off[asg[i]]++] = (uint32_t)i;
		for (uint32_t l = f->nlist; l > 0; l--)
			off[l] = off[l - 1];
		off[0] = 0;
		f->off = off;
		f->row = f->own_row;
	}
	free(asg);
	return st;
}

/* Residuals (row minus its list's centroid) of list positions [p0, p0+np). */
void vdb_ivf_residuals(const ivf *f, const float *x, uint32_t d, size_t p0, size_t np,
                       const uint32_t *list_of, float *out)
{
	#pragma omp parallel for schedule(static)
	for (size_t i = 0; i < np; i++) {
		const float *v = x + (size_t)f->row[p0 + i] * d;
		const float *c = f->cent + (size_t)list_of[p0 + i] * d;
		for (uint32_t j = 0; j < d; j++)
			out[i * d + j] = v[j] - c[j];
	}
}

/* The inputs are finite, but their differences and squares need not be:
 * values near the float range overflow ivfpq's residuals (so its codebooks)
 * or its l2 tables. Such a build is refused, rather than written as a file
 * that opening or --verify would refuse. */
static vdb_status check_trained(const ivf *f, uint32_t d)
{
	size_t nc = (size_t)f->nlist * d, n = f->pq ? (size_t)VDB_PQ_KSUB * d : 0;
	size_t per = f->pq ? (size_t)f->pq_q.m * VDB_PQ_KSUB : 0;
	bool ok = true;
	for (size_t i = 0; ok && i < nc; i++)
		ok = isfinite(f->cent[i]);
	for (size_t i = 0; ok && i < n; i++)
		ok = isfinite(f->pq_q.cb[i]);
	for (size_t i = 0; ok && f->ptab && i < f->nlist * per; i++)
		ok = !isnan(f->ptab[i]);
	VDB_RETURN_IF(!ok, VDB_EFORMAT, "the input's values are too large for %s: its %s overflow "
	              "float32 (scale the vectors down)", f->pq ? "ivfpq" : "ivf",
	              f->pq ? "residuals or distance tables" : "centroids");
	return VDB_OK;
}

vdb_status vdb_ivf_build(vdb_index *ix, vdb_vecs *data, const vdb_build_opts *o,
                         const struct ivf_codec *codec)
{
	ivf *f = calloc(1, sizeof *f);
	if (!f)
		return vdb_fail(VDB_ENOMEM, "out of memory");
	ix->impl = f;
	size_t n = ix->count;
	uint32_t d = ix->dim;
	const float *x = data->data;
	bool pq = codec != NULL;
	f->pq = pq;
	f->codec = codec;
	f->refine = pq ? o->refine : 0;
	f->nlist = vdb_param_value(o, &vdb_ivf_nlist_param);
	if (!f->nlist)
		f->nlist = default_nlist(n);
	VDB_RETURN_IF(f->nlist > n, VDB_EINVAL,
	              "--nlist %u needs at least as many vectors (there are %zu)", f->nlist, n);
	f->own_cent = vdb_malloc((size_t)f->nlist * d * sizeof(float), "centroids");
	if (!f->own_cent)
		return VDB_ENOMEM;
	f->cent = f->own_cent;
	vdb_status st =
		vdb_kmeans(x, n, d, f->nlist, COARSE_ITERS, ix->seed, "nlist", f->own_cent);
	if (!st)
		st = fill_lists(f, x, n, d);
	if (!st && pq)
		st = codec->train(ix, f, x, o);
	if (!st)
		st = check_trained(f, d);
	if (st)
		return st;
	f->xmax = vdb_max_norm2(x, n, d, 0);
	if (!pq || f->refine) {
		f->own_vecs = vdb_malloc(n * d * sizeof(float), "vectors");
		if (!f->own_vecs)
			return VDB_ENOMEM;
		#pragma omp parallel for schedule(static)
		for (size_t p = 0; p < n; p++)
			memcpy(f->own_vecs + p * d, x + (size_t)f->row[p] * d, d * sizeof(float));
		f->vecs = f->own_vecs;
	}
	/* the rows now live in list order (or as codes): free the input */
	free(data->data);
	data->data = NULL;
	data->cap = 0;
	return VDB_OK;
}

static vdb_status ivf_build(vdb_index *ix, vdb_vecs *data, const vdb_build_opts *o)
{
	return vdb_ivf_build(ix, data, o, NULL);
}

/* Add rows to base's lists: each new row joins the list of its nearest
 * centroid (the centroids and codebooks stay base's), lists stay contiguous
 * and in row order. */
/* A new ivf for ix (n rows) with b's lists, centroids and codebooks, its
 * arrays allocated, list offsets zeroed: for an append or a compaction. */
static vdb_status ivf_like(vdb_index *ix, const ivf *b, ivf **out)
{
	ivf *f = calloc(1, sizeof *f);
	if (!f)
		return vdb_fail(VDB_ENOMEM, "out of memory");
	ix->impl = f;
	*out = f;
	size_t n = ix->count;
	uint32_t d = ix->dim, nl = b->nlist, m = b->pq ? b->pq_q.m : 0;
	f->pq = b->pq;
	f->codec = b->codec;
	f->refine = b->refine;
	f->nlist = nl;
	f->xmax = b->xmax;
	f->mse_cent = b->mse_cent; /* measured at build */
	f->mse_pq = b->mse_pq;
	f->own_cent = vdb_malloc((size_t)nl * d * sizeof(float), "centroids");
	f->own_off = calloc((size_t)nl + 1, sizeof *f->own_off);
	f->own_row = vdb_malloc((n ? n : 1) * sizeof *f->own_row, "list rows");
	if (b->vecs)
		f->own_vecs = vdb_malloc((n ? n : 1) * d * sizeof(float), "vectors");
	if (f->pq) {
		f->own_codes = vdb_malloc((n ? n : 1) * m, "pq codes");
		f->pq_q = (vdb_pq){ .d = d, .m = m, .dsub = b->pq_q.dsub, .ksub = b->pq_q.ksub };
		f->pq_q.cb = vdb_malloc((size_t)VDB_PQ_KSUB * d * sizeof(float), "pq codebooks");
	}
	if (!f->own_cent || !f->own_off || !f->own_row || (b->vecs && !f->own_vecs) ||
	    (f->pq && (!f->own_codes || !f->pq_q.cb)))
		return vdb_fail(VDB_ENOMEM, "out of memory for an index of %zu vectors", n);
	memcpy(f->own_cent, b->cent, (size_t)nl * d * sizeof(float));
	f->cent = f->own_cent;
	if (f->pq)
		memcpy(f->pq_q.cb, b->pq_q.cb, (size_t)VDB_PQ_KSUB * d * sizeof(float));
	f->off = f->own_off;
	f->row = f->own_row;
	f->vecs = f->own_vecs;
	f->codes = f->own_codes;
	return VDB_OK;
}

/* The lists are filled: the tables ivfpq derives from the codebooks. */
static vdb_status ivf_finish(vdb_index *ix, ivf *f)
{
	vdb_status st = VDB_OK;
	if (f->codec)
		st = f->codec->tables(f, ix->metric, ix->dim);
	return st ? st : check_trained(f, ix->dim);
}

vdb_status vdb_ivf_append(vdb_index *ix, const vdb_index *base, vdb_vecs *data,
                          const vdb_build_opts *o)
{
	(void)o;
	const ivf *b = base->impl;
	ivf *f;
	vdb_status st = ivf_like(ix, b, &f);
	if (st)
		return st;
	size_t nb = base->count, na = data->n;
	uint32_t d = ix->dim, nl = b->nlist, m = b->pq ? b->pq_q.m : 0;
	uint32_t *asg = vdb_malloc((na ? na : 1) * sizeof *asg, "list assignments");
	size_t *fill = vdb_malloc(((size_t)nl + 1) * sizeof *fill, "lists");
	if (!asg || !fill) {
		st = VDB_ENOMEM;
		goto out;
	}
	if ((st = vdb_nearest(f->cent, nl, data->data, na, d, asg, NULL)))
		goto out;
	/* list sizes: base's plus the new rows', then offsets */
	uint64_t *off = f->own_off;
	for (uint32_t l = 0; l < nl; l++)
		off[l + 1] = b->off[l + 1] - b->off[l];
	for (size_t j = 0; j < na; j++)
		off[asg[j] + 1]++;
	for (uint32_t l = 0; l < nl; l++)
		off[l + 1] += off[l];
	/* base's positions first in each list, then the new rows in order */
	for (uint32_t l = 0; l < nl; l++) {
		size_t len = b->off[l + 1] - b->off[l], p0 = off[l], q0 = b->off[l];
		memcpy(f->own_row + p0, b->row + q0, len * sizeof *f->own_row);
		if (f->own_vecs)
			memcpy(f->own_vecs + p0 * d, b->vecs + q0 * d, len * d * sizeof(float));
		if (f->pq)
			memcpy(f->own_codes + p0 * m, b->codes + q0 * m, len * m);
		fill[l] = p0 + len;
	}
	float *res = NULL;
	uint8_t *codes = NULL;
	if (f->pq) {
		res = vdb_malloc(na * d * sizeof(float), "residuals");
		codes = vdb_malloc(na * m, "pq codes");
		if (!res || !codes) {
			free(res);
			free(codes);
			st = VDB_ENOMEM;
			goto out;
		}
		for (size_t j = 0; j < na; j++)
			for (uint32_t i = 0; i < d; i++)
				res[j * d + i] = data->data[j * d + i] - f->cent[(size_t)asg[j] * d + i];
		st = vdb_pq_encode(&f->pq_q, res, na, codes);
	}
	for (size_t j = 0; !st && j < na; j++) {
		size_t p = fill[asg[j]]++;
		f->own_row[p] = (uint32_t)(nb + j);
		if (f->own_vecs)
			memcpy(f->own_vecs + p * d, data->data + j * d, d * sizeof(float));
		if (f->pq)
			memcpy(f->own_codes + p * m, codes + j * m, m);
	}
	free(res);
	free(codes);
	f->xmax = vdb_max_norm2(data->data, na, d, b->xmax);
	if (!st)
		st = ivf_finish(ix, f);
out:
	free(asg);
	free(fill);
	return st;
}

/* Each list keeps its kept rows in their order, renumbered; the centroids
 * and codebooks stay (the lists were cut from more data, and the largest
 * |x|^2 only bounds rounding, so the old one still holds). */
vdb_status vdb_ivf_compact(vdb_index *ix, const vdb_index *base, const int64_t *keep,
                              const vdb_build_opts *o)
{
	(void)o;
	const ivf *b = base->impl;
	ivf *f;
	vdb_status st = ivf_like(ix, b, &f);
	if (st)
		return st;
	uint32_t d = ix->dim, nl = b->nlist, m = b->pq ? b->pq_q.m : 0;
	int64_t *renum = vdb_malloc((base->count ? base->count : 1) * sizeof *renum, "row numbers");
	if (!renum)
		return VDB_ENOMEM;
	for (size_t i = 0; i < base->count; i++)
		renum[i] = -1;
	for (size_t i = 0; i < ix->count; i++)
		renum[keep[i]] = (int64_t)i;
	size_t p = 0, bad = 0;
	for (uint32_t l = 0; l < nl; l++) {
		for (uint64_t q = b->off[l]; q < b->off[l + 1]; q++) {
			int64_t r = b->row[q] < base->count ? renum[b->row[q]] : -1;
			bad += b->row[q] >= base->count;
			if (r < 0 || p == ix->count)
				continue;
			f->own_row[p] = (uint32_t)r;
			if (f->own_vecs)
				memcpy(f->own_vecs + p * d, b->vecs + q * d, d * sizeof(float));
			if (f->pq)
				memcpy(f->own_codes + p * m, b->codes + q * m, m);
			p++;
		}
		f->own_off[l + 1] = p;
	}
	free(renum);
	VDB_RETURN_IF(bad || p != ix->count, VDB_ECORRUPT, "%s: inverted lists do not hold each "
	              "row once (--verify)", base->file ? base->file->path : "index");
	return ivf_finish(ix, f);
}

vdb_status vdb_ivf_save(const vdb_index *ix, vdb_file_writer *w, vdb_header *h)
{
	const ivf *f = ix->impl;
	size_t n = ix->count, d = ix->dim;
	h->storage = f->pq ? VDB_STORAGE_PQ : VDB_STORAGE_F32;
	h->params[P_NLIST] = f->nlist;
	h->params[P_PQM] = f->pq ? f->pq_q.m : 0;
	h->params[P_REFINE] = f->refine;
	memcpy(&h->params[P_XMAX], &f->xmax, sizeof f->xmax);
	memcpy(&h->params[P_MSE_CENT], &f->mse_cent, sizeof f->mse_cent);
	memcpy(&h->params[P_MSE_PQ], &f->mse_pq, sizeof f->mse_pq);
	h->params[P_PQBITS] = f->pq && f->pq_q.ksub ? 4 : 0;
	vdb_status s = vdb_file_write_section(w, SEC_IVCE, f->cent, f->nlist * d * sizeof(float));
	if (!s)
		s = vdb_file_write_section(w, SEC_IVOF, f->off, ((size_t)f->nlist + 1) * sizeof *f->off);
	if (!s)
		s = vdb_file_write_section(w, SEC_IVRW, f->row, n * sizeof *f->row);
	if (!s && f->vecs)
		s = vdb_file_write_section(w, SEC_IVVE, f->vecs, n * d * sizeof(float));
	if (!s && f->pq)
		s = vdb_file_write_section(w, SEC_PQCB, f->pq_q.cb,
		                           (size_t)f->pq_q.m * VDB_PQ_KSUB * f->pq_q.dsub * sizeof(float));
	if (!s && f->pq)
		s = vdb_file_write_section(w, SEC_PQCO, f->codes, n * f->pq_q.m);
	if (!s && f->ptab)
		s = vdb_file_write_section(w, SEC_PQPL, f->ptab,
		                           (size_t)f->nlist * f->pq_q.m * VDB_PQ_KSUB * sizeof(float));
	return s;
}

/* Section kind of the mapping, of exactly want bytes. */
static const void *section(const vdb_index *ix, uint32_t kind, size_t want, const char *name,
                           vdb_status *st)
{
	size_t len;
	const void *p = vdb_file_section(ix->file, kind, &len);
	if (*st)
		return NULL;
	if (!p)
		*st = vdb_fail(VDB_ECORRUPT, "%s: %s index without its %s section", ix->file->path,
		               ix->ops->name, name);
	else if (len != want)
		*st = vdb_fail(VDB_ECORRUPT, "%s: %s section is %zu bytes; expected %zu",
		               ix->file->path, name, len, want);
	return *st ? NULL : p;
}

vdb_status vdb_ivf_open(vdb_index *ix, const struct ivf_codec *codec)
{
	const vdb_file *file = ix->file;
	const char *path = file->path;
	const uint64_t *p = file->h.params;
	bool pq = codec != NULL;
	size_t n = ix->count, d = ix->dim;
	VDB_RETURN_IF(file->h.storage != (pq ? VDB_STORAGE_PQ : VDB_STORAGE_F32), VDB_ECORRUPT,
	              "%s: %s index with storage type %u", path, ix->ops->name, file->h.storage);
	VDB_RETURN_IF(p[P_NLIST] < 1 || p[P_NLIST] > MAX_NLIST || p[P_NLIST] > n ||
	              (pq && (p[P_PQM] < 1 || p[P_PQM] > d || d % p[P_PQM] ||
	                      p[P_REFINE] > VDB_MAX_REFINE || (p[P_PQBITS] && p[P_PQBITS] != 4))) ||
	              (!pq && (p[P_PQM] || p[P_REFINE] || p[P_PQBITS])), VDB_ECORRUPT,
	              "%s: IVF parameters out of range (nlist %llu, pq_m %llu, refine %llu)", path,
	              (unsigned long long)p[P_NLIST], (unsigned long long)p[P_PQM],
	              (unsigned long long)p[P_REFINE]);
	ivf *f = calloc(1, sizeof *f);
	if (!f)
		return vdb_fail(VDB_ENOMEM, "out of memory");
	ix->impl = f;
	f->pq = pq;
	f->codec = codec;
	f->nlist = (uint32_t)p[P_NLIST];
	f->refine = (unsigned)p[P_REFINE];
	memcpy(&f->xmax, &p[P_XMAX], sizeof f->xmax);
	memcpy(&f->mse_cent, &p[P_MSE_CENT], sizeof f->mse_cent);
	memcpy(&f->mse_pq, &p[P_MSE_PQ], sizeof f->mse_pq);
	VDB_RETURN_IF(!(f->xmax >= 0) || isinf(f->xmax), VDB_ECORRUPT,
	              "%s: IVF norm bound is not a finite number", path);
	vdb_status st = VDB_OK;
	f->cent = section(ix, SEC_IVCE, f->nlist * d * sizeof(float), "IVCE", &st);
	f->off = section(ix, SEC_IVOF, ((size_t)f->nlist + 1) * sizeof(uint64_t), "IVOF", &st);
	f->row = section(ix, SEC_IVRW, n * sizeof(uint32_t), "IVRW", &st);
	if (!pq || f->refine)
		f->vecs = section(ix, SEC_IVVE, n * d * sizeof(float), "IVVE", &st);
	if (pq && f->vecs) { /* ivfpq reads the rows only to re-rank; ivf scans them */
		ix->rerank_rows = f->vecs;
		ix->rerank_len = n * d * sizeof(float);
	}
	if (pq) {
		uint32_t m = (uint32_t)p[P_PQM];
		f->pq_q = (vdb_pq){ .d = (uint32_t)d, .m = m, .dsub = (uint32_t)d / m, .borrowed = 1,
		                    .ksub = p[P_PQBITS] ? VDB_PQ4_KSUB : 0 };
		f->pq_q.cb = (float *)section(ix, SEC_PQCB, (size_t)VDB_PQ_KSUB * d * sizeof(float),
		                              "PQCB", &st);
		f->codes = section(ix, SEC_PQCO, n * m, "PQCO", &st);
		size_t len;
		if (!st && !f->pq_q.ksub && vdb_file_section(ix->file, SEC_PQPL, &len))
			f->ptab = section(ix, SEC_PQPL, (size_t)f->nlist * m * VDB_PQ_KSUB * sizeof(float),
			                  "PQPL", &st);
		if (!st)
			st = vdb_pq_prepare(&f->pq_q);
	}
	if (st)
		return st;
	/* the scan trusts the offsets: check them now (nlist + 1 reads) */
	bool ok = f->off[0] == 0 && f->off[f->nlist] == n;
	for (uint32_t l = 0; ok && l < f->nlist; l++)
		ok = f->off[l] <= f->off[l + 1];
	VDB_RETURN_IF(!ok, VDB_ECORRUPT, "%s: IVOF list offsets are not increasing from 0 to %zu",
	              path, n);
	/* every query reads all the centroids and codebooks: a NaN there
	 * would rank lists or codes as distance 0 (nlist x dim and 256 x dim
	 * values, what choosing the lists of one query reads) */
	st = vdb_check_finite(f->cent, f->nlist, d, path, "IVCE");
	if (!st && pq)
		st = vdb_check_finite(f->pq_q.cb, VDB_PQ_KSUB, d, path, "PQCB");
	if (st)
		return st;
	/* a search returns the rows of IVRW as ids, unchecked: one beyond the
	 * count would be printed as a record. A pass over 4 bytes a row (the
	 * vectors alone are 4 x dim): one query of vdb-query on 1M rows (dim 4,
	 * nlist 64, nprobe 1) went from 2.8 to 3.8 ms of CPU with it */
	uint32_t bad = 0;
	for (size_t pos = 0; pos < n; pos++)
		bad |= f->row[pos] >= n;
	if (bad) {
		size_t pos = 0;
		while (f->row[pos] < n)
			pos++;
		return vdb_fail(VDB_ECORRUPT, "%s: IVRW position %zu holds row %u, beyond the %zu rows",
		                path, pos, f->row[pos], n);
	}
	/* 4-bit codes: their packed copy and tables are made here, from the
	 * checked lists, never read from the file */
	if (pq && f->pq_q.ksub)
		return codec->tables(f, ix->metric, (uint32_t)d);
	return VDB_OK;
}

static vdb_status ivf_open(vdb_index *ix)
{
	return vdb_ivf_open(ix, NULL);
}

/* IVRW a permutation of the rows (opening checked the range; a row listed
 * twice would be returned twice, and another never), then the values:
 * vectors finite, PQPL's tables never NaN (they are derived from finite
 * centroids and codebooks, which opening checked; a sum of values near the
 * float range may be infinite). */
vdb_status vdb_ivf_verify(const vdb_index *ix)
{
	const ivf *f = ix->impl;
	size_t n = ix->count;
	const char *path = ix->file ? ix->file->path : "index";
	vdb_status st = f->vecs ? vdb_check_finite(f->vecs, n, ix->dim, path, "IVVE") : VDB_OK;
	size_t per = f->pq ? (size_t)f->pq_q.m * VDB_PQ_KSUB : 0;
	for (size_t i = 0; !st && f->ptab && i < f->nlist * per; i++)
		VDB_RETURN_IF(isnan(f->ptab[i]), VDB_ECORRUPT, "%s: PQPL: list %zu, value %zu is NaN",
		              path, i / per, i % per);
	if (st)
		return st;
	unsigned char *seen = calloc(n ? n : 1, 1);
	if (!seen)
		return vdb_fail(VDB_ENOMEM, "out of memory");
	size_t bad = n;
	for (size_t p = 0; p < n && bad == n; p++) {
		if (f->row[p] >= n || seen[f->row[p]])
			bad = p;
		else
			seen[f->row[p]] = 1;
	}
	free(seen);
	VDB_RETURN_IF(bad < n, VDB_ECORRUPT,
	              "%s: IVRW position %zu holds row %u: not a permutation of the %zu rows",
	              path, bad, f->row[bad], n);
	return VDB_OK;
}


/* ===== Search ===== */

static void ws_free(ivf_ws *w)
{
	if (!w)
		return;
	free(w->q), free(w->r), free(w->table);
	free(w->pd), free(w->hd), free(w->cd), free(w->pi), free(w->hi), free(w->ci);
	free(w->keys), free(w->top);
	free(w);
}

static ivf_ws *ws_new(const ivf *f, uint32_t d, size_t nprobe, size_t k, size_t cand)
{
	ivf_ws *w = calloc(1, sizeof *w);
	if (!w)
		return NULL;
	w->q = malloc(d * sizeof(float));
	w->r = malloc(d * sizeof(float));
	w->table = malloc(f->pq ? f->codec->scratch(f, cand > k ? cand : k) : 1);
	w->pd = malloc(nprobe * sizeof(double));
	w->pi = malloc(nprobe * sizeof(int64_t));
	w->hd = malloc(k * sizeof(double));
	w->hi = malloc(k * sizeof(int64_t));
	w->cd = malloc(cand * sizeof(double));
	w->ci = malloc(cand * sizeof(int64_t));
	size_t nk = f->nlist > IVF_SCAN_BLOCK ? f->nlist : IVF_SCAN_BLOCK;
	size_t ns = nprobe > k ? nprobe : k;
	w->keys = malloc(nk * sizeof(float));
	w->top = malloc(ns * sizeof(float));
	if (!w->q || !w->r || !w->table || !w->pd || !w->pi || !w->hd || !w->hi || !w->cd ||
	    !w->ci || !w->keys || !w->top) {
		ws_free(w);
		return NULL;
	}
	return w;
}

/* What a filtered query's probed lists held: rows, and of them allowed;
 * how many lists, and a mark of which (a sum of their numbers mixed: the
 * same for the same set in any order). */
typedef struct {
	size_t rows, kept, lists;
	uint64_t mark;
} ivf_seen;

/* What lists probe[0 .. nl) (a -1 ends them early) held: their rows, and
 * kept of them allowed. */
static ivf_seen lists_held(const ivf *f, const int64_t *probe, size_t nl, size_t kept)
{
	ivf_seen s = { 0, kept, 0, 0 };
	for (; s.lists < nl && probe[s.lists] >= 0; s.lists++) {
		uint64_t l = (uint64_t)probe[s.lists];
		s.rows += f->off[l + 1] - f->off[l];
		s.mark += vdb_splitmix64_at(0, l); /* (list l's mixed number) */
	}
	return s;
}

/* A widened query's earlier pass (widen): its k best (list positions, -1:
 * none) and what its lists held. */
typedef struct {
	int64_t *seed;
	const ivf_seen *seen;
} ivf_prior;

/* A widened query's lists probe[0 .. nl) (nearest first; a -1 ends them
 * early), with p its earlier pass (or NULL), and seed its k best then: when
 * the lists begin with the earlier ones (the nearest lists nest), those are
 * dropped (the others move up, -1 after) and the seed kept, else the seed
 * is cleared (-1: searched from scratch). Returns what all nl lists held,
 * kept counting the earlier lists' allowed rows when they are dropped;
 * *left: the lists left to scan. */
static ivf_seen skip_scanned(const ivf *f, const ivf_seen *p, int64_t *seed, size_t k,
                             int64_t *probe, size_t nl, size_t *left)
{
	ivf_seen all = lists_held(f, probe, nl, 0);
	*left = all.lists;
	if (!p)
		return all;
	ivf_seen first = lists_held(f, probe, p->lists, 0);
	if (p->lists && first.lists == p->lists && first.mark == p->mark && first.rows == p->rows) {
		memmove(probe, probe + p->lists, (all.lists - p->lists) * sizeof *probe);
		for (size_t a = all.lists - p->lists; a < nl; a++)
			probe[a] = -1;
		all.kept = p->kept;
		*left = all.lists - p->lists;
	} else {
		for (size_t e = 0; e < k; e++)
			seed[e] = -1;
	}
	return all;
}

/* Rows of the candidates prefetched ahead of their exact distances: the
 * re-rank reads k x refine rows at random, and waited on each in turn. */
#define REFINE_AHEAD 8

static void prefetch_row(const float *x, uint32_t d)
{
	for (size_t b = 0; b < (size_t)d * sizeof(float); b += 64)
		__builtin_prefetch((const char *)x + b);
}

/* ivfpq --refine: the candidates c (ids: positions) ranked exactly into h.
 * Best by code first, behind the float filter of exact search (topk.h):
 * once h is full, a row whose float key cannot enter it gets no exact
 * distance. The same answer as every candidate's exact distance pushed. */
static void refine(const ivf *f, vdb_metric m, uint32_t d, const float *q, vdb_topk *c,
                   vdb_topk *h)
{
	topk_sort(c);
	vdb_exact_filter ef;
	vdb_exact_filter_init(&ef, m, q, d, f->xmax);
	for (uint32_t e = 0; e < c->n && e < REFINE_AHEAD; e++)
		prefetch_row(f->vecs + (size_t)c->id[e] * d, d);
	for (uint32_t e = 0; e < c->n; e++) {
		if (e + REFINE_AHEAD < c->n)
			prefetch_row(f->vecs + (size_t)c->id[e + REFINE_AHEAD] * d, d);
		size_t p = (size_t)c->id[e];
		vdb_exact_filter_push(&ef, h, f->vecs + p * d, f->row[p]);
	}
}

/* probe/pdist: the query's lists and their Euclidean distances, when a
 * batch chose them together (NULL: choose here); *seen (when not NULL):
 * what those lists held. */
static void search_one(const vdb_index *ix, const ivf *f, ivf_ws *const *ws, int threads,
                       const float *query, size_t k, size_t nprobe, const int64_t *probe,
                       const float *pdist, const uint64_t *allow, const ivf_seen *prior,
                       int64_t *seed, int64_t *ids, float *dist, ivf_seen *seen)
{
	ivf_ws *w = ws[0];
	uint32_t d = ix->dim;
	vdb_metric m = ix->metric;
	memcpy(w->q, query, d * sizeof(float));
	if (m == VDB_METRIC_COSINE)
		vdb_normalize(w->q, d);
	size_t nl = 0;
	if (probe) {
		for (; nl < nprobe && probe[nl] >= 0; nl++) {
			w->pi[nl] = probe[nl];
			w->pd[nl] = (double)pdist[nl] * pdist[nl];
		}
	} else {
		nl = vdb_ivf_probe(f, d, w, nprobe, threads);
	}
	vdb_topk h = { w->hd, w->hi, 0, (uint32_t)k };
	/* (a widened query's lists scanned before: dropped, its seed ranked instead) */
	ivf_seen all = skip_scanned(f, prior, seed, k, w->pi, nl, &nl);
	size_t kept; /* (with allow: the allowed rows the lists held) */
	if (!f->pq) {
		kept = vdb_ivf_scan(f, m, d, ws, threads, nl, allow, prior ? seed : NULL, &h);
	} else if (f->refine) {
		vdb_topk c = { w->cd, w->ci, 0, (uint32_t)(k * f->refine) };
		kept = f->codec->scan(f, m, d, w, nl, allow, &c, true);
		refine(f, m, d, w->q, &c, &h);
	} else {
		kept = f->codec->scan(f, m, d, w, nl, allow, &h, false);
		if (m == VDB_METRIC_COSINE) /* keys are -dot: the distance is 1 - dot */
			for (uint32_t e = 0; e < h.n; e++)
				h.dist[e] += 1;
	}
	vdb_topk_emit(&h, m, k, ids, dist);
	all.kept += kept;
	if (seen)
		*seen = all;
}


/* What every thread of a search shares. */
typedef struct {
	const vdb_index *ix;
	const float *q;
	size_t k, nprobe, cand;
	const int64_t *probe;
	const float *pdist;
	const uint64_t *allow;
	const ivf_prior *prior; /* (or NULL) */
	int64_t *ids;
	float *dist;
	ivf_seen *seen; /* a count a query, or NULL */
} ivf_job;

static void *job_ws(void *ctx)
{
	const ivf_job *j = ctx;
	return ws_new(j->ix->impl, j->ix->dim, j->nprobe, j->k, j->cand);
}

static void job_free(void *w)
{
	ws_free(w);
}

static void job_query(void *ctx, void *w, size_t i)
{
	const ivf_job *j = ctx;
	size_t np = j->nprobe;
	search_one(j->ix, j->ix->impl, (ivf_ws *const *)&w, 1, j->q + i * j->ix->dim, j->k, np,
	           j->probe ? j->probe + i * np : NULL, j->pdist ? j->pdist + i * np : NULL,
	           j->allow, j->prior ? j->prior->seen + i : NULL,
	           j->prior ? j->prior->seed + i * j->k : NULL, j->ids + i * j->k,
	           j->dist + i * j->k, j->seen ? j->seen + i : NULL);
}

/* The nprobe lists of each of nq queries (as search_one chooses them, by
 * exact distance), with one exact k-NN over the centroids (sgemm), as
 * FAISS's coarse quantizer does: with few lists probed, choosing them is
 * most of a query's work. q: unit rows for cosine. */
static vdb_status choose_lists(const vdb_index *ix, const float *q, size_t nq, size_t nprobe,
                               int64_t *probe, float *pdist)
{
	const ivf *f = ix->impl;
	vdb_knn *s = NULL;
	vdb_status st = vdb_knn_new(&s, VDB_METRIC_L2, ix->dim, nprobe, q, nq);
	if (!st)
		st = vdb_knn_add(s, f->cent, NULL, f->nlist, 0);
	if (!st)
		st = vdb_knn_result(s, probe, pdist);
	vdb_knn_free(s);
	return st;
}

/* Whether a batch of nq queries chooses its lists together (choose_lists) ... */
static bool lists_by_sgemm(const ivf *f, size_t d, size_t nq, size_t nprobe)
{
	return nq >= 32 && nprobe <= EXACT_PROBE && (size_t)f->nlist * d >= IVF_BATCH_MIN;
}

/* ... and then reads them list by list (float32 lists; its threads' heaps
 * for IVF_BATCH_LISTS queries within IVF_GROUP_HEAPS). */
static bool scans_by_list(const ivf *f, size_t k, int threads)
{
	return !f->pq && (size_t)threads * IVF_BATCH_LISTS * (IVF_GROUP_QUERY + 16 * k) <=
	                         IVF_GROUP_HEAPS;
}

/* Fewer queries than threads, on ivf's float32 lists: one query at a
 * time, its centroids and its lists split across the threads. */
static vdb_status search_split(const vdb_index *ix, const float *q, size_t nq, size_t k,
                               size_t nprobe, int threads, const uint64_t *allow,
                               const ivf_prior *prior, int64_t *ids, float *dist,
                               ivf_seen *seen)
{
	ivf_ws **ws = calloc((size_t)threads, sizeof *ws);
	vdb_status st = ws ? VDB_OK : VDB_ENOMEM;
	for (int t = 0; !st && t < threads; t++)
		if (!(ws[t] = ws_new(ix->impl, ix->dim, nprobe, k, 1)))
			st = VDB_ENOMEM;
	for (size_t i = 0; !st && i < nq; i++)
		search_one(ix, ix->impl, ws, threads, q + i * ix->dim, k, nprobe, NULL, NULL, allow,
		           prior ? prior->seen + i : NULL, prior ? prior->seed + i * k : NULL,
		           ids + i * k, dist + i * k, seen ? seen + i : NULL);
	for (int t = 0; ws && t < threads; t++)
		ws_free(ws[t]);
	free(ws);
	return st;
}

/* Search, or with allow (a row bitset) a filtered search: the probed lists
 * admit only allowed rows, and seen (when not NULL) gets what each
 * query's lists held. prior (ivf's float32 lists, with seen; or NULL): the
 * queries' earlier passes, whose lists are not scanned again
 * (skip_scanned). */
static vdb_status search(const vdb_index *ix, const float *q, size_t nq, const vdb_search_opts *o,
                         const uint64_t *allow, const ivf_prior *prior, int64_t *ids,
                         float *dist, ivf_seen *seen)
{
	const ivf *f = ix->impl;
	size_t nprobe = vdb_knob_value(o, &vdb_ivf_nprobe_knob);
	if (!nprobe)
		nprobe = DEFAULT_NPROBE;
	if (nprobe > f->nlist)
		nprobe = f->nlist;
	size_t cand = f->pq && f->refine ? o->k * f->refine : 1;
	int threads = vdb_threads();
	vdb_status st = VDB_OK;
	if (!f->pq && threads > 1 && nq < (size_t)threads) {
		st = search_split(ix, q, nq, o->k, nprobe, threads, allow, prior, ids, dist, seen);
	} else {
		/* a few centroids are as fast one query at a time (the float
		 * kernel, then exact distances for the few near the cut); more are
		 * read once for many queries by sgemm (siftsmall's 400 x 128 took
		 * 27% less CPU that way at nprobe 1, 24% at nprobe 4) */
		bool batch = lists_by_sgemm(f, ix->dim, nq, nprobe);
		/* ... and then their lists are read list by list for all of them
		 * (vdb_ivf_scan_batch) */
		bool by_list = batch && scans_by_list(f, o->k, threads);
		bool cosine = ix->metric == VDB_METRIC_COSINE;
		size_t chunk = by_list ? IVF_BATCH_LISTS : batch ? IVF_BATCH : nq ? nq : 1, d = ix->dim;
		int64_t *probe = NULL;
		float *pdist = NULL, *qn = NULL;
		size_t *kept = NULL;
		if (batch) {
			probe = vdb_malloc(chunk * nprobe * sizeof *probe, "probed lists");
			pdist = vdb_malloc(chunk * nprobe * sizeof *pdist, "probed lists");
			if (cosine)
				qn = vdb_malloc(chunk * d * sizeof *qn, "queries");
			if (by_list && seen)
				kept = vdb_malloc(chunk * sizeof *kept, "kept counts");
			if (!probe || !pdist || (cosine && !qn) || (by_list && seen && !kept))
				st = VDB_ENOMEM;
		}
		for (size_t q0 = 0; !st && q0 < nq; q0 += chunk) {
			size_t c = nq - q0 < chunk ? nq - q0 : chunk;
			const float *qc = q + q0 * d;
			if (batch && cosine) {
				memcpy(qn, qc, c * d * sizeof *qn);
				for (size_t i = 0; i < c; i++)
					vdb_normalize(qn + i * d, (uint32_t)d);
				qc = qn;
			}
			if (batch && (st = choose_lists(ix, qc, c, nprobe, probe, pdist)))
				break;
			if (by_list) {
				int64_t *seed = prior ? prior->seed + q0 * o->k : NULL;
				for (size_t i = 0, left; seen && i < c; i++)
					seen[q0 + i] = skip_scanned(f, prior ? prior->seen + q0 + i : NULL,
					                            seed ? seed + i * o->k : NULL, o->k,
					                            probe + i * nprobe, nprobe, &left);
				st = vdb_ivf_scan_batch(f, ix->metric, (uint32_t)d, qc, c, probe, nprobe,
				                        o->k, threads, allow, seed, kept, ids + q0 * o->k,
				                        dist + q0 * o->k);
				for (size_t i = 0; seen && i < c; i++)
					seen[q0 + i].kept += kept[i];
				continue;
			}
			ivf_prior pc = { prior ? prior->seed + q0 * o->k : NULL,
			                 prior ? prior->seen + q0 : NULL };
			ivf_job j = { ix, q + q0 * d, o->k, nprobe, cand, probe, pdist, allow,
			              prior ? &pc : NULL, ids + q0 * o->k, dist + q0 * o->k,
			              seen ? seen + q0 : NULL };
			st = vdb_for_queries(c, &j, job_ws, job_free, job_query);
		}
		free(probe);
		free(pdist);
		free(qn);
		free(kept);
	}
	VDB_RETURN_IF(st, st, "out of memory for the search state (k %zu, nprobe %zu)", o->k,
	              nprobe);
	return VDB_OK;
}

vdb_status vdb_ivf_search(const vdb_index *ix, const float *q, size_t nq,
                             const vdb_search_opts *o, int64_t *ids, float *dist)
{
	return search(ix, q, nq, o, NULL, NULL, ids, dist, NULL);
}

static const uint32_t *positions(const ivf *f, size_t n);

/* A filter thins the probed lists: a query whose nprobe lists held R rows
 * but fewer than R / 2 allowed ones (or than every allowed row, when
 * fewer pass) is searched again with more lists, as many as the share it
 * met says hold R allowed rows (rounded up to nprobe x 2^j, so that
 * queries share a count and are searched together), until they do or
 * every list is probed: its lists then cover about the region, and the
 * margin, that nprobe gives without a filter, and so about its recall (at
 * least half of it: the filters that keep half the rows or more, and
 * deleted rows, cost no second search). Measured with
 * the rows kept by share 0.1%..50% (recall@10, --filter-path index): on
 * 100k x 128 clustered (nlist 1,265), 0.90-1.00 at nprobe 1 (unfiltered
 * 0.93) and 1.00 at 16; on siftsmall (nlist 400), 0.78-1.00 at nprobe 2
 * (unfiltered 0.55) and 0.995-1.00 at 16 (0.92). A quarter of R gave
 * 0.48-0.92 at nprobe 1; re-probing only until k answers turned up, as
 * before, 0.24-0.52 at 16 with 0.1-2% kept: the first k allowed rows met
 * are not the nearest. A query searched again keeps its k best and its
 * counts: only the lists that are new are scanned (skip_scanned), into a
 * heap holding those k (exact and ranked as a scan ranks them: the same
 * answer); a third of the work of a filtered search at 1M x 128, nprobe 8,
 * half kept, went to scanning the first lists again. */
static vdb_status widen(const vdb_index *ix, const float *q, size_t nq, const vdb_search_opts *o,
                        const uint64_t *allow, size_t n_allow, const size_t *target,
                        ivf_seen *seen, size_t *np, int64_t *ids, float *dist)
{
	const ivf *f = ix->impl;
	const size_t k = o->k, d = ix->dim;
	/* sel: the queries short of target; plan[i]: the lists query i is
	 * to be searched with next (0: not chosen yet) */
	size_t *sel = vdb_malloc((nq ? nq : 1) * sizeof *sel, "widened queries"), cap = 0;
	size_t *plan = calloc(nq ? nq : 1, sizeof *plan);
	ivf_seen *sseen = NULL, *pseen = NULL;
	float *qs = NULL, *sdist = NULL;
	int64_t *sid = NULL, *pseed = NULL;
	/* ivf's float32 rows: the k best found so far are ranked again */
	const uint32_t *pos = f->pq ? NULL : positions(f, ix->count);
	vdb_status st = sel && plan ? VDB_OK : VDB_ENOMEM;
	while (!st) {
		size_t m = 0;
		for (size_t i = 0; i < nq; i++) {
			size_t kept = seen[i].kept;
			if (kept >= (target[i] + 1) / 2 || kept >= n_allow || np[i] >= f->nlist)
				continue;
			sel[m++] = i;
			if (plan[i])
				continue;
			/* the lists the share met says are needed; at least twice */
			double need = (double)np[i] * (double)target[i] / (double)(kept ? kept : 1);
			size_t v = np[i] * 2;
			while ((double)v < need && v < f->nlist)
				v *= 2;
			plan[i] = v < f->nlist ? v : f->nlist;
		}
		if (m == 0)
			break;
		if (!cap) { /* the first round has the most: sized once */
			if (o->widened)
				__atomic_add_fetch(o->widened, m, __ATOMIC_RELAXED);
			cap = m;
			sseen = vdb_malloc(m * sizeof *sseen, "widened queries");
			qs = vdb_malloc(m * d * sizeof *qs, "widened queries");
			sid = vdb_malloc(m * k * sizeof *sid, "widened queries");
			sdist = vdb_malloc(m * k * sizeof *sdist, "widened queries");
			pseen = vdb_malloc(m * sizeof *pseen, "widened queries");
			pseed = vdb_malloc(m * k * sizeof *pseed, "widened queries");
			if (!sseen || !qs || !sid || !sdist || !pseen || !pseed) {
				st = VDB_ENOMEM;
				break;
			}
		}
		/* those of the fewest lists, together; the others next round */
		size_t v = f->nlist, c = 0;
		for (size_t j = 0; j < m; j++)
			v = plan[sel[j]] < v ? plan[sel[j]] : v;
		for (size_t j = 0; j < m; j++) {
			size_t i = sel[j];
			if (plan[i] != v)
				continue;
			memcpy(qs + c * d, q + i * d, d * sizeof *qs);
			pseen[c] = seen[i];
			for (size_t e = 0; e < k; e++) {
				int64_t r = ids[i * k + e];
				pseed[c * k + e] = r >= 0 && pos && pos[r] != UINT32_MAX ? (int64_t)pos[r] : -1;
			}
			c++;
		}
		ivf_prior prior = { pseed, pseen };
		vdb_search_opts wider = *o;
		wider.widened = NULL;
		st = vdb_search_opts_set(&wider, vdb_ivf_nprobe_knob.pub.name, (unsigned)v);
		if (!st)
			st = search(ix, qs, c, &wider, allow, pos ? &prior : NULL, sid, sdist, sseen);
		for (size_t j = 0, e = 0; !st && j < m; j++) {
			size_t i = sel[j];
			if (plan[i] != v)
				continue;
			memcpy(ids + i * k, sid + e * k, k * sizeof *ids);
			memcpy(dist + i * k, sdist + e * k, k * sizeof *dist);
			seen[i] = sseen[e++];
			np[i] = v, plan[i] = 0;
		}
	}
	free(sel), free(plan), free(sseen), free(qs), free(sid), free(sdist), free(pseen), free(pseed);
	return st;
}

vdb_status vdb_ivf_search_allowed(const vdb_index *ix, const float *q, size_t nq,
                                     const vdb_search_opts *o, const uint64_t *allow,
                                     size_t n_allow, int64_t *ids, float *dist)
{
	const ivf *f = ix->impl;
	size_t np0 = vdb_knob_value(o, &vdb_ivf_nprobe_knob);
	np0 = np0 ? np0 : DEFAULT_NPROBE;
	np0 = np0 < f->nlist ? np0 : f->nlist;
	ivf_seen *seen = vdb_malloc((nq ? nq : 1) * sizeof *seen, "kept counts");
	size_t *np = vdb_malloc((nq ? nq : 1) * sizeof *np, "kept counts");
	size_t *target = vdb_malloc((nq ? nq : 1) * sizeof *target, "kept counts");
	vdb_status st = seen && np && target ? VDB_OK : VDB_ENOMEM;
	if (!st)
		st = search(ix, q, nq, o, allow, NULL, ids, dist, seen);
	/* (2k: at least k when halved) */
	size_t want = 2 * (n_allow < o->k ? n_allow : o->k);
	for (size_t i = 0; !st && i < nq; i++) {
		np[i] = np0;
		target[i] = seen[i].rows > want ? seen[i].rows : want;
	}
	if (!st && allow)
		st = widen(ix, q, nq, o, allow, n_allow, target, seen, np, ids, dist);
	free(seen), free(np), free(target);
	return st;
}

/* Row -> position, built once on first use; a cache: the index is not
 * otherwise changed, and racing builders agree (the loser frees its own). */
static const uint32_t *positions(const ivf *f, size_t n)
{
	uint32_t *pos = __atomic_load_n(&f->pos_of, __ATOMIC_ACQUIRE);
	if (pos)
		return pos;
	pos = malloc((n ? n : 1) * sizeof *pos);
	if (!pos)
		return NULL;
	memset(pos, 0xff, (n ? n : 1) * sizeof *pos); /* a damaged IVRW can miss rows */
	for (size_t p = 0; p < n; p++)
		if (f->row[p] < n)
			pos[f->row[p]] = (uint32_t)p;
	uint32_t *none = NULL;
	if (!__atomic_compare_exchange_n(&((ivf *)f)->pos_of, &none, pos, false, __ATOMIC_ACQ_REL,
	                                 __ATOMIC_ACQUIRE)) {
		free(pos);
		pos = none;
	}
	return pos;
}

/* The list holding position p (lists are contiguous: a binary search). */
static uint32_t list_of(const ivf *f, uint64_t p)
{
	uint32_t lo = 0, hi = f->nlist;
	while (hi - lo > 1) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (f->off[mid] <= p)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

void vdb_ivf_rows(const vdb_index *ix, const int64_t *rows, size_t n, float *out)
{
	const ivf *f = ix->impl;
	uint32_t d = ix->dim;
	const uint32_t *pos = positions(f, ix->count);
	for (size_t i = 0; i < n; i++) {
		float *o = out + i * d;
		uint64_t p = pos ? pos[rows[i]] : UINT32_MAX;
		if (p >= ix->count) { /* out of memory, or a damaged file: matches nothing well */
			for (uint32_t j = 0; j < d; j++)
				o[j] = INFINITY;
			continue;
		}
		if (f->vecs) {
			memcpy(o, f->vecs + p * d, d * sizeof(float));
			continue;
		}
		/* ivfpq codes only: the reconstruction, centroid plus decoded residual */
		vdb_pq_decode(&f->pq_q, f->codes + p * f->pq_q.m, 1, o);
		const float *c = f->cent + (size_t)list_of(f, p) * d;
		for (uint32_t j = 0; j < d; j++)
			o[j] += c[j];
	}
}

void vdb_ivf_info(const vdb_index *ix, json_t *obj)
{
	const ivf *f = ix->impl;
	json_object_set_new(obj, "nlist", json_integer(f->nlist));
	uint64_t mn = UINT64_MAX, mx = 0, empty = 0;
	for (uint32_t l = 0; l < f->nlist; l++) {
		uint64_t s = f->off[l + 1] - f->off[l];
		mn = s < mn ? s : mn;
		mx = s > mx ? s : mx;
		empty += s == 0;
	}
	json_t *lists = json_object();
	json_object_set_new(lists, "min", json_integer((json_int_t)mn));
	json_object_set_new(lists, "max", json_integer((json_int_t)mx));
	json_object_set_new(lists, "mean", json_real((double)ix->count / f->nlist));
	json_object_set_new(lists, "empty", json_integer((json_int_t)empty));
	json_object_set_new(obj, "list_sizes", lists);
	json_object_set_new(obj, "default_nprobe",
	                    json_integer(f->nlist < DEFAULT_NPROBE ? f->nlist : DEFAULT_NPROBE));
	/* a row's number and vector (ivfpq: index_ivfpq.c counts its codes) */
	size_t bpv = 4 + (f->vecs ? 4 * (size_t)ix->dim : 0);
	json_object_set_new(obj, "bytes_per_vector", json_integer((json_int_t)bpv));
}

void vdb_ivf_free(vdb_index *ix)
{
	ivf *f = ix->impl;
	if (!f)
		return;
	free(f->own_cent), free(f->own_vecs), free(f->own_off), free(f->own_row);
	free(f->own_codes);
	free(f->own_ptab);
	free(f->pos_of);
	if (f->codec && f->codec->free)
		f->codec->free(f);
	vdb_pq_free(&f->pq_q);
	free(f);
}

/* The most lists that mean anything: every list. */
static unsigned nprobe_max(const vdb_index *ix)
{
	return ((const ivf *)ix->impl)->nlist;
}

/* nprobe: lists scanned */
const struct vdb_index_knob vdb_ivf_nprobe_knob = {
	.pub = { .name = "nprobe", .what = "lists scanned", .min = 1, .max = VDB_MAX_NPROBE,
	         .max_name = "VDB_MAX_NPROBE", .def = DEFAULT_NPROBE, .def_note = "at most nlist" },
	.curve_id = 2,
	.curve_unit = 1,
	.curve_max = nprobe_max,
};

/* ===== The filtered planner's estimate (filter_plan.c) =====
 * A filtered query ranks every centroid to choose its nprobe lists, tests
 * each row of those lists against the allowed set and ranks the allowed
 * ones (ivf: each read from its place in the lists, the others skipped;
 * ivfpq: m table lookups a code, its scan counting the allowed rows as it
 * tests them, then the k x refine best re-ranked from the float32 rows). When the share kept
 * is under a half, the lists held fewer than half their rows' worth of
 * allowed rows, and the query is searched again with nprobe x 2^j lists,
 * enough to hold as many (vdb_ivf_search_allowed): the centroids again
 * and the rows of the lists that are new (those scanned before are not
 * read again: widen). */
/* Measured on 100k x 128 clustered, nlist 1,265, one query at a time at
 * nprobe 4-64 and 0.5-40% kept (Zen 3), fitting CPU time to the rows, kept
 * rows and passes each run met: a row tested 1.8 ns (its number read, a
 * bit of the allowed set at random), a kept row ranked 80 ns (the read and
 * distance, and VDB_PLAN_NS_PUSH), choosing the lists about twice the
 * kernel's work on the centroids. */
#define IVF_NS_ROW 1.8
#define IVF_CENTROIDS 2.0
/* A batch that reads its lists list by list (vdb_ivf_scan_batch) ranks a
 * kept row from the caches (the kernel's work alone), tests a row in
 * IVF_NS_BATCH_ROW, and costs IVF_NS_BATCH_PASS a query and pass beside
 * its sgemm (choosing the lists exactly, its heaps and filters, its
 * answer): fitted on 14 runs of 1M x 128 (nlist 4,000, 10k queries) and
 * 100k x 128 clustered (nlist 1,265, 1k queries), nprobe 8 and 16, 5-50%
 * kept, each within 1.5x (Zen 3, one thread). */
#define IVF_NS_BATCH_ROW 0.4
#define IVF_NS_BATCH_PASS 42000.0

/* A pass of a filtered search over lists holding rows rows: by_list, as
 * a batch reads them, else one query at a time (batch: its lists chosen
 * by sgemm). */
static double pass_ns(const vdb_index *ix, double rows, double share, bool batch, bool by_list)
{
	const ivf *f = ix->impl;
	double n = (double)ix->count, d = ix->dim, cent = (double)f->nlist * d;
	double madd = vdb_plan_madd_ns(vdb_blas_core());
	if (by_list)
		return cent * madd + IVF_NS_BATCH_PASS + rows * IVF_NS_BATCH_ROW +
		       rows * share * d * VDB_PLAN_NS_VALUE;
	double fetch = d * VDB_PLAN_NS_VALUE + vdb_plan_fetch_ns(n * d * 4);
	double ranked = f->pq ? f->pq_q.m * VDB_PLAN_NS_VALUE : fetch + VDB_PLAN_NS_PUSH;
	return cent * (batch ? madd : VDB_PLAN_NS_VALUE * IVF_CENTROIDS) + rows * IVF_NS_ROW +
	       rows * share * ranked;
}

double vdb_ivf_filter_cost(const vdb_index *ix, const vdb_search_opts *o, size_t nq,
                           size_t n_allow, int threads, unsigned *knob)
{
	const ivf *f = ix->impl;
	size_t np = vdb_knob_value(o, &vdb_ivf_nprobe_knob);
	np = np ? np : DEFAULT_NPROBE;
	np = np < f->nlist ? np : f->nlist;
	*knob = (unsigned)np;
	/* a query's lists hold more than the mean: it lands where the rows
	 * are, so a list is probed in proportion to its size (the mean of
	 * the lists weighted by their size) */
	double s1 = 0, s2 = 0;
	for (uint32_t l = 0; l < f->nlist; l++) {
		double len = (double)(f->off[l + 1] - f->off[l]);
		s1 += len, s2 += len * len;
	}
	double n = (double)ix->count, d = ix->dim, per = s1 > 0 ? s2 / s1 : 0;
	double share = (double)n_allow / n, rows = (double)np * per;
	bool batch = lists_by_sgemm(f, ix->dim, nq, np);
	bool by_list = batch && scans_by_list(f, o->k, threads);
	double ns = pass_ns(ix, rows, share, batch, by_list);
	/* the share of queries searched again: those whose lists kept fewer
	 * than half their rows (kept ~ binomial(rows, share), taken as normal:
	 * near all below half kept, about half at half: 758 of 1,000 on the
	 * clustered 100k at 50%, 2x the CPU of one search), with at lists (a
	 * batch of them chosen by sgemm up to EXACT_PROBE) */
	double sd = sqrt(rows * share * (1 - share));
	double again = sd > 0 ? 0.5 * erfc((share - 0.5) * rows / (sd * M_SQRT2)) : share < 0.5;
	if (again > 0.01 && np < f->nlist) {
		double at = 2.0 * np;
		while (at * share < np && at < f->nlist)
			at *= 2;
		double wide = at < f->nlist ? at * per : n;
		wide = wide < 2 * n - rows ? wide : 2 * n - rows;
		bool wbatch = lists_by_sgemm(f, ix->dim, (size_t)(again * (double)nq), (size_t)at);
		double fresh = wide > rows ? wide - rows : 0; /* (the first lists not read again) */
		ns += again * pass_ns(ix, fresh, share, wbatch, wbatch && by_list);
	}
	if (f->pq) /* the re-ranking */
		ns += (double)(o->k * (f->refine ? f->refine : 0)) *
		      (d * VDB_PLAN_NS_VALUE + vdb_plan_fetch_ns(n * d * 4));
	return vdb_plan_waves(nq, threads) * ns * 1e-9;
}

const struct vdb_index_ops vdb_ivf_ops = {
	.name = "ivf",
	.fourcc = VDB_FOURCC('I', 'V', 'F', 'L'),
	.metrics = VDB_BIT(VDB_METRIC_L2) | VDB_BIT(VDB_METRIC_IP) | VDB_BIT(VDB_METRIC_COSINE),
	.storages = VDB_BIT(VDB_STORAGE_F32),
	.rows_are = "float32 vectors",
	.refine = VDB_REFINE_NEVER,
	.no_refine = "its lists keep the float32 vectors, ranked exactly (see --type ivfpq)",
	.params = params,
	.knob = &vdb_ivf_nprobe_knob,
	.build = ivf_build,
	.append = vdb_ivf_append,
	.compact = vdb_ivf_compact,
	.save = vdb_ivf_save,
	.open = ivf_open,
	.verify = vdb_ivf_verify,
	.search = vdb_ivf_search,
	.search_allowed = vdb_ivf_search_allowed,
	.filter_cost = vdb_ivf_filter_cost,
	.rows = vdb_ivf_rows,
	.info = vdb_ivf_info,
	.free = vdb_ivf_free,
	.range_confirm = true,
};
