/* fuzz_filter — the --filter parser, and each filter that parses checked
 * against metadata objects: nested, arrays, nulls, missing fields, and
 * objects and arrays nested deep (a filter's evaluation follows both). */
#include "fuzz.h"

enum { DEEP = 200 };
static char deep_obj[DEEP * 6 + 16], deep_arr[DEEP * 2 + 16];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	char *p = deep_obj, *a = deep_arr;
	for (int i = 0; i < DEEP; i++)
		p += sprintf(p, "{\"a\":"), *a++ = '[';
	p += sprintf(p, "1");
	*a++ = '1';
	for (int i = 0; i < DEEP; i++)
		*p++ = '}', *a++ = ']';
	*p = 0;
	*a = 0;
	return 0;
}

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
		(void)vdb_filter_match_json(f, deep_obj, strlen(deep_obj));
		char wrapped[sizeof deep_arr + 16];
		snprintf(wrapped, sizeof wrapped, "{\"a\": %s}", deep_arr);
		(void)vdb_filter_match_json(f, wrapped, strlen(wrapped));
		(void)vdb_filter_match_json(f, NULL, 0);
		vdb_filter_free(f);
	}
	free(text);
	return 0;
}
