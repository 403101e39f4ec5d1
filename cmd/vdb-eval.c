/* vdb-eval — exact ground truth, recall of query results, IR metrics of
 * results against relevance judgments (lib/irmetrics.c), and sweeps of
 * recall and speed over search settings (the measuring is lib/sweep.c). */
#include "common.h"
#include "recall_pick.h"
#include "eval_range.h"
#include "eval_knobs.h"
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum {
	OPT_MIN_RECALL = OPT_COMMON_LAST, OPT_JSON, OPT_QUERIES, OPT_GT,
	OPT_RUNS, OPT_PLOT, OPT_REFERENCE, OPT_HEADER, OPT_MAX_P99, OPT_METRICS, OPT_PER_QUERY,
	OPT_QRELS, OPT_ALPHA, OPT_RRF_K, OPT_DEPTH, OPT_RECALL, OPT_MAX_DISTANCE,
	OPT_KNOB /* ..OPT_KNOB + EVAL_MAX_KNOBS - 1: the index types' search settings */
};

/* sysexits' EX_UNAVAILABLE: a program vdb-eval needs (gnuplot) is missing */
#define EXIT_UNAVAILABLE 69
/* at most this many indexes and settings per sweep */
#define MAX_LIST 1024

typedef enum { HEADER_AUTO, HEADER_ALWAYS, HEADER_NEVER } header_mode;

typedef struct {
	vdb_metric metric;
	size_t k;
	bool k_given;
	vdb_output out;
	const char *format;  /* vectors' format, or for sweep the report's */
	double min_recall;
	double max_p99_ms;   /* check: 0 = no limit */
	const char *metrics; /* check: Prometheus metrics file */
	bool json;
	bool per_query;      /* qrels: a JSON line per query */
	/* sweep */
	char **index;        /* the -x names (copies), from argv or the config file */
	size_t nindex;
	bool index_from_argv;
	const char *queries, *gt, *plot, *reference;
	knob_set knobs;      /* --ef, --nprobe, --probes, ...: values of each */
	unsigned runs;
	header_mode header;
	/* fusion */
	const char *qrels;
	double *alpha, *rrf_k;
	size_t nalpha, nrrf_k;
	size_t depth;
	double recall;       /* check --recall: the promise to test; 0: none */
	/* sweep --max-distance: range search (eval_range.c) */
	bool range;
	double radius;
} eval_args;

/* the command line, to tell its option values from the config file's */
static int main_argc;
static char **main_argv;

/* the knobs, for help (which cmd_parse calls without the arguments) */
static knob_set help_knobs;

static void help(void)
{
	char kn[128];
	knobs_names(&help_knobs, "|", "|", kn, sizeof kn);
	printf("Usage: %s groundtruth [-m METRIC] [-k K] [--output FMT] BASE QUERIES\n"
	       "       %s recall -k K [--min-recall R] [--json] GT.ivecs [RESULTS]\n"
	       "       %s qrels -k K [--per-query] [--json] QRELS [RESULTS]\n"
	       "       %s sweep -x INDEX [-x INDEX...] --queries Q --gt GT.ivecs [-k K]\n"
	       "                [%s N,N,...] [--runs N] [--format FMT]\n"
	       "                [--plot FILE.svg|FILE.png [--reference REF.csv]]\n"
	       "       %s fusion -x INDEX --queries Q.jsonl --qrels QRELS [-k K]\n"
	       "                [--alpha A,A,...] [--rrf-k C,C,...] [--fusion-depth N]\n"
	       "                [--format FMT] [--plot FILE.svg|FILE.png]\n"
	       "       %s range [--json] TRUTH [RESULTS]\n"
	       "       %s types [--json]\n"
	       "       %s sweep -x INDEX... --queries Q --max-distance R [-k CAP] [%s ...]\n"
	       "       %s check -x INDEX [-x SHARD...] --queries Q --gt GT.ivecs [-k K] [%s N]\n"
	       "                [--min-recall R] [--max-p99-ms MS] [--metrics FILE] [--recall R]\n"
	       "\n"
	       "groundtruth: exact K nearest neighbours (default 100) of each query in BASE,\n"
	       "  as ivecs (default), jsonl or tsv on stdout; BASE is streamed.\n"
	       "recall: recall@K of vdb-query results (jsonl or ivecs; default stdin).\n"
	       "qrels: nDCG@K, MRR@K, recall@K and precision@K of vdb-query results (default\n"
	       "  stdin) against relevance judgments in TREC qrels format (QID ITER DOCID REL).\n"
	       "sweep: for each index and search setting, recall@1/@K/@100, queries/s on one\n"
	       "  thread and on all, latency p50/p95/p99/max, index size and build parameters.\n"
	       "fusion: nDCG@K, MRR@K, recall@K and precision@K (default K 10) of judged\n"
	       "  queries ranked by BM25 alone, vectors alone, and hybrid search with RRF at\n"
	       "  each --rrf-k and weighted fusion at each --alpha.\n"
	       "range: range precision and recall of vdb-query --max-distance results (default\n"
	       "  stdin) against exact ones (TRUTH: a flat index's), micro-averaged over queries.\n"
	       "sweep --max-distance R: range recall, precision and queries/s per setting,\n"
	       "  against the exact answer by brute force (no --gt).\n"
	       "check: recall@K and one-query latency of an index (or of a set of shards, searched\n"
	       "  as one) at one setting, one summary line; exit 1 below --min-recall or above\n"
	       "  --max-p99-ms (a guard for cron).\n"
	       "types: each index type's metrics, storages, --refine and search setting.\n"
	       "\n"
	       "  -m, --metric METRIC    l2 (default), ip or cosine\n"
	       "  -k N                   neighbours per query (sweep, fusion: default 10)\n"
	       "  -O, --output FMT       groundtruth output: ivecs (default), jsonl, tsv\n"
	       "  -f, --format FMT       vectors: auto (default), fvecs, ivecs, bvecs, jsonl;\n"
	       "                         sweep, fusion: the report: table (default), csv, json\n"
	       "      --min-recall R     recall, check: exit 1 when recall@K is below R\n"
	       "      --recall R         check: search at the setting vdb-query --recall R picks\n"
	       "                         and exit 1 when recall@K is below R - 0.02\n"
	       "      --max-p99-ms MS    check: exit 1 when the 99th percentile latency is above MS\n"
	       "      --metrics FILE     check: write Prometheus metrics to FILE (atomically)\n"
	       "      --json             recall, qrels, range: print a JSON object; types: a line each\n"
	       "      --per-query        qrels: first a JSON line for each judged query\n"
	       "  -x, --index FILE       sweep: an index; repeat, or separate with commas;\n"
	       "                         check: the index, or each shard of a set\n"
	       "      --queries FILE     sweep, check: query vectors (fvecs, jsonl, ...)\n"
	       "      --gt FILE          sweep, check: their ground truth (ivecs, from groundtruth)\n"
	       "      --runs N           sweep, check: timed runs, the best reported (default 3)\n",
	       cmd_name, cmd_name, cmd_name, cmd_name, kn, cmd_name, cmd_name, cmd_name, cmd_name, kn,
	       cmd_name, kn);
	knobs_help(&help_knobs);
	printf("      --header WHEN      sweep: auto (default: not when appending to a\n"
	       "                         non-empty file), always or never\n"
	       "      --plot FILE        sweep: draw recall against queries/s (gnuplot);\n"
	       "                         fusion: nDCG@K against alpha\n"
	       "      --reference FILE   sweep: add the curves of a CSV (system,setting,recall,qps)\n"
	       "      --max-distance R   sweep: measure range search within R (-k: its cap)\n"
	       "      --qrels FILE       fusion: relevance judgments (TREC qrels)\n"
	       "      --alpha LIST       fusion: weights of the vectors, 0..1 (default\n"
	       "                         0,0.1,...,1)\n"
	       "      --rrf-k LIST       fusion: RRF constants (default 60)\n"
	       "      --fusion-depth N   fusion: candidates from each list (default max(K, 100))\n"
	       "  -t, --threads N        threads (default: all cores)\n"
	       "  -c, --config FILE      YAML file of long options (command line wins)\n"
	       "  -q, --quiet            no warnings\n"
	       "      --progress         progress on stderr even when it is not a terminal\n"
	       "  -h, --help             this help\n"
	       "      --version          version and SIMD level\n"
	       "\nExit status: 0 ok, 1 below --min-recall or above --max-p99-ms, 64 usage,\n"
	       "65 bad input data,\n"
	       "66 cannot open input, 69 gnuplot missing for --plot, 73 cannot create output,\n"
	       "74 I/O error, 70 internal error. See vdb-eval(1).\n");
}

/* Whether an option value lies in the command line (not the config file). */
static bool from_argv(const char *p)
{
	uintptr_t v = (uintptr_t)p;
	for (int i = 0; i < main_argc; i++) {
		uintptr_t a = (uintptr_t)main_argv[i];
		if (v >= a && v <= a + strlen(main_argv[i]))
			return true;
	}
	return false;
}

static void free_indexes(eval_args *a)
{
	for (size_t i = 0; i < a->nindex; i++)
		free(a->index[i]);
	a->nindex = 0;
}

/* -x: appends; the first -x of the command line replaces the config's list. */
static void add_indexes(eval_args *a, const char *arg)
{
	bool argv_value = from_argv(arg);
	if (argv_value && !a->index_from_argv)
		free_indexes(a);
	a->index_from_argv = argv_value;
	if (!a->index && !(a->index = malloc(MAX_LIST * sizeof *a->index)))
		cmd_die(vdb_fail(VDB_ENOMEM, "out of memory"));
	for (const char *p = arg;; p++) {
		size_t len = strcspn(p, ",");
		if (!len)
			cmd_usage_error("--index: an empty name in '%s'", arg);
		if (a->nindex == MAX_LIST)
			cmd_usage_error("--index: more than %d indexes", MAX_LIST);
		if (!(a->index[a->nindex++] = strndup(p, len)))
			cmd_die(vdb_fail(VDB_ENOMEM, "out of memory"));
		p += len;
		if (!*p)
			break;
	}
}

/* A comma-separated list of whole numbers in 1..max (replaces the last). */
/* The items of a comma-separated list (at most MAX_LIST of at most 31
 * bytes), split into items (MAX_LIST x 32 bytes, caller frees); their count. */
static size_t list_items(const char *opt, const char *arg, const char *example,
                         char (**items)[32])
{
	if (!(*items = malloc(MAX_LIST * sizeof **items)))
		cmd_die(vdb_fail(VDB_ENOMEM, "out of memory"));
	size_t n = 0;
	for (const char *p = arg;; p++) {
		size_t len = strcspn(p, ",");
		if (len == 0 || len >= sizeof **items)
			cmd_usage_error("%s: '%s' is not a list of numbers like %s", opt, arg, example);
		if (n == MAX_LIST)
			cmd_usage_error("%s: more than %d values", opt, MAX_LIST);
		memcpy((*items)[n], p, len);
		(*items)[n++][len] = 0;
		p += len;
		if (!*p)
			break;
	}
	return n;
}

static void parse_list(const char *opt, const char *arg, unsigned max, unsigned **out,
                       size_t *n)
{
	char (*item)[32];
	*n = list_items(opt, arg, "16,32,64", &item);
	free(*out);
	if (!(*out = malloc(*n * sizeof **out)))
		cmd_die(vdb_fail(VDB_ENOMEM, "out of memory"));
	for (size_t i = 0; i < *n; i++)
		(*out)[i] = (unsigned)cmd_size(opt, item[i], 1, max);
	free(item);
}

/* A list of reals in [min, max] (excl_min: min itself excluded). */
static void parse_reals(const char *opt, const char *arg, double min, double max, bool excl_min,
                        double **out, size_t *n)
{
	char (*item)[32];
	*n = list_items(opt, arg, "0,0.5,1", &item);
	free(*out);
	if (!(*out = malloc(*n * sizeof **out)))
		cmd_die(vdb_fail(VDB_ENOMEM, "out of memory"));
	for (size_t i = 0; i < *n; i++) {
		(*out)[i] = cmd_double(opt, item[i], min, max);
		if (excl_min && (*out)[i] == min)
			cmd_usage_error("%s: %s must be above %g", opt, item[i], min);
	}
	free(item);
}

static bool on_opt(int opt, const char *arg, void *ctx)
{
	eval_args *a = ctx;
	if (opt >= OPT_KNOB && opt < OPT_KNOB + (int)a->knobs.n) {
		knob_values *kv = &a->knobs.k[opt - OPT_KNOB];
		char name[40];
		snprintf(name, sizeof name, "--%s", kv->knob->name);
		parse_list(name, arg, kv->knob->max, &kv->v, &kv->n);
		return true;
	}
	switch (opt) {
	case 'm':
		cmd_metric(arg, &a->metric);
		return true;
	case 'k':
		a->k = cmd_size("-k", arg, 1, VDB_MAX_K);
		a->k_given = true;
		return true;
	case 'O':
		cmd_output(arg, &a->out);
		return true;
	case 'f':
		a->format = arg; /* its meaning depends on the subcommand */
		return true;
	case OPT_RECALL:
		a->recall = recall_parse("--recall", arg);
		return true;
	case OPT_MIN_RECALL:
		a->min_recall = cmd_double("--min-recall", arg, 0, 1);
		return true;
	case OPT_JSON:
		a->json = true;
		return true;
	case OPT_PER_QUERY:
		a->per_query = true;
		return true;
	case OPT_QRELS:
		a->qrels = arg;
		return true;
	case OPT_ALPHA:
		parse_reals("--alpha", arg, 0, 1, false, &a->alpha, &a->nalpha);
		return true;
	case OPT_RRF_K:
		parse_reals("--rrf-k", arg, 0, 1e9, true, &a->rrf_k, &a->nrrf_k);
		return true;
	case OPT_DEPTH:
		a->depth = cmd_size("--fusion-depth", arg, 1, VDB_MAX_K);
		return true;
	case OPT_MAX_P99:
		a->max_p99_ms = cmd_double("--max-p99-ms", arg, 0, 1e9);
		return true;
	case OPT_METRICS:
		a->metrics = arg;
		return true;
	case 'x':
		add_indexes(a, arg);
		return true;
	case OPT_QUERIES:
		a->queries = arg;
		return true;
	case OPT_GT:
		a->gt = arg;
		return true;
	case OPT_RUNS:
		a->runs = (unsigned)cmd_size("--runs", arg, 1, 1000);
		return true;
	case OPT_PLOT:
		a->plot = arg;
		return true;
	case OPT_REFERENCE:
		a->reference = arg;
		return true;
	case OPT_MAX_DISTANCE:
		a->radius = cmd_double("--max-distance", arg, -3.4e38, 3.4e38);
		a->range = true;
		return true;
	case OPT_HEADER:
		if (!strcmp(arg, "auto"))
			a->header = HEADER_AUTO;
		else if (!strcmp(arg, "always"))
			a->header = HEADER_ALWAYS;
		else if (!strcmp(arg, "never"))
			a->header = HEADER_NEVER;
		else
			cmd_usage_error("--header: '%s' is not auto, always or never", arg);
		return true;
	}
	return false;
}

static const struct option longopts[] = {
	{ "metric", required_argument, NULL, 'm' },
	{ "k", required_argument, NULL, 'k' },
	{ "output", required_argument, NULL, 'O' },
	{ "format", required_argument, NULL, 'f' },
	{ "min-recall", required_argument, NULL, OPT_MIN_RECALL },
	{ "recall", required_argument, NULL, OPT_RECALL },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "per-query", no_argument, NULL, OPT_PER_QUERY },
	{ "qrels", required_argument, NULL, OPT_QRELS },
	{ "alpha", required_argument, NULL, OPT_ALPHA },
	{ "rrf-k", required_argument, NULL, OPT_RRF_K },
	{ "fusion-depth", required_argument, NULL, OPT_DEPTH },
	{ "index", required_argument, NULL, 'x' },
	{ "queries", required_argument, NULL, OPT_QUERIES },
	{ "gt", required_argument, NULL, OPT_GT },
	{ "runs", required_argument, NULL, OPT_RUNS },
	{ "plot", required_argument, NULL, OPT_PLOT },
	{ "reference", required_argument, NULL, OPT_REFERENCE },
	{ "header", required_argument, NULL, OPT_HEADER },
	{ "max-p99-ms", required_argument, NULL, OPT_MAX_P99 },
	{ "metrics", required_argument, NULL, OPT_METRICS },
	{ "max-distance", required_argument, NULL, OPT_MAX_DISTANCE },
	CMD_COMMON_LONGOPTS
};

/* Base rows per block: enough to keep every thread busy, small enough that
 * a base of any size streams through a bounded amount of memory. */
#define BASE_BLOCK 65536

/* Records in a TEXMEX file of dim-wide rows, from its size; 0 if unknown
 * (stdin, JSONL, a size that is not a whole number of records). */
static size_t records_in(const char *path, vdb_format f, uint32_t dim)
{
	struct stat st;
	if (!strcmp(path, "-") || stat(path, &st) || !S_ISREG(st.st_mode) || !dim)
		return 0;
	size_t rec = f == VDB_FMT_BVECS ? 4 + (size_t)dim
	           : f == VDB_FMT_FVECS || f == VDB_FMT_IVECS ? 4 + 4 * (size_t)dim : 0;
	if (!rec || (size_t)st.st_size % rec)
		return 0;
	return (size_t)st.st_size / rec;
}

static int groundtruth(const eval_args *a, int nargs, char **args)
{
	if (nargs != 2)
		cmd_usage_error("groundtruth needs BASE and QUERIES (got %d file%s)", nargs,
		                nargs == 1 ? "" : "s");
	if (a->metric == VDB_METRIC_HAMMING)
		cmd_usage_error("--metric: groundtruth supports l2, ip and cosine");
	vdb_format fmt = VDB_FMT_AUTO;
	if (a->format)
		cmd_format(a->format, &fmt);
	size_t k = a->k_given ? a->k : 100;
	vdb_status s;
	vdb_reader *r;
	vdb_vecs q, base;
	vdb_vecs_init(&q);
	vdb_vecs_init(&base);
	size_t got;
	if ((s = vdb_reader_open(&r, args[1], fmt)) || (s = vdb_reader_read(r, &q, 0, &got)))
		cmd_die(s);
	vdb_reader_close(r);
	vdb_knn *knn;
	if ((s = vdb_knn_new(&knn, a->metric, q.dim, k, q.data, q.n)))
		cmd_die(s);
	base.dim = q.dim; /* the reader checks base rows against the queries' dimension */
	if ((s = vdb_reader_open(&r, args[0], fmt)))
		cmd_die(s);
	size_t done = 0, total = records_in(args[0], vdb_reader_format(r), q.dim);
	cmd_progress("base vectors", 0, total);
	for (;;) {
		vdb_vecs_clear(&base);
		if ((s = vdb_reader_read(r, &base, BASE_BLOCK, &got)))
			cmd_die(s);
		if (got == 0)
			break;
		if (a->metric == VDB_METRIC_COSINE)
			vdb_vecs_normalize(&base);
		if ((s = vdb_knn_add(knn, base.data, NULL, base.n, (int64_t)done)))
			cmd_die(s);
		done += base.n;
		cmd_progress("base vectors", done, total >= done ? total : 0);
	}
	vdb_reader_close(r);
	vdb_vecs_free(&base);
	if (done < k)
		cmd_warn("%s has %zu vectors, fewer than k = %zu", args[0], done, k);
	int64_t *ids = malloc(q.n * k * sizeof *ids);
	float *dist = malloc(q.n * k * sizeof *dist);
	if (!ids || !dist)
		cmd_die(vdb_fail(VDB_ENOMEM, "out of memory"));
	if ((s = vdb_knn_result(knn, ids, dist)))
		cmd_die(s);
	vdb_output out = a->out ? a->out : VDB_OUT_IVECS;
	for (size_t i = 0; i < q.n; i++)
		if (vdb_write_result(stdout, out, NULL, i, ids + i * k, dist + i * k, k, 0))
			cmd_check_stdout();
	free(ids);
	free(dist);
	vdb_knn_free(knn);
	vdb_vecs_free(&q);
	return cmd_finish();
}

static int recall(const eval_args *a, int nargs, char **args)
{
	if (nargs < 1 || nargs > 2)
		cmd_usage_error("recall needs GT.ivecs and optionally RESULTS");
	if (!a->k_given)
		cmd_usage_error("recall needs -k K");
	int32_t *gt;
	size_t gq, gw, rw;
	int64_t *res;
	vdb_status s;
	if ((s = vdb_ivecs_load(args[0], &gt, &gq, &gw)))
		cmd_die(s);
	/* by query number, each query once, no id twice (else 65) */
	if ((s = vdb_results_load(nargs == 2 ? args[1] : "-", gq, &res, &rw)))
		cmd_die(s);
	const char *rname = nargs == 2 ? args[1] : "stdin";
	if (gw < a->k)
		cmd_die(vdb_fail(VDB_EFORMAT, "ground truth %s has %zu neighbours per query, fewer "
		                 "than k = %zu", args[0], gw, a->k));
	if (rw < a->k)
		cmd_warn("%s has at most %zu results per query, fewer than k = %zu", rname, rw, a->k);
	double rec = vdb_recall(gt, gw, res, rw, gq, a->k);
	if (a->json)
		printf("{\"k\": %zu, \"queries\": %zu, \"recall\": %.6f}\n", a->k, gq, rec);
	else
		printf("recall@%zu: %.4f\n", a->k, rec);
	free(gt);
	free(res);
	int st = cmd_finish();
	if (a->min_recall > 0 && rec < a->min_recall) {
		if (!cmd_opts.quiet)
			fprintf(stderr, "%s: recall@%zu %.4f is below --min-recall %g\n", cmd_name, a->k,
			        rec, a->min_recall);
		return EXIT_BELOW;
	}
	return st;
}

/* ===== qrels ===== */

static int qrels(const eval_args *a, int nargs, char **args)
{
	if (nargs < 1 || nargs > 2)
		cmd_usage_error("qrels needs QRELS and optionally RESULTS");
	if (!a->k_given)
		cmd_usage_error("qrels needs -k K");
	vdb_qrels *q;
	vdb_ir_eval *e;
	vdb_status s;
	if ((s = vdb_qrels_load(&q, args[0])) || (s = vdb_ir_eval_new(&e, q, a->k)))
		cmd_die(s);
	vdb_ir_scores m;
	size_t answered;
	if (!vdb_ir_eval_mean(e, &m, NULL))
		cmd_die(vdb_fail(VDB_EFORMAT, "%s judges no document relevant (REL > 0): nothing to "
		                 "measure", args[0]));
	if ((s = vdb_ir_eval_results(e, nargs == 2 ? args[1] : "-")))
		cmd_die(s);
	size_t n = vdb_ir_eval_mean(e, &m, &answered);
	if (!answered)
		cmd_warn("no result line answers a query of %s (do the results' \"query_id\" or "
		         "\"query\" name its QIDs?)", args[0]);
	else if (answered < n)
		cmd_warn("%zu of the %zu judged queries have no results; they count 0", n - answered,
		         n);
	if (vdb_ir_eval_write(stdout, e, (a->per_query ? VDB_IR_PER_QUERY : 0) |
	                                 (a->json ? VDB_IR_JSON : 0)))
		cmd_check_stdout();
	vdb_ir_eval_free(e);
	vdb_qrels_free(q);
	return cmd_finish();
}

/* ===== sweep ===== */

/* A progress line per setting; on a terminal it is erased before each row. */
static void sweep_progress(const char *label, const char *what, size_t done, size_t total)
{
	if (!cmd_progress_on())
		return;
	bool tty = isatty(STDERR_FILENO);
	fprintf(stderr, "%s%s: measuring %s%s%s (%zu/%zu)%s", tty ? "\r\033[K" : "", cmd_name,
	        label, *what ? " " : "", what, done, total, tty ? "" : "\n");
}

static void sweep_progress_clear(void)
{
	if (cmd_progress_on() && isatty(STDERR_FILENO))
		fputs("\r\033[K", stderr);
}

/* Whether stdout appends to a file that already has lines (a cron job's
 * `>> history.csv`): then a header would land in the middle of the data. */
static bool appending_to_data(void)
{
	struct stat st;
	int fl = fcntl(STDOUT_FILENO, F_GETFL);
	return fl >= 0 && (fl & O_APPEND) && !fstat(STDOUT_FILENO, &st) && S_ISREG(st.st_mode) &&
	       st.st_size > 0;
}

/* A failed plot: a missing gnuplot has its own status. */
static __attribute__((noreturn)) void die_plot(vdb_status s)
{
	if (s == VDB_EUNSUPPORTED) {
		cmd_progress_end();
		fflush(stdout);
		fprintf(stderr, "%s: error: %s\n", cmd_name, vdb_last_error());
		exit(EXIT_UNAVAILABLE);
	}
	cmd_die(s);
}

/* cmd_die with the inputs the library's message is about in front of it. */
static __attribute__((noreturn)) void die_about(vdb_status s, const char *what,
                                                const char *and_what)
{
	char msg[1024];
	snprintf(msg, sizeof msg, "%s", vdb_last_error());
	if (and_what)
		vdb_fail(s, "%s and %s: %s", what, and_what, msg);
	else
		vdb_fail(s, "%s: %s", what, msg);
	cmd_die(s);
}

/* The queries and ground truth of a sweep or check (named by --queries and
 * --gt, required), and the sweep that measures with them. */
static vdb_sweep *load_probe(const char *sub, const eval_args *a, size_t k, unsigned runs,
                             vdb_vecs *q, int32_t **gt)
{
	if (!a->queries)
		cmd_usage_error("%s needs --queries FILE", sub);
	if (!a->gt)
		cmd_usage_error("%s needs --gt GT.ivecs (from vdb-eval groundtruth)", sub);
	vdb_reader *r;
	vdb_vecs_init(q);
	size_t got, grows, gwidth;
	vdb_status s;
	if ((s = vdb_reader_open(&r, a->queries, VDB_FMT_AUTO)) ||
	    (s = vdb_reader_read(r, q, 0, &got)))
		cmd_die(s);
	vdb_reader_close(r);
	if ((s = vdb_ivecs_load(a->gt, gt, &grows, &gwidth)))
		cmd_die(s);
	vdb_sweep *sw;
	if ((s = vdb_sweep_new(&sw, q->data, q->n, q->dim, *gt, grows, gwidth, k, runs)))
		die_about(s, a->queries, a->gt);
	return sw;
}

/* What a sweep holds while it measures. */
typedef struct {
	const eval_args *a;
	size_t k;
	vdb_report_format fmt;
	vdb_vecs q;
	int32_t *gt;
	vdb_sweep *sw;
	vdb_index **ix;
	vdb_sweep_index *info;
	vdb_curve *curves, *ref; /* a curve per index, then the --reference ones */
	size_t nref;
	int width;               /* of the index column */
	size_t total, done;      /* settings to measure, measured */
} sweep_run;

/* The sweep's operands and options, checked before anything is read; the
 * report's format. */
static vdb_report_format sweep_usage(const eval_args *a, int nargs, char **args)
{
	if (nargs)
		cmd_usage_error("sweep takes no file operands (got '%s'); name indexes with -x",
		                args[0]);
	if (!a->nindex)
		cmd_usage_error("sweep needs an index: -x INDEX");
	vdb_report_format fmt = VDB_REPORT_TABLE;
	if (a->format && vdb_report_format_parse(a->format, &fmt))
		cmd_usage_error("--format: %s", vdb_last_error());
	if (a->reference && !a->plot)
		cmd_usage_error("--reference needs --plot FILE");
	if (a->range && (a->gt || a->plot))
		cmd_usage_error("sweep --max-distance measures against exact range results it "
		                "computes: no --gt or --plot");
	return fmt;
}

/* Everything that can fail fast does, before minutes of measuring: the
 * plot, the reference curves, the probe, every index. */
static void sweep_open(sweep_run *r)
{
	const eval_args *a = r->a;
	vdb_status s;
	if (a->plot) {
		if ((s = vdb_plot_check(a->plot)) == VDB_EINVAL)
			cmd_usage_error("--plot: %s", vdb_last_error());
		if (s)
			die_plot(s);
		if (a->reference && (s = vdb_curves_load(a->reference, &r->ref, &r->nref)))
			cmd_die(s);
	}
	r->sw = load_probe("sweep", a, r->k, a->runs ? a->runs : 3, &r->q, &r->gt);
	r->ix = calloc(a->nindex, sizeof *r->ix);
	r->info = calloc(a->nindex, sizeof *r->info);
	r->curves = calloc(a->nindex + r->nref, sizeof *r->curves);
	if (!r->ix || !r->info || !r->curves)
		cmd_die(vdb_fail(VDB_ENOMEM, "out of memory"));
	bool used[EVAL_MAX_KNOBS] = { false };
	knob_set *ks = (knob_set *)&a->knobs;
	r->width = 5;
	for (size_t i = 0; i < a->nindex; i++) {
		cmd_watch_index(a->index[i]);
		if ((s = vdb_index_open(&r->ix[i], a->index[i])) ||
		    (s = vdb_sweep_check(r->sw, r->ix[i], a->index[i])) ||
		    (s = vdb_sweep_describe(r->ix[i], &r->info[i])))
			cmd_die(s);
		vdb_index_advise_search((const vdb_index *const *)&r->ix[i], 1); /* each alone */
		const knob_values *kv = knobs_find(ks, r->info[i].knob);
		if (kv)
			used[kv - ks->k] = true;
		r->total += kv && kv->n ? kv->n : 1;
		int len = (int)strlen(a->index[i]);
		r->width = len > r->width ? len : r->width;
		r->curves[i].title = a->index[i];
	}
	for (size_t j = 0; j < ks->n; j++)
		if (ks->k[j].n && !used[j]) {
			char who[128];
			vdb_knob_types(ks->k[j].knob, who, sizeof who);
			cmd_warn("--%s applies to none of the indexes (it is for %s)",
			         ks->k[j].knob->name, who);
		}
}

/* Index i at each value of its knob given (else at its default): a row
 * each, written as soon as it is measured. */
static void sweep_index(sweep_run *r, size_t i, vdb_sweep_row *row)
{
	const eval_args *a = r->a;
	const knob_values *kv = knobs_find((knob_set *)&a->knobs, r->info[i].knob);
	size_t n = kv ? kv->n : 0;
	vdb_status s;
	row->label = a->index[i], row->ix = r->ix[i], row->info = &r->info[i];
	for (size_t j = 0; j < (n ? n : 1); j++) {
		vdb_search_opts so;
		vdb_search_opts_init(&so);
		char what[64] = "";
		row->setting = n ? kv->v[j] : 0;
		if (n) {
			knobs_set(&so, kv->knob, kv->v[j]);
			snprintf(what, sizeof what, "%s=%u", kv->knob->name, kv->v[j]);
		}
		sweep_progress(a->index[i], what, ++r->done, r->total);
		if ((s = vdb_sweep_run(r->sw, r->ix[i], &so, &row->r)))
			die_about(s, a->index[i], NULL);
		sweep_progress_clear();
		if ((s = vdb_sweep_write_row(stdout, r->fmt, row, r->width)))
			cmd_check_stdout();
		cmd_check_stdout(); /* each row as soon as it is measured */
		if ((s = vdb_curve_add(&r->curves[i], row->r.recall_k, row->r.qps_1)))
			cmd_die(s);
	}
}

static void sweep_close(sweep_run *r)
{
	vdb_status s;
	if (r->a->plot) {
		for (size_t i = 0; i < r->nref; i++)
			r->curves[r->a->nindex + i] = r->ref[i];
		char xlabel[64];
		snprintf(xlabel, sizeof xlabel, "recall@%zu", r->k);
		if ((s = vdb_plot(r->a->plot, r->curves, r->a->nindex + r->nref, xlabel)))
			die_plot(s);
	}
	for (size_t i = 0; i < r->a->nindex; i++) {
		free(r->curves[i].recall);
		free(r->curves[i].qps);
		vdb_index_close(r->ix[i]);
		vdb_sweep_index_free(&r->info[i]);
	}
	vdb_curves_free(r->ref, r->nref);
	free(r->curves);
	free(r->info);
	free(r->ix);
	vdb_sweep_free(r->sw);
	free(r->gt);
	vdb_vecs_free(&r->q);
}

static int sweep(const eval_args *a, int nargs, char **args)
{
	sweep_run r = { .a = a, .fmt = sweep_usage(a, nargs, args) };
	if (a->range) { /* range search: eval_range.c */
		range_sweep_args ra = { a->index, a->nindex, a->queries, (float)a->radius,
		                        a->k_given ? a->k : 0, (knob_set *)&a->knobs,
		                        a->runs ? a->runs : 3, a->format };
		return eval_range_sweep(&ra);
	}
	r.k = a->k_given ? a->k : 10;
	sweep_open(&r);
	bool header = a->header == HEADER_ALWAYS ||
	              (a->header == HEADER_AUTO && !appending_to_data());
	if (header && vdb_sweep_write_header(stdout, r.fmt, r.k, vdb_threads(), r.width))
		cmd_check_stdout();
	cmd_check_stdout();
	vdb_sweep_row row = { .k = r.k, .queries = r.q.n, .runs = a->runs ? a->runs : 3,
	                      .time = (int64_t)time(NULL) };
	for (size_t i = 0; i < a->nindex; i++)
		sweep_index(&r, i, &row);
	sweep_close(&r);
	return cmd_finish();
}

/* ===== fusion ===== */

/* The settings a fusion sweep measures: BM25 alone, vectors alone, RRF at
 * each --rrf-k (default 60), weighted at each --alpha (default 0, 0.1, ...
 * 1), in that order. */
static vdb_rank_setting *fusion_settings(const eval_args *a, size_t *n)
{
	static const double alpha11[] = { 0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1 };
	static const double rrf60[] = { 60 };
	const double *al = a->nalpha ? a->alpha : alpha11, *rk = a->nrrf_k ? a->rrf_k : rrf60;
	size_t nal = a->nalpha ? a->nalpha : 11, nrk = a->nrrf_k ? a->nrrf_k : 1;
	vdb_rank_setting *set = calloc(2 + nal + nrk, sizeof *set);
	if (!set)
		cmd_die(vdb_fail(VDB_ENOMEM, "out of memory"));
	*n = 0;
	set[(*n)++].mode = VDB_RANK_LEXICAL;
	set[(*n)++].mode = VDB_RANK_VECTOR;
	for (size_t i = 0; i < nrk; i++)
		set[(*n)++] = (vdb_rank_setting){ .mode = VDB_RANK_RRF, .rrf_k = rk[i] };
	for (size_t i = 0; i < nal; i++)
		set[(*n)++] = (vdb_rank_setting){ .mode = VDB_RANK_WEIGHTED, .alpha = al[i] };
	return set;
}

/* The plot: nDCG@k against alpha (weighted), the others as levels. */
static void fusion_plot(const char *path, const vdb_rank_setting *set,
                        const vdb_ir_scores *r, size_t n, size_t k)
{
	vdb_curve *c = calloc(n, sizeof *c);
	char (*title)[48] = calloc(n, sizeof *title);
	if (!c || !title)
		cmd_die(vdb_fail(VDB_ENOMEM, "out of memory"));
	size_t nc = 1;
	c[0].title = "weighted";
	vdb_status s = VDB_OK;
	for (size_t i = 0; i < n && !s; i++) {
		if (set[i].mode == VDB_RANK_WEIGHTED) {
			s = vdb_curve_add(&c[0], set[i].alpha, r[i].ndcg);
			continue;
		}
		if (set[i].mode == VDB_RANK_RRF)
			snprintf(title[nc], sizeof title[nc], "rrf k=%g", set[i].rrf_k);
		else
			snprintf(title[nc], sizeof title[nc], "%s alone",
			         set[i].mode == VDB_RANK_LEXICAL ? "bm25" : "vectors");
		c[nc].title = title[nc];
		c[nc].level = 1;
		c[nc].reference = set[i].mode != VDB_RANK_RRF;
		s = vdb_curve_add(&c[nc++], 0, r[i].ndcg);
	}
	if (s)
		cmd_die(s);
	char ylabel[48];
	snprintf(ylabel, sizeof ylabel, "nDCG@%zu", k);
	vdb_plot_axes ax = { "alpha (weighted fusion: 0 = BM25 only, 1 = vectors only)", ylabel,
	                     0, "outside right top", 0, 1 };
	if ((s = vdb_plot_axes_draw(path, c, nc, &ax)))
		die_plot(s);
	for (size_t i = 0; i < nc; i++) {
		free(c[i].recall);
		free(c[i].qps);
	}
	free(c);
	free(title);
}

/* A subcommand of one index (-x) and no file operands. */
static void one_index(const eval_args *a, const char *sub, int nargs, char **args)
{
	if (nargs)
		cmd_usage_error("%s takes no file operands (got '%s'); name the index with -x", sub,
		                args[0]);
	if (a->nindex != 1)
		cmd_usage_error("%s needs one index: -x INDEX", sub);
}

static int fusion(const eval_args *a, int nargs, char **args)
{
	one_index(a, "fusion", nargs, args);
	if (!a->queries)
		cmd_usage_error("fusion needs --queries FILE (JSONL records with \"text\" and "
		                "\"vector\")");
	if (!a->qrels)
		cmd_usage_error("fusion needs --qrels FILE (relevance judgments)");
	vdb_report_format fmt = VDB_REPORT_TABLE;
	if (a->format && vdb_report_format_parse(a->format, &fmt))
		cmd_usage_error("--format: %s", vdb_last_error());
	size_t k = a->k_given ? a->k : 10;
	vdb_status s;
	if (a->plot) {
		if ((s = vdb_plot_check(a->plot)) == VDB_EINVAL)
			cmd_usage_error("--plot: %s", vdb_last_error());
		if (s)
			die_plot(s);
	}
	vdb_index *ix;
	cmd_watch_index(a->index[0]);
	if ((s = vdb_index_open(&ix, a->index[0])))
		cmd_die(s);
	if (!vdb_index_has_lexical(ix))
		cmd_usage_error("%s has no lexical index: build it with vdb-build --lexical",
		                a->index[0]);
	vdb_qrels *q;
	vdb_ir_eval *e;
	vdb_ir_scores m;
	if ((s = vdb_qrels_load(&q, a->qrels)) || (s = vdb_ir_eval_new(&e, q, k)))
		cmd_die(s);
	if (!vdb_ir_eval_mean(e, &m, NULL))
		cmd_die(vdb_fail(VDB_EFORMAT, "%s judges no document relevant (REL > 0): nothing to "
		                 "measure", a->qrels));
	vdb_vecs qv;
	vdb_vecs_init(&qv);
	qv.dim = vdb_index_dim(ix); /* the reader checks every query against it */
	vdb_reader *r;
	size_t got;
	if ((s = vdb_reader_open(&r, a->queries, VDB_FMT_AUTO)) ||
	    (s = vdb_reader_read(r, &qv, 0, &got)))
		cmd_die(s);
	vdb_reader_close(r);
	if (vdb_index_embedder_check(ix, a->index[0], qv.embedder, a->queries, 0))
		cmd_warn("%s", vdb_last_error()); /* as vdb-query without --strict */
	size_t n;
	vdb_rank_setting *set = fusion_settings(a, &n);
	vdb_ir_scores *scores = calloc(n, sizeof *scores);
	if (!scores)
		cmd_die(vdb_fail(VDB_ENOMEM, "out of memory"));
	vdb_search_opts so;
	vdb_search_opts_init(&so);
	vdb_fusion_opts fo;
	vdb_fusion_opts_init(&fo);
	fo.depth = a->depth;
	bool header = a->header == HEADER_ALWAYS ||
	              (a->header == HEADER_AUTO && !appending_to_data());
	if (header && vdb_fusion_write_header(stdout, fmt, k))
		cmd_check_stdout();
	for (size_t i = 0; i < n; i++) {
		vdb_fusion_row row = { .set = set[i], .k = k };
		char what[64];
		snprintf(what, sizeof what, "setting %zu of %zu", i + 1, n);
		sweep_progress(a->index[0], what, i + 1, n);
		if ((s = vdb_ir_eval_search(e, ix, &qv, a->queries, &set[i], &so, &fo, &row.qps)))
			die_about(s, a->index[0], NULL);
		sweep_progress_clear();
		row.queries = vdb_ir_eval_mean(e, &row.r, &row.answered);
		if (i == 0 && !row.answered)
			cmd_warn("no query of %s is judged in %s (are the records' ids, or their numbers, "
			         "its QIDs?)", a->queries, a->qrels);
		else if (i == 0 && row.answered < row.queries)
			cmd_warn("%zu of the %zu judged queries are not in %s; they count 0",
			         row.queries - row.answered, row.queries, a->queries);
		scores[i] = row.r;
		if (vdb_fusion_write_row(stdout, fmt, &row))
			cmd_check_stdout();
		cmd_check_stdout(); /* each row as soon as it is measured */
	}
	if (a->plot)
		fusion_plot(a->plot, set, scores, n, k);
	free(scores);
	free(set);
	vdb_vecs_free(&qv);
	vdb_ir_eval_free(e);
	vdb_qrels_free(q);
	vdb_index_close(ix);
	return cmd_finish();
}

/* ===== check ===== */

/* The one setting check measures at: the value of the option of the
 * index's knob (--ef, --nprobe, --probes), else its default. */
static void check_setting(const eval_args *a, const vdb_sweep_index *info, size_t nix,
                          vdb_search_opts *so)
{
	knob_set *ks = (knob_set *)&a->knobs;
	char names[128];
	knobs_names(ks, " or ", ", ", names, sizeof names);
	if (knobs_given(ks, true))
		cmd_usage_error("check measures one setting: give one %s value", names);
	for (size_t j = 0; j < ks->n; j++) {
		const knob_values *kv = &ks->k[j];
		if (!kv->n)
			continue;
		bool taken = false; /* by an index of the set */
		for (size_t i = 0; i < nix; i++)
			taken |= info[i].knob && !strcmp(info[i].knob, kv->knob->name);
		if (taken) {
			knobs_set(so, kv->knob, kv->v[0]);
			continue;
		}
		char who[128];
		vdb_knob_types(kv->knob, who, sizeof who);
		cmd_warn("--%s applies to %s indexes only; ignored", kv->knob->name, who);
	}
}

/* check --recall R: search at the setting vdb-query --recall R picks. */
static void check_promise_setting(const eval_args *a, vdb_index *const *ix, size_t k,
                                  vdb_search_opts *so)
{
	if (knobs_given(&a->knobs, false)) {
		char names[128];
		knobs_names(&a->knobs, "/", "/", names, sizeof names);
		cmd_usage_error("--recall picks the setting: give it or %s, not both", names);
	}
	if (k != VDB_RECALL_K)
		cmd_warn("the recall curve promises recall@%u; -k %zu measures recall@%zu", VDB_RECALL_K,
		         k, k);
	recall_pick(a->recall, (const vdb_index *const *)ix, (const char *const *)a->index,
	            a->nindex, so, NULL);
}

/* "promised R, measured X": whether real queries reach what the curve said. */
static void check_promise_line(const eval_args *a, const char *label, const vdb_index *ix,
                               const vdb_search_opts *so, size_t k, double measured, bool broken)
{
	const char *knob = vdb_index_knob(ix);
	unsigned v = knob ? vdb_search_opts_get(so, knob) : 0;
	char setting[48] = "exact";
	if (knob)
		snprintf(setting, sizeof setting, "%s %u", knob, v);
	printf("%s: --recall %g at %s: promised %g, measured recall@%zu %.4f (tolerance %g): %s\n",
	       label, a->recall, setting, a->recall, k, measured, RECALL_TOLERANCE,
	       broken ? "FAILED" : "ok");
}

static void check_metrics(const eval_args *a, const char *label, size_t k,
                          const vdb_sweep_result *r, size_t nq, int code)
{
	char rk[32];
	snprintf(rk, sizeof rk, "k=\"%zu\"", k);
	const vdb_prom_sample s[] = {
		{ "vdb_eval_recall", "Recall@k of the last check against the ground truth", "gauge",
		  rk, r->recall_k },
		{ "vdb_eval_latency_seconds", "Latency of one query on one thread in the last check",
		  "summary", "quantile=\"0.5\"", r->p50 },
		{ "vdb_eval_latency_seconds", NULL, NULL, "quantile=\"0.9\"", r->p90 },
		{ "vdb_eval_latency_seconds", NULL, NULL, "quantile=\"0.99\"", r->p99 },
		{ "vdb_eval_latency_seconds_sum", NULL, NULL, NULL, r->seconds },
		{ "vdb_eval_latency_seconds_count", NULL, NULL, NULL, (double)nq },
	};
	vdb_status st;
	cmd_metrics_on_failure(NULL, NULL, NULL);
	if ((st = cmd_metrics_write(a->metrics, "vdb_eval_check", label, code, s,
	                            sizeof s / sizeof *s)))
		cmd_die(st);
}

/* The name check reports the index (or the set of shards) by: its -x
 * names, comma-separated (caller frees). */
static char *set_label(const eval_args *a)
{
	size_t len = 1;
	for (size_t i = 0; i < a->nindex; i++)
		len += strlen(a->index[i]) + 1;
	char *l = malloc(len);
	if (!l)
		cmd_die(vdb_fail(VDB_ENOMEM, "out of memory"));
	l[0] = 0;
	for (size_t i = 0; i < a->nindex; i++)
		strcat(strcat(l, i ? "," : ""), a->index[i]);
	return l;
}

/* Open the -x indexes of check: one index or one set of shards, searched
 * as vdb-query searches them (its warnings when the set is not whole). */
static vdb_index **open_set(const eval_args *a, const vdb_sweep *sw, vdb_sweep_index *info)
{
	vdb_index **ix = calloc(a->nindex, sizeof *ix);
	if (!ix)
		cmd_die(vdb_fail(VDB_ENOMEM, "out of memory"));
	vdb_status s;
	for (size_t i = 0; i < a->nindex; i++) {
		cmd_watch_index(a->index[i]);
		if ((s = vdb_index_open(&ix[i], a->index[i])) ||
		    (s = vdb_sweep_check(sw, ix[i], a->index[i])) ||
		    (s = vdb_sweep_describe(ix[i], &info[i])))
			cmd_die(s);
	}
	cmd_set_check(ix, (const char *const *)a->index, a->nindex);
	return ix;
}

static int check(const eval_args *a, int nargs, char **args)
{
	if (nargs)
		cmd_usage_error("check takes no file operands (got '%s'); name the index with -x",
		                args[0]);
	if (!a->nindex)
		cmd_usage_error("check needs an index: -x INDEX (or -x SHARD for each of a set)");
	/* static: what the probe holds stays reachable when a failure exits
	 * before it is freed (LeakSanitizer counts a lost local as a leak) */
	static char *label;
	label = set_label(a);
	if (a->metrics)
		cmd_metrics_on_failure(a->metrics, "vdb_eval_check", label);
	size_t k = a->k_given ? a->k : 10;
	static vdb_vecs q;
	static int32_t *gt;
	static vdb_sweep *sw;
	static vdb_index **ix;
	static vdb_sweep_index *info;
	sw = load_probe("check", a, k, a->runs ? a->runs : 3, &q, &gt);
	if (!(info = calloc(a->nindex, sizeof *info)))
		cmd_die(vdb_fail(VDB_ENOMEM, "out of memory"));
	ix = open_set(a, sw, info);
	vdb_search_opts so;
	vdb_search_opts_init(&so);
	check_setting(a, info, a->nindex, &so);
	if (a->recall > 0)
		check_promise_setting(a, ix, k, &so);
	vdb_sweep_result r;
	vdb_status s;
	if ((s = vdb_sweep_run_set(sw, (const vdb_index *const *)ix, a->nindex, &so, &r)))
		die_about(s, label, NULL);
	bool low = a->min_recall > 0 && r.recall_k < a->min_recall;
	bool slow = a->max_p99_ms > 0 && r.p99 * 1e3 > a->max_p99_ms;
	bool broken = a->recall > 0 && r.recall_k < a->recall - RECALL_TOLERANCE;
	if (a->recall > 0)
		check_promise_line(a, label, ix[0], &so, k, r.recall_k, broken);
	low |= broken;
	printf("%s: recall@%zu %.4f, latency p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, %zu queries: "
	       "%s\n", label, k, r.recall_k, r.p50 * 1e3, r.p90 * 1e3, r.p99 * 1e3, q.n,
	       low || slow ? "FAILED" : "ok");
	if (a->metrics)
		check_metrics(a, label, k, &r, q.n, low || slow ? EXIT_BELOW : 0);
	for (size_t i = 0; i < a->nindex; i++) {
		vdb_index_close(ix[i]);
		vdb_sweep_index_free(&info[i]);
	}
	free(ix), free(info), free(label);
	vdb_sweep_free(sw);
	free(gt);
	vdb_vecs_free(&q);
	int st = cmd_finish();
	if (low)
		fprintf(stderr, "%s: check failed: recall@%zu %.4f is below %s %g\n", cmd_name, k,
		        r.recall_k, broken ? "the promise of --recall" : "--min-recall",
		        broken ? a->recall : a->min_recall);
	if (slow)
		fprintf(stderr, "%s: check failed: p99 latency %.3f ms is above --max-p99-ms %g\n",
		        cmd_name, r.p99 * 1e3, a->max_p99_ms);
	return low || slow ? EXIT_BELOW : st;
}

int main(int argc, char **argv)
{
	cmd_init("vdb-eval");
	eval_args a = { .metric = VDB_METRIC_L2 };
	main_argc = argc, main_argv = argv;
	knobs_init(&a.knobs);
	help_knobs = a.knobs;
	struct option *opts = knobs_longopts(&a.knobs, OPT_KNOB, longopts);
	int first = cmd_parse(argc, argv, "m:k:O:f:x:t:c:qh", opts, on_opt, &a, help);
	free(opts);
	if (first >= argc)
		cmd_usage_error("no subcommand: expected groundtruth, recall, qrels, range, sweep, "
		                "fusion, check or types");
	const char *sub = argv[first];
	int nargs = argc - first - 1;
	char **args = argv + first + 1;
	if (!strcmp(sub, "groundtruth"))
		return groundtruth(&a, nargs, args);
	if (!strcmp(sub, "recall"))
		return recall(&a, nargs, args);
	if (!strcmp(sub, "qrels"))
		return qrels(&a, nargs, args);
	if (!strcmp(sub, "range"))
		return eval_range(a.json, nargs, args);
	if (!strcmp(sub, "types"))
		return eval_types(a.json, nargs, args);
	bool is_sweep = !strcmp(sub, "sweep"), is_fusion = !strcmp(sub, "fusion");
	if (is_sweep || is_fusion || !strcmp(sub, "check")) {
		int st = is_sweep ? sweep(&a, nargs, args)
		       : is_fusion ? fusion(&a, nargs, args) : check(&a, nargs, args);
		free_indexes(&a);
		free(a.index);
		knobs_free(&a.knobs);
		free(a.alpha);
		free(a.rrf_k);
		return st;
	}
	cmd_usage_error("unknown subcommand '%s' (expected groundtruth, recall, qrels, range, "
	                "sweep, fusion, check or types)", sub);
}
