/* ivf.h — the inverted lists both ivf types share (index_ivf.c): the
 * lists, their file sections, appending, compacting and the search; ivfpq
 * (index_ivfpq.c) adds its codes through an ivf_codec. (internal) */
#ifndef VDB_IVF_H
#define VDB_IVF_H
#include "index_internal.h"
#include "kmeans.h"
#include "topk.h"

#define SEC_IVCE VDB_FOURCC('I', 'V', 'C', 'E')
#define SEC_IVOF VDB_FOURCC('I', 'V', 'O', 'F')
#define SEC_IVRW VDB_FOURCC('I', 'V', 'R', 'W')
#define SEC_IVVE VDB_FOURCC('I', 'V', 'V', 'E')
#define SEC_PQCB VDB_FOURCC('P', 'Q', 'C', 'B')
#define SEC_PQCO VDB_FOURCC('P', 'Q', 'C', 'O')
#define SEC_PQPL VDB_FOURCC('P', 'Q', 'P', 'L')
/* the per-list tables are kept up to this size; above it, each probed list
 * gets its table computed at query time */
#define MAX_PTAB_BYTES ((size_t)512 << 20)
/* --pq-bits 4: at most this many sub-quantizers (their byte tables sum in 16 bits) */
#define VDB_PQ4_MAX_M 4096u

enum { P_NLIST = 1, P_PQM = 2, P_REFINE = 3, P_XMAX = 4, P_MSE_CENT = 5, P_MSE_PQ = 6 };
/* ivfpq: bits per code, 4 (fast-scan, index_ivfpq.c) or 0 for 8 (older files) */
enum { P_PQBITS = 7 };
#define MAX_NLIST (1u << 24)
#define DEFAULT_NPROBE 16u
#define BLOCK 65536 /* rows per block when computing residuals */
#define COARSE_ITERS 10 /* as FAISS: more barely moves the lists */
#define EXACT_PROBE 256 /* a batch chooses up to this many lists a query by one exact k-NN (sgemm) */
#define IVF_BATCH 2048  /* ... for this many queries at a time */
#define IVF_BATCH_MIN 32768 /* ... when the centroids hold this many values (128 KiB) or more */
#define IVF_SCAN_BLOCK 256 /* rows whose keys are computed before their exact distances */
#define IVF_SPLIT_MIN 65536 /* values (rows x dim) below which one query is not split */
/* A batch is scanned list by list (vdb_ivf_scan_batch) for this many
 * queries at a time: the more share a list, the fewer times it is read
 * (1M x 128, nlist 4000, nprobe 8, 10k queries, one thread: search CPU
 * 0.64-0.71 s at 2048, 0.57-0.61 s at 4096) ... */
#define IVF_BATCH_LISTS 4096
/* ... when the threads' heaps and filters for them, each thread's own
 * (a query: IVF_GROUP_QUERY bytes and 16 a result), take this much at
 * most (k up to about 500 on two threads, 250 on four) */
#define IVF_GROUP_HEAPS ((size_t)64 << 20)
#define IVF_GROUP_QUERY 72

struct ivf;
typedef struct ivf_ws ivf_ws;
/* What ivfpq adds to the lists: its codes. */
struct ivf_codec {
	/* train the codebooks on x (the build's rows, f's lists filled), encode
	 * the rows, derive the tables */
	vdb_status (*train)(vdb_index *ix, struct ivf *f, const float *x, const vdb_build_opts *o);
	/* the tables derived from the codebooks (after appending, compacting) */
	vdb_status (*tables)(struct ivf *f, vdb_metric m, uint32_t d);
	/* scan the codes of the nl lists of w->pi into h (ids: positions when
	 * by_pos, else rows); with allow (a row bitset), only allowed rows, and
	 * returns how many the lists held (0 without) */
	size_t (*scan)(const struct ivf *f, vdb_metric m, uint32_t d, ivf_ws *w, size_t nl,
	               const uint64_t *allow, vdb_topk *h, bool by_pos);
	/* bytes of ivf_ws.table scan uses (after tables()) into a heap of cap */
	size_t (*scratch)(const struct ivf *f, size_t cap);
	/* free what tables() made in f->fast (NULL: nothing) */
	void (*free)(struct ivf *f);
};

typedef struct ivf {
	bool pq;
	const struct ivf_codec *codec; /* ivfpq's codes (NULL: ivf's float32 vectors) */
	uint32_t nlist;
	unsigned refine;
	double xmax;          /* largest |x|^2: bounds the rounding of ip keys */
	/* ivfpq, measured at build: mean |x - c|^2 and |x - c - r|^2 (c the
	 * list centroid, r the code's reconstruction of x - c) */
	double mse_cent, mse_pq;
	const float *cent;
	const uint64_t *off;
	const uint32_t *row;
	const float *vecs;    /* NULL for ivfpq without refine */
	const uint8_t *codes;
	vdb_pq pq_q;
	const float *ptab;    /* ivfpq l2: per list, |cb|^2 + 2<centroid, cb> (nlist x m x 256) */
	/* what a build owns */
	float *own_cent, *own_vecs;
	uint64_t *own_off;
	uint32_t *own_row;
	uint8_t *own_codes;
	float *own_ptab;
	uint32_t *pos_of;     /* row -> position, built on first need (filters, --get) */
	void *fast;           /* ivfpq 4-bit: codes packed for fast-scan, tables (codec's) */
} ivf;

/* A search's scratch, per thread. */
struct ivf_ws {
	float *q;        /* the query (normalised for cosine) */
	float *r;        /* residual query - centroid (ivfpq, l2) */
	/* ivfpq: the scan's tables (codec->scratch bytes) */
	float *table;
	double *pd, *hd, *cd;
	int64_t *pi, *hi, *ci;
	/* ivf_scan.c: the keys of the centroids or of a block of rows
	 * (max(nlist, IVF_SCAN_BLOCK)), a heap of max(nprobe, k) keys, and the
	 * size of this thread's heap in a split scan */
	float *keys, *top;
	uint32_t hn;
	size_t kept; /* filtered: the allowed rows this thread's scan met */
};

extern const struct vdb_index_knob vdb_ivf_nprobe_knob;
/* --nlist, taken by ivf and ivfpq */
extern const struct vdb_index_param vdb_ivf_nlist_param;
/* The build options both types check (--nlist). */
/* Residuals (row minus its list's centroid) of list positions [p0, p0+np). */
void vdb_ivf_residuals(const ivf *f, const float *x, uint32_t d, size_t p0, size_t np,
                       const uint32_t *list_of, float *out);
/* The ops both types share; codec NULL: ivf, else ivfpq's. */
vdb_status vdb_ivf_build(vdb_index *ix, vdb_vecs *data, const vdb_build_opts *o,
                         const struct ivf_codec *codec);
vdb_status vdb_ivf_open(vdb_index *ix, const struct ivf_codec *codec);
vdb_status vdb_ivf_append(vdb_index *ix, const vdb_index *base, vdb_vecs *data,
                          const vdb_build_opts *o);
vdb_status vdb_ivf_compact(vdb_index *ix, const vdb_index *base, const int64_t *keep,
                           const vdb_build_opts *o);
vdb_status vdb_ivf_save(const vdb_index *ix, vdb_file_writer *w, vdb_header *h);
vdb_status vdb_ivf_verify(const vdb_index *ix);
vdb_status vdb_ivf_search(const vdb_index *ix, const float *q, size_t nq,
                          const vdb_search_opts *o, int64_t *ids, float *dist);
/* The filtered planner's estimate of the filtered search (ops->filter_cost). */
double vdb_ivf_filter_cost(const vdb_index *ix, const vdb_search_opts *o, size_t nq,
                           size_t n_allow, int threads, unsigned *knob);
vdb_status vdb_ivf_search_allowed(const vdb_index *ix, const float *q, size_t nq,
                                  const vdb_search_opts *o, const uint64_t *allow,
                                  size_t n_allow, int64_t *ids, float *dist);
void vdb_ivf_rows(const vdb_index *ix, const int64_t *rows, size_t n, float *out);
/* ivf_scan.c. The nprobe lists nearest to w->q (exact distance, ties by
 * list number) in w->pi, nearest first, their squared distances in w->pd;
 * the centroids' keys computed on up to threads threads. */
size_t vdb_ivf_probe(const ivf *f, uint32_t d, ivf_ws *w, size_t nprobe, int threads);
/* The rows of the nl lists of ws[0]->pi nearest to ws[0]->q into h (ivf's
 * float32 lists, exact; allow: a row bitset or NULL), split across up to
 * threads threads, ws[t] the scratch of thread t; with allow, returns the
 * allowed rows the lists held (0 without). seed (or NULL): h->cap list
 * positions (-1: none) ranked into h with them, as if their lists were
 * scanned too (a widened query's answer so far, its lists not read again). */
size_t vdb_ivf_scan(const ivf *f, vdb_metric m, uint32_t d, ivf_ws *const *ws, int threads,
                    size_t nl, const uint64_t *allow, const int64_t *seed, vdb_topk *h);
/* The rows of the lists of nq queries (q: nq x d, unit rows for cosine),
 * probe[i * nprobe ..] those of query i (a -1 ends them early), into each
 * query's k best, written as a search returns them (ivf's float32 lists;
 * allow: a row bitset or NULL): list by list in memory order, each read
 * once for every query that probes it, on up to threads threads. The
 * answers are those of vdb_ivf_scan, one query at a time; kept (when not
 * NULL) gets each query's allowed rows met, as vdb_ivf_scan returns it;
 * seed (or NULL): k list positions a query ranked with its lists, as
 * vdb_ivf_scan's (a query whose first is -1 has none). */
vdb_status vdb_ivf_scan_batch(const ivf *f, vdb_metric m, uint32_t d, const float *q, size_t nq,
                              const int64_t *probe, size_t nprobe, size_t k, int threads,
                              const uint64_t *allow, const int64_t *seed, size_t *kept,
                              int64_t *ids, float *dist);
void vdb_ivf_info(const vdb_index *ix, json_t *obj);
void vdb_ivf_free(vdb_index *ix);
#endif
