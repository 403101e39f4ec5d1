/* fuzz.h — what the libFuzzer harnesses share: the input as a file, since
 * vdb's readers, config loader and index opener all take a path. */
#ifndef VDB_FUZZ_H
#define VDB_FUZZ_H
#include "vdb.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Write data to a file of this process (in /dev/shm when it exists) and
 * return its path; suffix names the format (".fvecs", ".yaml", ...). */
static inline const char *fuzz_file(const uint8_t *data, size_t n, const char *suffix)
{
	static char path[256];
	const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(path, sizeof path, "%s/vdb-fuzz-%ld%s", dir, (long)getpid(), suffix);
	FILE *f = fopen(path, "wb");
	if (!f)
		abort(); /* the harness's own failure, not vdb's */
	if (n && fwrite(data, 1, n, f) != n)
		abort();
	fclose(f);
	return path;
}

/* Read every record of a file as vdb-build does, in batches; binary: as
 * binary vectors (-m hamming: bvecs bytes, JSONL "bits"). */
static inline void fuzz_read_as(const char *path, vdb_format fmt, int binary)
{
	vdb_reader *r;
	if (vdb_reader_open(&r, path, fmt))
		return;
	vdb_vecs v;
	vdb_vecs_init(&v);
	v.binary = binary;
	size_t got;
	while (vdb_reader_read(r, &v, 64, &got) == VDB_OK && got)
		;
	vdb_vecs_free(&v);
	vdb_reader_close(r);
}

/* Both ways: float vectors, then binary ones. */
static inline void fuzz_read_all(const char *path, vdb_format fmt)
{
	fuzz_read_as(path, fmt, 0);
	fuzz_read_as(path, fmt, 1);
}
#endif
