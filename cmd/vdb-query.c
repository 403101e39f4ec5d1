/* vdb-query — search an index with query vectors; results on stdout. */
#include "common.h"
#include "eval_knobs.h"
#include "query.h"
#include "recall_pick.h"
#include <math.h>
#include <errno.h>
#include <float.h>
#include <glob.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
	OPT_INCLUDE = OPT_COMMON_LAST, OPT_INFO, OPT_VERIFY, OPT_MERGE,
	OPT_FILTER, OPT_GET, OPT_STRICT, OPT_TEXT, OPT_K1, OPT_B, OPT_FUSION, OPT_ALPHA, OPT_RRF_K,
	OPT_FUSION_DEPTH, OPT_CANDIDATES, OPT_STATS_FROM,
	OPT_MMR, OPT_FETCH_K, OPT_OFFSET, /* issue 20 (M) */
	OPT_DUMP, OPT_METRICS, OPT_RECALL, OPT_MAX_DISTANCE,
	OPT_FILTER_PATH,
	OPT_KNOB /* the search settings of the index types (vdb_knob_at): --ef, ... */
};

/* at most this many indexes (-x) searched as one set */
#define MAX_INDEXES 4096
/* results (ids and distances, 12 bytes each) held for one batch, at most:
 * a large -k reads fewer queries a batch than --batch says (at least one) */
#define MAX_BATCH_RESULTS ((size_t)1 << 22)

typedef struct {
	const char *index[MAX_INDEXES];
	int nindex;
	const char *stats[MAX_INDEXES]; /* --stats-from: the set whose BM25 statistics score */
	int nstats;
	bool merge, argv_index;
	const char *filter, *get;
	const char *text; /* --text: one BM25 query */
	vdb_search_opts so;
	vdb_fusion_opts fo;
	vdb_output out;
	vdb_format format;
	size_t batch;
	unsigned include; /* VDB_INCLUDE_* */
	bool info, verify, strict;
	bool dump;           /* --dump: every live record as JSONL */
	const char *metrics; /* --metrics FILE */
	double recall; /* --recall: the setting comes from the curve; 0: not given */
	/* --max-distance: a range search (query_range.c); k_given: -k caps it */
	bool range, k_given;
	double radius;
} query_args;

/* The search settings' options (--ef, --nprobe, --probes, ...): one per
 * knob of the library's index types, in vdb_knob_at's order. */
static knob_set knobs;

/* The help lines of the knob options. */
static void knobs_usage(void)
{
	for (size_t i = 0; i < knobs.n; i++) {
		const vdb_knob *k = knobs.k[i].knob;
		char who[128], opt[40];
		vdb_knob_types(k, who, sizeof who);
		snprintf(opt, sizeof opt, "--%s N", k->name);
		printf("      %-19s%s: %s\n                         %u..%u (default %u%s%s)\n", opt,
		       who, k->what, k->min, k->max, k->def, k->def_note ? ", " : "",
		       k->def_note ? k->def_note : "");
	}
}

/* Some knob given on the command line? */
static bool knob_given(const vdb_search_opts *so)
{
	for (size_t i = 0; i < knobs.n; i++)
		if (vdb_search_opts_get(so, knobs.k[i].knob->name))
			return true;
	return false;
}

static void help(void)
{
	printf("Usage: %s -x INDEX [-x INDEX...] [OPTIONS] [QUERIES...]\n"
	       "       %s --merge [-k N] RESULTS...\n"
	       "Search INDEX for each query vector ('-' or none: stdin); one result line per query.\n"
	       "\n"
	       "  -x, --index FILE       the index (from vdb-build); several -x (or a quoted glob\n"
	       "                         such as 'part*.vdb') are searched as one set of shards\n"
	       "      --merge            merge per-shard JSONL results of the same queries (the\n"
	       "                         operands) into the k best per query\n"
	       "  -k N                   neighbours per query (default 10); with --max-distance,\n"
	       "                         at most N results per query (default: no cap but\n"
	       "                         VDB_MAX_RANGE)\n"
	       "      --max-distance R   range search: every record within distance R of each\n"
	       "                         query (as vdb reports distances), nearest first\n",
	       cmd_name, cmd_name);
	knobs_usage(); /* --ef, --nprobe, --probes: each index type's search setting */
	printf("      --recall R         the cheapest ef, nprobe or probes whose recall@10 the\n"
	       "                         index measured at build reached R, 0 < R <= 1\n"
	       "      --fusion F         hybrid queries (a record with \"text\" and \"vector\"):\n"
	       "                         rrf (default) or weighted\n"
	       "      --alpha A          weighted fusion: weight of the vector side, 0..1\n"
	       "                         (default 0.5)\n"
	       "      --rrf-k C          rrf: each list adds 1/(C + rank) (default 60)\n"
	       "      --fusion-depth N   candidates each list gives the fusion (default\n"
	       "                         max(k, 100); at least k)\n"
	       "      --candidates       hybrid lines list every candidate, fused, and the\n"
	       "                         fusion: what --merge needs to fuse shards' results\n"
	       "      --stats-from INDEX BM25 statistics of this set of shards (repeatable, or a\n"
	       "                         quoted glob), not of the searched ones: shards searched\n"
	       "                         apart then merge into the set's answer\n"
	       "  -O, --output FMT       jsonl (default), ivecs or tsv\n"
	       "      --offset N         skip each query's first N results: ranks N..N+k-1\n"
	       "      --mmr LAMBDA       pick the k by maximal marginal relevance, 0..1\n"
	       "                         (1: relevance only, 0: diversity only)\n"
	       "      --fetch-k N        --mmr: candidates to pick from (default max(20, 4k),\n"
	       "                         at least k)\n"
	       "      --include WHAT     add each result's stored metadata, text, or both\n"
	       "                         (metadata,text; repeatable)\n"
	       "      --strict           refuse queries whose embedder identity is not the\n"
	       "                         index's (default: a warning when both have one)\n"
	       "      --text WORDS       one lexical query: the BM25 best of an index built with\n"
	       "                         --lexical (no query files)\n"
	       "      --k1 K1            BM25 term saturation, at least 0 (default 1.2)\n"
	       "      --b B              BM25 length normalisation, 0..1 (default 0.75)\n"
	       "      --filter EXPR      only records whose metadata passes EXPR, e.g.\n"
	       "                         'category == \"Software\" && price <= 150' (see vdb-query(1))\n"
	       "      --filter-path P    auto (default: the cheaper by estimate), scan (the\n"
	       "                         kept records exactly) or index (its filtered search)\n"
	       "      --get ID,...       print the stored records with these ids and exit\n"
	       "      --dump             print every live record (with --filter: those passing\n"
	       "                         it) as JSONL that vdb-build takes, and exit\n"
	       "      --metrics FILE     write Prometheus metrics of the run to FILE (atomically)\n"
	       "  -f, --format FMT       queries: auto (default), fvecs, ivecs, bvecs, jsonl\n"
	       "                         (a hamming index takes bvecs bytes or JSONL \"bits\")\n"
	       "  -b, --batch N          queries answered per batch (default 4096)\n"
	       "      --info             print the index header as JSON and exit\n"
	       "      --verify           check every section checksum and the index's structure, and exit\n"
	       "  -t, --threads N        threads (default: all cores)\n"
	       "  -c, --config FILE      YAML file of long options (command line wins)\n"
	       "  -v, --verbose          print the query count and the search time on stderr\n"
	       "  -q, --quiet            no warnings or confirmations\n"
	       "      --progress         progress on stderr even when it is not a terminal\n"
	       "  -h, --help             this help\n"
	       "      --version          version and SIMD level\n"
	       "\nExit status: 0 ok, 64 usage, 65 bad input or corrupt index, 66 cannot open input,\n"
	       "74 I/O error, 70 internal error. See vdb-query(1).\n");
}

static void add_one(const char **list, int *n, const char *path, const char *opt)
{
	if (*n == MAX_INDEXES)
		cmd_usage_error("%s: more than %d indexes", opt, MAX_INDEXES);
	list[(*n)++] = path;
}

/* A name that is not a file but a pattern stands for the files it matches
 * (for shells that pass it quoted, and for config files). */
static void add_index(const char **list, int *n, const char *arg, const char *opt)
{
	static glob_t g; /* kept: the paths are used until exit */
	/* access, not fopen: opening a FIFO would block */
	if (access(arg, F_OK) == 0 || !strpbrk(arg, "*?[")) {
		add_one(list, n, arg, opt);
		return;
	}
	size_t before = g.gl_pathc;
	int r = glob(arg, before ? GLOB_APPEND : 0, NULL, &g);
	if (r == GLOB_NOMATCH || (r == 0 && g.gl_pathc == before))
		cmd_die(vdb_fail(VDB_ENOENT, "%s: no index matches the pattern", arg));
	if (r != 0)
		cmd_die(vdb_fail(VDB_ENOMEM, "%s: glob failed", arg));
	for (size_t i = before; i < g.gl_pathc; i++)
		add_one(list, n, g.gl_pathv[i], opt);
}

/* --filter-path: VDB_FILTER_AUTO, _SCAN or _INDEX */
static int filter_path_parse(const char *arg)
{
	static const char *const names[] = { "auto", "scan", "index" };
	for (int i = 0; i < 3; i++)
		if (!strcmp(arg, names[i]))
			return i;
	cmd_usage_error("--filter-path: '%s' is not auto, scan or index", arg);
}

/* -v: the filtered searches' paths, and the last one's plan and why */
static void filter_plans_print(const vdb_filter_plans *p)
{
	if (!p->queries[VDB_FILTER_SCAN] && !p->queries[VDB_FILTER_INDEX])
		return;
	fprintf(stderr, "%s: filtered: %zu queries by scan of the kept records, %zu by the index\n",
	        cmd_name, p->queries[VDB_FILTER_SCAN], p->queries[VDB_FILTER_INDEX]);
	fprintf(stderr, "%s: filtered: last batch of %zu took the %s (%s): %zu of %zu records kept "
	        "(%.2f%%)", cmd_name, p->batch, p->path == VDB_FILTER_SCAN ? "scan" : "index", p->why,
	        p->kept, p->rows, p->rows ? 100.0 * (double)p->kept / (double)p->rows : 0.0);
	if (p->scan_s >= 0 && p->index_s >= 0 && p->index_s < HUGE_VAL)
		fprintf(stderr, "; estimated scan %.3g ms, index %.3g ms (%s %u)", p->scan_s * 1e3,
		        p->index_s * 1e3, p->knob_name ? p->knob_name : "setting", p->knob);
	if (p->scan_s >= 0 && p->blas_core)
		fprintf(stderr, "; scan %s (blas core %s, %.3g ns per multiply-add)",
		        p->direct ? "ranked directly" : "through sgemm", p->blas_core, p->madd_ns);
	fputc('\n', stderr);
}

static bool on_opt(int opt, const char *arg, void *ctx)
{
	query_args *a = ctx;
	if (opt >= OPT_KNOB && opt < OPT_KNOB + (int)knobs.n) {
		const vdb_knob *k = knobs.k[opt - OPT_KNOB].knob;
		char name[40];
		snprintf(name, sizeof name, "--%s", k->name);
		knobs_set(&a->so, k, (unsigned)cmd_size(name, arg, k->min, k->max));
		return true;
	}
	switch (opt) {
	case 'x':
		/* the command line's indexes replace the config file's */
		if (!cmd_in_config && !a->argv_index)
			a->nindex = 0, a->argv_index = true;
		add_index(a->index, &a->nindex, arg, "-x");
		return true;
	case OPT_STATS_FROM:
		add_index(a->stats, &a->nstats, arg, "--stats-from");
		return true;
	case OPT_MERGE:
		a->merge = true;
		return true;
	case 'v':
		cmd_opts.verbose = true;
		return true;
	case 'k':
		a->so.k = cmd_size("-k", arg, 1, VDB_MAX_K);
		a->k_given = true;
		return true;
	case OPT_RECALL:
		a->recall = recall_parse("--recall", arg);
		return true;
	case OPT_FILTER:
		a->filter = arg;
		return true;
	case OPT_FILTER_PATH:
		a->so.filter_path = filter_path_parse(arg);
		return true;
	case OPT_GET:
		a->get = arg;
		return true;
	case OPT_TEXT:
		a->text = arg;
		return true;
	case OPT_K1:
		a->so.k1 = (float)cmd_double("--k1", arg, 0, 1e30);
		return true;
	case OPT_B:
		a->so.b = (float)cmd_double("--b", arg, 0, 1);
		return true;
	case 'O':
		cmd_output(arg, &a->out);
		return true;
	case OPT_INCLUDE: {
		char *list = strdup(arg), *save = NULL;
		if (!list)
			cmd_die(vdb_fail(VDB_ENOMEM, "out of memory"));
		for (char *w = strtok_r(list, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
			if (strcmp(w, "metadata") && strcmp(w, "text"))
				cmd_usage_error("--include: '%s' is not known (expected metadata, text)", w);
			a->include |= strcmp(w, "text") ? VDB_INCLUDE_META : VDB_INCLUDE_TEXT;
		}
		free(list);
		return true;
	}
	case OPT_STRICT:
		a->strict = true;
		return true;
	case OPT_FUSION:
		if (vdb_fusion_parse(arg, &a->fo.fusion))
			cmd_usage_error("--fusion: %s", vdb_last_error());
		return true;
	case OPT_ALPHA:
		a->fo.alpha = cmd_double("--alpha", arg, 0, 1);
		return true;
	case OPT_RRF_K:
		a->fo.rrf_k = cmd_double("--rrf-k", arg, 0, 1e9);
		if (!(a->fo.rrf_k > 0))
			cmd_usage_error("--rrf-k: '%s' is not a number greater than 0", arg);
		return true;
	case OPT_CANDIDATES:
		a->fo.candidates = 1;
		return true;
	case OPT_FUSION_DEPTH:
		a->fo.depth = cmd_size("--fusion-depth", arg, 1, VDB_MAX_K);
		return true;
	case 'f':
		cmd_format(arg, &a->format);
		return true;
	case 'b':
		a->batch = cmd_size("--batch", arg, 1, 1u << 24);
		return true;
	case OPT_INFO:
		a->info = true;
		return true;
	case OPT_VERIFY:
		a->verify = true;
		return true;
	case OPT_MMR:
		a->so.mmr = 1;
		a->so.mmr_lambda = cmd_double("--mmr", arg, 0, 1);
		return true;
	case OPT_FETCH_K:
		a->so.fetch_k = cmd_size("--fetch-k", arg, 1, VDB_MAX_K);
		return true;
	case OPT_OFFSET:
		a->so.offset = cmd_size("--offset", arg, 0, VDB_MAX_K);
		return true;
	case OPT_DUMP:
		a->dump = true;
		return true;
	case OPT_METRICS:
		a->metrics = arg;
		return true;
	case OPT_MAX_DISTANCE:
		/* refuses NaN and inf; a negative radius only means something for ip */
		a->radius = cmd_double("--max-distance", arg, -FLT_MAX, FLT_MAX);
		a->range = true;
		return true;
	}
	return false;
}

static const struct option longopts[] = {
	{ "index", required_argument, NULL, 'x' },
	{ "k", required_argument, NULL, 'k' },
	{ "filter", required_argument, NULL, OPT_FILTER },
	{ "get", required_argument, NULL, OPT_GET },
	{ "filter-path", required_argument, NULL, OPT_FILTER_PATH },
	{ "text", required_argument, NULL, OPT_TEXT },
	{ "k1", required_argument, NULL, OPT_K1 },
	{ "b", required_argument, NULL, OPT_B },
	{ "output", required_argument, NULL, 'O' },
	{ "include", required_argument, NULL, OPT_INCLUDE },
	{ "format", required_argument, NULL, 'f' },
	{ "batch", required_argument, NULL, 'b' },
	{ "info", no_argument, NULL, OPT_INFO },
	{ "verify", no_argument, NULL, OPT_VERIFY },
	{ "merge", no_argument, NULL, OPT_MERGE },
	{ "strict", no_argument, NULL, OPT_STRICT },
	{ "fusion", required_argument, NULL, OPT_FUSION },
	{ "alpha", required_argument, NULL, OPT_ALPHA },
	{ "rrf-k", required_argument, NULL, OPT_RRF_K },
	{ "fusion-depth", required_argument, NULL, OPT_FUSION_DEPTH },
	{ "candidates", no_argument, NULL, OPT_CANDIDATES },
	{ "stats-from", required_argument, NULL, OPT_STATS_FROM },
	{ "max-distance", required_argument, NULL, OPT_MAX_DISTANCE },
	{ "verbose", no_argument, NULL, 'v' },
	{ "mmr", required_argument, NULL, OPT_MMR },
	{ "fetch-k", required_argument, NULL, OPT_FETCH_K },
	{ "offset", required_argument, NULL, OPT_OFFSET },
	{ "dump", no_argument, NULL, OPT_DUMP },
	{ "metrics", required_argument, NULL, OPT_METRICS },
	{ "recall", required_argument, NULL, OPT_RECALL },
	CMD_COMMON_LONGOPTS
};

static cmd_span search_time;
static bool embedder_warned; /* the warning of another embedder is given once a run */

/* The queries of name (q, their first batch read) against the index's
 * embedder identity: another one is a warning, or with --strict an error;
 * with --strict, an identity on one side only is an error too. */
static void check_embedder(const query_args *a, const vdb_index *ix, const vdb_vecs *q,
                           const char *path)
{
	char qname[4200];
	snprintf(qname, sizeof qname, "the queries of %s", strcmp(path, "-") ? path : "stdin");
	vdb_status s = vdb_index_embedder_check(ix, a->index[0], q->embedder, qname, a->strict);
	if (s && a->strict)
		cmd_die(s);
	if (s && !embedder_warned) {
		cmd_warn("%s", vdb_last_error());
		embedder_warned = true;
	}
}

/* --stats-from: the set whose BM25 statistics score the text queries, which
 * must hold every searched index (the same file: device and inode). */
static vdb_index *stats_ix[MAX_INDEXES];
static bool stats_owned[MAX_INDEXES]; /* opened for --stats-from alone */

static void open_stats(query_args *a, vdb_index *const *ix)
{
	vdb_index **sx = stats_ix;
	static struct stat st[MAX_INDEXES];
	for (int i = 0; i < a->nstats; i++) {
		if (stat(a->stats[i], &st[i]))
			cmd_die(vdb_fail(VDB_ENOENT, "%s: cannot open (--stats-from): %s", a->stats[i],
			                 strerror(errno)));
		sx[i] = NULL;
		for (int j = 0; j < a->nindex && !sx[i]; j++) {
			struct stat sj;
			if (!stat(a->index[j], &sj) && sj.st_dev == st[i].st_dev && sj.st_ino == st[i].st_ino)
				sx[i] = ix[j];
		}
		vdb_status s;
		if (!sx[i]) {
			cmd_watch_index(a->stats[i]);
			if ((s = vdb_index_open(&sx[i], a->stats[i])))
				cmd_die(s);
			stats_owned[i] = true;
		}
	}
	for (int j = 0; j < a->nindex; j++) {
		struct stat sj;
		bool in = false;
		for (int i = 0; i < a->nstats && !in && !stat(a->index[j], &sj); i++)
			in = sj.st_dev == st[i].st_dev && sj.st_ino == st[i].st_ino;
		if (!in)
			cmd_usage_error("--stats-from names the whole set of shards, the searched ones "
			                "included: %s is not one of its %d indexes", a->index[j], a->nstats);
	}
	a->so.stats = (const vdb_index *const *)sx;
	a->so.nstats = (size_t)a->nstats;
}

/* --offset, --mmr, --fetch-k: checked against each other and the index,
 * before k is reduced to the live records (exit 64). */
static void check_paging(const query_args *a, const vdb_index *ix)
{
	if (a->so.fetch_k && !a->so.mmr)
		cmd_usage_error("--fetch-k is the candidates of --mmr: give --mmr LAMBDA");
	if (a->so.mmr && a->so.fetch_k && a->so.fetch_k < a->so.k)
		cmd_usage_error("--fetch-k %zu is below k %zu: MMR picks k of the fetched candidates",
		                a->so.fetch_k, a->so.k);
	if (a->so.offset > VDB_MAX_K - a->so.k)
		cmd_usage_error("--offset %zu with k %zu is over %u results a query (VDB_MAX_K)",
		                a->so.offset, a->so.k, VDB_MAX_K);
	if (a->so.mmr && vdb_index_metric(ix) == VDB_METRIC_HAMMING)
		cmd_usage_error("--mmr needs float vectors: a hamming index holds bit codes");
	if (a->so.mmr && a->text)
		cmd_usage_error("--mmr needs query vectors, not --text");
}

/* A cosine index from before the row factors were kept gives its records
 * back normalised: said once. */
static void warn_normalised(const vdb_index *ix, const char *name)
{
	static bool warned;
	if (!warned && vdb_index_normalised_only(ix))
		cmd_warn("%s keeps no row factors (built before they were kept): its cosine vectors "
		         "are printed normalised", name);
	warned |= vdb_index_normalised_only(ix);
}

/* A record writer's failure: a reader gone ends quietly, else the error. */
static void record_failed(vdb_status s)
{
	cmd_check_stdout();
	cmd_die(s);
}

/* --get: each id's stored record as one JSON line; 1 if any is missing. */
static int get_records(const char *get, const char *name, const vdb_index *ix)
{
	char *ids = strdup(get), *save = NULL;
	if (!ids)
		cmd_die(vdb_fail(VDB_ENOMEM, "out of memory"));
	warn_normalised(ix, name);
	int missing = 0;
	for (char *id = strtok_r(ids, ",", &save); id; id = strtok_r(NULL, ",", &save)) {
		int64_t row = vdb_index_find_id(ix, id);
		if (row < 0) {
			cmd_warn("%s: no record with id '%s'", name, id);
			missing = 1;
			continue;
		}
		vdb_status s = vdb_write_record(stdout, ix, row);
		if (s)
			record_failed(s);
		cmd_check_stdout();
	}
	free(ids);
	return missing;
}

/* --dump: every live record of each index in turn (passing filter). */
static void dump_records(const query_args *a, vdb_index *const *ix, const vdb_filter *filter)
{
	size_t total = 0;
	for (int i = 0; i < a->nindex; i++) {
		size_t n;
		warn_normalised(ix[i], a->index[i]);
		vdb_status s = vdb_index_dump(stdout, ix[i], filter, &n);
		if (s)
			record_failed(s);
		cmd_check_stdout();
		total += n;
	}
	if (cmd_opts.verbose)
		fprintf(stderr, "%s: %zu records dumped\n", cmd_name, total);
}

/* Answer one input's queries batch by batch; qno counts across inputs. */
static void run_queries(const query_args *a, const query_ctx *c, const char *path, size_t *qno,
                        query_bufs *bufs)
{
	vdb_reader *r;
	vdb_status s = vdb_reader_open(&r, path, a->format);
	if (s)
		cmd_die(s);
	vdb_vecs q;
	vdb_vecs_init(&q);
	q.dim = vdb_index_dim(c->ix[0]); /* the reader checks every query against it */
	q.binary = vdb_index_metric(c->ix[0]) == VDB_METRIC_HAMMING;
	q.allow_text_only = 1; /* lexical queries: a text, no vector */
	q.query_opts = 1;      /* a query's own k, filter, ef, ... (QUERY RECORDS) */
	size_t got, k = a->so.k;
	bool checked = false;
	/* --offset, --mmr: the results of a deeper search are held */
	k += a->so.offset;
	if (a->so.mmr && a->so.fetch_k > k)
		k = a->so.fetch_k;
	size_t batch = MAX_BATCH_RESULTS / k < a->batch ? MAX_BATCH_RESULTS / k : a->batch;
	for (;;) {
		vdb_vecs_clear(&q);
		size_t first = vdb_reader_records(r);
		if ((s = vdb_reader_read(r, &q, batch ? batch : 1, &got)))
			cmd_die(s);
		if (got == 0)
			break;
		if (!checked) /* the first record decides the input's identity */
			check_embedder(a, c->ix[0], &q, path);
		checked = true;
		double before = search_time.wall;
		query_batch(c, &q, vdb_reader_name(r), first, qno, bufs, &search_time);
		query_metrics_batch(got, search_time.wall - before);
		cmd_check_stdout(); /* hand each batch on at once; stop if the reader left */
		cmd_progress("queries", *qno, 0);
	}
	vdb_vecs_free(&q);
	vdb_reader_close(r);
}

/* --text: one lexical query, its result line on stdout. */
static void run_text(const query_args *a, const query_ctx *c)
{
	size_t len = strlen(a->text), i = 0, k = c->so.k;
	while (i < len && strchr(" \t\n\v\f\r", a->text[i]))
		i++;
	if (i == len)
		cmd_usage_error("--text: the query is empty");
	int64_t *ids = malloc(k * sizeof *ids);
	float *scores = malloc(k * sizeof *scores);
	if (!ids || !scores)
		cmd_die(vdb_fail(VDB_ENOMEM, "out of memory for %zu results", k));
	cmd_span t0 = cmd_span_now();
	vdb_status s = vdb_index_search_text_set(c->ix, c->nix, &a->text, &len, 1, &c->so, ids,
	                                         scores);
	if (s)
		cmd_die(s);
	query_metrics_batch(1, cmd_span_add(&search_time, t0));
	query_metrics_results(ids, k, NULL, 0);
	vdb_result_line l = { .query_no = 0, .kind = VDB_LINE_LEXICAL, .width = c->width };
	if ((s = vdb_write_result_line(stdout, c->out, c->ix, c->nix, &l, ids, scores, k,
	                               c->include))) {
		cmd_check_stdout();
		cmd_die(s);
	}
	cmd_check_stdout();
	free(ids);
	free(scores);
}

int main(int argc, char **argv)
{
	cmd_init("vdb-query");
	double start = cmd_now();
	query_args a = { .out = VDB_OUT_JSONL, .batch = 4096 };
	vdb_search_opts_init(&a.so);
	vdb_fusion_opts_init(&a.fo);
	static const char *const each[] = { "index", "stats-from", NULL };
	cmd_config_each = each;
	knobs_init(&knobs);
	struct option *opts = knobs_longopts(&knobs, OPT_KNOB, longopts);
	int first = cmd_parse(argc, argv, "x:k:O:f:b:t:c:vqh", opts, on_opt, &a, help);
	free(opts);
	if (a.range && (a.merge || a.text || a.out == VDB_OUT_IVECS))
		cmd_usage_error("--max-distance cannot go with %s", a.merge ? "--merge (search the "
		                "shards as one set: -x A -x B ...)" : a.text ? "--text (BM25 scores "
		                "have no distance to bound)" : "--output ivecs (rows of a range search "
		                "have any width: use jsonl or tsv)");
	if (a.range && (a.so.mmr || a.so.offset || a.dump))
		cmd_usage_error("--max-distance cannot go with %s", a.dump ? "--dump" : a.so.mmr ?
		                "--mmr (it picks k of the nearest, not all within a distance)" :
		                "--offset (a range search returns every record within the distance)");
	if (a.merge) {
		if (a.metrics || a.dump)
			cmd_usage_error("--merge reads results: no --metrics or --dump");
		if (a.nindex || a.nstats || a.info || a.verify)
			cmd_usage_error("--merge reads results, not indexes: no -x, --stats-from, --info "
			                "or --verify");
		if (first >= argc)
			cmd_usage_error("--merge: name the result files to merge");
		if (a.so.offset || a.so.mmr)
			cmd_usage_error("--merge takes neither --offset nor --mmr: query the shards with "
			                "them (-x each shard), or merge -k N+k results and skip N");
		vdb_status s = vdb_results_merge(stdout, a.out, (const char *const *)argv + first,
		                                 (size_t)(argc - first), a.so.k);
		if (s)
			cmd_die(s);
		return cmd_finish();
	}
	if (!a.nindex)
		cmd_usage_error("no index: give -x INDEX");
	if (a.metrics && (a.info || a.verify || a.get || a.dump))
		cmd_usage_error("--metrics counts searches: not with --info, --verify, --get or --dump");
	if (a.dump && (a.info || a.verify || a.get || a.text || first < argc))
		cmd_usage_error("--dump prints the records and exits: no --info, --verify, --get, "
		                "--text or query files");
	if (a.metrics)
		query_metrics_start(a.metrics, a.index, (size_t)a.nindex);
	if (a.recall > 0 && knob_given(&a.so)) {
		char names[256] = "";
		for (size_t i = 0, used = 0; i < knobs.n && used < sizeof names; i++) {
			const char *sep = !i ? "" : i + 1 == knobs.n ? " and " : ", ";
			int w = snprintf(names + used, sizeof names - used, "%s%s", sep,
			                 knobs.k[i].knob->name);
			used += w > 0 ? (size_t)w : 0;
		}
		cmd_usage_error("--recall picks %s: give it or them, not both", names);
	}
	static vdb_index *ix[MAX_INDEXES];
	vdb_status s;
	for (int i = 0; i < a.nindex; i++) {
		cmd_watch_index(a.index[i]);
		if ((s = vdb_index_open(&ix[i], a.index[i])))
			cmd_die(s);
	}
	if (a.info || a.verify) {
		for (int i = 0; i < a.nindex; i++) {
			if (a.verify) {
				if ((s = vdb_index_verify(ix[i])))
					cmd_die(s);
				if (!cmd_opts.quiet)
					fprintf(stderr, "%s: ok\n", a.index[i]);
			}
			if (a.info) {
				char *j = vdb_index_info_json(ix[i]);
				if (!j)
					cmd_die(vdb_fail(VDB_ENOMEM, "out of memory"));
				puts(j);
				free(j);
			}
			vdb_index_close(ix[i]);
		}
		return cmd_finish();
	}
	cmd_set_check(ix, a.index, (size_t)a.nindex);
	if (a.get) {
		if (a.nindex > 1)
			cmd_usage_error("--get reads one index, not %d", a.nindex);
		int missing = get_records(a.get, a.index[0], ix[0]);
		vdb_index_close(ix[0]);
		int rc = cmd_finish();
		return rc ? rc : missing;
	}
	vdb_filter *filter = NULL;
	if (a.filter) {
		if ((s = cmd_filter_parse(&filter, a.filter)))
			cmd_usage_error("%s", vdb_last_error());
		for (int i = 0; i < a.nindex; i++)
			if (!vdb_index_has_meta(ix[i]))
				cmd_warn("%s has no metadata: only conditions true of a record without any "
				         "(such as !exists(f)) can pass", a.index[i]);
		a.so.filter = filter;
	}
	if (a.dump) {
		dump_records(&a, ix, filter);
		vdb_filter_free(filter);
		for (int i = 0; i < a.nindex; i++)
			vdb_index_close(ix[i]);
		return cmd_finish();
	}
	if (a.metrics && filter) {
		size_t kept = 0, live = 0, n;
		for (int i = 0; i < a.nindex; i++) {
			if ((s = vdb_index_filter_count(ix[i], filter, &n)))
				cmd_die(s);
			kept += n;
			live += vdb_index_live(ix[i]);
		}
		query_metrics_selectivity((double)kept, (double)live);
	}
	for (int i = 0; i < a.nindex; i++) {
		if ((a.include & VDB_INCLUDE_META) && !vdb_index_has_meta(ix[i]))
			cmd_warn("%s has no metadata; printing null for each result", a.index[i]);
		if ((a.include & VDB_INCLUDE_TEXT) && !vdb_index_has_text(ix[i]))
			cmd_warn("%s has no text; printing null for each result", a.index[i]);
	}
	if (a.nstats)
		open_stats(&a, ix);
	size_t width = a.so.k; /* ivecs rows: k wide as asked, padded with -1 */
	check_paging(&a, ix[0]);
	if (a.so.mmr && !a.so.fetch_k)
		a.so.fetch_k = vdb_mmr_fetch_k(a.so.k + a.so.offset);
	if (a.recall > 0)
		recall_pick(a.recall, (const vdb_index *const *)ix, a.index, (size_t)a.nindex, &a.so,
		            NULL);
	/* k beyond the live records asks for nothing more than all of them */
	size_t live = 0;
	for (int i = 0; i < a.nindex; i++)
		live += vdb_index_live(ix[i]);
	if (a.so.k > live)
		a.so.k = live ? live : 1;
	/* as are an offset or candidates beyond them */
	if (a.so.offset > live)
		a.so.offset = live;
	if (a.so.fetch_k > live)
		a.so.fetch_k = live > a.so.k ? live : a.so.k;
	size_t widened = 0;
	a.so.widened = &widened;
	vdb_filter_plans plans = { 0 };
	a.so.plans = &plans;
	query_ctx c = { (const vdb_index *const *)ix, a.index, (size_t)a.nindex, 0, a.so, a.fo,
	                a.out, a.include, width, a.range, a.k_given, (float)a.radius,
	                a.k_given ? a.so.k : VDB_MAX_RANGE };
	vdb_metric metric = vdb_index_metric(ix[0]);
	if (a.range && a.radius < 0 && metric != VDB_METRIC_IP)
		cmd_usage_error("--max-distance: %g is negative, but %s distances are never negative "
		                "(only ip's, -dot, can be)", a.radius, vdb_metric_name(metric));
	for (int i = 0; i < a.nindex; i++)
		c.lexical |= vdb_index_has_lexical(ix[i]);
	query_bufs bufs = { 0 };
	size_t qno = 0;
	if (a.text && first < argc)
		cmd_usage_error("--text is the query: no query files");
	if (a.text)
		run_text(&a, &c), qno = 1;
	else if (first >= argc)
		run_queries(&a, &c, "-", &qno, &bufs);
	for (int i = first; i < argc; i++)
		run_queries(&a, &c, argv[i], &qno, &bufs);
	query_bufs_free(&bufs);
	vdb_filter_free(filter);
	for (int i = 0; i < a.nindex; i++)
		vdb_index_close(ix[i]);
	for (int i = 0; i < a.nstats; i++)
		if (stats_owned[i])
			vdb_index_close(stats_ix[i]);
	if (cmd_opts.verbose)
		fprintf(stderr, "%s: %zu queries, k %zu, %d threads: search %.6f s (%.0f queries/s), "
		        "search cpu %.6f s, total %.6f s\n", cmd_name, qno, a.so.k, vdb_threads(),
		        search_time.wall, search_time.wall > 0 ? (double)qno / search_time.wall : 0.0,
		        search_time.cpu, cmd_now() - start);
	if (cmd_opts.verbose)
		fprintf(stderr, "%s: %zu queries searched again wider\n", cmd_name, widened);
	if (cmd_opts.verbose)
		filter_plans_print(&plans);
	cmd_check_stdout(); /* the results are out before the metrics say so */
	query_metrics_finish();
	return cmd_finish();
}
