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
	size_t bytes;
};

void vdb_pq4_free(vdb_pq4 *p)
{
	if (!p)
		return;
	free(p->blk), free(p->codes), free(p->ptab);
	free(p);
}

size_t vdb_pq4_bytes(const vdb_pq4 *p)
{
	return p ? p->bytes : 0;
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

static float l2sq(const float *a, const float *b, size_t d)
{
	float s = 0;
	for (size_t i = 0; i < d; i++)
		s += (a[i] - b[i]) * (a[i] - b[i]);
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
	p->bytes = bytes + ((size_t)f->nlist + 1) * sizeof *p->blk;
	if (metric == VDB_METRIC_L2 && vdb_mul_ok((size_t)f->nlist * per, sizeof(float), &tb) &&
	    tb <= MAX_PTAB_BYTES) {
		p->ptab = vdb_malloc(tb, "pq list tables");
		if (!p->ptab)
			return VDB_ENOMEM;
		list_tables(f, p, d);
		p->bytes += tb;
	}
	return VDB_OK;
}

double vdb_pq4_quantize(const float *a, const float *b, size_t m, float *t, uint8_t *lut,
                        double *lo)
{
	unsigned qmax = m <= 257 ? 255 : m < 65535 ? (unsigned)(65535 / m) : 1;
	float span = 0, *mins = t + m * 16;
	double sum = 0;
	for (size_t s = 0; s < m; s++) {
		float *ts = t + s * 16;
		const float *as = a + s * 16, *bs = b ? b + s * 16 : NULL;
		float mn, mx;
		if (bs) {
			#pragma omp simd
			for (int j = 0; j < 16; j++)
				ts[j] = as[j] + bs[j];
		} else if (ts != as) {
			memcpy(ts, as, 16 * sizeof *ts);
		}
		mn = mx = ts[0];
		#pragma omp simd reduction(min:mn) reduction(max:mx)
		for (int j = 0; j < 16; j++) {
			mn = ts[j] < mn ? ts[j] : mn;
			mx = ts[j] > mx ? ts[j] : mx;
		}
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
		#pragma omp simd
		for (int j = 0; j < 16; j++) {
			float v = (ts[j] - mn) * inv + 0.5f; /* NaN: 0 */
			v = v > 0 ? v : 0;
			lut[s * 16 + j] = (uint8_t)(int)(v < q ? v : q);
		}
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

void vdb_pq4_scan(const ivf *f, vdb_metric m, uint32_t d, ivf_ws *w, size_t nl,
                  const uint64_t *allow, vdb_topk *h, bool by_pos)
{
	const vdb_kernels *K = vdb_kernels_get();
	const vdb_pq4 *p = f->fast;
	uint32_t pm = p->m, ds = f->pq_q.dsub;
	size_t per = (size_t)pm * 16;
	/* t: a list's table and m minima; qt: the query's; lut: t quantized */
	float *t = w->table, *qt = w->table + per + pm;
	uint8_t *lut = (uint8_t *)(qt + per);
	bool l2 = m == VDB_METRIC_L2, pre = l2 && p->ptab;
	double delta = 0, lo = 0;
	if (!l2 || pre) { /* -<q_s, cb> (ip, cosine), -2<q_s, cb> (l2) */
		for (uint32_t s = 0; s < pm; s++)
			for (uint32_t j = 0; j < 16; j++)
				qt[s * 16 + j] = (pre ? -2 : -1) *
				                 dot(w->q + (size_t)s * ds,
				                        f->pq_q.cb + ((size_t)s * VDB_PQ_KSUB + j) * ds, ds);
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
			for (uint32_t s = 0; s < pm; s++)
				for (uint32_t j = 0; j < 16; j++)
					t[s * 16 + j] = l2sq(w->r + (size_t)s * ds,
					                        f->pq_q.cb + ((size_t)s * VDB_PQ_KSUB + j) * ds, ds);
			delta = vdb_pq4_quantize(t, NULL, pm, t, lut, &lo);
			base = 0;
		} else {
			base = -dot(w->q, c, d);
		}
		scan_list(f, p, K, l, lut, base + lo, delta, allow, h, by_pos);
	}
}
