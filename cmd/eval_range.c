/*
 * eval_range.c — vdb-eval's range search measures: `vdb-eval range`, the
 * precision and recall of range results against exact ones (the library's
 * vdb_range_eval, micro-averaged as FAISS does), and `vdb-eval sweep
 * --max-distance R`, which measures each index and search setting's range
 * search against the exact answer computed by brute force over the
 * index's rows (vdb_index_search_range_exact), with its speed.
 */
#include "eval_range.h"
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int eval_range(bool json, int nargs, char **args)
{
	if (nargs < 1 || nargs > 2)
		cmd_usage_error("range needs TRUTH (exact range results, e.g. a flat index's "
		                "vdb-query --max-distance) and optionally RESULTS");
	vdb_range_scores sc;
	vdb_status s = vdb_range_eval(args[0], nargs == 2 ? args[1] : "-", &sc);
	if (s)
		cmd_die(s);
	if (!sc.queries)
		cmd_warn("%s has no result line: nothing to measure", args[0]);
	if (json)
		printf("{\"queries\": %zu, \"returned\": %zu, \"true\": %zu, \"common\": %zu, "
		       "\"precision\": %.6f, \"recall\": %.6f}\n", sc.queries, sc.returned, sc.truth,
		       sc.common, sc.precision, sc.recall);
	else
		printf("range precision: %.4f\nrange recall: %.4f\n", sc.precision, sc.recall);
	return cmd_finish();
}

/* ===== sweep --max-distance ===== */
typedef struct {
	const char *label, *knob;
	unsigned setting;       /* 0: the index's default */
	double results;         /* returned per query, mean */
	vdb_range_scores sc;
	double qps_1, qps_all;  /* best of the runs */
} range_row;

enum { REPORT_TABLE, REPORT_CSV, REPORT_JSON };

static void write_header(int fmt, int width)
{
	if (fmt == REPORT_TABLE)
		printf("%-*s  %-14s %12s %10s %10s %10s %10s %10s\n", width, "index", "setting",
		       "max_distance", "results/q", "recall", "precision", "qps_1", "qps_all");
	else if (fmt == REPORT_CSV)
		printf("index,setting,max_distance,results_per_query,range_recall,range_precision,"
		       "qps_1,qps_all,threads\n");
}

static void write_row(int fmt, const range_row *r, float radius, size_t nq, unsigned runs,
                      int width)
{
	char setting[64] = "";
	if (r->knob && r->setting)
		snprintf(setting, sizeof setting, "%s=%u", r->knob, r->setting);
	if (fmt == REPORT_TABLE) {
		printf("%-*s  %-14s %12g %10.2f %10.4f %10.4f %10.0f %10.0f\n", width, r->label, setting,
		       (double)radius, r->results, r->sc.recall, r->sc.precision, r->qps_1, r->qps_all);
		return;
	}
	json_t *o = json_object();
	json_object_set_new(o, "index", json_string(r->label));
	if (fmt == REPORT_CSV) {
		char *label = json_dumps(json_object_get(o, "index"), JSON_ENCODE_ANY);
		/* a JSON string is a CSV field once its quotes are doubled */
		printf("\"");
		for (const char *c = label + 1; label && c[1]; c++)
			printf(*c == '"' ? "\"\"" : "%c", *c);
		printf("\",%s,%.9g,%.4f,%.6f,%.6f,%.1f,%.1f,%d\n", setting, (double)radius, r->results,
		       r->sc.recall, r->sc.precision, r->qps_1, r->qps_all, vdb_threads());
		free(label);
		json_decref(o);
		return;
	}
	if (r->knob)
		json_object_set_new(o, r->knob, r->setting ? json_integer(r->setting) : json_null());
	json_object_set_new(o, "max_distance", json_real((double)radius));
	json_object_set_new(o, "queries", json_integer((json_int_t)nq));
	json_object_set_new(o, "results_per_query", json_real(r->results));
	json_object_set_new(o, "range_recall", json_real(r->sc.recall));
	json_object_set_new(o, "range_precision", json_real(r->sc.precision));
	json_object_set_new(o, "qps_1", json_real(r->qps_1));
	json_object_set_new(o, "qps_all", json_real(r->qps_all));
	json_object_set_new(o, "threads", json_integer(vdb_threads()));
	json_object_set_new(o, "runs", json_integer(runs));
	char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
	if (!text)
		cmd_die(vdb_fail(VDB_ENOMEM, "out of memory"));
	puts(text);
	free(text);
	json_decref(o);
}

/* One setting of one index: a warm-up search gives the results scored;
 * then `runs` timed runs, all queries in one call on all threads and one
 * query a call on one thread, the best of each reported. */
static void measure(const vdb_index *ix, const vdb_vecs *q, const vdb_search_opts *so,
                    const range_sweep_args *a, const vdb_range_result *truth, range_row *row)
{
	vdb_range_result res;
	vdb_status s = vdb_index_search_range(ix, q->data, q->n, so, a->radius, a->cap, &res);
	if (s)
		cmd_die(s);
	vdb_range_score(truth, &res, &row->sc);
	row->results = q->n ? (double)res.lims[q->n] / (double)q->n : 0;
	vdb_range_result_free(&res);
	size_t rb = vdb_vecs_row_bytes(q);
	int threads = vdb_threads();
	row->qps_1 = row->qps_all = 0;
	for (unsigned run = 0; run < a->runs; run++) {
		double t0 = cmd_now();
		if ((s = vdb_index_search_range(ix, q->data, q->n, so, a->radius, a->cap, &res)))
			cmd_die(s);
		double t = cmd_now() - t0;
		vdb_range_result_free(&res);
		if (t > 0 && q->n / t > row->qps_all)
			row->qps_all = (double)q->n / t;
		vdb_set_threads(1);
		t0 = cmd_now();
		for (size_t i = 0; i < q->n; i++) {
			const float *one = (const float *)((const char *)q->data + i * rb);
			if ((s = vdb_index_search_range(ix, one, 1, so, a->radius, a->cap, &res)))
				cmd_die(s);
			vdb_range_result_free(&res);
		}
		t = cmd_now() - t0;
		vdb_set_threads(threads);
		if (t > 0 && q->n / t > row->qps_1)
			row->qps_1 = (double)q->n / t;
	}
}

int eval_range_sweep(const range_sweep_args *a)
{
	int fmt = REPORT_TABLE;
	if (a->format && !strcmp(a->format, "csv"))
		fmt = REPORT_CSV;
	else if (a->format && !strcmp(a->format, "json"))
		fmt = REPORT_JSON;
	else if (a->format && strcmp(a->format, "table"))
		cmd_usage_error("--format: '%s' is not table, csv or json", a->format);
	if (!a->queries)
		cmd_usage_error("sweep needs --queries FILE");
	vdb_reader *r;
	vdb_vecs q;
	vdb_vecs_init(&q);
	size_t got;
	vdb_status s;
	if ((s = vdb_reader_open(&r, a->queries, VDB_FMT_AUTO)) ||
	    (s = vdb_reader_read(r, &q, 0, &got)))
		cmd_die(s);
	vdb_reader_close(r);
	int width = 5;
	for (size_t i = 0; i < a->nindex; i++)
		width = (int)strlen(a->index[i]) > width ? (int)strlen(a->index[i]) : width;
	write_header(fmt, width);
	for (size_t i = 0; i < a->nindex; i++) {
		vdb_index *ix;
		vdb_sweep_index info;
		cmd_watch_index(a->index[i]);
		if ((s = vdb_index_open(&ix, a->index[i])) || (s = vdb_sweep_describe(ix, &info)))
			cmd_die(s);
		vdb_index_advise_search((const vdb_index *const *)&ix, 1);
		if (vdb_index_dim(ix) != q.dim)
			cmd_die(vdb_fail(VDB_EFORMAT, "%s has dimension %u but the queries of %s have %u",
			                 a->index[i], vdb_index_dim(ix), a->queries, q.dim));
		vdb_range_result truth;
		if ((s = vdb_index_search_range_exact(ix, q.data, q.n, a->radius, a->cap, &truth)))
			cmd_die(s);
		const knob_values *kv = knobs_find(a->knobs, info.knob);
		size_t n = kv ? kv->n : 0;
		for (size_t j = 0; j < (n ? n : 1); j++) {
			vdb_search_opts so;
			vdb_search_opts_init(&so);
			range_row row = { .label = a->index[i], .knob = info.knob,
			                  .setting = n ? kv->v[j] : 0 };
			if (n)
				knobs_set(&so, kv->knob, kv->v[j]);
			measure(ix, &q, &so, a, &truth, &row);
			write_row(fmt, &row, a->radius, q.n, a->runs, width);
			cmd_check_stdout();
		}
		vdb_range_result_free(&truth);
		vdb_index_close(ix);
		vdb_sweep_index_free(&info);
	}
	vdb_vecs_free(&q);
	return cmd_finish();
}
