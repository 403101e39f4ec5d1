/* vdb-build — read vectors, build an index file. */
#include "common.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

enum {
	OPT_SEED = OPT_COMMON_LAST, OPT_M, OPT_EFC, OPT_APPEND, OPT_NLIST, OPT_PQM, OPT_REFINE,
	OPT_STORAGE, OPT_INPUT, OPT_WAIT, OPT_METRICS, OPT_LSH_TABLES, OPT_LSH_BITS, OPT_SHARD,
	OPT_DELETE, OPT_UPSERT, OPT_COMPACT, OPT_COMPACT_HINT, OPT_LEXICAL, OPT_LANGUAGE,
	OPT_STOPWORDS, OPT_LEXICAL_FIELD, OPT_FILTER, OPT_PATCH, OPT_DEDUPE, OPT_NO_RECALL_CURVE,
	OPT_PQBITS
};

/* What a run does: a build, or a change to an existing index (-x). */
typedef enum {
	MODE_BUILD, MODE_APPEND, MODE_DELETE, MODE_UPSERT, MODE_COMPACT, MODE_PATCH
} build_mode;
static const char *const mode_option[] = { "", "--append", "--delete", "--upsert", "--compact",
	                                   "--patch" };

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
	double wait, compact_hint;
	build_mode mode;
	bool type_set, metric_set, params_set, shard_set;
	bool lexical;           /* --lexical */
	const char *lex_option; /* the last of --language, --stopwords, --lexical-field */
	vdb_lexical_opts lex;
	input_list cfg_inputs, argv_inputs;
	const char *filter;     /* --delete --filter EXPR */
	vdb_dedupe dedupe;      /* --dedupe first|last */
	bool dedupe_set;
	bool no_recall_curve;   /* --no-recall-curve */
} build_args;

static void help(void)
{
	printf("Usage: %s -o INDEX [OPTIONS] [INPUT...]\n"
	       "       %s --append|--upsert -x INDEX [-o OUT] [INPUT...]\n"
	       "       %s --delete -x INDEX [-o OUT] [IDS...]\n"
	       "       %s --delete --filter EXPR -x INDEX [-o OUT]\n"
	       "       %s --patch -x INDEX [-o OUT] [PATCHES...]\n"
	       "       %s --compact -x INDEX [-o OUT]\n"
	       "Build an index file from vectors (fvecs, ivecs, bvecs or JSONL; '-' or none: stdin),\n"
	       "or change one: the changed index replaces INDEX (or is written to OUT).\n"
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
	       "      --pq-bits B        ivfpq: 8 (default) or 4 bits per code: 4 scans codes\n"
	       "                         in registers (fast-scan); use with --refine\n"
	       "      --lsh-tables L     lsh: hash tables (default 8, at most 64)\n"
	       "      --lsh-bits B       lsh: hyperplanes per table, 2^B buckets (default:\n"
	       "                         about 8 records a bucket, at most 32)\n"
	       "      --storage S        flat, hnsw: keep vectors as f32 (default), fp16 or sq8\n"
	       "      --refine R         ivfpq, fp16/sq8 storage: keep the float32 vectors too,\n"
	       "                         re-rank the R*k best with them (default 0)\n"
	       "      --lexical          also index each record's text for BM25 queries (vdb-query\n"
	       "                         --text); see LEXICAL INDEX in vdb-build(1)\n"
	       "      --language L       --lexical: stemmer, english (default, or en), none or any\n"
	       "                         Snowball language\n"
	       "      --stopwords FILE   --lexical: words not indexed, one per line\n"
	       "      --lexical-field F  --lexical: index the metadata field F (a string)\n"
	       "                         instead of the text\n"
	       "      --shard I/N        keep only the records of shard I of N: those whose\n"
	       "                         XXH3-64 of the id (or record number) mod N is I\n"
	       "      --append           add the input's records to the index -x\n"
	       "      --upsert           replace the records of -x whose ids the input's records\n"
	       "                         have, add the others\n"
	       "      --delete           delete the records of -x with the ids listed in the input\n"
	       "                         (one per line, or JSONL records' \"id\")\n"
	       "      --filter EXPR      --delete: delete every record whose metadata passes EXPR\n"
	       "                         (the language of vdb-query --filter)\n"
	       "      --patch            merge the input's {\"id\", \"metadata\"} records into the\n"
	       "                         stored metadata (JSON merge patch; \"text\" replaces)\n"
	       "      --dedupe first|last  keep the first or last record of an id given twice\n"
	       "                         (default: refuse the input, status 65)\n"
	       "      --compact          rewrite -x without its deleted records\n"
	       "  -x, --index FILE       the index to change (default: -o)\n"
	       "      --compact-hint F   warn when more than this fraction of the records are\n"
	       "                         deleted (default 0.2)\n"
	       "      --no-recall-curve  do not measure the index's recall curve (what vdb-query\n"
	       "                         --recall picks from; see RECALL CURVE in vdb-build(1))\n"
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
	       cmd_name, cmd_name, cmd_name, cmd_name, cmd_name, cmd_name);
}

/* A build parameter, by its name in the types' tables, from its option. */
static void set_param(build_args *a, const char *name, const char *opt, const char *arg,
                      size_t min, size_t max)
{
	vdb_status s = vdb_build_opts_set(&a->b, name, (unsigned)cmd_size(opt, arg, min, max));
	if (s)
		cmd_die(s);
}

/* The build parameters (a change of an index keeps its own: params_set). */
static bool on_param(int opt, const char *arg, build_args *a)
{
	switch (opt) {
	case OPT_M:
		set_param(a, "M", "--M", arg, 2, 256);
		break;
	case OPT_EFC:
		set_param(a, "ef_construction", "--ef-construction", arg, 1, 65536);
		break;
	case OPT_NLIST:
		set_param(a, "nlist", "--nlist", arg, 1, 1u << 24);
		break;
	case OPT_PQM:
		set_param(a, "pq_m", "--pq-m", arg, 1, VDB_MAX_DIM);
		break;
	case OPT_PQBITS:
		set_param(a, "pq_bits", "--pq-bits", arg, 4, 8);
		break;
	case OPT_REFINE:
		a->b.refine = (unsigned)cmd_size("--refine", arg, 0, 1000);
		break;
	case OPT_LSH_TABLES:
		set_param(a, "lsh_tables", "--lsh-tables", arg, 1, VDB_LSH_MAX_TABLES);
		break;
	case OPT_LSH_BITS:
		set_param(a, "lsh_bits", "--lsh-bits", arg, 1, VDB_LSH_MAX_BITS);
		break;
	case OPT_STORAGE:
		a->b.storage = arg;
		break;
	case OPT_LEXICAL:
		a->lexical = true;
		break;
	case OPT_LANGUAGE: case OPT_STOPWORDS: case OPT_LEXICAL_FIELD:
		*(opt == OPT_LANGUAGE    ? &a->lex.language
		  : opt == OPT_STOPWORDS ? &a->lex.stopwords : &a->lex.field) = arg;
		a->lex_option = opt == OPT_LANGUAGE    ? "--language"
		                : opt == OPT_STOPWORDS ? "--stopwords" : "--lexical-field";
		break;
	default:
		return false;
	}
	a->params_set = true;
	return true;
}

static bool on_opt(int opt, const char *arg, void *ctx)
{
	build_args *a = ctx;
	if (on_param(opt, arg, a))
		return true;
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
	case OPT_APPEND: case OPT_DELETE: case OPT_UPSERT: case OPT_COMPACT: case OPT_PATCH: {
		build_mode m = opt == OPT_APPEND   ? MODE_APPEND
		               : opt == OPT_DELETE ? MODE_DELETE
		               : opt == OPT_UPSERT ? MODE_UPSERT
		               : opt == OPT_PATCH  ? MODE_PATCH : MODE_COMPACT;
		if (a->mode && a->mode != m)
			cmd_usage_error("%s and %s: one change at a time", mode_option[a->mode],
			                mode_option[m]);
		a->mode = m;
		return true;
	}
	case OPT_COMPACT_HINT:
		a->compact_hint = cmd_double("--compact-hint", arg, 0, 1);
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
	case OPT_FILTER:
		a->filter = arg;
		return true;
	case OPT_DEDUPE:
		if (strcmp(arg, "first") && strcmp(arg, "last"))
			cmd_usage_error("--dedupe: '%s': give first or last", arg);
		a->dedupe = strcmp(arg, "first") ? VDB_DEDUPE_LAST : VDB_DEDUPE_FIRST;
		a->dedupe_set = true;
		return true;
	case OPT_NO_RECALL_CURVE:
		a->no_recall_curve = true;
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
	{ "pq-bits", required_argument, NULL, OPT_PQBITS },
	{ "refine", required_argument, NULL, OPT_REFINE },
	{ "storage", required_argument, NULL, OPT_STORAGE },
	{ "lsh-tables", required_argument, NULL, OPT_LSH_TABLES },
	{ "lsh-bits", required_argument, NULL, OPT_LSH_BITS },
	{ "append", no_argument, NULL, OPT_APPEND },
	{ "delete", no_argument, NULL, OPT_DELETE },
	{ "upsert", no_argument, NULL, OPT_UPSERT },
	{ "compact", no_argument, NULL, OPT_COMPACT },
	{ "compact-hint", required_argument, NULL, OPT_COMPACT_HINT },
	{ "index", required_argument, NULL, 'x' },
	{ "input", required_argument, NULL, 'i' },
	{ "wait", required_argument, NULL, OPT_WAIT },
	{ "metrics", required_argument, NULL, OPT_METRICS },
	{ "shard", required_argument, NULL, OPT_SHARD },
	{ "lexical", no_argument, NULL, OPT_LEXICAL },
	{ "language", required_argument, NULL, OPT_LANGUAGE },
	{ "stopwords", required_argument, NULL, OPT_STOPWORDS },
	{ "lexical-field", required_argument, NULL, OPT_LEXICAL_FIELD },
	{ "verbose", no_argument, NULL, 'v' },
	{ "filter", required_argument, NULL, OPT_FILTER },
	{ "patch", no_argument, NULL, OPT_PATCH },
	{ "dedupe", required_argument, NULL, OPT_DEDUPE },
	{ "no-recall-curve", no_argument, NULL, OPT_NO_RECALL_CURVE },
	CMD_COMMON_LONGOPTS
};

/* Open the index to append to; its type, metric and dimension rule. */
static vdb_index *open_base(build_args *a, vdb_vecs *v)
{
	vdb_index *base;
	cmd_watch_index(a->base);
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
		cmd_warn("build parameters are ignored with %s: %s keeps its own",
		         mode_option[a->mode], a->base);
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

/* A changed index's recall curve: measured again over its live rows, or
 * dropped (--no-recall-curve, or no float32 vectors to measure against). */
static void recall_curve_again(const build_args *a, vdb_index *ix)
{
	if (a->no_recall_curve) {
		vdb_index_drop_recall(ix);
		return;
	}
	vdb_status s = vdb_index_measure_recall(ix);
	if (s == VDB_EUNSUPPORTED)
		cmd_warn("%s: %s; the recall curve is dropped (vdb-query --recall needs a rebuild)",
		         a->output, vdb_last_error());
	else if (s)
		cmd_die(s);
}

/* The one line a build prints on stderr unless --quiet. */
static void summary(const build_args *a, const char *what, uint32_t dim, double build_s,
                    double total_s)
{
	long long bytes = file_bytes(a->output);
	char shard[48] = "";
	if (a->b.shards)
		snprintf(shard, sizeof shard, " (shard %u/%u)", a->b.shard, a->b.shards);
	fprintf(stderr, "%s: %s: %s%s, dim %u, %s, %s, %lld bytes, build %.3f s, total %.3f s\n",
	        cmd_name, a->output, what, shard, dim, a->b.type, vdb_metric_name(a->b.metric), bytes,
	        build_s, total_s);
}

/* A successful run's figures, for --metrics. */
static void write_metrics(const build_args *a, size_t n, const vdb_index *ix, double seconds)
{
	size_t live = ix ? vdb_index_live(ix) : 0, count = ix ? vdb_index_count(ix) : 0;
	const vdb_prom_sample s[] = {
		{ "vdb_build_seconds", "Seconds the last successful build took (read, build, write)",
		  "gauge", NULL, seconds },
		{ "vdb_build_input_vectors", "Vectors (or ids, --delete) read by the last successful "
		  "build", "gauge", NULL, (double)n },
		{ "vdb_build_vectors", "Live vectors in the index after the last successful build",
		  "gauge", NULL, (double)live },
		{ "vdb_index_deleted_vectors", "Deleted vectors the index file still holds", "gauge",
		  NULL, (double)(count - live) },
		{ "vdb_index_bytes", "Size of the index file in bytes", "gauge", NULL,
		  (double)file_bytes(a->output) },
	};
	vdb_status st;
	/* a metrics file that cannot be written fails the run, once */
	cmd_metrics_on_failure(NULL, NULL, NULL);
	if ((st = cmd_metrics_write(a->metrics, "vdb_build", a->output, 0, s, sizeof s / sizeof *s)))
		cmd_die(st);
}

/* The inputs: operands and --input of the command line, else the config's
 * inputs, else stdin; fn(path, ctx) for each. Returns how many; *last is
 * the last one's name. */
static int each_input(const build_args *a, int first, int argc, char **argv,
                      void (*fn)(const char *path, void *ctx), void *ctx, const char **last)
{
	const input_list *in = a->argv_inputs.n || first < argc ? &a->argv_inputs : &a->cfg_inputs;
	int n = 0;
	*last = "-";
	for (int i = 0; i < in->n; i++, n++)
		fn(*last = in->path[i], ctx);
	for (int i = first; i < argc; i++, n++)
		fn(*last = argv[i], ctx);
	if (n == 0)
		fn("-", ctx), n++;
	return n;
}

/* each_input: no input may be the output (-o X X) */
static void refuse_output(const char *path, void *output)
{
	cmd_refuse_input_output(path, output);
}

/* A record's origin: its input's number, then its line (JSONL). */
#define ORIGIN_LINE_BITS 48

typedef struct {
	const build_args *a;
	vdb_vecs *v;
	vdb_shard_filter *filter;
	const char *names[MAX_INPUTS + 1]; /* the inputs read */
	int ninputs;
	uint64_t *origin; /* per row of v, for messages naming duplicate ids */
	size_t ocap;
} vec_reader;

/* Read one input a record at a time, noting each kept record's line (an
 * empty input adds nothing, as with cat). */
static void read_vectors(const char *path, void *ctx)
{
	vec_reader *r = ctx;
	vdb_reader *in;
	vdb_status s = vdb_reader_open(&in, path, r->a->format);
	if (s)
		cmd_die(s);
	int input = r->ninputs++;
	r->names[input] = strcmp(path, "-") ? path : "stdin";
	size_t got;
	do {
		size_t from = r->v->n;
		if ((s = vdb_reader_read(in, r->v, 1, &got)) && vdb_reader_empty(in))
			break;
		/* a shard build holds only its share */
		if (s || (r->filter && (s = vdb_shard_filter_apply(r->filter, r->v, from))))
			cmd_die(s);
		if (r->v->n > from) {
			if (r->v->n > r->ocap) {
				size_t cap = r->ocap ? 2 * r->ocap : 4096;
				uint64_t *o = realloc(r->origin, cap * sizeof *o);
				if (!o)
					cmd_die(vdb_fail(VDB_ENOMEM, "out of memory"));
				r->origin = o, r->ocap = cap;
			}
			r->origin[from] = (uint64_t)input << ORIGIN_LINE_BITS | vdb_reader_line(in);
		}
		size_t seen = r->filter ? vdb_shard_filter_seen(r->filter) : r->v->n;
		if (seen % 65536 == 0)
			cmd_progress("reading", seen, 0);
	} while (got > 0);
	cmd_progress("reading", r->filter ? vdb_shard_filter_seen(r->filter) : r->v->n, 0);
	vdb_reader_close(in);
}

/* vdb_row_label_fn: "NAME: line N" of a record read. */
static void origin_label(void *ctx, size_t row, char *buf, size_t n)
{
	const vec_reader *r = ctx;
	uint64_t o = r->origin[row];
	snprintf(buf, n, "%s: line %llu", r->names[o >> ORIGIN_LINE_BITS],
	         (unsigned long long)(o & (((uint64_t)1 << ORIGIN_LINE_BITS) - 1)));
}

/* Ids given twice: refused (65) unless --dedupe; an --append may not give
 * an id the index has (--upsert replaces), an --upsert keeps the last
 * record of an id unless --dedupe first. */
static void check_ids(const build_args *a, const vdb_index *base, vdb_vecs *v, vec_reader *r)
{
	size_t dropped = 0;
	vdb_status s = VDB_OK;
	if (a->mode == MODE_APPEND)
		s = vdb_index_ids_clash(base, v, origin_label, r);
	if (!s && (a->mode != MODE_UPSERT || a->dedupe_set))
		s = vdb_vecs_dedupe(v, a->dedupe, &dropped, origin_label, r);
	if (s)
		cmd_die(s);
	if (dropped && !cmd_opts.quiet)
		fprintf(stderr, "%s: --dedupe %s: %zu record%s dropped (an id given more than once)\n",
		        cmd_name, a->dedupe == VDB_DEDUPE_FIRST ? "first" : "last", dropped,
		        dropped == 1 ? "" : "s");
}

static void read_ids(const char *path, void *ctx)
{
	bool in = !strcmp(path, "-");
	const char *name = in ? "stdin" : path;
	FILE *f = in ? stdin : fopen(path, "r");
	if (!f)
		cmd_die(vdb_fail(VDB_ENOENT, "%s: %s", path, strerror(errno)));
	vdb_status s = vdb_idlist_read(ctx, f, name);
	if (!in)
		fclose(f);
	if (s)
		cmd_die(s);
}

/* each_input: the patches of an input (--patch) */
static void read_patches(const char *path, void *ctx)
{
	bool in = !strcmp(path, "-");
	FILE *f = in ? stdin : fopen(path, "r");
	if (!f)
		cmd_die(vdb_fail(VDB_ENOENT, "%s: %s", path, strerror(errno)));
	vdb_status s = vdb_patches_read(ctx, f, in ? "stdin" : path);
	if (!in)
		fclose(f);
	if (s)
		cmd_die(s);
}

/* --delete --filter: the records deleted from base. */
static size_t delete_by_filter(const build_args *a, vdb_index *base)
{
	vdb_filter *f;
	vdb_status s = cmd_filter_parse(&f, a->filter);
	if (s)
		cmd_usage_error("--filter: %s", vdb_last_error());
	size_t deleted;
	s = vdb_index_delete_filter(base, f, &deleted);
	vdb_filter_free(f);
	if (s)
		cmd_die(s);
	if (deleted == 0)
		cmd_warn("no live record of %s passes the filter %s", a->base, a->filter);
	return deleted;
}

/* The run is over without a change: the index stays as it was. */
static int unchanged(const build_args *a, vdb_index *base, size_t n, vdb_lock *lock,
                     double t0, const char *why)
{
	if (a->metrics)
		write_metrics(a, n, base, cmd_now() - t0);
	vdb_index_close(base);
	cmd_lock_release(lock);
	cmd_warn("%s: %s is unchanged", why, a->output);
	return cmd_finish();
}

/* Read the vectors of the inputs into v (for a build, --append, --upsert). */
static size_t read_all_vectors(build_args *a, vdb_index *base, vdb_vecs *v, int first, int argc,
                               char **argv)
{
	vdb_status s;
	static vec_reader r; /* large (the names): not on the stack */
	r.a = a, r.v = v;
	if (a->b.shards && (s = vdb_shard_filter_new(&r.filter, a->b.shard, a->b.shards)))
		cmd_die(s);
	/* inputs are concatenated: an empty one adds nothing, as with cat */
	const char *last;
	int inputs = each_input(a, first, argc, argv, read_vectors, &r, &last);
	cmd_progress_end();
	if (r.filter) {
		/* record numbers restart with each run: only ids name an appended record */
		if (base && v->n && !v->id_off)
			cmd_die(vdb_fail(VDB_EFORMAT, "appending to shard %u/%u of %s needs inputs with "
			                 "ids (record numbers would restart at 0)", a->b.shard, a->b.shards,
			                 a->base));
		size_t seen = vdb_shard_filter_seen(r.filter);
		if ((s = vdb_shard_filter_finish(r.filter, v)))
			cmd_die(s);
		vdb_shard_filter_free(r.filter);
		if (seen && v->n == 0 && !base)
			cmd_die(vdb_fail(VDB_EFORMAT, "none of the %zu records falls in shard %u/%u",
			                 seen, a->b.shard, a->b.shards));
	}
	if (v->n == 0 && !base) {
		if (inputs == 1)
			cmd_die(vdb_fail(VDB_EFORMAT, "%s: no vectors in input",
			                 strcmp(last, "-") ? last : "stdin"));
		cmd_die(vdb_fail(VDB_EFORMAT, "no vectors in any of the %d inputs", inputs));
	}
	check_ids(a, base, v, &r);
	free(r.origin);
	return v->n;
}

/* The usage errors that need every option seen (exit 64 before any work). */
static void check_args(build_args *a, int first, int argc)
{
	bool inputs = first < argc || a->argv_inputs.n || a->cfg_inputs.n;
	if (a->mode == MODE_BUILD) {
		if (!a->output)
			cmd_usage_error("no output file: give -o INDEX");
		if (a->base)
			cmd_usage_error("-x names an index to change: give --append, --upsert, --delete "
			                "or --compact too");
		if (a->lex_option && !a->lexical)
			cmd_usage_error("%s applies to the lexical index: give --lexical too", a->lex_option);
		if (a->lexical)
			a->b.lexical = &a->lex;
		if (vdb_build_opts_check(&a->b))
			cmd_usage_error("%s", vdb_last_error());
	} else {
		if (!a->output && !a->base)
			cmd_usage_error("%s: give the index to change with -x INDEX",
			                mode_option[a->mode]);
		if (!a->output)
			a->output = a->base;
		if (!a->base)
			a->base = a->output;
		if (a->mode == MODE_COMPACT && inputs)
			cmd_usage_error("--compact reads no input");
	}
	if (a->filter && a->mode != MODE_DELETE)
		cmd_usage_error("--filter selects the records of --delete (vdb-query takes it for "
		                "searches)");
	if (a->filter && inputs)
		cmd_usage_error("--delete --filter reads no input: give ids or a filter, not both");
	if (a->dedupe_set && a->mode != MODE_BUILD && a->mode != MODE_APPEND && a->mode != MODE_UPSERT)
		cmd_usage_error("--dedupe applies to records read: a build, --append or --upsert");
}

/* Take the output's lock, held from before the base is read until the new
 * file is in place, so two changes cannot both start from the same old
 * index; then remove the temporary files of killed builds. */
static vdb_lock *lock_output(const build_args *a)
{
	char lockpath[4096];
	if (snprintf(lockpath, sizeof lockpath, "%s.lock", a->output) >= (int)sizeof lockpath)
		cmd_usage_error("--output: name too long");
	vdb_lock *lock;
	vdb_status s = vdb_output_file_check(a->output); /* before the lock file beside it */
	if (s || (s = vdb_lock_acquire(&lock, lockpath, a->wait)))
		cmd_die(s);
	cmd_lock_hold(lock); /* a failure releases it too, removing INDEX.lock */
	/* with the lock held no other build of this index is running: any
	 * temporary file of one is left from a build that was killed */
	size_t stale;
	if ((s = vdb_file_remove_stale(a->output, &stale)))
		cmd_die(s);
	if (stale)
		cmd_warn("removed %zu temporary file%s left by an interrupted build of %s", stale,
		         stale == 1 ? "" : "s", a->output);
	return lock;
}

/* One run: the operands, the index changed (base) and the one made (ix),
 * how many records the input had (n) and what the summary says. */
typedef struct {
	int first, argc;
	char **argv;
	vdb_index *base, *ix;
	vdb_vecs v;
	size_t n;
	char what[160];
} build_run;

/* Each mode's work: NULL when ix is made (base moved into it when the
 * change is in place), else why the index is unchanged. */
static const char *add_records(build_args *a, build_run *r)
{
	r->n = read_all_vectors(a, r->base, &r->v, r->first, r->argc, r->argv);
	/* a nightly append of a quiet day: nothing to add is not a failure */
	if (r->n == 0)
		return "no vectors in the input";
	size_t replaced = 0;
	vdb_status s = a->mode == MODE_BUILD    ? vdb_index_build(&r->ix, &r->v, &a->b)
	               : a->mode == MODE_APPEND ? vdb_index_append(&r->ix, r->base, &r->v, &a->b)
	                                        : vdb_index_upsert(&r->ix, r->base, &r->v, &a->b,
	                                                           &replaced);
	if (s)
		cmd_die(s);
	if (a->mode == MODE_UPSERT)
		snprintf(r->what, sizeof r->what, "%zu vectors upserted (%zu replaced)", r->n, replaced);
	else
		snprintf(r->what, sizeof r->what, "%zu vectors%s", r->n, r->base ? " added" : "");
	return NULL;
}

/* A change made in the base itself (tombstones, metadata): it is saved. */
static const char *in_place(build_run *r, size_t n, const char *verb)
{
	snprintf(r->what, sizeof r->what, "%zu records %s", n, verb);
	r->ix = r->base;
	r->base = NULL;
	return NULL;
}

static const char *delete_records(build_args *a, build_run *r)
{
	size_t deleted;
	if (a->filter) {
		deleted = delete_by_filter(a, r->base);
		if (deleted == 0)
			return "nothing deleted";
		r->n = deleted;
	} else {
		vdb_idlist ids;
		vdb_idlist_init(&ids);
		const char *last;
		each_input(a, r->first, r->argc, r->argv, read_ids, &ids, &last);
		size_t missing;
		r->n = ids.n;
		vdb_status s = vdb_index_delete(r->base, &ids, &deleted, &missing);
		vdb_idlist_free(&ids);
		if (s)
			cmd_die(s);
		if (missing)
			cmd_warn("%zu of the %zu ids name no live record of %s", missing, r->n, a->base);
		if (deleted == 0)
			return r->n ? "nothing deleted" : "no ids in the input";
	}
	return in_place(r, deleted, "deleted");
}

static const char *patch_records(build_args *a, build_run *r)
{
	vdb_patches *p;
	vdb_status s;
	if ((s = vdb_patches_new(&p)))
		cmd_die(s);
	const char *last;
	each_input(a, r->first, r->argc, r->argv, read_patches, p, &last);
	size_t patched, missing;
	char where[1024];
	r->n = vdb_patches_count(p);
	s = vdb_index_patch(r->base, p, &patched, &missing, where, sizeof where);
	vdb_patches_free(p);
	if (s)
		cmd_die(s);
	if (missing)
		cmd_warn("%zu of the %zu patches name no live record of %s (the first: %s)",
		         missing, r->n, a->base, where);
	if (patched == 0)
		return r->n ? "nothing patched" : "no patches in the input";
	return in_place(r, patched, "patched");
}

static const char *compact_records(build_args *a, build_run *r)
{
	size_t dead = vdb_index_count(r->base) - vdb_index_live(r->base);
	if (dead == 0)
		return "no deleted records";
	vdb_status s = vdb_index_compact(&r->ix, r->base, &a->b);
	if (s)
		cmd_die(s);
	snprintf(r->what, sizeof r->what, "%zu deleted records removed", dead);
	return NULL;
}

/* Save the index made, then report: metrics, summary, compaction hint. */
static int save(const build_args *a, build_run *r, vdb_lock *lock, double t0)
{
	vdb_status s;
	if (a->mode != MODE_BUILD && a->mode != MODE_PATCH) /* a patch moves no vector */
		recall_curve_again(a, r->ix);
	cmd_progress_end();
	double built = cmd_now();
	/* the base stays mapped until the new file has replaced it */
	if ((s = vdb_index_save(r->ix, a->output)))
		cmd_die(s);
	size_t total = vdb_index_live(r->ix), count = vdb_index_count(r->ix);
	uint32_t dim = vdb_index_dim(r->ix);
	double seconds = cmd_now() - t0;
	/* metrics under the lock too: their file follows the builds' order */
	if (a->metrics)
		write_metrics(a, r->n, r->ix, seconds);
	vdb_index_close(r->ix);
	vdb_index_close(r->base);
	vdb_vecs_free(&r->v);
	cmd_lock_release(lock);
	if (!cmd_opts.quiet) {
		char *what = r->what;
		size_t len = strlen(what);
		if (a->mode != MODE_BUILD && count == total)
			snprintf(what + len, sizeof r->what - len, " (%zu in all)", total);
		else if (a->mode != MODE_BUILD)
			snprintf(what + len, sizeof r->what - len, " (%zu live of %zu)", total, count);
		summary(a, what, dim, built - t0, seconds);
	}
	double dead = count ? (double)(count - total) / (double)count : 0;
	if (dead > a->compact_hint)
		cmd_warn("%zu of the %zu records of %s (%.1f%%) are deleted: `vdb-build --compact -x "
		         "%s` would remove them", count - total, count, a->output, 100 * dead, a->output);
	return cmd_finish();
}

int main(int argc, char **argv)
{
	cmd_init("vdb-build");
	static build_args a; /* large (the input lists): not on the stack */
	vdb_build_opts_init(&a.b);
	a.compact_hint = 0.2;
	static const char *const each[] = { "input", NULL };
	cmd_config_each = each;
	int first = cmd_parse(argc, argv, "o:T:m:f:x:i:t:c:vqh", longopts, on_opt, &a, help);
	check_args(&a, first, argc);
	if (a.metrics)
		cmd_metrics_on_failure(a.metrics, "vdb_build", a.output);
	const char *last;
	each_input(&a, first, argc, argv, refuse_output, (void *)a.output, &last);
	vdb_lock *lock = lock_output(&a);
	double t0 = cmd_now(); /* not counting the wait for the lock */

	build_run r = { .first = first, .argc = argc, .argv = argv };
	vdb_vecs_init(&r.v);
	if (a.mode != MODE_BUILD)
		r.base = open_base(&a, &r.v);
	r.v.binary = a.b.metric == VDB_METRIC_HAMMING; /* the readers take bits */
	a.b.progress = cmd_progress;
	a.b.progress_ctx = "building";
	a.b.recall_curve = !a.no_recall_curve;
	const char *why = a.mode == MODE_DELETE  ? delete_records(&a, &r)
	                  : a.mode == MODE_PATCH   ? patch_records(&a, &r)
	                  : a.mode == MODE_COMPACT ? compact_records(&a, &r)
	                                           : add_records(&a, &r);
	if (why)
		return unchanged(&a, r.base, r.n, lock, t0, why);
	return save(&a, &r, lock, t0);
}
