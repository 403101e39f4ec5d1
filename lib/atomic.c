/*
 * atomic.c — the one writer of outputs that vdb replaces whole (file.h):
 * index and quantizer files (file.c's container writer), metrics files
 * (prom.c) and plots (sweep_report.c, whose bytes gnuplot writes).
 *
 * Everything goes to NAME.tmp.XXXXXX in the target's directory (so the
 * rename stays within one file system), made as readable as any new file
 * would be (vdb_temp_open: an index is data like any other file, and a
 * metrics collector may run as another user). Commit flushes, fsyncs,
 * closes, renames over the target (a regular file or nothing: see
 * vdb_file_replace) and fsyncs the directory; any failure removes the
 * temporary file, so the target is the old file or the whole new one.
 */
#include "file.h"
#include "random.h"
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Like mkstemp, but the file is made 0666 less the umask, as any new file
 * would be, without reading the umask (process-wide state), and close-on-exec
 * (not inherited by gnuplot or --exec). */
int vdb_temp_open(char *tmpl)
{
	static const char abc[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	size_t len = strlen(tmpl);
	if (len < 6 || strcmp(tmpl + len - 6, "XXXXXX")) {
		errno = EINVAL;
		return -1;
	}
	/* names differ between processes (pid), threads (a stack address) and
	 * attempts; O_EXCL settles any collision */
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t r = (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 32 ^ (uint64_t)getpid() << 40 ^
	             (uint64_t)(uintptr_t)&ts;
	for (int attempt = 0; attempt < 1000; attempt++) {
		uint64_t z = vdb_splitmix64(&r); /* every attempt another name */
		for (size_t i = len - 6; i < len; i++, z /= sizeof abc - 1)
			tmpl[i] = abc[z % (sizeof abc - 1)];
		int fd = open(tmpl, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
		if (fd >= 0 || errno != EEXIST)
			return fd;
	}
	errno = EEXIST;
	return -1;
}

vdb_status vdb_atomic_open(vdb_atomic *a, const char *path)
{
	*a = (vdb_atomic){ .fd = -1 };
	vdb_status s = vdb_output_file_check(path);
	if (s)
		return s;
	size_t plen = strlen(path);
	a->path = strdup(path);
	a->tmp = malloc(plen + 16);
	if (!a->path || !a->tmp) {
		free(a->path), free(a->tmp);
		*a = (vdb_atomic){ .fd = -1 };
		return vdb_fail(VDB_ENOMEM, "out of memory");
	}
	snprintf(a->tmp, plen + 16, "%s.tmp.XXXXXX", path);
	int fd = vdb_temp_open(a->tmp);
	if (fd < 0) {
		s = vdb_fail(VDB_ECREATE, "%s: cannot create: %s", path, strerror(errno));
		free(a->path), free(a->tmp);
		*a = (vdb_atomic){ .fd = -1 };
		return s;
	}
	a->fd = fd;
	return VDB_OK;
}

FILE *vdb_atomic_stream(vdb_atomic *a)
{
	if (!a->f && a->fd >= 0)
		a->f = fdopen(a->fd, "w");
	if (!a->f)
		vdb_fail(VDB_ENOMEM, "%s: %s", a->path, strerror(errno));
	return a->f;
}

static void atomic_free(vdb_atomic *a)
{
	if (a->f)
		fclose(a->f);
	else if (a->fd >= 0)
		close(a->fd);
	free(a->path);
	free(a->tmp);
	*a = (vdb_atomic){ .fd = -1 };
}

void vdb_atomic_abort(vdb_atomic *a)
{
	if (a->tmp)
		unlink(a->tmp);
	atomic_free(a);
}

vdb_status vdb_atomic_commit(vdb_atomic *a)
{
	vdb_status s = VDB_OK;
	if (a->f && (fflush(a->f) != 0 || ferror(a->f)))
		s = vdb_fail(VDB_EIO, "%s: write failed: %s", a->path, strerror(errno));
	else if (fsync(a->fd) < 0)
		s = vdb_fail(VDB_EIO, "%s: fsync failed: %s", a->path, strerror(errno));
	else {
		int bad = a->f ? fclose(a->f) : close(a->fd);
		a->f = NULL, a->fd = -1;
		if (bad)
			s = vdb_fail(VDB_EIO, "%s: close failed: %s", a->path, strerror(errno));
		else if (!(s = vdb_file_replace(a->tmp, a->path))) {
			s = vdb_fsync_dir(a->path);
			atomic_free(a);
			return s;
		}
	}
	vdb_atomic_abort(a);
	return s;
}
