/*
 * output.c — results as JSONL, ivecs or TSV.
 *
 * One query's results per call, so vdb-query can stream batch after batch.
 * Distances are printed in the shortest form that reads back as the same
 * float (jq-friendly, and no "0.100000001" noise). Ids are the index's JSON
 * texts when it has them (returned verbatim), else record numbers; ix may be
 * NULL (ground truth), which means record numbers. One writer serves single
 * indexes, sets of shards and merged result files, through a getter.
 *
 * Stored texts are printed verbatim only after vdb_index_texts_check says
 * each is one JSON value on one line (jsontext.c), all of a query's before
 * any of its line is written: a crafted file fails with VDB_ECORRUPT
 * instead of forging lines. Merged result files hold texts that jansson
 * wrote (merge.c), which need no check.
 */
#include "results_internal.h"
#include "float_text.h"
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A distance beyond the float range (an inner product or a squared
 * difference of values near FLT_MAX overflows; NaN comes of inf - inf) has
 * no JSON form: it is printed as the largest float of its sign, NaN as the
 * farthest, so every line stays JSON and sorts as the search ranked it. */
static void format_float(char *buf, size_t n, float v)
{
	if (!isfinite(v))
		v = signbit(v) && !isnan(v) ? -FLT_MAX : FLT_MAX;
	vdb_float_text(v, buf, n);
}

static void put_id(FILE *f, const vdb_hit *h, int raw_string)
{
	if (!h->id) {
		fprintf(f, "%lld", (long long)h->num);
		return;
	}
	/* TSV shows a plain string id without its quotes, unless it needs escapes */
	if (raw_string && h->id_len >= 2 && h->id[0] == '"' && !memchr(h->id, '\\', h->id_len)) {
		fwrite(h->id + 1, 1, h->id_len - 2, f);
		return;
	}
	fwrite(h->id, 1, h->id_len, f);
}

const char *const vdb_extra_name[VDB_NEXTRA] = { "metadata", "text" };

static void put_extra(FILE *f, const vdb_hit *h, int e)
{
	if (h->extra[e])
		fwrite(h->extra[e], 1, h->extra_len[e], f);
	else
		fputs("null", f);
}

/* A hit's value in a column of a line: the line's own value, or (hybrid
 * lines) a list's score or rank, empty (TSV) or null (JSONL) where the hit
 * is not in that list. */
enum { COL_VALUE, COL_LEX, COL_LRANK, COL_VEC, COL_VRANK, NCOLS_HYBRID };
static const char *const col_name[NCOLS_HYBRID] = {
	NULL, "lexical_scores", "lexical_ranks", "vector_distances", "vector_ranks"
};

static void put_value(FILE *f, const vdb_hit *h, int col, const char *absent)
{
	char num[32];
	float v = h->dist;
	if (col != COL_VALUE) {
		uint32_t rank = col == COL_LEX || col == COL_LRANK ? h->lex_rank : h->vec_rank;
		if (!rank) {
			fputs(absent, f);
			return;
		}
		if (col == COL_LRANK || col == COL_VRANK) {
			fprintf(f, "%" PRIu32, rank);
			return;
		}
	}
	if (col == COL_LEX)
		v = h->lex_score;
	else if (col == COL_VEC)
		v = h->vec_dist;
	format_float(num, sizeof num, v);
	fputs(num, f);
}

/* "name": [every hit's column col] */
static void put_array(FILE *f, const char *name, size_t n, vdb_hit_fn get, const void *ctx,
                      int col)
{
	vdb_hit h;
	fprintf(f, ", \"%s\": [", name);
	for (size_t r = 0; r < n; r++) {
		get(ctx, r, &h);
		if (r)
			fputs(", ", f);
		put_value(f, &h, col, "null");
	}
	fputc(']', f);
}

vdb_status vdb_write_line(FILE *f, vdb_output fmt, const vdb_result_line *l, size_t n,
                          vdb_hit_fn get, const void *ctx, unsigned include)
{
	vdb_hit h;
	int cols = l->kind == VDB_LINE_HYBRID ? NCOLS_HYBRID : 1;
	switch (fmt) {
	case VDB_OUT_JSONL:
		fprintf(f, "{\"query\": %zu", l->query_no);
		if (l->query_id) {
			fputs(", \"query_id\": ", f);
			fwrite(l->query_id, 1, l->query_id_len, f);
		}
		fputs(", \"ids\": [", f);
		for (size_t r = 0; r < n; r++) {
			get(ctx, r, &h);
			if (r)
				fputs(", ", f);
			put_id(f, &h, 0);
		}
		fputc(']', f);
		put_array(f, l->kind == VDB_LINE_VECTOR ? "distances" : "scores", n, get, ctx,
		          COL_VALUE);
		for (int c = 1; c < cols; c++)
			put_array(f, col_name[c], n, get, ctx, c);
		if (l->fusion)
			fprintf(f, ", \"fusion\": {\"method\": \"%s\", \"alpha\": %.17g, \"rrf_k\": %.17g, "
			        "\"depth\": %zu}", l->fusion->fusion == VDB_FUSION_WEIGHTED ? "weighted" : "rrf",
			        l->fusion->alpha, l->fusion->rrf_k, l->fusion->depth);
		for (int e = 0; e < VDB_NEXTRA; e++) {
			if (!(include & 1u << e))
				continue;
			fprintf(f, ", \"%s\": [", vdb_extra_name[e]);
			for (size_t r = 0; r < n; r++) {
				get(ctx, r, &h);
				if (r)
					fputs(", ", f);
				put_extra(f, &h, e);
			}
			fputc(']', f);
		}
		fputs("}\n", f);
		break;
	case VDB_OUT_IVECS: {
		/* k wide when asked (l->width), missing results -1 as FAISS writes
		 * them, so that fixed-width readers (numpy reshape) work */
		size_t w = l->width > n ? l->width : n;
		int32_t row[1 + 1024];
		row[0] = (int32_t)w;
		fwrite(row, 4, 1, f);
		for (size_t r = 0; r < w; r += 1024) {
			size_t m = w - r < 1024 ? w - r : 1024;
			for (size_t i = 0; i < m; i++) {
				if (r + i < n)
					get(ctx, r + i, &h);
				row[i] = r + i < n ? (int32_t)h.num : -1;
			}
			fwrite(row, 4, m, f);
		}
		break;
	}
	case VDB_OUT_TSV:
		for (size_t r = 0; r < n; r++) {
			get(ctx, r, &h);
			fprintf(f, "%zu\t%zu\t", l->query_no, r + 1);
			put_id(f, &h, 1);
			for (int c = 0; c < cols; c++) {
				fputc('\t', f);
				put_value(f, &h, c, "");
			}
			for (int e = 0; e < VDB_NEXTRA; e++)
				if (include & 1u << e) {
					fputc('\t', f);
					put_extra(f, &h, e);
				}
			fputc('\n', f);
		}
		break;
	}
	if (ferror(f))
		return vdb_fail(VDB_EIO, "writing results failed: %s", strerror(errno));
	return VDB_OK;
}

vdb_status vdb_write_hits(FILE *f, vdb_output fmt, size_t query_no, size_t n, vdb_hit_fn get,
                          const void *ctx, unsigned include)
{
	vdb_result_line l = { .query_no = query_no, .kind = VDB_LINE_VECTOR };
	return vdb_write_line(f, fmt, &l, n, get, ctx, include);
}

/* Results of a set of indexes: ids are VDB_SET_REF(index, row); dist, or
 * for hybrid lines the hits. */
typedef struct {
	const vdb_index *const *ix;
	size_t nix;
	const int64_t *ids;
	const float *dist;
	const vdb_fused_hit *fused;
} set_results;

/* Result r's index (NULL: none) and row. */
static const vdb_index *set_row(const set_results *c, size_t r, int64_t *row)
{
	int64_t ref = c->fused ? c->fused[r].id : c->ids[r];
	if (!c->nix) {
		*row = ref;
		return NULL;
	}
	return vdb_set_owner(c->ix, c->nix, ref, row);
}

static void set_hit(const void *ctx, size_t r, vdb_hit *h)
{
	const set_results *c = ctx;
	int64_t row;
	const vdb_index *ix = set_row(c, r, &row);
	if (c->fused) {
		const vdb_fused_hit *u = &c->fused[r];
		h->dist = u->score;
		h->lex_score = u->lex_score, h->lex_rank = u->lex_rank;
		h->vec_dist = u->vec_dist, h->vec_rank = u->vec_rank;
	} else
		h->dist = c->dist[r];
	h->num = row;
	h->id = ix ? vdb_index_id_json(ix, row, &h->id_len) : NULL;
	for (int e = 0; e < VDB_NEXTRA; e++)
		h->extra[e] = ix ? vdb_index_col_json(ix, VDB_COL_META + e, row, &h->extra_len[e]) : NULL;
	/* a shard's ids are the records of the whole input: ivecs writes them */
	if (ix)
		h->num = vdb_set_record(&ix, 1, row);
}

/* Write the m results of c as line l, their stored texts checked first. */
static vdb_status write_set(FILE *f, vdb_output fmt, const set_results *c, size_t m,
                            const vdb_result_line *l, unsigned include)
{
	/* ivecs prints row numbers only */
	for (size_t r = 0; r < m && c->nix && fmt != VDB_OUT_IVECS; r++) {
		int64_t row;
		const vdb_index *one = set_row(c, r, &row);
		vdb_status s = vdb_index_texts_check(one, row, include);
		if (s)
			return s;
	}
	return vdb_write_line(f, fmt, l, m, set_hit, c, include);
}

vdb_status vdb_write_result_line(FILE *f, vdb_output fmt, const vdb_index *const *ix, size_t n,
                                 const vdb_result_line *l, const int64_t *ids,
                                 const float *vals, size_t k, unsigned include)
{
	size_t m = 0;
	while (m < k && ids[m] >= 0)
		m++;
	set_results c = { ix, n, ids, vals, NULL };
	return write_set(f, fmt, &c, m, l, include);
}

vdb_status vdb_write_hybrid(FILE *f, vdb_output fmt, const vdb_index *const *ix, size_t n,
                            const vdb_result_line *l, const vdb_fused_hit *hits, size_t k,
                            unsigned include)
{
	size_t m = 0;
	while (m < k && hits[m].id >= 0)
		m++;
	set_results c = { ix, n, NULL, NULL, hits };
	return write_set(f, fmt, &c, m, l, include);
}

vdb_status vdb_write_result_set(FILE *f, vdb_output fmt, const vdb_index *const *ix, size_t n,
                                size_t query_no, const int64_t *ids, const float *dist,
                                size_t k, unsigned include)
{
	vdb_result_line l = { .query_no = query_no, .kind = include & VDB_RESULT_SCORES
	                      ? VDB_LINE_LEXICAL : VDB_LINE_VECTOR };
	return vdb_write_result_line(f, fmt, ix, n, &l, ids, dist, k, include & ~VDB_RESULT_SCORES);
}

vdb_status vdb_write_result(FILE *f, vdb_output fmt, const vdb_index *ix, size_t query_no,
                            const int64_t *ids, const float *dist, size_t k, unsigned include)
{
	return vdb_write_result_set(f, fmt, &ix, ix != NULL, query_no, ids, dist, k, include);
}
