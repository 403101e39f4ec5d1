/* id.c — an id's JSON text read as an integer (id.h). */
#include "id.h"
#include <stdlib.h>
#include <string.h>

int vdb_id_integer(const char *json, size_t len, int64_t *out)
{
	if (len == 0 || len > 20 || (json[0] != '-' && (json[0] < '0' || json[0] > '9')))
		return 0;
	char buf[24];
	memcpy(buf, json, len);
	buf[len] = 0;
	*out = strtoll(buf, NULL, 10);
	return 1;
}
