/*
 * query_batch.c — a batch of query records answered by their kinds.
 *
 * A record with a vector and no text is a vector query; a text and no
 * vector (the reader's novec rows), a BM25 query; both, a hybrid query
 * when the set has a lexical index (else the vector query it always was:
 * text beside a vector, as vdb-text embed writes it, stays a vector query
 * on indexes built without --lexical). The rows of each kind are gathered
 * and searched together, then the lines are written in input order.
 */
#include "query.h"
#include <jansson.h>
#include <string.h>

enum { K_VECTOR, K_LEXICAL, K_HYBRID };

void query_bufs_free(query_bufs *b)
{
	free(b->kind), free(b->slot), free(b->vrows), free(b->hrows), free(b->tbuf);
	free(b->ltext), free(b->htext), free(b->llen), free(b->hlen), free(b->toff);
	free(b->vids), free(b->lids), free(b->vdist), free(b->lscore), free(b->hits);
	memset(b, 0, sizeof *b);
}

static void *grow(void *p, size_t n, size_t es)
{
	void *q = realloc(p, (n ? n : 1) * es);
	if (!q)
		cmd_die(vdb_fail(VDB_ENOMEM, "out of memory for a batch of queries"));
	return q;
}

static void room(query_bufs *b, size_t n, size_t k, size_t width, size_t rowbytes)
{
	if (n * width > b->hcap) {
		b->hits = grow(b->hits, n * width, sizeof *b->hits);
		b->hcap = n * width;
	}
	if (n > b->rows) {
		b->kind = grow(b->kind, n, 1);
		b->slot = grow(b->slot, n, sizeof *b->slot);
		b->ltext = grow(b->ltext, n, sizeof *b->ltext);
		b->htext = grow(b->htext, n, sizeof *b->htext);
		b->llen = grow(b->llen, n, sizeof *b->llen);
		b->hlen = grow(b->hlen, n, sizeof *b->hlen);
		b->toff = grow(b->toff, n, sizeof *b->toff);
		b->rows = n;
	}
	if (n * rowbytes > b->vcap) {
		b->vrows = grow(b->vrows, n, rowbytes);
		b->hrows = grow(b->hrows, n, rowbytes);
		b->vcap = n * rowbytes;
	}
	if (n * k > b->results) {
		b->vids = grow(b->vids, n * k, sizeof *b->vids);
		b->lids = grow(b->lids, n * k, sizeof *b->lids);
		b->vdist = grow(b->vdist, n * k, sizeof *b->vdist);
		b->lscore = grow(b->lscore, n * k, sizeof *b->lscore);
		b->results = n * k;
	}
}

/* Row i's text, decoded from its JSON text into b->tbuf at *used. */
static void take_text(query_bufs *b, const vdb_vecs *q, size_t i, size_t *used, size_t *len)
{
	const char *j = q->text_buf + q->text_off[i];
	size_t jl = q->text_off[i + 1] - q->text_off[i];
	json_t *t = json_loadb(j, jl, JSON_DECODE_ANY, NULL);
	if (!json_is_string(t))
		cmd_die(vdb_fail(VDB_EINTERNAL, "a query's text does not decode"));
	*len = json_string_length(t);
	if (*used + *len + 1 > b->tcap) {
		b->tcap = 2 * (*used + *len + 1);
		b->tbuf = grow(b->tbuf, b->tcap, 1);
	}
	memcpy(b->tbuf + *used, json_string_value(t), *len + 1);
	json_decref(t);
	b->toff[i] = *used;
	*used += *len + 1;
}

/* The first index of the set without a lexical index. */
static const char *without_lexical(const query_ctx *c)
{
	for (size_t i = 0; i < c->nix; i++)
		if (!vdb_index_has_lexical(c->ix[i]))
			return c->names[i];
	return c->names[0];
}

/* A failed BM25 search of nt texts: find the query it failed on, to name
 * its record (the library names its place in the call). */
static void text_failed(const query_ctx *c, query_bufs *b, const char *const *texts,
                        const size_t *lens, size_t nt, const size_t *rows, const char *input,
                        size_t first, vdb_status s)
{
	if (s == VDB_EFORMAT) {
		vdb_search_opts one = c->so;
		one.k = 1;
		for (size_t t = 0; t < nt; t++) {
			vdb_status e = vdb_index_search_text_set(c->ix, c->nix, texts + t, lens + t, 1, &one,
			                                         b->lids, b->lscore);
			if (e) {
				/* the library's "query 0: " is this record */
				char msg[1024];
				const char *m = vdb_last_error();
				snprintf(msg, sizeof msg, "%s", strncmp(m, "query 0: ", 9) ? m : m + 9);
				cmd_die(vdb_fail(e, "%s: record %zu: %s", input, first + rows[t], msg));
			}
		}
	}
	cmd_die(s);
}

void query_batch(const query_ctx *c, const vdb_vecs *q, const char *input, size_t first,
                 size_t *qno, query_bufs *b, double *search_s)
{
	if (c->range) { /* --max-distance: query_range.c */
		query_range(c, q, input, first, qno, search_s);
		return;
	}
	size_t n = q->n, k = c->so.k, rb = vdb_vecs_row_bytes(q);
	size_t width = vdb_fusion_width(&c->fo, k);
	room(b, n, k, width, rb);
	vdb_fusion_opts used_fusion = c->fo; /* as hybrid lines of every candidate state it */
	used_fusion.depth = vdb_fusion_depth(&c->fo, k);
	size_t nv = 0, nl = 0, nh = 0, used = 0;
	size_t *lrow = grow(NULL, n, sizeof *lrow); /* lexical slot -> row, for messages */
	/* a batch of vector queries only (no text query, no text or no lexical
	 * index) is searched where it was read */
	int vector_only = !q->novec && (!q->text_off || !c->lexical);
	for (size_t i = 0; i < n; i++) {
		int novec = q->novec && q->novec[i];
		int text = q->text_off && !(q->text_off[i + 1] - q->text_off[i] == 4 &&
		                            !memcmp(q->text_buf + q->text_off[i], "null", 4));
		if (novec && !c->lexical)
			cmd_usage_error("%s: record %zu is a text query (a \"text\" without a \"vector\"), "
			                "but %s has no lexical index: build it with vdb-build --lexical, "
			                "or give the query a vector", input, first + i,
			                without_lexical(c));
		b->kind[i] = novec ? K_LEXICAL : text && c->lexical ? K_HYBRID : K_VECTOR;
		if (b->kind[i] == K_VECTOR) {
			if (!vector_only)
				memcpy(b->vrows + nv * rb, (const char *)q->data + i * rb, rb);
			b->slot[i] = nv++;
		} else if (b->kind[i] == K_LEXICAL) {
			take_text(b, q, i, &used, &b->llen[nl]);
			lrow[nl] = i;
			b->slot[i] = nl++;
		} else {
			memcpy(b->hrows + nh * rb, (const char *)q->data + i * rb, rb);
			take_text(b, q, i, &used, &b->hlen[nh]);
			b->slot[i] = nh++;
		}
	}
	/* the text buffer is final now: point at it */
	for (size_t i = 0; i < n; i++)
		if (b->kind[i] == K_LEXICAL)
			b->ltext[b->slot[i]] = b->tbuf + b->toff[i];
		else if (b->kind[i] == K_HYBRID)
			b->htext[b->slot[i]] = b->tbuf + b->toff[i];
	double t0 = cmd_now();
	vdb_status s;
	const void *vq = vector_only ? (const void *)q->data : b->vrows;
	if (nv && (s = vdb_index_search_set(c->ix, c->nix, vq, nv, &c->so, b->vids, b->vdist)))
		cmd_die(s);
	if (nl && (s = vdb_index_search_text_set(c->ix, c->nix, b->ltext, b->llen, nl, &c->so,
	                                         b->lids, b->lscore)))
		text_failed(c, b, b->ltext, b->llen, nl, lrow, input, first, s);
	if (nh && (s = vdb_index_search_hybrid(c->ix, c->nix, (const float *)b->hrows, b->htext,
	                                       b->hlen, nh, &c->so, &c->fo, b->hits))) {
		size_t *hrow = lrow;
		for (size_t i = 0, h = 0; i < n; i++)
			if (b->kind[i] == K_HYBRID)
				hrow[h++] = i;
		text_failed(c, b, b->htext, b->hlen, nh, hrow, input, first, s);
	}
	*search_s += cmd_now() - t0;
	free(lrow);
	for (size_t i = 0; i < n; i++) {
		vdb_result_line l = { .query_no = (*qno)++ };
		if (q->id_off) {
			l.query_id = q->id_buf + q->id_off[i];
			l.query_id_len = q->id_off[i + 1] - q->id_off[i];
		}
		size_t at = b->slot[i] * k;
		if (b->kind[i] == K_HYBRID) {
			l.kind = VDB_LINE_HYBRID;
			l.fusion = c->fo.candidates ? &used_fusion : NULL;
			s = vdb_write_hybrid(stdout, c->out, c->ix, c->nix, &l, b->hits + b->slot[i] * width,
			                     width, c->include);
		} else {
			l.kind = b->kind[i] == K_LEXICAL ? VDB_LINE_LEXICAL : VDB_LINE_VECTOR;
			s = vdb_write_result_line(stdout, c->out, c->ix, c->nix, &l,
			                          (l.kind ? b->lids : b->vids) + at,
			                          (l.kind ? b->lscore : b->vdist) + at, k, c->include);
		}
		if (s) {
			cmd_check_stdout(); /* a reader gone ends quietly */
			cmd_die(s);       /* else a stored text that would break the line */
		}
	}
}
