/* fuzz_config — the YAML config loader (lib/config.c over libyaml), and
 * what a command does with a "filter" it gives: parse it and check it
 * against a record's metadata (vdb-query -c). Reports (abort) a config
 * that expands to more than MAX_ARGS bytes of arguments: aliases copied
 * without a cap (a "billion laughs"), which the rss limit sees only when
 * the fuzzer is lucky. */
#include "fuzz.h"

#define MAX_ARGS ((size_t)256 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	static const char *const each[] = { "input", "index", NULL };
	static const char meta[] = "{\"category\": \"x\", \"price\": 3, \"tags\": [\"a\"], "
	                           "\"n\": {\"t\": \"a\"}}";
	int argc;
	char **argv;
	int *lines;
	if (vdb_config_load(fuzz_file(data, n, ".yaml"), each, &argc, &argv, &lines) != VDB_OK)
		return 0;
	size_t total = 0;
	for (int i = 0; i < argc; i++)
		total += strlen(argv[i]);
	if (total > MAX_ARGS)
		fuzz_report("a config of %zu bytes gave %d arguments of %zu bytes in all", n, argc,
		            total);
	for (int i = 0; i < argc; i++) {
		vdb_filter *f;
		if (strncmp(argv[i], "--filter=", 9) || vdb_filter_parse(&f, argv[i] + 9))
			continue;
		(void)vdb_filter_match_json(f, meta, sizeof meta - 1);
		(void)vdb_filter_match_json(f, NULL, 0);
		vdb_filter_free(f);
	}
	vdb_config_free(argc, argv, lines);
	return 0;
}
