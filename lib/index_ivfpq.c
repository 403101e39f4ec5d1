/*
 * index_ivfpq.c — "ivfpq" (IVF-PQ, as FAISS's IndexIVFPQ): the inverted
 * lists of index_ivf.c (ivf.h) holding, per row, m bytes: the
 * product-quantized residual (vector minus its list's centroid). Distances
 * are sums of table lookups (asymmetric: the query is not quantized); l2
 * needs a table per probed list (made the first time a query probes the
 * list, never stored; older files' PQPL is still read), ip and cosine one
 * per query plus <q, centroid>; 4-bit codes are packed for fast-scan on
 * a list's first probe too (pq_fast.c). With --refine R
 * the file also keeps the vectors, and the R*k best by code are re-ranked
 * exactly. This file trains and scans the codes; the lists, the file's
 * sections and the search around the scan are index_ivf.c's.
 */
#include "ivf.h"
#include "pq_fast.h"
#include "pq_list_tables.h"
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>


/* dim/8 when it divides, else the largest divisor of dim below it */
static uint32_t default_pq_m(uint32_t d)
{
	uint32_t m = d / 8 ? d / 8 : 1;
	while (d % m)
		m--;
	return m;
}

/* pq_m: sub-quantizers (0: about dim/8; it must divide the dimension) */
static const struct vdb_index_param param_pq_m = {
	.name = "pq_m", .option = "--pq-m", .what = "sub-quantizers (divides dim; default dim/8 or near)",
	.min = 1, .max = VDB_MAX_DIM,
};
/* pq_bits: 8 (256 centroids a subspace) or 4 (16: fast-scan, pq_fast.c) */
static const struct vdb_index_param param_pq_bits = {
	.name = "pq_bits", .option = "--pq-bits", .what = "bits per sub-quantizer code: 8 or 4",
	.min = 4, .max = 8, .def = 8,
};
static const struct vdb_index_param *const params[] = { &vdb_ivf_nlist_param, &param_pq_m,
	                                                &param_pq_bits, NULL };

static vdb_status train_pq(vdb_index *ix, ivf *f, const float *x, unsigned pq_m,
                           unsigned bits)
{
	size_t n = ix->count;
	uint32_t d = ix->dim, m = pq_m ? pq_m : default_pq_m(d);
	VDB_RETURN_IF(m > d || d % m, VDB_EINVAL, "--pq-m %u must divide the dimension %u", m, d);
	VDB_RETURN_IF(bits != 4 && bits != 8, VDB_EINVAL, "--pq-bits %u: must be 4 or 8", bits);
	VDB_RETURN_IF(bits == 4 && m > VDB_PQ4_MAX_M, VDB_EINVAL,
	              "--pq-bits 4 takes at most %u sub-quantizers (VDB_PQ4_MAX_M); --pq-m is %u",
	              VDB_PQ4_MAX_M, m);
	VDB_RETURN_IF(n < VDB_PQ_KSUB, VDB_EFORMAT,
	              "ivfpq needs at least %u vectors to train its codebooks (there are %zu)",
	              VDB_PQ_KSUB, n);
	uint32_t *list_of = vdb_malloc(n * sizeof *list_of, "lists");
	size_t nb = n < BLOCK ? n : BLOCK;
	float *res = vdb_malloc(nb * d * sizeof(float), "residuals");
	float *rec = vdb_malloc(nb * d * sizeof(float), "reconstructions");
	f->own_codes = vdb_malloc(n * m, "pq codes");
	vdb_status st = list_of && res && rec && f->own_codes ? VDB_OK : VDB_ENOMEM;
	if (!st) {
		for (uint32_t l = 0; l < f->nlist; l++)
			for (uint64_t p = f->off[l]; p < f->off[l + 1]; p++)
				list_of[p] = l;
		/* train on an even spread of positions (lists are in space order) */
		float *tr = vdb_malloc(nb * d * sizeof(float), "pq training");
		uint32_t *tl = vdb_malloc(nb * sizeof *tl, "pq training");
		uint32_t *trow = vdb_malloc(nb * sizeof *trow, "pq training");
		st = tr && tl && trow ? VDB_OK : VDB_ENOMEM;
		if (!st) {
			for (size_t i = 0; i < nb; i++) {
				size_t p = (size_t)((double)i * (double)n / (double)nb);
				tl[i] = list_of[p];
				trow[i] = f->row[p];
			}
			ivf sample = *f;
			sample.row = trow;
			vdb_ivf_residuals(&sample, x, d, 0, nb, tl, tr);
			st = vdb_pq_train_k(&f->pq_q, tr, nb, d, m,
			                    bits == 4 ? VDB_PQ4_KSUB : VDB_PQ_KSUB, ix->seed);
		}
		free(tr), free(tl), free(trow);
	}
	double ec = 0, eq = 0;
	for (size_t p0 = 0; !st && p0 < n; p0 += BLOCK) {
		size_t np = n - p0 < BLOCK ? n - p0 : BLOCK;
		vdb_ivf_residuals(f, x, d, p0, np, list_of, res);
		st = vdb_pq_encode(&f->pq_q, res, np, f->own_codes + p0 * m);
		if (st)
			break;
		/* what the codes add over the centroid alone, for --info */
		vdb_pq_decode(&f->pq_q, f->own_codes + p0 * m, np, rec);
		/* per row in parallel, summed in order: the file must not depend
		 * on the number of threads */
		#pragma omp parallel for schedule(static)
		for (size_t i = 0; i < np; i++) {
			double c = 0, q = 0;
			for (size_t j = i * d; j < (i + 1) * d; j++) {
				double e = (double)res[j] - rec[j];
				c += (double)res[j] * res[j];
				q += e * e;
			}
			res[i * d] = (float)c; /* the residual row is no longer needed */
			rec[i * d] = (float)q;
		}
		for (size_t i = 0; i < np; i++)
			ec += res[i * d], eq += rec[i * d];
	}
	f->mse_cent = ec / (double)n;
	f->mse_pq = eq / (double)n;
	f->codes = f->own_codes;
	free(list_of);
	free(res);
	free(rec);
	return st;
}

/* What a search reads beside the file's sections, made at build and at open
 * (f->fast): never written, so a file holds codes and codebooks only. */
typedef struct {
	vdb_pq4 *p4;             /* 4-bit: the packed codes and their tables, a list's made on
	                          * its first probe (pq_fast.c) */
	vdb_pq_list_tables lt;   /* 8-bit l2: the per-list tables (tab NULL: too large, ip
	                          * or cosine, or the file's PQPL) */
} pq_mem;

static pq_mem *mem_of(const ivf *f)
{
	return f->fast;
}

/* 8-bit l2's per-list tables (pq_list_tables.c), unless the file keeps them
 * (f->ptab) or they would pass MAX_PTAB_BYTES (then each probed list's is
 * made per query). */
static vdb_status list_tables(ivf *f, pq_mem *mm, vdb_metric m, uint32_t d)
{
	size_t bytes;
	if (m != VDB_METRIC_L2 || f->ptab ||
	    !vdb_mul_ok((size_t)f->nlist * f->pq_q.m * VDB_PQ_KSUB, sizeof(float), &bytes) ||
	    bytes > MAX_PTAB_BYTES)
		return VDB_OK;
	return vdb_pq_list_tables_init(&mm->lt, f, d, bytes);
}

static void free_fast(ivf *f);

static vdb_status tables(ivf *f, vdb_metric m, uint32_t d)
{
	free_fast(f);
	pq_mem *mm = calloc(1, sizeof *mm);
	f->fast = mm;
	if (!mm)
		return vdb_fail(VDB_ENOMEM, "out of memory");
	if (f->pq_q.ksub) /* 4-bit: packed codes and tables */
		return vdb_pq4_make(&mm->p4, f, m, d);
	vdb_status st = f->pq_q.cbt ? VDB_OK : vdb_pq_prepare(&f->pq_q);
	return st ? st : list_tables(f, mm, m, d);
}

/* The codebooks of x (the build's rows, in f's lists), its codes and tables. */
static vdb_status train(vdb_index *ix, ivf *f, const float *x, const vdb_build_opts *o)
{
	vdb_status st = train_pq(ix, f, x, vdb_param_value(o, &param_pq_m),
	                         vdb_param_value(o, &param_pq_bits));
	return st ? st : tables(f, ix->metric, ix->dim);
}

static void free_fast(ivf *f)
{
	pq_mem *mm = mem_of(f);
	if (mm) {
		vdb_pq4_free(mm->p4);
		vdb_pq_list_tables_free(&mm->lt);
		free(mm);
	}
	f->fast = NULL;
}

/* The scratch a scan into a heap of cap uses (ivf_ws.table): 4-bit's
 * (vdb_pq4_scratch); 8-bit's query table, and a list's when another thread
 * is making it in place. */
static size_t scratch(const ivf *f, size_t cap)
{
	pq_mem *mm = mem_of(f);
	if (mm && mm->p4)
		return vdb_pq4_scratch(f->pq_q.m, cap);
	size_t tab = (size_t)f->pq_q.m * VDB_PQ_KSUB * sizeof(float);
	return mm && mm->lt.state && !f->ptab ? 2 * tab : tab;
}

/* Scan codes: keys from the distance tables into h (ids are positions when
 * by_pos, for refining; else rows); returns the allowed rows the lists held
 * (0 without allow). */
static size_t scan_codes(const ivf *f, vdb_metric m, uint32_t d, ivf_ws *w, size_t nl,
                         const uint64_t *allow, vdb_topk *h, bool by_pos)
{
	pq_mem *mm = mem_of(f);
	if (mm && mm->p4)
		return vdb_pq4_scan(f, mm->p4, m, d, w, nl, allow, h, by_pos);
	const vdb_kernels *K = vdb_kernels_get();
	uint32_t pm = f->pq_q.m;
	size_t per = (size_t)pm * VDB_PQ_KSUB, kept = 0;
	/* the list tables: the file's, or made on a list's first probe (lz) */
	vdb_pq_list_tables *lz = !f->ptab && mm && mm->lt.tab ? &mm->lt : NULL;
	bool l2 = m == VDB_METRIC_L2, pre = l2 && (f->ptab || lz);
	if (!l2 || pre) /* <q, r> terms: one table per query */
		vdb_pq_table_dot(&f->pq_q, w->q, w->table);
	if (pre)
		for (size_t i = 0; i < per; i++)
			w->table[i] *= -2;
	for (size_t a = 0; a < nl; a++) {
		uint32_t l = (uint32_t)w->pi[a];
		const float *c = f->cent + (size_t)l * d;
		const float *lt = NULL;
		float base;
		if (pre) {
			lt = lz ? vdb_pq_list_table(lz, f, l, d, w->table + per) : f->ptab + (size_t)l * per;
			base = (float)w->pd[a]; /* |q - c|^2, from choosing the lists */
		} else if (l2) {
			for (uint32_t j = 0; j < d; j++)
				w->r[j] = w->q[j] - c[j];
			vdb_pq_table_l2(&f->pq_q, w->r, w->table);
			base = 0;
		} else {
			base = -K->dot(w->q, c, d);
		}
		for (uint64_t p = f->off[l]; p < f->off[l + 1]; p++) {
			/* (a row beyond the count is a damaged file's: never allowed) */
			if (allow && (f->row[p] >= f->off[f->nlist] || !vdb_rowset_has(allow, f->row[p])))
				continue;
			kept += allow != NULL;
			const uint8_t *code = f->codes + p * pm;
			float s = vdb_pq_adc(w->table, code, pm);
			double key = pre ? (double)base + vdb_pq_adc(lt, code, pm) + s
			             : l2 ? s : (double)base - s;
			int64_t id = by_pos ? (int64_t)p : f->row[p];
			if (h->n < h->cap || key <= h->dist[0])
				topk_push(h, key, id);
		}
	}
	return kept;
}

static const struct ivf_codec pq_codec = { .train = train, .tables = tables, .scan = scan_codes,
	                                        .scratch = scratch, .free = free_fast };

static vdb_status ivfpq_build(vdb_index *ix, vdb_vecs *data, const vdb_build_opts *o)
{
	return vdb_ivf_build(ix, data, o, &pq_codec);
}

static vdb_status ivfpq_open(vdb_index *ix)
{
	vdb_status st = vdb_ivf_open(ix, &pq_codec);
	ivf *f = ix->impl;
	/* 8-bit: the tables (vdb_ivf_open made 4-bit's) */
	if (!st && !f->pq_q.ksub)
		st = tables(f, ix->metric, ix->dim);
	if (st == VDB_EFORMAT) { /* a build would have refused it: the file was changed */
		char why[256];
		snprintf(why, sizeof why, "%s", vdb_last_error());
		st = vdb_fail(VDB_ECORRUPT, "%s: ivfpq: %s", ix->file->path, why);
	}
	return st;
}

/* l2's per-list tables: their bytes when every one is made, and when they
 * are made: "on first probe" (a list's when a query first probes it), "at
 * open" (8-bit values near the float range), "stored" (an older file's
 * PQPL), or "per query" (over MAX_PTAB_BYTES: bytes 0, a probed list's
 * table is made for each query, in its scratch). */
static json_t *list_tables_info(const ivf *f, const pq_mem *mm, double bytes8)
{
	double bytes = mm && mm->p4                  ? (double)vdb_pq4_table_bytes(mm->p4)
	               : f->ptab || (mm && mm->lt.tab) ? bytes8
	                                             : 0;
	bool lazy = mm && (mm->lt.state || mm->p4);
	json_t *t = json_object();
	json_object_set_new(t, "bytes", json_integer((json_int_t)bytes));
	json_object_set_new(t, "made", json_string(f->ptab             ? "stored"
	                                           : bytes == 0        ? "per query"
	                                           : lazy              ? "on first probe"
	                                                               : "at open"));
	return t;
}

/* ivf's --info, with the codes: a row's bytes count its code and its share
 * of the per-list tables (PQPL, l2) too. */
static void ivfpq_info(const vdb_index *ix, json_t *obj)
{
	const ivf *f = ix->impl;
	vdb_ivf_info(ix, obj);
	size_t bpv = 4 + (f->vecs ? 4 * (size_t)ix->dim : 0) + f->pq_q.m;
	const pq_mem *mm = mem_of(f);
	double tables = (double)f->nlist * f->pq_q.m * VDB_PQ_KSUB * sizeof(float);
	if (mm && mm->p4 && ix->count) /* what a search reads: the packed codes and tables */
		json_object_set_new(obj, "bytes_per_vector",
		                    json_real((double)(bpv - f->pq_q.m) +
		                              (double)vdb_pq4_bytes(mm->p4) / (double)ix->count));
	else if ((f->ptab || (mm && mm->lt.tab)) && ix->count)
		json_object_set_new(obj, "bytes_per_vector",
		                    json_real((double)bpv + tables / (double)ix->count));
	else
		json_object_set_new(obj, "bytes_per_vector", json_integer((json_int_t)bpv));
	json_t *q = json_object();
	json_object_set_new(q, "kind", json_string("pq"));
	json_object_set_new(q, "m", json_integer(f->pq_q.m));
	json_object_set_new(q, "bits", json_integer(f->pq_q.ksub ? 4 : 8));
	json_object_set_new(q, "dsub", json_integer(f->pq_q.dsub));
	json_object_set_new(q, "residual", json_true());
	/* mean squared error at build: the codes against the centroid alone */
	json_object_set_new(q, "mse", json_real(f->mse_pq));
	json_object_set_new(q, "centroid_mse", json_real(f->mse_cent));
	json_object_set_new(obj, "quantizer", q);
	json_object_set_new(obj, "refine", json_integer(f->refine));
	if (ix->metric == VDB_METRIC_L2)
		json_object_set_new(obj, "list_tables", list_tables_info(f, mm, tables));
}

const struct vdb_index_ops vdb_ivfpq_ops = {
	.name = "ivfpq",
	.fourcc = VDB_FOURCC('I', 'V', 'P', 'Q'),
	.metrics = VDB_BIT(VDB_METRIC_L2) | VDB_BIT(VDB_METRIC_IP) | VDB_BIT(VDB_METRIC_COSINE),
	.storages = VDB_BIT(VDB_STORAGE_F32),
	.rows_are = "pq codes",
	.refine = VDB_REFINE_ALWAYS,
	.params = params,
	.knob = &vdb_ivf_nprobe_knob,
	.build = ivfpq_build,
	.append = vdb_ivf_append,
	.compact = vdb_ivf_compact,
	.save = vdb_ivf_save,
	.open = ivfpq_open,
	.verify = vdb_ivf_verify,
	.search = vdb_ivf_search,
	.search_allowed = vdb_ivf_search_allowed,
	.filter_cost = vdb_ivf_filter_cost,
	.rows = vdb_ivf_rows,
	.info = ivfpq_info,
	.free = vdb_ivf_free,
	.range_confirm = true,
};
