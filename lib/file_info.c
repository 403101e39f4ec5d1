/* file_info.c — the container's section table as JSON, for the --info of
 * indexes and of quantizer files alike (file.h). */
#include "file.h"
#include <jansson.h>
#include <stdio.h>

json_t *vdb_sections_json(const vdb_header *h)
{
	json_t *secs = json_array();
	char fc[5], hex[17];
	for (unsigned i = 0; i < h->nsections; i++) {
		const vdb_section *sc = &h->sec[i];
		snprintf(hex, sizeof hex, "%016llx", (unsigned long long)sc->xxh3);
		json_array_append_new(secs, json_pack("{s:s, s:I, s:I, s:s}", "kind",
		                                      vdb_fourcc_str(sc->kind, fc), "offset",
		                                      (json_int_t)sc->offset, "length",
		                                      (json_int_t)sc->length, "xxh3", hex));
	}
	return secs;
}
