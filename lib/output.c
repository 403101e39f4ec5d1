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
#include <errno.h>
#include <float.h>
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
	for (int prec = 6; prec <= 9; prec++) {
		snprintf(buf, n, "%.*g", prec, (double)v);
		if (strtof(buf, NULL) == v)
			return;
	}
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

vdb_status vdb_write_hits(FILE *f, vdb_output fmt, size_t query_no, size_t n, vdb_hit_fn get,
                          const void *ctx, unsigned include)
{
	char num[32];
	vdb_hit h;
	switch (fmt) {
	case VDB_OUT_JSONL:
		fprintf(f, "{\"query\": %zu, \"ids\": [", query_no);
		for (size_t r = 0; r < n; r++) {
			get(ctx, r, &h);
			if (r)
				fputs(", ", f);
			put_id(f, &h, 0);
		}
		fputs(include & VDB_RESULT_SCORES ? "], \"scores\": [" : "], \"distances\": [", f);
		for (size_t r = 0; r < n; r++) {
			get(ctx, r, &h);
			format_float(num, sizeof num, h.dist);
			fprintf(f, r ? ", %s" : "%s", num);
		}
		fputc(']', f);
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
		int32_t row[1 + 1024];
		row[0] = (int32_t)n;
		fwrite(row, 4, 1, f);
		for (size_t r = 0; r < n; r += 1024) {
			size_t m = n - r < 1024 ? n - r : 1024;
			for (size_t i = 0; i < m; i++) {
				get(ctx, r + i, &h);
				row[i] = (int32_t)h.num;
			}
			fwrite(row, 4, m, f);
		}
		break;
	}
	case VDB_OUT_TSV:
		for (size_t r = 0; r < n; r++) {
			get(ctx, r, &h);
			fprintf(f, "%zu\t%zu\t", query_no, r + 1);
			put_id(f, &h, 1);
			format_float(num, sizeof num, h.dist);
			fprintf(f, "\t%s", num);
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

/* Results of a set of indexes: ids are VDB_SET_REF(index, row). */
typedef struct {
	const vdb_index *const *ix;
	size_t nix;
	const int64_t *ids;
	const float *dist;
} set_results;

/* Result r's index (NULL: none) and row. */
static const vdb_index *set_row(const set_results *c, size_t r, int64_t *row)
{
	int64_t ref = c->ids[r];
	*row = c->nix > 1 ? ref & 0xffffffff : ref;
	return c->nix ? c->ix[c->nix > 1 ? ref >> 32 : 0] : NULL;
}

static void set_hit(const void *ctx, size_t r, vdb_hit *h)
{
	const set_results *c = ctx;
	int64_t row;
	const vdb_index *ix = set_row(c, r, &row);
	uint32_t shards = 0;
	h->dist = c->dist[r];
	h->num = row;
	h->id = ix ? vdb_index_id_json(ix, row, &h->id_len) : NULL;
	for (int e = 0; e < VDB_NEXTRA; e++)
		h->extra[e] = ix ? vdb_index_col_json(ix, VDB_COL_META + e, row, &h->extra_len[e]) : NULL;
	/* a shard's ids are the records of the whole input: ivecs writes them */
	if (h->id && ix && (vdb_index_shard(ix, &shards), shards))
		vdb_id_integer(h->id, h->id_len, &h->num);
}

vdb_status vdb_write_result_set(FILE *f, vdb_output fmt, const vdb_index *const *ix, size_t n,
                                size_t query_no, const int64_t *ids, const float *dist,
                                size_t k, unsigned include)
{
	size_t m = 0;
	while (m < k && ids[m] >= 0)
		m++;
	set_results c = { ix, n, ids, dist };
	/* ivecs prints row numbers only */
	for (size_t r = 0; r < m && n && fmt != VDB_OUT_IVECS; r++) {
		int64_t row;
		const vdb_index *one = set_row(&c, r, &row);
		vdb_status s = vdb_index_texts_check(one, row, include);
		if (s)
			return s;
	}
	return vdb_write_hits(f, fmt, query_no, m, set_hit, &c, include);
}

vdb_status vdb_write_result(FILE *f, vdb_output fmt, const vdb_index *ix, size_t query_no,
                            const int64_t *ids, const float *dist, size_t k, unsigned include)
{
	return vdb_write_result_set(f, fmt, &ix, ix != NULL, query_no, ids, dist, k, include);
}
