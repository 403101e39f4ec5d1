/*
 * hnsw.c — HNSW graph search and parallel insertion (Malkov & Yashunin,
 * "Efficient and robust approximate nearest neighbor search using
 * Hierarchical Navigable Small World graphs", 2016/2018).
 *
 * The beam of a layer search is one sorted array of the ef best nodes seen,
 * each marked once expanded (as in NSG/DiskANN's candidate pool). It is the
 * same walk as the paper's two heaps: a node outside the best ef is never
 * expanded there either. A fixed array of ef entries needs no allocation
 * and keeps the beam in two or three cache lines for the usual ef.
 *
 * Build: nodes are inserted in parallel (OpenMP); every node has a one-byte
 * spin lock held while its link list is rewritten (hnswlib's per-node
 * mutexes are held for reads too). Searches read the lists lock-free, one
 * atomic word at a time (load_count): on two threads the readers' locks
 * cost a fifth of the build (their cache lines passed between the cores,
 * and spinning). A node whose level tops the graph holds the
 * global lock for its whole insertion, so the entry point only moves to a
 * node that is fully linked.
 */
#include "hnsw.h"
#include "hnsw_codes.h"
#include "distance.h"
#include "random.h"
#include "cpu_relax.h"
#include <math.h>
#include <omp.h>
#include <string.h>

#define EXPANDED 0x80000000u

typedef struct {
	float d;
	uint32_t id; /* EXPANDED bit set once the node's links were followed */
} cand;

struct hnsw_ws {
	uint16_t *tags;     /* visited[i] == gen */
	uint16_t gen;
	size_t n;
	cand *pool;         /* the beam, sorted by d; pool[-1] a sentinel (-inf), and
	                     * room for M0 + 1 entries beyond ef (pool_merge) */
	cand *pool_mem;
	size_t cap;
	cand *sel;          /* neighbour selection scratch */
	uint32_t *nbuf;     /* a link list copied under its lock, or the unvisited links */
	uint32_t *dbuf;     /* codes: the distances of nbuf's nodes (l2sq_u8_many) */
	float *q;           /* the query, normalised for cosine and prepared for the rows */
	float *p2;          /* a node's vector as a query (neighbour selection) */
	cand *heap;         /* filtered search: the candidates, a min-heap, grown */
	size_t heap_cap;
	uint32_t dim;
};

size_t vdb_hnsw_stride(size_t vec_bytes, uint32_t M)
{
	size_t bytes = vec_bytes + 4 + (size_t)2 * M * 4;
	return (bytes + 63) & ~(size_t)63;
}

static inline const void *vec_of(const hnsw_graph *g, size_t i)
{
	return g->l0 + i * g->stride;
}

/* Ask for the rest of a vector whose first line was already requested,
 * one distance ahead of its use. */
static inline void prefetch_vec(const hnsw_graph *g, uint32_t i)
{
	const unsigned char *p = g->l0 + (size_t)i * g->stride;
	size_t bytes = g->vec_bytes;
	if (bytes > 1024)
		bytes = 1024;
	for (size_t o = 64; o < bytes; o += 64)
		__builtin_prefetch(p + o);
}

/* Ask for node i's layer-0 link list (up to 1 + 2M words, from the end of
 * its vector). */
static inline void prefetch_links(const hnsw_graph *g, uint32_t i)
{
	const unsigned char *p = g->l0 + (size_t)i * g->stride + g->vec_bytes;
	const unsigned char *end = p + 4 * (1 + (size_t)g->M0);
	for (p = (const unsigned char *)((uintptr_t)p & ~(uintptr_t)63); p < end; p += 64)
		__builtin_prefetch(p);
}

/* u32 nlinks followed by the links, of node i on layer lc. */
static inline uint32_t *links_of(const hnsw_graph *g, size_t i, int lc)
{
	if (lc == 0)
		return (uint32_t *)(g->l0 + i * g->stride + g->vec_bytes);
	return g->up + g->upof[i] + (size_t)(lc - 1) * (1 + g->M);
}

/* How many links a list of layer lc holds at most. */
static inline uint32_t max_links(const hnsw_graph *g, int lc)
{
	return lc ? g->M : g->M0;
}

/* The links in list lk of layer lc (its count, clamped: a damaged file's
 * count is never trusted beyond the list). */
static inline uint32_t link_count(const hnsw_graph *g, const uint32_t *lk, int lc)
{
	return lk[0] < max_links(g, lc) ? lk[0] : max_links(g, lc);
}

/* Ranking distance of a prepared query (q, bias) to node i: squared L2, or
 * -dot for ip and (normalised) cosine. */
static inline float rank_dist(const hnsw_graph *g, const vdb_kernels *K, const float *q,
                              float bias, uint32_t i)
{
	if (g->codes) /* q is a code too */
		return (float)K->l2sq_u8((const uint8_t *)q, vec_of(g, i), g->dim);
	return vdb_rows_rank(&g->rows, K, g->metric, q, bias, vec_of(g, i));
}

/* Node i's vector as a prepared query: the row itself (float32 storage) or
 * decoded and prepared in buf. */
static inline const float *node_query(const hnsw_graph *g, const vdb_kernels *K, uint32_t i,
                                      float *buf, float *bias)
{
	*bias = 0;
	if (g->rows.kind == VDB_STORAGE_F32 || g->rows.kind == VDB_STORAGE_BINARY || g->codes)
		return vec_of(g, i);
	vdb_rows_decode(&g->rows, K, vec_of(g, i), buf);
	vdb_rows_prepare(&g->rows, g->metric, buf, buf, bias);
	return buf;
}

static inline float reported(const hnsw_graph *g, float d)
{
	vdb_metric m = g->metric;
	if (g->codes) { /* codes' squared L2 in steps: the vectors' (cosine: 1 - dot is half of it) */
		float w = g->rows.step[0] * g->rows.step[0];
		if (m != VDB_METRIC_L2)
			return d * w * 0.5f;
		d *= w;
	}
	if (m == VDB_METRIC_L2)
		return sqrtf(d > 0 ? d : 0);
	return m == VDB_METRIC_COSINE ? 1 + d : d;
}

int vdb_hnsw_random_level(uint64_t seed, size_t i, uint32_t M)
{
	/* draw i of seed's splitmix64: independent draws without shared state */
	uint64_t z = vdb_splitmix64_at(seed, i);
	double u = ((double)(z >> 11) + 1.0) / 9007199254740992.0; /* (0, 1] */
	int l = (int)(-log(u) / log((double)M));
	return l > HNSW_MAX_LEVEL ? HNSW_MAX_LEVEL : l;
}

size_t vdb_hnsw_chunk(size_t n, int threads, size_t most)
{
	size_t c = n / (4 * (size_t)(threads > 1 ? threads : 1));
	return c < 1 ? 1 : c > most ? most : c;
}

/* ===== Workspace ===== */
hnsw_ws *vdb_hnsw_ws_new(const hnsw_graph *g, size_t ef)
{
	hnsw_ws *w = calloc(1, sizeof *w);
	if (!w)
		return NULL;
	w->n = g->n;
	w->cap = ef;
	w->dim = g->dim;
	w->tags = calloc(g->n ? g->n : 1, sizeof *w->tags);
	w->pool_mem = malloc((ef + (size_t)g->M0 + 2) * sizeof *w->pool_mem);
	if (w->pool_mem) {
		w->pool_mem[0] = (cand){ -INFINITY, 0 };
		w->pool = w->pool_mem + 1;
	}
	w->sel = malloc(((size_t)g->M0 + 1 + ef) * sizeof *w->sel);
	w->nbuf = malloc(((size_t)g->M0 + 1) * sizeof *w->nbuf);
	w->dbuf = malloc(((size_t)g->M0 + 1) * sizeof *w->dbuf);
	w->q = malloc((size_t)g->dim * sizeof *w->q);
	w->p2 = malloc((size_t)g->dim * sizeof *w->p2);
	w->heap_cap = 4 * (ef + (size_t)g->M0);
	w->heap = malloc(w->heap_cap * sizeof *w->heap);
	if (!w->tags || !w->pool || !w->sel || !w->nbuf || !w->dbuf || !w->q || !w->p2 || !w->heap) {
		vdb_hnsw_ws_free(w);
		return NULL;
	}
	return w;
}

size_t vdb_hnsw_ws_cap(const hnsw_ws *w)
{
	return w->cap;
}

void vdb_hnsw_ws_free(hnsw_ws *w)
{
	if (!w)
		return;
	free(w->tags);
	free(w->pool_mem);
	free(w->sel);
	free(w->nbuf);
	free(w->dbuf);
	free(w->q);
	free(w->p2);
	free(w->heap);
	free(w);
}

static inline void new_visit(hnsw_ws *w)
{
	if (++w->gen == 0) { /* wrapped: old tags could collide */
		memset(w->tags, 0, w->n * sizeof *w->tags);
		w->gen = 1;
	}
}

/* ===== Locks (build only) ===== */
static inline void lock(uint8_t *l)
{
	while (__atomic_test_and_set(l, __ATOMIC_ACQUIRE))
		while (__atomic_load_n(l, __ATOMIC_RELAXED))
			vdb_cpu_relax();
}

static inline void unlock(uint8_t *l)
{
	__atomic_clear(l, __ATOMIC_RELEASE);
}

/* A link list's count and links as a builder's thread reads them while
 * another may rewrite them: each word loaded once, atomically (on x86 and
 * ARM64 a plain load), the count before the links (acquire; writers store
 * the links, then the count with release). A reader may see a list half
 * rewritten: every id in it is a node, which is all a search needs. */
static inline uint32_t load_count(const uint32_t *lk)
{
	return __atomic_load_n(lk, __ATOMIC_ACQUIRE);
}

static inline uint32_t load_link(const uint32_t *lk, uint32_t j)
{
	return __atomic_load_n(&lk[1 + j], __ATOMIC_RELAXED);
}

/* Write list lk (the writer holding its node's lock): the links, then the
 * count, for lock-free readers (load_count). */
static inline void store_links(uint32_t *lk, uint32_t from, const uint32_t *ids, uint32_t n)
{
	for (uint32_t j = 0; j < n; j++)
		__atomic_store_n(&lk[1 + from + j], ids[j], __ATOMIC_RELAXED);
	__atomic_store_n(lk, from + n, __ATOMIC_RELEASE);
}

/* Copy node i's links on layer lc into out; drops counts and ids a damaged
 * file could carry. Returns the count. Lock-free (load_count). */
static inline uint32_t read_links(const hnsw_graph *g, size_t i, int lc, uint32_t *out)
{
	/* no such layer for this node, or a range beyond the upper links: only
	 * in a damaged file, and never read (opening checks only the ends) */
	if (lc > 0 && (g->upof[i] > g->upof[i + 1] || g->upof[i + 1] > g->upof[g->n] ||
	               (uint64_t)lc * (1 + g->M) > g->upof[i + 1] - g->upof[i]))
		return 0;
	const uint32_t *lk = links_of(g, i, lc);
	uint32_t c = load_count(lk), m = 0;
	if (c > max_links(g, lc))
		c = max_links(g, lc);
	for (uint32_t j = 0; j < c; j++) {
		uint32_t x = load_link(lk, j);
		if (x < g->n)
			out[m++] = x;
	}
	return m;
}

/* ===== Layer search ===== */
/* Greedy walk on an upper layer: move to the closest neighbour while one is
 * closer. */
static inline void greedy(const hnsw_graph *g, const vdb_kernels *K, hnsw_ws *w, const float *q,
                           float bias, int lc, uint32_t *ep, float *dep)
{
	bool moved = true;
	while (moved) {
		moved = false;
		uint32_t c = read_links(g, *ep, lc, w->nbuf);
		if (g->codes)
			K->l2sq_u8_many((const uint8_t *)q, g->l0, g->stride, w->nbuf, c, g->dim, w->dbuf);
		for (uint32_t j = 0; j < c; j++) {
			float d = g->codes ? (float)w->dbuf[j] : rank_dist(g, K, q, bias, w->nbuf[j]);
			if (d < *dep) {
				*dep = d;
				*ep = w->nbuf[j];
				moved = true;
			}
		}
	}
}

/* Insert (d, id) into the sorted pool of at most ef; returns its position,
 * or ef when it does not fit. Shifting from the back finds the place and
 * moves the tail in one pass: new candidates mostly land near the back, and a
 * binary search's chain of dependent loads cost more than the walk. */
#define POOL_LINEAR 64 /* wider pools (a build's ef_construction) search for the place */

static inline size_t pool_insert(cand *pool, size_t *size, size_t ef, float d, uint32_t id)
{
	size_t n = *size;
	if (n == ef && d >= pool[n - 1].d)
		return ef;
	size_t i = n == ef ? n - 1 : n;
	if (i > POOL_LINEAR) {
		/* the first entry beyond d (branch-free halving: the place is
		 * unpredictable), then one move of the tail */
		const cand *base = pool;
		for (size_t len = i; len > 1; len -= len / 2)
			base = base[len / 2].d <= d ? base + len / 2 : base;
		size_t lo = (size_t)(base - pool) + (base->d <= d);
		memmove(pool + lo + 1, pool + lo, (i - lo) * sizeof *pool);
		i = lo;
	}
	while (i > 0 && pool[i - 1].d > d) {
		pool[i] = pool[i - 1];
		i--;
	}
	pool[i].d = d;
	pool[i].id = id;
	if (n < ef)
		*size = n + 1;
	return i;
}

/* Insert the m entries of in (reordered here) into the sorted pool of at
 * most ef: the pool pool_insert would leave, one at a time in in's order
 * (equal distances after those already there). Returns the lowest place an
 * entry took, or ef when none fits. From the back, the largest entry
 * first: the pool's entries beyond it move up by the entries left, in one
 * tight loop each (pool[-1] is a sentinel below every distance; entries
 * pushed beyond ef land in the pool's spare room and drop out). */
static inline size_t pool_merge(cand *pool, size_t *size, size_t ef, cand *in, size_t m)
{
	for (size_t a = 1; a < m; a++) { /* stable: equal distances keep their order */
		cand x = in[a];
		size_t b = a;
		for (; b > 0 && in[b - 1].d > x.d; b--)
			in[b] = in[b - 1];
		in[b] = x;
	}
	size_t n = *size, i = n;
	for (size_t b = m; b-- > 0;) {
		float d = in[b].d;
		/* (pool + i)[-1]: at i = 0 the sentinel, a signed step back
		 * (pool[i - 1] would wrap i - 1 around SIZE_MAX) */
		for (; (pool + i)[-1].d > d; i--)
			pool[i + b] = (pool + i)[-1];
		pool[i + b] = in[b];
	}
	*size = n + m < ef ? n + m : ef;
	return m && i < ef ? i : ef;
}

/* The distance of the j-th of the c unvisited links nb: computed already
 * (codes: w->dbuf), or now, the next one's vector requested. */
static inline float link_dist(const hnsw_graph *g, const vdb_kernels *K, const hnsw_ws *w,
                              const float *q, float bias, const uint32_t *nb, uint32_t c,
                              uint32_t j)
{
	if (g->codes)
		return (float)w->dbuf[j];
	if (j + 1 < c)
		prefetch_vec(g, nb[j + 1]);
	return rank_dist(g, K, q, bias, nb[j]);
}

/* Beam search of width ef on layer lc from ep; leaves the pool sorted and
 * returns its size. The links are read lock-free (load_count): the same walk
 * on a finished graph and on one being built. */
static inline __attribute__((always_inline)) size_t
search_layer(const hnsw_graph *g, const vdb_kernels *K, hnsw_ws *w,
             const float *q, float bias, int lc, uint32_t ep, float dep, size_t ef)
{
	cand *pool = w->pool;
	uint16_t *tags = w->tags;
	new_visit(w);
	const uint16_t gen = w->gen;
	tags[ep] = gen;
	pool[0].d = dep;
	pool[0].id = ep;
	size_t size = 1, cur = 0;
	while (cur < size) {
		uint32_t node = pool[cur].id;
		pool[cur].id |= EXPANDED;
		size_t next = cur + 1;
		uint32_t *nb = w->nbuf;
		uint32_t c;
		if (lc == 0) {
			/* the hot path: filter the unvisited links, prefetch their vectors;
			 * and the links of the node likely expanded next (they follow its
			 * vector, in lines its distance did not read) */
			if (cur + 1 < size)
				prefetch_links(g, pool[cur + 1].id & ~EXPANDED);
			const uint32_t *lk = links_of(g, node, 0);
			uint32_t cnt = load_count(lk);
			if (cnt > g->M0)
				cnt = g->M0;
			/* without branches: whether a link was visited is a coin
			 * toss to the predictor (a link beyond the nodes, only in
			 * a damaged file, reads and keeps node 0's tag) */
			c = 0;
			for (uint32_t j = 0; j < cnt; j++) {
				uint32_t x = load_link(lk, j);
				bool in = x < g->n;
				uint32_t xi = in ? x : 0;
				uint16_t t = tags[xi];
				bool fresh = in & (t != gen);
				tags[xi] = fresh ? gen : t;
				nb[c] = x;
				c += fresh;
			}
			for (uint32_t j = 0; j < c; j++) {
				__builtin_prefetch(g->l0 + (size_t)nb[j] * g->stride);
				if (g->codes) /* a code of two lines: both, long before use */
					__builtin_prefetch(g->l0 + (size_t)nb[j] * g->stride + 64);
			}
		} else {
			uint32_t cnt = read_links(g, node, lc, nb);
			c = 0;
			for (uint32_t j = 0; j < cnt; j++)
				if (tags[nb[j]] != gen) {
					tags[nb[j]] = gen;
					nb[c++] = nb[j];
					__builtin_prefetch(g->l0 + (size_t)nb[j] * g->stride);
				}
		}
		/* codes: the node's distances in one call (the query's loads
		 * shared, four sums at once) */
		if (g->codes)
			K->l2sq_u8_many((const uint8_t *)q, g->l0, g->stride, nb, c, g->dim, w->dbuf);
		if (ef > POOL_LINEAR) {
			/* a wide pool (a build's): the node's distances first, then one
			 * merge moves the pool's tail once, not once per entry */
			cand *in = w->sel;
			size_t m = 0;
			for (uint32_t j = 0; j < c; j++) {
				float dd = link_dist(g, K, w, q, bias, nb, c, j);
				if (size < ef || dd < pool[size - 1].d)
					in[m++] = (cand){ dd, nb[j] };
			}
			size_t pos = pool_merge(pool, &size, ef, in, m);
			if (pos < next)
				next = pos;
		} else {
			for (uint32_t j = 0; j < c; j++) {
				float dd = link_dist(g, K, w, q, bias, nb, c, j);
				if (size < ef || dd < pool[size - 1].d) {
					size_t pos = pool_insert(pool, &size, ef, dd, nb[j]);
					if (pos < next)
						next = pos;
				}
			}
		}
		cur = next;
		while (cur < size && (pool[cur].id & EXPANDED))
			cur++;
	}
	for (size_t i = 0; i < size; i++)
		pool[i].id &= ~EXPANDED;
	return size;
}

/* The query, normalised for cosine and prepared for the rows, in w->q;
 * then the greedy descent to layer 1's nearest node (*ep, at *dep). */
static void descend(const hnsw_graph *g, const vdb_kernels *K, hnsw_ws *w, const void *query,
                    float *bias, uint32_t *ep, float *dep)
{
	const float *q = query;
	*bias = 0;
	if (g->rows.kind == VDB_STORAGE_BINARY) {
		memcpy(w->q, query, g->rows.size); /* the bits, in the (larger) float buffer */
	} else {
		if (g->metric == VDB_METRIC_COSINE) {
			memcpy(w->p2, q, (size_t)g->dim * sizeof *q);
			vdb_normalize(w->p2, g->dim);
			q = w->p2;
		}
		if (g->codes)
			vdb_hnsw_codes_query(&g->rows, q, (uint8_t *)w->q);
		else
			vdb_rows_prepare(&g->rows, g->metric, q, w->q, bias);
	}
	*ep = g->entry;
	*dep = rank_dist(g, K, w->q, *bias, *ep);
	for (int lc = g->max_level; lc > 0; lc--)
		greedy(g, K, w, w->q, *bias, lc, ep, dep);
}

static void results(const hnsw_graph *g, const hnsw_ws *w, size_t got, size_t k, int64_t *ids,
                    float *dist)
{
	for (size_t i = 0; i < k; i++) {
		ids[i] = i < got ? (int64_t)w->pool[i].id : -1;
		dist[i] = i < got ? reported(g, w->pool[i].d) : INFINITY;
	}
}

/* ===== Filtered search ===== */
static inline void heap_up(cand *h, size_t i)
{
	cand x = h[i];
	while (i > 0 && h[(i - 1) / 2].d > x.d) {
		h[i] = h[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h[i] = x;
}

static inline cand heap_pop(cand *h, size_t *n)
{
	cand top = h[0], x = h[--*n];
	size_t i = 0;
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		float md = x.d;
		if (l < *n && h[l].d < md)
			m = l, md = h[l].d;
		if (l + 1 < *n && h[l + 1].d < md)
			m = l + 1;
		if (m == i)
			break;
		h[i] = h[m];
		i = m;
	}
	if (*n)
		h[i] = x;
	return top;
}

/* Layer 0 for a filtered search: every node may be walked through (an
 * unbounded candidate heap); only allowed ones enter the ef best (the
 * pool). The walk ends when the nearest candidate is beyond a full pool's
 * worst. Returns the pool's size. */
static size_t search_allowed(const hnsw_graph *g, const vdb_kernels *K, hnsw_ws *w, float bias,
                             uint32_t ep, float dep, size_t ef, const uint64_t *allow)
{
	size_t got = 0;
	new_visit(w);
	const uint16_t gen = w->gen;
	w->tags[ep] = gen;
	size_t hn = 0;
	w->heap[hn++] = (cand){ dep, ep };
	if ((allow[ep >> 6] >> (ep & 63)) & 1)
		pool_insert(w->pool, &got, ef, dep, ep);
	while (hn) {
		cand c = heap_pop(w->heap, &hn);
		if (got == ef && c.d > w->pool[got - 1].d)
			break;
		uint32_t nb[HNSW_MAX_M + 1];
		uint32_t cnt = read_links(g, c.id, 0, nb), fresh = 0;
		/* the unvisited links first, their rows prefetched (as search_layer) */
		for (uint32_t j = 0; j < cnt; j++)
			if (w->tags[nb[j]] != gen) {
				w->tags[nb[j]] = gen;
				nb[fresh++] = nb[j];
				__builtin_prefetch(g->l0 + (size_t)nb[j] * g->stride);
			}
		for (uint32_t j = 0; j < fresh; j++) {
			uint32_t x = nb[j];
			if (j + 1 < fresh)
				prefetch_vec(g, nb[j + 1]);
			float d = rank_dist(g, K, w->q, bias, x);
			if (got == ef && d >= w->pool[got - 1].d)
				continue;
			if (hn == w->heap_cap) {
				size_t cap = w->heap_cap * 2;
				cand *more = realloc(w->heap, cap * sizeof *more);
				if (!more)
					return got; /* out of memory: the results so far */
				w->heap = more, w->heap_cap = cap;
			}
			w->heap[hn] = (cand){ d, x };
			heap_up(w->heap, hn++);
			if ((allow[x >> 6] >> (x & 63)) & 1)
				pool_insert(w->pool, &got, ef, d, x);
		}
	}
	return got;
}

/* Hamming distances tie often: order equal distances by id, as exact
 * search does, so that the beam's k best are the flat index's when the
 * beam holds them. The pool is sorted by distance: an insertion sort only
 * moves entries within runs of equal distance. */
static void ties_by_id(cand *pool, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		cand c = pool[i];
		size_t j = i;
		while (j > 0 && pool[j - 1].d == c.d && pool[j - 1].id > c.id) {
			pool[j] = pool[j - 1];
			j--;
		}
		pool[j] = c;
	}
}

void vdb_hnsw_search_one(const hnsw_graph *g, hnsw_ws *w, const void *query, size_t k, size_t ef,
                     const uint64_t *allow, int64_t *ids, float *dist)
{
	const vdb_kernels *K = vdb_kernels_get();
	if (ef < k)
		ef = k;
	if (ef > w->cap)
		ef = w->cap;
	size_t got = 0;
	if (g->n > 0) {
		uint32_t ep;
		float dep, bias;
		descend(g, K, w, query, &bias, &ep, &dep);
		got = allow ? search_allowed(g, K, w, bias, ep, dep, ef, allow)
		            : search_layer(g, K, w, w->q, bias, 0, ep, dep, ef);
	}
	if (g->rows.kind == VDB_STORAGE_BINARY)
		ties_by_id(w->pool, got);
	results(g, w, got, k, ids, dist);
}

/* ===== Insertion ===== */
/* The paper's neighbour-selection heuristic: take candidates nearest first,
 * keep one only if it is closer to the base than to every one kept. The
 * first `given` of c are kept as they are (a re-link's surviving links), the
 * others sorted by distance to the base; the kept ones are moved to its
 * front. */
static size_t select_neighbours(const hnsw_graph *g, const vdb_kernels *K, hnsw_ws *w, cand *c,
                                size_t n, size_t given, size_t max)
{
	if (n <= max)
		return n;
	size_t kept = given;
	for (size_t i = given; i < n && kept < max; i++) {
		float bias;
		const float *v = node_query(g, K, c[i].id, w->p2, &bias);
		bool good = true;
		for (size_t j = 0; j < kept; j++)
			if (rank_dist(g, K, v, bias, c[j].id) < c[i].d) {
				good = false;
				break;
			}
		if (good)
			c[kept++] = c[i];
	}
	return kept;
}

static int cand_cmp(const void *a, const void *b)
{
	const cand *x = a, *y = b;
	if (x->d != y->d)
		return x->d < y->d ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* Link node `from` to `to` on layer lc; when from's list is full, re-select
 * its neighbours among the old ones and `to` with the heuristic. */
static void add_link(hnsw_graph *g, const vdb_kernels *K, uint8_t *locks, hnsw_ws *w,
                     uint32_t from, uint32_t to, int lc)
{
	uint32_t max = max_links(g, lc);
	uint32_t *lk = links_of(g, from, lc);
	lock(&locks[from]);
	uint32_t c = lk[0];
	if (c < max) {
		store_links(lk, c, &to, 1);
	} else {
		float bias;
		const float *v = node_query(g, K, from, w->p2, &bias);
		cand *s = w->sel;
		for (uint32_t j = 0; j < c; j++) {
			s[j].id = lk[1 + j];
			s[j].d = rank_dist(g, K, v, bias, s[j].id);
		}
		s[c].id = to;
		s[c].d = rank_dist(g, K, v, bias, to);
		qsort(s, c + 1, sizeof *s, cand_cmp);
		/* reuses w->p2: v is no longer needed */
		size_t kept = select_neighbours(g, K, w, s, c + 1, 0, max);
		uint32_t ids[HNSW_MAX_M];
		for (size_t j = 0; j < kept; j++)
			ids[j] = s[j].id;
		store_links(lk, 0, ids, (uint32_t)kept);
	}
	unlock(&locks[from]);
}

typedef struct {
	hnsw_graph *g;
	uint8_t *locks;
	uint8_t top;        /* global lock: entry point and max level */
} builder;

static void insert_node(builder *b, hnsw_ws *w, uint32_t i)
{
	hnsw_graph *g = b->g;
	const vdb_kernels *K = vdb_kernels_get();
	int level = hnsw_level(g, i);
	lock(&b->top);
	uint32_t ep = g->entry;
	int top = g->max_level;
	bool hold = level > top;
	if (!hold)
		unlock(&b->top);
	float bias;
	const float *q = node_query(g, K, i, w->q, &bias);
	float dep = rank_dist(g, K, q, bias, ep);
	for (int lc = top; lc > level; lc--)
		greedy(g, K, w, q, bias, lc, &ep, &dep);
	for (int lc = level < top ? level : top; lc >= 0; lc--) {
		size_t n = search_layer(g, K, w, q, bias, lc, ep, dep, g->ef_construction);
		cand *s = w->sel;
		size_t m = 0;
		for (size_t j = 0; j < n; j++)
			if (w->pool[j].id != i)
				s[m++] = w->pool[j];
		ep = s[0].id, dep = s[0].d; /* n >= 1: ep itself is in the pool */
		size_t kept = select_neighbours(g, K, w, s, m, 0, g->M);
		/* add_link reuses w->sel: keep the chosen ids first */
		uint32_t chosen[HNSW_MAX_M];
		for (size_t j = 0; j < kept; j++)
			chosen[j] = s[j].id;
		lock(&b->locks[i]);
		store_links(links_of(g, i, lc), 0, chosen, (uint32_t)kept);
		unlock(&b->locks[i]);
		for (size_t j = 0; j < kept; j++)
			add_link(g, K, b->locks, w, chosen[j], i, lc);
	}
	if (hold) {
		g->entry = i;
		g->max_level = level;
		unlock(&b->top);
	}
}

/* ===== Reachability ===== */
/* Insertion can leave a node that no other node links to on a layer, when
 * the full lists of its neighbours pruned it away: no search finds it then,
 * whatever its ef. Over 1,000 fastText word vectors (100-d, M 16) hnswlib
 * and vdb both left 27-28 such nodes; Lucene repairs its graphs after
 * building. Here every layer is made strongly connected through its entry
 * point, since a search starts its layer walk wherever the descent ended:
 * a node the entry point does not reach gets a link from the nearest
 * reached node with a free slot (a layer search finds them), or in place of
 * a link to a node that other links reach too, and a node that does not
 * reach the entry point a link to the nearest node that does. Where a link
 * must give way all the same, passes repeat until nothing is lost. */
#define REACH_CANDS 32
#define REACH_PASSES 8
#define REACH_PARALLEL 32 /* unreached nodes searched for links in parallel from */

/* Mark in fwd what `from` reaches on layer lc; stack holds n ids. */
static void reach_from(const hnsw_graph *g, int lc, uint32_t from, uint8_t *fwd,
                       uint32_t *stack)
{
	if (fwd[from])
		return;
	size_t top = 0;
	fwd[from] = 1;
	stack[top++] = from;
	while (top) {
		const uint32_t *lk = links_of(g, stack[--top], lc);
		for (uint32_t j = 0, c = link_count(g, lk, lc); j < c; j++) {
			uint32_t y = lk[1 + j];
			if (y < g->n && !fwd[y]) {
				fwd[y] = 1;
				stack[top++] = y;
			}
		}
	}
}

/* Does node i link to a node of set on layer lc? */
static bool links_into(const hnsw_graph *g, int lc, size_t i, const uint8_t *set)
{
	const uint32_t *lk = links_of(g, i, lc);
	for (uint32_t j = 0, c = link_count(g, lk, lc); j < c; j++)
		if (lk[1 + j] < g->n && set[lk[1 + j]])
			return true;
	return false;
}

/* Mark in back every node of layer lc that reaches the entry point: sweeps
 * in insertion order (links mostly go to older nodes) until none changes. */
static void reach_back(const hnsw_graph *g, int lc, uint8_t *back)
{
	memset(back, 0, g->n);
	back[g->entry] = 1;
	for (bool changed = true; changed;) {
		changed = false;
		for (size_t i = 0; i < g->n; i++)
			if (!back[i] && hnsw_level(g, i) >= lc && links_into(g, lc, i, back))
				back[i] = changed = true;
	}
}

/* The nearest nodes to node u on layer lc in near[0..REACH_CANDS),
 * UINT32_MAX where fewer. */
static void reach_candidates(const hnsw_graph *g, const vdb_kernels *K, hnsw_ws *w, int lc,
                             uint32_t u, uint32_t *near)
{
	float bias;
	const float *q = node_query(g, K, u, w->q, &bias);
	uint32_t ep = g->entry;
	float dep = rank_dist(g, K, q, bias, ep);
	for (int l = g->max_level; l > lc; l--)
		greedy(g, K, w, q, bias, l, &ep, &dep);
	size_t n = search_layer(g, K, w, q, bias, lc, ep, dep, vdb_hnsw_ws_cap(w));
	size_t m = 0;
	for (size_t j = 0; j < n && m < REACH_CANDS; j++)
		if (w->pool[j].id != u)
			near[m++] = w->pool[j].id;
	while (m < REACH_CANDS)
		near[m++] = UINT32_MAX;
}

static inline bool has_room(const hnsw_graph *g, uint32_t r, int lc)
{
	return link_count(g, links_of(g, r, lc), lc) < max_links(g, lc);
}

/* The slot of r's full list on layer lc whose node has the most links into
 * it (the last such), so that giving it up orphans no node where it can be
 * helped; -1 when every node r links to has only r's link. */
static int spare_slot(const hnsw_graph *g, int lc, uint32_t r, const uint32_t *indeg)
{
	const uint32_t *lk = links_of(g, r, lc);
	int best = -1;
	uint32_t most = 2;
	for (uint32_t j = 0, c = link_count(g, lk, lc); j < c; j++)
		if (lk[1 + j] < g->n && indeg[lk[1 + j]] >= most) {
			most = indeg[lk[1 + j]];
			best = (int)j;
		}
	return best;
}

/* Link from -> to on layer lc: appended, or in place of its spare slot (the
 * last when none is spare). indeg counts the links into each node. */
static void reach_link(hnsw_graph *g, int lc, uint32_t from, uint32_t to, uint32_t *indeg)
{
	uint32_t *lk = links_of(g, from, lc);
	uint32_t c = link_count(g, lk, lc);
	if (c < max_links(g, lc)) {
		lk[1 + c] = to;
		lk[0] = c + 1;
	} else {
		int j = spare_slot(g, lc, from, indeg);
		uint32_t *slot = &lk[1 + (j >= 0 ? (uint32_t)j : c - 1)];
		if (*slot < g->n)
			indeg[*slot]--;
		*slot = to;
	}
	indeg[to]++;
}

/* Who links to u, a node the entry point does not reach on layer lc: the
 * nearest reached candidate with a free slot, else the nearest one with a
 * spare slot, else any reached node with a free slot (the scan resumes at
 * *cursor), else the nearest reached (the entry point when none is). */
static uint32_t pick_from(const hnsw_graph *g, int lc, const uint32_t *near, const uint8_t *fwd,
                          const uint32_t *indeg, size_t *cursor)
{
	uint32_t nearest = UINT32_MAX, spare = UINT32_MAX;
	for (size_t j = 0; j < REACH_CANDS; j++) {
		uint32_t r = near[j];
		if (r >= g->n || !fwd[r])
			continue;
		if (has_room(g, r, lc))
			return r;
		if (nearest == UINT32_MAX)
			nearest = r;
		if (spare == UINT32_MAX && spare_slot(g, lc, r, indeg) >= 0)
			spare = r;
	}
	if (spare != UINT32_MAX)
		return spare;
	for (size_t t = 0; t < g->n; t++) {
		uint32_t r = (uint32_t)((*cursor + t) % g->n);
		if (fwd[r] && hnsw_level(g, r) >= lc && has_room(g, r, lc)) {
			*cursor = r;
			return r;
		}
	}
	return nearest != UINT32_MAX ? nearest : g->entry;
}

/* Whom u, a node that does not reach the entry point on layer lc, links to:
 * the nearest candidate that does, else the entry point. */
static uint32_t pick_to(const hnsw_graph *g, const uint32_t *near, const uint8_t *back)
{
	for (size_t j = 0; j < REACH_CANDS; j++)
		if (near[j] < g->n && back[near[j]])
			return near[j];
	return g->entry;
}

/* One pass over layer lc: the links it added in *linked. */
static vdb_status reach_pass(hnsw_graph *g, int lc, uint8_t *fwd, uint8_t *back,
                             uint32_t *stack, uint32_t *indeg, size_t *linked)
{
	memset(fwd, 0, g->n);
	reach_from(g, lc, g->entry, fwd, stack);
	reach_back(g, lc, back);
	size_t lost = 0;
	for (size_t i = 0; i < g->n; i++)
		if ((!fwd[i] || !back[i]) && hnsw_level(g, i) >= lc)
			stack[lost++] = (uint32_t)i;
	*linked = 0;
	if (!lost)
		return VDB_OK;
	uint32_t *todo = malloc(lost * (1 + REACH_CANDS) * sizeof *todo);
	if (!todo)
		return VDB_ENOMEM;
	uint32_t *near = todo + lost;
	memcpy(todo, stack, lost * sizeof *todo);
	const vdb_kernels *K = vdb_kernels_get();
	int failed = 0;
	size_t chunk = vdb_hnsw_chunk(lost, omp_get_max_threads(), 16);
	/* the searches only read the graph: in parallel, unless they are a few
	 * (a few ms: less than waking a second thread costs on a busy machine) */
	#pragma omp parallel if (lost >= REACH_PARALLEL)
	{
		size_t ef = g->ef_construction > REACH_CANDS ? g->ef_construction : 2 * REACH_CANDS;
		hnsw_ws *w = vdb_hnsw_ws_new(g, ef);
		if (!w) {
			#pragma omp atomic write
			failed = 1;
		}
		#pragma omp for schedule(dynamic, chunk)
		for (size_t j = 0; j < lost; j++)
			if (w)
				reach_candidates(g, K, w, lc, todo[j], near + j * REACH_CANDS);
		vdb_hnsw_ws_free(w);
	}
	memset(indeg, 0, g->n * sizeof *indeg);
	for (size_t i = 0; i < g->n; i++) {
		const uint32_t *lk = links_of(g, i, lc);
		for (uint32_t j = 0, c = hnsw_level(g, i) >= lc ? link_count(g, lk, lc) : 0; j < c; j++)
			if (lk[1 + j] < g->n)
				indeg[lk[1 + j]]++;
	}
	size_t cursor = 0;
	for (size_t j = 0; !failed && j < lost; j++) {
		uint32_t u = todo[j];
		const uint32_t *c = near + j * REACH_CANDS;
		if (!fwd[u]) {
			reach_link(g, lc, pick_from(g, lc, c, fwd, indeg, &cursor), u, indeg);
			reach_from(g, lc, u, fwd, stack);
			++*linked;
		}
		if (!back[u] && !links_into(g, lc, u, back)) {
			reach_link(g, lc, u, pick_to(g, c, back), indeg);
			++*linked;
		}
		back[u] = 1;
	}
	free(todo);
	return failed ? VDB_ENOMEM : VDB_OK;
}

/* Make every layer strongly connected through the entry point. */
static vdb_status hnsw_reach_all(hnsw_graph *g)
{
	if (g->n < 2)
		return VDB_OK;
	uint8_t *fwd = malloc(g->n), *back = malloc(g->n);
	uint32_t *stack = malloc(g->n * sizeof *stack), *indeg = malloc(g->n * sizeof *indeg);
	vdb_status st = fwd && back && stack && indeg ? VDB_OK : VDB_ENOMEM;
	for (int lc = g->max_level; !st && lc >= 0; lc--)
		for (int pass = 0; !st && pass < REACH_PASSES; pass++) {
			size_t linked;
			st = reach_pass(g, lc, fwd, back, stack, indeg, &linked);
			if (!linked)
				break;
		}
	free(fwd);
	free(back);
	free(stack);
	free(indeg);
	if (st)
		return vdb_fail(st, "out of memory for linking unreached HNSW nodes");
	return VDB_OK;
}

vdb_status vdb_hnsw_insert_range(hnsw_graph *g, size_t first,
                             void (*progress)(void *, size_t, size_t), void *ctx)
{
	builder b = { .g = g };
	if (first >= g->n)
		return VDB_OK;
	b.locks = calloc(g->n, 1);
	if (!b.locks)
		return vdb_fail(VDB_ENOMEM, "out of memory for %zu node locks", g->n);
	if (first == 0) { /* the first node is the graph */
		g->entry = 0;
		g->max_level = hnsw_level(g, 0);
		first = 1;
	}
	size_t total = g->n - first, done = 0;
	vdb_status st = VDB_OK;
	#pragma omp parallel
	{
		hnsw_ws *w = vdb_hnsw_ws_new(g, g->ef_construction);
		if (!w) {
			#pragma omp atomic write
			st = VDB_ENOMEM;
		}
		#pragma omp for schedule(dynamic, 8)
		for (size_t i = first; i < g->n; i++) {
			if (!w)
				continue;
			insert_node(&b, w, (uint32_t)i);
			size_t now;
			#pragma omp atomic capture
			now = ++done;
			if (progress && omp_get_thread_num() == 0 && (now & 1023) == 0)
				progress(ctx, now, total);
		}
		vdb_hnsw_ws_free(w);
	}
	free(b.locks);
	if (st)
		return vdb_fail(st, "out of memory for the build's search state");
	vdb_status reach = hnsw_reach_all(g);
	if (reach)
		return reach;
	if (progress)
		progress(ctx, total, total);
	return VDB_OK;
}

vdb_status vdb_hnsw_check(const hnsw_graph *g, const char *name)
{
	const uint64_t total = g->upof[g->n];
	for (size_t i = 0; i < g->n; i++) {
		uint64_t a = g->upof[i], b = g->upof[i + 1];
		VDB_RETURN_IF(a > b || b > total || (b - a) % (1 + g->M) != 0, VDB_ECORRUPT,
		              "%s: HNSW upper-link offsets broken at node %zu", name, i);
		int level = (int)((b - a) / (1 + g->M));
		VDB_RETURN_IF(level > g->max_level, VDB_ECORRUPT,
		              "%s: HNSW node %zu has level %d above the top level %d", name, i, level,
		              g->max_level);
		for (int lc = 0; lc <= level; lc++) {
			const uint32_t *lk = links_of(g, i, lc);
			uint32_t max = max_links(g, lc);
			VDB_RETURN_IF(lk[0] > max, VDB_ECORRUPT,
			              "%s: HNSW node %zu has %u links on layer %d (at most %u)", name, i,
			              lk[0], lc, max);
			for (uint32_t j = 0; j < lk[0]; j++)
				VDB_RETURN_IF(lk[1 + j] >= g->n, VDB_ECORRUPT,
				              "%s: HNSW node %zu links to node %u on layer %d, beyond the %zu "
				              "nodes", name, i, lk[1 + j], lc, g->n);
		}
	}
	/* a link on an upper layer names a node that has the layer (the
	 * offsets are checked above, so every node's level is known): a
	 * compaction's back links read the named node's list there */
	for (size_t i = 0; i < g->n; i++)
		for (int lc = 1, level = hnsw_level(g, i); lc <= level; lc++) {
			const uint32_t *lk = links_of(g, i, lc);
			for (uint32_t j = 0; j < lk[0]; j++)
				VDB_RETURN_IF(hnsw_level(g, lk[1 + j]) < lc, VDB_ECORRUPT,
				              "%s: HNSW node %zu links to node %u on layer %d, which node %u "
				              "is not on", name, i, lk[1 + j], lc, lk[1 + j]);
		}
	VDB_RETURN_IF(g->n && hnsw_level(g, g->entry) != g->max_level, VDB_ECORRUPT,
	              "%s: HNSW entry point %u is not on the top level %d", name, g->entry,
	              g->max_level);
	return VDB_OK;
}

/* ===== Compaction by re-linking ===== */
/* Per-thread state of a re-link: the candidates of one node and layer, and
 * the deleted nodes met on the way to them. */
typedef struct {
	cand *c;
	size_t n, cap;
	uint32_t *dead;
	size_t nd, dcap;
	size_t nsurv;
} relink_buf;

/* Add old node x to b once: a kept node as a candidate, a deleted one to the
 * nodes to look through (when through is set). */
static inline vdb_status relink_meet(hnsw_ws *w, relink_buf *b, const int64_t *renum, uint32_t x,
                                     bool through)
{
	if (w->tags[x] == w->gen)
		return VDB_OK;
	w->tags[x] = w->gen;
	if (renum[x] >= 0) {
		vdb_status s = vdb_grow((void **)&b->c, &b->cap, b->n + 1, sizeof *b->c, "candidates");
		if (!s)
			b->c[b->n++].id = x;
		return s;
	}
	if (!through)
		return VDB_OK;
	vdb_status s = vdb_grow((void **)&b->dead, &b->dcap, b->nd + 1, sizeof *b->dead, "nodes");
	if (!s)
		b->dead[b->nd++] = x;
	return s;
}

/* The candidates for old node x's links on layer lc: its kept neighbours,
 * the kept neighbours of its deleted ones, and, while that gives fewer than
 * max, those two hops away through deleted nodes. Returns through *lost
 * whether x lost a neighbour at all (if not, its list stays as it is). */
static vdb_status relink_gather(const hnsw_graph *old, const int64_t *renum, hnsw_ws *w,
                                relink_buf *b, uint32_t x, int lc, uint32_t max, bool *lost)
{
	uint32_t nb[HNSW_MAX_M + 1];
	new_visit(w);
	w->tags[x] = w->gen;
	b->n = b->nd = 0;
	uint32_t c = read_links(old, x, lc, nb);
	vdb_status s = VDB_OK;
	for (uint32_t j = 0; !s && j < c; j++)
		s = relink_meet(w, b, renum, nb[j], true);
	*lost = b->nd > 0;
	b->nsurv = b->n;
	size_t from = 0;
	for (int hop = 1; !s && hop <= 2 && (hop == 1 || b->n < max); hop++)
		for (size_t end = b->nd; !s && from < end; from++) {
			c = read_links(old, b->dead[from], lc, nb);
			for (uint32_t j = 0; !s && j < c; j++)
				s = relink_meet(w, b, renum, nb[j], hop == 1);
		}
	return s;
}

/* New node i (old node x) on layer lc: its old links renumbered; if it lost
 * some, the others followed by replacements the build's heuristic takes
 * from the rest of relink_gather's candidates, nearest first (fixed gets
 * bit lc then). */
static vdb_status relink_node(hnsw_graph *g, const hnsw_graph *old, const vdb_kernels *K,
                              const int64_t *renum, hnsw_ws *w, relink_buf *b, size_t i,
                              uint32_t x, int lc, uint32_t *fixed)
{
	uint32_t max = max_links(g, lc);
	bool lost;
	vdb_status s = relink_gather(old, renum, w, b, x, lc, max, &lost);
	if (s)
		return s;
	uint32_t *lk = links_of(g, i, lc);
	if (lost) {
		float bias;
		const float *q = node_query(old, K, x, w->q, &bias);
		for (size_t j = b->nsurv; j < b->n; j++)
			b->c[j].d = rank_dist(old, K, q, bias, b->c[j].id);
		*fixed |= 1u << lc;
		if (b->n > b->nsurv) /* b->c may be NULL: no list gathered */
			qsort(b->c + b->nsurv, b->n - b->nsurv, sizeof *b->c, cand_cmp);
		b->n = select_neighbours(old, K, w, b->c, b->n, b->nsurv, max);
	}
	/* without a loss the candidates are the old links, in their order */
	for (size_t j = 0; j < b->n; j++)
		lk[1 + j] = (uint32_t)renum[b->c[j].id];
	lk[0] = (uint32_t)b->n;
	return VDB_OK;
}

/* Node j on layer lc takes the nodes offer[0..n) as neighbours too, as a
 * node takes a new one's back link: appended while its list has room, else
 * the heuristic chooses among its links and the offers. */
static vdb_status take_offers(hnsw_graph *g, const vdb_kernels *K, hnsw_ws *w, relink_buf *b,
                              uint32_t j, int lc, const uint32_t *offer, size_t n)
{
	uint32_t max = max_links(g, lc);
	uint32_t *lk = links_of(g, j, lc);
	new_visit(w);
	w->tags[j] = w->gen;
	b->n = 0;
	vdb_status s = vdb_grow((void **)&b->c, &b->cap, lk[0] + n, sizeof *b->c, "candidates");
	for (uint32_t t = 0; !s && t < lk[0]; t++) {
		w->tags[lk[1 + t]] = w->gen;
		b->c[b->n++].id = lk[1 + t];
	}
	for (size_t t = 0; !s && t < n; t++)
		if (w->tags[offer[t]] != w->gen) {
			w->tags[offer[t]] = w->gen;
			b->c[b->n++].id = offer[t];
		}
	if (s)
		return s;
	if (b->n > max) {
		float bias;
		const float *q = node_query(g, K, j, w->q, &bias);
		for (size_t t = 0; t < b->n; t++)
			b->c[t].d = rank_dist(g, K, q, bias, b->c[t].id);
		qsort(b->c, b->n, sizeof *b->c, cand_cmp);
		b->n = select_neighbours(g, K, w, b->c, b->n, 0, max);
	}
	for (size_t t = 0; t < b->n; t++)
		lk[1 + t] = b->c[t].id;
	lk[0] = (uint32_t)b->n;
	return VDB_OK;
}

/* The back links of the repaired lists (fixed[i] has bit lc when node i's
 * list on layer lc was repaired): each node named there is offered the
 * node naming it. The offers are grouped by the node offered to, in node
 * order, and each node takes its own: the same for any thread count. */
static vdb_status back_links(hnsw_graph *g, const uint32_t *fixed)
{
	const vdb_kernels *K = vdb_kernels_get();
	uint64_t *off = vdb_malloc((g->n + 1) * sizeof *off, "offers");
	uint64_t *at = vdb_malloc((g->n + 1) * sizeof *at, "offers");
	uint32_t *offer = NULL;
	size_t cap = 0;
	vdb_status st = off && at ? VDB_OK : VDB_ENOMEM;
	for (int lc = 0; !st && lc <= g->max_level; lc++) {
		memset(off, 0, (g->n + 1) * sizeof *off);
		for (size_t i = 0; i < g->n; i++)
			if ((fixed[i] >> lc) & 1)
				for (uint32_t t = 0, *lk = links_of(g, i, lc); t < lk[0]; t++)
					off[lk[1 + t] + 1]++;
		for (size_t j = 0; j < g->n; j++)
			off[j + 1] += off[j];
		if ((st = vdb_grow((void **)&offer, &cap, off[g->n] + 1, sizeof *offer, "offers")))
			break;
		memcpy(at, off, (g->n + 1) * sizeof *at);
		for (size_t i = 0; i < g->n; i++)
			if ((fixed[i] >> lc) & 1)
				for (uint32_t t = 0, *lk = links_of(g, i, lc); t < lk[0]; t++)
					offer[at[lk[1 + t]]++] = (uint32_t)i;
		/* a node's offers may change its own list only: read before the
		 * parallel loop, each list is then written by one thread */
		#pragma omp parallel
		{
			hnsw_ws *w = vdb_hnsw_ws_new(g, 1);
			relink_buf b = { 0 };
			vdb_status my = w ? VDB_OK : VDB_ENOMEM;
			#pragma omp for schedule(dynamic, 256)
			for (size_t j = 0; j < g->n; j++)
				if (!my && off[j + 1] > off[j])
					my = take_offers(g, K, w, &b, (uint32_t)j, lc, offer + off[j],
					                 off[j + 1] - off[j]);
			if (my) {
				#pragma omp atomic write
				st = my;
			}
			vdb_hnsw_ws_free(w);
			free(b.c);
		}
	}
	free(off);
	free(at);
	free(offer);
	return st;
}

vdb_status vdb_hnsw_relink(hnsw_graph *g, const hnsw_graph *old, const int64_t *keep,
                       void (*progress)(void *, size_t, size_t), void *ctx)
{
	int64_t *renum = vdb_malloc((old->n ? old->n : 1) * sizeof *renum, "row numbers");
	uint32_t *fixed = calloc(g->n ? g->n : 1, sizeof *fixed);
	if (!renum || !fixed) {
		free(renum);
		free(fixed);
		return vdb_fail(VDB_ENOMEM, "out of memory for re-linking %zu HNSW nodes", g->n);
	}
	for (size_t x = 0; x < old->n; x++)
		renum[x] = -1;
	for (size_t i = 0; i < g->n; i++)
		renum[keep[i]] = (int64_t)i;
	/* the entry point stays if kept, else the first kept node of the
	 * highest level left */
	if (old->entry < old->n && renum[old->entry] >= 0) {
		g->entry = (uint32_t)renum[old->entry];
	} else {
		g->entry = 0;
		for (size_t i = 1; i < g->n; i++)
			if (hnsw_level(g, i) > hnsw_level(g, g->entry))
				g->entry = (uint32_t)i;
	}
	g->max_level = g->n ? hnsw_level(g, g->entry) : 0;
	const vdb_kernels *K = vdb_kernels_get();
	size_t done = 0;
	vdb_status st = VDB_OK;
	#pragma omp parallel
	{
		hnsw_ws *w = vdb_hnsw_ws_new(old, 1);
		relink_buf b = { 0 };
		vdb_status my = w ? VDB_OK : VDB_ENOMEM;
		/* each node's lists depend on the old graph alone: the same for any
		 * thread count and schedule */
		#pragma omp for schedule(dynamic, 64)
		for (size_t i = 0; i < g->n; i++) {
			for (int lc = hnsw_level(g, i); !my && lc >= 0; lc--)
				my = relink_node(g, old, K, renum, w, &b, i, (uint32_t)keep[i], lc, &fixed[i]);
			size_t now;
			#pragma omp atomic capture
			now = ++done;
			if (progress && omp_get_thread_num() == 0 && (now & 1023) == 0)
				progress(ctx, now, g->n);
		}
		if (my) {
			#pragma omp atomic write
			st = my;
		}
		vdb_hnsw_ws_free(w);
		free(b.c);
		free(b.dead);
	}
	free(renum);
	if (!st)
		st = back_links(g, fixed);
	free(fixed);
	if (st)
		return vdb_fail(st, "out of memory for re-linking %zu HNSW nodes", g->n);
	vdb_status reach = hnsw_reach_all(g);
	if (reach)
		return reach;
	if (progress)
		progress(ctx, g->n, g->n);
	return VDB_OK;
}

