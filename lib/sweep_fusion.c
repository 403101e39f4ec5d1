/*
 * sweep_fusion.c — the fusion sweep (vdb-eval fusion): judged queries
 * ranked by BM25 alone, by vectors alone and by hybrid search at each
 * fusion setting, each way scored by nDCG@k, MRR@k, recall@k and
 * precision@k (irmetrics.c), and the report's rows.
 *
 * A setting's lists are exactly what vdb-query prints for the same queries
 * and options (the same library calls: vdb_index_search,
 * vdb_index_search_text, vdb_index_search_hybrid), so that a row equals
 * vdb-query's output piped into vdb-eval qrels. The documents of a list are
 * the hits' ids as keys (a string id's text, an integer id's digits, the
 * row number when the index keeps no ids); a query's QID is its record's
 * id the same way, or its record number.
 */
#include "idmap.h"
#include "jsonout.h"
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <string.h>
#include <time.h>

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* The queries' texts, decoded from the JSON the reader keeps (the keys
 * hold them; texts[i] and lens[i] point into them). */
static vdb_status query_texts(const vdb_vecs *q, const char *qname, vdb_idkey *keys,
                              const char **texts, size_t *lens)
{
	for (size_t i = 0; i < q->n; i++) {
		size_t len = q->text_off ? (size_t)(q->text_off[i + 1] - q->text_off[i]) : 0;
		const char *t = len ? q->text_buf + q->text_off[i] : NULL;
		VDB_RETURN_IF(!t || (len == 4 && !memcmp(t, "null", 4)), VDB_EFORMAT,
		              "%s: record %zu has no \"text\": BM25 and hybrid search need one",
		              qname, i);
		vdb_status s = vdb_idkey_of(&keys[i], t, len, i);
		if (s)
			return s;
		texts[i] = keys[i].ptr, lens[i] = keys[i].len;
	}
	return VDB_OK;
}

/* The k hits of every query, as rows (-1: none), searched at set. */
static vdb_status rank(const vdb_index *ix, const vdb_vecs *q, const vdb_rank_setting *set,
                       const char *const *texts, const size_t *lens, const vdb_search_opts *o,
                       const vdb_fusion_opts *f, int64_t *rows, float *val,
                       vdb_fused_hit *hits)
{
	size_t k = o->k;
	if (set->mode == VDB_RANK_VECTOR)
		return vdb_index_search(ix, q->data, q->n, o, rows, val);
	if (set->mode == VDB_RANK_LEXICAL)
		return vdb_index_search_text(ix, texts, lens, q->n, o, rows, val);
	vdb_fusion_opts fo = *f;
	fo.fusion = set->mode == VDB_RANK_RRF ? VDB_FUSION_RRF : VDB_FUSION_WEIGHTED;
	if (set->mode == VDB_RANK_RRF)
		fo.rrf_k = set->rrf_k;
	else
		fo.alpha = set->alpha;
	vdb_status s = vdb_index_search_hybrid(&ix, 1, q->data, texts, lens, q->n, o, &fo, hits);
	for (size_t i = 0; !s && i < q->n * k; i++)
		rows[i] = hits[i].id;
	return s;
}

/* Query i's list (its hits rows[0..k)) scored in e. */
static vdb_status score_query(vdb_ir_eval *e, const vdb_index *ix, const vdb_vecs *q,
                              const char *qname, size_t i, const int64_t *rows, size_t k,
                              vdb_idkey *keys, const char **docs, size_t *lens)
{
	vdb_idkey qid;
	vdb_status s = vdb_idmap_vecs_key(q, i, &qid);
	size_t n = 0;
	for (; !s && n < k && rows[n] >= 0; n++) {
		size_t len = 0;
		const char *t = vdb_index_id_json(ix, rows[n], &len);
		if ((s = vdb_idkey_of(&keys[n], t, len, (size_t)rows[n])))
			break;
		docs[n] = keys[n].ptr, lens[n] = keys[n].len;
	}
	if (!s) {
		char where[256];
		snprintf(where, sizeof where, "%.200s: record %zu", qname, i);
		s = vdb_ir_eval_add(e, qid.ptr, qid.len, docs, lens, n, where);
	}
	for (size_t j = 0; j < n; j++)
		vdb_idkey_done(&keys[j]);
	vdb_idkey_done(&qid);
	return s;
}

vdb_status vdb_ir_eval_search(vdb_ir_eval *e, const vdb_index *ix, const vdb_vecs *q,
                              const char *qname, const vdb_rank_setting *set,
                              const vdb_search_opts *o, const vdb_fusion_opts *f, double *qps)
{
	vdb_ir_eval_reset(e);
	*qps = 0;
	VDB_RETURN_IF(set->mode < VDB_RANK_LEXICAL || set->mode > VDB_RANK_WEIGHTED, VDB_EINVAL,
	              "unknown ranking %d", (int)set->mode);
	VDB_RETURN_IF(set->mode != VDB_RANK_VECTOR && !vdb_index_has_lexical(ix), VDB_EUNSUPPORTED,
	              "the index has no lexical index (build it with vdb-build --lexical)");
	VDB_RETURN_IF(q->dim != vdb_index_dim(ix), VDB_EFORMAT,
	              "%s: the queries have dimension %u, the index %u", qname, q->dim,
	              vdb_index_dim(ix));
	if (!q->n)
		return VDB_OK;
	vdb_search_opts so = *o;
	so.k = vdb_ir_eval_k(e);
	size_t nq = q->n, k = so.k, all;
	VDB_RETURN_IF(!vdb_mul_ok(nq, k, &all) || all > SIZE_MAX / sizeof(vdb_fused_hit),
	              VDB_ENOMEM, "%zu queries x %zu results: size overflow", nq, k);
	vdb_idkey *tkeys = calloc(nq, sizeof *tkeys), *dkeys = calloc(k, sizeof *dkeys);
	const char **texts = calloc(nq, sizeof *texts), **docs = calloc(k, sizeof *docs);
	size_t *tlens = calloc(nq, sizeof *tlens), *dlens = calloc(k, sizeof *dlens);
	int64_t *rows = vdb_malloc(all * sizeof *rows, "results");
	float *val = vdb_malloc(all * sizeof *val, "results");
	vdb_fused_hit *hits = set->mode >= VDB_RANK_RRF ? vdb_malloc(all * sizeof *hits, "results")
	                                                : NULL;
	vdb_status s = tkeys && dkeys && texts && docs && tlens && dlens && rows && val &&
	               (hits || set->mode < VDB_RANK_RRF)
	             ? VDB_OK : vdb_fail(VDB_ENOMEM, "out of memory for %zu queries", nq);
	if (!s && set->mode != VDB_RANK_VECTOR)
		s = query_texts(q, qname, tkeys, texts, tlens);
	if (!s) {
		double t0 = now();
		s = rank(ix, q, set, texts, tlens, &so, f, rows, val, hits);
		double t = now() - t0;
		*qps = (double)nq / (t > 1e-9 ? t : 1e-9);
	}
	for (size_t i = 0; !s && i < nq; i++)
		s = score_query(e, ix, q, qname, i, rows + i * k, k, dkeys, docs, dlens);
	for (size_t i = 0; tkeys && i < nq; i++)
		vdb_idkey_done(&tkeys[i]);
	free(tkeys);
	free(dkeys);
	free(texts);
	free(docs);
	free(tlens);
	free(dlens);
	free(rows);
	free(val);
	free(hits);
	return s;
}

/* ===== The report ===== */
#define SETTING_W 22

static const char *mode_name(vdb_rank_mode m)
{
	switch (m) {
	case VDB_RANK_LEXICAL: return "bm25";
	case VDB_RANK_VECTOR: return "vectors";
	case VDB_RANK_RRF: return "rrf";
	case VDB_RANK_WEIGHTED: return "weighted";
	}
	return "?";
}

static int metric_width(const char *name, size_t k)
{
	char h[48];
	int n = snprintf(h, sizeof h, "%s@%zu", name, k);
	return n > 8 ? n : 8;
}

vdb_status vdb_fusion_write_header(FILE *f, vdb_report_format fmt, size_t k)
{
	char h[4][48];
	const char *names[4] = { "ndcg", "mrr", "recall", "precision" };
	switch (fmt) {
	case VDB_REPORT_TABLE:
		for (int i = 0; i < 4; i++)
			snprintf(h[i], sizeof h[i], "%s@%zu", names[i], k);
		fprintf(f, "%-*s  %*s  %*s  %*s  %*s  %9s\n", SETTING_W, "setting",
		        metric_width("ndcg", k), h[0], metric_width("mrr", k), h[1],
		        metric_width("recall", k), h[2], metric_width("precision", k), h[3], "qps");
		break;
	case VDB_REPORT_CSV:
		fputs("mode,alpha,rrf_k,k,queries,answered,ndcg,mrr,recall,precision,qps\n", f);
		break;
	case VDB_REPORT_JSON:
		break;
	}
	VDB_RETURN_IF(ferror(f), VDB_EIO, "writing the report failed: %s", strerror(errno));
	return VDB_OK;
}

/* The setting as the table shows it: "bm25", "rrf k=60", "weighted alpha=0.3". */
static void setting_text(const vdb_rank_setting *s, char *buf, size_t n)
{
	if (s->mode == VDB_RANK_RRF)
		snprintf(buf, n, "rrf k=%g", s->rrf_k);
	else if (s->mode == VDB_RANK_WEIGHTED)
		snprintf(buf, n, "weighted alpha=%g", s->alpha);
	else
		snprintf(buf, n, "%s", mode_name(s->mode));
}

static double r6(double x)
{
	return round(x * 1e6) / 1e6;
}

vdb_status vdb_fusion_write_row(FILE *f, vdb_report_format fmt, const vdb_fusion_row *row)
{
	const vdb_rank_setting *s = &row->set;
	const vdb_ir_scores *r = &row->r;
	char set[64];
	size_t k = row->k;
	vdb_status st = VDB_OK;
	switch (fmt) {
	case VDB_REPORT_TABLE:
		setting_text(s, set, sizeof set);
		fprintf(f, "%-*s  %*.4f  %*.4f  %*.4f  %*.4f  %9.0f\n", SETTING_W, set,
		        metric_width("ndcg", k), r->ndcg, metric_width("mrr", k), r->mrr,
		        metric_width("recall", k), r->recall, metric_width("precision", k),
		        r->precision, row->qps);
		break;
	case VDB_REPORT_CSV:
		fprintf(f, "%s,", mode_name(s->mode));
		if (s->mode == VDB_RANK_WEIGHTED)
			fprintf(f, "%g", s->alpha);
		fputc(',', f);
		if (s->mode == VDB_RANK_RRF)
			fprintf(f, "%g", s->rrf_k);
		fprintf(f, ",%zu,%zu,%zu,%.6f,%.6f,%.6f,%.6f,%.1f\n", k, row->queries, row->answered,
		        r->ndcg, r->mrr, r->recall, r->precision, row->qps);
		break;
	case VDB_REPORT_JSON:
		st = vdb_json_line(f, json_pack("{s:s, s:o, s:o, s:I, s:I, s:I, s:f, s:f, s:f, s:f, s:f}",
		                                "mode", mode_name(s->mode), "alpha",
		                                s->mode == VDB_RANK_WEIGHTED ? json_real(s->alpha)
		                                                             : json_null(),
		                                "rrf_k", s->mode == VDB_RANK_RRF ? json_real(s->rrf_k)
		                                                                 : json_null(),
		                                "k", (json_int_t)k, "queries", (json_int_t)row->queries,
		                                "answered", (json_int_t)row->answered, "ndcg",
		                                r6(r->ndcg), "mrr", r6(r->mrr), "recall", r6(r->recall),
		                                "precision", r6(r->precision), "qps",
		                                round(row->qps * 10) / 10));
		break;
	}
	if (!st && ferror(f))
		st = vdb_fail(VDB_EIO, "writing the report failed: %s", strerror(errno));
	return st;
}
