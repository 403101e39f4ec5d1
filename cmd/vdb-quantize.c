/* vdb-quantize — train, apply and evaluate vector quantizers (sq8, fp16, pq,
 * binary). The work is in lib/quantize.c; here are the subcommands. */
#include "common.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { OPT_KIND = OPT_COMMON_LAST, OPT_PQ_M, OPT_SEED, OPT_QUERIES, OPT_JSON };

/* Rows per block when streaming: bounded memory on any input size. */
#define BLOCK 8192

typedef struct {
	const char *quantizer, *output, *queries;
	vdb_quant_kind kind;
	vdb_quant_params p;
	vdb_format format;
	vdb_metric metric;
	size_t k;
	bool json;
	/* which options were given, to refuse those a subcommand does not take */
	bool set_kind, set_pq_m, set_seed, set_k, set_metric;
} quant_args;

static void help(void)
{
	printf("Usage: %s train [--kind KIND] [--pq-m M] [--seed N] -o QUANTIZER [INPUT...]\n"
	       "       %s encode -q QUANTIZER [INPUT...] > CODES\n"
	       "       %s decode -q QUANTIZER [CODES...] > VECTORS.fvecs\n"
	       "       %s eval -q QUANTIZER --queries Q [-k K] [-m METRIC] [--json] [BASE...]\n"
	       "       %s info -q QUANTIZER\n"
	       "Train, apply and evaluate vector quantizers. Inputs are fvecs, ivecs, bvecs or\n"
	       "JSONL ('-' or none: stdin); codes are records of an int32 byte count and the\n"
	       "code's bytes (the bvecs layout); decode writes fvecs.\n"
	       "\n"
	       "Kinds (bytes per vector of dimension d):\n"
	       "  sq8     d: 256 levels per dimension over the training range (default)\n"
	       "  fp16    2d: IEEE half precision\n"
	       "  pq      M: product quantizer, 256 centroids per subspace of d/M dimensions\n"
	       "  binary  d/8: sign bits (x > 0), compared by hamming distance\n"
	       "\n"
	       "  -o, --output FILE      train: the quantizer file to write (atomically)\n"
	       "      --kind KIND        train: sq8 (default), fp16, pq or binary\n"
	       "      --pq-m M           train: pq sub-quantizers; must divide d (default: the\n"
	       "                         largest divisor of d not above d/8)\n"
	       "      --seed N           train: pq k-means seed (default 42)\n"
	       "  -q, --quantizer FILE   encode, decode, eval, info: the quantizer file\n"
	       "      --queries FILE     eval: query vectors\n"
	       "  -k N                   eval: neighbours per query for recall (default 10)\n"
	       "  -m, --metric METRIC    eval: l2 (default), ip or cosine\n"
	       "      --json             eval: print a JSON object\n"
	       "  -f, --format FMT       vectors: auto (default), fvecs, ivecs, bvecs, jsonl\n"
	       "  -t, --threads N        threads (default: all cores)\n"
	       "  -c, --config FILE      YAML file of long options (command line wins)\n"
	       "  -v, --verbose          train: print a summary on stderr\n"
	       "      --quiet            no warnings (-q names the quantizer here)\n"
	       "      --progress         progress on stderr even when it is not a terminal\n"
	       "  -h, --help             this help\n"
	       "      --version          version and SIMD level\n"
	       "\nExit status: 0 ok, 64 usage (also --pq-m not dividing d), 65 bad input data or\n"
	       "corrupt quantizer file, 66 cannot open input, 73 cannot create output,\n"
	       "74 I/O error, 70 internal error. See vdb-quantize(1).\n",
	       cmd_name, cmd_name, cmd_name, cmd_name, cmd_name);
}

static bool on_opt(int opt, const char *arg, void *ctx)
{
	quant_args *a = ctx;
	switch (opt) {
	case 'o':
		a->output = arg;
		return true;
	case 'q':
		a->quantizer = arg;
		return true;
	case OPT_KIND:
		if (vdb_quant_kind_parse(arg, &a->kind))
			cmd_usage_error("--kind: %s", vdb_last_error());
		a->set_kind = true;
		return true;
	case OPT_PQ_M:
		a->p.pq_m = (uint32_t)cmd_size("--pq-m", arg, 1, VDB_MAX_DIM);
		a->set_pq_m = true;
		return true;
	case OPT_SEED:
		a->p.seed = cmd_size("--seed", arg, 0, SIZE_MAX);
		a->set_seed = true;
		return true;
	case OPT_QUERIES:
		a->queries = arg;
		return true;
	case 'k':
		a->k = cmd_size("-k", arg, 1, VDB_MAX_K);
		a->set_k = true;
		return true;
	case 'm':
		cmd_metric(arg, &a->metric);
		a->set_metric = true;
		return true;
	case OPT_JSON:
		a->json = true;
		return true;
	case 'f':
		cmd_format(arg, &a->format);
		return true;
	case 'v':
		cmd_opts.verbose = true;
		return true;
	}
	return false;
}

static const struct option longopts[] = {
	{ "output", required_argument, NULL, 'o' },
	{ "quantizer", required_argument, NULL, 'q' },
	{ "kind", required_argument, NULL, OPT_KIND },
	{ "pq-m", required_argument, NULL, OPT_PQ_M },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "queries", required_argument, NULL, OPT_QUERIES },
	{ "k", required_argument, NULL, 'k' },
	{ "metric", required_argument, NULL, 'm' },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "format", required_argument, NULL, 'f' },
	{ "verbose", no_argument, NULL, 'v' },
	CMD_COMMON_LONGOPTS
};

/* A usage error for an option the subcommand does not take. */
static void refuse(bool given, const char *opt, const char *sub, const char *which)
{
	if (given)
		cmd_usage_error("%s is not an option of %s (it is for %s)", opt, sub, which);
}

static vdb_quantizer *open_quantizer(const quant_args *a, const char *sub)
{
	if (!a->quantizer)
		cmd_usage_error("%s needs the quantizer: give -q FILE (made by %s train)", sub,
		                cmd_name);
	vdb_quantizer *q;
	cmd_watch_index(a->quantizer);
	vdb_status s = vdb_quantizer_open(&q, a->quantizer);
	if (s)
		cmd_die(s);
	return q;
}

/* Binary output to a terminal is never what was meant. */
static void refuse_terminal(const char *sub)
{
	if (isatty(STDOUT_FILENO))
		cmd_usage_error("%s writes binary records: not to a terminal; redirect standard "
		                "output to a file or a pipe", sub);
}

/* encode failed on rows [0, n) of x, which start at record rec0 of input
 * name: find the row (a one-row encode names only the dimension) and die
 * naming the input and the record. */
static void die_encode(vdb_status s, const vdb_quantizer *q, const float *x, size_t n,
                       const char *name, size_t rec0)
{
	uint32_t d = vdb_quantizer_dim(q);
	uint8_t *one = malloc(vdb_quantizer_code_size(q));
	for (size_t i = 0; one && i < n; i++)
		if ((s = vdb_quantizer_encode(q, x + i * d, 1, one))) {
			char msg[768];
			snprintf(msg, sizeof msg, "%s", vdb_last_error());
			free(one);
			cmd_die(vdb_fail(s, "%s: record %zu: %s", name, rec0 + i, msg));
		}
	free(one);
	cmd_die(s);
}

/* ===== train ===== */
static int do_train(quant_args *a, char **inputs, int ninputs)
{
	if (!a->output)
		cmd_usage_error("train writes a quantizer file: give -o FILE");
	refuse(a->quantizer, "-q", "train", "encode, decode, eval and info");
	refuse(a->queries || a->set_k || a->set_metric || a->json,
	       a->queries ? "--queries" : a->set_k ? "-k" : a->set_metric ? "--metric" : "--json",
	       "train", "eval");
	if (a->kind != VDB_QUANT_PQ && a->set_pq_m)
		cmd_usage_error("--pq-m is for --kind pq, not %s", vdb_quant_kind_name(a->kind));
	cmd_refuse_input_output(ninputs ? inputs[0] : "-", a->output);
	for (int i = 1; i < ninputs; i++)
		cmd_refuse_input_output(inputs[i], a->output);
	vdb_status s = vdb_output_file_check(a->output); /* before the training */
	if (s)
		cmd_die(s);
	double t0 = cmd_now();
	vdb_vecs v;
	vdb_vecs_init(&v);
	if (ninputs == 0)
		cmd_read_all("-", a->format, &v, false);
	for (int i = 0; i < ninputs; i++)
		cmd_read_all(inputs[i], a->format, &v, false);
	cmd_progress_end();
	vdb_quantizer *q;
	s = vdb_quantizer_train(&q, a->kind, v.dim, v.data, v.n, &a->p);
	if (s)
		cmd_die(s);
	if ((s = vdb_quantizer_save(q, a->output)))
		cmd_die(s);
	if (cmd_opts.verbose)
		fprintf(stderr, "%s: %s: %s quantizer, dim %u, %zu bytes per vector, trained on %zu "
		        "vectors in %.3f s\n", cmd_name, a->output, vdb_quant_kind_name(a->kind),
		        v.dim, vdb_quantizer_code_size(q), v.n, cmd_now() - t0);
	vdb_quantizer_free(q);
	vdb_vecs_free(&v);
	return cmd_finish();
}

/* ===== encode, decode ===== */
static void refuse_train_eval(const quant_args *a, const char *sub)
{
	refuse(a->output, "-o", sub, "train; this writes to standard output");
	refuse(a->set_kind || a->set_pq_m || a->set_seed,
	       a->set_kind ? "--kind" : a->set_pq_m ? "--pq-m" : "--seed", sub, "train");
	refuse(a->queries || a->set_k || a->set_metric || a->json,
	       a->queries ? "--queries" : a->set_k ? "-k" : a->set_metric ? "--metric" : "--json",
	       sub, "eval");
}

static void encode_input(const quant_args *a, const vdb_quantizer *q, const char *path,
                         uint8_t *codes)
{
	vdb_reader *r;
	vdb_status s = vdb_reader_open(&r, path, a->format);
	if (s)
		cmd_die(s);
	size_t cs = vdb_quantizer_code_size(q), got;
	vdb_vecs v;
	vdb_vecs_init(&v);
	v.dim = vdb_quantizer_dim(q); /* the reader checks every record against it */
	for (;;) {
		size_t rec0 = vdb_reader_records(r);
		vdb_vecs_clear(&v);
		if ((s = vdb_reader_read(r, &v, BLOCK, &got)))
			cmd_die(s);
		if (got == 0)
			break;
		if ((s = vdb_quantizer_encode(q, v.data, v.n, codes)))
			die_encode(s, q, v.data, v.n, vdb_reader_name(r), rec0);
		if ((s = vdb_codes_write(stdout, codes, v.n, cs))) {
			cmd_check_stdout(); /* a closed pipe ends quietly */
			cmd_die(s);
		}
		cmd_check_stdout();
		cmd_progress("encoded", vdb_reader_records(r), 0);
	}
	vdb_vecs_free(&v);
	vdb_reader_close(r);
}

static int do_encode(quant_args *a, char **inputs, int ninputs)
{
	refuse_train_eval(a, "encode");
	vdb_quantizer *q = open_quantizer(a, "encode");
	refuse_terminal("encode");
	uint8_t *codes = malloc(BLOCK * vdb_quantizer_code_size(q));
	if (!codes)
		cmd_die(vdb_fail(VDB_ENOMEM, "out of memory"));
	if (ninputs == 0)
		encode_input(a, q, "-", codes);
	for (int i = 0; i < ninputs; i++)
		encode_input(a, q, inputs[i], codes);
	free(codes);
	vdb_quantizer_free(q);
	return cmd_finish();
}

static void decode_input(const vdb_quantizer *q, const char *path, uint8_t *codes, float *x)
{
	vdb_code_reader *r;
	vdb_status s = vdb_codes_open(&r, path, vdb_quantizer_code_size(q));
	if (s)
		cmd_die(s);
	size_t got;
	for (;;) {
		if ((s = vdb_codes_read(r, codes, BLOCK, &got)))
			cmd_die(s);
		if (got == 0)
			break;
		vdb_quantizer_decode(q, codes, got, x);
		if ((s = vdb_fvecs_write(stdout, x, got, vdb_quantizer_dim(q)))) {
			cmd_check_stdout();
			cmd_die(s);
		}
		cmd_check_stdout();
		cmd_progress("decoded", vdb_codes_records(r), 0);
	}
	vdb_codes_close(r);
}

static int do_decode(quant_args *a, char **inputs, int ninputs)
{
	refuse_train_eval(a, "decode");
	refuse(a->format != VDB_FMT_AUTO, "--format", "decode", "vector inputs; codes have one "
	       "format");
	vdb_quantizer *q = open_quantizer(a, "decode");
	refuse_terminal("decode");
	uint8_t *codes = malloc(BLOCK * vdb_quantizer_code_size(q));
	float *x = malloc((size_t)BLOCK * vdb_quantizer_dim(q) * sizeof *x);
	if (!codes || !x)
		cmd_die(vdb_fail(VDB_ENOMEM, "out of memory"));
	if (ninputs == 0)
		decode_input(q, "-", codes, x);
	for (int i = 0; i < ninputs; i++)
		decode_input(q, inputs[i], codes, x);
	free(codes);
	free(x);
	vdb_quantizer_free(q);
	return cmd_finish();
}

/* ===== eval ===== */
static void eval_input(const quant_args *a, vdb_quant_eval *e, const vdb_quantizer *q,
                       const char *path)
{
	vdb_reader *r;
	vdb_status s = vdb_reader_open(&r, path, a->format);
	if (s)
		cmd_die(s);
	vdb_vecs v;
	vdb_vecs_init(&v);
	v.dim = vdb_quantizer_dim(q);
	size_t got;
	for (;;) {
		size_t rec0 = vdb_reader_records(r);
		vdb_vecs_clear(&v);
		if ((s = vdb_reader_read(r, &v, BLOCK, &got)))
			cmd_die(s);
		if (got == 0)
			break;
		if ((s = vdb_quant_eval_add(e, v.data, v.n))) {
			if (s == VDB_EFORMAT)
				die_encode(s, q, v.data, v.n, vdb_reader_name(r), rec0);
			cmd_die(s);
		}
		cmd_progress("base vectors", vdb_reader_records(r), 0);
	}
	vdb_vecs_free(&v);
	vdb_reader_close(r);
}

static int do_eval(quant_args *a, char **inputs, int ninputs)
{
	refuse(a->output, "-o", "eval", "train");
	refuse(a->set_kind || a->set_pq_m || a->set_seed,
	       a->set_kind ? "--kind" : a->set_pq_m ? "--pq-m" : "--seed", "eval", "train");
	if (!a->queries)
		cmd_usage_error("eval measures recall: give --queries FILE");
	vdb_quantizer *q = open_quantizer(a, "eval");
	vdb_quant_kind kind = vdb_quantizer_kind(q);
	uint32_t d = vdb_quantizer_dim(q);

	vdb_vecs qv;
	vdb_vecs_init(&qv);
	qv.dim = d;
	cmd_read_all(a->queries, a->format, &qv, false);
	vdb_quant_eval *e;
	vdb_status s = vdb_quant_eval_new(&e, q, a->metric, a->k, qv.data, qv.n);
	if (s) {
		if (s == VDB_EFORMAT) /* fp16 or binary: a query it cannot encode */
			die_encode(s, q, qv.data, qv.n, a->queries, 0);
		cmd_die(s);
	}
	if (ninputs == 0)
		eval_input(a, e, q, "-");
	for (int i = 0; i < ninputs; i++)
		eval_input(a, e, q, inputs[i]);
	cmd_progress_end();
	vdb_quant_stats st;
	if ((s = vdb_quant_eval_result(e, &st)))
		cmd_die(s);

	size_t cs = vdb_quantizer_code_size(q);
	double rel = st.variance > 0 ? st.mse / st.variance : 0;
	const char *search = kind == VDB_QUANT_BINARY ? "hamming" : "decoded";
	if (a->json) {
		char *info = vdb_quantizer_info_json(q);
		if (!info)
			cmd_die(vdb_fail(VDB_ENOMEM, "out of memory"));
		printf("{\"quantizer\":%s,\"base\":%zu,\"queries\":%zu,\"metric\":\"%s\",\"k\":%zu,"
		       "\"mse\":%.9g,\"variance\":%.9g,\"relative_mse\":%.6g,\"max_abs_error\":%.9g,"
		       "\"search\":\"%s\",\"recall\":%.6f}\n", info, st.n, st.nq,
		       vdb_metric_name(a->metric), st.k, st.mse, st.variance, rel, st.max_abs, search,
		       st.recall);
		free(info);
	} else {
		printf("quantizer    %s: %s, dim %u", a->quantizer, vdb_quant_kind_name(kind), d);
		if (kind == VDB_QUANT_PQ)
			printf(", m %zu", cs);
		printf(", %zu bytes per vector (%.1fx smaller than float32)\n", cs,
		       4.0 * d / (double)cs);
		printf("data         %zu base vectors, %zu queries\n", st.n, st.nq);
		printf("mse          %.6g per vector (%.3g of the variance %.6g)%s\n", st.mse, rel,
		       st.variance, kind == VDB_QUANT_BINARY ? "; binary decodes to +-1" : "");
		printf("max error    %.6g in one dimension\n", st.max_abs);
		printf("recall@%-5zu %.4f (%s: %s)\n", st.k, st.recall, vdb_metric_name(a->metric),
		       kind == VDB_QUANT_BINARY ? "hamming distance of query and base codes"
		                                : "exact queries against the decoded base");
	}
	vdb_quant_eval_free(e);
	vdb_vecs_free(&qv);
	vdb_quantizer_free(q);
	return cmd_finish();
}

/* ===== info ===== */
static int do_info(quant_args *a, int ninputs)
{
	refuse_train_eval(a, "info");
	if (ninputs > 0)
		cmd_usage_error("info takes no operands; give the quantizer with -q FILE");
	vdb_quantizer *q = open_quantizer(a, "info");
	char *j = vdb_quantizer_info_json(q);
	if (!j)
		cmd_die(vdb_fail(VDB_ENOMEM, "out of memory"));
	puts(j);
	free(j);
	vdb_quantizer_free(q);
	return cmd_finish();
}

int main(int argc, char **argv)
{
	cmd_init("vdb-quantize");
	quant_args a = { .kind = VDB_QUANT_SQ8, .metric = VDB_METRIC_L2, .k = 10 };
	vdb_quant_params_init(&a.p);
	int first = cmd_parse(argc, argv, "o:q:k:m:f:t:c:vh", longopts, on_opt, &a, help);
	if (first >= argc)
		cmd_usage_error("no subcommand: expected train, encode, decode, eval or info");
	const char *sub = argv[first];
	char **inputs = argv + first + 1;
	int n = argc - first - 1;
	if (!strcmp(sub, "train"))
		return do_train(&a, inputs, n);
	if (!strcmp(sub, "encode"))
		return do_encode(&a, inputs, n);
	if (!strcmp(sub, "decode"))
		return do_decode(&a, inputs, n);
	if (!strcmp(sub, "eval"))
		return do_eval(&a, inputs, n);
	if (!strcmp(sub, "info"))
		return do_info(&a, n);
	cmd_usage_error("unknown subcommand '%s' (expected train, encode, decode, eval or info)",
	                sub);
}
