/*
 * index_hnsw.c — the HNSW index type: hnsw.c's graph in an index file.
 *
 * Sections (the graph's memory layout, see hnsw.h, written as is):
 *   HNL0  count x stride bytes: vector and layer-0 links of each node
 *   HNUO  u64[count + 1] offsets (in u32 words) into HNUL
 *   HNUL  upper-layer link lists
 *   SQ8R  with --storage sq8: the ranges of the codes (rows.h)
 *   VECS  with --refine: the float32 vectors, count x dim
 * Header storage: f32, fp16 or sq8, the vectors in HNL0; binary for the
 * hamming metric (the packed bits, compared by popcount). Header params: M,
 * ef_construction, entry point, top level, refine. The graph is built and
 * searched on the stored rows, as FAISS's IndexHNSWSQ does: the codes are
 * the index, and --refine re-ranks the refine*k best of the beam with VECS. Opening maps
 * the file and checks sizes only (O(1)), so the first query of a large index
 * starts at once; search itself never follows a link or offset out of range
 * (read_links and the layer-0 loop clamp counts and skip ids beyond the
 * count), and --verify checks every link and every stored value (hnsw_verify). An
 * insertion trusts the lists it rewrites (add_link fills a selection sized
 * for M0 links), so an append, an upsert or a compaction first passes the
 * file through the same check (vdb_index_verify, in index.c).
 */
#include "hnsw.h"
#include "hnsw_codes.h"
#include "index_internal.h"
#include "filter_plan.h"
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <string.h>

#define SEC_HNL0 VDB_FOURCC('H', 'N', 'L', '0')
#define SEC_HNUO VDB_FOURCC('H', 'N', 'U', 'O')
#define SEC_HNUL VDB_FOURCC('H', 'N', 'U', 'L')

enum { P_M = 1, P_EFC, P_ENTRY, P_TOP, P_REFINE, P_CODES };

#define WS_POOL 16

/* A filtered search of binary rows keeping fewer rows than these scans
 * them exactly (hnsw_search_allowed). A popcount is cheap and the walk
 * through rejected nodes is not: on 200k random 256-bit codes (M 16, ef
 * 64, k 10, 200 queries) the exact scan takes 3.7 ms at 2% kept against
 * the graph's 243 ms, 17 ms against 75 ms at 10%, 27 against 33 at 20%,
 * and loses from there (111 against 19 at 50%). */
#define HAMMING_EXACT_ROWS 1500
#define HAMMING_EXACT_SHARE 0.15

typedef struct {
	hnsw_graph g;
	bool owned;  /* l0/upof/up are malloc'd (built), not mapped */
	unsigned refine;
	const float *vecs;   /* --refine: the float32 vectors */
	float *own_vecs;
	/* search workspaces kept between calls: one holds a visited tag per
	 * node, and allocating it for every one-query call (a latency sweep)
	 * would cost more than the search on a large index */
	pthread_mutex_t lock;
	hnsw_ws *pool[WS_POOL];
	size_t npool;
} hnsw_index;

static hnsw_index *hnsw_index_new(void)
{
	hnsw_index *h = calloc(1, sizeof *h);
	if (h)
		pthread_mutex_init(&h->lock, NULL);
	return h;
}

/* A workspace for ef from the pool, or a new one. */
static hnsw_ws *ws_take(hnsw_index *h, size_t ef)
{
	hnsw_ws *w = NULL;
	pthread_mutex_lock(&h->lock);
	for (size_t i = h->npool; i-- > 0;)
		if (vdb_hnsw_ws_cap(h->pool[i]) >= ef) {
			w = h->pool[i];
			h->pool[i] = h->pool[--h->npool];
			break;
		}
	pthread_mutex_unlock(&h->lock);
	return w ? w : vdb_hnsw_ws_new(&h->g, ef);
}

static void ws_give(hnsw_index *h, hnsw_ws *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&h->lock);
	if (h->npool < WS_POOL) {
		h->pool[h->npool++] = w;
		w = NULL;
	}
	pthread_mutex_unlock(&h->lock);
	vdb_hnsw_ws_free(w);
}

static void hnsw_free(vdb_index *ix)
{
	hnsw_index *h = ix->impl;
	if (h) {
		for (size_t i = 0; i < h->npool; i++)
			vdb_hnsw_ws_free(h->pool[i]);
		pthread_mutex_destroy(&h->lock);
	}
	if (h && h->owned) {
		free(h->g.l0);
		free(h->g.upof);
		free(h->g.up);
	}
	if (h) {
		free(h->own_vecs);
		vdb_rows_free(&h->g.rows);
	}
	free(h);
}

/* A graph of n nodes stored as rows (which it takes over) for ix, its
 * level-0 records zeroed; the caller fills upof, then calls alloc_up. */
static vdb_status graph_new(vdb_index *ix, size_t n, uint32_t M, unsigned efc, vdb_rows *rows)
{
	hnsw_index *h = hnsw_index_new();
	if (!h) {
		vdb_rows_free(rows);
		return vdb_fail(VDB_ENOMEM, "out of memory");
	}
	ix->impl = h;
	h->owned = true;
	hnsw_graph *g = &h->g;
	g->rows = *rows;
	g->vec_bytes = (rows->size + 3) & ~(size_t)3;
	g->metric = ix->metric;
	g->dim = ix->dim;
	g->M = M;
	g->M0 = 2 * M;
	g->ef_construction = efc;
	g->n = n;
	g->stride = vdb_hnsw_stride(g->vec_bytes, M);
	size_t bytes;
	VDB_RETURN_IF(!vdb_mul_ok(g->n, g->stride, &bytes), VDB_ENOMEM, "index too large");
	g->l0 = calloc(1, bytes ? bytes : 1);
	g->upof = malloc((g->n + 1) * sizeof *g->upof);
	VDB_RETURN_IF(!g->l0 || !g->upof, VDB_ENOMEM,
	              "out of memory for an HNSW graph of %zu nodes (%zu MB)", g->n, bytes >> 20);
	g->upof[0] = 0;
	return VDB_OK;
}

/* The upper-link lists of the levels in upof, empty. */
static vdb_status alloc_up(hnsw_graph *g)
{
	g->up = calloc(g->upof[g->n] ? g->upof[g->n] : 1, sizeof *g->up);
	VDB_RETURN_IF(!g->up, VDB_ENOMEM, "out of memory for HNSW upper layers");
	return VDB_OK;
}

/* Allocate a graph of n nodes stored as rows (which it takes over): copy the
 * first `keep` nodes (vectors, links, levels) from old, then place the rows
 * of v after them with fresh levels. */
static vdb_status layout(vdb_index *ix, const hnsw_graph *old, size_t keep, const vdb_vecs *v,
                         uint32_t M, unsigned efc, vdb_rows *rows)
{
	vdb_status s = graph_new(ix, keep + v->n, M, efc, rows);
	if (s)
		return s;
	hnsw_graph *g = &((hnsw_index *)ix->impl)->g;
	if (keep) {
		memcpy(g->l0, old->l0, keep * g->stride);
		memcpy(g->upof, old->upof, (keep + 1) * sizeof *g->upof);
		g->entry = old->entry;
		g->max_level = old->max_level;
	}
	s = vdb_rows_encode(&g->rows, v->data, v->n, g->l0 + keep * g->stride, g->stride);
	if (s)
		return s;
	for (size_t j = 0; j < v->n; j++) {
		size_t i = keep + j;
		int lv = vdb_hnsw_random_level(ix->seed, i, M);
		g->upof[i + 1] = g->upof[i] + (uint64_t)lv * (1 + M);
	}
	if ((s = alloc_up(g)))
		return s;
	if (keep)
		memcpy(g->up, old->up, old->upof[keep] * sizeof *g->up);
	return VDB_OK;
}

/* The build parameters (their ranges are checked by vdb_build_opts_check;
 * other types accept and ignore them, as they always have). */
static const struct vdb_index_param param_M = {
	.name = "M", .option = "--M", .what = "links per node (2*M on layer 0)",
	.min = 2, .max = HNSW_MAX_M / 2, .def = HNSW_DEFAULT_M, .loose = true,
};
static const struct vdb_index_param param_efc = {
	.name = "ef_construction", .option = "--ef-construction",
	.what = "candidates kept while linking", .min = 1, .max = HNSW_MAX_EF_CONSTRUCTION,
	.def = HNSW_DEFAULT_EF_CONSTRUCTION,
	.loose = true,
};
static const struct vdb_index_param *const params[] = { &param_M, &param_efc, NULL };

static vdb_status hnsw_build(vdb_index *ix, vdb_vecs *data, const vdb_build_opts *o)
{
	uint32_t kind;
	if (vdb_rows_kind(o, &kind))
		return VDB_EINVAL;
	/* no --storage: byte codes walked, re-ranked with the float32 vectors */
	bool codes = !o->storage && !o->refine &&
	             (ix->metric == VDB_METRIC_L2 || ix->metric == VDB_METRIC_COSINE);
	unsigned refine = o->refine;
	if (codes) {
		kind = VDB_STORAGE_SQ8;
		refine = HNSW_CODES_REFINE;
	}
	vdb_rows rows;
	vdb_status s = codes ? vdb_hnsw_codes_train(&rows, ix->dim, data->data, data->n)
	                     : vdb_rows_train(&rows, kind, ix->dim, data->data, data->n);
	if (!s)
		s = layout(ix, NULL, 0, data, vdb_param_value(o, &param_M),
		           vdb_param_value(o, &param_efc), &rows);
	if (s)
		return s;
	hnsw_index *h = ix->impl;
	/* the rows now live in the graph: free the floats, or keep them to refine */
	h->refine = kind == VDB_STORAGE_F32 ? 0 : refine;
	h->g.codes = codes;
	if (h->refine)
		h->vecs = h->own_vecs = data->data;
	else
		free(data->data);
	data->data = NULL;
	data->cap = 0;
	return vdb_hnsw_insert_range(&h->g, 0, o->progress, o->progress_ctx);
}

static vdb_status hnsw_append(vdb_index *ix, const vdb_index *base, vdb_vecs *data,
                              const vdb_build_opts *o)
{
	const hnsw_index *old = base->impl;
	vdb_rows rows;
	vdb_status s = vdb_rows_like(&rows, &old->g.rows);
	if (!s)
		s = layout(ix, &old->g, base->count, data, old->g.M, old->g.ef_construction, &rows);
	if (s)
		return s;
	hnsw_index *h = ix->impl;
	h->refine = old->refine;
	h->g.codes = old->g.codes;
	if (h->refine) {
		size_t d = ix->dim;
		h->vecs = h->own_vecs = vdb_malloc(ix->count * d * sizeof(float), "vectors");
		if (!h->vecs)
			return VDB_ENOMEM;
		memcpy(h->own_vecs, old->vecs, base->count * d * sizeof(float));
		memcpy(h->own_vecs + base->count * d, data->data, data->n * d * sizeof(float));
	}
	return vdb_hnsw_insert_range(&h->g, base->count, o->progress, o->progress_ctx);
}

/* Compaction: the kept rows are copied as stored (codes are not encoded
 * again, VECS rows are copied) with their levels, and the graph is re-linked
 * (vdb_hnsw_relink): kept as it was, renumbered, with the lists that lost
 * neighbours repaired from the links around them.
 *
 * Re-linking was measured against inserting every kept node again into the
 * same layout (vdb_hnsw_insert_range from 0, which is what a fresh build does),
 * with scripts/bench-hnsw-compact at commit e1c607e (which had both): 2 cores,
 * random deletions, seconds of the compaction (best of 3), recall@10 at ef
 * 16/32/64 against brute force over the live records (mean of 3 deletions,
 * of 1 for gen200k but 30%):
 *                    re-link                   rebuild                   fresh vdb-build
 *   siftsmall 10%   0.026 s .976 .995 .999    0.239 s .964 .995 .999    0.223 s .967 .993 .998
 *   (10k, l2) 30%   0.061 s .973 .996 1.00    0.266 s .969 .993 .998    0.329 s .970 .994 .998
 *             50%   0.036 s .974 .994 1.00    0.172 s .968 .995 .999    0.170 s .965 .993 .998
 *   wn100     10%   0.103 s .911 .968 .990    0.977 s .907 .965 .989    1.023 s .909 .966 .989
 *   (26.5k,   30%   0.192 s .915 .966 .990    0.749 s .910 .964 .988    0.766 s .910 .964 .988
 *    cosine)  50%   0.141 s .908 .965 .989    0.497 s .910 .964 .989    0.481 s .908 .963 .988
 *   gen200k   10%   0.754 s .951 .994 1.00    14.16 s .952 .994 1.00    13.17 s .953 .996 1.00
 *   (200k x   30%   1.098 s .963 .997 1.00    15.42 s .965 .996 1.00    11.68 s .964 .997 1.00
 *    128      50%   1.762 s .976 .999 1.00    7.753 s .978 .998 1.00    9.443 s .978 .998 1.00
 *    clustered,70%  0.693 s .985 .999 1.00    4.455 s .989 1.00 1.00    4.346 s .989 1.00 1.00
 *    l2)      90%   0.653 s .998 1.00 1.00    0.981 s .998 .999 .999    0.966 s .997 1.00 1.00
 *   siftsmall 10%   0.023 s .925 .981 .998    0.178 s .929 .979 .998    0.190 s .932 .979 .996
 *   as bits,  30%   0.034 s .936 .985 .998    0.121 s .930 .983 .995    0.122 s .931 .984 .996
 *   hamming   50%   0.029 s .943 .988 .997    0.077 s .935 .983 .996    0.078 s .933 .984 .998
 *   sq8 --refine 4, 30% (ef is at least 40):
 *   siftsmall       0.049 s .997 .997 1.00    0.191 s .996 .996 .998    0.190 s .997 .997 .999
 *   wn100           0.301 s .974 .974 .989    0.957 s .973 .973 .988    1.016 s .973 .973 .987
 * Re-linking is 2.7 to 19 times faster up to half deleted (1.5 with 90%
 * deleted, where the rebuild has little left to insert), the gap growing
 * with the index: it computes a few hundred distances per repaired node
 * where an insertion searches with ef_construction. Its recall is never
 * more than 0.004 below the rebuild's (ef 16: gen200k 70%, bits 10%) and as
 * often above it, and it is the same for any thread count. The rebuild was
 * the fallback for nothing, so it is gone. */
static vdb_status hnsw_compact(vdb_index *ix, const vdb_index *base, const int64_t *keep,
                               const vdb_build_opts *o)
{
	const hnsw_index *old = base->impl;
	const hnsw_graph *og = &old->g;
	/* levels are read from the old offsets and links followed: base passed
	 * hnsw_verify (vdb_index_compact checks it first) */
	vdb_rows rows;
	vdb_status s = vdb_rows_like(&rows, &og->rows);
	if (!s)
		s = graph_new(ix, ix->count, og->M, og->ef_construction, &rows);
	if (s)
		return s;
	hnsw_index *h = ix->impl;
	hnsw_graph *g = &h->g;
	const size_t d = ix->dim;
	for (size_t i = 0; i < g->n; i++) {
		memcpy(g->l0 + i * g->stride, og->l0 + (size_t)keep[i] * og->stride, og->vec_bytes);
		g->upof[i + 1] = g->upof[i] + (uint64_t)hnsw_level(og, (size_t)keep[i]) * (1 + g->M);
	}
	if ((s = alloc_up(g)))
		return s;
	h->refine = old->refine;
	g->codes = og->codes;
	if (old->vecs) {
		h->vecs = h->own_vecs = vdb_malloc(g->n * d * sizeof(float), "vectors");
		if (!h->vecs)
			return VDB_ENOMEM;
		for (size_t i = 0; i < g->n; i++)
			memcpy(h->own_vecs + i * d, old->vecs + (size_t)keep[i] * d, d * sizeof(float));
	}
	return vdb_hnsw_relink(g, og, keep, o->progress, o->progress_ctx);
}

static vdb_status hnsw_save(const vdb_index *ix, vdb_file_writer *w, vdb_header *hd)
{
	const hnsw_index *h = ix->impl;
	const hnsw_graph *g = &h->g;
	hd->storage = g->rows.kind;
	hd->params[P_REFINE] = h->refine;
	hd->params[P_CODES] = g->codes;
	hd->params[P_M] = g->M;
	hd->params[P_EFC] = g->ef_construction;
	hd->params[P_ENTRY] = g->entry;
	hd->params[P_TOP] = (uint64_t)g->max_level;
	vdb_status s = vdb_file_write_section(w, SEC_HNL0, g->l0, g->n * g->stride);
	if (!s)
		s = vdb_file_write_section(w, SEC_HNUO, g->upof, (g->n + 1) * sizeof *g->upof);
	if (!s)
		s = vdb_file_write_section(w, SEC_HNUL, g->up, g->upof[g->n] * sizeof *g->up);
	if (!s)
		s = vdb_rows_save(&g->rows, w);
	if (!s && h->vecs)
		s = vdb_file_write_section(w, VDB_SEC_VECS, h->vecs, ix->count * ix->dim * sizeof(float));
	return s;
}

static vdb_status hnsw_open(vdb_index *ix)
{
	const vdb_file *f = ix->file;
	const char *path = f->path;
	const uint64_t *p = f->h.params;
	VDB_RETURN_IF(p[P_REFINE] > VDB_MAX_REFINE || (p[P_REFINE] && f->h.storage == VDB_STORAGE_F32),
	              VDB_ECORRUPT, "%s: hnsw index with refine %llu (at most %u, and only with "
	              "compressed storage)", path, (unsigned long long)p[P_REFINE], VDB_MAX_REFINE);
	VDB_RETURN_IF(p[P_M] < 2 || p[P_M] > HNSW_MAX_M / 2 || p[P_EFC] < 1 || p[P_EFC] > HNSW_MAX_EF_CONSTRUCTION ||
	              p[P_TOP] > HNSW_MAX_LEVEL || (ix->count && p[P_ENTRY] >= ix->count),
	              VDB_ECORRUPT, "%s: HNSW parameters out of range (M %llu, ef_construction %llu, "
	              "entry %llu, top level %llu)", path, (unsigned long long)p[P_M],
	              (unsigned long long)p[P_EFC], (unsigned long long)p[P_ENTRY],
	              (unsigned long long)p[P_TOP]);
	hnsw_index *h = hnsw_index_new();
	if (!h)
		return vdb_fail(VDB_ENOMEM, "out of memory");
	ix->impl = h;
	hnsw_graph *g = &h->g;
	size_t l0len, uolen, ullen, want;
	g->metric = ix->metric;
	g->dim = ix->dim;
	g->M = (uint32_t)p[P_M];
	g->M0 = 2 * g->M;
	g->ef_construction = (unsigned)p[P_EFC];
	g->entry = (uint32_t)p[P_ENTRY];
	g->max_level = (int)p[P_TOP];
	g->n = ix->count;
	vdb_status s = vdb_rows_open(&g->rows, f, ix->dim);
	if (s)
		return s;
	g->vec_bytes = (g->rows.size + 3) & ~(size_t)3;
	g->stride = vdb_hnsw_stride(g->vec_bytes, g->M);
	h->refine = (unsigned)p[P_REFINE];
	g->codes = p[P_CODES] != 0;
	VDB_RETURN_IF(p[P_CODES] > 1 || (g->codes && (!vdb_hnsw_codes_ok(&g->rows) ||
	              (g->metric != VDB_METRIC_L2 && g->metric != VDB_METRIC_COSINE))),
	              VDB_ECORRUPT, "%s: hnsw index walked on codes (param %llu) without sq8 rows "
	              "of one step for an l2 or cosine metric", path, (unsigned long long)p[P_CODES]);
	if (h->refine) {
		size_t len;
		h->vecs = vdb_file_section(f, VDB_SEC_VECS, &len);
		VDB_RETURN_IF(!h->vecs || !vdb_mul_ok(g->n, (size_t)g->dim * sizeof(float), &want) ||
		              len != want, VDB_ECORRUPT,
		              "%s: hnsw index with refine %u without a VECS section of %zu vectors",
		              path, h->refine, g->n);
		ix->rerank_rows = h->vecs, ix->rerank_len = len; /* read only to re-rank */
	}
	/* the mapping is read-only; the graph type is shared with the builder */
	g->l0 = (unsigned char *)vdb_file_section(f, SEC_HNL0, &l0len);
	g->upof = (uint64_t *)vdb_file_section(f, SEC_HNUO, &uolen);
	g->up = (uint32_t *)vdb_file_section(f, SEC_HNUL, &ullen);
	VDB_RETURN_IF(!g->l0 || !g->upof || !g->up, VDB_ECORRUPT,
	              "%s: hnsw index without its HNL0, HNUO and HNUL sections", path);
	VDB_RETURN_IF(!vdb_mul_ok(g->n, g->stride, &want) || l0len != want, VDB_ECORRUPT,
	              "%s: HNL0 section is %zu bytes; %zu nodes of %zu bytes need %zu", path, l0len,
	              g->n, g->stride, want);
	VDB_RETURN_IF(uolen != (g->n + 1) * sizeof *g->upof, VDB_ECORRUPT,
	              "%s: HNUO section is %zu bytes; %zu nodes need %zu", path, uolen, g->n,
	              (g->n + 1) * sizeof *g->upof);
	VDB_RETURN_IF(g->upof[0] != 0 || g->upof[g->n] != ullen / 4 || ullen % 4, VDB_ECORRUPT,
	              "%s: HNUO offsets do not span the %zu-byte HNUL section", path, ullen);
	VDB_RETURN_IF(g->n && (g->upof[g->entry] > g->upof[g->entry + 1] ||
	                       hnsw_level(g, g->entry) != g->max_level), VDB_ECORRUPT,
	              "%s: HNSW entry point %u is not on the top level %d", path, g->entry,
	              g->max_level);
	return VDB_OK;
}

/* The graph (vdb_hnsw_check), then the values of the rows and of VECS. */
static vdb_status hnsw_verify(const vdb_index *ix)
{
	const hnsw_index *h = ix->impl;
	const hnsw_graph *g = &h->g;
	const char *path = ix->file ? ix->file->path : "index";
	vdb_status s = vdb_hnsw_check(g, path);
	if (!s)
		s = vdb_rows_check(&g->rows, g->l0, g->n, g->stride, path, "HNL0");
	if (!s && h->vecs)
		s = vdb_check_finite(h->vecs, g->n, g->dim, path, "VECS");
	return s;
}

/* ef: the beam kept while searching the graph */
static const struct vdb_index_knob ef_knob = {
	.pub = { .name = "ef", .what = "candidates kept while searching the graph", .min = 1,
	         .max = VDB_MAX_EF, .max_name = "VDB_MAX_EF", .def = HNSW_DEFAULT_EF,
	         .def_note = "at least k" },
	.curve_id = 1,
	.curve_unit = 10,
	.default_follows_k = true,
	/* a larger ef keeps a larger beam from the same entry: checked on
	 * siftsmall, WordNet (l2, cosine) and a clustered 100k set, the curve
	 * is the same as with every query searched at every ef */
	.curve_nested = true,
};

/* Search, or with allow (a row bitset) a filtered search. */
static vdb_status search(const vdb_index *ix, const float *q, size_t nq, const vdb_search_opts *o,
                         const uint64_t *allow, int64_t *ids, float *dist)
{
	/* the pool is a cache: searching does not change the index */
	hnsw_index *h = (hnsw_index *)ix->impl;
	const hnsw_graph *g = &h->g;
	size_t ef = vdb_knob_value(o, &ef_knob);
	if (!ef)
		ef = HNSW_DEFAULT_EF;
	/* refine: the refine*k best of the beam are re-ranked exactly */
	size_t kc = h->refine ? o->k * h->refine : o->k;
	if (g->codes) { /* codes: the beam's best min(ef, refine*k), ef as asked */
		if (ef < o->k)
			ef = o->k;
		if (kc > ef)
			kc = ef;
	}
	if (ef < kc)
		ef = kc;
	int threads = vdb_threads();
	if ((size_t)threads > nq)
		threads = (int)(nq ? nq : 1);
	size_t qbytes = vdb_vector_bytes(g->metric == VDB_METRIC_HAMMING, g->dim);
	size_t chunk = vdb_hnsw_chunk(nq, threads, 16);
	vdb_status st = VDB_OK;
	#pragma omp parallel num_threads(threads) if (threads > 1)
	{
		hnsw_ws *w = ws_take(h, ef);
		vdb_rerank *r = h->refine ? vdb_rerank_new(kc, g->dim) : NULL;
		if (!w || (h->refine && !r)) {
			#pragma omp atomic write
			st = VDB_ENOMEM;
		}
		#pragma omp for schedule(dynamic, chunk)
		for (size_t i = 0; i < nq; i++) {
			const unsigned char *qi = (const unsigned char *)q + i * qbytes;
			if (!w || (h->refine && !r))
				continue;
			int64_t *oi = r ? r->ids : ids + i * o->k;
			float *od = r ? r->dist : dist + i * o->k;
			vdb_hnsw_search_one(g, w, qi, kc, ef, allow, oi, od);
			if (!r)
				continue;
			(g->codes ? vdb_hnsw_codes_rerank : vdb_rerank_one)(
				r, g->metric, (const float *)qi, h->vecs, g->dim, r->ids, kc, o->k,
				ids + i * o->k, dist + i * o->k);
		}
		ws_give(h, w);
		vdb_rerank_free(r);
	}
	VDB_RETURN_IF(st, st, "out of memory for the search state of %zu nodes, ef %zu", g->n, ef);
	return VDB_OK;
}

/* k means k for binary rows, which filtered.c's vdb_search_fill cannot
 * rank (its exact path gathers float rows): a query the graph walk left
 * with fewer than min(k, n_allow) results (a node it cannot reach, when k
 * nears the rows allowed) scans the allowed codes exactly. */
static vdb_status hamming_fill(const vdb_index *ix, const void *q, size_t nq,
                               const vdb_search_opts *o, const uint64_t *allow, size_t n_allow,
                               int64_t *ids, float *dist)
{
	const hnsw_graph *g = &((const hnsw_index *)ix->impl)->g;
	size_t k = o->k, want = n_allow < k ? n_allow : k;
	vdb_status st = VDB_OK;
	if (g->rows.kind != VDB_STORAGE_BINARY || want == 0)
		return VDB_OK;
	for (size_t i = 0; i < nq && !st; i++) {
		if (ids[i * k + want - 1] >= 0)
			continue;
		if (o->widened)
			__atomic_add_fetch(o->widened, 1, __ATOMIC_RELAXED);
		st = vdb_hamming_search((const unsigned char *)q + i * g->rows.size, 1, g->l0,
		                        g->rows.size, g->stride, g->n, allow, k, ids + i * k,
		                        dist + i * k);
	}
	return st;
}

static vdb_status hnsw_search(const vdb_index *ix, const float *q, size_t nq,
                              const vdb_search_opts *o, int64_t *ids, float *dist)
{
	vdb_status st = search(ix, q, nq, o, NULL, ids, dist);
	return st ? st : hamming_fill(ix, q, nq, o, NULL, ix->count, ids, dist);
}

/* Binary rows, few of them allowed: their codes are scanned exactly (a
 * popcount each), as a flat index would, rather than the graph walked
 * through mostly rejected nodes. Hamming indexes come here for every
 * filter: the float rows of the generic exact path (filtered.c) do not
 * rank by hamming distance. */
static vdb_status hnsw_search_allowed(const vdb_index *ix, const float *q, size_t nq,
                                      const vdb_search_opts *o, const uint64_t *allow,
                                      size_t n_allow, int64_t *ids, float *dist)
{
	const hnsw_graph *g = &((const hnsw_index *)ix->impl)->g;
	if (g->rows.kind == VDB_STORAGE_BINARY &&
	    (n_allow < HAMMING_EXACT_ROWS || (double)n_allow < HAMMING_EXACT_SHARE * (double)g->n))
		return vdb_hamming_search((const unsigned char *)q, nq, g->l0, g->rows.size, g->stride,
		                          g->n, allow, o->k, ids, dist);
	vdb_status st = search(ix, q, nq, o, allow, ids, dist);
	return st ? st : hamming_fill(ix, q, nq, o, allow, n_allow, ids, dist);
}

static void hnsw_rows(const vdb_index *ix, const int64_t *rows, size_t n, float *out)
{
	const hnsw_index *h = ix->impl;
	const hnsw_graph *g = &h->g;
	const vdb_kernels *K = vdb_kernels_get();
	for (size_t i = 0; i < n; i++) {
		size_t r = (size_t)rows[i];
		/* the float32 rows when kept (refine): exact */
		if (h->vecs)
			memcpy(out + i * g->dim, h->vecs + r * g->dim, g->dim * sizeof(float));
		else
			vdb_rows_decode(&g->rows, K, g->l0 + r * g->stride, out + i * g->dim);
	}
}

/* The float32 rows, when kept, are copied: only codes are decoded. */
static bool hnsw_rows_decoded(const vdb_index *ix)
{
	const hnsw_index *h = ix->impl;
	return !h->vecs && h->g.rows.kind != VDB_STORAGE_F32;
}

static void hnsw_info(const vdb_index *ix, json_t *obj)
{
	const hnsw_graph *g = &((const hnsw_index *)ix->impl)->g;
	json_object_set_new(obj, "M", json_integer(g->M));
	json_object_set_new(obj, "ef_construction", json_integer(g->ef_construction));
	json_object_set_new(obj, "levels", json_integer(g->max_level + 1));
	json_object_set_new(obj, "entry_point", json_integer(g->entry));
	size_t per[HNSW_MAX_LEVEL + 1] = { 0 };
	for (size_t i = 0; i < g->n; i++) {
		uint64_t a = g->upof[i], b = g->upof[i + 1];
		size_t lv = b >= a ? (size_t)((b - a) / (1 + g->M)) : 0;
		for (size_t l = 0; l <= lv && l <= HNSW_MAX_LEVEL; l++)
			per[l]++;
	}
	json_t *arr = json_array();
	for (int l = 0; l <= g->max_level; l++)
		json_array_append_new(arr, json_integer((json_int_t)per[l]));
	json_object_set_new(obj, "nodes_per_level", arr);
	/* a node's record (vector and layer-0 links) plus its share of the upper links */
	double upper = g->n ? (double)g->upof[g->n] * 4 / (double)g->n + 8 : 0;
	const hnsw_index *h = ix->impl;
	double vecs = h->vecs ? (double)g->dim * sizeof(float) : 0;
	json_object_set_new(obj, "bytes_per_vector", json_real((double)g->stride + upper + vecs));
	if (g->codes) { /* what a search keeps in memory: the float32 rows are read a few per query */
		json_object_set_new(obj, "walk", json_string("codes"));
		json_object_set_new(obj, "resident_bytes_per_vector", json_real((double)g->stride + upper));
	}
	if (g->rows.kind != VDB_STORAGE_F32 && g->rows.kind != VDB_STORAGE_BINARY)
		json_object_set_new(obj, "refine", json_integer(h->refine));
	vdb_rows_info(&g->rows, obj);
}

/* ===== The filtered planner's estimate (filter_plan.c) =====
 * A filtered walk keeps the ef best allowed nodes, so it passes through
 * about ef / selectivity nodes before it can stop (at most WALK_CAP of
 * them: every node, at worst, is computed once), WALK_START nodes more (the
 * descent, the first steps). A node costs WALK_UNIT plus WALK_UNIT_DIM a
 * dimension, and WALK_ROWS rows read from random places of the graph's
 * bytes (its neighbours). The walk runs one query per thread. Measured
 * with M 16, ef 64, one thread: 0.35-0.39 us a node on siftsmall (6.5 MB)
 * and WordNet (14 MB), 1.05 us on 100k x 128 (65 MB). */
#define WALK_UNIT 190.0
#define WALK_UNIT_DIM 1.1
#define WALK_ROWS 30.0
#define WALK_START 100.0
#define WALK_CAP 0.4

static double hnsw_filter_cost(const vdb_index *ix, const vdb_search_opts *o, size_t nq,
                               size_t n_allow, int threads, unsigned *knob)
{
	const hnsw_graph *g = &((const hnsw_index *)ix->impl)->g;
	size_t ef = vdb_knob_value(o, &ef_knob);
	ef = ef ? ef : HNSW_DEFAULT_EF;
	ef = ef < o->k ? o->k : ef;
	*knob = (unsigned)ef;
	double n = (double)g->n, nodes = (double)ef * n / (double)n_allow;
	nodes = (nodes < WALK_CAP * n ? nodes : WALK_CAP * n) + WALK_START;
	double node = WALK_UNIT + WALK_UNIT_DIM * g->dim +
	              WALK_ROWS * vdb_plan_fetch_ns(n * (double)g->stride);
	return vdb_plan_waves(nq, threads) * nodes * node * 1e-9;
}

const struct vdb_index_ops vdb_hnsw_ops = {
	.name = "hnsw",
	.fourcc = VDB_FOURCC('H', 'N', 'S', 'W'),
	.metrics = VDB_BIT(VDB_METRIC_L2) | VDB_BIT(VDB_METRIC_IP) | VDB_BIT(VDB_METRIC_COSINE) |
	           VDB_BIT(VDB_METRIC_HAMMING),
	.storages = VDB_BIT(VDB_STORAGE_F32) | VDB_BIT(VDB_STORAGE_F16) | VDB_BIT(VDB_STORAGE_SQ8),
	.rows_are = "float32 vectors",
	.refine = VDB_REFINE_COMPRESSED,
	.knob = &ef_knob,
	.params = params,
	.build = hnsw_build,
	.append = hnsw_append,
	.compact = hnsw_compact,
	.save = hnsw_save,
	.open = hnsw_open,
	.verify = hnsw_verify,
	.search = hnsw_search,
	.search_allowed = hnsw_search_allowed,
	.filter_cost = hnsw_filter_cost,
	.rows = hnsw_rows,
	.rows_decoded = hnsw_rows_decoded,
	.info = hnsw_info,
	.free = hnsw_free,
};
