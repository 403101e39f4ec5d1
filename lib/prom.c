/*
 * prom.c — metrics files in the Prometheus text format, for
 * node_exporter's textfile collector (or any scraper of such files).
 *
 * A cron job cannot be scraped while it runs, so it leaves its figures in a
 * file that the collector reads at its own pace. The collector may read at
 * any moment, so the file is replaced whole: written to NAME.tmp.XXXXXX in
 * the same directory (node_exporter reads only *.prom, so the temporary is
 * never read), synced and renamed over NAME (atomic.c, the one writer of
 * outputs replaced whole). Reading back one value of the
 * previous file lets a failed run keep the last success's timestamp.
 *
 * A NAME that is a character device or a FIFO (/dev/null, /dev/stderr's
 * terminal, a pipe a collector reads) is what a user means as a stream: the
 * metrics are written to it as they would be by the shell's `>`, never
 * replaced (as root a rename would put a regular file in /dev/null's
 * place), and nothing is read back from it. Any other NAME that is not a
 * regular file (a symbolic link, a directory, a block device, a socket) is
 * refused with VDB_ECREATE. The previous file is read back only from a
 * regular file, opened without blocking.
 */
#include "file.h"
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A label value with \, " and newline escaped, as the format wants. */
static void put_label_value(FILE *f, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', f), fputc(*v, f);
		else if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
}

static void put_value(FILE *f, double v)
{
	if (isnan(v))
		fputs("NaN", f);
	else if (isinf(v))
		fputs(v > 0 ? "+Inf" : "-Inf", f);
	else
		fprintf(f, "%.15g", v);
}

static void put_samples(FILE *f, const char *label, const char *value, const vdb_prom_sample *s,
                        size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i].help) {
			/* a histogram's family is named without its first sample's _bucket */
			int fam = (int)strlen(s[i].name);
			if (s[i].type && !strcmp(s[i].type, "histogram") && fam > 7 &&
			    !strcmp(s[i].name + fam - 7, "_bucket"))
				fam -= 7;
			fprintf(f, "# HELP %.*s %s\n# TYPE %.*s %s\n", fam, s[i].name, s[i].help, fam,
			        s[i].name, s[i].type ? s[i].type : "gauge");
		}
		fprintf(f, "%s{%s=\"", s[i].name, label);
		put_label_value(f, value);
		fputc('"', f);
		if (s[i].labels)
			fprintf(f, ",%s", s[i].labels);
		fputs("} ", f);
		put_value(f, s[i].value);
		fputc('\n', f);
	}
}

/* A character device or a FIFO: written as a stream. */
static int is_stream(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0 && (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode));
}

vdb_status vdb_prom_check(const char *path)
{
	return is_stream(path) ? VDB_OK : vdb_output_file_check(path);
}

/* Write to a device or FIFO as the shell's > would (a FIFO's open waits for
 * its reader); nothing is created, truncated or renamed. */
static vdb_status write_stream(const char *path, const char *label, const char *value,
                               const vdb_prom_sample *s, size_t n)
{
	int fd = open(path, O_WRONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
	struct stat sb;
	if (fd < 0)
		return vdb_fail(VDB_ECREATE, "%s: %s", path, strerror(errno));
	if (fstat(fd, &sb) != 0 || !(S_ISCHR(sb.st_mode) || S_ISFIFO(sb.st_mode))) {
		close(fd);
		return vdb_fail(VDB_ECREATE, "%s: changed while it was opened", path);
	}
	FILE *f = fdopen(fd, "w");
	if (!f) {
		vdb_status e = vdb_fail(VDB_ENOMEM, "%s: %s", path, strerror(errno));
		close(fd);
		return e;
	}
	put_samples(f, label, value, s, n);
	int bad = fflush(f) != 0 || ferror(f);
	bad |= fclose(f) != 0;
	return bad ? vdb_fail(VDB_EIO, "%s: write failed: %s", path, strerror(errno)) : VDB_OK;
}

vdb_status vdb_prom_write(const char *path, const char *label, const char *value,
                          const vdb_prom_sample *s, size_t n)
{
	if (is_stream(path))
		return write_stream(path, label, value, s, n);
	vdb_atomic a;
	vdb_status st = vdb_atomic_open(&a, path);
	if (st)
		return st;
	FILE *f = vdb_atomic_stream(&a);
	if (!f) {
		vdb_atomic_abort(&a);
		return VDB_ENOMEM;
	}
	put_samples(f, label, value, s, n);
	return vdb_atomic_commit(&a);
}

vdb_status vdb_prom_read(const char *path, const char *name, double *value)
{
	/* only a regular file: a FIFO's data is not ours to read, nor a device's */
	struct stat sb;
	if (lstat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
		return vdb_fail(VDB_ENOENT, "%s: no previous metrics file", path);
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	FILE *f = fd < 0 ? NULL : fdopen(fd, "r");
	if (!f) {
		vdb_status s = vdb_fail(VDB_ENOENT, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return s;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		fclose(f);
		return vdb_fail(VDB_ENOENT, "%s: no previous metrics file", path);
	}
	char *line = NULL;
	size_t cap = 0, nlen = strlen(name);
	vdb_status st = vdb_fail(VDB_ENOENT, "%s: no sample %s", path, name);
	while (getline(&line, &cap, f) > 0) {
		if (strncmp(line, name, nlen) || (line[nlen] != '{' && line[nlen] != ' '))
			continue;
		/* the value is the line's last field */
		char *end = line + strcspn(line, "\n");
		*end = 0;
		char *sp = strrchr(line, ' '), *stop;
		double v = sp ? strtod(sp + 1, &stop) : 0;
		if (sp && stop != sp + 1 && !*stop) {
			*value = v;
			st = VDB_OK;
		} else
			st = vdb_fail(VDB_EFORMAT, "%s: %s: not a number", path, name);
		break;
	}
	free(line);
	fclose(f);
	return st;
}
