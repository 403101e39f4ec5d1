/*
 * fuzz_jsonl — the JSONL reader (ids, vectors or "bits", metadata, texts and
 * embedder identities, line by line, read as floats and as binary
 * vectors), and what vdb-build and
 * vdb-query then do with what it read: a flat index built over the records
 * and saved (which builds the payload index from the metadata), opened
 * again and verified, and searched with filters. Reports (abort) when the
 * saved index does not open or fails verify, or when a filtered search
 * disagrees with the filter checked against each record's metadata (the
 * reference the payload index must agree with: flat search is exact, so it
 * returns matching rows only, and all of them when k covers them). Read
 * as a query stream too: a text query's row is zeros and holds its text.
 */
#include "fuzz.h"

static const char *const filters[] = {
	"price > 1 || tags contains \"a\"",
	"!(n.t == \"a\") && exists(v)",
	"category in [\"x\", \"Software\"] || b == true",
	"v >= 0 && v < 10 || a.a.a.a == 1",
};
#define NFILTERS (sizeof filters / sizeof *filters)
#define CHECK_ROWS 256u /* the filter oracle's limit: it parses every record */
enum { K = 32 };

static vdb_filter *parsed[NFILTERS];
static char out_path[256];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	vdb_set_threads(1);
	fuzz_path(out_path, sizeof out_path, "out.vdb");
	for (size_t i = 0; i < NFILTERS; i++)
		if (vdb_filter_parse(&parsed[i], filters[i]))
			abort();
	return 0;
}

/* The filtered search of ix against the filter on each row's metadata. */
static void check_filter(const vdb_index *ix, const vdb_filter *f, const char *text,
                         const float *q)
{
	size_t count = vdb_index_count(ix), want = 0, len;
	for (size_t i = 0; i < count; i++) {
		const char *m = vdb_index_meta_json(ix, (int64_t)i, &len);
		want += vdb_filter_match_json(f, m, m ? len : 0) != 0;
	}
	vdb_search_opts o;
	vdb_search_opts_init(&o);
	o.k = K;
	o.filter = f;
	int64_t ids[K];
	float dist[K];
	if (vdb_index_search(ix, q, 1, &o, ids, dist))
		fuzz_report("a filtered search of a flat index failed: %s (filter %s)",
		            vdb_last_error(), text);
	size_t got = 0;
	for (; got < K && ids[got] >= 0; got++) {
		const char *m = vdb_index_meta_json(ix, ids[got], &len);
		if ((size_t)ids[got] >= count || !vdb_filter_match_json(f, m, m ? len : 0))
			fuzz_report("filter %s: a search returned row %lld, whose metadata does not "
			            "match: %.*s", text, (long long)ids[got], m ? (int)(len > 300 ? 300 : len) : 4,
			            m ? m : "none");
	}
	if (got != (want < K ? want : K))
		fuzz_report("filter %s: a search of k %d returned %zu rows; %zu match", text, K, got,
		            want);
}

/* vdb-build of the records read (taken from v), then vdb-query. */
static void build(vdb_vecs *v)
{
	vdb_build_opts o;
	vdb_build_opts_init(&o);
	o.metric = v->binary ? VDB_METRIC_HAMMING : VDB_METRIC_L2;
	uint32_t d = v->dim;
	vdb_index *ix;
	if (vdb_index_build(&ix, v, &o))
		return;
	vdb_status s = vdb_index_save(ix, out_path);
	vdb_index_close(ix);
	if (s)
		return;
	ix = fuzz_check_written(out_path, "a flat index built from JSONL");
	float *q = calloc(d ? d : 1, sizeof *q);
	if (!q)
		abort();
	for (size_t i = 0; vdb_index_count(ix) <= CHECK_ROWS && i < NFILTERS; i++)
		check_filter(ix, parsed[i], filters[i], q);
	free(q);
	vdb_index_close(ix);
	unlink(out_path);
}

/* vdb-query's reading: a record with a text and no vector is a text query,
 * a row of zeros marked in novec that holds its text. */
static void read_queries(const char *path, int binary)
{
	vdb_vecs v;
	vdb_vecs_init(&v);
	v.binary = binary;
	v.dim = binary ? 64 : 4;
	v.allow_text_only = 1;
	if (fuzz_read_into(path, VDB_FMT_JSONL, &v) == VDB_OK)
		for (size_t i = 0; v.novec && i < v.n; i++) {
			if (!v.novec[i])
				continue;
			const unsigned char *row = (const unsigned char *)v.data + i * vdb_vecs_row_bytes(&v);
			for (size_t b = 0; b < vdb_vecs_row_bytes(&v); b++)
				if (row[b])
					fuzz_report("text query %zu: its row is not zeros", i);
			if (!v.text_off || v.text_buf[v.text_off[i]] != '"')
				fuzz_report("text query %zu has no text", i);
		}
	vdb_vecs_free(&v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	const char *path = fuzz_file(data, n, ".jsonl");
	for (int binary = 0; binary < 2; binary++) {
		vdb_vecs v;
		vdb_vecs_init(&v);
		v.binary = binary;
		if (fuzz_read_into(path, VDB_FMT_JSONL, &v) == VDB_OK && v.n)
			build(&v);
		vdb_vecs_free(&v);
		read_queries(path, binary);
	}
	return 0;
}
