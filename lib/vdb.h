/*
 * vdb.h — the public API of libvdb.
 *
 * libvdb holds all of vdb's logic; the vdb-* commands only parse arguments,
 * call into it and print. Conventions, everywhere:
 *   - Functions that can fail return a vdb_status. On failure they leave a
 *     human-readable, thread-local message in vdb_last_error() that names the
 *     input and the record where that applies. The library never prints,
 *     never exits and never aborts on bad input.
 *   - Objects returned through an out-pointer are owned by the caller and
 *     freed with the matching *_free / *_close function.
 *   - Reading an opened index (search, accessors) is thread-safe; building
 *     and writing are not, unless a function says otherwise.
 *   - No call changes process-wide state (the umask, the environment, the
 *     locale, OpenBLAS's thread count) but vdb_blas_single_thread, which
 *     says so; vdb_set_threads sets the calling thread's count only.
 * libvdb.so exports exactly the functions declared here (lib/libvdb.map,
 * version node VDB_0): one added here is added there too.
 */
#ifndef VDB_H
#define VDB_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ===== Status codes (values below 100 are frozen) ===== */
typedef enum {
	VDB_OK = 0,
	VDB_EIO = 1,        /* read or write failed (disk full, I/O error) */
	VDB_ENOMEM = 2,     /* out of memory */
	VDB_EFORMAT = 3,    /* malformed input data */
	VDB_EVERSION = 4,   /* index written by a newer vdb */
	VDB_ECORRUPT = 5,   /* index file damaged: checksum, bounds, magic */
	VDB_EINVAL = 6,     /* invalid argument or option value */
	VDB_ENOENT = 7,     /* cannot open an input */
	VDB_ECREATE = 8,    /* cannot create an output */
	VDB_EINTERNAL = 9,  /* a bug in vdb */
	VDB_EUNSUPPORTED = 10, /* valid request this build or index cannot do */
	VDB_EBUSY = 11      /* another process holds the lock (try again later) */
} vdb_status;

const char *vdb_strerror(vdb_status s);
/* Message of the last failure in this thread ("" if none). */
const char *vdb_last_error(void);
/* Set the thread's message; used by the library and by commands. */
vdb_status vdb_fail(vdb_status s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

const char *vdb_version(void);

/* ===== Limits (checked at input; error messages name them) ===== */
#define VDB_MAX_DIM 65536u
#define VDB_MAX_K 100000u
#define VDB_DEFAULT_K 10u /* results a search returns when it names no k */
#define VDB_MAX_LINE (64u << 20) /* bytes of one JSONL line: a 65536-d vector needs ~1.5 MB */
#define VDB_MAX_COUNT 2147483647ull /* internal ids are int32 in results */
/* a float vector's squared length, at most: a quarter of FLT_MAX, so that no
 * l2 distance, inner product or norm of two such vectors overflows float32 */
#define VDB_MAX_SQNORM 8.5e37
/* bytes of one record's text (a chunk, a query; what an index stores per
 * record): documents longer than this are chunked first */
#define VDB_MAX_TEXT (1u << 20)
/* bytes of an embedder's "name" (a model file's name or an --exec command
 * line) in a record's or an index's embedder identity */
#define VDB_MAX_EMBEDDER_NAME 4096u
#define VDB_LSH_MAX_TABLES 64u
#define VDB_LSH_MAX_BITS 32u
#define VDB_LSH_MAX_PROBES 65536u /* buckets visited per table */
#define VDB_MAX_SHARDS 65536u /* vdb-build --shard I/N: N at most */
/* Nesting, bounded so that no input can exhaust the stack or take quadratic
 * time: a record's metadata (the metadata object is level 1, each object or
 * array inside it one more); a filter's '(' and '!' (together); a config
 * file's mappings and lists. */
#define VDB_MAX_META_DEPTH 64u
#define VDB_MAX_FILTER_DEPTH 64u
#define VDB_MAX_CONFIG_DEPTH 16u
/* A config file: its bytes, and the bytes of the options it expands to
 * (an alias repeats its anchor's value); anchors and aliases together
 * (libyaml resolves each in time linear in their number). */
#define VDB_MAX_CONFIG_BYTES (1u << 20)
#define VDB_MAX_CONFIG_ALIASES 1024u

/* ===== Metrics and distance kernels ===== */
typedef enum {
	VDB_METRIC_L2 = 1,      /* reported as Euclidean distance */
	VDB_METRIC_IP = 2,      /* reported as -dot: smaller is closer */
	VDB_METRIC_COSINE = 3,  /* 1 - cosine similarity */
	VDB_METRIC_HAMMING = 4  /* bit count over packed binary codes */
} vdb_metric;

const char *vdb_metric_name(vdb_metric m);
/* Parse "l2", "ip", "cosine", "hamming"; VDB_EINVAL for anything else. */
vdb_status vdb_metric_parse(const char *s, vdb_metric *out);

/* The distance kernels in use, chosen once from the CPU's features
 * (VDB_SIMD=scalar|avx2|neon forces a level): "scalar", "avx2" or "neon".
 * The kernel tables themselves are the library's own (vdb_internal.h). */
const char *vdb_kernels_name(void);
/* VDB_SIMD (unset or empty: the best level) names a level this machine
 * runs: else VDB_EINVAL for a name that is no level, VDB_EUNSUPPORTED for a
 * level this CPU or architecture cannot run, naming the value. Call it
 * before the first search: the kernels themselves fall back to the best
 * level. */
vdb_status vdb_simd_check(void);

/* ===== Vector sets (what readers produce and builds consume) ===== */
/* Rows are contiguous float32. ids, metadata and texts, when present, are
 * kept as compact JSON text (an id is `"doc-7"` or `7`, a text a JSON
 * string `"caf\u00e9 \n..."` as jansson writes it: escaped, never a raw
 * newline), returned verbatim.
 * Binary vectors (the hamming metric; the caller sets `binary` before
 * reading) are packed bits: dim counts bits (a multiple of 8) and data
 * holds n rows of dim/8 bytes, back to back, in the float array's storage
 * (read it through a uint8_t pointer): bit j of a row is bit j%8 (LSB
 * first) of byte j/8, as vdb-quantize's binary codes. */

/* A column of per-row JSON texts: row i is buf[off[i] .. off[i+1]); off
 * NULL: the set has no such column. Metadata and text columns are sparse
 * (a row without one holds `null`); ids are all or none. */
typedef struct {
	char *buf; size_t len, cap;
	uint64_t *off; size_t ocap;
} vdb_texts;
enum { VDB_COL_ID = 0, VDB_COL_META = 1, VDB_COL_TEXT = 2, VDB_NCOLS = 3 };

typedef struct {
	uint32_t dim;
	size_t n, cap;
	float *data;            /* n * dim floats, or n * dim/8 bytes when binary */
	union { /* the same columns, by number or by name */
		vdb_texts col[VDB_NCOLS];
		struct {
			char *id_buf;  size_t id_len, id_cap;  uint64_t *id_off;  size_t id_ocap;
			char *meta_buf; size_t meta_len, meta_cap; uint64_t *meta_off; size_t meta_ocap;
			char *text_buf; size_t text_len, text_cap; uint64_t *text_off; size_t text_ocap;
		};
	};
	int binary;             /* rows are packed bits: bvecs bytes, JSONL "bits" (hex) */
	/* The embedder identity the records carry (JSONL "embedder", see
	 * vdb-text(1)): its canonical compact JSON {"kind", "name", "xxh3",
	 * "dim"}, NULL when they carry none. Every record read into one set
	 * carries the same identity (kind, xxh3, dim) or none does: decided by
	 * the first record, kept by vdb_vecs_clear (a query stream's batches
	 * are one set). */
	char *embedder;
	int embedder_seen;      /* the first record has decided */
	/* Query streams: with allow_text_only set by the caller (before
	 * reading; dim set too), a JSONL record with a "text" but no "vector"
	 * (or "bits") is read as a row of zeros marked in novec, a lexical
	 * query. Unset (builds), such a record is refused as before. novec:
	 * per row, 1 for a row without a vector; NULL while no row is one
	 * (then every row has its vector). */
	int allow_text_only;
	unsigned char *novec;
	size_t novec_cap;
	/* Query streams: with query_opts set by the caller (before reading), a
	 * JSONL record's own search options ("k", "filter", "ef", "nprobe",
	 * "probes", "exclude"; see vdb_query_opts_read) are checked and kept:
	 * row i's in qopt as a compact JSON object of just those fields, or
	 * null; nqopt rows have some. Unset (builds), those fields are ignored
	 * as any unknown field is. */
	int query_opts;
	vdb_texts qopt;
	size_t nqopt;
} vdb_vecs;

/* Bytes of one row: dim/8 (binary) or 4 * dim. */
size_t vdb_vecs_row_bytes(const vdb_vecs *v);
/* Row i's JSON text in column col (VDB_COL_ID, _META, _TEXT), *len bytes
 * (not NUL-terminated); NULL when v has no such column. */
const char *vdb_vecs_col_json(const vdb_vecs *v, int col, size_t i, size_t *len);

void vdb_vecs_init(vdb_vecs *v);
void vdb_vecs_clear(vdb_vecs *v); /* n = 0, keeps dim and memory */
void vdb_vecs_free(vdb_vecs *v);
/* Normalise every row to unit length (zero rows stay zero). */
void vdb_vecs_normalize(vdb_vecs *v);
void vdb_normalize(float *x, size_t d);

/* ===== Readers: fvecs, ivecs, bvecs, JSONL ===== */
typedef enum {
	VDB_FMT_AUTO = 0, VDB_FMT_FVECS, VDB_FMT_IVECS, VDB_FMT_BVECS, VDB_FMT_JSONL
} vdb_format;

const char *vdb_format_name(vdb_format f);
vdb_status vdb_format_parse(const char *s, vdb_format *out);

typedef struct vdb_reader vdb_reader;
/* path "-" (or NULL) reads stdin. VDB_FMT_AUTO: `{` as first non-blank
 * byte means JSONL; otherwise the extension (.fvecs/.ivecs/.bvecs), else
 * fvecs. Fails with VDB_ENOENT if the file cannot be opened or is a
 * directory. */
vdb_status vdb_reader_open(vdb_reader **out, const char *path, vdb_format fmt);
/* Append up to max records (0 = all) to v. v->dim is set by the first
 * record; a reader fed into a v with dim already set checks it. *got is the
 * number appended; 0 with VDB_OK means end of input. Empty input (no record
 * at all) is VDB_EFORMAT on the first call. */
vdb_status vdb_reader_read(vdb_reader *r, vdb_vecs *v, size_t max, size_t *got);
vdb_format vdb_reader_format(const vdb_reader *r);
const char *vdb_reader_name(const vdb_reader *r); /* "stdin" or the path */
size_t vdb_reader_records(const vdb_reader *r);    /* records read so far */
size_t vdb_reader_line(const vdb_reader *r);       /* JSONL: the last record's line (1-based) */
/* True after the VDB_EFORMAT of an input without any record (not a bad
 * one): callers that concatenate inputs may skip it. */
int vdb_reader_empty(const vdb_reader *r);
void vdb_reader_close(vdb_reader *r);

/* Read a whole ivecs file of int32 rows (ground truth). Rows may not change
 * width. *rows x *width values in *out (caller frees). */
vdb_status vdb_ivecs_load(const char *path, int32_t **out, size_t *rows, size_t *width);

/* ===== Chunking (vdb-text chunk) ===== */
/* A document is split into chunks of whole units (words, sentences or
 * paragraphs); each chunk is a byte range [start, end) of the document's
 * UTF-8 text that starts and ends on a non-whitespace byte. Whitespace is
 * ASCII: space, \t, \n, \v, \f, \r. See vdb-text(1) for the rules. */
/* bytes of one plain text document (a file is read whole); a JSONL
 * document's text is bounded by its line, VDB_MAX_LINE */
#define VDB_MAX_DOCUMENT (256u << 20)
/* words or sentences per chunk (--words, --sentences), at most */
#define VDB_MAX_CHUNK_UNITS (1u << 20)
/* --max-bytes at least: room for any one UTF-8 character */
#define VDB_MIN_CHUNK_BYTES 4u

typedef enum {
	VDB_CHUNK_WORDS = 1, /* size words a chunk, overlap of them shared */
	VDB_CHUNK_SENTENCES, /* size sentences a chunk, overlap of them shared */
	VDB_CHUNK_PARAGRAPHS /* one paragraph (blank-line separated) a chunk */
} vdb_chunk_mode;

typedef struct {
	vdb_chunk_mode mode;
	size_t size;      /* units a chunk, 1..VDB_MAX_CHUNK_UNITS (paragraphs: 1) */
	size_t overlap;   /* units shared by consecutive chunks, < size */
	size_t max_bytes; /* bytes a chunk, VDB_MIN_CHUNK_BYTES..VDB_MAX_TEXT: a
	                     longer one is cut at its last whitespace before the
	                     limit, or at a character boundary if it has none */
} vdb_chunk_params;

/* Defaults: 200 words, 40 of them shared, VDB_MAX_TEXT bytes. */
void vdb_chunk_params_init(vdb_chunk_params *p);

typedef struct vdb_chunker vdb_chunker;
/* VDB_EINVAL naming the parameter out of range. */
vdb_status vdb_chunker_new(vdb_chunker **out, const vdb_chunk_params *p);
const vdb_chunk_params *vdb_chunker_params(const vdb_chunker *c);
void vdb_chunker_free(vdb_chunker *c);

/* Called once per chunk, in order; a status other than VDB_OK stops the
 * chunking and is returned. */
typedef vdb_status (*vdb_chunk_fn)(void *ctx, size_t start, size_t end);
/* The chunks of text[0, len), which must be valid UTF-8 (chunks are never
 * cut inside a character). Text that is empty or only whitespace has none.
 * One pass, no allocation. A chunker is used by one thread at a time. */
vdb_status vdb_chunk_text(vdb_chunker *c, const char *text, size_t len, vdb_chunk_fn fn,
                          void *ctx);

typedef struct {
	size_t documents;         /* documents read */
	size_t chunks;            /* chunk records written */
	size_t empty;             /* documents without a chunk (only whitespace) */
	unsigned long long bytes; /* input bytes read */
} vdb_chunk_stats;

typedef struct {
	int plain; /* every input is a plain text document, even one starting with '{' */
	/* a document that yields no chunk: msg names it (NULL: nothing said) */
	void (*warn)(void *ctx, const char *msg);
	void *warn_ctx;
	/* documents read so far, now and then (NULL: none) */
	void (*progress)(void *ctx, size_t done, size_t total);
	void *progress_ctx;
} vdb_chunk_hooks;

/* Chunk every document of one input (path "-" or NULL: stdin) and write one
 * JSONL chunk record per chunk to out: the document's record with "id"
 * "DOC#N", "text" its bytes [start, end) and "metadata" the document's
 * plus "chunk": {"source", "number", "start", "end"}. The input is JSONL
 * (records with "id" and "text") when its first non-blank byte is '{' and
 * hooks->plain is 0, else one plain text document whose id is path.
 * VDB_ENOENT if it cannot be opened; VDB_EFORMAT naming the input and the
 * record (line) for a bad record or invalid UTF-8: the chunks of the
 * documents before it have been written. VDB_EIO if out fails. Adds to
 * *st (hooks may be NULL). JSONL records are chunked on vdb_threads()
 * threads, the output in input order; the hooks are called by the calling
 * thread only. */
vdb_status vdb_chunk_input(vdb_chunker *c, const char *path, const vdb_chunk_hooks *hooks,
                           FILE *out, vdb_chunk_stats *st);

/* ===== Exact k-NN (flat search and ground truth) ===== */
/* Streaming top-k: create for nq queries, feed base blocks in any order,
 * then take the results. The answer is exact on any data (sgemm keys only
 * filter, within a proven rounding bound; distances of the candidates are
 * computed in double); ties go to the smaller id. Parallel with OpenMP. */
typedef struct vdb_knn vdb_knn;
vdb_status vdb_knn_new(vdb_knn **out, vdb_metric m, uint32_t dim, size_t k,
                       const float *queries, size_t nq);
/* xnorm: optional precomputed |x|^2 per row for l2 and ip (NULL: computed).
 * For cosine the rows and queries must already be normalised. */
vdb_status vdb_knn_add(vdb_knn *s, const float *x, const float *xnorm,
                       size_t nx, int64_t id0);
/* ids: nq x k (missing results -1), dist: nq x k (reported distances). */
vdb_status vdb_knn_result(vdb_knn *s, int64_t *ids, float *dist);
void vdb_knn_free(vdb_knn *s);

/* ===== Index files ===== */
typedef struct vdb_index vdb_index;

/* Slots for the index types' build parameters and search settings in
 * vdb_build_opts, vdb_search_opts and vdb_query_opts: room for types to
 * come, so that a new type or parameter does not change these structs. */
#define VDB_MAX_BUILD_PARAMS 16u
#define VDB_MAX_KNOBS 8u

typedef struct {
	const char *type;   /* "flat", "hnsw", "ivf", "ivfpq", "lsh" */
	vdb_metric metric;
	uint64_t seed;
	unsigned refine;          /* ivfpq, and flat/hnsw with compressed storage: keep the
	                             float32 vectors too and re-rank refine*k candidates
	                             with them; 0 = compressed rows only */
	const char *storage;      /* flat, hnsw: how vectors are kept: "f32", "fp16" or
	                             "sq8"; NULL (default): f32, but hnsw for l2 and cosine
	                             walks byte codes and keeps the float32 vectors */
	uint32_t shard, shards;   /* the data is shard `shard` of `shards` (recorded in the
	                             header); shards 0: not a shard */
	const struct vdb_lexical_opts *lexical; /* a BM25 index of the records' text
	                                           beside the vectors; NULL: none */
	void (*progress)(void *ctx, size_t done, size_t total);
	void *progress_ctx;
	int recall_curve;         /* measure and keep the index's recall curve (see
	                             vdb_index_measure_recall); default 0 */
	/* The index types' own build parameters (hnsw's M, ivf's nlist, ...),
	 * by slot: set and read them by name with vdb_build_opts_set/_get
	 * (`vdb-eval types --json` lists each type's "params"); 0 = default. */
	unsigned param[VDB_MAX_BUILD_PARAMS];
} vdb_build_opts;

/* A metadata filter (vdb-query --filter; the language is in filter.c and
 * vdb-query(1)). Parse errors are VDB_EINVAL naming the column. */
typedef struct vdb_filter vdb_filter;
vdb_status vdb_filter_parse(vdb_filter **out, const char *text);
void vdb_filter_free(vdb_filter *f);
/* on: searches and deletes with f evaluate each record's JSON even when the
 * index has a payload index (the reference the tests compare it with; the
 * commands set it from VDB_FILTER_SCAN=1). */
void vdb_filter_scan_records(vdb_filter *f, int on);
/* Does a record's metadata (a JSON object's text; NULL: none) pass f? */
int vdb_filter_match_json(const vdb_filter *f, const char *json, size_t len);

/* The filtered-search planner. A search with
 * a filter (or deleted rows) either scans the rows kept, exactly ("scan"),
 * or searches the index admitting only them ("index": hnsw's graph walk,
 * ivf's lists, lsh's buckets), whichever its cost estimate finds cheaper for the batch;
 * vdb_search_opts.filter_path forces one (when the index can take it). */
enum { VDB_FILTER_AUTO = 0, VDB_FILTER_SCAN = 1, VDB_FILTER_INDEX = 2 };
typedef struct {
	size_t queries[3];   /* queries answered by each path ([VDB_FILTER_SCAN], ...),
	                        added atomically */
	/* the last filtered search (one writer at a time): the path taken and
	 * why ("cheaper", "forced", "only path", "fixed rule"), the rows kept
	 * of the rows, the batch, the index's setting (ef, nprobe, probes; 0:
	 * none) and its name, and each path's estimated seconds for the batch
	 * (negative: not estimated) */
	int path;
	const char *why;
	size_t kept, rows, batch;
	unsigned knob;
	const char *knob_name;
	double scan_s, index_s;
	/* the BLAS core the scan's estimate assumed (vdb_blas_core), its
	 * nanoseconds per multiply-add, and whether the scan ranks the batch
	 * with vdb's own kernels rather than sgemm (a small batch, or a core
	 * slower than them) */
	const char *blas_core;
	double madd_ns;
	int direct; /* 1: ranked directly */
} vdb_filter_plans;

typedef struct {
	size_t k;
	const vdb_filter *filter; /* only records whose metadata passes; NULL: all */
	float k1, b;      /* BM25 (text queries): term saturation and length
	                     normalisation; vdb_search_opts_init: 1.2 and 0.75 */
	/* BM25's statistics (N, avglen, n(t)) from these nstats indexes instead
	 * of the searched ones: the whole set of shards, when each shard is
	 * searched on its own (vdb-query --stats-from), so that each scores
	 * as the set search does and their results merge into its answer.
	 * NULL: the searched indexes'. */
	const vdb_index *const *stats;
	size_t nstats;
	/* issue 20 (M): paging, diversity and the count of widened queries.
	 * vdb_index_search_set honours offset and mmr (vdb_search_page). */
	size_t offset;    /* skip each query's first offset results (search
	                     k + offset, keep ranks offset..offset+k-1); 0 */
	int mmr;          /* 1: select the k by maximal marginal relevance
	                     (lambda mmr_lambda) among fetch_k candidates */
	double mmr_lambda; /* 0..1: weight of relevance against diversity */
	size_t fetch_k;   /* mmr: candidates fetched; 0 = vdb_mmr_fetch_k(k) */
	size_t *widened;  /* not NULL: adds the queries searched again or with
	                     wider probes, found short of k (or, filtered ivf,
	                     their lists short of allowed rows) (atomically) */
	/* The index types' search settings (hnsw's ef, ivf's nprobe, lsh's
	 * probes: vdb_knob_at), by slot: set and read them by name with
	 * vdb_search_opts_set/_get; 0 = the type's default. */
	unsigned knob[VDB_MAX_KNOBS];
	/* the filtered-search planner (above) */
	int filter_path;           /* VDB_FILTER_AUTO (0), _SCAN or _INDEX */
	vdb_filter_plans *plans;   /* not NULL: each filtered search's plan */
} vdb_search_opts;

void vdb_build_opts_init(vdb_build_opts *o);
void vdb_search_opts_init(vdb_search_opts *o);
/* Set o's build parameter name ("M", "ef_construction", "nlist", "pq_m",
 * "lsh_tables", "lsh_bits": each type's "params" in vdb_index_types_json)
 * to v (0: the type's default): VDB_EINVAL when no type takes it. The
 * range is checked by vdb_build_opts_check. */
vdb_status vdb_build_opts_set(vdb_build_opts *o, const char *name, unsigned v);
/* o's value of parameter name (0: the default, or no such parameter). */
unsigned vdb_build_opts_get(const vdb_build_opts *o, const char *name);

/* Check type and metric before any data is read (VDB_EINVAL/EUNSUPPORTED). */
vdb_status vdb_build_opts_check(const vdb_build_opts *o);
/* Build an index over data (which the index takes over: v is emptied). */
vdb_status vdb_index_build(vdb_index **out, vdb_vecs *data, const vdb_build_opts *o);
/* Add the rows of data to a copy of base (base itself is not changed; save
 * the result over its file to replace it atomically). The new rows get the
 * row numbers after base's; their ids come from data or, when only one side
 * has ids, are the row numbers; metadata and text are null where a side
 * has none. data must carry base's embedder identity, or none when base
 * has none (else VDB_EFORMAT naming both). Type, metric and parameters are
 * base's; o gives only progress. data is normalised in place for cosine.
 * base is checked first as vdb_index_verify does: a damaged one is
 * VDB_ECORRUPT. */
vdb_status vdb_index_append(vdb_index **out, const vdb_index *base, vdb_vecs *data,
                            const vdb_build_opts *o);
/* Write atomically: a temporary file beside path, fsync, rename, fsync the
 * directory. On failure the previous file at path is untouched. */
vdb_status vdb_index_save(const vdb_index *ix, const char *path);
/* Memory-map and check magic, version, header checksum and section bounds,
 * and cheaply what a search trusts (section sizes, parameters, the small
 * tables every query reads: no NaN or Inf there, ivf rows below the count).
 * path must name a regular file (else VDB_ENOENT, without blocking). */
vdb_status vdb_index_open(vdb_index **out, const char *path);
/* Check every section's checksum, the id, metadata and text texts (each
 * one JSON value of its kind on one line), the embedder identity, the
 * index's own structure and its stored values (no NaN or Inf). Linear in
 * the file. */
vdb_status vdb_index_verify(const vdb_index *ix);
void vdb_index_close(vdb_index *ix);

/* Search nq queries (nq x dim floats, not modified; for a hamming index nq
 * codes of dim/8 bytes, as a binary vdb_vecs holds them). ids/dist: nq x k. */
vdb_status vdb_index_search(const vdb_index *ix, const float *queries, size_t nq,
                            const vdb_search_opts *o, int64_t *ids, float *dist);

uint32_t vdb_index_dim(const vdb_index *ix);
vdb_metric vdb_index_metric(const vdb_index *ix);
size_t vdb_index_count(const vdb_index *ix);
const char *vdb_index_type(const vdb_index *ix);
/* JSON text of row i's id / metadata / text; NULL if the index has none.
 * vdb_index_col_json does the same for a column by number (VDB_COL_*). */
const char *vdb_index_id_json(const vdb_index *ix, int64_t i, size_t *len);
const char *vdb_index_meta_json(const vdb_index *ix, int64_t i, size_t *len);
const char *vdb_index_text_json(const vdb_index *ix, int64_t i, size_t *len);
const char *vdb_index_col_json(const vdb_index *ix, int col, int64_t i, size_t *len);
int vdb_index_has_ids(const vdb_index *ix);
int vdb_index_has_meta(const vdb_index *ix);
int vdb_index_has_text(const vdb_index *ix);
/* What a result prints besides ids and distances (flags, or-ed). */
#define VDB_INCLUDE_META 1u /* "metadata": [...] */
#define VDB_INCLUDE_TEXT 2u /* "text": [...] */
/* Not an include: the values written are BM25 scores (vdb_index_search_text
 * and _set), printed as "scores": [...] instead of "distances". */
#define VDB_RESULT_SCORES 0x100u
/* Before printing row's stored id (and the columns include names): VDB_OK
 * if each is one JSON value of its kind (id: string or integer; metadata:
 * object or null; text: a string of at most VDB_MAX_TEXT bytes decoded, or
 * null) with no control byte, so that it cannot break the line it is
 * printed in; else VDB_ECORRUPT naming the index and the row. */
vdb_status vdb_index_texts_check(const vdb_index *ix, int64_t row, unsigned include);
/* The embedder identity the index was built with (its canonical compact
 * JSON, NUL-terminated; see vdb_vecs.embedder), or NULL: raw vectors. */
const char *vdb_index_embedder(const vdb_index *ix);
/* Compare the identity of queries (embedder: their vdb_vecs' embedder,
 * NULL for raw vectors; qname names them) with the index's (ixname).
 * VDB_EFORMAT with a message naming both embedders when they differ (kind,
 * xxh3 or dim), and, when strict, also when only one side has an identity;
 * else VDB_OK. */
vdb_status vdb_index_embedder_check(const vdb_index *ix, const char *ixname,
                                    const char *embedder, const char *qname, int strict);
/* The live row whose id is id (a string id's text, an integer id's digits,
 * or the row number when the index stores no ids); -1 if none. O(count). */
int64_t vdb_index_find_id(const vdb_index *ix, const char *id);
/* Row's stored vector as dim floats (decoded if stored compressed). */
vdb_status vdb_index_row_vector(const vdb_index *ix, int64_t row, float *out);
/* The shard number the index holds; *shards is the size of its set (0: the
 * index is not a shard, and 0 is returned). */
uint32_t vdb_index_shard(const vdb_index *ix, uint32_t *shards);
/* The header as a JSON object (caller frees). */
char *vdb_index_info_json(const vdb_index *ix);

/* ===== Recall curves: ask for recall, not ef ===== */
/* An hnsw, ivf, ivfpq or lsh index may hold its own recall curve: recall@k
 * (k = VDB_RECALL_K) of sample queries at a ladder of its search setting
 * (ef, nprobe, probes), measured when it is built (vdb_build_opts
 * .recall_curve) or changed. The queries are min(VDB_RECALL_MAX_QUERIES,
 * live/10) (at least 1) live rows drawn with the index's seed, each moved by
 * Gaussian noise whose expected length is VDB_RECALL_NOISE times the mean
 * distance from a sampled row to its nearest other row; their exact answers
 * are brute force over the live rows (the build's float32 vectors). The
 * ladder is 1, 2, 3, 4, 6, 8, 12, ... (ef: 10, 20, 30, 40, 60, ... up to
 * VDB_RECALL_MAX_EF; nprobe up to nlist; probes up to 2^bits or
 * VDB_LSH_MAX_PROBES), stopping at the first setting with recall 1 or the
 * third in a row with the same recall. The
 * setting orders the cost; no timings are kept (builds stay reproducible).
 * Flat indexes are exact and hamming ones have none. */
#define VDB_RECALL_K 10u
#define VDB_RECALL_MAX_QUERIES 200u
#define VDB_RECALL_MAX_POINTS 64u /* points of a curve, at most */
#define VDB_RECALL_MAX_EF 800u
#define VDB_RECALL_NOISE 2.0
typedef struct {
	unsigned setting; /* ef, nprobe or probes */
	double recall;    /* recall@k of the sample queries, 0..1 */
} vdb_recall_point;
/* The setting the type takes ("ef", "nprobe", "probes"), NULL: none (flat). */
const char *vdb_index_knob(const vdb_index *ix);

/* ===== Index types: what each can do (from each type's ops table) ===== */
/* A search setting (knob) of an index type: a vdb_search_opts field, a
 * query record's key and a command option (--NAME) of that name. */
typedef struct {
	const char *name;     /* "ef", "nprobe", "probes" */
	const char *what;     /* what it sets, in words */
	unsigned min, max;    /* the values accepted */
	const char *max_name; /* the constant max is ("VDB_MAX_EF") */
	unsigned def;         /* used when it is 0 (not given) ... */
	const char *def_note; /* ... adjusted so, or NULL ("at least k") */
} vdb_knob;
/* The distinct knobs of the registered types, in the types' order; NULL
 * past the last. */
const vdb_knob *vdb_knob_at(size_t i);
/* The knob named name (NULL if no type takes it). */
const vdb_knob *vdb_knob_find(const char *name);
/* The types that take knob k, as "ivf and ivfpq", into buf (cut to size). */
void vdb_knob_types(const vdb_knob *k, char *buf, size_t size);
/* Set o's knob name to v: VDB_EINVAL naming it when no type takes it or v
 * is out of its range (0 sets the default). */
vdb_status vdb_search_opts_set(vdb_search_opts *o, const char *name, unsigned v);
/* o's value of knob name (0: the default, or no such knob). */
unsigned vdb_search_opts_get(const vdb_search_opts *o, const char *name);
/* Every registered index type and what it can do, as a JSON array (caller
 * frees): per type {"type", "metrics": [...], "storage": [...], "refine":
 * "never"|"compressed"|"always", "knob": {"name", "sets" (its what), "min",
 * "max", "max_name", "default", "default_note"} or null}, as `vdb-eval
 * types --json` prints it. NULL: out of memory. */
char *vdb_index_types_json(void);
/* Measure ix's curve again over its live rows (after an append, upsert,
 * delete or compaction), replacing the one it has. VDB_EUNSUPPORTED when
 * its stored rows are not its float32 vectors (ivfpq, fp16 or sq8 storage
 * without --refine: exact answers over them would overstate the recall),
 * and then the curve is dropped; VDB_OK without a curve for flat and
 * hamming indexes. */
vdb_status vdb_index_measure_recall(vdb_index *ix);
/* Forget the curve: ix is saved without one. */
void vdb_index_drop_recall(vdb_index *ix);
/* The curve's points, settings ascending (*n of them); NULL (*n 0): none. */
const vdb_recall_point *vdb_index_recall_curve(const vdb_index *ix, size_t *n);
/* The cheapest setting whose measured recall reached target: *reached 1;
 * else the largest setting measured, *reached 0. *recall: the recall
 * measured at *setting. VDB_EUNSUPPORTED naming the index (name) when it
 * has no curve (a flat index: check vdb_index_knob first). */
vdb_status vdb_index_pick_setting(const vdb_index *ix, const char *name, double target,
                                  unsigned *setting, double *recall, int *reached);

/* ===== Lexical search: BM25 over the records' text ===== */
/* An index built with vdb_build_opts.lexical holds, beside the vectors, an
 * inverted index of each record's text (or of one metadata field): the
 * text is cut into tokens (maximal runs of Unicode letters and digits),
 * lowercased, stop words dropped, stemmed by a Snowball stemmer (Debian's
 * libstemmer), and each term's postings (rows and term frequencies) kept
 * compressed with the rows' token counts. Queries are ranked by BM25 as
 * SQLite's FTS5 bm25() defines it: for each query term t in row d,
 * idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(d) / avglen)), with
 * idf(t) = log((N - n(t) + 0.5) / (n(t) + 0.5)) (at least 1e-6), N the
 * rows indexed and n(t) those holding t. Disjunctive: a row matching any
 * term is a candidate; top-k by dynamic pruning, never by scoring every
 * posting. See vdb-build(1), vdb-query(1). */
#define VDB_MAX_TERM 255u          /* bytes of one term: longer tokens are not indexed */
#define VDB_MAX_QUERY_TERMS 1024u  /* terms of one text query, after analysis */
#define VDB_MAX_STOPWORDS 65536u   /* words of a stop word file */

typedef struct vdb_lexical_opts {
	const char *language;  /* a Snowball stemmer ("english" or "en", "porter",
	                          "french", ...: sb_stemmer_list()), or "none": no
	                          stemming; NULL: "english" */
	const char *stopwords; /* a file of stop words, one per line (analysed as
	                          the text is); NULL: none */
	const char *field;     /* NULL: the record's "text"; else the name of a
	                          top-level metadata field holding a string */
} vdb_lexical_opts;

/* The filter of vdb-text tokens, to see what the lexical index indexes:
 * each JSON Lines record of path ("-" or NULL: stdin) written to out with
 * every field kept and "terms" (replacing one it has, else added last):
 * the terms of its "text" (of metadata field o->field when set), in text
 * order, analysed with o's language and stop words (o NULL: english, no
 * stop words) as vdb-build --lexical does. VDB_EINVAL for an unknown
 * language; VDB_ENOENT if the input or the stop word file cannot be
 * opened; VDB_EFORMAT for a bad stop word file, or naming the input, line
 * and record for a record that is not a JSON object with that string or
 * holds invalid UTF-8 (the records before it are written); VDB_EIO if out
 * fails. *records counts the records written. */
vdb_status vdb_tokens_records(const vdb_lexical_opts *o, const char *path, FILE *out,
                              size_t *records);

/* Whether ix holds a lexical index. */
int vdb_index_has_lexical(const vdb_index *ix);
/* BM25 top-k of nq query texts (UTF-8, lens[i] bytes each; o->k, o->k1,
 * o->b, o->filter; deleted rows never match): ids nq x k (-1 past the
 * matching rows), scores nq x k (descending; ties to the smaller row).
 * VDB_EUNSUPPORTED if ix has no lexical index; VDB_EFORMAT naming the
 * query (its 0-based number) for invalid UTF-8, an empty text, or more than
 * VDB_MAX_QUERY_TERMS terms. A query whose every token is a stop word
 * matches nothing. */
vdb_status vdb_index_search_text(const vdb_index *ix, const char *const *texts,
                                 const size_t *lens, size_t nq, const vdb_search_opts *o,
                                 int64_t *ids, float *scores);

/* The same over the n indexes of a set (shards, as vdb_index_search_set):
 * BM25's statistics (N, avglen, n(t)) are the set's, summed over its
 * indexes (or o->stats'), so that shards rank as the one index holding all
 * their rows would. Each index's k best are merged as vdb_index_search_set
 * merges them: by score, ties to the smaller id, so that results of the
 * shards searched apart with o->stats merge (vdb-query --merge) into this
 * answer. ids: nq x k of VDB_SET_REF(index, row), -1 past the end; each
 * index needs a lexical index built with the same language and stop words
 * (else VDB_EFORMAT naming two that differ). */
vdb_status vdb_index_search_text_set(const vdb_index *const *ix, size_t n,
                                     const char *const *texts, const size_t *lens, size_t nq,
                                     const vdb_search_opts *o, int64_t *ids, float *scores);

/* ===== Hybrid search: a vector list and a BM25 list fused into one ===== */
typedef enum { VDB_FUSION_RRF = 1, VDB_FUSION_WEIGHTED = 2 } vdb_fusion;
/* "rrf", "weighted"; VDB_EINVAL otherwise. */
vdb_status vdb_fusion_parse(const char *s, vdb_fusion *out);
typedef struct {
	vdb_fusion fusion; /* default rrf */
	double alpha;      /* weighted: weight of the vector side, 0..1 (1: vectors
	                      only); default 0.5 */
	double rrf_k;      /* rrf: score 1/(rrf_k + rank) per list; default 60 */
	size_t depth;      /* candidates each list contributes; 0: max(k, 100) */
	int candidates;    /* keep every candidate, fused, not only the k best:
	                      hits then hold 2 x max(depth, k) per query (what
	                      vdb_results_merge needs to fuse shards again);
	                      default 0 */
} vdb_fusion_opts;
void vdb_fusion_opts_init(vdb_fusion_opts *f);
/* The candidates each list gives for k results: max(depth, k), depth 0
 * meaning max(k, 100); the hits per query of a hybrid search: k, or with
 * f->candidates 2 x that depth. */
size_t vdb_fusion_depth(const vdb_fusion_opts *f, size_t k);
size_t vdb_fusion_width(const vdb_fusion_opts *f, size_t k);
/* One hit of a hybrid result: its fused score and where it stood in each
 * list (rank 1-based; 0 and NaN: not in that list). */
typedef struct {
	int64_t id;       /* a row, or VDB_SET_REF(index, row) for sets */
	float score;      /* fused: larger is better */
	float lex_score;  /* BM25 */
	float vec_dist;   /* the metric's distance */
	uint32_t lex_rank, vec_rank;
} vdb_fused_hit;
/* Hybrid top-k of nq queries that each have a vector (queries: nq rows, as
 * vdb_index_search_set takes them) and a text (texts, lens), over the n
 * indexes of a set (n 1: one index): the vector list and the BM25 list
 * (vdb_index_search_text_set) each take max(f->depth, o->k) candidates
 * with o's options (filter, deletions), and f fuses them. hits: nq x o->k
 * (f->candidates: nq x 2 max(depth, k)), best first (ties to the smaller
 * id: integers before strings, as sets order ids); id -1 past the end. */
vdb_status vdb_index_search_hybrid(const vdb_index *const *ix, size_t n, const float *queries,
                                   const char *const *texts, const size_t *lens, size_t nq,
                                   const vdb_search_opts *o, const vdb_fusion_opts *f,
                                   vdb_fused_hit *hits);

/* ===== Deletes, upserts, compaction ===== */
/* Rows not deleted; whether row is one of them. */
size_t vdb_index_live(const vdb_index *ix);
int vdb_index_is_live(const vdb_index *ix, int64_t row);

/* Ids to delete, as keys (a string id's text, an integer id's digits, the
 * row number in an index without ids): key i is buf[off[i]..off[i+1]). */
typedef struct {
	char *buf;
	uint64_t *off;
	size_t n, len, cap, ocap;
} vdb_idlist;
void vdb_idlist_init(vdb_idlist *l);
/* Add the ids of f, one per line: a JSON object's "id" (JSONL records), a
 * JSON string, or the line's text; blank lines are skipped. Errors name
 * name and the line. */
vdb_status vdb_idlist_read(vdb_idlist *l, FILE *f, const char *name);
void vdb_idlist_free(vdb_idlist *l);

/* Delete, in ix (vdb_index_save writes the change), every live row whose
 * id is in ids: *deleted rows; *missing ids named no live row. Searches
 * of ix skip deleted rows from then on. ix is checked first as
 * vdb_index_verify does (VDB_ECORRUPT, ix unchanged). */
vdb_status vdb_index_delete(vdb_index *ix, const vdb_idlist *ids, size_t *deleted,
                            size_t *missing);
/* *out = base plus data's records (which need ids), the live rows of
 * base with one of their ids deleted (*replaced of them); of records of
 * data sharing an id, the last wins. data is normalised for cosine. */
vdb_status vdb_index_upsert(vdb_index **out, const vdb_index *base, vdb_vecs *data,
                            const vdb_build_opts *o, size_t *replaced);
/* *out = base without its deleted rows (every type; the ids of an index
 * that stored none become explicit, so they survive the renumbering).
 * base is checked first as vdb_index_verify does. */
vdb_status vdb_index_compact(vdb_index **out, const vdb_index *base, const vdb_build_opts *o);

/* ===== Shards (vdb-build --shard, vdb-query over several indexes) ===== */
/* A record's shard is XXH3-64 (seed 0) of its key, mod shards. The key is
 * the record's id as text: a string id's UTF-8 bytes (no quotes, escapes
 * decoded), an integer id's decimal digits ("-" first if negative); a
 * record without an id (fvecs, JSONL without ids): its 0-based record
 * number over all inputs in order, in decimal. */
uint32_t vdb_shard_of_key(const char *key, size_t len, uint32_t shards);
/* The shard of a stored id (its JSON text, as vdb_index_id_json gives it). */
vdb_status vdb_shard_of_id(const char *json, size_t len, uint32_t shards, uint32_t *out);
/* Parse "I/N": 0 <= I < N <= VDB_MAX_SHARDS (VDB_EINVAL otherwise). */
vdb_status vdb_shard_parse(const char *s, uint32_t *shard, uint32_t *shards);

/* Keeps the records of one shard out of vectors read batch by batch. */
typedef struct vdb_shard_filter vdb_shard_filter;
vdb_status vdb_shard_filter_new(vdb_shard_filter **out, uint32_t shard, uint32_t shards);
/* Rows [from, v->n) of v are the next records of the input, in order: keep
 * those of the shard (v shrinks; earlier rows are not touched). */
vdb_status vdb_shard_filter_apply(vdb_shard_filter *f, vdb_vecs *v, size_t from);
/* After the last batch: rows without ids get their record numbers as ids,
 * so that a shard's results name the records of the whole input. */
vdb_status vdb_shard_filter_finish(vdb_shard_filter *f, vdb_vecs *v);
size_t vdb_shard_filter_seen(const vdb_shard_filter *f); /* records seen so far */
void vdb_shard_filter_free(vdb_shard_filter *f);

/* Check n indexes searched as one set: the same dimension, metric and
 * embedder identity (or none), else VDB_EFORMAT naming two that differ.
 * *warning (caller frees; NULL if all is well) says, for two or more
 * indexes, when the set is not whole: shards missing or given twice,
 * shards of different splits, or indexes that are not shards. */
vdb_status vdb_index_set_check(const vdb_index *const *ix, const char *const *names, size_t n,
                               char **warning);
/* Before searching n indexes (one, or a set searched together): where the
 * float rows they read only to re-rank (hnsw's, ivfpq's with refine) are
 * together a quarter of physical memory or more, map each index's for
 * random access (a row read then reads its own pages, not the disk's
 * read-ahead window, which for rows larger than the cache would evict the
 * graph). Opening does not advise: a copy of the rows (an append, a
 * compaction) reads them in order. Returns how many indexes were advised. */
size_t vdb_index_advise_search(const vdb_index *const *ix, size_t n);
/* Search every index of a set with o (each with o->k) and merge: per query
 * the k best by distance, ties to the smaller id (integer ids by value and
 * before string ids, strings by their JSON text). ids: nq x k of
 * VDB_SET_REF(index, row) (-1 for missing results); dist: nq x k. */
#define VDB_SET_REF(i, row) ((int64_t)(i) << 32 | (int64_t)(row))
vdb_status vdb_index_search_set(const vdb_index *const *ix, size_t n, const float *queries,
                                size_t nq, const vdb_search_opts *o, int64_t *ids,
                                float *dist);

/* ===== Paging and diversity (maximal marginal relevance) ===== */
/* MMR as LangChain's maximal_marginal_relevance defines it: the first pick
 * is the candidate most similar to the query, then each next one is the
 * argmax over the remaining of lambda * sim(q, c) - (1 - lambda) * max over
 * the selected s of sim(c, s) (ties to the earlier candidate: the search's
 * ranking), sim the cosine similarity of the vectors (0 when either is all
 * zeros), whatever the index's metric. cand: n candidates, each a row (one
 * index, nix 1) or VDB_SET_REF(index, row), their vectors read with
 * vdb_index_row_vector (hamming indexes: VDB_EUNSUPPORTED); q: dim floats.
 * Writes the m = min(want, n) picks' positions in cand to pick, in MMR
 * order. lambda outside 0..1 or NaN: VDB_EINVAL. */
vdb_status vdb_mmr_select(const vdb_index *const *ix, size_t nix, const float *q,
                          const int64_t *cand, size_t n, double lambda, size_t want,
                          size_t *pick, size_t *m);
/* The default candidates of an MMR search for k: max(VDB_MMR_MIN_FETCH, 4k),
 * at most VDB_MAX_K. */
#define VDB_MMR_MIN_FETCH 20u
size_t vdb_mmr_fetch_k(size_t k);
/* vdb_index_search_set with o->offset and o->mmr applied: each query's
 * k + offset best (or with mmr, max(fetch_k, k + offset) candidates and the
 * k + offset MMR picks among them), less the first offset. ids/dist: nq x
 * o->k, -1 past the end (an offset past the end: an empty list). k + offset
 * and fetch_k at most VDB_MAX_K, fetch_k at least k (else VDB_EINVAL). */
vdb_status vdb_search_page(const vdb_index *const *ix, size_t n, const float *queries,
                           size_t nq, const vdb_search_opts *o, int64_t *ids, float *dist);
/* vdb_index_search_text_set with o->offset applied (the BM25 ranking of
 * k + offset, less its first offset); o->mmr is not (VDB_EUNSUPPORTED). */
vdb_status vdb_search_text_page(const vdb_index *const *ix, size_t n,
                                const char *const *texts, const size_t *lens, size_t nq,
                                const vdb_search_opts *o, int64_t *ids, float *scores);

/* ===== Result output ===== */
typedef enum { VDB_OUT_JSONL = 1, VDB_OUT_IVECS, VDB_OUT_TSV } vdb_output;
vdb_status vdb_output_parse(const char *s, vdb_output *out);
/* Write one query's results. include (VDB_INCLUDE_*) adds "metadata":
 * [...] and "text": [...] (jsonl; null for a result without one) or a
 * column each (tsv: the JSON texts). Returns VDB_EIO if the stream fails. */
vdb_status vdb_write_result(FILE *f, vdb_output fmt, const vdb_index *ix,
                            size_t query_no, const int64_t *ids, const float *dist,
                            size_t k, unsigned include);
/* The same for results of vdb_index_search_set over the n indexes ix. ivecs
 * writes a shard's integer ids (record numbers of the whole input), else
 * row numbers. */
vdb_status vdb_write_result_set(FILE *f, vdb_output fmt, const vdb_index *const *ix, size_t n,
                                size_t query_no, const int64_t *ids, const float *dist,
                                size_t k, unsigned include);
/* What a result line says besides its hits: the query's number ("query"),
 * the query record's id ("query_id", its JSON text, right after "query"
 * in JSONL; NULL: the record has none, no field), and what the hits'
 * values are. */
typedef enum {
	VDB_LINE_VECTOR = 0, /* "distances" */
	VDB_LINE_LEXICAL,    /* "scores": BM25, larger first */
	VDB_LINE_HYBRID      /* "scores" (fused) and each list's score and rank */
} vdb_line_kind;
typedef struct {
	size_t query_no;
	const char *query_id;
	size_t query_id_len;
	vdb_line_kind kind;
	/* hybrid lines of every candidate (vdb_fusion_opts.candidates): the
	 * fusion, its depth resolved, written as "fusion": {"method", "alpha",
	 * "rrf_k", "depth"} so that --merge fuses the shards the same way;
	 * NULL: not written */
	const vdb_fusion_opts *fusion;
	/* ivecs: each row this many ids wide at least, padded with -1 (FAISS's
	 * convention for missing results); 0: as many as the results (M) */
	size_t width;
} vdb_result_line;
/* vdb_write_result_set for a line l of distances (VDB_LINE_VECTOR) or BM25
 * scores (VDB_LINE_LEXICAL, vals: scores). */
vdb_status vdb_write_result_line(FILE *f, vdb_output fmt, const vdb_index *const *ix, size_t n,
                                 const vdb_result_line *l, const int64_t *ids,
                                 const float *vals, size_t k, unsigned include);
/* A hybrid line (vdb_index_search_hybrid's hits of one query, id -1 ends
 * them): JSONL "ids", "scores" (fused), "lexical_scores", "lexical_ranks",
 * "vector_distances", "vector_ranks" (null where the hit is not in that
 * list); TSV a column each (empty where absent); ivecs the ids. */
vdb_status vdb_write_hybrid(FILE *f, vdb_output fmt, const vdb_index *const *ix, size_t n,
                            const vdb_result_line *l, const vdb_fused_hit *hits, size_t k,
                            unsigned include);
/* Merge per-shard result files (vdb-query JSONL, the same queries in the
 * same order) into the k best per query, written as fmt (jsonl or tsv) to
 * out. Lines must agree on "query"; metadata and text are kept when every
 * file has them. VDB_ENOENT, or VDB_EFORMAT naming the file and line. */
vdb_status vdb_results_merge(FILE *out, vdb_output fmt, const char *const *paths, size_t n,
                             size_t k);

/* ===== Export: the stored records as JSON Lines (vdb-query --dump, --get) ===== */
/* Row's stored vector as dim floats, as it was given: a cosine index's
 * unit row divided by the factor that normalised it (when the file keeps
 * them, see vdb_index_normalised_only), within a float32 rounding of the
 * original and normalising to the very row again; compressed storages
 * (fp16, sq8, pq without refine) give back what they store. Hamming
 * indexes: VDB_EUNSUPPORTED. */
vdb_status vdb_index_record_vector(const vdb_index *ix, int64_t row, float *out);
/* 1 if ix is a cosine index from before the row factors were kept: its
 * records can be given back only normalised. */
int vdb_index_normalised_only(const vdb_index *ix);
/* Row's record as one JSON line on f, the input vdb-build takes: "id" (the
 * row number in an index without ids), "vector" (vdb_index_record_vector,
 * each float as %.9g: float32 exactly) or, for hamming, "bits" (hex, byte
 * 0 first), then "metadata", "text" and "embedder" when the index has
 * them. VDB_ECORRUPT for a stored text or vector that cannot be printed,
 * VDB_EIO when f fails. */
vdb_status vdb_write_record(FILE *f, const vdb_index *ix, int64_t row);
/* Every live row of ix whose metadata passes filter (NULL: every live
 * row), in row order, as vdb_write_record writes it; *n records written. */
vdb_status vdb_index_dump(FILE *f, const vdb_index *ix, const vdb_filter *filter, size_t *n);
/* *kept = the live rows of ix whose metadata passes filter. */
vdb_status vdb_index_filter_count(const vdb_index *ix, const vdb_filter *filter, size_t *kept);

/* ===== Evaluation ===== */
/* Load the results of nq queries (the ground truth's): vdb-query JSONL
 * (integer "ids"; a line answers the query its "query" number names, or
 * when no line has one, the query of its place) or ivecs (record i answers
 * query i), detected from the first byte. path "-" = stdin. *ids: nq rows
 * of *width in query order (rows with fewer results are padded with -1);
 * caller frees. VDB_EFORMAT naming the line or record for an id repeated
 * in one query's results, a query number out of range or given twice, and
 * for a query without results. */
vdb_status vdb_results_load(const char *path, size_t nq, int64_t **ids, size_t *width);
/* Mean over queries of |first k results ∩ first k of gt| / k, each
 * distinct id counted once. */
double vdb_recall(const int32_t *gt, size_t gt_width, const int64_t *res, size_t res_width,
                  size_t nq, size_t k);

/* ===== IR metrics: ranked results against relevance judgments ===== */
/* Judgments in TREC qrels format: one `QID ITER DOCID REL` a line, fields
 * separated by blanks, ITER ignored, REL an integer (> 0: relevant, its
 * value the gain of nDCG; <= 0: judged not relevant). Ids are compared as
 * text. Blank lines are skipped. */
#define VDB_MAX_QRELS_FIELD 4096u /* bytes of a QID or DOCID */
typedef struct vdb_qrels vdb_qrels;
/* path "-" reads stdin. VDB_ENOENT if it cannot be opened; VDB_EFORMAT
 * naming the file and line for a line without exactly 4 fields, a REL that
 * is not an integer (or beyond +-2^31), a field over VDB_MAX_QRELS_FIELD,
 * a document judged twice for one query. */
vdb_status vdb_qrels_load(vdb_qrels **out, const char *path);
void vdb_qrels_free(vdb_qrels *q);

/* The metrics at a cut-off k, as trec_eval defines them (ndcg_cut, P,
 * recall at k; recip_rank cut at k), of one query whose judgments hold R
 * relevant documents, its ranked list d1, d2, ... (first k counted):
 *   nDCG@k      DCG / IDCG, DCG = sum over ranks i <= k of gain(d_i) /
 *               log2(i + 1), gain = REL if > 0 else 0 (unjudged: 0); IDCG
 *               the same of the judged gains sorted descending, top k
 *   MRR@k       1 / the rank of the first relevant document in the top k;
 *               0 if none
 *   recall@k    relevant documents in the top k / R
 *   precision@k relevant documents in the top k / k (k even when fewer
 *               documents were returned) */
typedef struct {
	double ndcg, mrr, recall, precision;
} vdb_ir_scores;

/* Ranked lists scored against q at cut-off k: add each query's list, then
 * take the means. A query counts when q judges it with at least one
 * relevant document; one without a list scores 0 (trec_eval -c); lists
 * of queries q does not judge are ignored. q is borrowed. */
typedef struct vdb_ir_eval vdb_ir_eval;
vdb_status vdb_ir_eval_new(vdb_ir_eval **out, const vdb_qrels *q, size_t k);
size_t vdb_ir_eval_k(const vdb_ir_eval *e);
void vdb_ir_eval_free(vdb_ir_eval *e);
/* Forget every list added (a new run over the same judgments). */
void vdb_ir_eval_reset(vdb_ir_eval *e);
/* The ranked list docs[0..n) (keys of lens[i] bytes; only the first k
 * count) of the query keyed qid (qlen bytes). where names the list in
 * messages ("stdin: line 4"). VDB_EFORMAT naming both when the query has a
 * list already, or for a document twice in the list. */
vdb_status vdb_ir_eval_add(vdb_ir_eval *e, const char *qid, size_t qlen,
                           const char *const *docs, const size_t *lens, size_t n,
                           const char *where);
/* vdb-query JSONL results from path ("-": stdin) added: a line's query is
 * its "query_id" (string or integer) or else its "query" number (in
 * decimal); its documents its "ids" (strings or integers, compared as
 * text). VDB_ENOENT; VDB_EFORMAT naming the line. */
vdb_status vdb_ir_eval_results(vdb_ir_eval *e, const char *path);
/* Means over the counted queries (0 when there is none); returns their
 * number, and in *answered (may be NULL) how many of them had a list. */
size_t vdb_ir_eval_mean(const vdb_ir_eval *e, vdb_ir_scores *mean, size_t *answered);
/* Write the means at k, as the lines `ndcg@K: x`, `mrr@K: x`, `recall@K: x`,
 * `precision@K: x` (4 decimals), or with VDB_IR_JSON as one JSON object;
 * VDB_IR_PER_QUERY first writes a JSON line for each counted query, in the
 * order the judgments name them. VDB_EIO if f fails. */
#define VDB_IR_JSON 1u
#define VDB_IR_PER_QUERY 2u
vdb_status vdb_ir_eval_write(FILE *f, const vdb_ir_eval *e, unsigned flags);

/* ===== Quantizers ===== */
/* A quantizer maps a vector of dim floats to a fixed-size code and back:
 *   sq8     dim bytes: per dimension, 256 levels over the training range
 *           (values outside it are clamped); decodes to the level's centre
 *   fp16    2*dim bytes: IEEE half precision, round to nearest even
 *   pq      pq_m bytes: product quantizer, 256 k-means centroids per
 *           subspace of dim/pq_m dimensions (needs >= 256 training vectors)
 *   binary  ceil(dim/8) bytes: bit i (LSB first) set when x[i] > 0;
 *           decodes to +1/-1; compared with the hamming kernel
 * Encoding and decoding are thread-safe on an opened quantizer. */
typedef enum {
	VDB_QUANT_SQ8 = 1, VDB_QUANT_FP16 = 2, VDB_QUANT_PQ = 3, VDB_QUANT_BINARY = 4
} vdb_quant_kind;

const char *vdb_quant_kind_name(vdb_quant_kind k);
/* Parse "sq8", "fp16", "pq", "binary"; VDB_EINVAL for anything else. */
vdb_status vdb_quant_kind_parse(const char *s, vdb_quant_kind *out);

typedef struct {
	uint32_t pq_m;  /* pq: sub-quantizers, must divide dim; 0: the largest divisor of dim
	                   not above dim/8 (2 bits per dimension) */
	uint64_t seed;  /* pq: k-means seed (default 42); same seed, same codebooks */
} vdb_quant_params;
void vdb_quant_params_init(vdb_quant_params *p);

typedef struct vdb_quantizer vdb_quantizer;
/* Train on n rows of dim floats (not modified; must be finite). fp16 and
 * binary learn nothing but the dimension; fp16 rejects values beyond its
 * range (|x| >= 65520). VDB_EINVAL for bad parameters (pq_m), VDB_EFORMAT
 * for data that cannot train the kind. */
vdb_status vdb_quantizer_train(vdb_quantizer **out, vdb_quant_kind kind, uint32_t dim,
                               const float *data, size_t n, const vdb_quant_params *p);
vdb_quant_kind vdb_quantizer_kind(const vdb_quantizer *q);
uint32_t vdb_quantizer_dim(const vdb_quantizer *q);
/* Bytes per code: sq8 dim, fp16 2*dim, pq pq_m, binary ceil(dim/8). */
size_t vdb_quantizer_code_size(const vdb_quantizer *q);
/* n rows of x -> n codes of code_size bytes. Parallel. Fails (VDB_EFORMAT)
 * only for fp16 values beyond its range; the message names the vector
 * (0-based within x, unless n is 1) and the dimension. */
vdb_status vdb_quantizer_encode(const vdb_quantizer *q, const float *x, size_t n,
                                uint8_t *codes);
/* n codes -> n rows of dim floats. Any byte string is a valid code. */
void vdb_quantizer_decode(const vdb_quantizer *q, const uint8_t *codes, size_t n, float *x);
/* Write atomically as an index-container file of type "QUNT" (header
 * params: kind, pq_m, seed; sections with XXH3-64 checksums). */
vdb_status vdb_quantizer_save(const vdb_quantizer *q, const char *path);
/* Read and check everything: magic, version, header and section checksums,
 * kind, sizes, finite values. VDB_ENOENT if it cannot be opened,
 * VDB_ECORRUPT (naming the file and section) or VDB_EFORMAT (not a
 * quantizer) otherwise. The quantizer does not keep the file open. */
vdb_status vdb_quantizer_open(vdb_quantizer **out, const char *path);
void vdb_quantizer_free(vdb_quantizer *q);
/* Kind, dimension, code size, parameters (and file, sections) as a JSON
 * object (caller frees). */
char *vdb_quantizer_info_json(const vdb_quantizer *q);

/* Evaluation of a quantizer on a base set, streamed: reconstruction error,
 * and recall@k of searching the coded base against exact search of the
 * original. sq8, fp16, pq: queries (exact) against the decoded base under
 * the metric; binary: query codes against base codes by hamming distance
 * (ties to the smaller id). */
typedef struct vdb_quant_eval vdb_quant_eval;
typedef struct {
	size_t n, nq, k;
	double mse;      /* mean over base vectors of |x - decode(encode(x))|^2 */
	double variance; /* mean over base vectors of |x - mean|^2 (the mse of the mean alone) */
	double max_abs;  /* largest |x_i - decoded x_i| */
	double recall;   /* mean over queries of |coded top-k ∩ exact top-k| / min(k, n) */
} vdb_quant_stats;
/* metric: l2, ip or cosine (of the exact search; VDB_EUNSUPPORTED else). */
vdb_status vdb_quant_eval_new(vdb_quant_eval **out, const vdb_quantizer *q, vdb_metric m,
                              size_t k, const float *queries, size_t nq);
/* Feed base rows in order (their ids continue from the previous block). */
vdb_status vdb_quant_eval_add(vdb_quant_eval *e, const float *x, size_t n);
vdb_status vdb_quant_eval_result(vdb_quant_eval *e, vdb_quant_stats *r);
void vdb_quant_eval_free(vdb_quant_eval *e);

/* Code files (what vdb-quantize encode writes): per vector a little-endian
 * int32 byte count, then that many bytes of code (the bvecs layout).
 * Writers return VDB_EIO if the stream fails. */
vdb_status vdb_codes_write(FILE *f, const uint8_t *codes, size_t n, size_t code_size);
typedef struct vdb_code_reader vdb_code_reader;
/* path "-" (or NULL) reads stdin; VDB_ENOENT if it cannot be opened. Every
 * record must hold code_size bytes (else VDB_EFORMAT naming the record). */
vdb_status vdb_codes_open(vdb_code_reader **out, const char *path, size_t code_size);
/* Up to max codes into codes; *got 0 means end of input. An input with no
 * record at all is VDB_EFORMAT. */
vdb_status vdb_codes_read(vdb_code_reader *r, uint8_t *codes, size_t max, size_t *got);
size_t vdb_codes_records(const vdb_code_reader *r);
void vdb_codes_close(vdb_code_reader *r);
/* n rows of dim floats as fvecs records. */
vdb_status vdb_fvecs_write(FILE *f, const float *x, size_t n, uint32_t dim);

/* ===== Sweeps ===== */
/* Recall and speed of an index at one search setting, measured as
 * ann-benchmarks does: an untimed warm-up pass, then `runs` timed runs, the
 * best reported. A run times each query alone on one thread (latencies and
 * qps_1) and all queries in one call on all threads (qps_all). */
typedef struct {
	double recall_1, recall_k; /* recall@1 and recall@k against the ground truth */
	double recall_100;         /* recall@100 (a k = 100 search); -1: ground truth < 100 wide */
	double qps_1;              /* queries/s, one query per call, one thread */
	double qps_all;            /* queries/s, all queries in one call on `threads` threads */
	int threads;
	double p50, p95, p99, max; /* seconds per query, one thread (nearest rank; best run) */
	double p90;                /* the same, 90th percentile */
	double seconds;            /* the sum of the best run's latencies */
} vdb_sweep_result;

typedef struct vdb_sweep vdb_sweep;
/* A sweep over nq queries (nq x dim floats) with their ground truth (gt_rows
 * x gt_width ids, nearest first). queries and gt are borrowed: keep them
 * until vdb_sweep_free. Allocates every buffer the runs need. VDB_EFORMAT if
 * the ground truth has another row count or fewer than k columns. */
vdb_status vdb_sweep_new(vdb_sweep **out, const float *queries, size_t nq, uint32_t dim,
                         const int32_t *gt, size_t gt_rows, size_t gt_width, size_t k,
                         unsigned runs);
/* VDB_EFORMAT, naming the index (name may be NULL), if its dimension is not
 * the queries'. */
vdb_status vdb_sweep_check(const vdb_sweep *s, const vdb_index *ix, const char *name);
/* Measure ix with o's search setting (o->k is the sweep's k). Sets the thread
 * count to 1 for the per-query runs and restores it: not thread-safe. */
vdb_status vdb_sweep_run(vdb_sweep *s, const vdb_index *ix, const vdb_search_opts *o,
                         vdb_sweep_result *r);
/* The same over the nix indexes of a set, searched as vdb_index_search_set
 * (shards: recall against the records of the whole input, as the ground
 * truth of the unsharded data names them). */
vdb_status vdb_sweep_run_set(vdb_sweep *s, const vdb_index *const *ix, size_t nix,
                             const vdb_search_opts *o, vdb_sweep_result *r);
void vdb_sweep_free(vdb_sweep *s);

/* What a sweep reports about an index besides its speed. */
typedef struct {
	const char *knob;       /* the setting its type takes (vdb_index_knob): "ef"
	                         * (hnsw), "nprobe" (ivf, ivfpq), "probes" (lsh), NULL
	                         * (flat: none) */
	uint64_t bytes;         /* file size (0: built in memory) */
	char *params;           /* build parameters: "M=16 ef_construction=200 seed=42" */
	char *params_json;      /* the same as a JSON object */
} vdb_sweep_index;
/* Fill out (free it with vdb_sweep_index_free, also after a failure). */
vdb_status vdb_sweep_describe(const vdb_index *ix, vdb_sweep_index *out);
void vdb_sweep_index_free(vdb_sweep_index *d);

/* Sweep reports: an aligned table, CSV, or JSON Lines (one object a row). */
typedef enum { VDB_REPORT_TABLE = 1, VDB_REPORT_CSV, VDB_REPORT_JSON } vdb_report_format;
vdb_status vdb_report_format_parse(const char *s, vdb_report_format *out);

typedef struct {
	const char *label;            /* the index as the user named it */
	const vdb_index *ix;
	const vdb_sweep_index *info;
	unsigned setting;             /* value of info->knob; 0: the index's default */
	size_t k, queries;
	unsigned runs;
	int64_t time;                 /* start of the sweep, Unix seconds */
	vdb_sweep_result r;
} vdb_sweep_row;
/* The table's column heads (the index column label_width wide) or the CSV
 * header; nothing for JSON. VDB_EIO if the stream fails. */
vdb_status vdb_sweep_write_header(FILE *f, vdb_report_format fmt, size_t k, int threads,
                                  int label_width);
vdb_status vdb_sweep_write_row(FILE *f, vdb_report_format fmt, const vdb_sweep_row *row,
                               int label_width);

/* A curve of a plot: recall (x) against queries per second (y) for
 * vdb_plot; x and y as vdb_plot_axes names them. */
typedef struct {
	char *title;
	size_t n, cap;
	double *recall, *qps;
	int reference;  /* drawn dashed */
	int level;      /* a horizontal line at y = qps[0] across the plot */
} vdb_curve;
vdb_status vdb_curve_add(vdb_curve *c, double recall, double qps);
/* Reference curves from a CSV file whose header names at least system,
 * setting, recall and qps (one-thread queries/s); one curve per system, in
 * order of appearance. A threads column keeps only rows with threads 1.
 * VDB_ENOENT, or VDB_EFORMAT naming the line. Free with vdb_curves_free. */
vdb_status vdb_curves_load(const char *path, vdb_curve **curves, size_t *n);
void vdb_curves_free(vdb_curve *c, size_t n);
/* Whether vdb_plot could draw into path, checked before a long sweep:
 * VDB_EINVAL if it is not .svg or .png, VDB_EUNSUPPORTED (with a message
 * naming the Debian package) when gnuplot is not on the PATH, VDB_ECREATE if
 * no file can be created beside it or path is not a regular file (see
 * vdb_output_file_check). */
vdb_status vdb_plot_check(const char *path);
/* Draw the curves with gnuplot into path (.svg or .png, by the extension;
 * else VDB_EINVAL), replacing it atomically: VDB_EUNSUPPORTED without
 * gnuplot, VDB_ECREATE if path cannot be created, VDB_EINTERNAL with
 * gnuplot's message if it fails. Prints nothing. */
vdb_status vdb_plot(const char *path, const vdb_curve *c, size_t n, const char *xlabel);
/* The same with other axes (vdb_plot: xlabel, queries per second on a log
 * scale, the key at the bottom left). */
typedef struct {
	const char *xlabel, *ylabel;
	int logy;        /* y on a log scale */
	const char *key; /* where the key goes: "bottom left", "top right", ... */
	double xmin, xmax; /* the x range; both 0: fitted to the data */
} vdb_plot_axes;
vdb_status vdb_plot_axes_draw(const char *path, const vdb_curve *c, size_t n,
                              const vdb_plot_axes *a);

/* ===== Fusion sweeps: the IR metrics of each way of ranking ===== */
/* The ways vdb-eval fusion compares: BM25 alone, vectors alone, and hybrid
 * search fused by RRF (with the constant rrf_k) or by weights (alpha). */
typedef enum {
	VDB_RANK_LEXICAL = 1, VDB_RANK_VECTOR, VDB_RANK_RRF, VDB_RANK_WEIGHTED
} vdb_rank_mode;
typedef struct {
	vdb_rank_mode mode;
	double alpha; /* weighted: the vector side's weight, 0..1 */
	double rrf_k; /* rrf: the constant */
} vdb_rank_setting;
/* Rank the queries q (each with a vector and, but for VDB_RANK_VECTOR, a
 * "text", as the JSONL reader keeps them; qname names them) with ix at
 * setting set (o: k is e's, filter and the rest as given; f: the fusion's
 * depth), and score the lists in e (reset first). A query's id, or
 * without one its record number, is its QID in the judgments. *qps: the
 * queries ranked per second, all of them in one call. VDB_EFORMAT naming
 * the query for a missing text; VDB_EUNSUPPORTED without a lexical index. */
vdb_status vdb_ir_eval_search(vdb_ir_eval *e, const vdb_index *ix, const vdb_vecs *q,
                              const char *qname, const vdb_rank_setting *set,
                              const vdb_search_opts *o, const vdb_fusion_opts *f, double *qps);
/* A row of the report: the setting and its means over the judged queries. */
typedef struct {
	vdb_rank_setting set;
	size_t k, queries, answered;
	vdb_ir_scores r;
	double qps;
} vdb_fusion_row;
/* The table's column heads or the CSV header (nothing for JSON), then
 * one row at a time; VDB_EIO if f fails. */
vdb_status vdb_fusion_write_header(FILE *f, vdb_report_format fmt, size_t k);
vdb_status vdb_fusion_write_row(FILE *f, vdb_report_format fmt, const vdb_fusion_row *row);

/* ===== Configuration files ===== */
/* Read a YAML mapping of long option names to values into arguments
 * "--name=value" (true: "--name"; false or null: omitted; a list: its items
 * joined by commas, or for the keys in each (NULL-terminated, may be NULL)
 * one argument per item). *argv is NULL-terminated; free with
 * vdb_config_free. lines[i] is the YAML line of argv[i], for messages.
 * VDB_ENOENT if the file cannot be opened; VDB_EINVAL, naming the file and
 * line, for bad YAML, a value that is neither a scalar nor a list, or a
 * file beyond the limits (VDB_MAX_CONFIG_BYTES, _DEPTH, _ALIASES). */
vdb_status vdb_config_load(const char *path, const char *const *each, int *argc, char ***argv,
                           int **lines);
void vdb_config_free(int argc, char **argv, int *lines);

/* ===== Metrics files (Prometheus text format) ===== */
/* One sample. A sample with help starts a metric family: "# HELP" and
 * "# TYPE" lines (type NULL: gauge) come before it; samples without help
 * continue the family above (a summary's quantiles, _sum and _count; a
 * histogram's family, typed "histogram", is named by its first sample
 * NAME_bucket without _bucket). labels
 * are extra label pairs, already written (quantile="0.5"), or NULL. */
typedef struct {
	const char *name, *help, *type, *labels;
	double value;
} vdb_prom_sample;
/* Replace path atomically (a temporary file beside it, fsync, rename, fsync
 * of the directory; a device or FIFO is written as a stream) with the n samples, each labelled label="value" (value
 * escaped) before its own labels. VDB_ECREATE or VDB_EIO on failure; the
 * previous file is then untouched. */
vdb_status vdb_prom_write(const char *path, const char *label, const char *value,
                          const vdb_prom_sample *s, size_t n);
/* What vdb_prom_write does with path: VDB_OK for nothing or a regular file
 * there (replaced by rename) and for a character device or a FIFO (written
 * to as a stream, never replaced); VDB_ECREATE naming anything else (a
 * symbolic link, a directory, a block device, a socket). */
vdb_status vdb_prom_check(const char *path);
/* The value of the first sample of name in the file at path: VDB_ENOENT if
 * the file or the sample is missing. */
vdb_status vdb_prom_read(const char *path, const char *name, double *value);

/* ===== Writer locks ===== */
/* An exclusive flock(2) on path (an index's "INDEX.lock"), created if need
 * be. Held, it records "pid P on host H since ISO-8601-UTC" in the file.
 * Busy: retries for up to wait_seconds (0: not at all), then VDB_EBUSY with
 * a message naming the holder as its file records it. Released by
 * vdb_lock_release, which removes the file (safely: see lib/lock.c), or
 * when the process exits (the file then stays, unlocked, for the next
 * holder to remove). Readers need no lock. */
typedef struct vdb_lock vdb_lock;
vdb_status vdb_lock_acquire(vdb_lock **out, const char *path, double wait_seconds);
void vdb_lock_release(vdb_lock *l);
/* Remove the temporary files (PATH.tmp.XXXXXX) that builds of PATH killed
 * before their rename left behind; *removed counts them. Only safe while
 * holding PATH's lock: no other build of PATH can be writing one. */
vdb_status vdb_file_remove_stale(const char *path, size_t *removed);
/* Whether an output that is replaced by rename (an index, a quantizer, a
 * metrics file, a plot) may be written at path: VDB_OK when nothing or a
 * regular file is there; VDB_ECREATE naming path and what is there (a
 * symbolic link, a directory, a device, a FIFO, a socket) otherwise. The
 * writers check again themselves; this lets a command refuse before work. */
vdb_status vdb_output_file_check(const char *path);

/* ===== Embedding: text to vectors (vdb-text embed) ===== */
/* An embedder turns texts into vectors of one dimension. Kinds:
 *   fasttext  a fastText model file (.bin, known by its magic number; the
 *             whole file is checked before libfasttext reads it): the
 *             vector `fasttext print-sentence-vectors` prints;
 *   vec       word vectors as text (fastText .vec, word2vec, GloVe): the
 *             mean of the unit vectors of the text's known words;
 *   exec      an external command (/bin/sh -c CMD), run once per batch: a
 *             text per line on its stdin, a vector per line on its stdout.
 * Texts are UTF-8; each newline or carriage return in a text is read as a
 * space (a text is one line to every kind). The identity of an embedder is
 * (kind, XXH3-64 of the model file's bytes or of the command line, dim). */
typedef struct vdb_embedder vdb_embedder;
#define VDB_MAX_EMBED_COMMAND 4096u     /* bytes of an --exec command line */
#define VDB_MAX_EMBED_BATCH 1000000u    /* texts of one batch */
#define VDB_EMBED_BATCH_BYTES (64u << 20) /* a batch ends once its lines hold this */
typedef struct {
	uint32_t dim;     /* 0: any; else every vector must have this dimension */
	double timeout;   /* exec: seconds the command may neither read nor write
	                     before it is killed as hung (0: no limit) */
	size_t batch;     /* vdb_embed_records: texts per batch, at most
	                     VDB_MAX_EMBED_BATCH (0: 16384 for exec, 4096 for the
	                     others); a batch also ends at VDB_EMBED_BATCH_BYTES */
	void (*progress)(void *ctx, size_t done, size_t total);
	void *progress_ctx;
} vdb_embed_opts;
void vdb_embed_opts_init(vdb_embed_opts *o);
/* A model file, fasttext or vec by its first bytes. VDB_ENOENT when it
 * cannot be opened; VDB_EFORMAT naming the file (and the line of a .vec)
 * when it is not a model vdb can use. */
vdb_status vdb_embedder_open(vdb_embedder **out, const char *model, const vdb_embed_opts *o);
/* An external command; nothing runs until the first batch. */
vdb_status vdb_embedder_exec(vdb_embedder **out, const char *command, const vdb_embed_opts *o);
void vdb_embedder_close(vdb_embedder *e);
/* The dimension; 0 for exec before its first batch. */
uint32_t vdb_embedder_dim(const vdb_embedder *e);
/* The identity as the JSON object records carry in "embedder":
 * {"kind":K,"name":N,"xxh3":"16 hex digits","dim":D}; NULL while the
 * dimension is unknown. Owned by e. */
const char *vdb_embedder_identity(const vdb_embedder *e);
/* Embed n texts (lens[i] bytes each) into *out, n x dim floats (grown as
 * needed: *cap counts its floats; *out NULL and *cap 0 at first). Fails with
 * VDB_EFORMAT for a text or vector that cannot be used, VDB_EINTERNAL for
 * an exec embedder that fails (exits non-zero, dies by a signal, times
 * out); *bad is then the text at fault, or n when it is the whole batch.
 * The message does not name the record: the caller prefixes it. Texts of a
 * fasttext or vec embedder are embedded in parallel (vdb_threads()). */
vdb_status vdb_embed_batch(vdb_embedder *e, const char *const *texts, const size_t *lens,
                           size_t n, float **out, size_t *cap, size_t *bad);
/* The filter of vdb-text embed: JSON Lines text records from path ("-":
 * stdin) to out, each with "vector" (replaced if present) and "embedder"
 * added and every other field kept in order. A record needs "text", a
 * non-empty string of at most VDB_MAX_TEXT bytes. Errors name the input,
 * line, record and id; the lines of the records before a failing batch
 * may have been written, none of the failing record's. VDB_EIO if out
 * fails. *records counts the records written. */
vdb_status vdb_embed_records(vdb_embedder *e, const char *path, FILE *out,
                             const vdb_embed_opts *o, size_t *records);

/* ===== Per-query options (a JSONL query record's own k, filter, ...) ===== */
/* --ef and a query's "ef", at most; --nprobe and "nprobe", at most (--probes
 * and "probes": VDB_LSH_MAX_PROBES) */
#define VDB_MAX_EF (1u << 20)
#define VDB_MAX_NPROBE (1u << 24)
/* ids in one query's "exclude", at most */
#define VDB_MAX_QUERY_EXCLUDE 1024u
/* A query record's options, as vdb_vecs.qopt keeps them (checked when read:
 * k 1..VDB_MAX_K, ef 1..VDB_MAX_EF, nprobe 1..VDB_MAX_NPROBE, probes
 * 1..VDB_LSH_MAX_PROBES, filter a string that parses, exclude an array of
 * at most VDB_MAX_QUERY_EXCLUDE ids, strings or integers; a null field is
 * not given). 0 / NULL: not given, the command line's applies. */
typedef struct {
	size_t k;
	unsigned knob[VDB_MAX_KNOBS]; /* search settings, as vdb_search_opts.knob
	                                 (vdb_search_opts_get of a copy reads them) */
	const char *filter;      /* the filter's text (NUL-terminated) */
	size_t nexclude;
	const char *const *exclude; /* each id's compact JSON text ("doc-7", 7) */
	void *hold;              /* what the texts live in (vdb_query_opts_done) */
} vdb_query_opts;
/* Row i's options of q (all 0 / NULL when it has none). VDB_OK or
 * VDB_ENOMEM; the texts last until vdb_query_opts_done. */
vdb_status vdb_query_opts_get(const vdb_vecs *q, size_t i, vdb_query_opts *o);
void vdb_query_opts_done(vdb_query_opts *o);
/* Does a record (metadata JSON text or NULL; its stored id's JSON text, or
 * NULL and its row number in an index without ids) pass f? f may test the
 * id (vdb-query(1): `id in [...]`). */
int vdb_filter_match_record(const vdb_filter *f, const char *json, size_t len,
                            const char *id, size_t idlen, int64_t row);

/* ===== Range search: every record within a distance ===== */
/* Results per query of a range search, at most: a query with more records
 * within the radius gets its VDB_MAX_RANGE nearest and is counted in
 * vdb_range_result.truncated (vdb-query -k sets a smaller cap). */
#define VDB_MAX_RANGE VDB_MAX_K
/* The answers of nq queries, as FAISS's RangeSearchResult holds them:
 * query i's results are ids[lims[i] .. lims[i+1]) and dist[the same],
 * ascending by distance, ties to the smaller id. Owned by the result: free
 * with vdb_range_result_free (a zeroed result frees as empty). */
typedef struct {
	size_t nq;
	size_t *lims;     /* nq + 1 offsets; lims[0] = 0 */
	int64_t *ids;     /* rows (sets: VDB_SET_REF(index, row), as vdb_index_search_set) */
	float *dist;      /* reported distances (vdb.7): all <= the radius */
	size_t truncated; /* queries whose results stopped at the cap, maybe short of all */
} vdb_range_result;
void vdb_range_result_free(vdb_range_result *r);
/* Every live row (passing o->filter) whose reported distance to the query
 * is at most radius, nearest first, at most cap of them (0: VDB_MAX_RANGE).
 * Exact on flat; approximate on the other types, whose search is widened
 * (k, ef, nprobe and probes doubled from o's, o->k ignored) until the
 * boundary is passed: the worst of the candidates returned is beyond
 * radius (or every row has been returned), and, for types whose reach is
 * bounded by the lists or buckets probed (ivf, ivfpq, lsh), widening once
 * more found no new record within radius. radius must not be NaN
 * (VDB_EINVAL). res is overwritten (free it first if it held results). */
vdb_status vdb_index_search_range(const vdb_index *ix, const float *queries, size_t nq,
                                  const vdb_search_opts *o, float radius, size_t cap,
                                  vdb_range_result *res);
/* The exact answer of vdb_index_search_range, by brute force over the
 * index's live rows (decoded when stored compressed), whatever its type:
 * the truth a range sweep measures against. No filter. VDB_EUNSUPPORTED
 * for hamming indexes (build a flat one). */
vdb_status vdb_index_search_range_exact(const vdb_index *ix, const float *queries, size_t nq,
                                        float radius, size_t cap, vdb_range_result *res);
/* The same over the n indexes of a set (shards): each index's range
 * results concatenated, sorted by distance, ties to the smaller id (as
 * vdb_index_search_set orders them), cut at cap. */
vdb_status vdb_index_search_range_set(const vdb_index *const *ix, size_t n,
                                      const float *queries, size_t nq,
                                      const vdb_search_opts *o, float radius, size_t cap,
                                      vdb_range_result *res);
/* Range precision and recall of results against exact ones (both vdb-query
 * JSONL result lines, matched by their "query" number; ids compared as
 * their JSON text), micro-averaged over all queries as FAISS's range
 * evaluation does: precision = sum |returned ∩ true| / sum |returned|,
 * recall = sum |returned ∩ true| / sum |true| (1 when the sum below is
 * 0). A query of truth missing from results counts as returning nothing. */
typedef struct {
	size_t queries;          /* query lines in the truth */
	size_t returned, truth, common; /* results summed over the queries */
	double precision, recall;
} vdb_range_scores;
vdb_status vdb_range_eval(const char *truth, const char *results, vdb_range_scores *out);
/* The same from results in memory: ids are rows of one index, as
 * vdb_index_search_range returns them, truth and res of the same nq. */
void vdb_range_score(const vdb_range_result *truth, const vdb_range_result *res,
                     vdb_range_scores *out);

/* ===== Threads ===== */
/* 0 = all cores (or OMP_NUM_THREADS). The count of the calling thread's
 * searches (OpenMP's per-thread ICV): other threads keep theirs. */
void vdb_set_threads(int n);
int vdb_threads(void);
/* For a program that owns its process (the vdb commands call it first):
 * a pthreads OpenBLAS set to one thread of its own, so that exact search
 * runs sgemm inside each of its OpenMP threads. The one vdb call that
 * changes process-wide state (OpenBLAS's thread count); without it every
 * search gives the same results, with OpenBLAS's threads inside sgemm.
 * An OpenMP OpenBLAS follows each thread's OpenMP count: nothing is set. */
void vdb_blas_single_thread(void);
/* The kernels OpenBLAS runs exact search's matrix products with: its core
 * ("Zen", "Haswell", "SkylakeX", "Prescott", ...), as openblas_get_corename
 * reports it (OPENBLAS_CORETYPE forces one in a DYNAMIC_ARCH build), or
 * "unknown". The filtered-search planner's scan estimate follows it. */
const char *vdb_blas_core(void);

/* ===== Partial updates: delete by filter, metadata patches, duplicate ids ===== */
/* Delete, in ix (vdb_index_save writes the change), every live row whose
 * metadata passes f (through the payload index when the file has one; no
 * cap on their number): *deleted rows. ix is checked first as
 * vdb_index_verify does (VDB_ECORRUPT, ix unchanged). */
vdb_status vdb_index_delete_filter(vdb_index *ix, const vdb_filter *f, size_t *deleted);

/* Metadata patches (vdb-build --patch): JSONL records {"id", "metadata":
 * {...}, "text"}: the metadata is a JSON merge patch (RFC 7396) of the
 * stored metadata (a member null removes the key; a nested object merges
 * the same way; a record without metadata starts from {}); "text" (a
 * string, or null to remove it) replaces the stored text. No "vector" or
 * "bits": a new vector is an --upsert. */
typedef struct vdb_patches vdb_patches;
vdb_status vdb_patches_new(vdb_patches **out);
/* Add the patches of f (named name in errors), one a line, blank lines
 * skipped: VDB_EFORMAT naming name and the line for a line that is not such
 * a record (no id, metadata not an object, a vector, ...). */
vdb_status vdb_patches_read(vdb_patches *p, FILE *f, const char *name);
size_t vdb_patches_count(const vdb_patches *p);
void vdb_patches_free(vdb_patches *p);
/* Apply p, in order, to every live row of ix with the patch's id (an index
 * without ids: the row number): the metadata and text columns are replaced
 * (vdb_index_save writes them and the payload index made again from them;
 * the lexical index is made again over the new texts). *patched: rows
 * changed; *missing: patches naming no live row, the first of them named in
 * first_missing ("NAME: line N (id ID)"). ix is checked first as
 * vdb_index_verify does (VDB_ECORRUPT); on an error, ix is not to be saved. */
vdb_status vdb_index_patch(vdb_index *ix, const vdb_patches *p, size_t *patched, size_t *missing,
                           char *first_missing, size_t n);

/* Records of one set sharing an id (vdb-build --dedupe). */
typedef enum { VDB_DEDUPE_REFUSE = 0, VDB_DEDUPE_FIRST, VDB_DEDUPE_LAST } vdb_dedupe;
/* Names row (a record of a set) for messages: "NAME: line N". */
typedef void (*vdb_row_label_fn)(void *ctx, size_t row, char *buf, size_t n);
/* REFUSE: VDB_EFORMAT naming both records (label, when given) and the id
 * of the first record (in order) whose id an earlier one has; FIRST, LAST:
 * keep the first (last) record of each id, the others removed from v in
 * place, order kept (*dropped of them). A set without ids has none twice. */
vdb_status vdb_vecs_dedupe(vdb_vecs *v, vdb_dedupe mode, size_t *dropped, vdb_row_label_fn label,
                           void *ctx);
/* VDB_EFORMAT naming the first record of v (label) whose id a live row of
 * ix has (vdb-build --append: --upsert replaces records); else VDB_OK. */
vdb_status vdb_index_ids_clash(const vdb_index *ix, const vdb_vecs *v, vdb_row_label_fn label,
                               void *ctx);

#ifdef __cplusplus
}
#endif
#endif
