/* test_file.c — the index container: sections round-trip, checksums catch
 * damage, bounds are checked before use, and writes are atomic. */
#include "tap.h"
#include "file.h"
#include "smaps.h"
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64], path[128];

static int write_file(const char *p, const void *a, size_t alen, const void *b, size_t blen)
{
	vdb_file_writer *w;
	if (vdb_file_create(&w, p))
		return 0;
	vdb_header h;
	memset(&h, 0, sizeof h);
	h.type = VDB_FOURCC('T', 'E', 'S', 'T');
	h.metric = 1, h.dim = 3, h.count = h.live = 5, h.params[3] = 77;
	if (vdb_file_write_section(w, VDB_FOURCC('A', 'A', 'A', 'A'), a, alen) ||
	    vdb_file_begin_section(w, VDB_FOURCC('B', 'B', 'B', 'B')) ||
	    vdb_file_append(w, b, blen / 2) || vdb_file_append(w, (const char *)b + blen / 2,
	                                                        blen - blen / 2) ||
	    vdb_file_end_section(w)) {
		vdb_file_abort(w);
		return 0;
	}
	return vdb_file_commit(w, &h) == VDB_OK;
}

static void patch(const char *p, off_t off, unsigned char v)
{
	int fd = open(p, O_WRONLY);
	pwrite(fd, &v, 1, off);
	close(fd);
}

static int count_tmp(void)
{
	char cmd[256];
	snprintf(cmd, sizeof cmd, "ls %s | grep -c tmp", dir);
	FILE *f = popen(cmd, "r");
	int n = 0;
	if (fscanf(f, "%d", &n) != 1)
		n = -1;
	pclose(f);
	return n;
}

int main(void)
{
	strcpy(dir, "/tmp/vdb-test-file.XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof path, "%s/x.vdb", dir);
	char a[5000], b[10];
	for (size_t i = 0; i < sizeof a; i++)
		a[i] = (char)(i * 7);
	memcpy(b, "0123456789", 10);
	ok(write_file(path, a, sizeof a, b, sizeof b), "write a two-section file");

	vdb_file *f;
	ok(vdb_file_open(&f, path) == VDB_OK, "open it");
	size_t len;
	const char *sa = vdb_file_section(f, VDB_FOURCC('A', 'A', 'A', 'A'), &len);
	ok(sa && len == sizeof a && !memcmp(sa, a, len), "section A round-trips");
	ok(((uintptr_t)sa & 4095) == 0, "section A is page-aligned in the mapping");
	const char *sb = vdb_file_section(f, VDB_FOURCC('B', 'B', 'B', 'B'), &len);
	ok(sb && len == 10 && !memcmp(sb, b, 10), "section B (streamed in two parts) round-trips");
	ok(f->h.sec[1].offset == 12288, "section B starts on the next 4096 boundary after A");
	ok(!vdb_file_section(f, VDB_FOURCC('C', 'C', 'C', 'C'), &len) && len == 0,
	   "an absent section is NULL");
	ok(f->h.dim == 3 && f->h.count == 5 && f->h.params[3] == 77 && f->h.major == 1,
	   "header fields round-trip");
	ok(f->size % 4096 == 0, "the file ends on a page boundary");
	ok(vdb_file_verify(f) == VDB_OK, "verify passes on a sound file");
	if (getenv("VDB_EMULATED")) { /* qemu-user accepts madvise and does nothing */
		skip("madvise under emulation");
	} else {
		ok(!random_read(sa), "a section is mapped for read-around");
		ok(!vdb_file_advise_random(sa, sizeof a, sizeof a + 1) && !random_read(sa),
		   "a section under the limit is not advised random");
		ok(vdb_file_advise_random(sa, sizeof a, sizeof a) && random_read(sa) &&
		   random_read(sa + sizeof a - 1),
		   "a section at the limit is advised random, every page");
		ok(!random_read(f->map), "the header's page keeps read-around");
	}
	ok(vdb_file_random_limit() > 0 && vdb_file_random_limit() < SIZE_MAX,
	   "the limit is a part of physical memory");
	vdb_file_close(f);

	/* a flipped byte in a section: open still works, verify catches it */
	patch(path, 4096 + 17, 0x55);
	ok(vdb_file_open(&f, path) == VDB_OK, "open does not read sections");
	ok(vdb_file_verify(f) == VDB_ECORRUPT && strstr(vdb_last_error(), "AAAA"),
	   "verify names the damaged section: %s", vdb_last_error());
	vdb_file_close(f);

	/* a section table entry pointing past the end, with a valid header checksum */
	write_file(path, a, sizeof a, b, sizeof b);
	ok(vdb_file_open(&f, path) == VDB_OK, "rewritten");
	vdb_header h = f->h;
	vdb_file_close(f);
	h.sec[1].length = 1u << 30;
	unsigned char hb[VDB_HEADER_SIZE];
	vdb_header_encode(&h, hb);
	int fd = open(path, O_WRONLY);
	ok(pwrite(fd, hb, sizeof hb, 0) == (ssize_t)sizeof hb, "crafted header written");
	close(fd);
	ok(vdb_file_open(&f, path) == VDB_ECORRUPT && strstr(vdb_last_error(), "outside"),
	   "a section past the end is refused: %s", vdb_last_error());
	h.sec[1].length = 10;
	h.sec[1].offset = 4097;
	vdb_header_encode(&h, hb);
	fd = open(path, O_WRONLY);
	pwrite(fd, hb, sizeof hb, 0);
	close(fd);
	ok(vdb_file_open(&f, path) == VDB_ECORRUPT, "a misaligned section is refused");
	h.nsections = 65;
	vdb_header_encode(&h, hb);
	fd = open(path, O_WRONLY);
	pwrite(fd, hb, sizeof hb, 0);
	close(fd);
	ok(vdb_file_open(&f, path) == VDB_ECORRUPT, "too many sections is refused");

	/* atomicity: an aborted write leaves the old file and no temporary */
	write_file(path, a, sizeof a, b, sizeof b);
	struct stat st0, st1;
	stat(path, &st0);
	vdb_file_writer *w;
	ok(vdb_file_create(&w, path) == VDB_OK && count_tmp() == 1, "a temporary file appears");
	vdb_file_write_section(w, VDB_FOURCC('Z', 'Z', 'Z', 'Z'), b, 3);
	vdb_file_abort(w);
	stat(path, &st1);
	ok(count_tmp() == 0 && st0.st_ino == st1.st_ino && st0.st_size == st1.st_size,
	   "abort removes it and leaves the old file");
	char bad[160];
	snprintf(bad, sizeof bad, "%s/nodir/x.vdb", dir);
	ok(vdb_file_create(&w, bad) == VDB_ECREATE && strstr(vdb_last_error(), "nodir"),
	   "an uncreatable path is ECREATE naming it");
	ok(vdb_file_open(&f, bad) == VDB_ENOENT, "a missing file is ENOENT");

	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		diag("could not clean %s", dir);
	return done_testing();
}
