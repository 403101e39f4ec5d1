/* fuzz_config — the YAML config loader (lib/config.c over libyaml). */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	static const char *const each[] = { "input", "index", NULL };
	int argc;
	char **argv;
	int *lines;
	if (vdb_config_load(fuzz_file(data, n, ".yaml"), each, &argc, &argv, &lines) == VDB_OK)
		vdb_config_free(argc, argv, lines);
	return 0;
}
