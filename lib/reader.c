/*
 * reader.c — opening inputs, detecting their format, buffered reading.
 *
 * Inputs are streamed, never slurped: vdb-query answers queries batch by
 * batch while its stdin is still open, and ground truth streams a base that
 * need not fit in memory. Reading uses read(2) into our own buffer rather
 * than stdio so that a batch can end early when a pipe has nothing more
 * waiting (poll with a zero timeout): a user typing queries, or a producer
 * that pauses, gets answers for what it already sent.
 *
 * Detection peeks at the first bytes without consuming them, so it works
 * on pipes: '{' as the first non-blank byte is JSONL; otherwise the file
 * extension decides, and fvecs is the default (bvecs for binary vectors,
 * so that vdb-quantize's binary codes can be piped in as they are).
 */
#include "reader_internal.h"
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#define BUF_SIZE (1u << 20)

static const char *const fmt_names[] = { "auto", "fvecs", "ivecs", "bvecs", "jsonl" };

const char *vdb_format_name(vdb_format f)
{
	return (unsigned)f <= VDB_FMT_JSONL ? fmt_names[f] : "unknown";
}

vdb_status vdb_format_parse(const char *s, vdb_format *out)
{
	for (int f = VDB_FMT_AUTO; f <= VDB_FMT_JSONL; f++)
		if (!strcmp(s, fmt_names[f])) {
			*out = (vdb_format)f;
			return VDB_OK;
		}
	return vdb_fail(VDB_EINVAL, "unknown format '%s' (expected auto, fvecs, ivecs, bvecs or jsonl)",
	                s);
}

vdb_status vdb_rd_want(vdb_reader *r, size_t n, size_t *avail)
{
	while (r->len - r->pos < n && !r->eof) {
		if (r->pos > 0 && (r->cap - r->len < n || r->pos == r->len)) {
			memmove(r->buf, r->buf + r->pos, r->len - r->pos);
			r->len -= r->pos;
			r->pos = 0;
		}
		if (r->cap - r->pos < n) {
			size_t c = r->cap;
			while (c - r->pos < n)
				c *= 2;
			unsigned char *b = vdb_realloc(r->buf, c, "input buffer");
			if (!b)
				return VDB_ENOMEM;
			r->buf = b;
			r->cap = c;
		}
		ssize_t got = read(r->fd, r->buf + r->len, r->cap - r->len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return vdb_fail(VDB_EIO, "%s: read error: %s", r->name, strerror(errno));
		if (got == 0)
			r->eof = 1;
		r->len += (size_t)got;
	}
	*avail = r->len - r->pos;
	return VDB_OK;
}

int vdb_rd_would_block(vdb_reader *r)
{
	if (r->eof)
		return 0;
	struct pollfd p = { .fd = r->fd, .events = POLLIN };
	return poll(&p, 1, 0) == 0;
}

static vdb_format by_extension(const char *path)
{
	const char *dot = strrchr(path, '.');
	if (dot && !strcmp(dot, ".ivecs"))
		return VDB_FMT_IVECS;
	if (dot && !strcmp(dot, ".bvecs"))
		return VDB_FMT_BVECS;
	if (dot && (!strcmp(dot, ".jsonl") || !strcmp(dot, ".json") || !strcmp(dot, ".ndjson")))
		return VDB_FMT_JSONL;
	return VDB_FMT_FVECS;
}

static vdb_status detect(vdb_reader *r, const char *path)
{
	const char *dot;
	/* skip blanks without consuming them; a binary dimension is never all blanks */
	for (size_t i = 0;; i++) {
		size_t avail;
		vdb_status s = vdb_rd_want(r, i + 1, &avail);
		if (s)
			return s;
		if (avail <= i)
			break; /* empty or all blank: the record reader reports it */
		unsigned char c = r->buf[r->pos + i];
		if (c == '{') {
			r->fmt = VDB_FMT_JSONL;
			return VDB_OK;
		}
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
	}
	r->fmt = path ? by_extension(path) : VDB_FMT_FVECS;
	r->guessed = r->fmt == VDB_FMT_FVECS && !(path && (dot = strrchr(path, '.')) &&
	                                         !strcmp(dot, ".fvecs"));
	return VDB_OK;
}

vdb_status vdb_reader_open(vdb_reader **out, const char *path, vdb_format fmt)
{
	*out = NULL;
	int is_stdin = !path || !strcmp(path, "-");
	vdb_reader *r = calloc(1, sizeof *r);
	if (!r)
		return vdb_fail(VDB_ENOMEM, "out of memory");
	r->name = strdup(is_stdin ? "stdin" : path);
	r->buf = malloc(BUF_SIZE);
	r->cap = BUF_SIZE;
	if (!r->name || !r->buf) {
		vdb_reader_close(r);
		return vdb_fail(VDB_ENOMEM, "out of memory");
	}
	if (is_stdin)
		r->fd = STDIN_FILENO;
	else {
		r->fd = open(path, O_RDONLY | O_CLOEXEC);
		if (r->fd < 0) {
			vdb_status s = vdb_fail(VDB_ENOENT, "%s: cannot open: %s", path, strerror(errno));
			r->fd = -1;
			vdb_reader_close(r);
			return s;
		}
		r->own_fd = 1;
		struct stat st;
		if (!fstat(r->fd, &st) && S_ISDIR(st.st_mode)) {
			vdb_reader_close(r);
			return vdb_fail(VDB_ENOENT, "%s: cannot open: a directory", path);
		}
#ifdef POSIX_FADV_SEQUENTIAL
		posix_fadvise(r->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
	}
	r->fmt = fmt;
	if (fmt == VDB_FMT_AUTO) {
		vdb_status s = detect(r, is_stdin ? NULL : path);
		if (s) {
			vdb_reader_close(r);
			return s;
		}
	}
	*out = r;
	return VDB_OK;
}

vdb_status vdb_rd_line(vdb_reader *r, const char **line, size_t *len, bool *got)
{
	*got = false;
	for (size_t from = 0;;) {
		size_t have = r->len - r->pos;
		const char *start = (const char *)r->buf + r->pos;
		const char *nl = memchr(start + from, '\n', have - from);
		size_t n = nl ? (size_t)(nl - start) : have;
		VDB_RETURN_IF(n > VDB_MAX_LINE, VDB_EFORMAT, "%s: line %zu is longer than the limit "
		              "of %u MiB (VDB_MAX_LINE)", r->name, r->line + 1, VDB_MAX_LINE >> 20);
		if (nl || (r->eof && have)) { /* a last line may lack its newline */
			*line = start;
			*len = n;
			*got = true;
			r->pos += n + (nl != NULL);
			r->line++;
			return VDB_OK;
		}
		if (r->eof)
			return VDB_OK;
		from = have;
		vdb_status s = vdb_rd_want(r, have + 1, &have);
		if (s)
			return s;
	}
}

bool vdb_blank_line(const char *s, size_t n)
{
	size_t i = 0;
	while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r'))
		i++;
	return i == n;
}

vdb_status vdb_reader_read(vdb_reader *r, vdb_vecs *v, size_t max, size_t *got)
{
	*got = 0;
	int jsonl = r->fmt == VDB_FMT_JSONL;
	while (max == 0 || *got < max) {
		/* a batch ends early rather than wait on a quiet pipe */
		if (max != 0 && *got > 0 && !(jsonl ? vdb_jsonl_record_buffered(r) : vdb_vecs_record_buffered(r)) &&
		    vdb_rd_would_block(r))
			break;
		int one;
		vdb_status s = jsonl ? vdb_read_jsonl_record(r, v, &one) : vdb_read_vecs_record(r, v, &one);
		if (s)
			return s;
		if (!one)
			break;
		(*got)++;
		r->records++;
	}
	if (r->records == 0) {
		r->empty = 1;
		return vdb_fail(VDB_EFORMAT, "%s: no vectors in input", r->name);
	}
	return VDB_OK;
}

vdb_format vdb_reader_format(const vdb_reader *r) { return r->fmt; }
const char *vdb_reader_name(const vdb_reader *r) { return r->name; }
size_t vdb_reader_records(const vdb_reader *r) { return r->records; }
size_t vdb_reader_line(const vdb_reader *r) { return r->line; }
int vdb_reader_empty(const vdb_reader *r) { return r->empty; }

void vdb_reader_close(vdb_reader *r)
{
	if (!r)
		return;
	if (r->own_fd && r->fd >= 0)
		close(r->fd);
	free(r->name);
	free(r->buf);
	free(r->line_buf);
	free(r);
}
