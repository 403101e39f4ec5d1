/* vdb-build — read vectors, build an index file. */
#include "common.h"
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

enum { OPT_SEED = OPT_COMMON_LAST };

typedef struct {
	const char *output;
	vdb_build_opts b;
	vdb_format format;
} build_args;

static void help(void)
{
	printf("Usage: %s -o INDEX [OPTIONS] [INPUT...]\n"
	       "Build an index file from vectors (fvecs, ivecs, bvecs or JSONL; '-' or none: stdin).\n"
	       "\n"
	       "  -o, --output FILE      index file to write (atomically)\n"
	       "  -T, --type TYPE        index type: flat (default)\n"
	       "  -m, --metric METRIC    l2 (default), ip or cosine\n"
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
	       cmd_name);
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
		return true;
	case 'm':
		cmd_metric(arg, &a->b.metric);
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
	{ "verbose", no_argument, NULL, 'v' },
	CMD_COMMON_LONGOPTS
};

static void read_input(const char *path, vdb_format fmt, vdb_vecs *v)
{
	vdb_reader *r;
	vdb_status s = vdb_reader_open(&r, path, fmt);
	if (s)
		cmd_die(s);
	size_t got;
	do {
		if ((s = vdb_reader_read(r, v, 65536, &got)))
			cmd_die(s);
		cmd_progress("reading", v->n, 0);
	} while (got > 0);
	vdb_reader_close(r);
}

int main(int argc, char **argv)
{
	cmd_init("vdb-build");
	build_args a = { 0 };
	vdb_build_opts_init(&a.b);
	int first = cmd_parse(argc, argv, "o:T:m:f:t:c:vqh", longopts, on_opt, &a, help);
	if (!a.output)
		cmd_usage_error("no output file: give -o INDEX");
	if (vdb_build_opts_check(&a.b))
		cmd_usage_error("%s", vdb_last_error());
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);

	vdb_vecs v;
	vdb_vecs_init(&v);
	if (first >= argc)
		read_input("-", a.format, &v);
	for (int i = first; i < argc; i++)
		read_input(argv[i], a.format, &v);
	cmd_progress_end();
	size_t n = v.n;
	uint32_t dim = v.dim;

	a.b.progress = cmd_progress;
	a.b.progress_ctx = "building";
	vdb_index *ix;
	vdb_status s = vdb_index_build(&ix, &v, &a.b);
	if (s)
		cmd_die(s);
	cmd_progress_end();
	if ((s = vdb_index_save(ix, a.output)))
		cmd_die(s);
	vdb_index_close(ix);
	vdb_vecs_free(&v);

	if (cmd_opts.verbose) {
		clock_gettime(CLOCK_MONOTONIC, &t1);
		struct stat st;
		double mb = stat(a.output, &st) == 0 ? (double)st.st_size / 1e6 : 0;
		fprintf(stderr, "%s: %s: %zu vectors, dim %u, %s, %s, %.1f MB, %.2f s\n", cmd_name,
		        a.output, n, dim, a.b.type, vdb_metric_name(a.b.metric), mb,
		        (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
	}
	return cmd_finish();
}
