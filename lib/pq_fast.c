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
 * - 2<q_s, r_s>: a table per list (nlist x m x 16 floats, made at open
 * from the codebooks, never stored: 1/16 of the 8-bit one) plus one per
 * query. ip and cosine: one table per query, -<q, c> per list.
 */
#include "pq_fast.h"
#include <math.h>
#include <omp.h>
#include <string.h>

#define BLK 32 /* rows per block */

struct vdb_pq4 {
	uint32_t m;
	uint64_t *blk;   /* nlist + 1: first block of each list */
	uint8_t *codes;  /* blocks x m x 16 bytes */
	float *ptab;     /* l2: nlist x m x 16, |cb|^2 + 2<c_s, cb> (NULL: per query) */
	float *cbt;      /* the codebooks by dimension: (s x dsub + i) x 16, centroid last */
	size_t bytes, table_bytes;
};

void vdb_pq4_free(vdb_pq4 *p)
{
	if (!p)
		return;
	free(p->blk), free(p->codes), free(p->ptab), free(p->cbt);
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

static void pack(const ivf *f, vdb_pq4 *p)
{
	size_t per = (size_t)p->m * 16;
	#pragma omp parallel for schedule(dynamic, 16)
	for (uint32_t l = 0; l < f->nlist; l++)
		for (uint64_t i = 0; i < f->off[l + 1] - f->off[l]; i++) {
			const uint8_t *c = f->codes + (f->off[l] + i) * p->m;
			uint8_t *b = p->codes + (p->blk[l] + i / BLK) * per + i % 16;
			unsigned sh = i % BLK < 16 ? 0 : 4;
			for (uint32_t s = 0; s < p->m; s++)
				b[s * 16] |= (uint8_t)((c[s] & 15) << sh);
		}
}

/* Plain loops, not the level's kernels: the tables, so the keys, are the
 * same on every level (the kernels' sums are integers). */
static float dot(const float *a, const float *b, size_t d)
{
	float s = 0;
	for (size_t i = 0; i < d; i++)
		s += a[i] * b[i];
	return s;
}

static void list_tables(const ivf *f, vdb_pq4 *p, uint32_t d)
{
	uint32_t ds = f->pq_q.dsub;
	size_t per = (size_t)p->m * 16;
	#pragma omp parallel for schedule(dynamic, 16)
	for (uint32_t l = 0; l < f->nlist; l++)
		for (uint32_t s = 0; s < p->m; s++)
			for (uint32_t j = 0; j < 16; j++) {
				const float *cb = f->pq_q.cb + ((size_t)s * VDB_PQ_KSUB + j) * ds;
				const float *c = f->cent + (size_t)l * d + (size_t)s * ds;
				p->ptab[l * per + s * 16 + j] = dot(cb, cb, ds) + 2 * dot(c, cb, ds);
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
	if (!p->blk)
		return VDB_ENOMEM;
	for (uint32_t l = 0; l < f->nlist; l++) {
		p->blk[l] = nb;
		nb += (f->off[l + 1] - f->off[l] + BLK - 1) / BLK;
	}
	p->blk[f->nlist] = nb;
	VDB_RETURN_IF(!vdb_mul_ok(nb, per, &bytes), VDB_ENOMEM, "pq codes: too many blocks");
	p->codes = calloc(bytes ? bytes : 1, 1);
	if (!p->codes)
		return vdb_fail(VDB_ENOMEM, "out of memory for %zu bytes of packed pq codes", bytes);
	pack(f, p);
	p->cbt = vdb_malloc((size_t)d * 16 * sizeof(float), "pq codebooks");
	if (!p->cbt)
		return VDB_ENOMEM;
	for (uint32_t s = 0; s < p->m; s++)
		for (uint32_t j = 0; j < 16; j++)
			for (uint32_t i = 0; i < f->pq_q.dsub; i++)
				p->cbt[((size_t)s * f->pq_q.dsub + i) * 16 + j] =
					f->pq_q.cb[((size_t)s * VDB_PQ_KSUB + j) * f->pq_q.dsub + i];
	p->bytes = bytes + ((size_t)f->nlist + 1) * sizeof *p->blk + (size_t)d * 16 * sizeof(float);
	if (metric == VDB_METRIC_L2 && vdb_mul_ok((size_t)f->nlist * per, sizeof(float), &tb) &&
	    tb <= MAX_PTAB_BYTES) {
		p->ptab = vdb_malloc(tb, "pq list tables");
		if (!p->ptab)
			return VDB_ENOMEM;
		list_tables(f, p, d);
		p->bytes += tb;
		p->table_bytes = tb;
	}
	return VDB_OK;
}

/* lo[j] = the smaller of v[j] and v[j + n], hi[j] the larger (n entries):
 * halving 16 entries four times is a minimum and a maximum in registers. */
static void halve(const float *vl, const float *vh, float *lo, float *hi, int n)
{
	for (int j = 0; j < n; j++) {
		lo[j] = vl[j + n] < vl[j] ? vl[j + n] : vl[j];
		hi[j] = vh[j + n] > vh[j] ? vh[j + n] : vh[j];
	}
}

double vdb_pq4_quantize(const float *a, const float *b, size_t m, float *t, uint8_t *lut,
                        double *lo)
{
	unsigned qmax = m <= 257 ? 255 : m < 65535 ? (unsigned)(65535 / m) : 1;
	float span = 0, *mins = t + m * 16;
	double sum = 0;
	for (size_t s = 0; s < m; s++) {
		float v[16], l8[8], h8[8], l4[4], h4[4], l2[2], h2[2];
		const float *as = a + s * 16;
		if (b)
			for (int j = 0; j < 16; j++)
				v[j] = as[j] + b[s * 16 + j];
		else
			memcpy(v, as, sizeof v);
		memcpy(t + s * 16, v, sizeof v); /* (t may be a: the same values) */
		halve(v, v, l8, h8, 8);
		halve(l8, h8, l4, h4, 4);
		halve(l4, h4, l2, h2, 2);
		float mn = l2[1] < l2[0] ? l2[1] : l2[0], mx = h2[1] > h2[0] ? h2[1] : h2[0];
		mins[s] = mn;
		sum += mn;
		span = mx - mn > span ? mx - mn : span;
	}
	*lo = sum;
	float inv = (float)qmax / span, q = (float)qmax;
	if (!(span > 0) || !isfinite(span) || !(inv > 0) || !isfinite(inv)) {
		memset(lut, 0, m * 16);
		return 0;
	}
	for (size_t s = 0; s < m; s++) {
		const float *ts = t + s * 16;
		float mn = mins[s];
		int32_t iv[16];
		for (int j = 0; j < 16; j++) {
			float v = (ts[j] - mn) * inv + 0.5f; /* NaN: 0 */
			v = v > 0 ? v : 0;
			iv[j] = (int32_t)(v < q ? v : q);
		}
		for (int j = 0; j < 16; j++)
			lut[s * 16 + j] = (uint8_t)iv[j];
	}
	return (double)span / qmax;
}

/* The largest integer sum that can still enter h (false: none can). */
static bool threshold(const vdb_topk *h, double base, double delta, uint16_t *thr)
{
	*thr = UINT16_MAX;
	if (h->n < h->cap)
		return true;
	double room = h->dist[0] - base;
	if (room < 0)
		return false;
	if (delta > 0 && room / delta < UINT16_MAX - 1)
		*thr = (uint16_t)(room / delta) + 1;
	return true;
}

/* Scan list l's blocks into h: keys base + delta * sum. */
static void scan_list(const ivf *f, const vdb_pq4 *p, const vdb_kernels *K, uint32_t l,
                      const uint8_t *lut, double base, double delta, const uint64_t *allow,
                      vdb_topk *h, bool by_pos)
{
	size_t per = (size_t)p->m * 16;
	uint64_t p0 = f->off[l], len = f->off[l + 1] - p0;
	const uint8_t *codes = p->codes + p->blk[l] * per;
	uint16_t sum[BLK];
	uint16_t thr;
	for (uint64_t b = 0; b * BLK < len && threshold(h, base, delta, &thr); b++) {
		uint32_t mask = K->pq4_block(codes + b * per, lut, p->m, thr, sum);
		if (len - b * BLK < BLK)
			mask &= (1u << (len - b * BLK)) - 1;
		for (; mask; mask &= mask - 1) {
			unsigned i = (unsigned)__builtin_ctz(mask);
			uint64_t pos = p0 + b * BLK + i;
			/* (a row beyond the count is a damaged file's: never allowed) */
			if (allow && (f->row[pos] >= f->off[f->nlist] ||
			              !vdb_rowset_has(allow, f->row[pos])))
				continue;
			double key = base + delta * sum[i];
			if (h->n < h->cap || key <= h->dist[0])
				topk_push(h, key, by_pos ? (int64_t)pos : f->row[pos]);
		}
	}
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

void vdb_pq4_scan(const ivf *f, const vdb_pq4 *p, vdb_metric m, uint32_t d, ivf_ws *w,
                  size_t nl, const uint64_t *allow, vdb_topk *h, bool by_pos)
{
	const vdb_kernels *K = vdb_kernels_get();
	uint32_t pm = p->m, ds = f->pq_q.dsub;
	size_t per = (size_t)pm * 16;
	/* t: a list's table and m minima; qt: the query's; lut: t quantized */
	float *t = w->table, *qt = w->table + per + pm;
	uint8_t *lut = (uint8_t *)(qt + per);
	bool l2 = m == VDB_METRIC_L2, pre = l2 && p->ptab;
	double delta = 0, lo = 0;
	if (!l2 || pre) { /* -<q_s, cb> (ip, cosine), -2<q_s, cb> (l2) */
		tables16(p, w->q, ds, false, pre ? -2 : -1, qt);
		if (!l2)
			delta = vdb_pq4_quantize(qt, NULL, pm, t, lut, &lo);
	}
	for (size_t a = 0; a < nl; a++) {
		uint32_t l = (uint32_t)w->pi[a];
		const float *c = f->cent + (size_t)l * d;
		double base;
		if (pre) {
			delta = vdb_pq4_quantize(p->ptab + l * per, qt, pm, t, lut, &lo);
			base = w->pd[a]; /* |q - c|^2, from choosing the lists */
		} else if (l2) {
			for (uint32_t j = 0; j < d; j++)
				w->r[j] = w->q[j] - c[j];
			tables16(p, w->r, ds, true, 1, t);
			delta = vdb_pq4_quantize(t, NULL, pm, t, lut, &lo);
			base = 0;
		} else {
			base = -dot(w->q, c, d);
		}
		scan_list(f, p, K, l, lut, base + lo, delta, allow, h, by_pos);
	}
}
