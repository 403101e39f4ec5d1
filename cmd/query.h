/* query.h — vdb-query's answering of a batch of query records by their
 * kind: vector, lexical (a text, no vector) or hybrid (both) (query_batch.c). */
#ifndef VDB_CMD_QUERY_H
#define VDB_CMD_QUERY_H
#include "common.h"

typedef struct {
	const vdb_index *const *ix;
	const char *const *names; /* the indexes' paths, for messages */
	size_t nix;
	int lexical;              /* some index of the set has a lexical index */
	vdb_search_opts so;
	vdb_fusion_opts fo;
	vdb_output out;
	unsigned include;
	size_t width;             /* ivecs rows: the k asked for (M) */
	/* --max-distance (query_range.c): every record within radius, at most
	 * range_cap (-k, or VDB_MAX_RANGE when -k is not given: k_given 0) */
	bool range, k_given;
	float radius;
	size_t range_cap;
} query_ctx;

/* Scratch kept across batches (zero-initialised; query_bufs_free). */
typedef struct {
	unsigned char *kind;
	size_t *slot;               /* row -> place among the rows of its kind */
	unsigned char *vrows, *hrows; /* vector and hybrid queries' vectors */
	char *tbuf;                 /* texts of lexical and hybrid queries */
	const char **ltext, **htext;
	size_t *llen, *hlen, *toff;
	int64_t *vids, *lids;
	float *vdist, *lscore;
	vdb_fused_hit *hits;
	size_t rows, tcap, vcap;    /* room: rows, text bytes, vector bytes */
	size_t results;             /* room: results (rows x k) */
	size_t hcap;                /* room: hybrid hits */
} query_bufs;
void query_bufs_free(query_bufs *b);

/* Answer the q->n queries of q (records first.. of input), each with its
 * own options where it has some (q->qopt), and write one line each, in
 * input order, numbered from *qno (advanced). *search_s adds
 * the time spent searching (wall and CPU). Exits (64) for a text query when no index of
 * the set has a lexical index, and as cmd_die for other failures. */
void query_batch(const query_ctx *c, const vdb_vecs *q, const char *input, size_t first,
                 size_t *qno, query_bufs *b, cmd_span *search_s);

/* ===== --metrics FILE (query_metrics.c) ===== */
#define QUERY_METRICS_BUCKETS 8 /* latency buckets: 5 ms .. 1 s, then +Inf */
/* Count from now on; a failure exit writes the figures so far. */
void query_metrics_start(const char *path, const char *const *index, size_t nindex);
/* nq queries searched in seconds (nothing before query_metrics_start). */
void query_metrics_batch(size_t nq, double seconds);
/* One result line's ids (-1: none) or hybrid hits. */
void query_metrics_results(const int64_t *ids, size_t n, const vdb_fused_hit *hits, size_t nh);
/* --filter: kept of the live rows pass it. */
void query_metrics_selectivity(double kept, double live);
/* Write the file of a successful run. */
void query_metrics_finish(void);

/* query_batch for a range search (c->range): vector queries only (a text
 * or hybrid query exits 64); lines of any number of results. */
void query_range(const query_ctx *c, const vdb_vecs *q, const char *input, size_t first,
                 size_t *qno, cmd_span *search_s);
#endif
