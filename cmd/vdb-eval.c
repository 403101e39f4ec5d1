/* vdb-eval — exact ground truth and recall of query results. */
#include "common.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { OPT_MIN_RECALL = OPT_COMMON_LAST, OPT_JSON };

typedef struct {
	vdb_metric metric;
	size_t k;
	bool k_given;
	vdb_output out;
	vdb_format format;
	double min_recall;
	bool json;
} eval_args;

static void help(void)
{
	printf("Usage: %s groundtruth [-m METRIC] [-k K] [--output FMT] BASE QUERIES\n"
	       "       %s recall -k K [--min-recall R] [--json] GT.ivecs [RESULTS]\n"
	       "       %s sweep ...   (not implemented yet)\n"
	       "\n"
	       "groundtruth: exact K nearest neighbours (default 100) of each query in BASE,\n"
	       "  as ivecs (default), jsonl or tsv on stdout; BASE is streamed.\n"
	       "recall: recall@K of vdb-query results (jsonl or ivecs; default stdin).\n"
	       "\n"
	       "  -m, --metric METRIC    l2 (default), ip or cosine\n"
	       "  -k N                   neighbours per query\n"
	       "  -O, --output FMT       groundtruth output: ivecs (default), jsonl, tsv\n"
	       "  -f, --format FMT       vectors: auto (default), fvecs, ivecs, bvecs, jsonl\n"
	       "      --min-recall R     recall: exit 1 when recall@K is below R\n"
	       "      --json             recall: print a JSON object\n"
	       "  -t, --threads N        threads (default: all cores)\n"
	       "  -c, --config FILE      YAML file of long options (command line wins)\n"
	       "  -q, --quiet            no warnings\n"
	       "      --progress         progress on stderr even when it is not a terminal\n"
	       "  -h, --help             this help\n"
	       "      --version          version and SIMD level\n"
	       "\nExit status: 0 ok, 1 below --min-recall, 64 usage, 65 bad input data,\n"
	       "66 cannot open input, 74 I/O error, 70 internal error. See vdb-eval(1).\n",
	       cmd_name, cmd_name, cmd_name);
}

static bool on_opt(int opt, const char *arg, void *ctx)
{
	eval_args *a = ctx;
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
		cmd_format(arg, &a->format);
		return true;
	case OPT_MIN_RECALL:
		a->min_recall = cmd_double("--min-recall", arg, 0, 1);
		return true;
	case OPT_JSON:
		a->json = true;
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
	{ "json", no_argument, NULL, OPT_JSON },
	CMD_COMMON_LONGOPTS
};

/* Base rows per block: enough to keep every thread busy, small enough that
 * a base of any size streams through a bounded amount of memory. */
#define BASE_BLOCK 65536

static int groundtruth(const eval_args *a, int nargs, char **args)
{
	if (nargs != 2)
		cmd_usage_error("groundtruth needs BASE and QUERIES (got %d file%s)", nargs,
		                nargs == 1 ? "" : "s");
	if (a->metric == VDB_METRIC_HAMMING)
		cmd_usage_error("--metric: groundtruth supports l2, ip and cosine");
	size_t k = a->k_given ? a->k : 100;
	vdb_status s;
	vdb_reader *r;
	vdb_vecs q, base;
	vdb_vecs_init(&q);
	vdb_vecs_init(&base);
	size_t got;
	if ((s = vdb_reader_open(&r, args[1], a->format)) || (s = vdb_reader_read(r, &q, 0, &got)))
		cmd_die(s);
	vdb_reader_close(r);
	vdb_knn *knn;
	if ((s = vdb_knn_new(&knn, a->metric, q.dim, k, q.data, q.n)))
		cmd_die(s);
	base.dim = q.dim; /* the reader checks base rows against the queries' dimension */
	if ((s = vdb_reader_open(&r, args[0], a->format)))
		cmd_die(s);
	size_t done = 0;
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
		cmd_progress("base vectors", done, 0);
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
	size_t gq, gw, rq, rw;
	int64_t *res;
	vdb_status s;
	if ((s = vdb_ivecs_load(args[0], &gt, &gq, &gw)))
		cmd_die(s);
	if ((s = vdb_results_load(nargs == 2 ? args[1] : "-", &res, &rq, &rw)))
		cmd_die(s);
	const char *rname = nargs == 2 ? args[1] : "stdin";
	if (gq != rq)
		cmd_die(vdb_fail(VDB_EFORMAT, "%s has %zu queries but ground truth %s has %zu",
		                 rname, rq, args[0], gq));
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

int main(int argc, char **argv)
{
	cmd_init("vdb-eval");
	eval_args a = { .metric = VDB_METRIC_L2 };
	int first = cmd_parse(argc, argv, "m:k:O:f:t:c:qh", longopts, on_opt, &a, help);
	if (first >= argc)
		cmd_usage_error("no subcommand: expected groundtruth, recall or sweep");
	const char *sub = argv[first];
	int nargs = argc - first - 1;
	char **args = argv + first + 1;
	if (!strcmp(sub, "groundtruth"))
		return groundtruth(&a, nargs, args);
	if (!strcmp(sub, "recall"))
		return recall(&a, nargs, args);
	if (!strcmp(sub, "sweep")) {
		fprintf(stderr, "%s: error: sweep is not implemented yet\n", cmd_name);
		return EXIT_USAGE;
	}
	cmd_usage_error("unknown subcommand '%s' (expected groundtruth, recall or sweep)", sub);
}
