/* test_pq_list_tables.c — ivfpq's 8-bit l2 per-list tables, made the first
 * time a query probes a list (pq_list_tables.c): each list's table against
 * an independent reference (|cb|^2 + 2<c_s, cb>, in double, from the
 * centroids and codebooks); the thread that finds a list's table being made
 * gets the same values, bit for bit, in its own buffer, and leaves the
 * shared one alone; a made table is read in place; centroids near the float
 * range have every table made at once. Then 4-bit's (pq_fast.c): nothing
 * is made at vdb_pq4_make; a list's first probe packs its codes as the
 * layout of pq_scan.c says (checked here nibble by nibble from the one-byte
 * codes) and makes its table as the reference says; a thread that finds a
 * list being made elsewhere gets the same table, bit for bit, in its own
 * buffer and packs the same blocks itself, leaving the shared ones alone;
 * threads racing through the same lists all see what the reference says. */
#include "tap.h"
#include "vdb_internal.h"
#include "pq_list_tables.h"
#include "pq_fast.h"
#include <math.h>
#include <omp.h>
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

/* The largest relative difference of list l's table t (ksub entries a
 * sub-quantizer) from the reference. */
static double worst(const ivf *f, uint32_t l, const float *t, uint32_t ksub)
{
	uint32_t ds = f->pq_q.dsub;
	double w = 0;
	for (uint32_t s = 0; s < f->pq_q.m; s++)
		for (uint32_t j = 0; j < ksub; j++) {
			const float *cb = f->pq_q.cb + ((size_t)s * VDB_PQ_KSUB + j) * ds;
			const float *c = f->cent + (size_t)l * DIM + (size_t)s * ds;
			double nn = 0, dot = 0, mag = 0;
			for (uint32_t i = 0; i < ds; i++) {
				nn += (double)cb[i] * cb[i];
				dot += (double)c[i] * cb[i];
				mag += fabs((double)c[i] * cb[i]);
			}
			double e = fabs(t[s * ksub + j] - (nn + 2 * dot)) / (nn + 2 * mag + 1e-30);
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

/* An l2 ivfpq of N x DIM random rows, nlist NLIST, pq_m m, bits 8 or 4. */
static vdb_index *build(vdb_vecs *v, unsigned m, unsigned bits)
{
	vdb_vecs_init(v);
	v->dim = DIM, v->n = v->cap = N;
	v->data = malloc((size_t)N * DIM * sizeof(float));
	if (!v->data)
		return NULL;
	for (size_t i = 0; i < (size_t)N * DIM; i++)
		v->data[i] = rnd();
	vdb_build_opts o;
	vdb_build_opts_init(&o);
	o.type = "ivfpq";
	vdb_build_opts_set(&o, "nlist", NLIST);
	vdb_build_opts_set(&o, "pq_m", m);
	vdb_build_opts_set(&o, "pq_bits", bits);
	vdb_index *ix = NULL;
	if (!ok(vdb_index_build(&ix, v, &o) == VDB_OK, "an l2 ivfpq is built (%d x %d, nlist %d, "
	        "pq-m %u, %u bits)", N, DIM, NLIST, m, bits)) {
		diag("%s", vdb_last_error());
		return NULL;
	}
	return ix;
}

static void check_8bit(void)
{
	vdb_vecs v;
	vdb_index *ix = build(&v, PQM, 8);
	if (!ix)
		return;
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
		double e = worst(f, l, p, VDB_PQ_KSUB);
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
}


#define PQM4 8
#define PER4 (PQM4 * 16)

/* Whether list l's packed codes (blocks of 32 rows, m x 16 bytes each)
 * hold, for row i and sub-quantizer s, code & 15 in the nibble the layout
 * names (byte 16 s + i % 16 of block i / 32, low for i % 32 < 16), and
 * zero in the nibbles of rows past the list's end. */
static bool packed_right(const ivf *f, uint32_t l, const uint8_t *codes)
{
	uint64_t len = f->off[l + 1] - f->off[l], nb = (len + 31) / 32;
	for (uint64_t i = 0; i < nb * 32; i++)
		for (uint32_t s = 0; s < PQM4; s++) {
			uint8_t byte = codes[(i / 32) * PER4 + s * 16 + i % 16];
			unsigned got = i % 32 < 16 ? byte & 15u : byte >> 4;
			unsigned want = i < len ? f->codes[(f->off[l] + i) * PQM4 + s] & 15u : 0;
			if (got != want)
				return false;
		}
	return true;
}

static bool zero_bytes(const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

static void check_4bit(void)
{
	vdb_vecs v;
	vdb_index *ix = build(&v, PQM4, 4);
	if (!ix)
		return;
	const ivf *f = ix->impl;
	vdb_pq4 *p = NULL;
	static float mine[PER4];
	static uint8_t one[PER4];
	ok(vdb_pq4_make(&p, f, VDB_METRIC_L2, DIM) == VDB_OK && p->ptab &&
	   p->table_bytes == NLIST * PER4 * sizeof(float), "space for every list's table");
	size_t code_bytes = p->blk[NLIST] * PER4;
	int unmade = 1;
	for (uint32_t l = 0; l < NLIST; l++)
		unmade &= p->state[l] == VDB_LT_UNMADE;
	ok(unmade && zero_bytes(p->codes, code_bytes) && zero_bytes(p->ptab, p->table_bytes),
	   "nothing packed or made before a probe: every list unmade, the space zeroed");

	/* list 5 made elsewhere first: this thread's own table and blocks */
	p->state[5] = VDB_LT_MAKING;
	memset(mine, 0xff, sizeof mine);
	const float *tab;
	const uint8_t *c = vdb_pq4_list(p, f, 5, DIM, mine, &tab);
	uint64_t nb5 = p->blk[6] - p->blk[5];
	int own_blocks = nb5 > 1;
	static uint8_t own[64 * PER4];
	for (uint64_t b = 0; b < nb5 && b < 64; b++) {
		memset(one, 0xa5, sizeof one); /* packing overwrites whatever was there */
		vdb_pq4_pack_block(f, 5, b, one);
		memcpy(own + b * PER4, one, PER4);
	}
	ok(!c && tab == mine && worst(f, 5, mine, 16) < 1e-5,
	   "a list being made elsewhere: its table made in the caller's buffer");
	ok(own_blocks && nb5 <= 64 && packed_right(f, 5, own),
	   "and its %llu blocks packed by the caller, as the layout says",
	   (unsigned long long)nb5);
	ok(p->state[5] == VDB_LT_MAKING && zero_bytes(p->codes + p->blk[5] * PER4, nb5 * PER4) &&
	   zero_bytes(p->ptab + 5 * PER4, PER4), "the shared codes, table and state left to their maker");
	p->state[5] = VDB_LT_UNMADE;

	int in_place = 1, ready = 1, packed = 1, same = 1;
	double w = 0;
	for (uint32_t l = 0; l < NLIST; l++) {
		c = vdb_pq4_list(p, f, l, DIM, mine, &tab);
		in_place &= c == p->codes + p->blk[l] * PER4 && tab == p->ptab + l * PER4;
		ready &= p->state[l] == VDB_LT_READY;
		packed &= packed_right(f, l, c);
		double e = worst(f, l, tab, 16);
		w = e > w ? e : w;
	}
	ok(in_place && ready, "a list's first probe packs its codes and makes its table in place, "
	   "and marks it ready");
	ok(packed, "every list's codes packed as the layout says");
	ok(w < 1e-5, "each list's table is |cb|^2 + 2<c_s, cb> (largest relative error %.2g)", w);
	/* the caller's copy of list 5 is the shared one, bit for bit */
	p->state[5] = VDB_LT_MAKING;
	c = vdb_pq4_list(p, f, 5, DIM, mine, &tab);
	same = !c && !memcmp(mine, p->ptab + 5 * PER4, sizeof mine) &&
	       !memcmp(own, p->codes + p->blk[5] * PER4, nb5 * PER4);
	ok(same, "what a caller makes of a list being made elsewhere equals the shared, bit for bit");
	p->state[5] = VDB_LT_READY;
	c = vdb_pq4_list(p, f, 2, DIM, mine, &tab);
	ok(c == p->codes + p->blk[2] * PER4 && tab == p->ptab + 2 * PER4, "a made list is read in place");
	vdb_pq4_free(p);

	/* threads racing through the same lists, each from another start */
	int bad = 0, threads = 0;
	for (int round = 0; round < 20; round++) {
		vdb_pq4 *r = NULL;
		if (vdb_pq4_make(&r, f, VDB_METRIC_L2, DIM)) {
			bad++;
			break;
		}
		#pragma omp parallel num_threads(4) reduction(+:bad) reduction(max:threads)
		{
			float my[PER4];
			uint8_t blk[PER4], got[64 * PER4];
			int t = omp_get_thread_num();
			threads = omp_get_num_threads();
			for (uint32_t i = 0; i < NLIST; i++) {
				uint32_t l = (i + (uint32_t)t) % NLIST;
				const float *tt;
				const uint8_t *cc = vdb_pq4_list(r, f, l, DIM, my, &tt);
				uint64_t nb = r->blk[l + 1] - r->blk[l];
				if (!cc) { /* made elsewhere: pack it here */
					for (uint64_t b = 0; b < nb && b < 64; b++) {
						vdb_pq4_pack_block(f, l, b, blk);
						memcpy(got + b * PER4, blk, PER4);
					}
					cc = got;
				}
				bad += nb > 64 || !packed_right(f, l, cc) || worst(f, l, tt, 16) >= 1e-5;
			}
		}
		for (uint32_t l = 0; l < NLIST; l++)
			bad += r->state[l] != VDB_LT_READY;
		vdb_pq4_free(r);
	}
	ok(bad == 0, "%d threads racing through the same lists (20 rounds): every list's codes and "
	   "table as the reference says, every list ready after (%d wrong)", threads, bad);

	vdb_index_close(ix);
	vdb_vecs_free(&v);
}

int main(void)
{
	check_8bit();
	check_4bit();
	return done_testing();
}
