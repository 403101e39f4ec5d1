/*
 * prom.c — metrics files in the Prometheus text format, for
 * node_exporter's textfile collector (or any scraper of such files).
 *
 * A cron job cannot be scraped while it runs, so it leaves its figures in a
 * file that the collector reads at its own pace. The collector may read at
 * any moment, so the file is replaced whole: written to NAME.tmp.XXXXXX in
 * the same directory (node_exporter reads only *.prom, so the temporary is
 * never read), synced and renamed over NAME. Reading back one value of the
 * previous file lets a failed run keep the last success's timestamp.
 */
#include "file.h"
#include <errno.h>
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
		if (s[i].help)
			fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", s[i].name, s[i].help, s[i].name,
			        s[i].type ? s[i].type : "gauge");
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

vdb_status vdb_prom_write(const char *path, const char *label, const char *value,
                          const vdb_prom_sample *s, size_t n)
{
	size_t len = strlen(path) + 16;
	char *tmp = vdb_malloc(len, "metrics file name");
	if (!tmp)
		return VDB_ENOMEM;
	snprintf(tmp, len, "%s.tmp.XXXXXX", path);
	int fd = mkstemp(tmp);
	if (fd < 0) {
		vdb_status st = vdb_fail(VDB_ECREATE, "%s: cannot create: %s", path, strerror(errno));
		free(tmp);
		return st;
	}
	/* mkstemp makes 0600; the collector may run as another user */
	mode_t um = umask(0);
	umask(um);
	(void)fchmod(fd, 0666 & ~um);
	FILE *f = fdopen(fd, "w");
	vdb_status st = VDB_OK;
	if (!f) {
		close(fd);
		st = vdb_fail(VDB_ENOMEM, "%s: %s", path, strerror(errno));
	} else {
		put_samples(f, label, value, s, n);
		int bad = fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0;
		bad |= fclose(f) != 0;
		if (bad)
			st = vdb_fail(VDB_EIO, "%s: write failed: %s", path, strerror(errno));
		else if (rename(tmp, path) != 0)
			st = vdb_fail(VDB_ECREATE, "%s: cannot rename %s into place: %s", path, tmp,
			              strerror(errno));
		else
			st = vdb_fsync_dir(path);
	}
	if (st)
		unlink(tmp);
	free(tmp);
	return st;
}

vdb_status vdb_prom_read(const char *path, const char *name, double *value)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return vdb_fail(VDB_ENOENT, "%s: %s", path, strerror(errno));
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
