/*
 * lex_build.c — the lexical index of an index's rows: each row's text (or
 * metadata field) analysed into terms, in parallel (a range of rows and an
 * analyzer per thread, each with its own dictionary of the terms it saw),
 * the dictionaries merged into one sorted vocabulary, and each term's rows
 * and term frequencies encoded in blocks (lexical.h).
 */
#include "index_internal.h"
#include "lex_analyze.h"
#include "lexical.h"
#include "jsontext.h"
#include "rowset.h"
#include <string.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

/* One thread's share: rows [from, to). */
typedef struct {
	vdb_analyzer *a;
	size_t from, to;
	/* its dictionary: slots hold local term + 1, an open-addressing table */
	uint32_t *slots;
	size_t nslots;
	char *arena;
	size_t alen, acap;
	uint64_t *soff;
	uint32_t *slen;
	size_t nloc, loccap, slencap;
	/* the current row's terms */
	uint32_t *rt;
	size_t nrt, rtcap;
	/* postings: (local term, row, tf) */
	uint32_t *ptid, *prow, *ptf;
	size_t np, pcap[3];
	vdb_status st;
	char msg[1024];
} worker;

static vdb_status grow_slots(worker *w)
{
	size_t n = w->nslots ? w->nslots * 2 : 1024;
	uint32_t *s = calloc(n, sizeof *s);
	if (!s)
		return vdb_fail(VDB_ENOMEM, "out of memory for the lexical index");
	for (size_t i = 0; i < w->nslots; i++) {
		uint32_t v = w->slots[i];
		if (!v)
			continue;
		size_t h = (size_t)XXH3_64bits(w->arena + w->soff[v - 1], w->slen[v - 1]) & (n - 1);
		while (s[h])
			h = (h + 1) & (n - 1);
		s[h] = v;
	}
	free(w->slots);
	w->slots = s;
	w->nslots = n;
	return VDB_OK;
}

/* vdb_term_fn: the term's local number onto the row's list. */
static vdb_status add_term(void *ctx, const char *term, size_t len)
{
	worker *w = ctx;
	if ((w->nloc + 1) * 2 > w->nslots && grow_slots(w))
		return VDB_ENOMEM;
	size_t h = (size_t)XXH3_64bits(term, len) & (w->nslots - 1);
	uint32_t v;
	while ((v = w->slots[h]) &&
	       !(w->slen[v - 1] == len && !memcmp(w->arena + w->soff[v - 1], term, len)))
		h = (h + 1) & (w->nslots - 1);
	if (!v) {
		if (vdb_grow((void **)&w->arena, &w->acap, w->alen + len, 1, "terms") ||
		    vdb_grow((void **)&w->soff, &w->loccap, w->nloc + 1, sizeof *w->soff, "terms") ||
		    vdb_grow((void **)&w->slen, &w->slencap, w->nloc + 1, sizeof *w->slen, "terms"))
			return VDB_ENOMEM;
		memcpy(w->arena + w->alen, term, len);
		w->soff[w->nloc] = w->alen;
		w->slen[w->nloc] = (uint32_t)len;
		w->alen += len;
		v = w->slots[h] = (uint32_t)++w->nloc;
	}
	if (vdb_grow((void **)&w->rt, &w->rtcap, w->nrt + 1, sizeof *w->rt, "terms"))
		return VDB_ENOMEM;
	w->rt[w->nrt++] = v - 1;
	return VDB_OK;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

/* The current row's terms as postings (term, row, tf). */
static vdb_status flush_row(worker *w, uint32_t row)
{
	if (w->nrt == 0)
		return VDB_OK;
	qsort(w->rt, w->nrt, sizeof *w->rt, cmp_u32);
	for (size_t i = 0; i < w->nrt;) {
		size_t j = i;
		while (j < w->nrt && w->rt[j] == w->rt[i])
			j++;
		if (vdb_grow((void **)&w->ptid, &w->pcap[0], w->np + 1, sizeof(uint32_t), "postings") ||
		    vdb_grow((void **)&w->prow, &w->pcap[1], w->np + 1, sizeof(uint32_t), "postings") ||
		    vdb_grow((void **)&w->ptf, &w->pcap[2], w->np + 1, sizeof(uint32_t), "postings"))
			return VDB_ENOMEM;
		w->ptid[w->np] = w->rt[i];
		w->prow[w->np] = row;
		w->ptf[w->np++] = (uint32_t)(j - i);
		i = j;
	}
	w->nrt = 0;
	return VDB_OK;
}

/* Row r's text (UTF-8, *len bytes) into *out, NULL if it has none; *hold
 * keeps a decoded string alive (json_decref it). */
static vdb_status row_text(const vdb_index *ix, const char *field, size_t r, const char **out,
                           size_t *len, json_t **hold)
{
	*out = NULL, *hold = NULL;
	size_t l;
	const char *t = vdb_index_col_json(ix, field ? VDB_COL_META : VDB_COL_TEXT, (int64_t)r, &l);
	if (!t || (l == 4 && !memcmp(t, "null", 4)))
		return VDB_OK;
	if (!field) {
		vdb_status s = vdb_json_string_bytes(t, l, out, len, hold);
		return s ? vdb_fail(VDB_ECORRUPT, "record %zu: the stored text is not JSON", r)
		         : VDB_OK;
	}
	json_t *j = json_loadb(t, l, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	json_t *s = json_object_get(j, field);
	if (!j)
		return vdb_fail(VDB_ECORRUPT, "record %zu: the stored metadata is not JSON", r);
	if (json_is_string(s))
		*out = json_string_value(s), *len = json_string_length(s);
	*hold = j;
	return VDB_OK;
}

static void analyse_rows(const vdb_index *ix, const char *field, worker *w, uint32_t *lens)
{
	for (size_t r = w->from; r < w->to && !w->st; r++) {
		const char *t;
		size_t len = 0, n = 0;
		json_t *hold = NULL;
		/* a deleted row is not indexed (and not counted: see vdb_lex_build) */
		vdb_status s = ix->live && !vdb_rowset_has(ix->live, r)
		                   ? (t = NULL, VDB_OK)
		                   : row_text(ix, field, r, &t, &len, &hold);
		if (!s && t)
			s = vdb_analyze(w->a, t, len, add_term, w, &n);
		json_decref(hold);
		if (!s && n > UINT32_MAX)
			s = vdb_fail(VDB_EFORMAT, "more than %u terms", UINT32_MAX);
		if (!s)
			s = flush_row(w, (uint32_t)r);
		lens[r] = (uint32_t)n;
		if (s) {
			w->st = s;
			snprintf(w->msg, sizeof w->msg, "record %zu: %s", r, vdb_last_error());
		}
	}
}

static void worker_free(worker *w)
{
	vdb_analyzer_free(w->a);
	free(w->slots), free(w->arena), free(w->soff), free(w->slen), free(w->rt);
	free(w->ptid), free(w->prow), free(w->ptf);
}

/* A term of the merged vocabulary: where a worker keeps its bytes. */
typedef struct {
	const char *s;
	uint32_t len, w, lid;
} term_ref;

static int cmp_ref(const void *a, const void *b)
{
	const term_ref *x = a, *y = b;
	size_t m = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->s, y->s, m);
	return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* A growable byte buffer. */
typedef struct {
	unsigned char *p;
	size_t len, cap;
} bytes;

static vdb_status put(bytes *b, const void *d, size_t n)
{
	if (n == 0)
		return VDB_OK;
	if (vdb_grow((void **)&b->p, &b->cap, b->len + n, 1, "the lexical index"))
		return VDB_ENOMEM;
	memcpy(b->p + b->len, d, n);
	b->len += n;
	return VDB_OK;
}

static vdb_status put_varint(bytes *b, uint32_t v)
{
	unsigned char buf[5];
	size_t n = 0;
	do {
		buf[n++] = (unsigned char)((v & 127) | (v > 127 ? 128 : 0));
		v >>= 7;
	} while (v);
	return put(b, buf, n);
}

/* Term t's postings (rows ascending) at the end of b. */
static vdb_status encode_term(bytes *b, vdb_lex_term *t, const uint32_t *rows, const uint32_t *tfs,
                              const uint32_t *lens)
{
	static const unsigned char pad[8];
	uint32_t nb = vdb_lex_nblocks(t);
	/* a term of one block has no table: the term holds its bounds */
	vdb_status s = nb > 1 ? put(b, pad, (8 - b->len % 8) % 8) : VDB_OK;
	t->post_off = b->len;
	size_t table = b->len;
	for (uint32_t i = 0; i < nb && nb > 1 && !s; i++) {
		vdb_lex_block z = { 0 };
		s = put(b, &z, sizeof z);
	}
	t->max_tf = 0, t->min_len = UINT32_MAX;
	int64_t prev = -1;
	for (uint32_t k = 0; k < nb && !s; k++) {
		size_t from = (size_t)k * VDB_LEX_BLOCK, to = from + VDB_LEX_BLOCK;
		to = to > t->df ? t->df : to;
		vdb_lex_block bl = { .last_row = rows[to - 1], .min_len = UINT32_MAX };
		for (size_t i = from; i < to && !s; i++) {
			s = put_varint(b, (uint32_t)((int64_t)rows[i] - prev - 1));
			prev = rows[i];
			bl.max_tf = tfs[i] > bl.max_tf ? tfs[i] : bl.max_tf;
			bl.min_len = lens[rows[i]] < bl.min_len ? lens[rows[i]] : bl.min_len;
		}
		for (size_t i = from; i < to && !s; i++)
			s = put_varint(b, tfs[i] - 1);
		bl.end = b->len - t->post_off;
		if (!s && nb > 1)
			memcpy(b->p + table + k * sizeof bl, &bl, sizeof bl);
		t->max_tf = bl.max_tf > t->max_tf ? bl.max_tf : t->max_tf;
		t->min_len = bl.min_len < t->min_len ? bl.min_len : t->min_len;
	}
	return s;
}

/* The workers' postings merged: the sorted vocabulary and its encoded
 * postings into lx. */
static vdb_status merge(vdb_lex *lx, worker *ws, int nw, const uint32_t *lens)
{
	size_t nref = 0, np = 0;
	for (int i = 0; i < nw; i++)
		nref += ws[i].nloc, np += ws[i].np;
	term_ref *ref = vdb_malloc((nref ? nref : 1) * sizeof *ref, "the vocabulary");
	uint32_t **map = calloc((size_t)nw, sizeof *map);
	vdb_lex_term *terms = NULL;
	uint32_t *rows = vdb_malloc((np ? np : 1) * sizeof *rows, "the postings"),
	         *tfs = vdb_malloc((np ? np : 1) * sizeof *tfs, "the postings");
	size_t *at = NULL, nt = 0;
	bytes voc = { 0 }, post = { 0 }, str = { 0 };
	vdb_status s = ref && map && rows && tfs ? VDB_OK : vdb_fail(VDB_ENOMEM, "out of memory");
	for (int i = 0, k = 0; !s && i < nw; i++) {
		if (!(map[i] = vdb_malloc((ws[i].nloc ? ws[i].nloc : 1) * sizeof **map, "terms")))
			s = VDB_ENOMEM;
		for (size_t j = 0; !s && j < ws[i].nloc; j++)
			ref[k++] = (term_ref){ ws[i].arena + ws[i].soff[j], ws[i].slen[j], (uint32_t)i,
			                       (uint32_t)j };
	}
	if (!s)
		qsort(ref, nref, sizeof *ref, cmp_ref);
	for (size_t i = 0; !s && i < nref; i++) {
		if (i == 0 || cmp_ref(&ref[i - 1], &ref[i]))
			nt++;
		map[ref[i].w][ref[i].lid] = (uint32_t)(nt - 1);
	}
	if (!s && (!(terms = calloc(nt ? nt : 1, sizeof *terms)) ||
	           !(at = calloc(nt + 1, sizeof *at))))
		s = vdb_fail(VDB_ENOMEM, "out of memory");
	for (size_t i = 0, g = 0; !s && i < nref; i++)
		if (i == 0 || cmp_ref(&ref[i - 1], &ref[i])) {
			terms[g].str_off = str.len;
			terms[g].str_len = ref[i].len;
			s = put(&str, ref[i].s, ref[i].len);
			g++;
		}
	for (int i = 0; !s && i < nw; i++)
		for (size_t j = 0; j < ws[i].np; j++)
			terms[map[i][ws[i].ptid[j]]].df++;
	for (size_t g = 0; !s && g < nt; g++)
		at[g + 1] = at[g] + terms[g].df;
	/* workers in row order: each term's rows come out ascending */
	for (int i = 0; !s && i < nw; i++)
		for (size_t j = 0; j < ws[i].np; j++) {
			size_t p = at[map[i][ws[i].ptid[j]]]++;
			rows[p] = ws[i].prow[j], tfs[p] = ws[i].ptf[j];
		}
	for (size_t g = 0, p = 0; !s && g < nt; p += terms[g++].df)
		s = encode_term(&post, &terms[g], rows + p, tfs + p, lens);
	uint64_t head[2] = { nt, str.len };
	if (!s)
		s = put(&voc, head, sizeof head);
	if (!s)
		s = put(&voc, terms, nt * sizeof *terms);
	if (!s)
		s = put(&voc, str.p, str.len);
	for (int i = 0; map && i < nw; i++)
		free(map[i]);
	free(map), free(ref), free(rows), free(tfs), free(at), free(terms), free(str.p);
	if (s) {
		free(voc.p), free(post.p);
		return s;
	}
	lx->owned[1] = voc.p, lx->owned[2] = post.p;
	lx->vocab = voc.p, lx->vocab_len = voc.len;
	lx->post = post.p ? post.p : (const unsigned char *)"", lx->post_len = post.len;
	lx->nterms = nt;
	lx->terms = (const vdb_lex_term *)(const void *)(voc.p + sizeof head);
	lx->strings = (const char *)voc.p + sizeof head + nt * sizeof(vdb_lex_term);
	lx->strings_len = (size_t)head[1];
	return VDB_OK;
}

/* The parameters section of lx. */
static vdb_status make_params(vdb_lex *lx)
{
	json_t *j = json_pack("{s:s, s:s%, s:o, s:I, s:I}", "language", lx->language, "stopwords",
	                      lx->stopwords ? lx->stopwords : "", lx->stoplen, "field",
	                      lx->field ? json_string(lx->field) : json_null(), "rows",
	                      (json_int_t)lx->rows, "total", (json_int_t)lx->total);
	char *t = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(j);
	if (!t)
		return vdb_fail(VDB_ENOMEM, "out of memory");
	lx->owned[0] = t;
	lx->params = t;
	lx->params_len = strlen(t);
	return VDB_OK;
}

vdb_status vdb_lex_build(vdb_lex **out, const vdb_index *ix, const char *language,
                         const char *stop, size_t stoplen, const char *field)
{
	*out = NULL;
	size_t count = ix->count;
	int nw = vdb_threads();
	if ((size_t)nw > count / 1024 + 1)
		nw = (int)(count / 1024 + 1);
	vdb_lex *lx = calloc(1, sizeof *lx);
	worker *ws = calloc((size_t)nw, sizeof *ws);
	uint32_t *lens = vdb_malloc((count ? count : 1) * sizeof *lens, "row lengths");
	vdb_status s = lx && ws && lens ? VDB_OK : vdb_fail(VDB_ENOMEM, "out of memory");
	for (int i = 0; !s && i < nw; i++) {
		ws[i].from = count * (size_t)i / (size_t)nw;
		ws[i].to = count * (size_t)(i + 1) / (size_t)nw;
		s = vdb_analyzer_new(&ws[i].a, language, stop, stoplen);
	}
	if (!s) {
		#pragma omp parallel for num_threads(nw) schedule(static, 1)
		for (int i = 0; i < nw; i++)
			analyse_rows(ix, field, &ws[i], lens);
		for (int i = 0; i < nw && !s; i++)
			if (ws[i].st)
				s = vdb_fail(ws[i].st, "%s", ws[i].msg);
	}
	if (!s) {
		lx->owned[3] = lens;
		lx->lens = lens;
		lx->rows = count - ix->ndead;
		lx->count = count;
		for (size_t i = 0; i < count; i++)
			lx->total += lens[i];
		lens = NULL;
		lx->language = strdup(vdb_analyzer_language(ws[0].a));
		lx->stopwords = malloc(stoplen + 1);
		lx->field = field ? strdup(field) : NULL;
		if (!lx->language || !lx->stopwords || (field && !lx->field))
			s = vdb_fail(VDB_ENOMEM, "out of memory");
		else {
			memcpy(lx->stopwords, stoplen ? stop : "", stoplen);
			lx->stopwords[stoplen] = 0;
			lx->stoplen = stoplen;
		}
	}
	if (!s)
		s = merge(lx, ws, nw, lx->lens);
	if (!s)
		s = make_params(lx);
	for (int i = 0; ws && i < nw; i++)
		worker_free(&ws[i]);
	free(ws);
	free(lens);
	if (s) {
		vdb_lex_free(lx);
		return s;
	}
	*out = lx;
	return VDB_OK;
}

vdb_status vdb_lex_rebuild(vdb_lex **out, const vdb_index *ix, const vdb_lex *lx)
{
	return vdb_lex_build(out, ix, lx->language, lx->stopwords, lx->stoplen, lx->field);
}
