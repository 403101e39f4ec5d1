/* vdb-text — text in: split documents into chunks, embed texts as vectors,
 * show the terms of texts. The subcommands are filters, JSONL in and out;
 * the work is in the library, each subcommand's options in its own file
 * (text.h). */
#include "text.h"
#include <stdio.h>
#include <string.h>

static const char *const subcommands = "chunk, embed or tokens";

static void help(void)
{
	printf("Usage: %s chunk [--words N [--overlap M] | --sentences N | --paragraphs]\n"
	       "                [--max-bytes B] [--plain] [FILE...]\n"
	       "       %s embed (--model FILE.bin|FILE.vec | --exec CMD [--timeout S])\n"
	       "                [--batch N] [--dim D] [FILE...]\n"
	       "       %s tokens [--language L] [--stopwords FILE] [--field NAME] [FILE...]\n"
	       "Text in, as filters: chunk splits documents (JSONL records with \"id\" and \"text\",\n"
	       "or plain text files) into chunk records; embed adds to each text record the\n"
	       "vector of its text, ready for vdb-build and vdb-query; tokens adds its terms as\n"
	       "the lexical index (vdb-build --lexical) sees them.\n"
	       "\n"
	       "  %s SUBCOMMAND --help   the subcommand's options\n"
	       "  -h, --help                this help\n"
	       "      --version             version and SIMD level\n"
	       "\n"
	       "Exit status: 0 ok, 64 usage, 65 bad input, 66 cannot open an input or model,\n"
	       "70 internal error, 74 I/O error. See vdb-text(1).\n",
	       cmd_name, cmd_name, cmd_name, cmd_name);
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "chunk")) {
		cmd_init("vdb-text chunk");
		return text_chunk(argc - 1, argv + 1);
	}
	if (argc >= 2 && !strcmp(argv[1], "embed")) {
		cmd_init("vdb-text embed");
		return text_embed(argc - 1, argv + 1);
	}
	if (argc >= 2 && !strcmp(argv[1], "tokens")) {
		cmd_init("vdb-text tokens");
		return text_tokens(argc - 1, argv + 1);
	}
	cmd_init("vdb-text");
	if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		help();
		return cmd_finish();
	}
	if (argc >= 2 && !strcmp(argv[1], "--version")) {
		cmd_version();
		return cmd_finish();
	}
	if (argc < 2)
		cmd_usage_error("no subcommand: expected %s", subcommands);
	if (argv[1][0] == '-')
		cmd_usage_error("the subcommand comes first: expected %s before '%s'", subcommands,
		                argv[1]);
	cmd_usage_error("unknown subcommand '%s' (expected %s)", argv[1], subcommands);
}
