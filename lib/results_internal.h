/* results_internal.h — one query's results between the searches that find
 * them, the merges that combine them and the writers that print them.
 * (internal) */
#ifndef VDB_RESULTS_INTERNAL_H
#define VDB_RESULTS_INTERNAL_H
#include "vdb_internal.h"
#include "id.h"

/* What --include adds to a result: extra e is the column VDB_COL_META + e,
 * asked for by the bit 1 << e of include (VDB_INCLUDE_META, _TEXT), and
 * printed as vdb_extra_name[e]: [...]. */
#define VDB_NEXTRA 2
extern const char *const vdb_extra_name[VDB_NEXTRA]; /* "metadata", "text" */

/* A result as the writers print it. */
typedef struct {
	const char *id; size_t id_len;     /* JSON text; NULL: the number num */
	int64_t num;                       /* ivecs writes it */
	float dist;                        /* the distance, BM25 score or fused score */
	const char *extra[VDB_NEXTRA];     /* JSON texts; NULL: null */
	size_t extra_len[VDB_NEXTRA];
	/* hybrid lines: where the hit stood in each list (rank 0: not there) */
	float lex_score, vec_dist;
	uint32_t lex_rank, vec_rank;
} vdb_hit;

/* Fill h with result r of the query being written. */
typedef void (*vdb_hit_fn)(const void *ctx, size_t r, vdb_hit *h);
/* Write one query's n results in fmt as line l says (its kind: the
 * values' name), with the extras include names; VDB_EIO if the stream
 * fails. */
vdb_status vdb_write_line(FILE *f, vdb_output fmt, const vdb_result_line *l, size_t n,
                          vdb_hit_fn get, const void *ctx, unsigned include);
/* The same for a line of distances without a query id. */
vdb_status vdb_write_hits(FILE *f, vdb_output fmt, size_t query_no, size_t n, vdb_hit_fn get,
                          const void *ctx, unsigned include);

/* A candidate of a merge, ordered by distance, then id: integer ids by
 * value and before string ids, string ids by their JSON text. */
typedef struct {
	float dist;
	int num;                  /* the id is an integer: value */
	int64_t value;
	const char *text; size_t len; /* the id's JSON text (NULL: the integer value) */
	int64_t ref;              /* what the caller needs to print it */
} vdb_cand;
/* Set c's id from its JSON text, or from row when json is NULL. */
void vdb_cand_id(vdb_cand *c, const char *json, size_t len, int64_t row);
/* The index of the set ix (nix of them) that a result ref of
 * vdb_index_search_set names (a row, when nix is 1), and its row (*row). */
const vdb_index *vdb_set_owner(const vdb_index *const *ix, size_t nix, int64_t ref, int64_t *row);
/* The record ref names as the ground truth of the whole input does: a
 * shard's integer id (the record's number in the unsharded input), else
 * its row. */
int64_t vdb_set_record(const vdb_index *const *ix, size_t nix, int64_t ref);
int vdb_cand_cmp(const void *a, const void *b);
/* Sort c[0..n) best first and return how many of them to keep (at most k). */
size_t vdb_cand_best(vdb_cand *c, size_t n, size_t k);
#endif
