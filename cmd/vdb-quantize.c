/* vdb-quantize — vector quantizers (sq8, fp16, pq, binary). The subcommands
 * come with the IVF-PQ work; until then they say so and exit 64. */
#include "common.h"
#include <stdio.h>
#include <string.h>

static void help(void)
{
	printf("Usage: %s train|encode|decode|eval [OPTIONS]\n"
	       "Train, apply and evaluate vector quantizers (sq8, fp16, pq, binary).\n"
	       "Not implemented in this version: every subcommand exits with status 64.\n"
	       "\n"
	       "  -t, --threads N        threads (default: all cores)\n"
	       "  -c, --config FILE      YAML file of long options (command line wins)\n"
	       "  -q, --quiet            no warnings\n"
	       "  -h, --help             this help\n"
	       "      --version          version and SIMD level\n"
	       "\nExit status: 0 ok (--help, --version), 64 usage or not implemented.\n"
	       "See vdb-quantize(1).\n",
	       cmd_name);
}

static bool on_opt(int opt, const char *arg, void *ctx)
{
	(void)opt, (void)arg, (void)ctx;
	return false;
}

static const struct option longopts[] = {
	CMD_COMMON_LONGOPTS
};

int main(int argc, char **argv)
{
	cmd_init("vdb-quantize");
	int first = cmd_parse(argc, argv, "t:c:qh", longopts, on_opt, NULL, help);
	if (first >= argc)
		cmd_usage_error("no subcommand: expected train, encode, decode or eval");
	const char *sub = argv[first];
	if (strcmp(sub, "train") && strcmp(sub, "encode") && strcmp(sub, "decode") &&
	    strcmp(sub, "eval"))
		cmd_usage_error("unknown subcommand '%s' (expected train, encode, decode or eval)", sub);
	fprintf(stderr, "%s: error: %s is not implemented yet\n", cmd_name, sub);
	return EXIT_USAGE;
}
