/* text_embed.c — vdb-text embed: text records in, vector records out. The
 * embedders and the filter are in the library (lib/embed*.c). */
#include "text.h"
#include <stdio.h>
#include <string.h>

enum { OPT_MODEL = OPT_COMMON_LAST, OPT_EXEC, OPT_BATCH, OPT_DIM, OPT_TIMEOUT };

#define DEFAULT_TIMEOUT 60.0
#define MAX_TIMEOUT 86400.0

typedef struct {
	const char *model, *exec;
	vdb_embed_opts o;
} embed_args;

static void help(void)
{
	printf("Usage: %s (--model FILE.bin|FILE.vec | --exec CMD) [options] [FILE...]\n"
	       "Add to each JSON Lines record with \"text\" the vector of its text (\"vector\")\n"
	       "and the embedder's identity (\"embedder\"), keeping every other field; for\n"
	       "vdb-build, or vdb-query's queries. FILE '-' or none: stdin.\n"
	       "\n"
	       "  -m, --model FILE     a fastText model (.bin: the sentence vectors of\n"
	       "                       `fasttext print-sentence-vectors`), or word vectors as\n"
	       "                       text (.vec, word2vec, GloVe: the mean of the unit\n"
	       "                       vectors of the text's known words)\n"
	       "  -e, --exec CMD       an external embedder (/bin/sh -c CMD): one text a line\n"
	       "                       on its stdin, one vector a line on its stdout\n"
	       "  -b, --batch N        texts per batch: a run of CMD (default 16384), or a\n"
	       "                       parallel step of the others (default 4096)\n"
	       "      --dim D          require vectors of dimension D\n"
	       "      --timeout SECS   --exec: kill CMD when it neither reads nor writes for\n"
	       "                       SECS seconds (default %g; 0: never)\n"
	       "  -t, --threads N      threads (default: all cores)\n"
	       "  -c, --config FILE    YAML file of long options (command line wins)\n"
	       "  -q, --quiet          no warnings\n"
	       "      --progress       progress on stderr even when it is not a terminal\n"
	       "  -h, --help           this help\n"
	       "      --version        version and SIMD level\n"
	       "\n"
	       "Newlines and carriage returns in a text are read as spaces.\n"
	       "Exit status: 0 ok, 64 usage, 65 bad input (a record, a model, a vector the\n"
	       "embedder printed), 66 cannot open an input or the model, 70 internal error or\n"
	       "the embedder failed (exited non-zero, killed, timed out), 74 I/O error.\n"
	       "See vdb-text(1).\n",
	       cmd_name, DEFAULT_TIMEOUT);
}

static bool on_opt(int opt, const char *arg, void *ctx)
{
	embed_args *a = ctx;
	switch (opt) {
	case 'm':
		a->model = arg;
		return true;
	case 'e':
		a->exec = arg;
		return true;
	case 'b':
		a->o.batch = cmd_size("--batch", arg, 1, VDB_MAX_EMBED_BATCH);
		return true;
	case OPT_DIM:
		a->o.dim = (uint32_t)cmd_size("--dim", arg, 1, VDB_MAX_DIM);
		return true;
	case OPT_TIMEOUT:
		a->o.timeout = cmd_double("--timeout", arg, 0, MAX_TIMEOUT);
		return true;
	}
	return false;
}

static const struct option longopts[] = {
	{ "model", required_argument, NULL, 'm' },
	{ "exec", required_argument, NULL, 'e' },
	{ "batch", required_argument, NULL, 'b' },
	{ "dim", required_argument, NULL, OPT_DIM },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	CMD_COMMON_LONGOPTS
};

int text_embed(int argc, char **argv)
{
	embed_args a = { 0 };
	vdb_embed_opts_init(&a.o);
	a.o.timeout = DEFAULT_TIMEOUT;
	int first = cmd_parse(argc, argv, "m:e:b:t:c:qh", longopts, on_opt, &a, help);
	if (!a.model == !a.exec)
		cmd_usage_error(a.model ? "--model and --exec: give one embedder, not both"
		                        : "no embedder: give --model FILE or --exec CMD");
	a.o.progress = cmd_progress;
	a.o.progress_ctx = "embedded";
	vdb_embedder *e;
	vdb_status s = a.model ? vdb_embedder_open(&e, a.model, &a.o)
	                       : vdb_embedder_exec(&e, a.exec, &a.o);
	if (s)
		cmd_die(s);
	char *stdin_only[] = { "-" };
	char **inputs = first < argc ? argv + first : stdin_only;
	int n = first < argc ? argc - first : 1;
	for (int i = 0; i < n; i++) {
		size_t records;
		s = vdb_embed_records(e, inputs[i], stdout, &a.o, &records);
		if (s == VDB_EIO)
			cmd_check_stdout(); /* a reader gone away ends quietly */
		if (s)
			cmd_die(s);
	}
	vdb_embedder_close(e);
	return cmd_finish();
}
