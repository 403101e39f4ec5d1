/* test_pq_list_tables.c — ivfpq's 8-bit l2 per-list tables, made the first
 * time a query probes a list (pq_list_tables.c): each list's table against
 * an independent reference (|cb|^2 + 2<c_s, cb>, in double, from the
 * centroids and codebooks); the thread that finds a list's table being made
 * gets the same values, bit for bit, in its own buffer, and leaves the
 * shared one alone; a made table is read in place; centroids near the float
 * range have every table made at once. */
#include "tap.h"
#include "vdb_internal.h"
#include "pq_list_tables.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define N 2000
#define DIM 16
#define NLIST 8
#define PQM 4

static unsigned seed = 4242;
static float rnd(void)
{
	seed = seed * 1103515245u + 12345u;
	return (float)((seed >> 8) & 0xffffff) / (float)(1 << 23) - 1.0f;
}

/* The largest relative difference of list l's table t from the reference. */
static double worst(const ivf *f, uint32_t l, const float *t)
{
	uint32_t ds = f->pq_q.dsub;
	double w = 0;
	for (uint32_t s = 0; s < f->pq_q.m; s++)
		for (uint32_t j = 0; j < VDB_PQ_KSUB; j++) {
			const float *cb = f->pq_q.cb + ((size_t)s * VDB_PQ_KSUB + j) * ds;
			const float *c = f->cent + (size_t)l * DIM + (size_t)s * ds;
			double nn = 0, dot = 0, mag = 0;
			for (uint32_t i = 0; i < ds; i++) {
				nn += (double)cb[i] * cb[i];
				dot += (double)c[i] * cb[i];
				mag += fabs((double)c[i] * cb[i]);
			}
			double e = fabs(t[s * VDB_PQ_KSUB + j] - (nn + 2 * dot)) / (nn + 2 * mag + 1e-30);
			w = e > w ? e : w;
		}
	return w;
}

static bool all_zero(const float *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (t[i] != 0)
			return false;
	return true;
}

int main(void)
{
	vdb_vecs v;
	vdb_vecs_init(&v);
	v.dim = DIM, v.n = v.cap = N;
	v.data = malloc((size_t)N * DIM * sizeof(float));
	if (!v.data)
		return 1;
	for (size_t i = 0; i < (size_t)N * DIM; i++)
		v.data[i] = rnd();
	vdb_build_opts o;
	vdb_build_opts_init(&o);
	o.type = "ivfpq";
	vdb_build_opts_set(&o, "nlist", NLIST);
	vdb_build_opts_set(&o, "pq_m", PQM);
	vdb_index *ix = NULL;
	if (!ok(vdb_index_build(&ix, &v, &o) == VDB_OK, "an l2 ivfpq is built (%d x %d, nlist %d, "
	        "pq-m %d)", N, DIM, NLIST, PQM)) {
		diag("%s", vdb_last_error());
		return done_testing();
	}
	const ivf *f = ix->impl;
	size_t per = (size_t)PQM * VDB_PQ_KSUB, bytes = NLIST * per * sizeof(float);
	static float mine[PQM * VDB_PQ_KSUB], again[PQM * VDB_PQ_KSUB];

	vdb_pq_list_tables t, u;
	ok(vdb_pq_list_tables_init(&t, f, DIM, bytes) == VDB_OK && t.state &&
	   all_zero(t.tab, NLIST * per), "init makes no table: every list unmade, the space zeroed");
	int in_place = 1, ready = 1;
	double w = 0;
	for (uint32_t l = 0; l < NLIST; l++) {
		memset(mine, 0xff, sizeof mine);
		const float *p = vdb_pq_list_table(&t, f, l, DIM, mine);
		in_place &= p == t.tab + l * per;
		ready &= t.state[l] == VDB_LT_READY;
		double e = worst(f, l, p);
		w = e > w ? e : w;
	}
	ok(in_place && ready, "a list's first probe makes its table in place and marks it ready");
	ok(w < 1e-5, "each list's table is |cb|^2 + 2<c_s, cb> (largest relative error %.2g)", w);
	const float *p = vdb_pq_list_table(&t, f, 3, DIM, mine);
	ok(p == t.tab + 3 * per, "a ready table is read in place");

	/* another thread is making list 5's table: this one makes its own */
	ok(vdb_pq_list_tables_init(&u, f, DIM, bytes) == VDB_OK, "a second set of tables");
	u.state[5] = VDB_LT_MAKING;
	memset(mine, 0xff, sizeof mine);
	p = vdb_pq_list_table(&u, f, 5, DIM, mine);
	ok(p == mine && !memcmp(mine, t.tab + 5 * per, sizeof mine),
	   "a list being made elsewhere: the same values, bit for bit, in the caller's buffer");
	ok(u.state[5] == VDB_LT_MAKING && all_zero(u.tab + 5 * per, per),
	   "and the shared table and its state are left to their maker");
	p = vdb_pq_list_table(&u, f, 5, DIM, again);
	ok(p == again && !memcmp(again, mine, sizeof again), "again, while it is still being made");
	vdb_pq_list_tables_free(&u);

	/* centroids near the float range: no bound holds, every table made now */
	ivf big = *f;
	float *cent = malloc((size_t)NLIST * DIM * sizeof(float));
	float top = 0;
	for (size_t i = 0; i < (size_t)NLIST * DIM; i++)
		top = fabsf(f->cent[i]) > top ? fabsf(f->cent[i]) : top;
	for (size_t i = 0; cent && i < (size_t)NLIST * DIM; i++)
		cent[i] = f->cent[i] / top * 3e38f; /* the largest 3e38 (FLT_MAX 3.4e38) */
	big.cent = cent;
	vdb_status s = cent ? vdb_pq_list_tables_init(&u, &big, DIM, bytes) : VDB_ENOMEM;
	int nan = 0;
	for (size_t i = 0; !s && i < NLIST * per; i++)
		nan |= isnan(u.tab[i]);
	ok(!s && !u.state && !nan && !all_zero(u.tab, NLIST * per),
	   "centroids near the float range: every table made at init, none NaN");
	p = s ? NULL : vdb_pq_list_table(&u, &big, 2, DIM, mine);
	ok(p == u.tab + 2 * per, "and read in place");
	vdb_pq_list_tables_free(&u);
	free(cent);

	vdb_pq_list_tables_free(&t);
	vdb_index_close(ix);
	vdb_vecs_free(&v);
	return done_testing();
}
