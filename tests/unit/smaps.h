/* smaps.h — what /proc/self/smaps says of a mapping (the unit tests). */
#ifndef VDB_TEST_SMAPS_H
#define VDB_TEST_SMAPS_H
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Whether the mapping holding p is advised random (VmFlags "rr" in smaps). */
static int random_read(const void *p)
{
	FILE *m = fopen("/proc/self/smaps", "r");
	if (!m)
		return -1;
	char line[512];
	int in = 0, rr = 0;
	while (fgets(line, sizeof line, m)) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
			in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
		else if (in && !strncmp(line, "VmFlags:", 8))
			rr = strstr(line, " rr") != NULL;
	}
	fclose(m);
	return rr;
}
#endif
