/*
 * error.c — status codes and the per-thread error message.
 *
 * Every failing library call fills a thread-local buffer through vdb_fail()
 * and returns the status; commands read it with vdb_last_error(). Inside
 * OpenMP regions each worker has its own buffer, so the code that records
 * the first error of a region copies the worker's message out (see knn.c).
 */
#include "vdb_internal.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_error[1024];

const char *vdb_strerror(vdb_status s)
{
	switch (s) {
	case VDB_OK: return "success";
	case VDB_EIO: return "I/O error";
	case VDB_ENOMEM: return "out of memory";
	case VDB_EFORMAT: return "malformed input";
	case VDB_EVERSION: return "index format too new";
	case VDB_ECORRUPT: return "corrupt index";
	case VDB_EINVAL: return "invalid argument";
	case VDB_ENOENT: return "cannot open input";
	case VDB_ECREATE: return "cannot create output";
	case VDB_EINTERNAL: return "internal error";
	case VDB_EUNSUPPORTED: return "not supported";
	case VDB_EBUSY: return "locked by another process";
	}
	return "unknown status";
}

const char *vdb_last_error(void)
{
	return last_error;
}

vdb_status vdb_fail(vdb_status s, const char *fmt, ...)
{
	/* through a copy: the arguments may include vdb_last_error() itself,
	 * to prefix it */
	char msg[sizeof last_error];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	memcpy(last_error, msg, sizeof msg);
	return s;
}

const char *vdb_version(void)
{
	return PACKAGE_VERSION;
}

void *vdb_malloc(size_t n, const char *what)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		vdb_fail(VDB_ENOMEM, "out of memory allocating %zu bytes for %s", n, what);
	return p;
}

void *vdb_realloc(void *p, size_t n, const char *what)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		vdb_fail(VDB_ENOMEM, "out of memory allocating %zu bytes for %s", n, what);
	return q;
}

vdb_status vdb_grow(void **buf, size_t *cap, size_t need, size_t es, const char *what)
{
	if (need <= *cap)
		return VDB_OK;
	size_t c = *cap ? *cap : 16;
	while (c < need)
		VDB_RETURN_IF(!vdb_mul_ok(c, 2, &c), VDB_ENOMEM, "%s: size overflow", what);
	size_t bytes;
	VDB_RETURN_IF(!vdb_mul_ok(c, es, &bytes), VDB_ENOMEM, "%s: size overflow", what);
	void *p = vdb_realloc(*buf, bytes, what);
	if (!p)
		return VDB_ENOMEM;
	*buf = p;
	*cap = c;
	return VDB_OK;
}
