/*
 * query_range.c — vdb-query --max-distance: a batch of vector queries
 * answered by range search (vdb_index_search_range_set), one line per
 * query holding every record within the radius (none, maybe), nearest
 * first. Text and hybrid queries have no distance to bound: refused.
 */
#include "query.h"
#include <string.h>

/* A query record with a text that is not null. */
static bool has_text(const vdb_vecs *q, size_t i)
{
	size_t len;
	const char *t = vdb_vecs_col_json(q, VDB_COL_TEXT, i, &len);
	return t && !(len == 4 && !memcmp(t, "null", 4));
}

void query_range(const query_ctx *c, const vdb_vecs *q, const char *input, size_t first,
                 size_t *qno, cmd_span *search_s)
{
	static bool warned; /* the cap's warning is given once a run */
	for (size_t i = 0; i < q->n; i++) {
		if (q->novec && q->novec[i])
			cmd_usage_error("%s: record %zu is a text query (a \"text\" without a \"vector\"): "
			                "--max-distance bounds vector distances and takes vector queries "
			                "only", input, first + i);
		if (q->nqopt && !(q->qopt.off[i + 1] - q->qopt.off[i] == 4 &&
		                  !memcmp(q->qopt.buf + q->qopt.off[i], "null", 4)))
			cmd_usage_error("%s: record %zu has its own search options (k, filter, ef, ...): "
			                "--max-distance takes the command line's only", input, first + i);
		if (c->lexical && has_text(q, i))
			cmd_usage_error("%s: record %zu is a hybrid query (a \"text\" and a \"vector\", "
			                "and the index has a lexical index): --max-distance takes vector "
			                "queries only; drop the record's text", input, first + i);
	}
	vdb_range_result r;
	cmd_span t0 = cmd_span_now();
	vdb_status s = vdb_index_search_range_set(c->ix, c->nix, q->data, q->n, &c->so, c->radius,
	                                          c->range_cap, &r);
	if (s)
		cmd_die(s);
	cmd_span_add(search_s, t0);
	if (r.truncated && !c->k_given && !warned) {
		cmd_warn("%s: %zu queries have more than VDB_MAX_RANGE (%u) records within %g: each "
		         "gets its %u nearest; give -k to choose the cap", input, r.truncated,
		         VDB_MAX_RANGE, (double)c->radius, VDB_MAX_RANGE);
		warned = true;
	}
	for (size_t i = 0; i < q->n; i++) {
		vdb_result_line l = { .query_no = (*qno)++, .kind = VDB_LINE_VECTOR };
		l.query_id = vdb_vecs_col_json(q, VDB_COL_ID, i, &l.query_id_len);
		size_t at = r.lims[i], n = r.lims[i + 1] - at;
		s = vdb_write_result_line(stdout, c->out, c->ix, c->nix, &l, r.ids + at, r.dist + at, n,
		                          c->include);
		query_metrics_results(r.ids + at, n, NULL, 0);
		if (s) {
			vdb_range_result_free(&r);
			cmd_check_stdout(); /* a reader gone ends quietly */
			cmd_die(s);         /* else a stored text that would break the line */
		}
	}
	vdb_range_result_free(&r);
}
