/*
 * index_lsh.c — locality-sensitive hashing: L tables of b-bit random
 * hyperplane keys (SimHash, Charikar 2002), multi-probe at query time (Lv
 * et al., "Multi-Probe LSH", VLDB 2007), candidates re-ranked exactly.
 *
 * Hashing. Bit j of a vector's key in table t is the side of hyperplane
 * r_tj it lies on: <r_tj, x - c> > 0, r_tj a unit vector of Gaussian
 * components drawn from the seed, c the mean of the build's vectors. Two
 * vectors at angle θ (about c) share a bit with probability 1 - θ/π, so
 * near vectors share buckets. Every metric uses these hyperplanes:
 *   cosine  the rows are normalised first (as everywhere); SimHash proper.
 *   ip      SimHash of the raw rows: an angular proxy for the largest dot
 *           products, which the exact re-ranking then orders.
 *   l2      hyperplanes through the centre of the data rather than p-stable
 *           E2LSH (Datar et al. 2004): near in l2 means a small angle about
 *           the centre for all but the rows nearest to it; the keys stay
 *           bits, so one table layout and one multi-probe order (flip the
 *           bits whose projection is nearest 0) serve every metric, and
 *           there is no bucket width w to tune per data set, which E2LSH
 *           needs and gets badly wrong when the scale of the data changes.
 * Centring is applied for cosine and ip too: word and image vectors share
 * a common direction, and hyperplanes through the origin put most rows on
 * the same side of most of them. On WordNet fastText (cosine, 8 tables of
 * 12 bits) centring gives buckets of at most 101 rows where the origin
 * gives 481, and at recall@10 0.93 answers ~15% more queries a second.
 *
 * Probing. A query's projections p_j give its home bucket; the next ones
 * flip sets of bits in the order of the sum of p_j^2 over the flipped bits
 * (the least confident bits first), generated lazily with a small heap by
 * the shift/expand scheme of Lv et al.: each set of bits once, in order.
 * Candidates from all tables are deduplicated with a tag per row and ranked
 * against the float32 rows kept in the file as exact search ranks: a SIMD
 * key filters, vdb_exact_distance decides (topk.h's exact filter).
 *
 * k means k. A query whose probes find fewer than k candidates (small or
 * unlucky buckets) probes twice as many buckets until it has k, or ranks
 * every row once that is cheaper (SCAN_PROBES): whenever the index holds k
 * rows it returns k. A filtered search (--filter; deleted rows) does the
 * same over the allowed rows only. A filter keeping few rows takes
 * filtered.c's exact path over the VECS rows.
 *
 * Sections:
 *   LSPL  the hyperplanes: tables x bits x dim float32 (unit vectors)
 *   LSCE  the centre: dim float32
 *   LSKY  per table, count u32 keys in ascending order (table t at t*count)
 *   LSRW  per table, the row of each key (rows of one key in row order)
 *   VECS  the rows, count x dim float32 (normalised for cosine)
 * Header params: tables, bits, the largest |x|^2 (a double, as bits). A
 * bucket is a run of equal keys, found through a directory made in memory
 * on the first search (bucket_dir): the file is 8 bytes per row and table
 * whatever the bits.
 * Builds are deterministic: planes from the seed, keys per row, a sort by
 * (key, row); one seed gives byte-identical files on any thread count.
 */
#include "index_internal.h"
#include "filter_plan.h"
#include "random.h"
#include "rows.h"
#include "topk.h"
#include <math.h>
#include <omp.h>
#include <string.h>

#define SEC_LSPL VDB_FOURCC('L', 'S', 'P', 'L')
#define SEC_LSCE VDB_FOURCC('L', 'S', 'C', 'E')
#define SEC_LSKY VDB_FOURCC('L', 'S', 'K', 'Y')
#define SEC_LSRW VDB_FOURCC('L', 'S', 'R', 'W')
#define SEC_LSDR VDB_FOURCC('L', 'S', 'D', 'R')

enum { P_TABLES = 1, P_BITS = 2, P_XMAX = 3 };
#define DEFAULT_TABLES 8u
/* Default bits: buckets of about BUCKET_ROWS rows, 2^bits the count over
 * it, rounded (WordNet's 26,559 rows: 12 bits, the setting measured above;
 * the bundled 1,000 words 7, sift2k 8). A fixed 16 left a row or none in a
 * bucket on such sets, 8 tables finding one candidate where k were asked. */
#define BUCKET_ROWS 8.0

typedef struct {
	uint32_t tables, bits;
	double xmax;           /* largest |x|^2: bounds the rounding of ip keys */
	const float *planes;   /* tables * bits * dim */
	const float *centre;   /* dim */
	const uint32_t *keys;  /* tables * count, ascending per table */
	const uint32_t *rows;  /* tables * count */
	const float *vecs;     /* count * dim */
	float *own_planes, *own_centre;
	uint32_t *own_keys, *own_rows;
	float *own_vecs;       /* append: base's rows and the new ones */
	double met_bucket;     /* the planner's bucket size (bucket_met); 0 until asked */
	const uint32_t *dir_file; /* the bucket directory from the file (LSDR), or NULL */
	uint32_t *dir;         /* ... made in memory (bucket_dir); NULL until needed */
} lsh;

/* The build parameters (ranges checked by vdb_build_opts_check). */
static const struct vdb_index_param param_tables = {
	.name = "lsh_tables", .option = "--lsh-tables", .what = "hash tables", .min = 1,
	.max = VDB_LSH_MAX_TABLES, .def = DEFAULT_TABLES,
};
static const struct vdb_index_param param_bits = {
	.name = "lsh_bits", .option = "--lsh-bits",
	.what = "bits per table (2^bits buckets; default from the count)", .min = 1,
	.max = VDB_LSH_MAX_BITS,
};
static const struct vdb_index_param *const params[] = { &param_tables, &param_bits, NULL };

/* ===== Hashing ===== */
/* tables * bits unit hyperplanes from the seed alone. */
static void draw_planes(float *planes, size_t nplanes, uint32_t d, uint64_t seed)
{
	uint64_t st = seed ^ 0x4c53482d706c616eull; /* "LSH-plan": not k-means' stream */
	for (size_t p = 0; p < nplanes; p++) {
		float *r = planes + p * d;
		double norm = 0;
		for (uint32_t i = 0; i < d; i++) {
			double g = vdb_gaussian(&st);
			r[i] = (float)g;
			norm += g * g;
		}
		float inv = norm > 0 ? (float)(1.0 / sqrt(norm)) : 0;
		for (uint32_t i = 0; i < d; i++)
			r[i] *= inv;
	}
}

/* The mean of n rows, summed in row order (the same on any thread count). */
static vdb_status mean_of(float *c, const float *x, size_t n, uint32_t d)
{
	double *acc = calloc(d, sizeof *acc);
	VDB_RETURN_IF(!acc, VDB_ENOMEM, "out of memory");
	for (size_t j = 0; j < n; j++)
		for (uint32_t i = 0; i < d; i++)
			acc[i] += x[j * d + i];
	for (uint32_t i = 0; i < d; i++)
		c[i] = n ? (float)(acc[i] / (double)n) : 0;
	free(acc);
	return VDB_OK;
}

/* Projections of x - centre (xc: dim scratch) on every plane, into p. */
static void project(const lsh *h, const vdb_kernels *K, uint32_t d, const float *x, float *xc,
                    float *p)
{
	for (uint32_t i = 0; i < d; i++)
		xc[i] = x[i] - h->centre[i];
	size_t np = (size_t)h->tables * h->bits;
	for (size_t j = 0; j < np; j++)
		p[j] = K->dot(h->planes + j * d, xc, d);
}

static uint32_t key_of(const float *p, uint32_t bits)
{
	uint32_t k = 0;
	for (uint32_t j = 0; j < bits; j++)
		k |= (uint32_t)(p[j] > 0) << j;
	return k;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* Keys of rows [first, n) of x (row i is x + (i - first) * d) appended to
 * the first `first` (key, row) pairs of every table, and each table sorted
 * by (key, row). old: base's tables (keys, rows), or NULL. */
static vdb_status fill_tables(vdb_index *ix, lsh *h, const float *x, size_t first,
                              const lsh *old)
{
	const size_t n = ix->count, L = h->tables;
	const uint32_t d = ix->dim, b = h->bits;
	uint64_t *pairs = vdb_malloc(L * n * sizeof *pairs, "hash tables");
	h->own_keys = vdb_malloc(L * n * sizeof *h->own_keys, "hash tables");
	h->own_rows = vdb_malloc(L * n * sizeof *h->own_rows, "hash tables");
	if (!pairs || !h->own_keys || !h->own_rows) {
		free(pairs);
		return vdb_fail(VDB_ENOMEM, "out of memory for %zu hash tables of %zu rows", L, n);
	}
	for (size_t t = 0; old && t < L; t++)
		for (size_t e = 0; e < first; e++)
			pairs[t * n + e] = (uint64_t)old->keys[t * first + e] << 32 |
			                   old->rows[t * first + e];
	vdb_status st = VDB_OK;
	const vdb_kernels *K = vdb_kernels_get();
	#pragma omp parallel
	{
		float *xc = malloc(d * sizeof *xc), *p = malloc(L * b * sizeof *p);
		if (!xc || !p) {
			#pragma omp atomic write
			st = VDB_ENOMEM;
		}
		#pragma omp for schedule(static)
		for (size_t i = first; i < n; i++) {
			if (!xc || !p)
				continue;
			project(h, K, d, x + (i - first) * d, xc, p);
			for (size_t t = 0; t < L; t++)
				pairs[t * n + i] = (uint64_t)key_of(p + t * b, b) << 32 | i;
		}
		free(xc), free(p);
		#pragma omp for schedule(dynamic, 1)
		for (size_t t = 0; t < L; t++) {
			qsort(pairs + t * n, n, sizeof *pairs, cmp_u64);
			for (size_t e = 0; e < n; e++) {
				h->own_keys[t * n + e] = (uint32_t)(pairs[t * n + e] >> 32);
				h->own_rows[t * n + e] = (uint32_t)pairs[t * n + e];
			}
		}
	}
	free(pairs);
	VDB_RETURN_IF(st, st, "out of memory for hashing");
	h->keys = h->own_keys;
	h->rows = h->own_rows;
	return VDB_OK;
}

/* ===== The bucket directory =====
 * A table's keys are sorted; for each value of a key's top dir_bits bits
 * the directory holds where the keys with that prefix begin (and n after
 * the last). With the default bits (2^bits about n / BUCKET_ROWS) the
 * prefix is the whole key: a bucket is two reads, where a binary search
 * over the table's keys was log2 n reads each waiting for the last (61%
 * of a filtered lsh search's CPU samples on the clustered 100k were in
 * it). More bits than that (--lsh-bits) keep the directory at
 * 2^(floor(log2 n) - 2) + 1 entries a table, at most a quarter of the
 * keys' bytes, and search the few keys under a prefix. Saved in the file (LSDR: at the
 * default bits half a byte a row and table); a file written before it had
 * one gets it made in memory on its first search and kept (threads that
 * race each make one, the first published wins, the others are freed). */
static uint32_t dir_bits(const lsh *h, size_t n)
{
	uint32_t r = 1;
	while (r < h->bits && ((size_t)8 << r) <= n) /* while 2^(r+1) <= n / 4 */
		r++;
	return r < h->bits ? r : h->bits;
}

/* Entries a table: a prefix's start, and n after the last. */
static size_t dir_span(const lsh *h, size_t n)
{
	return ((size_t)1 << dir_bits(h, n)) + 1;
}

/* Table t's directory entry j: where keys with prefix j begin. */
static uint32_t dir_entry(const uint32_t *keys, size_t n, uint32_t shift, size_t j, size_t *e)
{
	while (*e < n && (keys[*e] >> shift) < j)
		(*e)++;
	return (uint32_t)*e;
}

/* The whole directory, made from the keys. */
static uint32_t *dir_make(const lsh *h, size_t n)
{
	const uint32_t shift = h->bits - dir_bits(h, n);
	const size_t span = dir_span(h, n);
	uint32_t *dir = malloc(h->tables * span * sizeof *dir);
	for (size_t t = 0; dir && t < h->tables; t++)
		for (size_t j = 0, e = 0; j < span; j++)
			dir[t * span + j] = dir_entry(h->keys + t * n, n, shift, j, &e);
	return dir;
}

static const uint32_t *bucket_dir(const lsh *h, size_t n)
{
	if (h->dir_file)
		return h->dir_file;
	uint32_t **slot = (uint32_t **)&h->dir, *got;
	__atomic_load(slot, &got, __ATOMIC_ACQUIRE);
	if (got)
		return got;
	uint32_t *dir = dir_make(h, n), *none = NULL;
	if (!dir)
		return NULL;
	if (__atomic_compare_exchange_n(slot, &none, dir, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return dir;
	free(dir);
	return none; /* another thread's, published first */
}

/* ===== Build, append, save, open ===== */
static lsh *lsh_new(vdb_index *ix, uint32_t tables, uint32_t bits)
{
	lsh *h = calloc(1, sizeof *h);
	if (!h) {
		vdb_fail(VDB_ENOMEM, "out of memory");
		return NULL;
	}
	ix->impl = h;
	h->tables = tables;
	h->bits = bits;
	return h;
}

static uint32_t default_bits(size_t n)
{
	double b = round(log2((double)n / BUCKET_ROWS));
	return b >= VDB_LSH_MAX_BITS ? VDB_LSH_MAX_BITS : b > 1 ? (uint32_t)b : 1;
}

static vdb_status lsh_build(vdb_index *ix, vdb_vecs *data, const vdb_build_opts *o)
{
	(void)data; /* index.c already moved data into ix->owned */
	unsigned bits = vdb_param_value(o, &param_bits);
	lsh *h = lsh_new(ix, vdb_param_value(o, &param_tables), bits ? bits : default_bits(ix->count));
	if (!h)
		return VDB_ENOMEM;
	const uint32_t d = ix->dim;
	size_t np = (size_t)h->tables * h->bits;
	h->planes = h->own_planes = vdb_malloc(np * d * sizeof(float), "hyperplanes");
	h->centre = h->own_centre = vdb_malloc(d * sizeof(float), "centre");
	if (!h->planes || !h->centre)
		return VDB_ENOMEM;
	draw_planes(h->own_planes, np, d, ix->seed);
	h->vecs = ix->owned.data;
	h->xmax = vdb_max_norm2(h->vecs, ix->count, d, 0);
	vdb_status s = mean_of(h->own_centre, h->vecs, ix->count, d);
	return s ? s : fill_tables(ix, h, h->vecs, 0, NULL);
}

/* New rows are hashed with base's planes and centre (the centre stays the
 * build's: moving it would move every key). */
/* A new lsh for ix with base's tables, hyperplanes and centre (copies:
 * base is closed after the save) and room for ix's rows. */
static lsh *lsh_like(vdb_index *ix, const lsh *bh)
{
	lsh *h = lsh_new(ix, bh->tables, bh->bits);
	if (!h)
		return NULL;
	const size_t d = ix->dim, pb = (size_t)h->tables * h->bits * d * sizeof(float);
	h->vecs = h->own_vecs = vdb_malloc(ix->count * d * sizeof(float), "vectors");
	h->own_planes = vdb_malloc(pb, "hyperplanes");
	h->own_centre = vdb_malloc(d * sizeof(float), "centre");
	if (!h->own_vecs || !h->own_planes || !h->own_centre)
		return NULL;
	memcpy(h->own_planes, bh->planes, pb);
	memcpy(h->own_centre, bh->centre, d * sizeof(float));
	h->planes = h->own_planes;
	h->centre = h->own_centre;
	h->xmax = bh->xmax;
	return h;
}

static vdb_status lsh_append(vdb_index *ix, const vdb_index *base, vdb_vecs *data,
                             const vdb_build_opts *o)
{
	(void)o;
	const lsh *bh = base->impl;
	lsh *h = lsh_like(ix, bh);
	if (!h)
		return VDB_ENOMEM;
	const size_t d = ix->dim, nb = base->count;
	memcpy(h->own_vecs, bh->vecs, nb * d * sizeof(float));
	memcpy(h->own_vecs + nb * d, data->data, data->n * d * sizeof(float));
	h->xmax = vdb_max_norm2(data->data, data->n, (uint32_t)d, bh->xmax);
	return fill_tables(ix, h, data->data, nb, bh);
}

/* The kept rows renumbered in every table: the renumbering keeps their
 * order, so each table stays sorted by (key, row) and nothing is hashed
 * again; the largest |x|^2 only bounds rounding, so base's still holds. */
static vdb_status lsh_compact(vdb_index *ix, const vdb_index *base, const int64_t *keep,
                              const vdb_build_opts *o)
{
	(void)o;
	const lsh *bh = base->impl;
	lsh *h = lsh_like(ix, bh);
	const size_t n = ix->count, nb = base->count, d = ix->dim, L = bh->tables;
	int64_t *renum = h ? vdb_malloc((nb ? nb : 1) * sizeof *renum, "row numbers") : NULL;
	h = renum ? h : NULL;
	if (h) {
		h->own_keys = vdb_malloc(L * n * sizeof *h->own_keys, "hash tables");
		h->own_rows = vdb_malloc(L * n * sizeof *h->own_rows, "hash tables");
	}
	if (!h || !h->own_keys || !h->own_rows) {
		free(renum);
		return vdb_fail(VDB_ENOMEM, "out of memory for %zu hash tables of %zu rows", L, n);
	}
	for (size_t i = 0; i < nb; i++)
		renum[i] = -1;
	for (size_t i = 0; i < n; i++) {
		renum[keep[i]] = (int64_t)i;
		memcpy(h->own_vecs + i * d, bh->vecs + (size_t)keep[i] * d, d * sizeof(float));
	}
	size_t bad = 0;
	for (size_t t = 0; t < L; t++)
		for (size_t e = 0, j = 0; e < nb; e++) {
			uint32_t br = bh->rows[t * nb + e];
			int64_t r = br < nb ? renum[br] : -1;
			bad += br >= nb;
			if (r >= 0 && j < n) {
				h->own_keys[t * n + j] = bh->keys[t * nb + e];
				h->own_rows[t * n + j++] = (uint32_t)r;
			}
		}
	free(renum);
	VDB_RETURN_IF(bad, VDB_ECORRUPT, "%s: lsh tables name rows beyond the count (--verify)",
	              base->file ? base->file->path : "index");
	h->keys = h->own_keys;
	h->rows = h->own_rows;
	return VDB_OK;
}

static vdb_status lsh_save(const vdb_index *ix, vdb_file_writer *w, vdb_header *hd)
{
	const lsh *h = ix->impl;
	const size_t n = ix->count, d = ix->dim, L = h->tables;
	hd->storage = VDB_STORAGE_F32;
	hd->params[P_TABLES] = h->tables;
	hd->params[P_BITS] = h->bits;
	memcpy(&hd->params[P_XMAX], &h->xmax, sizeof h->xmax);
	vdb_status s = vdb_file_write_section(w, SEC_LSPL, h->planes, L * h->bits * d * sizeof(float));
	if (!s)
		s = vdb_file_write_section(w, SEC_LSCE, h->centre, d * sizeof(float));
	if (!s)
		s = vdb_file_write_section(w, SEC_LSKY, h->keys, L * n * sizeof(uint32_t));
	if (!s)
		s = vdb_file_write_section(w, SEC_LSRW, h->rows, L * n * sizeof(uint32_t));
	const uint32_t *dir = s ? NULL : bucket_dir(h, n);
	if (!s && !dir)
		s = vdb_fail(VDB_ENOMEM, "out of memory for the bucket directory");
	if (!s)
		s = vdb_file_write_section(w, SEC_LSDR, dir, L * dir_span(h, n) * sizeof(uint32_t));
	if (!s)
		s = vdb_file_write_section(w, VDB_SEC_VECS, h->vecs, n * d * sizeof(float));
	return s;
}

/* Section kind of exactly want bytes (ok false: want overflowed), or an error. */
static const void *section(const vdb_index *ix, uint32_t kind, size_t want, bool ok,
                           vdb_status *st)
{
	size_t len;
	char fc[5];
	const void *p = vdb_file_section(ix->file, kind, &len);
	if (*st)
		return NULL;
	if (!p)
		*st = vdb_fail(VDB_ECORRUPT, "%s: lsh index without its %s section", ix->file->path,
		               vdb_fourcc_str(kind, fc));
	else if (!ok || len != want)
		*st = vdb_fail(VDB_ECORRUPT, "%s: %s section is %zu bytes; expected %zu",
		               ix->file->path, vdb_fourcc_str(kind, fc), len, want);
	return *st ? NULL : p;
}

static vdb_status lsh_open(vdb_index *ix)
{
	const vdb_file *f = ix->file;
	const uint64_t *p = f->h.params;
	VDB_RETURN_IF(f->h.storage != VDB_STORAGE_F32 || f->h.metric == VDB_METRIC_HAMMING ||
	              p[P_TABLES] < 1 || p[P_TABLES] > VDB_LSH_MAX_TABLES || p[P_BITS] < 1 ||
	              p[P_BITS] > VDB_LSH_MAX_BITS, VDB_ECORRUPT,
	              "%s: LSH parameters out of range (tables %llu, bits %llu, storage %u)", f->path,
	              (unsigned long long)p[P_TABLES], (unsigned long long)p[P_BITS], f->h.storage);
	lsh *h = lsh_new(ix, (uint32_t)p[P_TABLES], (uint32_t)p[P_BITS]);
	if (!h)
		return VDB_ENOMEM;
	memcpy(&h->xmax, &p[P_XMAX], sizeof h->xmax);
	VDB_RETURN_IF(!(h->xmax >= 0) || isinf(h->xmax), VDB_ECORRUPT,
	              "%s: LSH norm bound is not a finite number", f->path);
	const size_t n = ix->count, d = ix->dim, L = h->tables;
	size_t pw, tw, vw;
	bool okp = vdb_mul_ok(L * h->bits, d * sizeof(float), &pw);
	bool okt = vdb_mul_ok(L, n * sizeof(uint32_t), &tw);
	bool okv = vdb_mul_ok(n, d * sizeof(float), &vw);
	vdb_status st = VDB_OK;
	h->planes = section(ix, SEC_LSPL, pw, okp, &st);
	h->centre = section(ix, SEC_LSCE, d * sizeof(float), true, &st);
	h->keys = section(ix, SEC_LSKY, tw, okt, &st);
	h->rows = section(ix, SEC_LSRW, tw, okt, &st);
	h->vecs = section(ix, VDB_SEC_VECS, vw, okv, &st);
	size_t dw = L * dir_span(h, n) * sizeof(uint32_t); /* (at most n/4 + 1 a table) */
	if (!st && vdb_file_section(f, SEC_LSDR, &(size_t){0})) /* older files have none */
		h->dir_file = section(ix, SEC_LSDR, dw, true, &st);
	/* every query projects on all the planes about the centre (what one
	 * query reads): a NaN there would put every row in one bucket */
	if (!st)
		st = vdb_check_finite(h->planes, L * h->bits, d, f->path, "LSPL");
	if (!st)
		st = vdb_check_finite(h->centre, 1, d, f->path, "LSCE");
	return st;
}

/* Every table: keys ascending, rows a permutation of 0..count-1, the
 * directory (when the file has one) where the keys say; the rows' values
 * finite. */
static vdb_status lsh_verify(const vdb_index *ix)
{
	const lsh *h = ix->impl;
	const size_t n = ix->count;
	const char *name = ix->file ? ix->file->path : "index";
	vdb_status st = vdb_check_finite(h->vecs, n, ix->dim, name, "VECS");
	if (st)
		return st;
	uint32_t *seen = calloc(n ? n : 1, sizeof *seen);
	VDB_RETURN_IF(!seen, VDB_ENOMEM, "out of memory");
	for (size_t t = 0; !st && t < h->tables; t++)
		for (size_t e = 0; !st && e < n; e++) {
			uint32_t r = h->rows[t * n + e];
			if (e && h->keys[t * n + e] < h->keys[t * n + e - 1])
				st = vdb_fail(VDB_ECORRUPT, "%s: LSKY table %zu is not sorted at entry %zu",
				              name, t, e);
			else if (r >= n || seen[r] == t + 1)
				st = vdb_fail(VDB_ECORRUPT, "%s: LSRW table %zu entry %zu holds row %u: not "
				              "a permutation of the %zu rows", name, t, e, r, n);
			else
				seen[r] = (uint32_t)t + 1;
		}
	free(seen);
	/* the directory: where each prefix's keys begin */
	const uint32_t shift = h->bits - dir_bits(h, n);
	const size_t span = dir_span(h, n);
	for (size_t t = 0; !st && h->dir_file && t < h->tables; t++)
		for (size_t j = 0, e = 0; !st && j < span; j++) {
			uint32_t want = dir_entry(h->keys + t * n, n, shift, j, &e);
			if (h->dir_file[t * span + j] != want)
				st = vdb_fail(VDB_ECORRUPT, "%s: LSDR table %zu entry %zu is %u; the keys "
				              "say %u", name, t, j, h->dir_file[t * span + j], want);
		}
	return st;
}

/* ===== Search ===== */
/* A set of bits to flip, waiting in the probe heap (topk.h's, keyed by
 * the negated score so that its root, the "worst", is the smallest score):
 * score is the sum of p_j^2 over them; flip the bits to flip, in key
 * positions; last its highest place (in the order of |p_j|), from which the
 * next sets grow. Flip and last are packed into the heap's id. */
static inline void probe_push(vdb_topk *hp, double score, uint32_t flip, uint32_t last)
{
	topk_push(hp, -score, (int64_t)last << 32 | flip);
}

typedef struct {
	float *q, *xc, *p;    /* query (normalised for cosine), scratch, projections */
	/* a row is a candidate of this query when tags[row] == gen: a byte a
	 * row (a quarter of the cache a u32 took: the tags are read at random,
	 * one a row met; cleared every 255 queries) */
	uint8_t *tags, gen;
	const uint64_t *allow; /* filtered search: the rows that may be candidates */
	size_t met, kept;     /* this query's candidates so far, and of them allowed */
	/* each table's probe sets (2 * probes + 2 each, in one block): kept
	 * from a pass to the next, which goes on where the last stopped */
	vdb_topk heaps[VDB_LSH_MAX_TABLES];
	double *heap_dist;
	int64_t *heap_id;
	struct lsh_bucket { uint32_t key, lo, hi; } *bk; /* a pass's buckets of a table */
	size_t bk_cap;        /* probes */
	uint32_t order[VDB_LSH_MAX_TABLES][VDB_LSH_MAX_BITS]; /* a table's bits by |p| */
	double z[VDB_LSH_MAX_TABLES][VDB_LSH_MAX_BITS]; /* p^2 in that order */
	double *hd;
	int64_t *hi;
	const uint32_t *dir;  /* bucket_dir: dir_span entries a table */
	size_t dir_span;
	uint32_t dir_shift;   /* bits - dir_bits */
} lsh_ws;

static void ws_free(lsh_ws *w)
{
	if (w)
		free(w->q), free(w->xc), free(w->p), free(w->tags), free(w->heap_dist),
		free(w->heap_id), free(w->bk), free(w->hd), free(w->hi);
	free(w);
}

static lsh_ws *ws_new(const lsh *h, size_t n, uint32_t d, size_t probes, size_t k)
{
	lsh_ws *w = calloc(1, sizeof *w);
	if (!w)
		return NULL;
	w->q = malloc(d * sizeof *w->q);
	w->xc = malloc(d * sizeof *w->xc);
	w->p = malloc((size_t)h->tables * h->bits * sizeof *w->p);
	w->tags = calloc(n ? n : 1, sizeof *w->tags);
	const size_t cap = 2 * probes + 2, L = h->tables;
	w->heap_dist = malloc(L * cap * sizeof *w->heap_dist);
	w->heap_id = malloc(L * cap * sizeof *w->heap_id);
	for (size_t t = 0; t < L; t++)
		w->heaps[t] = (vdb_topk){ w->heap_dist + t * cap, w->heap_id + t * cap, 0, (uint32_t)cap };
	w->bk_cap = probes;
	w->bk = malloc(probes * sizeof *w->bk);
	w->hd = malloc(k * sizeof *w->hd);
	w->hi = malloc(k * sizeof *w->hi);
	w->dir = bucket_dir(h, n);
	w->dir_span = dir_span(h, n);
	w->dir_shift = h->bits - dir_bits(h, n);
	if (!w->q || !w->xc || !w->p || !w->tags || !w->heap_dist || !w->heap_id || !w->bk ||
	    !w->hd || !w->hi || !w->dir) {
		ws_free(w);
		return NULL;
	}
	return w;
}

/* The first of keys[lo, hi) above key (after) or at least key. */
static size_t key_bound(const uint32_t *keys, size_t lo, size_t hi, uint32_t key, bool after)
{
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (keys[mid] < key || (after && keys[mid] == key))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Table t's bucket of key (keys: the table's n sorted keys, e: its
 * directory entry of the key's prefix, shift: bits - dir_bits): the
 * prefix's range, then under a prefix of fewer bits than the key the keys
 * equal to it (a binary search of the few under the prefix). */
static void bucket_of(const uint32_t *keys, size_t n, const uint32_t *e, uint32_t shift,
                      uint32_t key, size_t *lo, size_t *hi)
{
	size_t a = e[0] < n ? e[0] : n, b = e[1] < n ? e[1] : n;
	b = b > a ? b : a; /* (a damaged directory) */
	if (shift) {
		a = key_bound(keys, a, b, key, false);
		b = key_bound(keys, a, b, key, true);
	}
	*lo = a, *hi = b;
}

/* Where each of a pass's nb buckets of table t (w->bk) lies in the table:
 * their directory entries asked for all at once, then their first rows,
 * so that one bucket's cache misses overlap the others' (a bucket was two
 * misses, one waiting for the other: half a filtered search's samples on
 * the clustered 100k). */
static void locate(const lsh *h, lsh_ws *w, size_t n, size_t t, size_t nb)
{
	const uint32_t *keys = h->keys + t * n, *rows = h->rows + t * n;
	const uint32_t *dir = w->dir + t * w->dir_span, shift = w->dir_shift;
	struct lsh_bucket *b = w->bk;
	for (size_t i = 0; i < nb; i++)
		__builtin_prefetch(dir + (b[i].key >> shift));
	for (size_t i = 0; i < nb; i++) {
		size_t lo, hi;
		bucket_of(keys, n, dir + (b[i].key >> shift), shift, b[i].key, &lo, &hi);
		b[i].lo = (uint32_t)lo, b[i].hi = (uint32_t)hi;
		__builtin_prefetch(rows + lo);
	}
}

/* Every row of table t's entries [lo, hi) (a bucket) joins the candidates
 * (once). The rows to rank are gathered VISIT_BATCH at a time, their first
 * VISIT_PREFETCH bytes asked for, then ranked: each is at a random place,
 * and ranking them one by one waited for each in turn (two thirds of an
 * lsh search's CPU samples were in the distance kernel, waiting). */
#define VISIT_BATCH 16
#define VISIT_PREFETCH 1024
static void visit(const lsh *h, lsh_ws *w, size_t n, size_t t, size_t lo, size_t hi, uint32_t d,
                  vdb_exact_filter *ef, vdb_topk *top)
{
	const uint32_t *rows = h->rows + t * n;
	uint32_t batch[VISIT_BATCH];
	size_t nb = 0;
	for (size_t e = lo;; e++) {
		bool end = e >= hi;
		if (nb == VISIT_BATCH || (end && nb)) {
			for (size_t i = 0; i < nb; i++)
				vdb_exact_filter_push(ef, top, h->vecs + (size_t)batch[i] * d, batch[i]);
			nb = 0;
		}
		if (end)
			break;
		uint32_t r = rows[e];
		if (r >= n || w->tags[r] == w->gen)
			continue; /* r >= n: only in a damaged file */
		w->tags[r] = w->gen;
		w->met++;
		if (!w->allow || vdb_rowset_has(w->allow, r)) {
			w->kept++;
			const char *v = (const char *)(h->vecs + (size_t)r * d);
			for (size_t o = 0; o < d * sizeof(float) && o < VISIT_PREFETCH; o += 64)
				__builtin_prefetch(v + o);
			batch[nb++] = r;
		}
	}
}

/* The home bucket of table t, then probes - 1 more in the order of the
 * bits least sure of their side (Lv et al.'s shift/expand generation);
 * the first `from` of them were visited by an earlier pass of the query,
 * whose probe heap this one goes on from. The pass's buckets are located
 * together, then walked. */
static void probe_table(const lsh *h, lsh_ws *w, size_t n, size_t t, size_t probes,
                        size_t from, uint32_t d, vdb_exact_filter *ef, vdb_topk *top)
{
	const uint32_t b = h->bits;
	const float *p = w->p + t * b;
	uint32_t home = key_of(p, b), *order = w->order[t];
	double *zs = w->z[t];
	vdb_topk *hp = &w->heaps[t];
	size_t nb = 0;
	if (from == 0)
		w->bk[nb++].key = home;
	if (probes < 2)
		goto walk;
	if (from <= 1) { /* the heap begins (a pass of one probe made none) */
		/* positions by |p| ascending (insertion sort of at most 32) */
		for (uint32_t j = 0; j < b; j++) {
			uint32_t i = j;
			double z = (double)p[j] * p[j];
			while (i > 0 && zs[i - 1] > z) {
				zs[i] = zs[i - 1];
				order[i] = order[i - 1];
				i--;
			}
			zs[i] = z;
			order[i] = j;
		}
		hp->n = 0;
		probe_push(hp, zs[0], 1u << order[0], 0);
	}
	for (size_t got = from ? from : 1; got < probes && hp->n > 0; got++) {
		double key;
		int64_t set;
		topk_pop(hp, &key, &set);
		double score = -key;
		uint32_t flip = (uint32_t)set, last = (uint32_t)(set >> 32);
		w->bk[nb++].key = home ^ flip;
		uint32_t nx = last + 1;
		if (nx >= b)
			continue;
		/* shift: the last bit moves one place on; expand: the next joins */
		probe_push(hp, score - zs[last] + zs[nx], flip ^ 1u << order[last] ^ 1u << order[nx],
		           nx);
		probe_push(hp, score + zs[nx], flip ^ 1u << order[nx], nx);
	}
walk:
	locate(h, w, n, t, nb);
	for (size_t i = 0; i < nb; i++)
		visit(h, w, n, t, w->bk[i].lo, w->bk[i].hi, d, ef, top);
}

/* A query whose probes find fewer than `want` rows (k, or every row that
 * may be returned when fewer: allowed rows when filtered, else all) probes
 * twice as many buckets (searching only the new ones: the tags keep the
 * rows already ranked), until probing would cost more than ranking every
 * remaining row, a probe (finding a bucket and walking it) counted as
 * SCAN_PROBES rankings of a row:
 * then it ranks them all, and has the exact answer. Filtered, it does so
 * too while the buckets held fewer allowed rows than half the rows its
 * first probes met, as ivf does (vdb_ivf_search_allowed): a filter thins
 * the buckets, and the first k allowed rows met are not the nearest. On WordNet fastText
 * (cosine, 8 tables of 12 bits, 1,000 queries, k 10, one thread) with 10%
 * of the rows kept and 16 probes: 31 ms at 32, 64 ms at 8, 123 ms at 1. */
#define SCAN_PROBES 32

/* Room in each table's probe heap for probes (a pop pushes at most two),
 * and for a pass's buckets of a table. */
static bool heap_room(lsh_ws *w, size_t tables, size_t probes)
{
	size_t cap = 2 * probes + 2;
	if (probes > w->bk_cap) {
		struct lsh_bucket *bk = realloc(w->bk, probes * sizeof *bk);
		if (!bk)
			return false;
		w->bk = bk, w->bk_cap = probes;
	}
	const size_t old = w->heaps[0].cap, L = tables;
	if (cap <= old)
		return true;
	if (cap > UINT32_MAX)
		return false;
	double *kd = realloc(w->heap_dist, L * cap * sizeof *kd);
	if (!kd)
		return false;
	w->heap_dist = kd;
	for (size_t t = 0; t < L; t++) /* (still the old places) */
		w->heaps[t].dist = kd + t * old;
	int64_t *ki = realloc(w->heap_id, L * cap * sizeof *ki);
	if (!ki)
		return false;
	w->heap_id = ki;
	/* each table's heap to its place in the larger block, the last first */
	for (size_t t = L; t-- > 0;) {
		vdb_topk *hp = &w->heaps[t];
		memmove(kd + t * cap, kd + t * old, hp->n * sizeof *kd);
		memmove(ki + t * cap, ki + t * old, hp->n * sizeof *ki);
		*hp = (vdb_topk){ kd + t * cap, ki + t * cap, hp->n, (uint32_t)cap };
	}
	return true;
}

/* The allowed rows (every row without w->allow) not yet candidates, every
 * one ranked: the exact answer. */
static void scan_allowed(const lsh *h, lsh_ws *w, size_t n, uint32_t d, vdb_exact_filter *ef,
                         vdb_topk *top)
{
	for (size_t r = 0; !w->allow && r < n; r++)
		if (w->tags[r] != w->gen)
			vdb_exact_filter_push(ef, top, h->vecs + r * d, (int64_t)r);
	for (size_t wd = 0; w->allow && wd < (n + 63) / 64; wd++)
		for (uint64_t bits = w->allow[wd]; bits; bits &= bits - 1) {
			size_t r = wd * 64 + (size_t)__builtin_ctzll(bits);
			if (r < n && w->tags[r] != w->gen)
				vdb_exact_filter_push(ef, top, h->vecs + r * d, (int64_t)r);
		}
}

/* One query, until it has want rows (of the allowed, with w->allow);
 * true if it probed more buckets than asked to get them. */
static bool search_one(const vdb_index *ix, const lsh *h, lsh_ws *w, const float *query,
                       size_t k, size_t probes, size_t want, size_t n_allow, int64_t *ids,
                       float *dist)
{
	const uint32_t d = ix->dim;
	memcpy(w->q, query, d * sizeof *w->q);
	if (ix->metric == VDB_METRIC_COSINE)
		vdb_normalize(w->q, d);
	project(h, vdb_kernels_get(), d, w->q, w->xc, w->p);
	if (++w->gen == 0) { /* wrapped: old tags could collide */
		memset(w->tags, 0, ix->count * sizeof *w->tags);
		w->gen = 1;
	}
	vdb_topk top = { w->hd, w->hi, 0, (uint32_t)k };
	vdb_exact_filter ef;
	vdb_exact_filter_init(&ef, ix->metric, w->q, d, h->xmax);
	const size_t every = h->bits < 32 ? (size_t)1 << h->bits : SIZE_MAX;
	bool wider = false;
	w->met = w->kept = 0;
	for (size_t first = 0, done = 0;;) {
		for (size_t t = 0; t < h->tables; t++)
			probe_table(h, w, ix->count, t, probes, done, d, &ef, &top);
		first = first ? first : w->met;
		if ((top.n >= want && 2 * w->kept >= first) || probes >= every)
			break;
		wider = true;
		done = probes;
		probes = probes > every / 2 ? every : probes * 2;
		/* (out of memory for the probes: ranking needs none) */
		if ((double)probes * h->tables * SCAN_PROBES >= (double)n_allow ||
		    !heap_room(w, h->tables, probes)) {
			scan_allowed(h, w, ix->count, d, &ef, &top);
			break;
		}
	}
	vdb_topk_emit(&top, ix->metric, k, ids, dist);
	return wider;
}

/* What every thread of a search shares. */
typedef struct {
	const vdb_index *ix;
	const float *q;
	size_t k, probes;
	const uint64_t *allow;
	size_t want, n_allow;
	int64_t *ids;
	float *dist;
	size_t *widened;      /* vdb_search_opts.widened */
} lsh_job;

static void *job_ws(void *ctx)
{
	const lsh_job *j = ctx;
	lsh_ws *w = ws_new(j->ix->impl, j->ix->count, j->ix->dim, j->probes, j->k);
	if (w)
		w->allow = j->allow;
	return w;
}

static void job_free(void *w)
{
	ws_free(w);
}

static void job_query(void *ctx, void *w, size_t i)
{
	const lsh_job *j = ctx;
	if (search_one(j->ix, j->ix->impl, w, j->q + i * j->ix->dim, j->k, j->probes, j->want,
	               j->n_allow, j->ids + i * j->k, j->dist + i * j->k) && j->widened)
		__atomic_add_fetch(j->widened, 1, __ATOMIC_RELAXED);
}

/* The most probes that mean anything: every bucket of a table. */
static unsigned probes_max(const vdb_index *ix)
{
	const lsh *h = ix->impl;
	return h->bits >= 16 ? VDB_LSH_MAX_PROBES : 1u << h->bits;
}

/* probes: buckets visited per table */
static const struct vdb_index_knob probes_knob = {
	.pub = { .name = "probes", .what = "buckets visited per table", .min = 1,
	         .max = VDB_LSH_MAX_PROBES, .max_name = "VDB_LSH_MAX_PROBES", .def = 1,
	         .def_note = "the query's own bucket" },
	.curve_id = 3,
	.curve_unit = 1,
	.curve_max = probes_max,
};

/* Search, or with allow (a row bitset of n_allow rows) a filtered search:
 * either way k results, or every row that may be returned when fewer. */
static vdb_status search(const vdb_index *ix, const float *q, size_t nq,
                         const vdb_search_opts *o, const uint64_t *allow, size_t n_allow,
                         int64_t *ids, float *dist)
{
	const lsh *h = ix->impl;
	size_t probes = vdb_knob_value(o, &probes_knob);
	if (!probes)
		probes = probes_knob.pub.def;
	if (h->bits < 32 && probes > (size_t)1 << h->bits)
		probes = (size_t)1 << h->bits; /* every bucket */
	if (!allow)
		n_allow = ix->count;
	lsh_job j = { ix, q, o->k, probes, allow, n_allow < o->k ? n_allow : o->k, n_allow, ids,
	              dist, o->widened };
	VDB_RETURN_IF(vdb_for_queries(nq, &j, job_ws, job_free, job_query), VDB_ENOMEM,
	              "out of memory for the search state (k %zu, probes %zu)", o->k, probes);
	return VDB_OK;
}

static vdb_status lsh_search(const vdb_index *ix, const float *q, size_t nq,
                             const vdb_search_opts *o, int64_t *ids, float *dist)
{
	return search(ix, q, nq, o, NULL, 0, ids, dist);
}

static vdb_status lsh_search_allowed(const vdb_index *ix, const float *q, size_t nq,
                                     const vdb_search_opts *o, const uint64_t *allow,
                                     size_t n_allow, int64_t *ids, float *dist)
{
	return search(ix, q, nq, o, allow, n_allow, ids, dist);
}

/* The float32 rows, for the exact path of a filter keeping few rows. */
static void lsh_rows(const vdb_index *ix, const int64_t *rows, size_t n, float *out)
{
	const lsh *h = ix->impl;
	const size_t d = ix->dim;
	for (size_t i = 0; i < n; i++)
		memcpy(out + i * d, h->vecs + (size_t)rows[i] * d, d * sizeof(float));
}

/* ===== Bucket sizes ===== */
/* The mean size of the bucket a row lies in (over rows, so a bucket of s
 * rows counts s times: the sum of s^2 over the rows), from `samples` rows
 * a table taken at even steps of the sorted keys, each bucket found as a
 * search finds it (bucket_of); 0 if the directory cannot be had. */
static double row_bucket_mean(const lsh *h, size_t n, size_t samples)
{
	const uint32_t *dir = n ? bucket_dir(h, n) : NULL;
	const size_t span = dir_span(h, n);
	const uint32_t shift = h->bits - dir_bits(h, n);
	samples = n < samples ? n : samples;
	double sum = 0;
	for (uint32_t t = 0; dir && samples && t < h->tables; t++)
		for (size_t i = 0; i < samples; i++) {
			const uint32_t *keys = h->keys + (size_t)t * n, key = keys[(2 * i + 1) * n / (2 * samples)];
			size_t lo, hi, j = key >> shift;
			if (j + 1 >= span) { /* a key past 2^bits (a damaged file): its row alone */
				sum += 1;
				continue;
			}
			bucket_of(keys, n, dir + t * span + j, shift, key, &lo, &hi);
			sum += (double)(hi - lo);
		}
	return dir && samples ? sum / ((double)samples * h->tables) : 0;
}

/* ===== Description ===== */
static void lsh_info(const vdb_index *ix, json_t *obj)
{
	const lsh *h = ix->impl;
	const size_t n = ix->count;
	json_object_set_new(obj, "tables", json_integer(h->tables));
	json_object_set_new(obj, "bits", json_integer(h->bits));
	/* the float32 row, a key and a row number per table, and the
	 * directory's share */
	double dir = n ? (double)(h->tables * dir_span(h, n) * 4) / (double)n : 0;
	json_object_set_new(obj, "bytes_per_vector",
	                    json_integer((json_int_t)(4 * (size_t)ix->dim + 8 * h->tables) +
	                                 (json_int_t)llround(dir)));
	/* buckets used, the largest, and the sum over rows of their bucket's
	 * size (each run of s equal keys adds s^2: 1 + 3 + 5 + ... as it grows) */
	uint64_t used = 0, max = 0;
	double rows_met = 0;
	for (size_t t = 0; t < h->tables; t++)
		for (size_t e = 0, run = 0; e < n; e++) {
			if (e == 0 || h->keys[t * n + e] != h->keys[t * n + e - 1])
				used++, run = 0;
			rows_met += (double)(2 * run + 1);
			if (++run > max)
				max = run;
		}
	uint64_t all = (uint64_t)h->tables << h->bits;
	json_t *b = json_object();
	json_object_set_new(b, "buckets", json_integer((json_int_t)all));
	json_object_set_new(b, "empty", json_integer((json_int_t)(all - used)));
	json_object_set_new(b, "max", json_integer((json_int_t)max));
	/* the mean size of a bucket a row is in: empty ones hold nothing */
	json_object_set_new(b, "mean", json_real(used ? (double)(n * h->tables) / (double)used : 0));
	/* and of the bucket a row is in (what a query drawn like the rows meets) */
	json_object_set_new(b, "row_mean", json_real(n ? rows_met / ((double)n * h->tables) : 0));
	json_object_set_new(obj, "bucket_sizes", b);
	json_object_set_new(obj, "default_probes", json_integer(1));
}

static void lsh_free(vdb_index *ix)
{
	lsh *h = ix->impl;
	if (h)
		free(h->own_planes), free(h->own_centre), free(h->own_keys), free(h->own_rows),
		free(h->own_vecs), free(h->dir);
	free(h);
}

/* ===== The filtered planner's estimate (filter_plan.c) =====
 * A filtered query projects itself on every hyperplane, then visits probes
 * buckets a table: the bucket found (two random reads), a tag and an
 * allowed-set test per row of the bucket, and ranks
 * the allowed ones, each read from a random place. A query that finds
 * fewer than k allowed candidates, or fewer than half the rows its first
 * buckets held (expected: the share kept of the rows its buckets hold),
 * visits twice as many buckets again, until it has them
 * or the buckets would cost more than ranking every allowed row, which it
 * then does (search_one, SCAN_PROBES). The bucket a query lands in is a
 * full one more often than not: a row's bucket holds on average the sum of
 * the squared bucket sizes over the rows (bucket_met), 3.3 times the mean
 * bucket on 100k x 128 clustered (8 tables of 14 bits), 5.3 on siftsmall,
 * 1.9 on WordNet. Of that a query meets HOME_MET in its home buckets (the
 * tables share some rows), and in each further one PROBE_MET times the
 * geometric mean of that and the mean bucket (a neighbour of a full bucket
 * is fuller than most). Measured rows met a query, home then each further
 * bucket of a table: siftsmall 0.88 x 52 = 45.6, then 22.4 (sqrt(52 x
 * 9.8) = 22.5); WordNet 0.90 x 12.2, then 8.9 (sqrt(12.2 x 6.5) = 8.9);
 * the clustered 100k 0.77 x 20.2, then 7.9-9.1 (sqrt(20.2 x 6.1) = 11.1). */
#define HOME_MET 0.85
#define PROBE_MET 0.9
/* A bucket is found by two reads, its directory entry and its first key
 * (bucket_dir), each from a random place, and the walk's own steps
 * (NS_BUCKET). A query widening from 1 to P probes visits P buckets a
 * table (a pass skips the buckets the passes before it visited). The rows
 * ranked are asked for VISIT_BATCH at a time (visit), so their fetches
 * overlap: a row costs about a fetch over ROW_OVERLAP. */
#define NS_BUCKET 10.0
#define ROW_OVERLAP 4.0
/* A row met in a bucket: its entry, its tag and its allowed bit, the last
 * two at random (fitted: 7 ns a row on siftsmall, 11 on WordNet, 26 on the
 * clustered 100k); a pass over a table (its buckets located together; the
 * first sorts the positions); a query's own fixed cost (its heap, its answer); a
 * row ranked when a query ranks every allowed row, in order, beyond its
 * distance (fitted: 22-31 ns a row in all). */
#define NS_MET 12.0
#define NS_PASS 100.0
#define NS_LSH_QUERY 1000.0
#define NS_SCAN_ROW 12.0
/* rows of each table whose bucket bucket_met measures */
#define MET_SAMPLE 256

/* row_bucket_mean from MET_SAMPLE rows a table, made on the planner's
 * first call and kept (a file's keys do not change: threads that race
 * store the same value). */
static double bucket_met(const lsh *h, size_t n)
{
	double *cache = (double *)&h->met_bucket, got;
	__atomic_load(cache, &got, __ATOMIC_RELAXED);
	if (got > 0)
		return got;
	got = row_bucket_mean(h, n, MET_SAMPLE);
	got = got > 0 ? got : 1;
	__atomic_store(cache, &got, __ATOMIC_RELAXED);
	return got;
}

/* The buckets, rows met and rows ranked of a query that probes wide
 * buckets a table, beside the projection (lsh_filter_cost). */
static double walk_ns(const lsh *h, size_t n, double wide, double passes,
                      double base, double per, double share, double row)
{
	double dir = (double)h->tables * (double)dir_span(h, n) * 4;
	double met = base + wide * per;
	met = met < (double)n ? met : (double)n;
	return h->tables * passes * NS_PASS +
	       h->tables * wide * (NS_BUCKET + vdb_plan_fetch_ns(dir) +
	                           vdb_plan_fetch_ns((double)n * 8.0 * h->tables)) +
	       met * NS_MET + met * share * row;
}

static double lsh_filter_cost(const vdb_index *ix, const vdb_search_opts *o, size_t nq,
                              size_t n_allow, int threads, unsigned *knob)
{
	const lsh *h = ix->impl;
	size_t probes = vdb_knob_value(o, &probes_knob);
	probes = probes ? probes : probes_knob.pub.def;
	const double T = h->tables;
	double every = h->bits < 32 ? (double)((size_t)1 << h->bits) : 4294967296.0;
	double p = (double)probes < every ? (double)probes : every;
	*knob = (unsigned)p;
	double n = (double)ix->count, d = ix->dim, share = (double)n_allow / n;
	double want = (double)(n_allow < o->k ? n_allow : o->k);
	double home = bucket_met(h, ix->count);
	double further = sqrt(home * n / every);
	/* rows met at p probes; the probes at which a query has met enough
	 * (as a real number: queries stop on either side of it, and a step of
	 * the doubling would make the estimate jump there) */
	double per = T * PROBE_MET * further, base = T * HOME_MET * home - per;
	double first = base + p * per, need = first / 2 > want ? first / 2 : want;
	double wide = share > 0 ? (need / share - base) / per : every;
	/* the widest pass a query makes before it ranks every allowed row
	 * instead (search_one: the next pass would cost more), and the share
	 * of queries that go on to that: a query's own need varies about the
	 * estimate (its buckets' sizes), taken as log-normal, a factor of
	 * sqrt 2 a standard deviation (clustered 100k at 5% kept: estimated
	 * 0.54, measured 0.66; at 10%: 0 and 0; 10% at 4 probes: 0.17 and
	 * 0.17) */
	double last = p, f = 0;
	while (last < every) {
		double next = last > every / 2 ? every : 2 * last;
		if (next * T * SCAN_PROBES >= (double)n_allow) {
			f = wide > 0 ? 0.5 * erfc(2 * log2(last / wide) / M_SQRT2) : 0;
			break;
		}
		last = next;
	}
	wide = wide < p ? p : wide < last ? wide : last;
	double row = d * VDB_PLAN_NS_VALUE + vdb_plan_fetch_ns(n * d * 4) / ROW_OVERLAP +
	             VDB_PLAN_NS_PUSH;
	double some = walk_ns(h, ix->count, wide, 1 + log2(wide / p), base, per, share, row);
	double all = walk_ns(h, ix->count, last, 1 + log2(last / p), base, per, share, row) +
	             (double)n_allow * (d * VDB_PLAN_NS_VALUE + NS_SCAN_ROW) + n / 64;
	double ns = T * h->bits * d * VDB_PLAN_NS_VALUE + NS_LSH_QUERY + (1 - f) * some + f * all;
	/* each call's workspace: a tag per row, per thread */
	double call = (double)threads * n * VDB_PLAN_NS_TEST / 8;
	return (vdb_plan_waves(nq, threads) * ns + call) * 1e-9;
}

const struct vdb_index_ops vdb_lsh_ops = {
	.name = "lsh",
	.fourcc = VDB_FOURCC('L', 'S', 'H', ' '),
	.metrics = VDB_BIT(VDB_METRIC_L2) | VDB_BIT(VDB_METRIC_IP) | VDB_BIT(VDB_METRIC_COSINE),
	.storages = VDB_BIT(VDB_STORAGE_F32),
	.rows_are = "float32 vectors",
	.refine = VDB_REFINE_NEVER,
	.no_refine = "it always re-ranks with the float32 vectors",
	.params = params,
	.knob = &probes_knob,
	.build = lsh_build,
	.append = lsh_append,
	.compact = lsh_compact,
	.save = lsh_save,
	.open = lsh_open,
	.verify = lsh_verify,
	.search = lsh_search,
	.search_allowed = lsh_search_allowed,
	.filter_cost = lsh_filter_cost,
	.rows = lsh_rows,
	.info = lsh_info,
	.free = lsh_free,
	.range_confirm = true,
};
