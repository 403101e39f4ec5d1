/*
 * faults.c — an LD_PRELOAD shim that makes one call of vdb's fail, so tests
 * can walk a failure over every write, pwrite, fsync, rename, mmap, malloc,
 * calloc and realloc a command makes and check what it leaves behind.
 *
 * Only calls made by vdb's own code count (the caller's address lies in
 * libvdb or a vdb command): the C library, OpenMP and OpenBLAS allocate and
 * map for themselves, and making those fail would test them, not vdb.
 *
 *   VDB_FAULT=write:3     the 3rd counted write fails (ENOSPC); likewise
 *                         pwrite (ENOSPC), fsync (EIO), rename (EIO),
 *                         mmap (ENOMEM), malloc/calloc/realloc (ENOMEM)
 *   VDB_FAULT=rename:1:hang  the call blocks forever instead (for kill -9
 *                         at a known moment)
 *   VDB_FAULT_COUNT=FILE  fail nothing; at exit append "call count" lines
 *
 * malloc, calloc and realloc count as one kind, "malloc".
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

enum { K_WRITE, K_PWRITE, K_FSYNC, K_RENAME, K_MMAP, K_MALLOC, NKINDS };
static const char *const kind_name[NKINDS] = { "write", "pwrite", "fsync", "rename", "mmap",
	                                       "malloc" };
static atomic_long counts[NKINDS];
static int fail_kind = -1;
static long fail_at;
static int hang;
static const char *count_file;
static _Thread_local int busy; /* dladdr may allocate: no recursion */

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);

static int from_vdb(const void *caller)
{
	Dl_info info;
	if (busy)
		return 0;
	busy = 1;
	int ok = dladdr(caller, &info) && info.dli_fname &&
	         (strstr(info.dli_fname, "libvdb") || strstr(info.dli_fname, "vdb-"));
	busy = 0;
	return ok;
}

/* True when this call (of kind k, from caller) is the one to fail; the
 * one to hang never returns. */
static int hit(int k, const void *caller)
{
	if (fail_kind < 0 && !count_file)
		return 0;
	if (!from_vdb(caller))
		return 0;
	long n = atomic_fetch_add(&counts[k], 1) + 1;
	if (k != fail_kind || n != fail_at)
		return 0;
	while (hang)
		pause();
	return 1;
}

__attribute__((constructor)) static void faults_init(void)
{
	const char *f = getenv("VDB_FAULT");
	count_file = getenv("VDB_FAULT_COUNT");
	if (!f)
		return;
	for (int k = 0; k < NKINDS; k++) {
		size_t len = strlen(kind_name[k]);
		if (!strncmp(f, kind_name[k], len) && f[len] == ':') {
			fail_kind = k;
			fail_at = atol(f + len + 1);
			hang = strstr(f + len + 1, ":hang") != NULL;
		}
	}
}

__attribute__((destructor)) static void faults_fini(void)
{
	if (!count_file)
		return;
	FILE *out = fopen(count_file, "a");
	if (!out)
		return;
	for (int k = 0; k < NKINDS; k++)
		fprintf(out, "%s %ld\n", kind_name[k], (long)atomic_load(&counts[k]));
	fclose(out);
}

typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);
typedef int (*fsync_fn)(int);
typedef int (*rename_fn)(const char *, const char *);
typedef void *(*mmap_fn)(void *, size_t, int, int, int, off_t);

/* The real function: the next definition after this library's. */
#define NEXT(name) \
	static name##_fn next_##name; \
	if (!next_##name) \
		next_##name = (name##_fn)dlsym(RTLD_NEXT, #name)

ssize_t write(int fd, const void *buf, size_t n)
{
	NEXT(write);
	if (hit(K_WRITE, __builtin_return_address(0))) {
		errno = ENOSPC;
		return -1;
	}
	return next_write(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	NEXT(pwrite);
	if (hit(K_PWRITE, __builtin_return_address(0))) {
		errno = ENOSPC;
		return -1;
	}
	return next_pwrite(fd, buf, n, off);
}

int fsync(int fd)
{
	NEXT(fsync);
	if (hit(K_FSYNC, __builtin_return_address(0))) {
		errno = EIO;
		return -1;
	}
	return next_fsync(fd);
}

int rename(const char *from, const char *to)
{
	NEXT(rename);
	if (hit(K_RENAME, __builtin_return_address(0))) {
		errno = EIO;
		return -1;
	}
	return next_rename(from, to);
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	NEXT(mmap);
	if (hit(K_MMAP, __builtin_return_address(0))) {
		errno = ENOMEM;
		return MAP_FAILED;
	}
	return next_mmap(addr, len, prot, flags, fd, off);
}

void *malloc(size_t n)
{
	if (hit(K_MALLOC, __builtin_return_address(0))) {
		errno = ENOMEM;
		return NULL;
	}
	return __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
	if (hit(K_MALLOC, __builtin_return_address(0))) {
		errno = ENOMEM;
		return NULL;
	}
	return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
	if (hit(K_MALLOC, __builtin_return_address(0))) {
		errno = ENOMEM;
		return NULL;
	}
	return __libc_realloc(p, n);
}
