/* fuzz_filter — the --filter parser, and each filter that parses checked
 * against a few metadata objects (nested, arrays, nulls, missing fields). */
#include "fuzz.h"
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	static const char *const meta[] = {
		"{\"category\": \"Software\", \"price\": 120, \"tags\": [\"a\", \"b\"], \"ok\": true}",
		"{\"category\": null, \"brand\": {\"name\": \"x\", \"n\": [1, 2]}, \"price\": -1.5e3}",
		"{}",
	};
	char *text = malloc(n + 1);
	if (!text)
		return 0;
	memcpy(text, data, n);
	text[n] = 0; /* a C string: an embedded NUL ends it, as on a command line */
	vdb_filter *f;
	if (vdb_filter_parse(&f, text) == VDB_OK) {
		for (size_t i = 0; i < sizeof meta / sizeof *meta; i++)
			(void)vdb_filter_match_json(f, meta[i], strlen(meta[i]));
		(void)vdb_filter_match_json(f, NULL, 0);
		vdb_filter_free(f);
	}
	free(text);
	return 0;
}
