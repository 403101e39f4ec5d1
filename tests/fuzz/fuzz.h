/* fuzz.h — what the libFuzzer harnesses share: the input as a file, since
 * vdb's readers, config loader and index opener all take a path; files the
 * harness writes itself; and the checks whose failure is the harness's
 * report (abort(): libFuzzer keeps the input as a crash). */
#ifndef VDB_FUZZ_H
#define VDB_FUZZ_H
#include "vdb.h"
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A file of this process (in /dev/shm when it exists): tag names it
 * ("in.jsonl", "out.vdb"); the same tag gives the same path. */
static inline const char *fuzz_path(char *buf, size_t size, const char *tag)
{
	const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(buf, size, "%s/vdb-fuzz-%ld-%s", dir, (long)getpid(), tag);
	return buf;
}

/* Write data to a file of this process and return its path; suffix names
 * the format (".fvecs", ".yaml", ...). */
static inline const char *fuzz_file(const uint8_t *data, size_t n, const char *suffix)
{
	static char path[256];
	char tag[32];
	snprintf(tag, sizeof tag, "in%s", suffix);
	fuzz_path(path, sizeof path, tag);
	FILE *f = fopen(path, "wb");
	if (!f)
		abort(); /* the harness's own failure, not vdb's */
	if (n && fwrite(data, 1, n, f) != n)
		abort();
	fclose(f);
	return path;
}

/* The harness's report: what vdb did wrong, then abort() (a crash to
 * libFuzzer, with the input kept). */
__attribute__((noreturn, format(printf, 1, 2)))
static inline void fuzz_report(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("fuzz: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

/* An index file vdb has just written (path) must open and pass
 * vdb_index_verify: nothing may write a file that its own --verify rejects.
 * what names the operation for the report. Returns the opened index (the
 * caller closes it). */
static inline vdb_index *fuzz_check_written(const char *path, const char *what)
{
	vdb_index *ix;
	if (vdb_index_open(&ix, path))
		fuzz_report("%s wrote an index that does not open: %s", what, vdb_last_error());
	if (vdb_index_verify(ix))
		fuzz_report("%s wrote an index that fails verify: %s", what, vdb_last_error());
	return ix;
}

/* Read every record of a file as vdb-build does, in batches, into v
 * (initialised by the caller; v->binary set for -m hamming: bvecs bytes,
 * JSONL "bits"). VDB_OK when the whole input was read. */
static inline vdb_status fuzz_read_into(const char *path, vdb_format fmt, vdb_vecs *v)
{
	vdb_reader *r;
	vdb_status s = vdb_reader_open(&r, path, fmt);
	if (s)
		return s;
	size_t got;
	while ((s = vdb_reader_read(r, v, 64, &got)) == VDB_OK && got)
		;
	vdb_reader_close(r);
	return s;
}

static inline void fuzz_read_as(const char *path, vdb_format fmt, int binary)
{
	vdb_vecs v;
	vdb_vecs_init(&v);
	v.binary = binary;
	(void)fuzz_read_into(path, fmt, &v);
	vdb_vecs_free(&v);
}

/* Both ways: float vectors, then binary ones. */
static inline void fuzz_read_all(const char *path, vdb_format fmt)
{
	fuzz_read_as(path, fmt, 0);
	fuzz_read_as(path, fmt, 1);
}
#endif
