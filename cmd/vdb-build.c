/* vdb-build — read vectors, build an index file. */
#include "common.h"
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

enum {
	OPT_SEED = OPT_COMMON_LAST, OPT_M, OPT_EFC, OPT_APPEND, OPT_NLIST, OPT_PQM, OPT_REFINE,
	OPT_STORAGE, OPT_INPUT, OPT_WAIT, OPT_METRICS, OPT_LSH_TABLES, OPT_LSH_BITS, OPT_SHARD
};

/* at most this many --input files */
#define MAX_INPUTS 4096

/* Inputs named by --input: the command line's replace the config file's. */
typedef struct {
	const char *path[MAX_INPUTS];
	int n;
} input_list;

typedef struct {
	const char *output, *base, *metrics;
	vdb_build_opts b;
	vdb_format format;
	double wait;
	bool append, type_set, metric_set, params_set, shard_set;
	input_list cfg_inputs, argv_inputs;
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
	       "      --shard I/N        keep only the records of shard I of N: those whose\n"
	       "                         XXH3-64 of the id (or record number) mod N is I\n"
	       "      --append           add the input to an existing index (-x, default: -o)\n"
	       "  -x, --index FILE       the index to append to\n"
	       "  -i, --input FILE       an input (repeatable; as the INPUT operands)\n"
	       "  -f, --format FMT       auto (default), fvecs, ivecs, bvecs, jsonl\n"
	       "      --seed N           random seed (default 42)\n"
	       "      --wait SECONDS     wait for another build of INDEX to finish (default 0:\n"
	       "                         exit 75 at once); builds lock INDEX.lock\n"
	       "      --metrics FILE     write Prometheus metrics of the build to FILE (atomically),\n"
	       "                         also when it fails\n"
	       "  -t, --threads N        threads (default: all cores)\n"
	       "  -c, --config FILE      YAML file of long options (command line wins)\n"
	       "  -q, --quiet            nothing on stdout or stderr unless there is an error\n"
	       "                         (default: one summary line on stderr)\n"
	       "  -v, --verbose          the summary line (the default; kept for scripts)\n"
	       "      --progress         progress on stderr even when it is not a terminal\n"
	       "  -h, --help             this help\n"
	       "      --version          version and SIMD level\n"
	       "\nExit status: 0 ok, 64 usage, 65 bad input data, 66 cannot open input,\n"
	       "73 cannot create output, 74 I/O error, 75 locked by another build,\n"
	       "70 internal error. See vdb-build(1).\n",
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
	case 'i': {
		input_list *l = cmd_in_config ? &a->cfg_inputs : &a->argv_inputs;
		if (l->n == MAX_INPUTS)
			cmd_usage_error("--input: more than %d files", MAX_INPUTS);
		l->path[l->n++] = arg;
		return true;
	}
	case 'v':
		cmd_opts.verbose = true;
		return true;
	case OPT_SEED:
		a->b.seed = cmd_size("--seed", arg, 0, SIZE_MAX);
		return true;
	case OPT_WAIT:
		a->wait = cmd_double("--wait", arg, 0, 1e7);
		return true;
	case OPT_METRICS:
		a->metrics = arg;
		return true;
	case OPT_SHARD:
		if (vdb_shard_parse(arg, &a->b.shard, &a->b.shards))
			cmd_usage_error("--shard: %s", vdb_last_error());
		a->shard_set = true;
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
	{ "input", required_argument, NULL, 'i' },
	{ "wait", required_argument, NULL, OPT_WAIT },
	{ "metrics", required_argument, NULL, OPT_METRICS },
	{ "shard", required_argument, NULL, OPT_SHARD },
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
	uint32_t shards, shard = vdb_index_shard(base, &shards);
	if (a->shard_set && (shards != a->b.shards || shard != a->b.shard))
		cmd_usage_error("--shard %u/%u, but %s is %s", a->b.shard, a->b.shards, a->base,
		                shards ? "another shard" : "not a shard");
	/* appending to a shard keeps only the shard's records */
	a->b.shard = shard;
	a->b.shards = shards;
	a->b.type = type;
	a->b.metric = m;
	v->dim = vdb_index_dim(base); /* the reader checks every record against it */
	return base;
}

static long long file_bytes(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (long long)st.st_size : 0;
}

/* The one line a build prints on stderr unless --quiet. */
static void summary(const build_args *a, bool appended, size_t n, size_t total, uint32_t dim,
                    double build_s, double total_s)
{
	long long bytes = file_bytes(a->output);
	char added[64] = "", shard[48] = "";
	if (appended)
		snprintf(added, sizeof added, " added (%zu in all)", total);
	if (a->b.shards)
		snprintf(shard, sizeof shard, " (shard %u/%u)", a->b.shard, a->b.shards);
	fprintf(stderr, "%s: %s: %zu vectors%s%s, dim %u, %s, %s, %lld bytes, build %.3f s, "
	        "total %.3f s\n", cmd_name, a->output, n, added, shard, dim, a->b.type,
	        vdb_metric_name(a->b.metric), bytes, build_s, total_s);
}

/* A successful build's figures, for --metrics. */
static void write_metrics(const build_args *a, size_t n, size_t total, double seconds)
{
	const vdb_prom_sample s[] = {
		{ "vdb_build_seconds", "Seconds the last successful build took (read, build, write)",
		  "gauge", NULL, seconds },
		{ "vdb_build_input_vectors", "Vectors read by the last successful build", "gauge",
		  NULL, (double)n },
		{ "vdb_build_vectors", "Vectors in the index after the last successful build", "gauge",
		  NULL, (double)total },
		{ "vdb_index_bytes", "Size of the index file in bytes", "gauge", NULL,
		  (double)file_bytes(a->output) },
	};
	vdb_status st;
	/* a metrics file that cannot be written fails the run, once */
	cmd_metrics_on_failure(NULL, NULL, NULL);
	if ((st = cmd_metrics_write(a->metrics, "vdb_build", a->output, 0, s, sizeof s / sizeof *s)))
		cmd_die(st);
}

int main(int argc, char **argv)
{
	cmd_init("vdb-build");
	static build_args a; /* large (the input lists): not on the stack */
	vdb_build_opts_init(&a.b);
	static const char *const each[] = { "input", NULL };
	cmd_config_each = each;
	int first = cmd_parse(argc, argv, "o:T:m:f:x:i:t:c:vqh", longopts, on_opt, &a, help);
	if (!a.output)
		cmd_usage_error("no output file: give -o INDEX");
	if (a.base && !a.append)
		cmd_usage_error("-x names the index to append to: give --append too");
	if (!a.append && vdb_build_opts_check(&a.b))
		cmd_usage_error("%s", vdb_last_error());
	if (a.metrics)
		cmd_metrics_on_failure(a.metrics, "vdb_build", a.output);
	/* held from before the base is read until the new file is in place, so
	 * two appends cannot both start from the same old index */
	char lockpath[4096];
	if (snprintf(lockpath, sizeof lockpath, "%s.lock", a.output) >= (int)sizeof lockpath)
		cmd_usage_error("--output: name too long");
	vdb_lock *lock;
	vdb_status s = vdb_lock_acquire(&lock, lockpath, a.wait);
	if (s)
		cmd_die(s);
	/* with the lock held no other build of this index is running: any
	 * temporary file of one is left from a build that was killed */
	size_t stale;
	if ((s = vdb_file_remove_stale(a.output, &stale)))
		cmd_die(s);
	if (stale)
		cmd_warn("removed %zu temporary file%s left by an interrupted build of %s", stale,
		         stale == 1 ? "" : "s", a.output);
	double t0 = cmd_now(); /* not counting the wait for the lock */

	vdb_index *base = NULL;
	vdb_vecs v;
	vdb_vecs_init(&v);
	if (a.append)
		base = open_base(&a, &v);
	v.binary = a.b.metric == VDB_METRIC_HAMMING; /* the readers take bits */
	vdb_shard_filter *filter = NULL;
	if (a.b.shards && (s = vdb_shard_filter_new(&filter, a.b.shard, a.b.shards)))
		cmd_die(s);
	/* operands and --input of the command line, else the config's inputs, else stdin */
	const input_list *in = a.argv_inputs.n || first < argc ? &a.argv_inputs : &a.cfg_inputs;
	/* inputs are concatenated: an empty one adds nothing, as with cat */
	const char *last = "-";
	int inputs = 0;
	for (int i = 0; i < in->n; i++, inputs++)
		cmd_read_shard(last = in->path[i], a.format, &v, true, filter);
	for (int i = first; i < argc; i++, inputs++)
		cmd_read_shard(last = argv[i], a.format, &v, true, filter);
	if (!in->n && first >= argc)
		cmd_read_shard("-", a.format, &v, true, filter), inputs++;
	cmd_progress_end();
	if (filter) {
		/* record numbers restart with each run: only ids name an appended record */
		if (base && v.n && !v.id_off)
			cmd_die(vdb_fail(VDB_EFORMAT, "appending to shard %u/%u of %s needs inputs with "
			                 "ids (record numbers would restart at 0)", a.b.shard, a.b.shards,
			                 a.base));
		size_t seen = vdb_shard_filter_seen(filter);
		if ((s = vdb_shard_filter_finish(filter, &v)))
			cmd_die(s);
		vdb_shard_filter_free(filter);
		if (seen && v.n == 0 && !base)
			cmd_die(vdb_fail(VDB_EFORMAT, "none of the %zu records falls in shard %u/%u",
			                 seen, a.b.shard, a.b.shards));
	}
	size_t n = v.n;
	uint32_t dim = v.dim;
	if (n == 0 && !base) {
		if (inputs == 1)
			cmd_die(vdb_fail(VDB_EFORMAT, "%s: no vectors in input",
			                 strcmp(last, "-") ? last : "stdin"));
		cmd_die(vdb_fail(VDB_EFORMAT, "no vectors in any of the %d inputs", inputs));
	}
	if (n == 0) {
		/* a nightly append of a quiet day: nothing to add is not a failure */
		size_t total = vdb_index_count(base);
		vdb_index_close(base);
		vdb_vecs_free(&v);
		if (a.metrics)
			write_metrics(&a, 0, total, cmd_now() - t0);
		vdb_lock_release(lock);
		cmd_warn("no vectors in the input: %s is unchanged", a.output);
		return cmd_finish();
	}

	a.b.progress = cmd_progress;
	a.b.progress_ctx = "building";
	vdb_index *ix;
	s = base ? vdb_index_append(&ix, base, &v, &a.b) : vdb_index_build(&ix, &v, &a.b);
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

	double seconds = cmd_now() - t0;
	/* metrics under the lock too: their file follows the builds' order */
	if (a.metrics)
		write_metrics(&a, n, total, seconds);
	vdb_lock_release(lock);
	if (!cmd_opts.quiet)
		summary(&a, base != NULL, n, total, dim, built - t0, seconds);
	return cmd_finish();
}
