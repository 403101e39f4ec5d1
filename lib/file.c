/*
 * file.c — the index file: a 4096-byte header, then 4096-aligned sections.
 *
 * Writing is atomic (atomic.c, the one writer of every output replaced
 * whole). Everything goes to NAME.tmp.XXXXXX in the target's
 * directory (so rename stays within one file system); the header is written
 * last, then fsync, rename over the target and fsync of the directory. A
 * failure at any step removes the temporary file, so the previous index is
 * never damaged by a failed or killed build (a killed build can leave a
 * stray .tmp file, never a half-written index). The rename replaces only
 * a regular file: a symbolic link, a directory, a device or a FIFO at the
 * target's name is refused (VDB_ECREATE) before anything is written, and
 * checked again just before the rename, so that `-o /dev/null` as root can
 * never put a regular file in the device's place.
 *
 * Reading maps the whole file read-only and checks, before anything trusts
 * the bytes: size, magic, version, the header's own XXH3-64 and that every
 * section lies inside the file. Section checksums cost a full read, so they
 * are checked only by vdb_file_verify (vdb-query --verify). The file is
 * opened with O_NONBLOCK, so that a FIFO named as an index cannot block the
 * open, and must be a regular file. An index file must never be changed in
 * place while mapped: a truncation makes the mapped pages beyond the new end
 * raise SIGBUS in whoever reads them. Writers here only rename; the commands
 * turn a SIGBUS from someone else's `cp` over the file into an error (74).
 *
 * Header layout (little-endian), byte offsets:
 *    0  magic "VDBIDX", u8 major, u8 minor
 *    8  u32 type fourcc, metric, dim, storage, flags, nsections
 *   32  u64 count, live
 *   48  u64 params[16]
 *  176  u32 shard, shards (format 1.1; 0, 0 when the index is not a shard)
 *  512  section table: 64 x { u32 kind, u32 0, u64 offset, length, xxh3 }
 * 4088  u64 XXH3-64 of bytes 0..4087
 */
#include "file.h"
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#define SHARD_OFF 176u
#define SECTAB_OFF 512u
#define SECENT_SIZE 32u
#define CHECKSUM_OFF (VDB_HEADER_SIZE - 8u)
static const char MAGIC[6] = { 'V', 'D', 'B', 'I', 'D', 'X' };

const char *vdb_fourcc_str(uint32_t k, char buf[5])
{
	for (int i = 0; i < 4; i++) {
		unsigned char c = (k >> (8 * i)) & 0xff;
		buf[i] = (c >= 32 && c < 127) ? (char)c : '?';
	}
	buf[4] = 0;
	return buf;
}

/* ===== Encoding ===== */
static void put32(unsigned char *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(unsigned char *p, uint64_t v) { memcpy(p, &v, 8); }
static uint32_t get32(const unsigned char *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t get64(const unsigned char *p) { uint64_t v; memcpy(&v, p, 8); return v; }

void vdb_header_encode(const vdb_header *h, unsigned char *b)
{
	memset(b, 0, VDB_HEADER_SIZE);
	memcpy(b, MAGIC, 6);
	b[6] = (unsigned char)h->major;
	b[7] = (unsigned char)h->minor;
	put32(b + 8, h->type);
	put32(b + 12, h->metric);
	put32(b + 16, h->dim);
	put32(b + 20, h->storage);
	put32(b + 24, h->flags);
	put32(b + 28, h->nsections);
	put64(b + 32, h->count);
	put64(b + 40, h->live);
	for (unsigned i = 0; i < VDB_NPARAMS; i++)
		put64(b + 48 + 8 * i, h->params[i]);
	put32(b + SHARD_OFF, h->shard);
	put32(b + SHARD_OFF + 4, h->shards);
	for (unsigned i = 0; i < h->nsections && i < VDB_MAX_SECTIONS; i++) {
		unsigned char *e = b + SECTAB_OFF + SECENT_SIZE * i;
		put32(e, h->sec[i].kind);
		put64(e + 8, h->sec[i].offset);
		put64(e + 16, h->sec[i].length);
		put64(e + 24, h->sec[i].xxh3);
	}
	put64(b + CHECKSUM_OFF, XXH3_64bits(b, CHECKSUM_OFF));
}

static void header_decode(const unsigned char *b, vdb_header *h)
{
	memset(h, 0, sizeof *h);
	h->major = b[6];
	h->minor = b[7];
	h->type = get32(b + 8);
	h->metric = get32(b + 12);
	h->dim = get32(b + 16);
	h->storage = get32(b + 20);
	h->flags = get32(b + 24);
	h->nsections = get32(b + 28);
	h->count = get64(b + 32);
	h->live = get64(b + 40);
	for (unsigned i = 0; i < VDB_NPARAMS; i++)
		h->params[i] = get64(b + 48 + 8 * i);
	h->shard = get32(b + SHARD_OFF);
	h->shards = get32(b + SHARD_OFF + 4);
	for (unsigned i = 0; i < h->nsections && i < VDB_MAX_SECTIONS; i++) {
		const unsigned char *e = b + SECTAB_OFF + SECENT_SIZE * i;
		h->sec[i].kind = get32(e);
		h->sec[i].offset = get64(e + 8);
		h->sec[i].length = get64(e + 16);
		h->sec[i].xxh3 = get64(e + 24);
	}
}

/* ===== Output targets ===== */
const char *vdb_file_kind(unsigned mode)
{
	return S_ISREG(mode) ? "a regular file" : S_ISLNK(mode) ? "a symbolic link"
	       : S_ISDIR(mode) ? "a directory" : S_ISCHR(mode) ? "a character device"
	       : S_ISBLK(mode) ? "a block device" : S_ISFIFO(mode) ? "a FIFO"
	       : S_ISSOCK(mode) ? "a socket" : "a special file";
}

vdb_status vdb_output_file_check(const char *path)
{
	struct stat st;
	if (lstat(path, &st) != 0)
		return errno == ENOENT ? VDB_OK
		                       : vdb_fail(VDB_ECREATE, "%s: cannot create: %s", path,
		                                  strerror(errno));
	if (S_ISREG(st.st_mode))
		return VDB_OK;
	return vdb_fail(VDB_ECREATE, "%s: %s, not a regular file: this output is replaced by "
	                "renaming a new file over its name, which vdb does only to a regular "
	                "file%s", path, vdb_file_kind(st.st_mode),
	                S_ISLNK(st.st_mode) ? " (name the file the link points to)" : "");
}

vdb_status vdb_file_replace(const char *tmp, const char *path)
{
	/* again at the last moment: whatever took the name since the first
	 * check is refused, not replaced */
	vdb_status s = vdb_output_file_check(path);
	if (s)
		return s;
	if (rename(tmp, path) < 0)
		return vdb_fail(errno == EACCES || errno == EROFS || errno == EISDIR || errno == EPERM
		                ? VDB_ECREATE : VDB_EIO,
		                "%s: cannot rename %s into place: %s", path, tmp, strerror(errno));
	return VDB_OK;
}

/* ===== Writing ===== */
struct vdb_file_writer {
	vdb_atomic out;      /* the temporary file and the target (atomic.c) */
	uint64_t pos;        /* bytes written so far */
	vdb_section sec[VDB_MAX_SECTIONS];
	unsigned nsec;
	int in_section;
	XXH3_state_t *xs;
};

static vdb_status write_all(vdb_file_writer *w, const void *data, size_t len)
{
	const char *p = data;
	while (len > 0) {
		size_t chunk = len > (1u << 30) ? (1u << 30) : len;
		ssize_t r = write(w->out.fd, p, chunk);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return vdb_fail(VDB_EIO, "%s: write failed: %s", w->out.path,
			                r < 0 ? strerror(errno) : "no progress");
		p += r;
		len -= (size_t)r;
		w->pos += (uint64_t)r;
	}
	return VDB_OK;
}

static vdb_status pad_to(vdb_file_writer *w, uint64_t target)
{
	static const char zeros[4096];
	while (w->pos < target) {
		uint64_t n = target - w->pos;
		vdb_status s = write_all(w, zeros, n > sizeof zeros ? sizeof zeros : (size_t)n);
		if (s)
			return s;
	}
	return VDB_OK;
}

vdb_status vdb_file_create(vdb_file_writer **out, const char *path)
{
	*out = NULL;
	vdb_file_writer *w = calloc(1, sizeof *w);
	XXH3_state_t *xs = XXH3_createState();
	if (!w || !xs) {
		free(w), XXH3_freeState(xs);
		return vdb_fail(VDB_ENOMEM, "out of memory");
	}
	vdb_status s = vdb_atomic_open(&w->out, path);
	if (s) {
		free(w), XXH3_freeState(xs);
		return s;
	}
	w->xs = xs;
	/* the header is written at commit; reserve its place */
	s = pad_to(w, VDB_HEADER_SIZE);
	if (s) {
		vdb_file_abort(w);
		return s;
	}
	*out = w;
	return VDB_OK;
}

vdb_status vdb_file_begin_section(vdb_file_writer *w, uint32_t kind)
{
	char b[5];
	if (w->in_section || w->nsec >= VDB_MAX_SECTIONS)
		return vdb_fail(VDB_EINTERNAL, "%s: section %s: too many sections or nested",
		                w->out.path, vdb_fourcc_str(kind, b));
	uint64_t start = (w->pos + VDB_ALIGN - 1) / VDB_ALIGN * VDB_ALIGN;
	vdb_status s = pad_to(w, start);
	if (s)
		return s;
	w->sec[w->nsec] = (vdb_section){ .kind = kind, .offset = start };
	XXH3_64bits_reset(w->xs);
	w->in_section = 1;
	return VDB_OK;
}

vdb_status vdb_file_append(vdb_file_writer *w, const void *data, size_t len)
{
	if (!w->in_section)
		return vdb_fail(VDB_EINTERNAL, "%s: append outside a section", w->out.path);
	if (len == 0)
		return VDB_OK;
	XXH3_64bits_update(w->xs, data, len);
	return write_all(w, data, len);
}

vdb_status vdb_file_end_section(vdb_file_writer *w)
{
	if (!w->in_section)
		return vdb_fail(VDB_EINTERNAL, "%s: end outside a section", w->out.path);
	vdb_section *sc = &w->sec[w->nsec++];
	sc->length = w->pos - sc->offset;
	sc->xxh3 = XXH3_64bits_digest(w->xs);
	w->in_section = 0;
	return VDB_OK;
}

vdb_status vdb_file_write_section(vdb_file_writer *w, uint32_t kind, const void *data, size_t len)
{
	vdb_status s = vdb_file_begin_section(w, kind);
	if (!s)
		s = vdb_file_append(w, data, len);
	if (!s)
		s = vdb_file_end_section(w);
	return s;
}

void vdb_file_abort(vdb_file_writer *w)
{
	if (!w)
		return;
	vdb_atomic_abort(&w->out);
	XXH3_freeState(w->xs);
	free(w);
}

vdb_status vdb_fsync_dir(const char *path)
{
	char *copy = strdup(path);
	if (!copy)
		return vdb_fail(VDB_ENOMEM, "out of memory");
	const char *dir = dirname(copy);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	vdb_status s = VDB_OK;
	if (dfd < 0 || (fsync(dfd) < 0 && errno != EINVAL))
		s = vdb_fail(VDB_EIO, "%s: cannot sync directory %s: %s", path, dir, strerror(errno));
	if (dfd >= 0)
		close(dfd);
	free(copy);
	return s;
}

vdb_status vdb_file_commit(vdb_file_writer *w, vdb_header *h)
{
	vdb_status s = VDB_OK;
	if (w->in_section)
		s = vdb_file_end_section(w);
	/* the file ends on an alignment boundary, so every section can be mapped whole */
	if (!s)
		s = pad_to(w, (w->pos + VDB_ALIGN - 1) / VDB_ALIGN * VDB_ALIGN);
	if (s) {
		vdb_file_abort(w);
		return s;
	}
	/* the oldest version that describes the file: one without shard fields
	 * is a 1.0 file, byte for byte; one with deleted rows is 2.0, which
	 * 1.x readers refuse rather than return the deleted rows */
	h->major = h->live < h->count ? 2 : 1;
	h->minor = h->major == 1 && h->shards ? 1 : 0;
	h->nsections = w->nsec;
	memcpy(h->sec, w->sec, sizeof w->sec);
	unsigned char buf[VDB_HEADER_SIZE];
	vdb_header_encode(h, buf);
	ssize_t r;
	do
		r = pwrite(w->out.fd, buf, sizeof buf, 0);
	while (r < 0 && errno == EINTR);
	if (r != (ssize_t)sizeof buf) {
		s = vdb_fail(VDB_EIO, "%s: writing header failed: %s", w->out.path,
		             r < 0 ? strerror(errno) : "short write");
		vdb_file_abort(w);
		return s;
	}
	s = vdb_atomic_commit(&w->out);
	XXH3_freeState(w->xs);
	free(w);
	return s;
}

/* ===== Reading ===== */
vdb_status vdb_file_open(vdb_file **out, const char *path)
{
	*out = NULL;
	/* O_NONBLOCK: a FIFO given as an index must not block the open */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return vdb_fail(VDB_ENOENT, "%s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0) {
		vdb_status s = vdb_fail(VDB_EIO, "%s: %s", path, strerror(errno));
		close(fd);
		return s;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return vdb_fail(VDB_ENOENT, "%s: %s, not a regular file (an index is a file written "
		                "by vdb-build)", path, vdb_file_kind(st.st_mode));
	}
	size_t size = (size_t)st.st_size;
	unsigned char first[8] = { 0 };
	ssize_t got = pread(fd, first, sizeof first, 0);
	if (got < (ssize_t)sizeof MAGIC || memcmp(first, MAGIC, sizeof MAGIC) != 0) {
		close(fd);
		return vdb_fail(VDB_ECORRUPT, "%s: not a vdb index (bad magic)", path);
	}
	if (first[6] > VDB_FORMAT_MAJOR) {
		close(fd);
		return vdb_fail(VDB_EVERSION, "%s: index format %u is newer than this vdb (%u); upgrade vdb",
		                path, first[6], VDB_FORMAT_MAJOR);
	}
	if (size < VDB_HEADER_SIZE) {
		close(fd);
		return vdb_fail(VDB_ECORRUPT, "%s: truncated (%zu bytes; the header alone is %u)",
		                path, size, VDB_HEADER_SIZE);
	}
	void *map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return vdb_fail(VDB_EIO, "%s: mmap failed: %s", path, strerror(errno));
	const unsigned char *b = map;
	vdb_status s = VDB_OK;
	vdb_header h;
	if (get64(b + CHECKSUM_OFF) != XXH3_64bits(b, CHECKSUM_OFF)) {
		s = vdb_fail(VDB_ECORRUPT, "%s: header checksum mismatch (corrupt index)", path);
		goto fail;
	}
	header_decode(b, &h);
	if (h.nsections > VDB_MAX_SECTIONS) {
		s = vdb_fail(VDB_ECORRUPT, "%s: %u sections (at most %u)", path, h.nsections,
		             VDB_MAX_SECTIONS);
		goto fail;
	}
	for (unsigned i = 0; i < h.nsections; i++) {
		const vdb_section *sc = &h.sec[i];
		char k[5];
		uint64_t end;
		if (sc->offset % VDB_ALIGN || sc->offset < VDB_HEADER_SIZE ||
		    __builtin_add_overflow(sc->offset, sc->length, &end) || end > size) {
			s = vdb_fail(VDB_ECORRUPT,
			             "%s: section %s (offset %llu, length %llu) lies outside the "
			             "file of %zu bytes (truncated?)", path, vdb_fourcc_str(sc->kind, k),
			             (unsigned long long)sc->offset, (unsigned long long)sc->length, size);
			goto fail;
		}
	}
	vdb_file *f = calloc(1, sizeof *f);
	char *pcopy = strdup(path);
	if (!f || !pcopy) {
		free(f);
		free(pcopy);
		s = vdb_fail(VDB_ENOMEM, "out of memory");
		goto fail;
	}
	f->path = pcopy;
	f->map = map;
	f->size = size;
	f->h = h;
	*out = f;
	return VDB_OK;
fail:
	munmap(map, size);
	return s;
}

const void *vdb_file_section(const vdb_file *f, uint32_t kind, size_t *len)
{
	for (unsigned i = 0; i < f->h.nsections; i++)
		if (f->h.sec[i].kind == kind) {
			*len = (size_t)f->h.sec[i].length;
			return f->map + f->h.sec[i].offset;
		}
	*len = 0;
	return NULL;
}

vdb_status vdb_file_verify(const vdb_file *f)
{
	for (unsigned i = 0; i < f->h.nsections; i++) {
		const vdb_section *sc = &f->h.sec[i];
		char k[5];
		if (XXH3_64bits(f->map + sc->offset, (size_t)sc->length) != sc->xxh3)
			return vdb_fail(VDB_ECORRUPT, "%s: section %s: checksum mismatch (corrupt index)",
			                f->path, vdb_fourcc_str(sc->kind, k));
	}
	return VDB_OK;
}

bool vdb_file_advise_random(const void *p, size_t len, size_t limit)
{
	if (!p || !len || len < limit)
		return false;
	long page = sysconf(_SC_PAGESIZE);
	uintptr_t a = (uintptr_t)p, start = a & ~((uintptr_t)page - 1);
	/* advice only: a refusal changes no result */
	return madvise((void *)start, len + (a - start), MADV_RANDOM) == 0;
}

size_t vdb_file_random_limit(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
	return pages > 0 && page > 0 ? (size_t)pages / 4 * (size_t)page : SIZE_MAX;
}

void vdb_file_close(vdb_file *f)
{
	if (!f)
		return;
	munmap((void *)f->map, f->size);
	free(f->path);
	free(f);
}

vdb_status vdb_file_remove_stale(const char *path, size_t *removed)
{
	*removed = 0;
	char *dcopy = strdup(path), *bcopy = strdup(path);
	if (!dcopy || !bcopy) {
		free(dcopy), free(bcopy);
		return vdb_fail(VDB_ENOMEM, "out of memory");
	}
	const char *dir = dirname(dcopy), *base = basename(bcopy);
	size_t blen = strlen(base);
	vdb_status s = VDB_OK;
	DIR *d = opendir(dir);
	if (!d)
		s = vdb_fail(VDB_EIO, "%s: cannot list %s: %s", path, dir, strerror(errno));
	for (struct dirent *e; d && (e = readdir(d));) {
		/* exactly the names vdb_file_create gives: PATH.tmp. and 6 characters */
		const char *n = e->d_name;
		if (strncmp(n, base, blen) || strncmp(n + blen, ".tmp.", 5) || strlen(n + blen + 5) != 6)
			continue;
		char full[4096];
		if (snprintf(full, sizeof full, "%s/%s", dir, n) >= (int)sizeof full)
			continue;
		if (unlink(full) == 0)
			(*removed)++;
		else if (errno != ENOENT)
			s = vdb_fail(VDB_EIO, "%s: cannot remove %s: %s", path, full, strerror(errno));
	}
	if (d)
		closedir(d);
	free(dcopy), free(bcopy);
	return s;
}
