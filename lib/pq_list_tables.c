/*
 * pq_list_tables.c — the query-independent part of ivfpq's 8-bit l2
 * distances: with r the code's reconstruction of a residual,
 * |q - c - r|^2 = |q - c|^2 - 2<q, r> + (|r|^2 + 2<c, r>), and the last
 * term is one table per list (FAISS's precomputed table), so a probed list
 * costs two lookups a code and no table of its own.
 *
 * A file keeps none (older files' PQPL section is still read, f->ptab).
 * They are made the first time a query probes a list: the space is
 * allocated zeroed, so pages of lists never probed cost no memory, and a
 * query pays for the lists it probes, not all of them (1M x 128, nlist
 * 4000, pq-m 16: 62 MB and 0.1 s of CPU at open, before). Queries run in
 * parallel on one index: a per-list atomic state says whether a table is
 * made (list_once.h, as 4-bit's packed codes and tables, pq_fast.c).
 */
#include "pq_list_tables.h"
#include <float.h>
#include <math.h>
#include <omp.h>
#include <string.h>

/* List l's table into out, from the codebooks by dimension
 * (vdb_pq_table_dot, the same on every SIMD level and thread). */
static void make(const ivf *f, const float *norms, uint32_t l, uint32_t d, float *out)
{
	size_t per = (size_t)f->pq_q.m * VDB_PQ_KSUB;
	vdb_pq_table_dot(&f->pq_q, f->cent + (size_t)l * d, out);
	for (size_t i = 0; i < per; i++)
		out[i] = norms[i] + 2 * out[i];
}

/* Whether every list's table is finite, from a bound rather than the
 * tables: an entry, and each partial sum of it, is at most B + 2 sqrt(A B)
 * (A the largest |c_s|^2 of a centroid's sub-vector, B the largest |cb|^2,
 * Cauchy-Schwarz), rounding included, below FLT_MAX when both terms are
 * under FLT_MAX / 8. A pass over the centroids (as opening's finite check). */
static bool bounded(const ivf *f, const float *norms, uint32_t d)
{
	uint32_t m = f->pq_q.m, ds = f->pq_q.dsub;
	size_t per = (size_t)m * VDB_PQ_KSUB, nc = (size_t)f->nlist * m;
	double a = 0, b = 0, lim = FLT_MAX / 8.0;
	for (size_t i = 0; i < per; i++)
		b = norms[i] > b ? norms[i] : b;
	for (size_t i = 0; i < nc; i++) {
		const float *c = f->cent + (i / m) * d + (i % m) * ds;
		double s = 0;
		for (uint32_t j = 0; j < ds; j++)
			s += (double)c[j] * c[j];
		a = s > a ? s : a;
	}
	return b <= lim && a * b <= lim * lim;
}

vdb_status vdb_pq_list_tables_init(vdb_pq_list_tables *t, const ivf *f, uint32_t d,
                                   size_t bytes)
{
	memset(t, 0, sizeof *t);
	size_t per = (size_t)f->pq_q.m * VDB_PQ_KSUB;
	uint32_t ds = f->pq_q.dsub;
	t->norms = vdb_malloc(per * sizeof(float), "pq list tables");
	t->tab = calloc(bytes ? bytes : 1, 1);
	if (!t->norms || !t->tab)
		return vdb_fail(VDB_ENOMEM, "out of memory for %zu bytes of pq list tables", bytes);
	t->bytes = bytes;
	for (size_t i = 0; i < per; i++) {
		const float *cb = f->pq_q.cb + i * ds;
		float s = 0;
		for (uint32_t j = 0; j < ds; j++)
			s += cb[j] * cb[j];
		t->norms[i] = s;
	}
	if (bounded(f, t->norms, d)) {
		t->state = calloc(f->nlist, 1); /* VDB_LT_UNMADE */
		return t->state ? VDB_OK : vdb_fail(VDB_ENOMEM, "out of memory");
	}
	int nan = 0;
	#pragma omp parallel for schedule(dynamic, 16) reduction(|:nan)
	for (uint32_t l = 0; l < f->nlist; l++) {
		float *o = t->tab + (size_t)l * per;
		make(f, t->norms, l, d, o);
		for (size_t i = 0; i < per; i++)
			nan |= isnan(o[i]);
	}
	/* from finite centroids and codebooks (checked), a sum near the float
	 * range: a build is refused (as index_ivf.c's check_trained) */
	VDB_RETURN_IF(nan, VDB_EFORMAT, "the input's values are too large for ivfpq: its distance "
	              "tables overflow float32 (scale the vectors down)");
	return VDB_OK;
}

const float *vdb_pq_list_table_make(vdb_pq_list_tables *t, const ivf *f, uint32_t l, uint32_t d,
                                    float *mine)
{
	float *tab = t->tab + (size_t)l * f->pq_q.m * VDB_PQ_KSUB;
	switch (vdb_list_claim(t->state, l)) {
	case VDB_LIST_READ:
		return tab;
	case VDB_LIST_MAKE:
		make(f, t->norms, l, d, tab);
		vdb_list_made(t->state, l);
		return tab;
	default:
		make(f, t->norms, l, d, mine);
		return mine;
	}
}

void vdb_pq_list_tables_free(vdb_pq_list_tables *t)
{
	free(t->tab), free(t->state), free(t->norms);
	memset(t, 0, sizeof *t);
}
