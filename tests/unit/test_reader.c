/* test_reader.c — the streaming readers: round trips, detection (also on a
 * pipe), batches, ids and metadata, and every error naming input and record. */
#include "tap.h"
#include "vdb.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];

static const char *put(const char *name, const void *data, size_t len)
{
	static char path[8][160];
	static int slot;
	char *p = path[slot++ % 8];
	snprintf(p, 160, "%s/%s", dir, name);
	FILE *f = fopen(p, "wb");
	fwrite(data, 1, len, f);
	fclose(f);
	return p;
}

/* n records of dimension d, values i*d+j (+0.5), as fvecs in buf */
static size_t make_fvecs(unsigned char *buf, int n, int d)
{
	size_t o = 0;
	for (int i = 0; i < n; i++) {
		memcpy(buf + o, &d, 4), o += 4;
		for (int j = 0; j < d; j++) {
			float x = (float)(i * d + j) + 0.5f;
			memcpy(buf + o, &x, 4), o += 4;
		}
	}
	return o;
}

static vdb_status read_all(const char *path, vdb_format f, vdb_vecs *v)
{
	vdb_reader *r;
	vdb_status s = vdb_reader_open(&r, path, f);
	if (s)
		return s;
	size_t got;
	do
		s = vdb_reader_read(r, v, 0, &got);
	while (!s && got);
	vdb_reader_close(r);
	return s;
}

/* expect status st and a message containing every string given */
static void expect_error(const char *label, const char *data, size_t len, const char *name,
                         vdb_format f, vdb_status st, const char *m1, const char *m2)
{
	const char *p = put(name, data, len);
	vdb_vecs v;
	vdb_vecs_init(&v);
	vdb_status s = read_all(p, f, &v);
	const char *msg = vdb_last_error();
	ok(s == st && strstr(msg, name) && (!m1 || strstr(msg, m1)) && (!m2 || strstr(msg, m2)),
	   "%s: status %d, message: %s", label, s, msg);
	vdb_vecs_free(&v);
}

int main(void)
{
	strcpy(dir, "/tmp/vdb-test-reader.XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	unsigned char buf[1 << 16];
	vdb_vecs v;

	/* fvecs round trip */
	size_t len = make_fvecs(buf, 10, 3);
	const char *p = put("a.fvecs", buf, len);
	vdb_vecs_init(&v);
	ok(read_all(p, VDB_FMT_AUTO, &v) == VDB_OK && v.n == 10 && v.dim == 3 &&
	   v.data[0] == 0.5f && v.data[29] == 29.5f && !v.id_off && !v.meta_off,
	   "fvecs round-trips 10 x 3");
	vdb_vecs_free(&v);

	/* batches of 3 from 10: 3, 3, 3, 1, 0 */
	vdb_reader *r;
	size_t got, seq[5];
	vdb_reader_open(&r, p, VDB_FMT_AUTO);
	vdb_vecs_init(&v);
	for (int i = 0; i < 5; i++) {
		vdb_vecs_clear(&v);
		vdb_reader_read(r, &v, 3, &got);
		seq[i] = got;
	}
	ok(seq[0] == 3 && seq[1] == 3 && seq[2] == 3 && seq[3] == 1 && seq[4] == 0 &&
	   vdb_reader_records(r) == 10, "batched reads give 3,3,3,1,0");
	vdb_reader_close(r);
	vdb_vecs_free(&v);

	/* bvecs and ivecs become floats */
	unsigned char bv[] = { 2, 0, 0, 0, 7, 255, 2, 0, 0, 0, 0, 1 };
	vdb_vecs_init(&v);
	ok(read_all(put("b.bvecs", bv, sizeof bv), VDB_FMT_AUTO, &v) == VDB_OK && v.n == 2 &&
	   v.data[1] == 255.0f && v.data[3] == 1.0f, "bvecs by extension");
	vdb_vecs_free(&v);
	int32_t iv[] = { 2, -5, 7 };
	vdb_vecs_init(&v);
	ok(read_all(put("c.ivecs", iv, sizeof iv), VDB_FMT_AUTO, &v) == VDB_OK &&
	   v.data[0] == -5.0f && v.data[1] == 7.0f, "ivecs by extension");
	vdb_vecs_free(&v);
	int32_t *gt;
	size_t rows, width;
	int32_t g2[] = { 2, 1, 2, 2, 3, 4 };
	ok(vdb_ivecs_load(put("g.ivecs", g2, sizeof g2), &gt, &rows, &width) == VDB_OK &&
	   rows == 2 && width == 2 && gt[3] == 4, "ivecs loads as int32 rows");
	free(gt);
	int32_t g3[] = { 2, 1, 2, 1, 3 };
	ok(vdb_ivecs_load(put("g3.ivecs", g3, sizeof g3), &gt, &rows, &width) == VDB_EFORMAT,
	   "ivecs rows of different widths are refused");

	/* JSONL: ids verbatim, sparse metadata, detection after blanks */
	const char *jl = "\n  {\"id\": \"doc-7\", \"vector\": [1, 2.5], \"metadata\": {\"b\": 1, \"a\": [true]}}\n"
	                 "{\"id\": 42, \"vector\": [-1e-3, 4]}\r\n"
	                 "\n"
	                 "{\"vector\": [0, 0], \"id\": \"x\\\"y\"}";
	vdb_vecs_init(&v);
	vdb_status s = read_all(put("d.data", jl, strlen(jl)), VDB_FMT_AUTO, &v);
	ok(s == VDB_OK && v.n == 3 && v.dim == 2 && v.data[1] == 2.5f && v.data[2] == -1e-3f,
	   "JSONL detected from '{' and read (%s)", vdb_last_error());
	ok(v.id_off && v.id_off[3] == v.id_len &&
	   !strncmp(v.id_buf, "\"doc-7\"42\"x\\\"y\"", v.id_len), "ids kept as JSON text: %.*s",
	   (int)v.id_len, v.id_buf);
	ok(v.meta_off && !strncmp(v.meta_buf, "{\"b\":1,\"a\":[true]}nullnull", v.meta_len),
	   "metadata kept in order, null where absent: %.*s", (int)v.meta_len, v.meta_buf);
	vdb_vecs_free(&v);

	/* JSONL texts: escaped JSON strings, null where absent; the embedder's
	 * identity canonical, one for the set */
	const char *tl = "{\"vector\": [1, 2]}\n"
	                 "{\"vector\": [3, 4], \"text\": \"a\\n\\\"b\\\"\\u00e9\"}\n";
	vdb_vecs_init(&v);
	s = read_all(put("t.jsonl", tl, strlen(tl)), VDB_FMT_JSONL, &v);
	ok(s == VDB_OK && v.text_off && v.col[VDB_COL_TEXT].off == v.text_off &&
	   v.text_off[2] == v.text_len &&
	   !strncmp(v.text_buf, "null\"a\\n\\\"b\\\"\xc3\xa9\"", v.text_len) && !v.embedder,
	   "texts kept as JSON strings, null where absent: %.*s", (int)v.text_len, v.text_buf);
	vdb_vecs_free(&v);
	const char *el = "{\"vector\": [1, 2], \"embedder\": {\"dim\": 2, \"xxh3\": \"00000000000000aa\", "
	                 "\"name\": \"m\", \"kind\": \"vec\", \"extra\": 1}}\n"
	                 "{\"vector\": [3, 4]}\n";
	vdb_vecs_init(&v);
	s = read_all(put("e.jsonl", el, strlen(el)), VDB_FMT_JSONL, &v);
	ok(s == VDB_EFORMAT && v.embedder &&
	   !strcmp(v.embedder, "{\"kind\":\"vec\",\"name\":\"m\",\"xxh3\":\"00000000000000aa\",\"dim\":2}"),
	   "an embedder identity kept canonical (%s); a record without one after it refused: %s",
	   v.embedder ? v.embedder : "none", vdb_last_error());
	vdb_vecs_free(&v);

	/* a long JSONL line (dimension 4096) */
	char *big = malloc(4096 * 8 + 64);
	size_t o = (size_t)sprintf(big, "{\"vector\": [");
	for (int i = 0; i < 4096; i++)
		o += (size_t)sprintf(big + o, i ? ",%d" : "%d", i % 10);
	o += (size_t)sprintf(big + o, "]}\n");
	vdb_vecs_init(&v);
	ok(read_all(put("big.jsonl", big, o), VDB_FMT_AUTO, &v) == VDB_OK && v.dim == 4096 &&
	   v.data[4095] == 5.0f, "a 4096-dimensional JSONL line");
	vdb_vecs_free(&v);
	free(big);

	/* reading from a pipe on stdin: detection without seeking, partial batches */
	int fds[2];
	if (pipe(fds) == 0) {
		int saved = dup(0);
		dup2(fds[0], 0);
		close(fds[0]);
		len = make_fvecs(buf, 2, 4);
		ok(write(fds[1], buf, len) == (ssize_t)len, "wrote 2 records into a pipe");
		vdb_reader_open(&r, "-", VDB_FMT_AUTO);
		vdb_vecs_init(&v);
		s = vdb_reader_read(r, &v, 100, &got);
		ok(s == VDB_OK && got == 2 && vdb_reader_format(r) == VDB_FMT_FVECS &&
		   !strcmp(vdb_reader_name(r), "stdin"),
		   "a batch returns what a quiet pipe holds instead of waiting (got %zu)", got);
		close(fds[1]);
		s = vdb_reader_read(r, &v, 100, &got);
		ok(s == VDB_OK && got == 0, "then end of input");
		vdb_reader_close(r);
		vdb_vecs_free(&v);
		dup2(saved, 0);
		close(saved);
	}

	/* errors: status and a message naming the input and the record */
	len = make_fvecs(buf, 3, 4);
	expect_error("truncated body", (char *)buf, len - 6, "t1.fvecs", VDB_FMT_AUTO, VDB_EFORMAT,
	             "record 2", "truncated");
	expect_error("truncated dimension", (char *)buf, 2, "t2.fvecs", VDB_FMT_AUTO, VDB_EFORMAT,
	             "record 0", "truncated");
	size_t l1 = make_fvecs(buf, 1, 4);
	size_t l2 = make_fvecs(buf + l1, 1, 3);
	expect_error("dimension change", (char *)buf, l1 + l2, "dc.fvecs", VDB_FMT_AUTO,
	             VDB_EFORMAT, "record 1", "dimension 3");
	float nanrec[] = { 0, 1, 2, 0 };
	int32_t three = 3;
	memcpy(&nanrec[0], &three, 4);
	nanrec[2] = 0.0f / 0.0f;
	expect_error("NaN", (char *)nanrec, sizeof nanrec, "nan.fvecs", VDB_FMT_AUTO, VDB_EFORMAT,
	             "record 0", "NaN");
	nanrec[2] = 1.0f / 0.0f;
	expect_error("Inf", (char *)nanrec, sizeof nanrec, "inf.fvecs", VDB_FMT_AUTO, VDB_EFORMAT,
	             "value 1", "infinite");
	int32_t zero = 0, huge = 70000;
	expect_error("dimension 0", (char *)&zero, 4, "z.fvecs", VDB_FMT_AUTO, VDB_EFORMAT,
	             "dimension 0", "65536");
	expect_error("dimension too big", (char *)&huge, 4, "h.fvecs", VDB_FMT_AUTO, VDB_EFORMAT,
	             "70000", NULL);
	expect_error("empty", "", 0, "e.fvecs", VDB_FMT_AUTO, VDB_EFORMAT, "no vectors", NULL);
	expect_error("malformed JSON", "{\"vector\": [1]}\n{\"vector\": [1,]}\n", 32, "m.jsonl",
	             VDB_FMT_AUTO, VDB_EFORMAT, "line 2", "record 1");
	expect_error("string in vector", "{\"vector\": [1, \"x\"]}\n", 21, "s.jsonl", VDB_FMT_AUTO,
	             VDB_EFORMAT, "vector[1]", "not a number");
	expect_error("float overflow", "{\"vector\": [1e39]}\n", 19, "o.jsonl", VDB_FMT_AUTO,
	             VDB_EFORMAT, "vector[0]", "float range");
	expect_error("missing vector", "{\"id\": 1}\n", 10, "mv.jsonl", VDB_FMT_AUTO, VDB_EFORMAT,
	             "line 1", "\"vector\" is missing");
	expect_error("ids on some records only", "{\"id\": 1, \"vector\": [1]}\n{\"vector\": [2]}\n",
	             41, "ids.jsonl", VDB_FMT_AUTO, VDB_EFORMAT, "record 1", "no id");
	expect_error("bad id type", "{\"id\": 1.5, \"vector\": [1]}\n", 27, "bid.jsonl",
	             VDB_FMT_AUTO, VDB_EFORMAT, "\"id\"", NULL);
	expect_error("JSONL dimension change", "{\"vector\": [1, 2]}\n{\"vector\": [1]}\n", 35,
	             "jd.jsonl", VDB_FMT_AUTO, VDB_EFORMAT, "line 2", "dimension 1");
	vdb_vecs_init(&v);
	char missing[128];
	snprintf(missing, sizeof missing, "%s/nope.fvecs", dir);
	ok(read_all(missing, VDB_FMT_AUTO, &v) == VDB_ENOENT && strstr(vdb_last_error(), "nope.fvecs"),
	   "a missing file is ENOENT naming it");
	/* a preset dimension (queries against an index) is checked */
	v.dim = 5;
	len = make_fvecs(buf, 1, 4);
	ok(read_all(put("q.fvecs", buf, len), VDB_FMT_AUTO, &v) == VDB_EFORMAT &&
	   strstr(vdb_last_error(), "expected 5"), "a preset dimension is enforced: %s",
	   vdb_last_error());
	vdb_vecs_free(&v);
	vdb_format f;
	ok(vdb_format_parse("jsonl", &f) == VDB_OK && f == VDB_FMT_JSONL &&
	   vdb_format_parse("yaml", &f) == VDB_EINVAL, "format names parse");

	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		diag("could not clean %s", dir);
	return done_testing();
}
