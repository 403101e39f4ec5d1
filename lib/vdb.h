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
	VDB_EUNSUPPORTED = 10 /* valid request this build or index cannot do */
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
#define VDB_MAX_COUNT 2147483647ull /* internal ids are int32 in results */

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
 * (VDB_SIMD=scalar|avx2 forces a level). All take unaligned pointers. */
typedef struct {
	const char *name; /* "scalar", "avx2" */
	float (*l2sq)(const float *a, const float *b, size_t d);
	float (*dot)(const float *a, const float *b, size_t d);
	/* 1 - cos(a,b), computed from raw (unnormalised) vectors; 1 if either is 0 */
	float (*cosine)(const float *a, const float *b, size_t d);
	/* number of differing bits over nbytes bytes */
	uint32_t (*hamming)(const uint8_t *a, const uint8_t *b, size_t nbytes);
	/* First j in [start, n) whose ranking key, xn[j] - 2*dots[j] (l2) or
	 * -dots[j] (xn NULL: ip, cosine), is <= thr; n if there is none. The
	 * filter of exact search: most keys lose to the k-th best so far. */
	size_t (*next_below)(const float *xn, const float *dots, size_t start, size_t n,
	                     float thr);
} vdb_kernels;

const vdb_kernels *vdb_kernels_get(void);
/* A specific level: "scalar" always exists; NULL if the level is unknown or
 * this CPU cannot run it. Tests compare every level against "scalar". */
const vdb_kernels *vdb_kernels_level(const char *name);

/* ===== Vector sets (what readers produce and builds consume) ===== */
/* Rows are contiguous float32. ids and metadata, when present, are kept as
 * compact JSON text (an id is `"doc-7"` or `7`), returned verbatim. */
typedef struct {
	uint32_t dim;
	size_t n, cap;
	float *data;            /* n * dim */
	/* optional per-row JSON texts: row i is buf[off[i] .. off[i+1]) */
	char *id_buf;  size_t id_len, id_cap;  uint64_t *id_off;  size_t id_ocap;  /* NULL: no ids */
	char *meta_buf; size_t meta_len, meta_cap; uint64_t *meta_off; size_t meta_ocap; /* NULL: none */
} vdb_vecs;

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
 * fvecs. Fails with VDB_ENOENT if the file cannot be opened. */
vdb_status vdb_reader_open(vdb_reader **out, const char *path, vdb_format fmt);
/* Append up to max records (0 = all) to v. v->dim is set by the first
 * record; a reader fed into a v with dim already set checks it. *got is the
 * number appended; 0 with VDB_OK means end of input. Empty input (no record
 * at all) is VDB_EFORMAT on the first call. */
vdb_status vdb_reader_read(vdb_reader *r, vdb_vecs *v, size_t max, size_t *got);
vdb_format vdb_reader_format(const vdb_reader *r);
const char *vdb_reader_name(const vdb_reader *r); /* "stdin" or the path */
size_t vdb_reader_records(const vdb_reader *r);    /* records read so far */
void vdb_reader_close(vdb_reader *r);

/* Read a whole ivecs file of int32 rows (ground truth). Rows may not change
 * width. *rows x *width values in *out (caller frees). */
vdb_status vdb_ivecs_load(const char *path, int32_t **out, size_t *rows, size_t *width);

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

typedef struct {
	const char *type;   /* "flat", "hnsw", "ivf", "ivfpq" */
	vdb_metric metric;
	uint64_t seed;
	unsigned M;               /* hnsw: links per node (2*M on layer 0); default 16 */
	unsigned ef_construction; /* hnsw: build beam width; default 200 */
	unsigned nlist;           /* ivf, ivfpq: lists; 0 = about 4*sqrt(count) */
	unsigned pq_m;            /* ivfpq: sub-quantizers (divides dim); 0 = dim/8 or near */
	unsigned refine;          /* ivfpq: keep vectors, re-rank refine*k; 0 = codes only */
	void (*progress)(void *ctx, size_t done, size_t total);
	void *progress_ctx;
} vdb_build_opts;

typedef struct {
	size_t k;
	unsigned ef;      /* hnsw; 0 = default */
	unsigned nprobe;  /* ivf, ivfpq: lists probed; 0 = 16 (at most nlist) */
} vdb_search_opts;

void vdb_build_opts_init(vdb_build_opts *o);
void vdb_search_opts_init(vdb_search_opts *o);

/* Check type and metric before any data is read (VDB_EINVAL/EUNSUPPORTED). */
vdb_status vdb_build_opts_check(const vdb_build_opts *o);
/* Build an index over data (which the index takes over: v is emptied). */
vdb_status vdb_index_build(vdb_index **out, vdb_vecs *data, const vdb_build_opts *o);
/* Add the rows of data to a copy of base (base itself is not changed; save
 * the result over its file to replace it atomically). The new rows get the
 * row numbers after base's; their ids come from data or, when only one side
 * has ids, are the row numbers. Type, metric and parameters are base's; o
 * gives only progress. data is normalised in place for cosine. */
vdb_status vdb_index_append(vdb_index **out, const vdb_index *base, vdb_vecs *data,
                            const vdb_build_opts *o);
/* Write atomically: a temporary file beside path, fsync, rename, fsync the
 * directory. On failure the previous file at path is untouched. */
vdb_status vdb_index_save(const vdb_index *ix, const char *path);
/* Memory-map and check magic, version, header checksum and section bounds. */
vdb_status vdb_index_open(vdb_index **out, const char *path);
/* Check every section's checksum and the index's own structure. */
vdb_status vdb_index_verify(const vdb_index *ix);
void vdb_index_close(vdb_index *ix);

/* Search nq queries (nq x dim floats, not modified). ids/dist: nq x k. */
vdb_status vdb_index_search(const vdb_index *ix, const float *queries, size_t nq,
                            const vdb_search_opts *o, int64_t *ids, float *dist);

uint32_t vdb_index_dim(const vdb_index *ix);
vdb_metric vdb_index_metric(const vdb_index *ix);
size_t vdb_index_count(const vdb_index *ix);
const char *vdb_index_type(const vdb_index *ix);
/* JSON text of row i's id / metadata; NULL if the index has none. */
const char *vdb_index_id_json(const vdb_index *ix, int64_t i, size_t *len);
const char *vdb_index_meta_json(const vdb_index *ix, int64_t i, size_t *len);
int vdb_index_has_ids(const vdb_index *ix);
int vdb_index_has_meta(const vdb_index *ix);
/* The header as a JSON object (caller frees). */
char *vdb_index_info_json(const vdb_index *ix);

/* ===== Result output ===== */
typedef enum { VDB_OUT_JSONL = 1, VDB_OUT_IVECS, VDB_OUT_TSV } vdb_output;
vdb_status vdb_output_parse(const char *s, vdb_output *out);
/* Write one query's results. include_meta adds "metadata": [...] (jsonl)
 * or a column (tsv). Returns VDB_EIO if the stream fails. */
vdb_status vdb_write_result(FILE *f, vdb_output fmt, const vdb_index *ix,
                            size_t query_no, const int64_t *ids, const float *dist,
                            size_t k, int include_meta);

/* ===== Evaluation ===== */
/* Load query results: vdb-query JSONL (integer "ids") or ivecs, detected
 * from the first byte. path "-" = stdin. *ids: *nq rows of *width (rows
 * with fewer results are padded with -1); caller frees. */
vdb_status vdb_results_load(const char *path, int64_t **ids, size_t *nq, size_t *width);
/* Mean over queries of |first k results ∩ first k of gt| / k. */
double vdb_recall(const int32_t *gt, size_t gt_width, const int64_t *res, size_t res_width,
                  size_t nq, size_t k);

/* ===== Configuration files ===== */
/* Read a YAML mapping of long option names to values into arguments
 * "--name=value" (true: "--name"; false or null: omitted; a list: its items
 * joined by commas). *argv is NULL-terminated; free with vdb_config_free.
 * lines[i] is the YAML line of argv[i], for messages. */
vdb_status vdb_config_load(const char *path, int *argc, char ***argv, int **lines);
void vdb_config_free(int argc, char **argv, int *lines);

/* ===== Threads ===== */
/* 0 = all cores (or OMP_NUM_THREADS). */
void vdb_set_threads(int n);
int vdb_threads(void);

#ifdef __cplusplus
}
#endif
#endif
