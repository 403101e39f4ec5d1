/*
 * fuzz_index — every command on a crafted index file, of every type.
 *
 * A mutated file would almost never get past the header's checksum, so
 * before opening it the harness recomputes every checksum the section table
 * names and then the header's: the fuzzer plays a crafted file with valid
 * checksums, which only structural validation can stop. (Random damage
 * without valid checksums is tests/corrupt.bats's.) index_mutator.c
 * mutates the header's and sections' fields as such a file's author would.
 *
 * What opens goes through what the commands do with it, by the library
 * calls they make: vdb-query --verify, --info, a search written as JSONL
 * (and TSV) results, a filtered search, text searches (--text, with and
 * without a filter) of an index with a lexical index, --get of the first
 * and last ids;
 * vdb-build --append and --upsert of a few new records, --compact, and
 * --delete of one or two ids followed by a --compact of what it wrote, each
 * saved as vdb-build saves. The harness reports (fuzz_report: an abort,
 * which libFuzzer keeps as a crash) when
 *   - a file written by any of these does not open or fails verify (nothing
 *     may write what its own --verify rejects, whatever it was given);
 *   - a search returns a row that is out of range or deleted;
 *   - for an index that passes verify: the JSONL results are not one JSON
 *     object per query with as many ids as distances, or a query's results
 *     name a row twice.
 * Sanitizer reports (ASan, UBSan, leaks) and timeouts are crashes too.
 */
#include "fuzz.h"
#include "index_layout.h"
#include <jansson.h>

enum { NQ = 2, K = 5, NEW = 3 };
#define MAX_COUNT 65536u /* larger counts are opened and verified only */
#define MAX_DIM 4096u

typedef struct {
	vdb_index *ix;
	const char *what;     /* the command it came from, for reports */
	int verified;         /* the input passed vdb_index_verify */
	char verify_msg[512];
	uint8_t variant;      /* from the input's last byte: which records to add */
	float *q;             /* NQ queries (codes for hamming) */
} fz_run;

static char out_path[256], out2_path[256];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	vdb_set_threads(1); /* reproducible, and fair to the machine */
	fuzz_path(out_path, sizeof out_path, "out.vdb");
	fuzz_path(out2_path, sizeof out2_path, "out2.vdb");
	return 0;
}

/* ===== Reading commands ===== */
/* The JSONL lines of one query's results: one object, "query" qno, as many
 * ids as distances (and metadata, texts: strings or null), nothing after
 * the line. */
static void check_jsonl(const fz_run *r, const char *text, size_t len, size_t qno)
{
	const char *nl = memchr(text, '\n', len);
	if (!nl || (size_t)(nl - text) + 1 != len)
		fuzz_report("%s: query %zu's JSONL results are not one line: %.*s", r->what, qno,
		            (int)(len > 400 ? 400 : len), text);
	json_error_t err;
	json_t *j = json_loadb(text, len, 0, &err);
	if (!j || !json_is_object(j))
		fuzz_report("%s: query %zu's JSONL results are not a JSON object (%s): %.*s", r->what,
		            qno, err.text, (int)(len > 400 ? 400 : len), text);
	json_t *q = json_object_get(j, "query"), *ids = json_object_get(j, "ids"),
	       *d = json_object_get(j, "distances"), *m = json_object_get(j, "metadata"),
	       *t = json_object_get(j, "text"), *e;
	size_t i;
	int texts_ok = 1;
	json_array_foreach(t, i, e)
		texts_ok &= json_is_string(e) || json_is_null(e);
	if (!json_is_integer(q) || (size_t)json_integer_value(q) != qno || !json_is_array(ids) ||
	    !json_is_array(d) || json_array_size(ids) != json_array_size(d) ||
	    (m && json_array_size(m) != json_array_size(ids)) ||
	    (t && json_array_size(t) != json_array_size(ids)) || !texts_ok ||
	    json_object_size(j) != 3u + !!m + !!t)
		fuzz_report("%s: query %zu's JSONL results do not say what the search found: %.*s",
		            r->what, qno, (int)(len > 400 ? 400 : len), text);
	json_decref(j);
}

/* What a search returned: rows in range and live; for a verified index, no
 * row twice in one query's results. */
static void check_rows(const fz_run *r, const int64_t *ids, const char *how)
{
	size_t count = vdb_index_count(r->ix);
	for (int i = 0; i < NQ; i++)
		for (int j = 0; j < K; j++) {
			int64_t row = ids[i * K + j];
			if (row < 0)
				continue;
			if ((uint64_t)row >= count || !vdb_index_is_live(r->ix, row))
				fuzz_report("%s: %s returned row %lld of %zu (%s)", r->what, how,
				            (long long)row, count,
				            (uint64_t)row >= count ? "out of range" : "deleted");
			for (int k = 0; r->verified && k < j; k++)
				if (ids[i * K + k] == row)
					fuzz_report("%s: %s returned row %lld twice for one query", r->what, how,
					            (long long)row);
		}
}

/* vdb-query: a search, its results written as JSONL and TSV (with
 * metadata when the index has it), then a filtered search. */
static void query(const fz_run *r)
{
	const vdb_index *ix = r->ix;
	int64_t ids[NQ * K];
	float dist[NQ * K];
	vdb_search_opts o;
	vdb_search_opts_init(&o);
	o.k = K;
	vdb_search_opts_set(&o, "ef", 16);
	vdb_search_opts_set(&o, "nprobe", 3);
	vdb_search_opts_set(&o, "probes", 2);
	unsigned include = (vdb_index_has_meta(ix) ? VDB_INCLUDE_META : 0) |
	                   (vdb_index_has_text(ix) ? VDB_INCLUDE_TEXT : 0);
	if (vdb_index_search_set(&ix, 1, r->q, NQ, &o, ids, dist) == VDB_OK) {
		check_rows(r, ids, "a search");
		for (size_t i = 0; i < NQ; i++) {
			char *text = NULL;
			size_t len = 0;
			FILE *f = open_memstream(&text, &len);
			if (!f)
				abort();
			vdb_status s = vdb_write_result_set(f, VDB_OUT_JSONL, &ix, 1, i, ids + i * K,
			                                    dist + i * K, K, include);
			fclose(f);
			if (s == VDB_OK && r->verified)
				check_jsonl(r, text, len, i);
			free(text);
			f = open_memstream(&text, &len);
			if (!f)
				abort();
			(void)vdb_write_result_set(f, VDB_OUT_TSV, &ix, 1, i, ids + i * K, dist + i * K, K,
			                           include);
			fclose(f);
			free(text);
		}
	}
	static vdb_filter *filter;
	if (!filter && vdb_filter_parse(&filter, "(n.t == \"a\" || tags contains \"x\") && "
	                                         "(v > 1 || !exists(v)) && b != true") != VDB_OK)
		abort();
	o.filter = filter;
	if (vdb_index_search(ix, r->q, NQ, &o, ids, dist) == VDB_OK)
		check_rows(r, ids, "a filtered search");
	if (!vdb_index_has_lexical(ix))
		return;
	/* vdb-query --text: words of the seeds' texts, a term twice */
	static const char *const texts[NQ] = { "r3 caf\u00e9 q q line", "back slash r1 zz" };
	const size_t lens[NQ] = { strlen(texts[0]), strlen(texts[1]) };
	o.filter = NULL;
	if (vdb_index_search_text(ix, texts, lens, NQ, &o, ids, dist) == VDB_OK)
		check_rows(r, ids, "a text search");
	o.filter = filter;
	o.k1 = 0.5f, o.b = 1;
	if (vdb_index_search_text(ix, texts, lens, NQ, &o, ids, dist) == VDB_OK)
		check_rows(r, ids, "a filtered text search");
}

/* vdb-query --get of an id: its row, its record as --get and --dump write
 * it, its vector, id and metadata. */
static void get_one(const vdb_index *ix, const char *id, float *v)
{
	int64_t row = vdb_index_find_id(ix, id);
	size_t len;
	FILE *sink = row < 0 ? NULL : fopen("/dev/null", "w");
	if (sink) {
		(void)vdb_write_record(sink, ix, row);
		fclose(sink);
	}
	if (row < 0 || vdb_index_row_vector(ix, row, v))
		return;
	(void)vdb_index_id_json(ix, row, &len);
	(void)vdb_index_meta_json(ix, row, &len);
	(void)vdb_index_text_json(ix, row, &len);
	(void)vdb_index_embedder(ix);
}

/* --get of the first and last rows' ids (as the user would type them: a
 * string id's text, an integer's digits, or the row number). */
static void get(const fz_run *r)
{
	const vdb_index *ix = r->ix;
	size_t count = vdb_index_count(ix);
	float *v = malloc((size_t)vdb_index_dim(ix) * sizeof *v);
	if (!v)
		abort();
	size_t rows[2] = { 0, count ? count - 1 : 0 };
	for (int i = 0; i < 2 && count; i++) {
		char key[64];
		size_t len;
		const char *t = vdb_index_id_json(ix, (int64_t)rows[i], &len);
		if (!t)
			snprintf(key, sizeof key, "%zu", rows[i]);
		else if (len >= 2 && t[0] == '"' && len - 2 < sizeof key)
			snprintf(key, sizeof key, "%.*s", (int)(len - 2), t + 1);
		else
			snprintf(key, sizeof key, "%.*s", (int)(len < sizeof key ? len : sizeof key - 1), t);
		get_one(ix, key, v);
	}
	get_one(ix, "r3", v);
	free(v);
}

/* ===== Writing commands ===== */
/* A written file must open and verify; it is then searched once. */
static void check_saved(const fz_run *r, const char *path, const char *what)
{
	char name[700];
	if (r->verified)
		snprintf(name, sizeof name, "%s (of an input that passed verify)", what);
	else
		snprintf(name, sizeof name, "%s (of an input that failed verify: %s)", what,
		         r->verify_msg);
	vdb_index *o = fuzz_check_written(path, name);
	fz_run w = *r;
	w.ix = o;
	w.what = what;
	w.verified = 1;
	query(&w);
	vdb_index_close(o);
}

/* vdb_index_save of a changed index (vdb-build's last step), checked. */
static void save_checked(const fz_run *r, const vdb_index *ix, const char *path, const char *what)
{
	if (vdb_index_save(ix, path) == VDB_OK)
		check_saved(r, path, what);
	unlink(path);
}

/* n JSON texts as a vdb_vecs column. */
static void set_column(vdb_texts *c, const char *const *t, size_t n)
{
	size_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += strlen(t[i]);
	c->buf = malloc(total ? total : 1);
	c->off = malloc((n + 1) * sizeof *c->off);
	if (!c->buf || !c->off)
		abort();
	c->off[0] = 0;
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(t[i]);
		memcpy(c->buf + c->off[i], t[i], l);
		c->off[i + 1] = c->off[i] + l;
	}
	c->len = c->cap = total;
	c->ocap = n + 1;
}

/* NEW records of the index's dimension, as a reader gives them: floats
 * (or packed bits for hamming), with ids and metadata as variant says.
 * An upsert's records always have ids: the first row's own (replacing it)
 * and new ones. */
static void new_records(const fz_run *r, vdb_vecs *v, int upsert)
{
	const vdb_index *ix = r->ix;
	vdb_vecs_init(v);
	v->dim = vdb_index_dim(ix);
	v->binary = vdb_index_metric(ix) == VDB_METRIC_HAMMING;
	v->n = v->cap = NEW;
	size_t row = vdb_vecs_row_bytes(v);
	v->data = calloc(NEW, row ? row : 1);
	if (!v->data)
		abort();
	for (size_t i = 0; i < NEW * (row / sizeof(float)); i++)
		v->data[i] = (float)((i * 7 + r->variant) % 11) - 5;
	if (v->binary)
		for (size_t i = 0; i < NEW * row; i++)
			((uint8_t *)v->data)[i] = (uint8_t)(i * 37 + r->variant);
	if (upsert || (r->variant & 1)) {
		char first[72] = "0";
		size_t len;
		const char *t = vdb_index_id_json(ix, 0, &len);
		if (t && len < sizeof first)
			snprintf(first, sizeof first, "%.*s", (int)len, t);
		const char *ids[NEW] = { upsert ? first : "\"fz-0\"", "\"fz-new\"", "17" };
		set_column(&v->col[VDB_COL_ID], ids, NEW);
	}
	if (r->variant & 2) {
		const char *meta[NEW] = { "{\"v\":7,\"n\":{\"t\":\"a\"},\"tags\":[\"x\"],\"b\":false}",
		                          "null", "{\"v\":1.5}" };
		set_column(&v->col[VDB_COL_META], meta, NEW);
	}
	if (r->variant & 4) {
		const char *text[NEW] = { "\"caf\u00e9\\n\\\"q\\\"\"", "null", "\"\"" };
		set_column(&v->col[VDB_COL_TEXT], text, NEW);
	}
	/* the index's embedder identity (an append is refused without it), or
	 * with variant bit 3 none */
	const char *e = vdb_index_embedder(ix);
	if (e && !(r->variant & 8) && !(v->embedder = strdup(e)))
		abort();
}

/* vdb-build --append and --upsert of NEW records; --compact. */
static void grow_and_compact(const fz_run *r)
{
	vdb_build_opts bo;
	vdb_build_opts_init(&bo);
	vdb_index *c;
	vdb_vecs v;
	new_records(r, &v, 0);
	if (vdb_index_append(&c, r->ix, &v, &bo) == VDB_OK) {
		save_checked(r, c, out_path, "--append");
		vdb_index_close(c);
	}
	vdb_vecs_free(&v);
	size_t replaced;
	new_records(r, &v, 1);
	if (vdb_index_upsert(&c, r->ix, &v, &bo, &replaced) == VDB_OK) {
		save_checked(r, c, out_path, "--upsert");
		vdb_index_close(c);
	}
	vdb_vecs_free(&v);
	if (vdb_index_compact(&c, r->ix, &bo) == VDB_OK) {
		save_checked(r, c, out_path, "--compact");
		vdb_index_close(c);
	}
}

/* vdb-build --delete of the first and last rows' ids, read as the command
 * reads them (one per line: the id's JSON text, or the row number), then
 * --compact of the file that wrote. Changes r->ix: the last step. */
static void delete_and_compact(const fz_run *r)
{
	vdb_index *ix = r->ix;
	size_t count = vdb_index_count(ix), len;
	char *text = NULL;
	size_t tlen = 0;
	FILE *f = open_memstream(&text, &tlen);
	if (!f)
		abort();
	size_t rows[2] = { 0, count - 1 };
	for (int i = 0; i < 1 + (r->variant & 1); i++) {
		const char *t = vdb_index_id_json(ix, (int64_t)rows[i], &len);
		if (t)
			fprintf(f, "%.*s\n", (int)len, t);
		else
			fprintf(f, "%zu\n", rows[i]);
	}
	fclose(f);
	vdb_idlist ids;
	vdb_idlist_init(&ids);
	f = fmemopen(text, tlen, "r");
	if (!f)
		abort();
	vdb_status s = vdb_idlist_read(&ids, f, "ids");
	fclose(f);
	free(text);
	size_t deleted, missing;
	if (!s && vdb_index_delete(ix, &ids, &deleted, &missing) == VDB_OK && deleted &&
	    vdb_index_save(ix, out_path) == VDB_OK) {
		check_saved(r, out_path, "--delete");
		vdb_index *d, *c;
		vdb_build_opts bo;
		vdb_build_opts_init(&bo);
		if (vdb_index_open(&d, out_path) == VDB_OK) {
			if (vdb_index_compact(&c, d, &bo) == VDB_OK) {
				save_checked(r, c, out2_path, "--compact after --delete");
				vdb_index_close(c);
			}
			vdb_index_close(d);
		}
	}
	unlink(out_path);
	vdb_idlist_free(&ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	uint8_t *b = malloc(n ? n : 1);
	if (!b)
		return 0;
	memcpy(b, data, n);
	fz_fix_checksums(b, n);
	const char *path = fuzz_file(b, n, ".vdb");
	free(b);
	fz_run r = { .what = "the input", .variant = n ? data[n - 1] : 0 };
	vdb_status s = vdb_index_open(&r.ix, path);
	unlink(path); /* the mapping stays: nothing is left behind by a crash */
	if (s)
		return 0;
	r.verified = vdb_index_verify(r.ix) == VDB_OK;
	if (!r.verified)
		snprintf(r.verify_msg, sizeof r.verify_msg, "%s", vdb_last_error());
	free(vdb_index_info_json(r.ix));
	uint32_t d = vdb_index_dim(r.ix);
	size_t count = vdb_index_count(r.ix);
	if (d <= MAX_DIM && count <= MAX_COUNT && (r.q = malloc((size_t)NQ * d * sizeof *r.q))) {
		for (size_t i = 0; i < (size_t)NQ * d; i++)
			r.q[i] = (float)((i * 7919) % 13) - 6;
		query(&r);
		get(&r);
		grow_and_compact(&r);
		if (count)
			delete_and_compact(&r);
		free(r.q);
	}
	vdb_index_close(r.ix);
	return 0;
}
