/* test_pq4_lists.c — 4-bit ivfpq's packed codes and l2 per-list tables,
 * made the first time a query probes a list (pq_fast.c, list_once.h):
 * nothing is made at vdb_pq4_make; a list's first probe packs its codes as
 * the layout of pq_scan.c says (checked here nibble by nibble from the
 * one-byte codes) and makes its table as an independent reference says
 * (|cb|^2 + 2<c_s, cb>, in double); a thread that finds a list being made
 * elsewhere gets the same table, bit for bit, in its own buffer and packs
 * the same blocks itself, leaving the shared ones alone; threads racing
 * through the same lists all see what the reference says. */
#include "tap.h"
#include "vdb_internal.h"
#include "pq_fast.h"
#include "list_once.h"
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define N 3000
#define DIM 16
#define NLIST 8
#define PQM 8
#define PER (PQM * 16)

static unsigned seed = 99;
static float rnd(void)
{
	seed = seed * 1103515245u + 12345u;
	return (float)((seed >> 8) & 0xffffff) / (float)(1 << 23) - 1.0f;
}

/* Whether list l's packed codes (blocks of 32 rows, m x 16 bytes each)
 * hold, for row i and sub-quantizer s, code & 15 in the nibble the layout
 * names (byte 16 s + i % 16 of block i / 32, low for i % 32 < 16), and
 * zero in the nibbles of rows past the list's end. */
static bool packed_right(const ivf *f, uint32_t l, const uint8_t *codes)
{
	uint64_t len = f->off[l + 1] - f->off[l], nb = (len + 31) / 32;
	for (uint64_t i = 0; i < nb * 32; i++)
		for (uint32_t s = 0; s < PQM; s++) {
			uint8_t byte = codes[(i / 32) * PER + s * 16 + i % 16];
			unsigned got = i % 32 < 16 ? byte & 15u : byte >> 4;
			unsigned want = i < len ? f->codes[(f->off[l] + i) * PQM + s] & 15u : 0;
			if (got != want)
				return false;
		}
	return true;
}

/* The largest relative difference of list l's table t from the reference. */
static double worst(const ivf *f, uint32_t l, const float *t)
{
	uint32_t ds = f->pq_q.dsub;
	double w = 0;
	for (uint32_t s = 0; s < PQM; s++)
		for (uint32_t j = 0; j < 16; j++) {
			const float *cb = f->pq_q.cb + ((size_t)s * VDB_PQ_KSUB + j) * ds;
			const float *c = f->cent + (size_t)l * DIM + (size_t)s * ds;
			double nn = 0, dot = 0, mag = 0;
			for (uint32_t i = 0; i < ds; i++) {
				nn += (double)cb[i] * cb[i];
				dot += (double)c[i] * cb[i];
				mag += fabs((double)c[i] * cb[i]);
			}
			double e = fabs(t[s * 16 + j] - (nn + 2 * dot)) / (nn + 2 * mag + 1e-30);
			w = e > w ? e : w;
		}
	return w;
}

static bool all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i])
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
	vdb_build_opts_set(&o, "pq_bits", 4);
	vdb_index *ix = NULL;
	if (!ok(vdb_index_build(&ix, &v, &o) == VDB_OK, "a 4-bit l2 ivfpq is built (%d x %d, "
	        "nlist %d, pq-m %d)", N, DIM, NLIST, PQM)) {
		diag("%s", vdb_last_error());
		return done_testing();
	}
	const ivf *f = ix->impl;
	vdb_pq4 *p = NULL;
	static float mine[PER];
	static uint8_t one[PER];
	ok(vdb_pq4_make(&p, f, VDB_METRIC_L2, DIM) == VDB_OK && p->ptab &&
	   p->table_bytes == NLIST * PER * sizeof(float), "space for every list's table");
	size_t code_bytes = p->blk[NLIST] * PER;
	int unmade = 1;
	for (uint32_t l = 0; l < NLIST; l++)
		unmade &= p->state[l] == VDB_LT_UNMADE;
	ok(unmade && all_zero(p->codes, code_bytes) && all_zero(p->ptab, p->table_bytes),
	   "nothing packed or made before a probe: every list unmade, the space zeroed");

	/* list 5 made elsewhere first: this thread's own table and blocks */
	p->state[5] = VDB_LT_MAKING;
	memset(mine, 0xff, sizeof mine);
	const float *tab;
	const uint8_t *c = vdb_pq4_list(p, f, 5, DIM, mine, &tab);
	uint64_t nb5 = p->blk[6] - p->blk[5];
	int own_blocks = nb5 > 1;
	static uint8_t own[64 * PER];
	for (uint64_t b = 0; b < nb5 && b < 64; b++) {
		memset(one, 0xa5, sizeof one); /* packing overwrites whatever was there */
		vdb_pq4_pack_block(f, 5, b, one);
		memcpy(own + b * PER, one, PER);
	}
	ok(!c && tab == mine && worst(f, 5, mine) < 1e-5,
	   "a list being made elsewhere: its table made in the caller's buffer");
	ok(own_blocks && nb5 <= 64 && packed_right(f, 5, own),
	   "and its %llu blocks packed by the caller, as the layout says",
	   (unsigned long long)nb5);
	ok(p->state[5] == VDB_LT_MAKING && all_zero(p->codes + p->blk[5] * PER, nb5 * PER) &&
	   all_zero(p->ptab + 5 * PER, PER), "the shared codes, table and state left to their maker");
	p->state[5] = VDB_LT_UNMADE;

	int in_place = 1, ready = 1, packed = 1, same = 1;
	double w = 0;
	for (uint32_t l = 0; l < NLIST; l++) {
		c = vdb_pq4_list(p, f, l, DIM, mine, &tab);
		in_place &= c == p->codes + p->blk[l] * PER && tab == p->ptab + l * PER;
		ready &= p->state[l] == VDB_LT_READY;
		packed &= packed_right(f, l, c);
		double e = worst(f, l, tab);
		w = e > w ? e : w;
	}
	ok(in_place && ready, "a list's first probe packs its codes and makes its table in place, "
	   "and marks it ready");
	ok(packed, "every list's codes packed as the layout says");
	ok(w < 1e-5, "each list's table is |cb|^2 + 2<c_s, cb> (largest relative error %.2g)", w);
	/* the caller's copy of list 5 is the shared one, bit for bit */
	p->state[5] = VDB_LT_MAKING;
	c = vdb_pq4_list(p, f, 5, DIM, mine, &tab);
	same = !c && !memcmp(mine, p->ptab + 5 * PER, sizeof mine) &&
	       !memcmp(own, p->codes + p->blk[5] * PER, nb5 * PER);
	ok(same, "what a caller makes of a list being made elsewhere equals the shared, bit for bit");
	p->state[5] = VDB_LT_READY;
	c = vdb_pq4_list(p, f, 2, DIM, mine, &tab);
	ok(c == p->codes + p->blk[2] * PER && tab == p->ptab + 2 * PER, "a made list is read in place");
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
			float my[PER];
			uint8_t blk[PER], got[64 * PER];
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
						memcpy(got + b * PER, blk, PER);
					}
					cc = got;
				}
				bad += nb > 64 || !packed_right(f, l, cc) || worst(f, l, tt) >= 1e-5;
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
	return done_testing();
}
