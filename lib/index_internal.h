/* index_internal.h — the interface every index type implements (a vtable,
 * as pgvector's amroutine or FAISS's Index), and the index object that the
 * generic code in index.c shares with the types. (internal) */
#ifndef VDB_INDEX_INTERNAL_H
#define VDB_INDEX_INTERNAL_H
#include "file.h"
#include "rowset.h"
#include <jansson.h>
#include <stddef.h>

/* Section kinds shared by every index type. */
#define VDB_SEC_IDOF VDB_FOURCC('I', 'D', 'O', 'F') /* u64[count+1] offsets into IDTX */
#define VDB_SEC_IDTX VDB_FOURCC('I', 'D', 'T', 'X') /* id JSON texts, concatenated */
#define VDB_SEC_MDOF VDB_FOURCC('M', 'D', 'O', 'F') /* u64[count+1] offsets into MDTX */
#define VDB_SEC_MDTX VDB_FOURCC('M', 'D', 'T', 'X') /* metadata JSON texts */
#define VDB_SEC_TOMB VDB_FOURCC('T', 'O', 'M', 'B') /* deleted rows, a CRoaring bitmap */
#define VDB_SEC_TXOF VDB_FOURCC('T', 'X', 'O', 'F') /* u64[count+1] offsets into TXTX */
#define VDB_SEC_TXTX VDB_FOURCC('T', 'X', 'T', 'X') /* text JSON strings (or null) */
#define VDB_SEC_EMBD VDB_FOURCC('E', 'M', 'B', 'D') /* embedder identity, compact JSON */

/* Header flags: which text columns the file holds (VDB_FLAG_IDS is
 * 1 << VDB_COL_ID, and so on). */
#define VDB_FLAG_IDS 1u
#define VDB_FLAG_META 2u
#define VDB_FLAG_TEXT 4u

/* --refine: candidates re-ranked per result, at most */
#define VDB_MAX_REFINE 1000u

/* Header params shared by every type; types use the rest. */
#define VDB_PARAM_SEED 0

/* The search setting a type takes (its knob): the public part (name,
 * range, default: vdb_knob, vdb.h) and where it lives. Types that take the
 * same setting share one (ivf and ivfpq: nprobe). */
struct vdb_index_knob {
	vdb_knob pub;          /* its value is vdb_search_opts.knob[its slot] */
	uint32_t curve_id;     /* its code in a recall curve (RCRV, recall_curve.c) */
	unsigned curve_unit;   /* the recall curve's ladder is 1, 2, 3, 4, 6, ... times this */
	/* the largest setting that means anything for ix (nlist, 2^bits); NULL:
	 * VDB_RECALL_MAX_EF */
	unsigned (*curve_max)(const vdb_index *ix);
	/* 0 (the default) grows with k (hnsw's ef: at least k), so a range
	 * search widens k alone (range.c) */
	bool default_follows_k;
	/* a query that found all its k answers at a setting finds them at every
	 * larger one (the recall curve searches it no more: recall_curve.c) */
	bool curve_nested;
};

/* --refine (vdb_build_opts.refine) for a type: */
enum {
	VDB_REFINE_NEVER = 0,      /* does not apply (rows are float32, ranked exactly) */
	VDB_REFINE_COMPRESSED = 1, /* with a compressed --storage (fp16, sq8) */
	VDB_REFINE_ALWAYS = 2      /* the rows are codes: keep the float32 vectors too */
};

/* A build parameter a type takes (vdb_build_opts.param[its slot], set by
 * name with vdb_build_opts_set; 0 when not given). Types that take the
 * same parameter share one (ivf and ivfpq: nlist). vdb_build_opts_check
 * checks the range and refuses it for a type that does not take it. */
struct vdb_index_param {
	const char *name;   /* "M": vdb_build_opts_set's name */
	const char *option; /* "--M": vdb-build's option, for messages */
	const char *what;   /* what it sets, in words */
	unsigned min, max;  /* the values accepted */
	unsigned def;       /* used when it is 0; 0: computed from the data */
	bool loose;         /* other types accept and ignore it (as they always have) */
};

/* The bit of a metric or a storage in the capability masks below. */
#define VDB_BIT(x) (1u << (x))

struct vdb_index_ops {
	const char *name;
	uint32_t fourcc;
	/* ===== What the type can do: every generic check, sweep, --info and
	 * `vdb-eval types` reads these, never the type's name. ===== */
	unsigned metrics;      /* VDB_BIT(vdb_metric) of each metric it builds with */
	unsigned storages;     /* VDB_BIT(VDB_STORAGE_*) of each --storage it keeps rows as */
	const char *rows_are;  /* what it keeps of a row, for messages: "float32 vectors" */
	int refine;            /* VDB_REFINE_* */
	const char *no_refine; /* VDB_REFINE_NEVER: why, for the message */
	/* the build parameters it takes, NULL-terminated; NULL: none */
	const struct vdb_index_param *const *params;
	const struct vdb_index_knob *knob; /* its search setting; NULL: none (exact) */
	/* Check the type's build parameters (optional). */
	vdb_status (*check)(const vdb_build_opts *o);
	/* Take over data (rows already normalised for cosine). */
	vdb_status (*build)(vdb_index *ix, vdb_vecs *data, const vdb_build_opts *o);
	/* Make ix (count, ids, metadata and texts already set) base plus the
	 * rows of data (optional: NULL if the type cannot grow). */
	vdb_status (*append)(vdb_index *ix, const vdb_index *base, vdb_vecs *data,
	                     const vdb_build_opts *o);
	/* Make ix (count, ids, metadata and texts already set) hold base's
	 * rows keep[0..ix->count), ascending, as rows 0.. (vdb-build --compact). */
	vdb_status (*compact)(vdb_index *ix, const vdb_index *base, const int64_t *keep,
	                      const vdb_build_opts *o);
	/* Write the type's sections and fill its header params. */
	vdb_status (*save)(const vdb_index *ix, vdb_file_writer *w, vdb_header *h);
	/* Set up from ix->file, checking every size against the header. */
	vdb_status (*open)(vdb_index *ix);
	/* Structural checks beyond checksums (e.g. graph links in range). */
	vdb_status (*verify)(const vdb_index *ix);
	vdb_status (*search)(const vdb_index *ix, const float *q, size_t nq,
	                     const vdb_search_opts *o, int64_t *ids, float *dist);
	/* Filtered search (optional): only rows whose bit is set in allow
	 * (n_allow of them) may be returned. */
	vdb_status (*search_allowed)(const vdb_index *ix, const float *q, size_t nq,
	                             const vdb_search_opts *o, const uint64_t *allow, size_t n_allow,
	                             int64_t *ids, float *dist);
	/* The filtered search's cost (optional; the planner, filter_plan.c,
	 * sets it against the exact scan of the kept rows): the estimated
	 * seconds of search_allowed for nq queries with n_allow of the rows
	 * allowed, on threads threads, and in *knob the setting it assumed (ef,
	 * nprobe, probes), for a search that keeps the index's unfiltered
	 * recall (ivf and lsh widen until they do). NULL: the planner's fixed
	 * rule; flat needs none, its search is the scan. */
	double (*filter_cost)(const vdb_index *ix, const vdb_search_opts *o, size_t nq,
	                      size_t n_allow, int threads, unsigned *knob);
	/* Rows as float32 (decoded when stored compressed), for exact search
	 * over a subset (optional). */
	void (*rows)(const vdb_index *ix, const int64_t *rows, size_t n, float *out);
	/* Whether rows decodes compressed rows (a scan's gather then costs
	 * more than a copy); NULL: when the file's storage is not float32. */
	bool (*rows_decoded)(const vdb_index *ix);
	/* Type-specific fields for --info. */
	void (*info)(const vdb_index *ix, json_t *obj);
	void (*free)(vdb_index *ix);
	/* Range search (range.c): the search's reach is bounded by the lists
	 * or buckets it probes, so a query whose boundary is passed is widened
	 * once more and done only when that finds no new record within the
	 * radius. false: the boundary passed is enough (exact, graph beams). */
	bool range_confirm;
	/* Range search: the type's search is exact over float rows (flat), so
	 * a range search is one scan of the rows (ops->rows) instead. */
	bool range_scan;
};

struct vdb_index {
	const struct vdb_index_ops *ops;
	vdb_metric metric;
	uint32_t dim;
	size_t count;
	uint64_t seed;
	uint32_t shard, shards;  /* vdb-build --shard; shards 0: not a shard */
	vdb_file *file;          /* the mapping, when opened from a file */
	vdb_vecs owned;          /* the data, when built in memory */
	/* ids, metadata and texts (VDB_COL_*): either in owned or in the
	 * mapping; off NULL: the index has no such column */
	struct {
		const uint64_t *off;
		const char *buf;
		size_t len;
	} col[VDB_NCOLS];
	const char *embedder;    /* the embedder identity (owned.embedder), or NULL */
	void *impl;              /* the type's own state */
	/* deleted rows (tombstones): live has a bit per row, set while the row
	 * is live; NULL when no row is deleted */
	uint64_t *live;
	size_t ndead;
	struct vdb_lex *lex;     /* the lexical index (lexical.h), or NULL */
	/* cosine: each row's length before normalisation (norms.h), or NULL */
	const float *norms;
	float *norms_owned;
	struct vdb_rcurve *curve; /* the measured recall curve (recall_curve.h), or NULL */
	/* the mapped rows read only to re-rank candidates (hnsw's and ivfpq's
	 * float rows with refine), or NULL: what vdb_index_advise_search advises */
	const void *rerank_rows;
	size_t rerank_len;
};

/* vdb_index_advise_search with the limit given (tests). */
size_t vdb_index_advise_search_at(const vdb_index *const *ix, size_t n, size_t limit);

/* The exact k best of the allowed rows (a filter keeping few records; NULL
 * allow: every row):
 * gathered through ops->rows into exact search. */
vdb_status vdb_search_exact_allowed(const vdb_index *ix, const float *q, size_t nq, size_t k,
                                    const uint64_t *allow, size_t n_allow, int64_t *ids,
                                    float *dist);
/* k means k: the queries of a search's results (k per query) that hold
 * fewer than min(k, n_allow) ids are searched again, alone: through
 * ops->search_allowed over allow (NULL: every row) when widen, then
 * exactly (ops->rows) while still short. Hamming indexes are left as they
 * are. */
vdb_status vdb_search_fill(const vdb_index *ix, const float *q, size_t nq,
                           const vdb_search_opts *o, const uint64_t *allow, size_t n_allow,
                           bool widen, int64_t *ids, float *dist);
/* The rows of ix whose metadata passes f, as a new bitset (*n of them;
 * deleted rows included): from the payload index when the file has one. */
vdb_status vdb_filter_rows(const vdb_index *ix, const vdb_filter *f, uint64_t **out, size_t *n);
/* vdb_index_search with o->filter set. */
vdb_status vdb_index_search_filtered(const vdb_index *ix, const float *q, size_t nq,
                                     const vdb_search_opts *o, int64_t *ids, float *dist);

/* vdb_index_append without the lexical index (ix->lex NULL), for
 * vdb_index_upsert, which deletes rows before it makes it. */
vdb_status vdb_index_append_rows(vdb_index **out, const vdb_index *base, vdb_vecs *data,
                                 const vdb_build_opts *o);
/* The lexical index of ix (count, texts and live set final) made again, as
 * base's is (nothing if base has none): the lexical index is derived data,
 * so every change that rewrites rows (append, upsert, compact) rebuilds it
 * over the live rows, as a fresh build of them would make it. */
vdb_status vdb_index_relex(vdb_index *ix, const vdb_index *base);

/* The registered types (index.c's list), in order; NULL past the last. */
const struct vdb_index_ops *vdb_index_type_at(size_t i);
/* The type named name; NULL (and VDB_EINVAL listing the types) if none. */
const struct vdb_index_ops *vdb_index_type_named(const char *name);
/* o against what ops can do (metric, storage, refine, its build options). */
vdb_status vdb_index_caps_check(const struct vdb_index_ops *ops, const vdb_build_opts *o);
/* What t can do, as `vdb-eval types` prints it (a new JSON object). */
json_t *vdb_index_type_json(const struct vdb_index_ops *t);
/* o's value of parameter p, or p's default when not given. */
unsigned vdb_param_value(const vdb_build_opts *o, const struct vdb_index_param *p);
/* o's value of knob k (0: not given). Read it once per search call. */
unsigned vdb_knob_value(const vdb_search_opts *o, const struct vdb_index_knob *k);
#endif
