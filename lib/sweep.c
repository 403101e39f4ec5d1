/*
 * sweep.c — recall and speed of one index at one search setting.
 *
 * What `vdb-eval sweep` reports for each index and setting, measured the way
 * ann-benchmarks does it: an untimed warm-up pass over all the queries (it
 * maps the index's pages in, wakes the OpenMP team and gives the results
 * that recall is computed from), then a fixed number of timed runs of which
 * the best is reported. Each run is
 *   - one thread, one query per vdb_index_search call, each call timed with
 *     CLOCK_MONOTONIC: the latency percentiles and the one-thread queries/s
 *     (queries over the sum of the latencies; what a server answering one
 *     request at a time on one core sees);
 *   - all threads, every query in one vdb_index_search call: the all-threads
 *     queries/s (what a batch job sees).
 * (All the one-thread runs come first, then the batch runs after one more
 * untimed batch call that wakes the OpenMP team.)
 * The best run for the one-thread figures is the one with the smallest sum
 * of latencies, and its latencies give the percentiles (nearest rank, so
 * p50 <= p95 <= p99 <= max always holds); the best all-threads run is taken
 * separately. recall@1 and recall@k come from the warm-up's k results per
 * query; recall@100 from one more untimed pass with k = 100 (only when the
 * ground truth has 100 neighbours per query), as a user asking for 100
 * results would get it.
 *
 * Memory: a vdb_sweep borrows the caller's queries and ground truth and owns
 * every buffer the measurement needs, allocated once by vdb_sweep_new; the
 * timed loops allocate nothing here. (The index's own search may set up
 * per-call state; a caller of vdb_index_search pays that too, so it belongs
 * in the latency.)
 *
 * Threads: vdb_sweep_run sets the OpenMP thread count to 1 for the
 * per-query loop and restores it; a sweep is not thread-safe and should not
 * run beside other searches that would disturb its timings anyway.
 */
#include "vdb_internal.h"
#include "results_internal.h"
#include <jansson.h>
#include <math.h>
#include <string.h>
#include <time.h>

struct vdb_sweep {
	const float *q;
	size_t nq;
	uint32_t dim;
	const int32_t *gt;
	size_t gw;        /* ground-truth neighbours per query */
	size_t k;
	unsigned runs;
	size_t width;     /* result row width of ids/dist: max(k, 100) */
	int64_t *ids;     /* nq x width */
	float *dist;
	int64_t *ids1;    /* nq x k: results of the per-query loop */
	float *dist1;
	double *lat, *best; /* nq latencies: this run's, the best run's */
};

vdb_status vdb_sweep_new(vdb_sweep **out, const float *queries, size_t nq, uint32_t dim,
                         const int32_t *gt, size_t gt_rows, size_t gt_width, size_t k,
                         unsigned runs)
{
	*out = NULL;
	VDB_RETURN_IF(nq == 0, VDB_EFORMAT, "no queries to sweep");
	VDB_RETURN_IF(k == 0 || k > VDB_MAX_K, VDB_EINVAL, "k %zu is out of range (1..%u)", k,
	              VDB_MAX_K);
	VDB_RETURN_IF(runs == 0, VDB_EINVAL, "runs must be at least 1");
	VDB_RETURN_IF(gt_rows != nq, VDB_EFORMAT,
	              "the ground truth has %zu rows but there are %zu queries", gt_rows, nq);
	VDB_RETURN_IF(gt_width < k, VDB_EFORMAT,
	              "the ground truth has %zu neighbours per query, fewer than k = %zu",
	              gt_width, k);
	vdb_sweep *s = calloc(1, sizeof *s);
	VDB_RETURN_IF(!s, VDB_ENOMEM, "out of memory for a sweep");
	s->q = queries, s->nq = nq, s->dim = dim;
	s->gt = gt, s->gw = gt_width;
	s->k = k, s->runs = runs;
	s->width = k > 100 ? k : 100;
	size_t wide, narrow;
	if (!vdb_mul_ok(nq, s->width, &wide) || !vdb_mul_ok(nq, k, &narrow) ||
	    !vdb_mul_ok(wide, sizeof(int64_t), &wide) || !vdb_mul_ok(narrow, sizeof(int64_t), &narrow)) {
		free(s);
		return vdb_fail(VDB_ENOMEM, "%zu queries x %zu results: size overflow", nq,
		                k > 100 ? k : 100);
	}
	s->ids = vdb_malloc(wide, "sweep results");
	s->dist = vdb_malloc(wide / 2, "sweep distances");
	s->ids1 = vdb_malloc(narrow, "sweep results");
	s->dist1 = vdb_malloc(narrow / 2, "sweep distances");
	s->lat = vdb_malloc(nq * sizeof(double), "sweep latencies");
	s->best = vdb_malloc(nq * sizeof(double), "sweep latencies");
	if (!s->ids || !s->dist || !s->ids1 || !s->dist1 || !s->lat || !s->best) {
		vdb_sweep_free(s);
		return VDB_ENOMEM;
	}
	*out = s;
	return VDB_OK;
}

void vdb_sweep_free(vdb_sweep *s)
{
	if (!s)
		return;
	free(s->ids);
	free(s->dist);
	free(s->ids1);
	free(s->dist1);
	free(s->lat);
	free(s->best);
	free(s);
}

vdb_status vdb_sweep_check(const vdb_sweep *s, const vdb_index *ix, const char *name)
{
	/* the sweep's queries are floats; a hamming index takes bits */
	VDB_RETURN_IF(vdb_index_metric(ix) == VDB_METRIC_HAMMING, VDB_EUNSUPPORTED,
	              "%s is a hamming index: sweeps take float queries (measure it with "
	              "vdb-query and vdb-eval recall)", name ? name : "the index");
	VDB_RETURN_IF(vdb_index_dim(ix) != s->dim, VDB_EFORMAT,
	              "%s has dimension %u but the queries have %u", name ? name : "the index",
	              vdb_index_dim(ix), s->dim);
	return VDB_OK;
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Nearest-rank percentile of n sorted values: the smallest value with at
 * least pct% of the values at or below it. */
static double percentile(const double *sorted, size_t n, unsigned pct)
{
	size_t rank = (pct * n + 99) / 100;
	return sorted[rank ? rank - 1 : 0];
}

/* The timed runs: first every run of the one-thread loop, then (after one
 * untimed call that wakes the whole team) every run of the batch, so the
 * thread count changes twice and not between runs. The caller restores the
 * thread count. */
static vdb_status timed_runs(vdb_sweep *s, const vdb_index *const *ix, size_t nix,
                             const vdb_search_opts *o, int threads, vdb_sweep_result *r)
{
	double best_sum = INFINITY, best_batch = INFINITY;
	size_t k = s->k;
	vdb_status st;
	vdb_set_threads(1);
	for (unsigned run = 0; run < s->runs; run++) {
		double sum = 0;
		for (size_t i = 0; i < s->nq; i++) {
			double t0 = now();
			st = vdb_index_search_set(ix, nix, s->q + i * s->dim, 1, o, s->ids1 + i * k,
			                          s->dist1 + i * k);
			double t = now() - t0;
			if (st)
				return st;
			s->lat[i] = t;
			sum += t;
		}
		if (sum < best_sum) {
			double *tmp = s->best;
			s->best = s->lat, s->lat = tmp;
			best_sum = sum;
		}
	}
	vdb_set_threads(threads);
	if ((st = vdb_index_search_set(ix, nix, s->q, s->nq, o, s->ids, s->dist)))
		return st;
	for (unsigned run = 0; run < s->runs; run++) {
		double t0 = now();
		st = vdb_index_search_set(ix, nix, s->q, s->nq, o, s->ids, s->dist);
		double t = now() - t0;
		if (st)
			return st;
		if (t < best_batch)
			best_batch = t;
	}
	qsort(s->best, s->nq, sizeof *s->best, cmp_double);
	r->p50 = percentile(s->best, s->nq, 50);
	r->p90 = percentile(s->best, s->nq, 90);
	r->p95 = percentile(s->best, s->nq, 95);
	r->p99 = percentile(s->best, s->nq, 99);
	r->max = s->best[s->nq - 1];
	r->seconds = best_sum;
	/* a clock too coarse to see the work would divide by zero */
	double tiny = 1e-9 * (double)s->nq;
	r->qps_1 = (double)s->nq / (best_sum > tiny ? best_sum : tiny);
	r->qps_all = (double)s->nq / (best_batch > tiny ? best_batch : tiny);
	return VDB_OK;
}

/* The warm-up's results as the ground truth names them: a shard's rows
 * become the records of the whole input (its integer ids), as vdb-query
 * writes them in ivecs. */
static void as_records(const vdb_index *const *ix, size_t nix, int64_t *ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (ids[i] >= 0)
			ids[i] = vdb_set_record(ix, nix, ids[i]);
}

vdb_status vdb_sweep_run_set(vdb_sweep *s, const vdb_index *const *ix, size_t nix,
                             const vdb_search_opts *o, vdb_sweep_result *r)
{
	VDB_RETURN_IF(nix == 0, VDB_EINVAL, "no index to measure");
	vdb_status st;
	for (size_t i = 0; i < nix; i++)
		if ((st = vdb_sweep_check(s, ix[i], NULL)))
			return st;
	memset(r, 0, sizeof *r);
	vdb_search_opts so = *o;
	so.k = s->k;
	int threads = vdb_threads();
	r->threads = threads;

	/* warm-up, and the results recall@1 and recall@k are computed from */
	if ((st = vdb_index_search_set(ix, nix, s->q, s->nq, &so, s->ids, s->dist)))
		return st;
	as_records(ix, nix, s->ids, s->nq * s->k);
	r->recall_k = vdb_recall(s->gt, s->gw, s->ids, s->k, s->nq, s->k);
	r->recall_1 = vdb_recall(s->gt, s->gw, s->ids, s->k, s->nq, 1);
	r->recall_100 = -1;
	if (s->gw >= 100) {
		if (s->k != 100) {
			vdb_search_opts so100 = so;
			so100.k = 100;
			if ((st = vdb_index_search_set(ix, nix, s->q, s->nq, &so100, s->ids, s->dist)))
				return st;
		}
		as_records(ix, nix, s->ids, s->nq * 100);
		r->recall_100 = vdb_recall(s->gt, s->gw, s->ids, 100, s->nq, 100);
	}

	st = timed_runs(s, ix, nix, &so, threads, r);
	vdb_set_threads(threads);
	return st;
}

vdb_status vdb_sweep_run(vdb_sweep *s, const vdb_index *ix, const vdb_search_opts *o,
                         vdb_sweep_result *r)
{
	return vdb_sweep_run_set(s, &ix, 1, o, r);
}

/* ===== What a report says about an index ===== */

/* Header fields that describe the data or the file rather than how the
 * index was built (or that are statistics of the built graph). */
static const char *const not_params[] = {
	"file", "format", "size", "type", "metric", "dim", "count", "live", "ids", "metadata",
	"levels", "entry_point", "seed", "bytes_per_vector", "default_nprobe", "list_sizes",
	"deleted", "deleted_fraction", "text", "embedder", "resident_bytes_per_vector",
	"storage", NULL
};

static int is_param(const char *key, json_t *v)
{
	for (const char *const *p = not_params; *p; p++)
		if (!strcmp(key, *p))
			return 0;
	if (!strcmp(key, "storage"))
		return json_is_string(v) && strcmp(json_string_value(v), "f32") != 0;
	return json_is_number(v) || json_is_string(v) || json_is_boolean(v);
}

/* Append " key=value" to the text and key: value to the object. */
static vdb_status add_param(json_t *obj, char **text, const char *key, json_t *v)
{
	char val[128];
	if (json_is_integer(v))
		snprintf(val, sizeof val, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(val, sizeof val, "%g", json_real_value(v));
	else if (json_is_string(v))
		snprintf(val, sizeof val, "%s", json_string_value(v));
	else
		snprintf(val, sizeof val, "%s", json_is_true(v) ? "true" : "false");
	size_t used = *text ? strlen(*text) : 0, add = 1 + strlen(key) + 1 + strlen(val);
	char *t = realloc(*text, used + add + 1);
	VDB_RETURN_IF(!t, VDB_ENOMEM, "out of memory describing an index");
	snprintf(t + used, add + 1, "%s%s=%s", used ? " " : "", key, val);
	*text = t;
	json_object_set(obj, key, v);
	return VDB_OK;
}

void vdb_sweep_index_free(vdb_sweep_index *d)
{
	if (!d)
		return;
	free(d->params), free(d->params_json);
	d->params = d->params_json = NULL;
}

vdb_status vdb_sweep_describe(const vdb_index *ix, vdb_sweep_index *d)
{
	memset(d, 0, sizeof *d);
	d->knob = vdb_index_knob(ix); /* the type's search setting (flat: none) */
	char *text = vdb_index_info_json(ix);
	VDB_RETURN_IF(!text, VDB_ENOMEM, "out of memory describing an index");
	json_error_t err;
	json_t *info = json_loads(text, 0, &err);
	free(text);
	VDB_RETURN_IF(!info, VDB_EINTERNAL, "the index's description is not JSON: %s", err.text);
	json_t *size = json_object_get(info, "size");
	if (json_is_integer(size) && json_integer_value(size) > 0)
		d->bytes = (uint64_t)json_integer_value(size);
	json_t *params = json_object();
	const char *key;
	json_t *v;
	vdb_status st = VDB_OK;
	json_object_foreach(info, key, v)
		if (!st && is_param(key, v))
			st = add_param(params, &d->params, key, v);
	if (!st && (v = json_object_get(info, "seed")))
		st = add_param(params, &d->params, "seed", v);
	if (!st && !d->params && !(d->params = strdup("")))
		st = vdb_fail(VDB_ENOMEM, "out of memory describing an index");
	if (!st && !(d->params_json = json_dumps(params, JSON_COMPACT | JSON_PRESERVE_ORDER)))
		st = vdb_fail(VDB_ENOMEM, "out of memory describing an index");
	json_decref(params);
	json_decref(info);
	if (st)
		vdb_sweep_index_free(d);
	return st;
}
