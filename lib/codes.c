/*
 * codes.c — code files (what vdb-quantize encode writes and decode reads)
 * and the fvecs writer.
 *
 * A code file is a sequence of records, each a little-endian int32 byte
 * count and then that many bytes: the bvecs layout, so the TEXMEX tools
 * (and vdb's own bvecs reader, for codes up to 65536 bytes) read it. All
 * records of one file have the quantizer's code size; a record of another
 * size means the codes came from another quantizer, and is an error that
 * names the input and the record.
 *
 * Streams are stdio, read and written in blocks by the caller; nothing
 * here allocates per record. The host is assumed little-endian, as
 * everywhere in vdb's file formats.
 */
#include "vdb_internal.h"
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

struct vdb_code_reader {
	FILE *f;
	int own;
	char *name;
	size_t code_size, records;
};

static vdb_status write_failed(void)
{
	return vdb_fail(VDB_EIO, "writing failed: %s", strerror(errno ? errno : EIO));
}

vdb_status vdb_codes_write(FILE *f, const uint8_t *codes, size_t n, size_t code_size)
{
	int32_t len = (int32_t)code_size;
	for (size_t i = 0; i < n; i++)
		if (fwrite(&len, 4, 1, f) != 1 ||
		    fwrite(codes + i * code_size, 1, code_size, f) != code_size)
			return write_failed();
	return VDB_OK;
}

vdb_status vdb_fvecs_write(FILE *f, const float *x, size_t n, uint32_t dim)
{
	int32_t d = (int32_t)dim;
	for (size_t i = 0; i < n; i++)
		if (fwrite(&d, 4, 1, f) != 1 || fwrite(x + i * dim, 4, dim, f) != dim)
			return write_failed();
	return VDB_OK;
}

vdb_status vdb_codes_open(vdb_code_reader **out, const char *path, size_t code_size)
{
	*out = NULL;
	int from_stdin = !path || !strcmp(path, "-");
	const char *name = from_stdin ? "stdin" : path;
	FILE *f = from_stdin ? stdin : fopen(path, "rb");
	if (!f)
		return vdb_fail(VDB_ENOENT, "%s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
		if (!from_stdin)
			fclose(f);
		return vdb_fail(VDB_ENOENT, "%s: is a directory", name);
	}
	vdb_code_reader *r = calloc(1, sizeof *r);
	char *copy = strdup(name);
	if (!r || !copy) {
		free(r), free(copy);
		if (!from_stdin)
			fclose(f);
		return vdb_fail(VDB_ENOMEM, "out of memory");
	}
	r->f = f, r->own = !from_stdin, r->name = copy, r->code_size = code_size;
	*out = r;
	return VDB_OK;
}

static vdb_status read_failed(const vdb_code_reader *r)
{
	return vdb_fail(VDB_EIO, "%s: record %zu: read failed: %s", r->name, r->records,
	                strerror(errno ? errno : EIO));
}

vdb_status vdb_codes_read(vdb_code_reader *r, uint8_t *codes, size_t max, size_t *got)
{
	*got = 0;
	const size_t cs = r->code_size;
	while (*got < max) {
		unsigned char hdr[4];
		errno = 0;
		size_t h = fread(hdr, 1, 4, r->f);
		if (h < 4 && ferror(r->f))
			return read_failed(r);
		if (h == 0)
			break;
		VDB_RETURN_IF(h < 4, VDB_EFORMAT,
		              "%s: record %zu: truncated (%zu bytes where a 4-byte length was "
		              "expected)", r->name, r->records, h);
		int32_t len;
		memcpy(&len, hdr, 4);
		VDB_RETURN_IF(len < 0 || (size_t)len != cs, VDB_EFORMAT,
		              "%s: record %zu: a code of %d bytes, but this quantizer's codes have "
		              "%zu (codes of another quantizer, or not a code file?)", r->name,
		              r->records, (int)len, cs);
		size_t b = fread(codes + *got * cs, 1, cs, r->f);
		if (b < cs && ferror(r->f))
			return read_failed(r);
		VDB_RETURN_IF(b < cs, VDB_EFORMAT,
		              "%s: record %zu: truncated (expected %zu bytes of code, got %zu)",
		              r->name, r->records, cs, b);
		r->records++;
		(*got)++;
	}
	VDB_RETURN_IF(*got == 0 && r->records == 0, VDB_EFORMAT, "%s: no codes in input",
	              r->name);
	return VDB_OK;
}

size_t vdb_codes_records(const vdb_code_reader *r)
{
	return r->records;
}

void vdb_codes_close(vdb_code_reader *r)
{
	if (!r)
		return;
	if (r->own)
		fclose(r->f);
	free(r->name);
	free(r);
}
