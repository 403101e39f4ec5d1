/* vdb-build — read vectors, build an index file. */
#include "common.h"
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

enum { OPT_SEED = OPT_COMMON_LAST, OPT_M, OPT_EFC, OPT_APPEND, OPT_NLIST, OPT_PQM, OPT_REFINE,
       OPT_STORAGE, OPT_LSH_TABLES, OPT_LSH_BITS };

typedef struct {
	const char *output, *base;
	vdb_build_opts b;
	vdb_format format;
	bool append, type_set, metric_set, params_set;
} build_args;

static void help(void)
{
	printf("Usage: %s -o INDEX [OPTIONS] [INPUT...]\n"
	       "       %s --append [-x INDEX] -o INDEX [INPUT...]\n"
	       "Build an index file from vectors (fvecs, ivecs, bvecs or JSONL; '-' or none: stdin).\n"
	       "\n"
	       "  -o, --output FILE      index file to write (atomically)\n"
	       "  -T, --type TYPE        index type: flat (default), hnsw, ivf, ivfpq or lsh\n"
	       "  -m, --metric METRIC    l2 (default), ip, cosine, or hamming (flat, hnsw: binary\n"
	       "                         vectors, bvecs bytes or JSONL \"bits\" in hex)\n"
	       "      --M N              hnsw: links per node, 2N on layer 0 (default 16)\n"
	       "      --ef-construction N  hnsw: search breadth while linking (default 200)\n"
	       "      --nlist N          ivf, ivfpq: k-means lists (default about 4 sqrt(count))\n"
	       "      --pq-m N           ivfpq: bytes per vector, dividing the dimension\n"
	       "                         (default dim/8 or the nearest divisor below)\n"
	       "      --lsh-tables L     lsh: hash tables (default 8, at most 64)\n"
	       "      --lsh-bits B       lsh: hyperplanes per table, 2^B buckets (default 16,\n"
	       "                         at most 32)\n"
	       "      --storage S        flat, hnsw: keep vectors as f32 (default), fp16 or sq8\n"
	       "      --refine R         ivfpq, fp16/sq8 storage: keep the float32 vectors too,\n"
	       "                         re-rank the R*k best with them (default 0)\n"
	       "      --append           add the input to an existing index (-x, default: -o)\n"
	       "  -x, --index FILE       the index to append to\n"
	       "  -f, --format FMT       auto (default), fvecs, ivecs, bvecs, jsonl\n"
	       "      --seed N           random seed (default 42)\n"
	       "  -t, --threads N        threads (default: all cores)\n"
	       "  -c, --config FILE      YAML file of long options (command line wins)\n"
	       "  -v, --verbose          print a summary on stderr\n"
	       "  -q, --quiet            no warnings\n"
	       "      --progress         progress on stderr even when it is not a terminal\n"
	       "  -h, --help             this help\n"
	       "      --version          version and SIMD level\n"
	       "\nExit status: 0 ok, 64 usage, 65 bad input data, 66 cannot open input,\n"
	       "73 cannot create output, 74 I/O error, 70 internal error. See vdb-build(1).\n",
	       cmd_name, cmd_name);
}

static bool on_opt(int opt, const char *arg, void *ctx)
{
	build_args *a = ctx;
	switch (opt) {
	case 'o':
		a->output = arg;
		return true;
	case 'T':
		a->b.type = arg;
		a->type_set = true;
		return true;
	case 'm':
		cmd_metric(arg, &a->b.metric);
		a->metric_set = true;
		return true;
	case 'x':
		a->base = arg;
		return true;
	case OPT_APPEND:
		a->append = true;
		return true;
	case OPT_M:
		a->b.M = (unsigned)cmd_size("--M", arg, 2, 256);
		a->params_set = true;
		return true;
	case OPT_EFC:
		a->b.ef_construction = (unsigned)cmd_size("--ef-construction", arg, 1, 65536);
		a->params_set = true;
		return true;
	case OPT_NLIST:
		a->b.nlist = (unsigned)cmd_size("--nlist", arg, 1, 1u << 24);
		a->params_set = true;
		return true;
	case OPT_PQM:
		a->b.pq_m = (unsigned)cmd_size("--pq-m", arg, 1, VDB_MAX_DIM);
		a->params_set = true;
		return true;
	case OPT_REFINE:
		a->b.refine = (unsigned)cmd_size("--refine", arg, 0, 1000);
		a->params_set = true;
		return true;
	case OPT_LSH_TABLES:
		a->b.lsh_tables = (unsigned)cmd_size("--lsh-tables", arg, 1, VDB_LSH_MAX_TABLES);
		a->params_set = true;
		return true;
	case OPT_LSH_BITS:
		a->b.lsh_bits = (unsigned)cmd_size("--lsh-bits", arg, 1, VDB_LSH_MAX_BITS);
		a->params_set = true;
		return true;
	case OPT_STORAGE:
		a->b.storage = arg;
		a->params_set = true;
		return true;
	case 'f':
		cmd_format(arg, &a->format);
		return true;
	case 'v':
		cmd_opts.verbose = true;
		return true;
	case OPT_SEED:
		a->b.seed = cmd_size("--seed", arg, 0, SIZE_MAX);
		return true;
	}
	return false;
}

static const struct option longopts[] = {
	{ "output", required_argument, NULL, 'o' },
	{ "type", required_argument, NULL, 'T' },
	{ "metric", required_argument, NULL, 'm' },
	{ "format", required_argument, NULL, 'f' },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "M", required_argument, NULL, OPT_M },
	{ "ef-construction", required_argument, NULL, OPT_EFC },
	{ "nlist", required_argument, NULL, OPT_NLIST },
	{ "pq-m", required_argument, NULL, OPT_PQM },
	{ "refine", required_argument, NULL, OPT_REFINE },
	{ "storage", required_argument, NULL, OPT_STORAGE },
	{ "lsh-tables", required_argument, NULL, OPT_LSH_TABLES },
	{ "lsh-bits", required_argument, NULL, OPT_LSH_BITS },
	{ "append", no_argument, NULL, OPT_APPEND },
	{ "index", required_argument, NULL, 'x' },
	{ "verbose", no_argument, NULL, 'v' },
	CMD_COMMON_LONGOPTS
};

/* Open the index to append to; its type, metric and dimension rule. */
static vdb_index *open_base(build_args *a, vdb_vecs *v)
{
	if (!a->base)
		a->base = a->output;
	vdb_index *base;
	vdb_status s = vdb_index_open(&base, a->base);
	if (s)
		cmd_die(s);
	const char *type = vdb_index_type(base);
	vdb_metric m = vdb_index_metric(base);
	if (a->type_set && strcmp(a->b.type, type))
		cmd_usage_error("--type %s, but %s is a %s index", a->b.type, a->base, type);
	if (a->metric_set && a->b.metric != m)
		cmd_usage_error("--metric %s, but %s uses %s", vdb_metric_name(a->b.metric), a->base,
		                vdb_metric_name(m));
	if (a->params_set)
		cmd_warn("build parameters are ignored with --append: %s keeps its own",
		         a->base);
	a->b.type = type;
	a->b.metric = m;
	v->dim = vdb_index_dim(base); /* the reader checks every record against it */
	return base;
}

int main(int argc, char **argv)
{
	cmd_init("vdb-build");
	build_args a = { 0 };
	vdb_build_opts_init(&a.b);
	int first = cmd_parse(argc, argv, "o:T:m:f:x:t:c:vqh", longopts, on_opt, &a, help);
	if (!a.output)
		cmd_usage_error("no output file: give -o INDEX");
	if (a.base && !a.append)
		cmd_usage_error("-x names the index to append to: give --append too");
	if (!a.append && vdb_build_opts_check(&a.b))
		cmd_usage_error("%s", vdb_last_error());
	double t0 = cmd_now();

	vdb_index *base = NULL;
	vdb_vecs v;
	vdb_vecs_init(&v);
	if (a.append)
		base = open_base(&a, &v);
	v.binary = a.b.metric == VDB_METRIC_HAMMING; /* the readers take bits */
	if (first >= argc)
		cmd_read_all("-", a.format, &v);
	for (int i = first; i < argc; i++)
		cmd_read_all(argv[i], a.format, &v);
	cmd_progress_end();
	size_t n = v.n;
	uint32_t dim = v.dim;

	a.b.progress = cmd_progress;
	a.b.progress_ctx = "building";
	vdb_index *ix;
	vdb_status s = base ? vdb_index_append(&ix, base, &v, &a.b)
	                    : vdb_index_build(&ix, &v, &a.b);
	if (s)
		cmd_die(s);
	cmd_progress_end();
	double built = cmd_now();
	/* the base stays mapped until the new file has replaced it */
	if ((s = vdb_index_save(ix, a.output)))
		cmd_die(s);
	size_t total = vdb_index_count(ix);
	vdb_index_close(ix);
	vdb_index_close(base);
	vdb_vecs_free(&v);

	if (cmd_opts.verbose) {
		struct stat st;
		double mb = stat(a.output, &st) == 0 ? (double)st.st_size / 1e6 : 0;
		fprintf(stderr, "%s: %s: %zu vectors%s, dim %u, %s, %s, %.1f MB, build %.3f s, "
		        "total %.3f s\n", cmd_name, a.output, n, base ? " added" : "", dim, a.b.type,
		        vdb_metric_name(a.b.metric), mb, built - t0, cmd_now() - t0);
		if (base)
			fprintf(stderr, "%s: %s now holds %zu vectors\n", cmd_name, a.output, total);
	}
	return cmd_finish();
}
