/*
 * sweep_report.c — what a sweep prints and draws: rows as an aligned table,
 * CSV or JSON Lines; reference curves read from CSV; the recall against
 * queries-per-second plot (and others, such as the fusion sweep's nDCG
 * against alpha), drawn by gnuplot.
 *
 * Rows are written one at a time, as each setting is measured, so a long
 * sweep shows its progress and a killed one keeps what it had measured. The
 * table's columns therefore have fixed widths (the index column is as wide
 * as the caller says: the longest name it will print).
 *
 * The reference CSV format (what a benchmark of another system writes):
 * a header line naming at least the columns system, setting, recall and qps,
 * in any order, other columns ignored; one row per point: recall@k in 0..1
 * and queries per second on one thread (> 0). An optional threads column
 * keeps only its rows with threads = 1. Fields may be quoted as in RFC 4180;
 * blank lines and lines starting with '#' are skipped.
 *
 * Plots: gnuplot reads a script written here from an unlinked temporary
 * file (no quoting of paths through a shell, no SIGPIPE if it stops early)
 * and writes the picture to a temporary file beside the target, renamed
 * over it on success, so a failed plot leaves no partial picture. Its
 * messages are captured and returned in the error, never printed.
 */
#include "file.h"
#include "jsonout.h"
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

vdb_status vdb_report_format_parse(const char *s, vdb_report_format *out)
{
	if (!strcmp(s, "table"))
		*out = VDB_REPORT_TABLE;
	else if (!strcmp(s, "csv"))
		*out = VDB_REPORT_CSV;
	else if (!strcmp(s, "json"))
		*out = VDB_REPORT_JSON;
	else
		return vdb_fail(VDB_EINVAL, "'%s' is not a report format (expected table, csv or json)",
		                s);
	return VDB_OK;
}

/* ===== Rows ===== */
#define TYPE_W 6
#define SETTING_W 12

static vdb_status stream_ok(FILE *f)
{
	if (ferror(f))
		return vdb_fail(VDB_EIO, "writing the report failed: %s", strerror(errno));
	return VDB_OK;
}

static int recall_width(size_t k)
{
	char h[32];
	int n = snprintf(h, sizeof h, "recall@%zu", k);
	return n > 10 ? n : 10;
}

vdb_status vdb_sweep_write_header(FILE *f, vdb_report_format fmt, size_t k, int threads,
                                  int label_width)
{
	char rk[32], qa[32];
	switch (fmt) {
	case VDB_REPORT_TABLE:
		snprintf(rk, sizeof rk, "recall@%zu", k);
		snprintf(qa, sizeof qa, "qps/%dt", threads);
		fprintf(f, "%-*s  %-*s  %-*s  %8s  %*s  %10s  %9s  %9s  %8s  %8s  %8s  %8s  %8s  %s\n",
		        label_width, "index", TYPE_W, "type", SETTING_W, "setting", "recall@1",
		        recall_width(k), rk, "recall@100", "qps/1t", qa, "p50/ms", "p95/ms", "p99/ms",
		        "max/ms", "size/MB", "params");
		break;
	case VDB_REPORT_CSV:
		/* a column per search setting of the index types (ef, nprobe, probes) */
		fputs("time,index,type,metric,count,dim,bytes,params,k,queries,threads,runs,setting,",
		      f);
		for (size_t i = 0; vdb_knob_at(i); i++)
			fprintf(f, "%s,", vdb_knob_at(i)->name);
		fputs("recall_at_1,recall,recall_at_100,qps,qps_all,p50_ms,p95_ms,p99_ms,max_ms\n", f);
		break;
	case VDB_REPORT_JSON:
		break;
	}
	return stream_ok(f);
}

/* A CSV field, quoted when it must be (RFC 4180). */
static void csv_field(FILE *f, const char *s)
{
	if (!s[strcspn(s, ",\"\r\n")] && !isspace((unsigned char)s[0])) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void setting_text(const vdb_sweep_row *row, char *buf, size_t n)
{
	if (row->info->knob && row->setting)
		snprintf(buf, n, "%s=%u", row->info->knob, row->setting);
	else
		buf[0] = 0;
}

static void iso_time(int64_t t, char *buf, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm) || !strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, n, "%lld", (long long)t);
}

/* Figures rounded to what they mean (the clock's nanoseconds, a millionth
 * of recall), so JSON shows 0.006389 rather than 0.006389000191. */
static json_t *rounded(double x, double unit)
{
	return json_real(round(x / unit) * unit);
}

static vdb_status write_json(FILE *f, const vdb_sweep_row *row, const char *setting,
                             const char *when)
{
	const vdb_sweep_result *r = &row->r;
	const char *knob = row->info->knob;
	json_t *o = json_object();
	json_t *params = json_loads(row->info->params_json, 0, NULL);
	json_object_set_new(o, "time", json_string(when));
	json_object_set_new(o, "index", json_string(row->label));
	json_object_set_new(o, "type", json_string(vdb_index_type(row->ix)));
	json_object_set_new(o, "metric", json_string(vdb_metric_name(vdb_index_metric(row->ix))));
	json_object_set_new(o, "count", json_integer((json_int_t)vdb_index_count(row->ix)));
	json_object_set_new(o, "dim", json_integer(vdb_index_dim(row->ix)));
	json_object_set_new(o, "bytes", json_integer((json_int_t)row->info->bytes));
	json_object_set_new(o, "params", params ? params : json_object());
	json_object_set_new(o, "k", json_integer((json_int_t)row->k));
	json_object_set_new(o, "queries", json_integer((json_int_t)row->queries));
	json_object_set_new(o, "threads", json_integer(r->threads));
	json_object_set_new(o, "runs", json_integer(row->runs));
	json_object_set_new(o, "setting", json_string(setting));
	for (size_t i = 0; vdb_knob_at(i); i++) { /* each search setting: this row's, or null */
		const char *name = vdb_knob_at(i)->name;
		bool mine = knob && row->setting && !strcmp(knob, name);
		json_object_set_new(o, name, mine ? json_integer(row->setting) : json_null());
	}
	json_object_set_new(o, "recall_at_1", rounded(r->recall_1, 1e-6));
	json_object_set_new(o, "recall", rounded(r->recall_k, 1e-6));
	json_object_set_new(o, "recall_at_100", r->recall_100 >= 0 ? rounded(r->recall_100, 1e-6)
	                                                           : json_null());
	json_object_set_new(o, "qps", rounded(r->qps_1, 0.1));
	json_object_set_new(o, "qps_all", rounded(r->qps_all, 0.1));
	json_object_set_new(o, "p50_ms", rounded(r->p50 * 1e3, 1e-6));
	json_object_set_new(o, "p95_ms", rounded(r->p95 * 1e3, 1e-6));
	json_object_set_new(o, "p99_ms", rounded(r->p99 * 1e3, 1e-6));
	json_object_set_new(o, "max_ms", rounded(r->max * 1e3, 1e-6));
	return vdb_json_line(f, o);
}

vdb_status vdb_sweep_write_row(FILE *f, vdb_report_format fmt, const vdb_sweep_row *row,
                               int label_width)
{
	const vdb_sweep_result *r = &row->r;
	const char *knob = row->info->knob;
	char setting[64], when[40], r100[32];
	setting_text(row, setting, sizeof setting);
	iso_time(row->time, when, sizeof when);
	vdb_status s = VDB_OK;
	switch (fmt) {
	case VDB_REPORT_TABLE:
		if (r->recall_100 >= 0)
			snprintf(r100, sizeof r100, "%.4f", r->recall_100);
		else
			snprintf(r100, sizeof r100, "-");
		fprintf(f, "%-*s  %-*s  %-*s  %8.4f  %*.4f  %10s  %9.0f  %9.0f  %8.3f  %8.3f  %8.3f  "
		        "%8.3f  %8.1f  %s\n", label_width, row->label, TYPE_W, vdb_index_type(row->ix),
		        SETTING_W, setting[0] ? setting : "-", r->recall_1, recall_width(row->k),
		        r->recall_k, r100, r->qps_1, r->qps_all, r->p50 * 1e3, r->p95 * 1e3,
		        r->p99 * 1e3, r->max * 1e3, (double)row->info->bytes / (1024.0 * 1024.0),
		        row->info->params);
		break;
	case VDB_REPORT_CSV: {
		fprintf(f, "%s,", when);
		csv_field(f, row->label);
		fprintf(f, ",%s,%s,%zu,%u,%llu,", vdb_index_type(row->ix),
		        vdb_metric_name(vdb_index_metric(row->ix)), vdb_index_count(row->ix),
		        vdb_index_dim(row->ix), (unsigned long long)row->info->bytes);
		csv_field(f, row->info->params);
		fprintf(f, ",%zu,%zu,%d,%u,%s,", row->k, row->queries, r->threads, row->runs, setting);
		for (size_t i = 0; vdb_knob_at(i); i++) {
			if (knob && row->setting && !strcmp(knob, vdb_knob_at(i)->name))
				fprintf(f, "%u", row->setting);
			fputc(',', f);
		}
		fprintf(f, "%.6f,%.6f,", r->recall_1, r->recall_k);
		if (r->recall_100 >= 0)
			fprintf(f, "%.6f", r->recall_100);
		fprintf(f, ",%.1f,%.1f,%.6f,%.6f,%.6f,%.6f\n", r->qps_1, r->qps_all, r->p50 * 1e3,
		        r->p95 * 1e3, r->p99 * 1e3, r->max * 1e3);
		break;
	}
	case VDB_REPORT_JSON:
		s = write_json(f, row, setting, when);
		break;
	}
	return s ? s : stream_ok(f);
}

/* ===== Curves and the reference CSV ===== */
vdb_status vdb_curve_add(vdb_curve *c, double recall, double qps)
{
	size_t cap = c->cap; /* both arrays grow alike: one capacity for the two */
	if (vdb_grow((void **)&c->recall, &cap, c->n + 1, sizeof(double), "curve") ||
	    vdb_grow((void **)&c->qps, &c->cap, c->n + 1, sizeof(double), "curve"))
		return VDB_ENOMEM;
	c->recall[c->n] = recall;
	c->qps[c->n++] = qps;
	return VDB_OK;
}

void vdb_curves_free(vdb_curve *c, size_t n)
{
	if (!c)
		return;
	for (size_t i = 0; i < n; i++) {
		free(c[i].title);
		free(c[i].recall);
		free(c[i].qps);
	}
	free(c);
}

#define MAX_FIELDS 64

/* Split one CSV record in place (line is NUL-terminated, without its line
 * end); fields point into line. Returns the field count, or -1 on a stray
 * quote. */
static int csv_split(char *line, char **field, int max)
{
	int n = 0;
	char *p = line;
	for (;;) {
		if (n == max)
			return n;
		char *out = p;
		field[n++] = p;
		if (*p == '"') {
			p++;
			for (;;) {
				if (!*p)
					return -1;
				if (*p == '"' && p[1] == '"') {
					*out++ = '"', p += 2;
				} else if (*p == '"') {
					p++;
					break;
				} else {
					*out++ = *p++;
				}
			}
			if (*p && *p != ',')
				return -1;
		} else {
			while (*p && *p != ',')
				*out++ = *p++;
		}
		int more = *p == ',';
		if (*p)
			p++;
		*out = 0;
		if (!more)
			return n;
	}
}

static int column(char **field, int n, const char *name)
{
	for (int i = 0; i < n; i++) {
		const char *f = field[i];
		while (isspace((unsigned char)*f))
			f++;
		size_t len = strlen(f);
		while (len && isspace((unsigned char)f[len - 1]))
			len--;
		if (len == strlen(name) && !strncmp(f, name, len))
			return i;
	}
	return -1;
}

static int number(const char *s, double *out)
{
	char *end;
	errno = 0;
	*out = strtod(s, &end);
	while (isspace((unsigned char)*end))
		end++;
	return end != s && !*end && !errno && isfinite(*out);
}

static vdb_status curve_for(vdb_curve **c, size_t *n, size_t *cap, const char *title,
                            size_t *which)
{
	for (size_t i = 0; i < *n; i++)
		if (!strcmp((*c)[i].title, title)) {
			*which = i;
			return VDB_OK;
		}
	if (vdb_grow((void **)c, cap, *n + 1, sizeof **c, "reference curves"))
		return VDB_ENOMEM;
	vdb_curve *nc = &(*c)[*n];
	memset(nc, 0, sizeof *nc);
	nc->reference = 1;
	nc->title = strdup(title);
	VDB_RETURN_IF(!nc->title, VDB_ENOMEM, "out of memory for reference curves");
	*which = (*n)++;
	return VDB_OK;
}

vdb_status vdb_curves_load(const char *path, vdb_curve **out, size_t *nout)
{
	*out = NULL, *nout = 0;
	FILE *f = fopen(path, "rb");
	if (!f)
		return vdb_fail(VDB_ENOENT, "%s: %s", path, strerror(errno));
	vdb_curve *c = NULL;
	size_t n = 0, cap = 0;
	char *line = NULL;
	size_t lcap = 0;
	ssize_t len;
	long lineno = 0;
	int col_sys = -1, col_rec = -1, col_qps = -1, col_thr = -1, need = 0;
	vdb_status s = VDB_OK;
	char *field[MAX_FIELDS];
	while (!s && (len = getline(&line, &lcap, f)) >= 0) {
		lineno++;
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = 0;
		if ((size_t)len != strlen(line)) {
			s = vdb_fail(VDB_EFORMAT, "%s: line %ld: a NUL byte: not a CSV file", path, lineno);
			break;
		}
		const char *t = line;
		while (isspace((unsigned char)*t))
			t++;
		if (!*t || *t == '#')
			continue;
		int nf = csv_split(line, field, MAX_FIELDS);
		if (nf < 0) {
			s = vdb_fail(VDB_EFORMAT, "%s: line %ld: unbalanced quotes", path, lineno);
			break;
		}
		if (col_sys < 0) { /* the header */
			col_sys = column(field, nf, "system");
			int col_set = column(field, nf, "setting");
			col_rec = column(field, nf, "recall");
			col_qps = column(field, nf, "qps");
			col_thr = column(field, nf, "threads");
			if (col_sys < 0 || col_set < 0 || col_rec < 0 || col_qps < 0) {
				s = vdb_fail(VDB_EFORMAT, "%s: line %ld: the header must name the columns "
				             "system, setting, recall and qps", path, lineno);
				break;
			}
			need = col_sys > col_set ? col_sys : col_set;
			need = need > col_rec ? need : col_rec;
			need = need > col_qps ? need : col_qps;
			need = need > col_thr ? need : col_thr;
			continue;
		}
		if (nf <= need) {
			s = vdb_fail(VDB_EFORMAT, "%s: line %ld: %d fields, expected at least %d", path,
			             lineno, nf, need + 1);
			break;
		}
		double thr, rec, qps;
		if (col_thr >= 0 && *field[col_thr]) {
			if (!number(field[col_thr], &thr)) {
				s = vdb_fail(VDB_EFORMAT, "%s: line %ld: threads '%s' is not a number", path,
				             lineno, field[col_thr]);
				break;
			}
			if (thr != 1)
				continue;
		}
		if (!number(field[col_rec], &rec) || rec < 0 || rec > 1) {
			s = vdb_fail(VDB_EFORMAT, "%s: line %ld: recall '%s' is not a number in 0..1",
			             path, lineno, field[col_rec]);
			break;
		}
		if (!number(field[col_qps], &qps) || qps <= 0) {
			s = vdb_fail(VDB_EFORMAT, "%s: line %ld: qps '%s' is not a positive number", path,
			             lineno, field[col_qps]);
			break;
		}
		size_t which = 0;
		if (!(s = curve_for(&c, &n, &cap, field[col_sys], &which)))
			s = vdb_curve_add(&c[which], rec, qps);
	}
	if (!s && ferror(f))
		s = vdb_fail(VDB_EIO, "%s: read error: %s", path, strerror(errno));
	if (!s && col_sys < 0)
		s = vdb_fail(VDB_EFORMAT, "%s: empty: expected a header line naming system, setting, "
		             "recall and qps", path);
	free(line);
	fclose(f);
	if (s) {
		vdb_curves_free(c, n);
		return s;
	}
	*out = c, *nout = n;
	return VDB_OK;
}

/* ===== The plot ===== */

/* Where gnuplot is on the PATH (into buf), or VDB_EUNSUPPORTED. */
static vdb_status find_gnuplot(char *buf, size_t n)
{
	const char *path = getenv("PATH");
	if (!path || !*path)
		path = "/usr/bin:/bin";
	while (*path) {
		size_t len = strcspn(path, ":");
		int w = snprintf(buf, n, "%.*s/gnuplot", (int)len, len ? path : ".");
		struct stat st;
		if (w > 0 && (size_t)w < n && !stat(buf, &st) && S_ISREG(st.st_mode) &&
		    !access(buf, X_OK))
			return VDB_OK;
		path += len;
		if (*path == ':')
			path++;
	}
	return vdb_fail(VDB_EUNSUPPORTED, "gnuplot is not installed (not on the PATH); a plot "
	                "needs it (Debian: apt-get install gnuplot-nox)");
}

static int ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && !strcasecmp(s + a - b, suffix);
}

vdb_status vdb_plot_check(const char *path)
{
	VDB_RETURN_IF(!ends_with(path, ".svg") && !ends_with(path, ".png"), VDB_EINVAL,
	              "%s: a plot is .svg or .png", path);
	char exe[4096];
	vdb_atomic out;
	vdb_status s = vdb_output_file_check(path);
	if (!s)
		s = find_gnuplot(exe, sizeof exe);
	if (!s && !(s = vdb_atomic_open(&out, path)))
		vdb_atomic_abort(&out);
	return s;
}

/* A gnuplot single-quoted string: quotes doubled, control bytes dropped. */
static void gp_string(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; *s; s++) {
		if (*s == '\'')
			fputc('\'', f);
		if ((unsigned char)*s >= 0x20)
			fputc(*s, f);
	}
	fputc('\'', f);
}

/* The script: terminal by the target's extension, one data block and one
 * curve per series (references dashed; a level a horizontal line). */
static void write_script(FILE *f, const char *out, int png, const vdb_curve *c, size_t n,
                         const vdb_plot_axes *a)
{
	if (png)
		fputs("if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
		      "  set terminal pngcairo size 1000,700 font 'sans,10' background rgb 'white'\n"
		      "} else {\n  set terminal png size 1000,700 background rgb 'white'\n}\n", f);
	else
		fputs("set terminal svg size 1000,700 dynamic font 'sans,12' background rgb 'white'\n",
		      f);
	fputs("set termoption noenhanced\nset output ", f);
	gp_string(f, out);
	fputs("\nset xlabel ", f);
	gp_string(f, a->xlabel);
	fputs("\nset ylabel ", f);
	gp_string(f, a->ylabel);
	fprintf(f, "\n%sset grid\nset key %s box opaque\n"
	        "set offsets graph 0.02, graph 0.02, graph 0.05, graph 0.05\n"
	        "set style data linespoints\n", a->logy ? "set logscale y\n" : "", a->key);
	if (a->xmin < a->xmax)
		fprintf(f, "set xrange [%.9g:%.9g]\n", a->xmin, a->xmax);
	size_t shown = 0;
	for (size_t i = 0; i < n; i++) {
		if (!c[i].n || c[i].level)
			continue;
		fprintf(f, "$d%zu << EOD\n", i);
		for (size_t j = 0; j < c[i].n; j++)
			fprintf(f, "%.9g %.9g\n", c[i].recall[j], c[i].qps[j]);
		fputs("EOD\n", f);
	}
	fputs("plot ", f);
	for (size_t i = 0; i < n; i++) {
		if (!c[i].n)
			continue;
		fputs(shown++ ? ", \\\n     " : "", f);
		if (c[i].level)
			fprintf(f, "%.9g with lines lw 2 dt %d title ", c[i].qps[0],
			        c[i].reference ? 2 : 4);
		else
			fprintf(f, "$d%zu using 1:2 lw 2 pt 7 ps 0.8 %s title ", i,
			        c[i].reference ? "dt 2" : "dt 1");
		gp_string(f, c[i].title);
	}
	fputc('\n', f);
}

/* An unlinked temporary file, left open and inheritable (for the child). */
static int temp_fd(void)
{
	const char *dir = getenv("TMPDIR");
	char tmpl[4096];
	if (!dir || !*dir || snprintf(tmpl, sizeof tmpl, "%s/vdb-plot.XXXXXX", dir) >= (int)sizeof tmpl)
		snprintf(tmpl, sizeof tmpl, "/tmp/vdb-plot.XXXXXX");
	int fd = mkstemp(tmpl);
	if (fd >= 0)
		unlink(tmpl);
	return fd;
}

static vdb_status write_all(int fd, const char *buf, size_t n)
{
	while (n) {
		ssize_t w = write(fd, buf, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return vdb_fail(VDB_EIO, "writing the plot script failed: %s", strerror(errno));
		buf += w, n -= (size_t)w;
	}
	return VDB_OK;
}

/* Run gnuplot on the script in fd; its output (messages) into msg. */
static vdb_status run_gnuplot(int fd, char *msg, size_t msgn, int *status)
{
	char cmd[64];
	snprintf(cmd, sizeof cmd, "exec gnuplot <&%d 2>&1", fd);
	FILE *p = popen(cmd, "r");
	VDB_RETURN_IF(!p, VDB_EIO, "cannot start gnuplot: %s", strerror(errno));
	size_t got = 0;
	char chunk[512];
	size_t r;
	while ((r = fread(chunk, 1, sizeof chunk, p)) > 0)
		for (size_t i = 0; i < r && got + 1 < msgn; i++)
			msg[got++] = chunk[i];
	msg[got] = 0;
	*status = pclose(p);
	return VDB_OK;
}

/* The first line of gnuplot's messages that says what went wrong. */
static void first_error(char *msg)
{
	char *e = strstr(msg, "rror");
	char *start = e ? e : msg;
	while (start > msg && start[-1] != '\n')
		start--;
	while (isspace((unsigned char)*start))
		start++;
	size_t len = strcspn(start, "\n");
	memmove(msg, start, len);
	msg[len] = 0;
}

vdb_status vdb_plot(const char *path, const vdb_curve *c, size_t n, const char *xlabel)
{
	vdb_plot_axes a = { xlabel, "queries per second, one thread (log scale)", 1, "bottom left",
	                    0, 0 };
	return vdb_plot_axes_draw(path, c, n, &a);
}

vdb_status vdb_plot_axes_draw(const char *path, const vdb_curve *c, size_t n,
                              const vdb_plot_axes *a)
{
	int png = ends_with(path, ".png");
	VDB_RETURN_IF(!png && !ends_with(path, ".svg"), VDB_EINVAL,
	              "%s: a plot is .svg or .png", path);
	size_t points = 0;
	for (size_t i = 0; i < n; i++)
		points += c[i].n;
	VDB_RETURN_IF(!points, VDB_EINVAL, "nothing to plot");
	char exe[4096];
	vdb_status s = find_gnuplot(exe, sizeof exe);
	if (s)
		return s;

	/* the picture goes to a temporary file beside the target: gnuplot
	 * writes it by its name, the one atomic writer renames it into place */
	vdb_atomic out;
	if ((s = vdb_atomic_open(&out, path)))
		return s;

	char *script = NULL;
	size_t slen = 0;
	FILE *mf = open_memstream(&script, &slen);
	int sfd = -1;
	if (!mf) {
		s = vdb_fail(VDB_ENOMEM, "out of memory for the plot script");
		goto done;
	}
	write_script(mf, out.tmp, png, c, n, a);
	if (fclose(mf)) {
		s = vdb_fail(VDB_ENOMEM, "out of memory for the plot script");
		goto done;
	}
	if ((sfd = temp_fd()) < 0) {
		s = vdb_fail(VDB_EIO, "cannot create a temporary file for the plot script: %s",
		             strerror(errno));
		goto done;
	}
	if ((s = write_all(sfd, script, slen)))
		goto done;
	if (lseek(sfd, 0, SEEK_SET) < 0) {
		s = vdb_fail(VDB_EIO, "plot script: %s", strerror(errno));
		goto done;
	}
	char msg[2048];
	int status;
	if ((s = run_gnuplot(sfd, msg, sizeof msg, &status)))
		goto done;
	struct stat st;
	if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
			s = vdb_fail(VDB_EUNSUPPORTED, "gnuplot could not be run (Debian: apt-get "
			             "install gnuplot-nox)");
		} else {
			first_error(msg);
			s = vdb_fail(VDB_EINTERNAL, "gnuplot failed drawing %s: %s", path,
			             *msg ? msg : "no message");
		}
	} else if (fstat(out.fd, &st) || st.st_size == 0) {
		s = vdb_fail(VDB_EIO, "gnuplot wrote nothing to %s", path);
	}
done:
	if (s)
		vdb_atomic_abort(&out);
	else
		s = vdb_atomic_commit(&out);
	if (sfd >= 0)
		close(sfd);
	free(script);
	return s;
}
