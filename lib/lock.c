/*
 * lock.c — one writer per index: an flock(2) on INDEX.lock.
 *
 * Readers never take it: they map the index file they opened, and a rebuild
 * renames a new file over the name, so a reader keeps the old inode until it
 * closes. The lock only serialises writers, so that two cron runs of the same
 * build (or an append racing a rebuild) cannot both start from the same old
 * index and lose one's work.
 *
 * The holder removes the lock file when it is done, so that INDEX.lock files
 * do not pile up beside indexes. Removing a flock file is safe only with a
 * protocol, and this is it:
 *   - only the holder unlinks the name, while it still holds the lock (and
 *     only if the name is still its file), then closes;
 *   - whoever takes the lock checks afterwards that the name still leads to
 *     the file it locked (same device and inode); if not, it locked a file
 *     its holder has since removed, so it lets go and starts over.
 * Without the check, a waiter (B) that opened the file before the holder (A)
 * removed it would take the lock on the removed file while a third build (C)
 * creates and locks a new one: two holders. With it, the lock held is always
 * the lock on the file the name leads to, and at most one process holds
 * that. The inode compared cannot be reused meanwhile: the checker holds the
 * old file open. A build killed by a signal leaves its file, unlocked (the
 * kernel drops a lock when its holder exits, however it exits): the next
 * build takes it and removes it. Builds of vdb before the removal (which
 * skip the check) must not run beside these on the same index.
 * Its content (pid, host, start time) is informational, written after the
 * lock is taken and read by whoever finds it busy.
 *
 * The lock file is written (truncated, then the holder's line), so it must
 * be a regular file of its own: it is opened with O_NOFOLLOW, and anything
 * else at its name (a symbolic link or a hard link planted to make a build
 * truncate their target, a device, a FIFO) is refused (VDB_ECREATE) without
 * being written.
 */
#include "file.h"
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

struct vdb_lock {
	int fd;
	char *path; /* removed at the release */
};

/* how often a waiting build retries */
#define POLL_NS 50000000L

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* "pid 123 on host h since 2026-11-25T03:00:00Z", or "" if unknown. */
static void holder(int fd, char *buf, size_t n)
{
	ssize_t r = pread(fd, buf, n - 1, 0);
	buf[r > 0 ? r : 0] = 0;
	buf[strcspn(buf, "\n")] = 0;
}

static vdb_status write_holder(int fd, const char *path)
{
	char host[256] = "unknown", when[32] = "";
	if (gethostname(host, sizeof host) != 0)
		snprintf(host, sizeof host, "unknown");
	host[sizeof host - 1] = 0;
	time_t t = time(NULL);
	struct tm tm;
	if (gmtime_r(&t, &tm))
		strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	char text[512];
	int len = snprintf(text, sizeof text, "pid %ld on host %s since %s\n", (long)getpid(), host,
	                   when);
	if (ftruncate(fd, 0) != 0 || pwrite(fd, text, (size_t)len, 0) != len)
		return vdb_fail(VDB_EIO, "%s: cannot write the lock file: %s", path, strerror(errno));
	return VDB_OK;
}

static vdb_status refuse(const char *path, unsigned mode)
{
	return vdb_fail(VDB_ECREATE, "%s: %s, not a regular file: the lock file is written, so "
	                "vdb uses only a regular file of its own there (remove what is there)",
	                path, vdb_file_kind(mode));
}

/* Is the name path still the file fd has open? */
static bool same_file(int fd, const char *path)
{
	struct stat a, b;
	return fstat(fd, &a) == 0 && lstat(path, &b) == 0 && a.st_dev == b.st_dev &&
	       a.st_ino == b.st_ino;
}

/* Let go of the lock on fd, removing its file while it is still held and
 * only if the name is still that file (see the top); a file that stays (in
 * a directory without write permission) at least names no stale holder. */
static void drop(int fd, const char *path)
{
	if (!same_file(fd, path) || unlink(path) != 0) {
		if (ftruncate(fd, 0) != 0) {
			/* informational content only: the lock goes with the close */
		}
	}
	close(fd);
}

/* One attempt: the lock on the file at path, or *again when the file
 * locked was removed by its holder meanwhile. */
static vdb_status lock_once(int *out, const char *path, double deadline, double wait_seconds,
                            bool *again)
{
	*out = -1;
	*again = false;
	/* a device is refused before it is even opened; O_NOFOLLOW and the
	 * fstat catch what takes the name in between */
	struct stat st;
	if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode))
		return refuse(path, st.st_mode);
	int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0666);
	if (fd < 0 && errno == ELOOP)
		return refuse(path, S_IFLNK);
	if (fd < 0)
		return vdb_fail(VDB_ECREATE, "%s: cannot create the lock file: %s", path,
		                strerror(errno));
	if (fstat(fd, &st) != 0) {
		vdb_status s = vdb_fail(VDB_EIO, "%s: %s", path, strerror(errno));
		close(fd);
		return s;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return refuse(path, st.st_mode);
	}
	/* a hard link to another file is that file: it would be truncated too */
	if (st.st_nlink > 1) {
		close(fd);
		return vdb_fail(VDB_ECREATE, "%s: the lock file has %ju other names (hard links); "
		                "it is written, so vdb uses only a file of its own there (remove it)",
		                path, (uintmax_t)(st.st_nlink - 1));
	}
	while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK) {
			vdb_status s = vdb_fail(VDB_EIO, "%s: cannot lock: %s", path, strerror(errno));
			close(fd);
			return s;
		}
		if (now() >= deadline) {
			char who[512];
			holder(fd, who, sizeof who);
			close(fd);
			return vdb_fail(VDB_EBUSY, "%s: held by another build (%s)%s", path,
			                *who ? who : "holder unknown",
			                wait_seconds > 0 ? ", still after the --wait" : "");
		}
		struct timespec ts = { 0, POLL_NS };
		nanosleep(&ts, NULL);
	}
	if (!same_file(fd, path)) {
		close(fd);
		*again = true;
		return VDB_OK;
	}
	*out = fd;
	return VDB_OK;
}

vdb_status vdb_lock_acquire(vdb_lock **out, const char *path, double wait_seconds)
{
	*out = NULL;
	double deadline = now() + wait_seconds;
	int fd;
	bool again;
	vdb_status s;
	do
		s = lock_once(&fd, path, deadline, wait_seconds, &again);
	while (!s && again);
	if (s)
		return s;
	s = write_holder(fd, path);
	vdb_lock *l = s ? NULL : malloc(sizeof *l);
	char *name = l ? strdup(path) : NULL;
	if (!name) {
		free(l);
		drop(fd, path);
		return s ? s : vdb_fail(VDB_ENOMEM, "out of memory");
	}
	l->fd = fd;
	l->path = name;
	*out = l;
	return VDB_OK;
}

void vdb_lock_release(vdb_lock *l)
{
	if (!l)
		return;
	drop(l->fd, l->path);
	free(l->path);
	free(l);
}
