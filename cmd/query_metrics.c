/*
 * query_metrics.c — vdb-query --metrics FILE: the run's figures in the
 * Prometheus text format (lib/prom.c, through cmd_metrics_write as
 * vdb-build and vdb-eval check write theirs), replaced atomically at exit,
 * on a failure too (the figures so far, one error and the exit status).
 *
 * Latency: queries are searched a batch at a time in parallel, so each
 * query of a batch is counted at the batch's search time divided by its
 * queries (with -b 1, each query's own time). The buckets are the
 * Prometheus client libraries' defaults from 5 ms to 1 s.
 */
#include "query.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double bounds[QUERY_METRICS_BUCKETS] = { 0.005, 0.01, 0.025, 0.05, 0.1,
                                                      0.25,  0.5,  1 };
static const char *const le[QUERY_METRICS_BUCKETS + 1] = {
	"le=\"0.005\"", "le=\"0.01\"", "le=\"0.025\"", "le=\"0.05\"", "le=\"0.1\"",
	"le=\"0.25\"",  "le=\"0.5\"",  "le=\"1\"",     "le=\"+Inf\""
};

static struct {
	const char *path;
	char *index;        /* the label: the indexes' names, comma-separated */
	size_t queries, results;
	size_t bucket[QUERY_METRICS_BUCKETS]; /* queries at most bounds[i], not cumulative */
	double seconds;     /* summed latency */
	bool filter;
	double kept, live;  /* --filter: rows passing it, of the live rows */
	vdb_prom_sample s[32];
} m;

static size_t samples(bool failed)
{
	size_t n = 0;
	m.s[n++] = (vdb_prom_sample){ "vdb_query_queries_total", "Queries answered by the last run",
		                          "counter", NULL, (double)m.queries };
	m.s[n++] = (vdb_prom_sample){ "vdb_query_errors_total", "Failed runs of the last run: 1 "
		                          "when it stopped at an error (a query, an input or an index)",
		                          "counter", NULL, failed };
	m.s[n++] = (vdb_prom_sample){ "vdb_query_results_total", "Result ids returned by the last "
		                          "run", "counter", NULL, (double)m.results };
	size_t cum = 0;
	for (int i = 0; i <= QUERY_METRICS_BUCKETS; i++) {
		cum += i < QUERY_METRICS_BUCKETS ? m.bucket[i] : 0;
		m.s[n++] = (vdb_prom_sample){ "vdb_query_latency_seconds_bucket", i ? NULL :
		                              "Search time of one query (a batch's time over its queries)",
		                              i ? NULL : "histogram", le[i],
		                              (double)(i < QUERY_METRICS_BUCKETS ? cum : m.queries) };
	}
	m.s[n++] = (vdb_prom_sample){ "vdb_query_latency_seconds_sum", NULL, NULL, NULL, m.seconds };
	m.s[n++] = (vdb_prom_sample){ "vdb_query_latency_seconds_count", NULL, NULL, NULL,
		                          (double)m.queries };
	if (m.filter)
		m.s[n++] = (vdb_prom_sample){ "vdb_query_filter_selectivity", "Share of the live "
			                          "records that pass --filter", "gauge", NULL,
			                          m.live > 0 ? m.kept / m.live : 0 };
	return n;
}

static const vdb_prom_sample *on_failure(size_t *n)
{
	*n = samples(true);
	return m.s;
}

void query_metrics_start(const char *path, const char *const *index, size_t nindex)
{
	size_t len = 1;
	for (size_t i = 0; i < nindex; i++)
		len += strlen(index[i]) + 1;
	if (!(m.index = malloc(len)))
		cmd_die(vdb_fail(VDB_ENOMEM, "out of memory"));
	m.index[0] = 0;
	for (size_t i = 0; i < nindex; i++) {
		if (i)
			strcat(m.index, ",");
		strcat(m.index, index[i]);
	}
	m.path = path;
	cmd_metrics_on_failure(path, "vdb_query", m.index);
	cmd_metrics_failure_samples(on_failure);
}

void query_metrics_batch(size_t nq, double seconds)
{
	if (!m.path || !nq)
		return;
	double each = seconds / (double)nq;
	int b = 0;
	while (b < QUERY_METRICS_BUCKETS && each > bounds[b])
		b++;
	if (b < QUERY_METRICS_BUCKETS)
		m.bucket[b] += nq;
	m.queries += nq;
	m.seconds += seconds;
}

void query_metrics_results(const int64_t *ids, size_t n, const vdb_fused_hit *hits, size_t nh)
{
	for (size_t i = 0; ids && i < n; i++)
		m.results += ids[i] >= 0;
	for (size_t i = 0; hits && i < nh; i++)
		m.results += hits[i].id >= 0;
}

void query_metrics_selectivity(double kept, double live)
{
	m.filter = true;
	m.kept = kept;
	m.live = live;
}

void query_metrics_finish(void)
{
	if (!m.path)
		return;
	size_t n = samples(false);
	vdb_status s;
	cmd_metrics_on_failure(NULL, NULL, NULL); /* a file that cannot be written fails once */
	if ((s = cmd_metrics_write(m.path, "vdb_query", m.index, 0, m.s, n)))
		cmd_die(s);
	free(m.index);
	m.path = NULL;
}
