/* fusion.h — one query's vector list and BM25 list fused into one ranked
 * list (fusion.c), for the hybrid search of an index or a set (hybrid.c)
 * and for the merge of per-shard hybrid results (merge.c). (internal) */
#ifndef VDB_FUSION_H
#define VDB_FUSION_H
#include "results_internal.h"



/* Fuse one query's lists into at most k hits (*nhits of them): vec[0..nv)
 * best first by distance (the cand's dist), lex[0..nl) best first by BM25
 * score (the cand's dist holds the score), rank = place + 1. A hit is
 * matched across the lists by its ref, which becomes the hit's id; hits
 * are ordered by fused score, larger first, ties by the cands' id order
 * (vdb_cand_cmp: integers before strings), then by ref. *w (NULL at
 * first) is the caller's scratch, kept across calls, freed with
 * vdb_fuse_ws_free. k = nv + nl keeps every candidate. VDB_ENOMEM only. */
typedef struct vdb_fuse_ws vdb_fuse_ws; /* scratch that grows to the longest lists */
void vdb_fuse_ws_free(vdb_fuse_ws *w);
vdb_status vdb_fuse(const vdb_fusion_opts *f, const vdb_cand *vec, size_t nv,
                    const vdb_cand *lex, size_t nl, size_t k, vdb_fuse_ws **w,
                    vdb_fused_hit *hits, size_t *nhits);
#endif
