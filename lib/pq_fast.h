/* pq_fast.h — ivfpq's 4-bit codes scanned in registers (pq_fast.c). (internal) */
#ifndef VDB_PQ_FAST_H
#define VDB_PQ_FAST_H
#include "ivf.h"

/* What a 4-bit ivfpq keeps in memory beside the file's one-byte codes: a
 * list's part of codes and ptab is made the first time a query probes it. */
typedef struct vdb_pq4 {
	uint32_t m;
	uint64_t *blk;   /* nlist + 1: first block of each list */
	uint8_t *codes;  /* blocks x m x 16 bytes, by blocks of 32 rows (vdb_pq4_pack_block) */
	float *ptab;     /* l2: nlist x m x 16, |cb|^2 + 2<c_s, cb> (NULL: per query) */
	uint8_t *state;  /* per list: its codes packed and table made (list_once.h) */
	float *cbt;      /* the codebooks by dimension: (s x dsub + i) x 16 */
	double *cn;      /* ip, cosine: |c|^2 of each list's centroid (NULL: l2) */
	size_t bytes, table_bytes;
} vdb_pq4;

/* Space for f's packed codes and (l2) per-list tables, each list's made on
 * its first probe (vdb_pq4_list). */
vdb_status vdb_pq4_make(vdb_pq4 **out, const ivf *f, vdb_metric metric, uint32_t d);
void vdb_pq4_free(vdb_pq4 *p);
/* Bytes resident for the packed codes and the tables, once every list is made. */
size_t vdb_pq4_bytes(const vdb_pq4 *p);
/* Of which the l2 per-list tables (0: none, ip or cosine or too large). */
size_t vdb_pq4_table_bytes(const vdb_pq4 *p);
/* Bytes of scratch (ivf_ws.table) vdb_pq4_scan uses for m sub-quantizers
 * and a heap of cap candidates. */
size_t vdb_pq4_scratch(uint32_t m, size_t cap);
/* Block b of list l of f's codes (one per byte, masked to 4 bits) packed
 * into out (m x 16 bytes; see pq_scan.c for the layout). */
void vdb_pq4_pack_block(const ivf *f, uint32_t l, uint64_t b, uint8_t *out);
/* List l's packed codes, and in *tab its l2 table (NULL: p has none): read
 * where made, else made now in place; NULL when another thread is making
 * them: then the table is made in mine (m x 16 floats) and the caller packs
 * each block itself. The same values either way. */
const uint8_t *vdb_pq4_list(vdb_pq4 *p, const ivf *f, uint32_t l, uint32_t d, float *mine,
                            const float **tab);
/* ivf_codec.scan for f's 4-bit codes, packed in p (w->table holds
 * vdb_pq4_scratch(m, h->cap) bytes); returns the allowed rows of the lists (0 without
 * allow). */
size_t vdb_pq4_scan(const ivf *f, vdb_pq4 *p, vdb_metric m, uint32_t d, ivf_ws *w, size_t nl,
                    const uint64_t *allow, vdb_topk *h, bool by_pos);
#endif
