/* text_chunk.c — vdb-text chunk: documents in, chunk records out (the work
 * is in lib/chunk.c and lib/chunk_input.c; here are the options). */
#include "text.h"
#include <stdio.h>
#include <string.h>

enum { OPT_WORDS = OPT_COMMON_LAST, OPT_OVERLAP, OPT_SENTENCES, OPT_PARAGRAPHS, OPT_MAX_BYTES,
       OPT_PLAIN };

typedef struct {
	vdb_chunk_params p;
	vdb_chunk_hooks h;
	const char *mode_opt; /* the mode option given, for conflicts */
	bool set_overlap;
} chunk_args;

static void help(void)
{
	printf("Usage: %s [--words N [--overlap M] | --sentences N [--overlap M] | --paragraphs]\n"
	       "                      [--max-bytes B] [--plain] [FILE...]\n"
	       "Split documents into chunks, JSONL records out. An input whose first non-blank\n"
	       "byte is '{' is JSONL: one document a line, {\"id\": ID, \"text\": \"...\",\n"
	       "\"metadata\": {...}}, other fields kept; any other input is one plain text\n"
	       "document whose id is the file name ('-' or none: stdin, id \"stdin\"). Each chunk\n"
	       "is the document's record with \"id\" \"ID#N\", \"text\" the source bytes\n"
	       "[start, end) and \"metadata\".\"chunk\" {\"source\", \"number\", \"start\", \"end\"}.\n"
	       "\n"
	       "  --words N         N words a chunk (default: 200, overlap 40)\n"
	       "  --sentences N     N sentences a chunk (ending in . ! ? before whitespace)\n"
	       "  --paragraphs      one paragraph a chunk (blank lines separate paragraphs)\n"
	       "  --overlap M       words or sentences shared by consecutive chunks, M < N\n"
	       "                    (default: N/5 for --words, 0 for --sentences)\n"
	       "  --max-bytes B     bytes a chunk at most, %u..%u (default); a longer one is\n"
	       "                    cut at whitespace, or between characters\n"
	       "  --plain           every input is a plain text document, even one that\n"
	       "                    starts with '{'\n"
	       "  -c, --config FILE YAML file of long options (command line wins)\n"
	       "  -v, --verbose     print a summary on stderr (documents, chunks, MB/s)\n"
	       "  -t, --threads N   threads parsing JSONL records (default: all cores)\n"
	       "      --quiet       no warnings\n"
	       "      --progress    progress on stderr even when it is not a terminal\n"
	       "  -h, --help        this help\n"
	       "      --version     version and SIMD level\n"
	       "\nLimits: a JSONL line %u MiB, a plain document %u MiB, a chunk %u bytes.\n"
	       "Exit status: 0 ok, 64 usage, 65 bad input (a record without id or text,\n"
	       "invalid UTF-8, over a limit; named), 66 cannot open an input, 74 I/O error,\n"
	       "70 internal error. See vdb-text(1).\n",
	       cmd_name, VDB_MIN_CHUNK_BYTES, VDB_MAX_TEXT, VDB_MAX_LINE >> 20,
	       VDB_MAX_DOCUMENT >> 20, VDB_MAX_TEXT);
}

static void set_mode(chunk_args *a, vdb_chunk_mode m, const char *opt)
{
	/* the config file's mode gives way to the command line's */
	if (a->mode_opt && strcmp(a->mode_opt, opt))
		cmd_usage_error("%s and %s: give one way to chunk", a->mode_opt, opt);
	if (!cmd_in_config)
		a->mode_opt = opt;
	a->p.mode = m;
}

static bool on_opt(int opt, const char *arg, void *ctx)
{
	chunk_args *a = ctx;
	switch (opt) {
	case OPT_WORDS:
		set_mode(a, VDB_CHUNK_WORDS, "--words");
		a->p.size = cmd_size("--words", arg, 1, VDB_MAX_CHUNK_UNITS);
		return true;
	case OPT_SENTENCES:
		set_mode(a, VDB_CHUNK_SENTENCES, "--sentences");
		a->p.size = cmd_size("--sentences", arg, 1, VDB_MAX_CHUNK_UNITS);
		return true;
	case OPT_PARAGRAPHS:
		set_mode(a, VDB_CHUNK_PARAGRAPHS, "--paragraphs");
		a->p.size = 1;
		return true;
	case OPT_OVERLAP:
		a->p.overlap = cmd_size("--overlap", arg, 0, VDB_MAX_CHUNK_UNITS - 1);
		a->set_overlap = true;
		return true;
	case OPT_MAX_BYTES:
		a->p.max_bytes = cmd_size("--max-bytes", arg, VDB_MIN_CHUNK_BYTES, VDB_MAX_TEXT);
		return true;
	case OPT_PLAIN:
		a->h.plain = 1;
		return true;
	case 'v':
		cmd_opts.verbose = true;
		return true;
	}
	return false;
}

static const struct option longopts[] = {
	{ "words", required_argument, NULL, OPT_WORDS },
	{ "sentences", required_argument, NULL, OPT_SENTENCES },
	{ "paragraphs", no_argument, NULL, OPT_PARAGRAPHS },
	{ "overlap", required_argument, NULL, OPT_OVERLAP },
	{ "max-bytes", required_argument, NULL, OPT_MAX_BYTES },
	{ "plain", no_argument, NULL, OPT_PLAIN },
	{ "verbose", no_argument, NULL, 'v' },
	CMD_COMMON_LONGOPTS
};

static void on_warn(void *ctx, const char *msg)
{
	(void)ctx;
	cmd_progress_end();
	cmd_warn("%s", msg);
}

/* The overlap: given, or the default of the mode; checked against N. */
static void settle_overlap(chunk_args *a)
{
	if (!a->set_overlap)
		a->p.overlap = a->p.mode == VDB_CHUNK_WORDS ? a->p.size / 5 : 0;
	else if (a->p.mode == VDB_CHUNK_PARAGRAPHS && a->p.overlap)
		cmd_usage_error("--overlap is for --words and --sentences, not --paragraphs");
	else if (a->p.overlap >= a->p.size)
		cmd_usage_error("--overlap %zu must be less than the %zu %s of a chunk", a->p.overlap,
		                a->p.size, a->p.mode == VDB_CHUNK_WORDS ? "words" : "sentences");
}

static void chunk_one(vdb_chunker *c, const char *path, const vdb_chunk_hooks *h,
                      vdb_chunk_stats *st)
{
	vdb_status s = vdb_chunk_input(c, path, h, stdout, st);
	if (s) {
		cmd_check_stdout(); /* a closed pipe ends quietly */
		cmd_die(s);
	}
}

int text_chunk(int argc, char **argv)
{
	chunk_args a = { 0 };
	vdb_chunk_params_init(&a.p);
	int first = cmd_parse(argc, argv, "c:t:vh", longopts, on_opt, &a, help);
	settle_overlap(&a);
	vdb_chunker *c;
	vdb_status s = vdb_chunker_new(&c, &a.p);
	if (s)
		cmd_die(s);
	a.h.warn = on_warn;
	a.h.progress = cmd_progress;
	a.h.progress_ctx = "documents";
	vdb_chunk_stats st = { 0 };
	double t0 = cmd_now();
	if (first == argc)
		chunk_one(c, "-", &a.h, &st);
	for (int i = first; i < argc; i++)
		chunk_one(c, argv[i], &a.h, &st);
	cmd_progress_end();
	vdb_chunker_free(c);
	double dt = cmd_now() - t0;
	if (cmd_opts.verbose)
		fprintf(stderr, "%s: %zu documents (%zu without text), %zu chunks, %.1f MB in %.3f s "
		        "(%.0f MB/s)\n", cmd_name, st.documents, st.empty, st.chunks,
		        (double)st.bytes / 1e6, dt, dt > 0 ? (double)st.bytes / 1e6 / dt : 0.0);
	return cmd_finish();
}
