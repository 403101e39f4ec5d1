/*
 * irmetrics.c — relevance judgments (TREC qrels) and the IR metrics of
 * ranked lists against them: nDCG@k, MRR@k, recall@k, precision@k, as
 * trec_eval computes them (vdb-eval qrels; the fusion sweep).
 *
 * The judgments are two hash tables over one string arena: the queries,
 * keyed by their id, numbered in the order the file first names them; and
 * the judgments, keyed by (query number, document id). A query's positive
 * gains are kept sorted, descending, for its ideal DCG.
 *
 * Conventions that trec_eval has and a reader might not expect (see the
 * formulas in vdb.h and vdb-eval(1)): precision@k divides by k even when
 * fewer documents came back; a judged query without a list scores 0 (its
 * -c option); a query whose judgments name no relevant document is not
 * counted; a document judged with REL <= 0 is not relevant and gains 0.
 * Unlike trec_eval the list's order is the ranking (vdb-query writes its
 * lists best first; trec_eval re-sorts by score and breaks ties by docno).
 */
#include "jsonout.h"
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

/* ===== A string-keyed hash table (open addressing) ===== */
typedef struct {
	uint64_t hash;
	size_t key, len; /* the key: arena bytes [key, key + len), NUL-terminated */
	size_t q;        /* judgments: the query's number; else 0 */
	int64_t val;     /* judgments: REL; queries: unused; answers: where's offset */
	size_t line;     /* the line that named it first */
} entry;

typedef struct {
	char *buf;
	size_t len, cap;
} arena;

typedef struct {
	entry *e;
	size_t n, ecap;
	size_t *slot; /* entry + 1, 0: empty; cap a power of two */
	size_t cap;
} table;

static vdb_status arena_add(arena *a, const char *s, size_t len, size_t *off)
{
	if (vdb_grow((void **)&a->buf, &a->cap, a->len + len + 1, 1, "judgments"))
		return VDB_ENOMEM;
	memcpy(a->buf + a->len, s, len);
	a->buf[a->len + len] = 0;
	*off = a->len;
	a->len += len + 1;
	return VDB_OK;
}

static uint64_t key_hash(const char *s, size_t len, size_t q)
{
	return XXH3_64bits_withSeed(s, len, (uint64_t)q);
}

/* The slot holding (q, key) or the empty slot where it would go. */
static size_t *find(const table *t, const arena *a, size_t q, const char *s, size_t len,
                    uint64_t h)
{
	size_t mask = t->cap - 1;
	for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
		size_t *sl = &t->slot[i];
		if (!*sl)
			return sl;
		const entry *e = &t->e[*sl - 1];
		if (e->hash == h && e->q == q && e->len == len && !memcmp(a->buf + e->key, s, len))
			return sl;
	}
}

/* The entry of (q, key), or NULL. */
static entry *lookup(const table *t, const arena *a, size_t q, const char *s, size_t len)
{
	if (!t->cap)
		return NULL;
	size_t *sl = find(t, a, q, s, len, key_hash(s, len, q));
	return *sl ? &t->e[*sl - 1] : NULL;
}

/* Room for one more entry: at most half the slots full. */
static vdb_status table_room(table *t)
{
	if (vdb_grow((void **)&t->e, &t->ecap, t->n + 1, sizeof *t->e, "judgments"))
		return VDB_ENOMEM;
	if (2 * (t->n + 1) <= t->cap)
		return VDB_OK;
	size_t cap = t->cap ? 2 * t->cap : 64;
	size_t *slot = calloc(cap, sizeof *slot);
	VDB_RETURN_IF(!slot, VDB_ENOMEM, "out of memory for %zu judgments", t->n + 1);
	for (size_t i = 0; i < t->n; i++) {
		size_t j = (size_t)t->e[i].hash & (cap - 1);
		while (slot[j])
			j = (j + 1) & (cap - 1);
		slot[j] = i + 1;
	}
	free(t->slot);
	t->slot = slot, t->cap = cap;
	return VDB_OK;
}

/* (q, key) added if new; *e its entry, *added whether it is new. */
static vdb_status insert(table *t, arena *a, size_t q, const char *s, size_t len, size_t line,
                         entry **e, int *added)
{
	vdb_status st = table_room(t);
	if (st)
		return st;
	uint64_t h = key_hash(s, len, q);
	size_t *sl = find(t, a, q, s, len, h);
	*added = !*sl;
	if (*sl) {
		*e = &t->e[*sl - 1];
		return VDB_OK;
	}
	entry *ne = &t->e[t->n];
	*ne = (entry){ .hash = h, .len = len, .q = q, .line = line };
	if ((st = arena_add(a, s, len, &ne->key)))
		return st;
	*sl = ++t->n;
	*e = ne;
	return VDB_OK;
}

static void table_free(table *t)
{
	free(t->e);
	free(t->slot);
	memset(t, 0, sizeof *t);
}

/* path ("-" or NULL: stdin) opened for reading, *name what messages call
 * it; VDB_ENOENT if it cannot be opened or is a directory. */
static vdb_status open_input(const char *path, FILE **f, const char **name)
{
	int is_stdin = !path || !strcmp(path, "-");
	*name = is_stdin ? "stdin" : path;
	*f = is_stdin ? stdin : fopen(path, "rb");
	if (!*f)
		return vdb_fail(VDB_ENOENT, "%s: cannot open: %s", path, strerror(errno));
	struct stat st;
	if (!is_stdin && !fstat(fileno(*f), &st) && S_ISDIR(st.st_mode)) {
		fclose(*f);
		return vdb_fail(VDB_ENOENT, "%s: cannot open: a directory", path);
	}
	return VDB_OK;
}

static void close_input(FILE *f)
{
	if (f != stdin)
		fclose(f);
}

/* ===== The judgments ===== */
struct vdb_qrels {
	arena a;
	table queries, judged;
	size_t *nrel;     /* per query: relevant documents */
	size_t *g0;       /* per query: its first gain in gains */
	int32_t *gains;   /* per query, its positive RELs, descending */
	size_t ngains;
};

void vdb_qrels_free(vdb_qrels *q)
{
	if (!q)
		return;
	free(q->a.buf);
	table_free(&q->queries);
	table_free(&q->judged);
	free(q->nrel);
	free(q->g0);
	free(q->gains);
	free(q);
}

/* The 4 blank-separated fields of line (cut in place), or their count. */
static int split4(char *line, char **f, size_t *len)
{
	int n = 0;
	char *p = line;
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\v' || *p == '\f' || *p == '\r')
			p++;
		if (!*p)
			return n;
		char *start = p;
		while (*p && *p != ' ' && *p != '\t' && *p != '\v' && *p != '\f' && *p != '\r')
			p++;
		if (n < 4)
			f[n] = start, len[n] = (size_t)(p - start);
		n++;
		if (*p)
			*p++ = 0;
	}
}

static int cmp_gain_desc(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
	return (x < y) - (x > y);
}

/* Per query: the relevant count and the sorted positive gains. */
static vdb_status gather_gains(vdb_qrels *q)
{
	size_t nq = q->queries.n;
	q->nrel = calloc(nq + 1, sizeof *q->nrel);
	q->g0 = calloc(nq + 1, sizeof *q->g0);
	q->gains = malloc((q->judged.n + 1) * sizeof *q->gains);
	VDB_RETURN_IF(!q->nrel || !q->g0 || !q->gains, VDB_ENOMEM,
	              "out of memory for %zu judgments", q->judged.n);
	for (size_t i = 0; i < q->judged.n; i++)
		if (q->judged.e[i].val > 0)
			q->nrel[q->judged.e[i].q]++;
	for (size_t i = 0; i < nq; i++)
		q->g0[i + 1] = q->g0[i] + q->nrel[i];
	size_t *fill = calloc(nq + 1, sizeof *fill);
	VDB_RETURN_IF(!fill, VDB_ENOMEM, "out of memory for %zu judgments", q->judged.n);
	for (size_t i = 0; i < q->judged.n; i++) {
		const entry *e = &q->judged.e[i];
		if (e->val > 0)
			q->gains[q->g0[e->q] + fill[e->q]++] = (int32_t)e->val;
	}
	free(fill);
	for (size_t i = 0; i < nq; i++)
		qsort(q->gains + q->g0[i], q->nrel[i], sizeof *q->gains, cmp_gain_desc);
	q->ngains = q->g0[nq];
	return VDB_OK;
}

/* One qrels line (NUL-terminated, its line end cut) of file name. */
static vdb_status qrels_line(vdb_qrels *q, char *line, const char *name, size_t ln)
{
	char *f[4];
	size_t len[4];
	int n = split4(line, f, len);
	if (!n)
		return VDB_OK;
	VDB_RETURN_IF(n != 4, VDB_EFORMAT, "%s: line %zu: %d field%s, expected 4 (QID ITER DOCID "
	              "REL)", name, ln, n, n == 1 ? "" : "s");
	for (int i = 0; i < 4; i++)
		VDB_RETURN_IF(len[i] > VDB_MAX_QRELS_FIELD, VDB_EFORMAT, "%s: line %zu: field %d "
		              "holds %zu bytes, over the limit of %u (VDB_MAX_QRELS_FIELD)", name, ln,
		              i + 1, len[i], VDB_MAX_QRELS_FIELD);
	char *end;
	errno = 0;
	long long rel = strtoll(f[3], &end, 10);
	VDB_RETURN_IF(*end || end == f[3] || !isdigit((unsigned char)end[-1]), VDB_EFORMAT,
	              "%s: line %zu: REL '%.64s' is not an integer", name, ln, f[3]);
	VDB_RETURN_IF(errno || rel > INT32_MAX || rel < INT32_MIN, VDB_EFORMAT,
	              "%s: line %zu: REL %.64s is out of range (a 32-bit integer)", name, ln, f[3]);
	entry *qe, *je;
	int added;
	vdb_status s = insert(&q->queries, &q->a, 0, f[0], len[0], ln, &qe, &added);
	if (s)
		return s;
	size_t qno = (size_t)(qe - q->queries.e);
	if ((s = insert(&q->judged, &q->a, qno, f[2], len[2], ln, &je, &added)))
		return s;
	VDB_RETURN_IF(!added, VDB_EFORMAT, "%s: line %zu: document %.*s is judged twice for query "
	              "%.*s (also at line %zu)", name, ln, (int)(len[2] > 200 ? 200 : len[2]), f[2],
	              (int)(len[0] > 200 ? 200 : len[0]), f[0], je->line);
	je->val = rel;
	return VDB_OK;
}

vdb_status vdb_qrels_load(vdb_qrels **out, const char *path)
{
	*out = NULL;
	FILE *f;
	const char *name;
	vdb_status s = open_input(path, &f, &name);
	if (s)
		return s;
	vdb_qrels *q = calloc(1, sizeof *q);
	s = q ? VDB_OK : vdb_fail(VDB_ENOMEM, "out of memory for judgments");
	char *line = NULL;
	size_t cap = 0, ln = 0;
	ssize_t len;
	while (!s && (len = getline(&line, &cap, f)) >= 0) {
		ln++;
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = 0;
		if ((size_t)len != strlen(line))
			s = vdb_fail(VDB_EFORMAT, "%s: line %zu: a NUL byte: not a qrels file", name, ln);
		else
			s = qrels_line(q, line, name, ln);
	}
	if (!s && ferror(f))
		s = vdb_fail(VDB_EIO, "%s: read error: %s", name, strerror(errno));
	if (!s && !q->judged.n)
		s = vdb_fail(VDB_EFORMAT, "%s: no judgments (expected lines QID ITER DOCID REL)", name);
	if (!s)
		s = gather_gains(q);
	free(line);
	close_input(f);
	if (s) {
		vdb_qrels_free(q);
		return s;
	}
	*out = q;
	return VDB_OK;
}

/* ===== Scoring ranked lists ===== */
struct vdb_ir_eval {
	const vdb_qrels *q;
	size_t k;
	size_t *counted, ncounted; /* the queries with a relevant document, in order */
	double *idcg;              /* per query */
	vdb_ir_scores *s;          /* per query */
	int *answered;             /* per query */
	arena a;                   /* the answered query ids and where each was */
	table seen;
	struct doc { const char *p; size_t len; } *sorted;
	size_t scap;
};

void vdb_ir_eval_free(vdb_ir_eval *e)
{
	if (!e)
		return;
	free(e->counted);
	free(e->idcg);
	free(e->s);
	free(e->answered);
	free(e->a.buf);
	table_free(&e->seen);
	free(e->sorted);
	free(e);
}

void vdb_ir_eval_reset(vdb_ir_eval *e)
{
	size_t nq = e->q->queries.n;
	memset(e->s, 0, (nq + 1) * sizeof *e->s);
	memset(e->answered, 0, (nq + 1) * sizeof *e->answered);
	e->a.len = 0;
	e->seen.n = 0;
	if (e->seen.cap)
		memset(e->seen.slot, 0, e->seen.cap * sizeof *e->seen.slot);
}

vdb_status vdb_ir_eval_new(vdb_ir_eval **out, const vdb_qrels *q, size_t k)
{
	*out = NULL;
	VDB_RETURN_IF(k == 0 || k > VDB_MAX_K, VDB_EINVAL, "k %zu is out of range (1..%u)", k,
	              VDB_MAX_K);
	size_t nq = q->queries.n;
	vdb_ir_eval *e = calloc(1, sizeof *e);
	VDB_RETURN_IF(!e, VDB_ENOMEM, "out of memory for an evaluation");
	e->q = q, e->k = k;
	e->counted = calloc(nq + 1, sizeof *e->counted);
	e->idcg = calloc(nq + 1, sizeof *e->idcg);
	e->s = calloc(nq + 1, sizeof *e->s);
	e->answered = calloc(nq + 1, sizeof *e->answered);
	if (!e->counted || !e->idcg || !e->s || !e->answered) {
		vdb_ir_eval_free(e);
		return vdb_fail(VDB_ENOMEM, "out of memory for %zu queries", nq);
	}
	for (size_t i = 0; i < nq; i++) {
		if (!q->nrel[i])
			continue;
		e->counted[e->ncounted++] = i;
		const int32_t *g = q->gains + q->g0[i];
		size_t top = q->nrel[i] < k ? q->nrel[i] : k;
		for (size_t j = 0; j < top; j++)
			e->idcg[i] += g[j] / log2((double)j + 2.0);
	}
	*out = e;
	return VDB_OK;
}

static int cmp_doc(const void *a, const void *b)
{
	const struct doc *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->p, y->p, n);
	return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* VDB_EFORMAT if a document is twice in docs[0..n). */
static vdb_status no_repeats(vdb_ir_eval *e, const char *const *docs, const size_t *lens,
                             size_t n, const char *where)
{
	if (vdb_grow((void **)&e->sorted, &e->scap, n, sizeof *e->sorted, "a ranked list"))
		return VDB_ENOMEM;
	for (size_t i = 0; i < n; i++)
		e->sorted[i] = (struct doc){ docs[i], lens[i] };
	qsort(e->sorted, n, sizeof *e->sorted, cmp_doc);
	for (size_t i = 1; i < n; i++)
		VDB_RETURN_IF(!cmp_doc(&e->sorted[i - 1], &e->sorted[i]), VDB_EFORMAT,
		              "%s: document %.*s is twice in one ranked list", where,
		              (int)(e->sorted[i].len > 200 ? 200 : e->sorted[i].len), e->sorted[i].p);
	return VDB_OK;
}

/* The scores of query qno's list. */
static void score(const vdb_ir_eval *e, size_t qno, const char *const *docs, const size_t *lens,
                  size_t n, vdb_ir_scores *out)
{
	const vdb_qrels *q = e->q;
	size_t top = n < e->k ? n : e->k, hits = 0;
	double dcg = 0, rr = 0;
	for (size_t i = 0; i < top; i++) {
		const entry *j = lookup(&q->judged, &q->a, qno, docs[i], lens[i]);
		if (!j || j->val <= 0)
			continue;
		dcg += (double)j->val / log2((double)i + 2.0);
		if (!hits++)
			rr = 1.0 / ((double)i + 1.0);
	}
	out->ndcg = e->idcg[qno] > 0 ? dcg / e->idcg[qno] : 0;
	out->mrr = rr;
	out->recall = q->nrel[qno] ? (double)hits / (double)q->nrel[qno] : 0;
	out->precision = (double)hits / (double)e->k;
}

vdb_status vdb_ir_eval_add(vdb_ir_eval *e, const char *qid, size_t qlen,
                           const char *const *docs, const size_t *lens, size_t n,
                           const char *where)
{
	entry *seen;
	int added;
	vdb_status s = insert(&e->seen, &e->a, 0, qid, qlen, 0, &seen, &added);
	if (s)
		return s;
	if (!added)
		return vdb_fail(VDB_EFORMAT, "%s: query %.*s is answered twice (also at %s)", where,
		                (int)(qlen > 200 ? 200 : qlen), qid, e->a.buf + seen->val);
	size_t off;
	if ((s = arena_add(&e->a, where, strlen(where), &off)))
		return s;
	e->seen.e[e->seen.n - 1].val = (int64_t)off;
	if ((s = no_repeats(e, docs, lens, n, where)))
		return s;
	const entry *qe = lookup(&e->q->queries, &e->q->a, 0, qid, qlen);
	if (!qe)
		return VDB_OK; /* not judged: ignored, as trec_eval does */
	size_t qno = (size_t)(qe - e->q->queries.e);
	e->answered[qno] = 1;
	score(e, qno, docs, lens, n, &e->s[qno]);
	return VDB_OK;
}

size_t vdb_ir_eval_mean(const vdb_ir_eval *e, vdb_ir_scores *mean, size_t *answered)
{
	vdb_ir_scores sum = { 0, 0, 0, 0 };
	size_t got = 0;
	for (size_t i = 0; i < e->ncounted; i++) {
		const vdb_ir_scores *s = &e->s[e->counted[i]];
		sum.ndcg += s->ndcg, sum.mrr += s->mrr;
		sum.recall += s->recall, sum.precision += s->precision;
		got += e->answered[e->counted[i]] != 0;
	}
	double n = e->ncounted ? (double)e->ncounted : 1.0;
	*mean = (vdb_ir_scores){ sum.ndcg / n, sum.mrr / n, sum.recall / n, sum.precision / n };
	if (answered)
		*answered = got;
	return e->ncounted;
}

size_t vdb_ir_eval_k(const vdb_ir_eval *e)
{
	return e->k;
}

/* x rounded to a millionth, as JSON shows it (0.613147, not 0.61314719276). */
static double r6(double x)
{
	return round(x * 1e6) / 1e6;
}

vdb_status vdb_ir_eval_write(FILE *f, const vdb_ir_eval *e, unsigned flags)
{
	vdb_status s = VDB_OK;
	for (size_t i = 0; !s && (flags & VDB_IR_PER_QUERY) && i < e->ncounted; i++) {
		size_t qno = e->counted[i];
		const vdb_ir_scores *r = &e->s[qno];
		s = vdb_json_line(f, json_pack("{s:s, s:b, s:f, s:f, s:f, s:f}", "query_id",
		                            e->q->a.buf + e->q->queries.e[qno].key, "answered",
		                            e->answered[qno], "ndcg", r6(r->ndcg), "mrr", r6(r->mrr),
		                            "recall", r6(r->recall), "precision", r6(r->precision)));
	}
	vdb_ir_scores m;
	size_t answered, n = vdb_ir_eval_mean(e, &m, &answered);
	size_t k = e->k;
	if (s)
		return s;
	if (flags & VDB_IR_JSON)
		s = vdb_json_line(f, json_pack("{s:I, s:I, s:I, s:f, s:f, s:f, s:f}", "k", (json_int_t)k,
		                            "queries", (json_int_t)n, "answered", (json_int_t)answered,
		                            "ndcg", r6(m.ndcg), "mrr", r6(m.mrr), "recall",
		                            r6(m.recall), "precision", r6(m.precision)));
	else
		fprintf(f, "ndcg@%zu: %.4f\nmrr@%zu: %.4f\nrecall@%zu: %.4f\nprecision@%zu: %.4f\n", k,
		        m.ndcg, k, m.mrr, k, m.recall, k, m.precision);
	VDB_RETURN_IF(!s && ferror(f), VDB_EIO, "writing the metrics failed: %s", strerror(errno));
	return s;
}

/* ===== vdb-query JSONL results ===== */

/* A JSON id as text: a string's value, an integer's digits (into num). */
static int id_text(json_t *v, char *num, size_t nsize, const char **p, size_t *len)
{
	if (json_is_string(v)) {
		*p = json_string_value(v), *len = json_string_length(v);
		return 1;
	}
	if (json_is_integer(v)) {
		*len = (size_t)snprintf(num, nsize, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		*p = num;
		return 1;
	}
	return 0;
}

#define NUM 24 /* bytes of an integer id's digits */

/* One result line: its query and its documents added to e. */
static vdb_status result_line(vdb_ir_eval *e, json_t *o, const char *where, char **num,
                              size_t *ncap, const char ***docs, size_t *dcap, size_t **lens,
                              size_t *lcap)
{
	VDB_RETURN_IF(!json_is_object(o), VDB_EFORMAT, "%s: not a JSON object", where);
	json_t *qv = json_object_get(o, "query_id");
	const char *key = "query_id";
	if (!qv)
		qv = json_object_get(o, "query"), key = "query";
	VDB_RETURN_IF(!qv, VDB_EFORMAT, "%s: no \"query_id\" or \"query\" (not a vdb-query "
	              "result line)", where);
	char qnum[NUM];
	const char *qid;
	size_t qlen;
	VDB_RETURN_IF(!id_text(qv, qnum, sizeof qnum, &qid, &qlen) ||
	              (!strcmp(key, "query") && !json_is_integer(qv)), VDB_EFORMAT,
	              "%s: \"%s\" is not %s", where, key,
	              !strcmp(key, "query") ? "a query number" : "a string or an integer");
	json_t *arr = json_object_get(o, "ids");
	VDB_RETURN_IF(!json_is_array(arr), VDB_EFORMAT, "%s: no \"ids\" array", where);
	size_t n = json_array_size(arr);
	if (vdb_grow((void **)num, ncap, n + 1, NUM, where) ||
	    vdb_grow((void **)docs, dcap, n + 1, sizeof **docs, where) ||
	    vdb_grow((void **)lens, lcap, n + 1, sizeof **lens, where))
		return VDB_ENOMEM;
	for (size_t j = 0; j < n; j++)
		VDB_RETURN_IF(!id_text(json_array_get(arr, j), *num + j * NUM, NUM, &(*docs)[j],
		                       &(*lens)[j]), VDB_EFORMAT,
		              "%s: ids[%zu] is not a string or an integer", where, j);
	return vdb_ir_eval_add(e, qid, qlen, *docs, *lens, n, where);
}

vdb_status vdb_ir_eval_results(vdb_ir_eval *e, const char *path)
{
	FILE *f;
	const char *name;
	vdb_status s = open_input(path, &f, &name);
	if (s)
		return s;
	char *line = NULL, *num = NULL;
	const char **docs = NULL;
	size_t *lens = NULL;
	size_t cap = 0, ncap = 0, dcap = 0, lcap = 0, ln = 0, lines = 0;
	ssize_t len;
	while (!s && (len = getline(&line, &cap, f)) > 0) {
		ln++;
		size_t i = 0;
		while (i < (size_t)len && isspace((unsigned char)line[i]))
			i++;
		if (i == (size_t)len)
			continue;
		lines++;
		char where[256];
		snprintf(where, sizeof where, "%.200s: line %zu", name, ln);
		json_error_t err;
		json_t *o = json_loadb(line, (size_t)len, 0, &err);
		if (!o)
			s = vdb_fail(VDB_EFORMAT, "%s: malformed JSON: %s", where, err.text);
		else
			s = result_line(e, o, where, &num, &ncap, &docs, &dcap, &lens, &lcap);
		json_decref(o);
	}
	if (!s && ferror(f))
		s = vdb_fail(VDB_EIO, "%s: read error: %s", name, strerror(errno));
	if (!s && !lines)
		s = vdb_fail(VDB_EFORMAT, "%s: no results in input", name);
	free(line);
	free(num);
	free(docs);
	free(lens);
	close_input(f);
	return s;
}
