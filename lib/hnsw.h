/* hnsw.h — the HNSW graph (Malkov & Yashunin): its memory layout, which is
 * also the file layout, insertion and search. index_hnsw.c puts it in files.
 * (internal)
 *
 * Layout, chosen so that a search touches as few cache lines as possible and
 * so that the mapped file is searched in place:
 *   l0:   count records of `stride` bytes, stride a multiple of 64:
 *         row | u32 nlinks | u32 links[M0]   (M0 = 2*M)
 *         the row is the vector as stored (rows.h: float32, fp16, sq8 or
 *         binary), padded to 4 bytes;
 *         a node's vector starts on a cache line and its layer-0 links follow
 *         it, so expanding a node reads one contiguous run of lines.
 *   upof: u64[count + 1]: node i's upper links are up[upof[i] .. upof[i+1]),
 *         level(i) blocks of (1 + M) u32 words: nlinks, links[M], for layers
 *         1..level(i). Most nodes have level 0 and an empty range.
 */
#ifndef VDB_HNSW_H
#define VDB_HNSW_H
#include "rows.h"
#include "vdb_internal.h"

#define HNSW_MAX_LEVEL 30
#define HNSW_MAX_M 512

/* The hnsw type's settings and their limits: links per node (vdb-build
 * --M, 2..HNSW_MAX_M/2; 2M on layer 0), the build's beam (--ef-construction)
 * and the search's beam when a search names none (vdb-query --ef). */
#define HNSW_DEFAULT_M 16u
#define HNSW_DEFAULT_EF_CONSTRUCTION 200u
#define HNSW_MAX_EF_CONSTRUCTION (1u << 16)
#define HNSW_DEFAULT_EF 64u

typedef struct {
	vdb_metric metric;
	uint32_t dim, M, M0;
	vdb_rows rows;           /* how the vectors are stored */
	size_t vec_bytes;        /* rows.size padded to 4 */
	size_t n;
	size_t stride;           /* bytes per level-0 record */
	unsigned char *l0;       /* n * stride (const when mapped) */
	uint64_t *upof;          /* n + 1 */
	uint32_t *up;            /* upof[n] words */
	uint32_t entry;
	int max_level;
	unsigned ef_construction;
	/* walked on byte codes (hnsw_codes.h): sq8 rows of one step, the query
	 * quantized as they are, distances by l2sq_u8 (l2, and cosine on the
	 * normalised rows) */
	bool codes;
} hnsw_graph;

size_t vdb_hnsw_stride(size_t vec_bytes, uint32_t M);

/* The chunk of a dynamic schedule of n items over threads threads: at
 * most most, and small enough that each thread gets about four, so that a
 * short loop (the recall curve's last hard queries, the few nodes a reach
 * pass links) does not leave one thread at the barrier while the other
 * does every item. */
size_t vdb_hnsw_chunk(size_t n, int threads, size_t most);

/* Per-thread search state: visited tags, candidate pool. Reused across
 * queries, so a search allocates nothing. */
typedef struct hnsw_ws hnsw_ws;
hnsw_ws *vdb_hnsw_ws_new(const hnsw_graph *g, size_t ef);
void vdb_hnsw_ws_free(hnsw_ws *w);
size_t vdb_hnsw_ws_cap(const hnsw_ws *w); /* the largest ef it serves */

/* Search one query (dim floats, or dim/8 bytes for binary rows): the k
 * nearest of the ef-wide beam, with reported distances; missing results
 * are -1. With allow (a row bitset), only nodes whose bit is set are
 * returned, while the walk still passes through the others (as hnswlib's
 * filter does). */
void vdb_hnsw_search_one(const hnsw_graph *g, hnsw_ws *w, const void *query, size_t k, size_t ef,
                     const uint64_t *allow, int64_t *ids, float *dist);

/* Insert nodes [first, g->n) whose vectors are already in l0 and whose
 * upper-link ranges (upof) are laid out, in parallel. Links of nodes below
 * first are kept (append): they are rewritten in place, so they must pass
 * vdb_hnsw_check (a count beyond M0 would overrun the selection buffer). With
 * one thread the graph depends only on the data and the levels. */
vdb_status vdb_hnsw_insert_range(hnsw_graph *g, size_t first,
                             void (*progress)(void *, size_t, size_t), void *ctx);

/* Compaction: make g (its rows those of old's nodes keep[0..g->n), in
 * ascending order, their levels laid out in upof as old's, links empty) hold
 * old's graph without the other nodes. Each node keeps its links,
 * renumbered. One that lost neighbours on a layer keeps the rest and takes
 * replacements, by the build's heuristic, from the kept neighbours of its
 * deleted ones (one hop through deleted nodes; two while that finds fewer
 * than a full list), as FreshDiskANN consolidates deletions; then, as an
 * insertion does, every node a repaired list names is offered the back link
 * (a full list chooses again). The entry point stays, or if it is gone
 * becomes the first node of the highest level left. Parallel; each list
 * depends on the old graph alone, so the result is the same for any thread
 * count. old must pass vdb_hnsw_check. */
vdb_status vdb_hnsw_relink(hnsw_graph *g, const hnsw_graph *old, const int64_t *keep,
                       void (*progress)(void *, size_t, size_t), void *ctx);

/* Level of node i, from its upper-link range. */
static inline int hnsw_level(const hnsw_graph *g, size_t i)
{
	return (int)((g->upof[i + 1] - g->upof[i]) / (1 + g->M));
}

/* The random level of node i: floor(-ln(U) / ln(M)), U drawn from the seed
 * and i alone, so levels do not depend on thread scheduling. */
int vdb_hnsw_random_level(uint64_t seed, size_t i, uint32_t M);

/* Structural check of a graph read from a file (ids in range, counts within
 * M0/M, offsets monotonic); names the node in the message. */
vdb_status vdb_hnsw_check(const hnsw_graph *g, const char *name);
#endif
