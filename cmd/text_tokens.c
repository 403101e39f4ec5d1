/* text_tokens.c — vdb-text tokens: text records in, the same records with
 * the terms the lexical index would index (lib/lex_tokens_records.c). */
#include "text.h"
#include <stdio.h>
#include <string.h>

enum { OPT_LANGUAGE = OPT_COMMON_LAST, OPT_STOPWORDS, OPT_FIELD };

static void help(void)
{
	printf("Usage: %s [--language L] [--stopwords FILE] [--field NAME] [FILE...]\n"
	       "Add to each JSON Lines record the terms of its \"text\" (\"terms\": [...], in\n"
	       "text order), keeping every other field: what vdb-build --lexical indexes\n"
	       "and vdb-query --text searches for, with the same options. FILE '-' or\n"
	       "none: stdin.\n"
	       "\n"
	       "  -l, --language L     Snowball stemmer: english (default; en), porter,\n"
	       "                       french, ... (libstemmer's list), or none\n"
	       "  -s, --stopwords FILE stop words, one a line (# comments), dropped\n"
	       "  -f, --field NAME     analyse the string metadata field NAME, not \"text\"\n"
	       "  -c, --config FILE    YAML file of long options (command line wins)\n"
	       "  -q, --quiet          no warnings\n"
	       "  -h, --help           this help\n"
	       "      --version        version and SIMD level\n"
	       "\n"
	       "A token is a run of letters and digits (glibc's C.UTF-8 iswalnum),\n"
	       "lowercased; a term over %u bytes is skipped (VDB_MAX_TERM).\n"
	       "Exit status: 0 ok, 64 usage (an unknown language), 65 bad input (a record\n"
	       "without its text, invalid UTF-8, a bad stop word line; named), 66 cannot\n"
	       "open an input or the stop word file, 70 internal error, 74 I/O error.\n"
	       "See vdb-text(1).\n",
	       cmd_name, VDB_MAX_TERM);
}

static bool on_opt(int opt, const char *arg, void *ctx)
{
	vdb_lexical_opts *o = ctx;
	switch (opt) {
	case 'l':
		o->language = arg;
		return true;
	case 's':
		o->stopwords = arg;
		return true;
	case 'f':
		o->field = arg;
		return true;
	}
	return false;
}

static const struct option longopts[] = {
	{ "language", required_argument, NULL, 'l' },
	{ "stopwords", required_argument, NULL, 's' },
	{ "field", required_argument, NULL, 'f' },
	CMD_COMMON_LONGOPTS
};

int text_tokens(int argc, char **argv)
{
	vdb_lexical_opts o = { 0 };
	int first = cmd_parse(argc, argv, "l:s:f:t:c:qh", longopts, on_opt, &o, help);
	char *stdin_only[] = { "-" };
	char **inputs = first < argc ? argv + first : stdin_only;
	int n = first < argc ? argc - first : 1;
	for (int i = 0; i < n; i++) {
		size_t records;
		vdb_status s = vdb_tokens_records(&o, inputs[i], stdout, &records);
		if (s == VDB_EIO)
			cmd_check_stdout(); /* a reader gone away ends quietly */
		if (s)
			cmd_die(s);
	}
	return cmd_finish();
}
