/*
 * pq_fast.c — ivfpq with 4-bit codes (16 centroids per subspace), scanned
 * as FAISS's IndexIVFPQFastScan and ScaNN do: the codes of a list are
 * packed by blocks of 32 rows (pq_scan.c), the distance tables of a list
 * are quantized to bytes, and a kernel (vdb_kernels.pq4_block) looks up 32
 * rows at once with byte shuffles, the 16 entries of a table in a register.
 * The sums are integers, so every level finds the same keys.
 *
 * The key of a row is base + sum of low_s + delta * S, with S the integer
 * sum: within m * delta / 2 of the float sum; --refine re-ranks exactly.
 * l2 with residuals: |q - c - r|^2 = |q - c|^2 + sum_s (|r_s|^2 + 2<c_s, r_s>)
 * - 2<q_s, r_s>: a table per list (nlist x m x 16 floats, from the
 * codebooks, never stored: 1/16 of the 8-bit one) plus one per query. ip
 * and cosine: one table per query, and -<q, c> per list from |q - c|^2,
 * which choosing the lists gave, |q|^2 and |c|^2 (kept from the open):
 * (|q - c|^2 - |q|^2 - |c|^2) / 2, no pass over the centroid (a dot
 * product over each probed one was 3.6% of a WordNet query's CPU). The
 * candidates gather in a reservoir (pq_reservoir.c), the caller's heap
 * gets its best at the end.
 *
 * A list's packed codes and table are made the first time a query probes
 * it, as 8-bit's tables (list_once.h): the space is allocated zeroed, so
 * lists never probed cost no memory, and opening costs no pass over the
 * codes (1M x 128, nlist 4000, pq-m 16: 0.044 s of CPU to pack and make
 * every list's at open, before).
 */
#include "pq_fast.h"
#include "list_once.h"
#include "pq_reservoir.h"
#include <math.h>
#include <string.h>

#define BLK 32 /* rows per block */

void vdb_pq4_free(vdb_pq4 *p)
{
	if (!p)
		return;
	free(p->blk), free(p->codes), free(p->ptab), free(p->state), free(p->cbt), free(p->cn);
	free(p);
}

size_t vdb_pq4_bytes(const vdb_pq4 *p)
{
	return p ? p->bytes : 0;
}

size_t vdb_pq4_table_bytes(const vdb_pq4 *p)
{
	return p ? p->table_bytes : 0;
}

/* the reservoir of the candidates (pq_reservoir.h); t: a list's table
 * and m minima; qt: the query's; mine: a list's table made here (another
 * thread is making it); lut: t quantized; one: a block packed here */
size_t vdb_pq4_scratch(uint32_t m, size_t cap)
{
	size_t per = (size_t)m * 16;
	return vdb_pq_reservoir_bytes(cap) + (3 * per + m) * sizeof(float) + 2 * per;
}

void vdb_pq4_pack_block(const ivf *f, uint32_t l, uint64_t b, uint8_t *out)
{
	uint32_t m = f->pq_q.m;
	uint64_t p0 = f->off[l] + b * BLK, n = f->off[l + 1] - p0;
	n = n < BLK ? n : BLK;
	memset(out, 0, (size_t)m * 16);
	for (uint64_t i = 0; i < n; i++) {
		const uint8_t *c = f->codes + (p0 + i) * m;
		uint8_t *o = out + i % 16;
		unsigned sh = i < 16 ? 0 : 4;
		for (uint32_t s = 0; s < m; s++)
			o[s * 16] |= (uint8_t)((c[s] & 15) << sh);
	}
}

/* Plain loops, not the level's kernels: the tables, so the keys, are the
 * same on every level (the kernels' sums are integers). The dot product
 * keeps 8 partial sums, added in a fixed order (with one running sum, a
 * chain of d dependent additions). */
static float dot(const float *a, const float *b, size_t d)
{
	float p[8] = { 0 };
	size_t i = 0;
	for (; i + 8 <= d; i += 8)
		for (int j = 0; j < 8; j++)
			p[j] += a[i + j] * b[i + j];
	for (int j = 0; i < d; i++, j++)
		p[j] += a[i] * b[i];
	return ((p[0] + p[4]) + (p[1] + p[5])) + ((p[2] + p[6]) + (p[3] + p[7]));
}

/* List l's table into out (m x 16). */
static void list_table(const ivf *f, uint32_t l, uint32_t d, float *out)
{
	uint32_t ds = f->pq_q.dsub;
	for (uint32_t s = 0; s < f->pq_q.m; s++)
		for (uint32_t j = 0; j < 16; j++) {
			const float *cb = f->pq_q.cb + ((size_t)s * VDB_PQ_KSUB + j) * ds;
			const float *c = f->cent + (size_t)l * d + (size_t)s * ds;
			out[s * 16 + j] = dot(cb, cb, ds) + 2 * dot(c, cb, ds);
		}
}

const uint8_t *vdb_pq4_list(vdb_pq4 *p, const ivf *f, uint32_t l, uint32_t d, float *mine,
                            const float **tab)
{
	size_t per = (size_t)p->m * 16;
	uint8_t *codes = p->codes + p->blk[l] * per;
	float *t = p->ptab ? p->ptab + l * per : NULL;
	*tab = t;
	switch (vdb_list_claim(p->state, l)) {
	case VDB_LIST_READ:
		return codes;
	case VDB_LIST_MAKE:
		for (uint64_t b = 0; b < p->blk[l + 1] - p->blk[l]; b++)
			vdb_pq4_pack_block(f, l, b, codes + b * per);
		if (t)
			list_table(f, l, d, t);
		vdb_list_made(p->state, l);
		return codes;
	default:
		if (t)
			list_table(f, l, d, mine), *tab = mine;
		return NULL;
	}
}

vdb_status vdb_pq4_make(vdb_pq4 **out, const ivf *f, vdb_metric metric, uint32_t d)
{
	vdb_pq4 *p = calloc(1, sizeof *p);
	*out = p;
	if (!p)
		return vdb_fail(VDB_ENOMEM, "out of memory");
	p->m = f->pq_q.m;
	size_t per = (size_t)p->m * 16, nb = 0, bytes, tb;
	p->blk = vdb_malloc(((size_t)f->nlist + 1) * sizeof *p->blk, "pq blocks");
	p->state = calloc(f->nlist, 1); /* VDB_LT_UNMADE */
	if (!p->blk || !p->state)
		return vdb_fail(VDB_ENOMEM, "out of memory");
	for (uint32_t l = 0; l < f->nlist; l++) {
		p->blk[l] = nb;
		nb += (f->off[l + 1] - f->off[l] + BLK - 1) / BLK;
	}
	p->blk[f->nlist] = nb;
	VDB_RETURN_IF(!vdb_mul_ok(nb, per, &bytes), VDB_ENOMEM, "pq codes: too many blocks");
	p->codes = calloc(bytes ? bytes : 1, 1);
	if (!p->codes)
		return vdb_fail(VDB_ENOMEM, "out of memory for %zu bytes of packed pq codes", bytes);
	p->cbt = vdb_malloc((size_t)d * 16 * sizeof(float), "pq codebooks");
	if (!p->cbt)
		return VDB_ENOMEM;
	for (uint32_t s = 0; s < p->m; s++)
		for (uint32_t j = 0; j < 16; j++)
			for (uint32_t i = 0; i < f->pq_q.dsub; i++)
				p->cbt[((size_t)s * f->pq_q.dsub + i) * 16 + j] =
					f->pq_q.cb[((size_t)s * VDB_PQ_KSUB + j) * f->pq_q.dsub + i];
	p->bytes = bytes + ((size_t)f->nlist + 1) * sizeof *p->blk + (size_t)d * 16 * sizeof(float);
	if (metric != VDB_METRIC_L2) { /* <q, c> = (|q|^2 + |c|^2 - |q - c|^2) / 2 */
		p->cn = vdb_malloc(((size_t)f->nlist + 1) * sizeof *p->cn, "centroid norms");
		if (!p->cn)
			return VDB_ENOMEM;
		for (uint32_t l = 0; l < f->nlist; l++)
			p->cn[l] = dot(f->cent + (size_t)l * d, f->cent + (size_t)l * d, d);
		p->bytes += (size_t)f->nlist * sizeof *p->cn;
	}
	if (metric == VDB_METRIC_L2 && vdb_mul_ok((size_t)f->nlist * per, sizeof(float), &tb) &&
	    tb <= MAX_PTAB_BYTES) {
		p->ptab = calloc(tb ? tb : 1, 1);
		if (!p->ptab)
			return vdb_fail(VDB_ENOMEM, "out of memory for %zu bytes of pq list tables", tb);
		p->bytes += tb;
		p->table_bytes = tb;
	}
	return VDB_OK;
}

/* The largest integer sum whose key can still be under bound (false: none can). */
static bool threshold(double bound, double base, double delta, uint16_t *thr)
{
	*thr = UINT16_MAX;
	double room = bound - base;
	if (room < 0)
		return false;
	if (delta > 0 && room / delta < UINT16_MAX - 1)
		*thr = (uint16_t)(room / delta) + 1;
	return true;
}

/* Of the n rows from position p0, those allowed (a bit each). */
static uint32_t allowed(const ivf *f, const uint64_t *allow, uint64_t p0, uint64_t n)
{
	uint64_t rows = f->off[f->nlist];
	uint32_t in = 0;
	/* (a row beyond the count is a damaged file's: never allowed) */
	for (uint64_t i = 0; i < n; i++)
		in |= (uint32_t)(f->row[p0 + i] < rows && vdb_rowset_has(allow, f->row[p0 + i])) << i;
	return in;
}

/* Scan list l's blocks (codes: packed, or NULL: each packed in one here)
 * into r: keys base + delta * sum. Returns the allowed rows of the list
 * (0 without allow). */
static size_t scan_list(const ivf *f, const vdb_pq4 *p, const vdb_kernels *K, uint32_t l,
                        const uint8_t *codes, uint8_t *one, const uint8_t *lut, double base,
                        double delta, const uint64_t *allow, vdb_pq_reservoir *r, bool by_pos)
{
	size_t per = (size_t)p->m * 16, kept = 0;
	uint64_t p0 = f->off[l], len = f->off[l + 1] - p0;
	uint16_t sum[BLK];
	uint16_t thr;
	for (uint64_t b = 0; b * BLK < len; b++) {
		uint64_t n = len - b * BLK < BLK ? len - b * BLK : BLK;
		uint32_t in = n < BLK ? (1u << n) - 1 : UINT32_MAX;
		if (allow) {
			in = allowed(f, allow, p0 + b * BLK, n);
			kept += (size_t)__builtin_popcount(in);
		}
		if (!threshold(r->thr, base, delta, &thr)) {
			if (!allow) /* none of the list can enter r: only counting is left */
				break;
			continue;
		}
		if (!in)
			continue;
		const uint8_t *c = codes ? codes + b * per : (vdb_pq4_pack_block(f, l, b, one), one);
		uint32_t mask = K->pq4_block(c, lut, p->m, thr, sum) & in;
		for (; mask; mask &= mask - 1) {
			unsigned i = (unsigned)__builtin_ctz(mask);
			uint64_t pos = p0 + b * BLK + i;
			vdb_pq_reservoir_push(r, base + delta * sum[i], by_pos ? (int64_t)pos : f->row[pos]);
		}
	}
	return kept;
}

/* One table of subspace s from the codebooks by dimension (the inner loop
 * runs over the 16 centroids): sign x <x_s, cb_j>, or |x_s - cb_j|^2 (l2). */
static void table16(const float *cbt, const float *x, uint32_t ds, bool l2, float sign,
                    float *t)
{
	float acc[16] = { 0 };
	for (uint32_t i = 0; i < ds; i++) {
		const float *col = cbt + (size_t)i * 16;
		float xi = x[i];
		if (l2)
			for (int j = 0; j < 16; j++)
				acc[j] += (xi - col[j]) * (xi - col[j]);
		else
			for (int j = 0; j < 16; j++)
				acc[j] += xi * col[j];
	}
	for (int j = 0; j < 16; j++)
		t[j] = sign * acc[j];
}

static void tables16(const vdb_pq4 *p, const float *x, uint32_t ds, bool l2, float sign,
                     float *t)
{
	for (uint32_t s = 0; s < p->m; s++)
		table16(p->cbt + (size_t)s * ds * 16, x + (size_t)s * ds, ds, l2, sign, t + s * 16);
}

size_t vdb_pq4_scan(const ivf *f, vdb_pq4 *p, vdb_metric m, uint32_t d, ivf_ws *w, size_t nl,
                    const uint64_t *allow, vdb_topk *h, bool by_pos)
{
	const vdb_kernels *K = vdb_kernels_get();
	uint32_t pm = p->m, ds = f->pq_q.dsub;
	size_t per = (size_t)pm * 16, kept = 0;
	/* vdb_pq4_scratch's */
	vdb_pq_reservoir r;
	vdb_pq_reservoir_init(&r, w->table, h);
	float *t = (float *)((char *)w->table + vdb_pq_reservoir_bytes(h->cap));
	float *qt = t + per + pm, *mine = qt + per;
	uint8_t *lut = (uint8_t *)(mine + per), *one = lut + per;
	bool l2 = m == VDB_METRIC_L2, pre = l2 && p->ptab;
	double delta = 0, lo = 0, qn = l2 ? 0 : dot(w->q, w->q, d);
	if (!l2 || pre) { /* -<q_s, cb> (ip, cosine), -2<q_s, cb> (l2) */
		tables16(p, w->q, ds, false, pre ? -2 : -1, qt);
		if (!l2)
			delta = K->pq4_quantize(qt, NULL, pm, t, lut, &lo);
	}
	for (size_t a = 0; a < nl; a++) {
		uint32_t l = (uint32_t)w->pi[a];
		const float *c = f->cent + (size_t)l * d, *lt;
		const uint8_t *codes = vdb_pq4_list(p, f, l, d, mine, &lt);
		double base;
		if (pre) {
			delta = K->pq4_quantize(lt, qt, pm, t, lut, &lo);
			base = w->pd[a]; /* |q - c|^2, from choosing the lists */
		} else if (l2) {
			for (uint32_t j = 0; j < d; j++)
				w->r[j] = w->q[j] - c[j];
			tables16(p, w->r, ds, true, 1, t);
			delta = K->pq4_quantize(t, NULL, pm, t, lut, &lo);
			base = 0;
		} else { /* -<q, c>, from |q - c|^2 of choosing the lists: no pass over c */
			base = (w->pd[a] - qn - p->cn[l]) / 2;
		}
		kept += scan_list(f, p, K, l, codes, one, lut, base + lo, delta, allow, &r, by_pos);
	}
	vdb_pq_reservoir_flush(&r, h);
	return kept;
}
