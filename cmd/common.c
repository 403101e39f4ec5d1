/*
 * common.c — the command-line conventions shared by the vdb-* commands.
 *
 * Messages are "vdb-x: error: ..." on stderr; library messages already name
 * the input and record. Exit statuses follow sysexits (see vdb(7)). A reader
 * that goes away (`| head`) ends the command quietly: with the default
 * SIGPIPE disposition the kernel does it (status 141); when SIGPIPE is
 * ignored by a parent, EPIPE is caught here and treated the same.
 *
 * Indexes are mapped, and a file changed in place under a mapping (a `cp`
 * over it truncates it first) raises SIGBUS in whoever reads a page past
 * its new end. The commands name the files they map (cmd_watch_index) and
 * a SIGBUS handler installed then reports it as an I/O error (74) naming
 * the file, with async-signal-safe calls only. The library installs no
 * handler: a process-wide disposition is the program's to choose.
 */
#include "common.h"
#include "config.h"
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char *cmd_name = "vdb";
cmd_common cmd_opts;
const char *const *cmd_config_each;
bool cmd_in_config;
static char out_buf[1 << 16];
/* the config file and line being parsed: usage errors name them */
static const char *cfg_file;
static int cfg_line;

void cmd_init(const char *name)
{
	cmd_name = name;
	setvbuf(stdout, out_buf, _IOFBF, sizeof out_buf);
	vdb_blas_single_thread();
	/* a VDB_SIMD naming no level this machine runs is a usage error (64) */
	vdb_status s = vdb_simd_check();
	if (s)
		cmd_die(s);
}

int cmd_exit_code(vdb_status s)
{
	switch (s) {
	case VDB_OK: return 0;
	case VDB_EFORMAT: case VDB_ECORRUPT: case VDB_EVERSION: return EXIT_DATAERR;
	case VDB_ENOENT: return EXIT_NOINPUT;
	case VDB_ECREATE: return EXIT_CANTCREAT;
	case VDB_EIO: return EXIT_IOERR;
	case VDB_EINVAL: case VDB_EUNSUPPORTED: return EXIT_USAGE;
	case VDB_ENOMEM: case VDB_EINTERNAL: return EXIT_SOFTWARE;
	case VDB_EBUSY: return EXIT_TEMPFAIL;
	}
	return EXIT_SOFTWARE;
}

static void record_failure(int code);
static vdb_lock *held_lock; /* released by a failure's exit (cmd_lock_hold) */

void cmd_die(vdb_status s)
{
	cmd_progress_end();
	fflush(stdout);
	fprintf(stderr, "%s: error: %s\n", cmd_name,
	        *vdb_last_error() ? vdb_last_error() : vdb_strerror(s));
	record_failure(cmd_exit_code(s));
	cmd_lock_release(held_lock);
	exit(cmd_exit_code(s));
}

void cmd_usage_error(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: error: ", cmd_name);
	if (cfg_file)
		fprintf(stderr, "%s: line %d: ", cfg_file, cfg_line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s --help' for more information.\n", cmd_name);
	record_failure(EXIT_USAGE);
	cmd_lock_release(held_lock);
	exit(EXIT_USAGE);
}

void cmd_warn(const char *fmt, ...)
{
	if (cmd_opts.quiet)
		return;
	va_list ap;
	fprintf(stderr, "%s: warning: ", cmd_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void cmd_set_check(vdb_index *const *ix, const char *const *names, size_t n)
{
	char *warning;
	vdb_status s = vdb_index_set_check((const vdb_index *const *)ix, names, n, &warning);
	if (s)
		cmd_die(s);
	for (char *w = warning, *nl; w; w = nl ? nl + 1 : NULL) {
		if ((nl = strchr(w, '\n')))
			*nl = 0;
		cmd_warn("%s", w);
	}
	free(warning);
	vdb_index_advise_search((const vdb_index *const *)ix, n);
}

void cmd_version(void)
{
	printf("%s %s (simd %s, openmp, openblas %s)\n", cmd_name, vdb_version(),
	       vdb_kernels_name(), vdb_blas_core());
}

size_t cmd_size(const char *opt, const char *val, size_t min, size_t max)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(val, &end, 10);
	if (!*val || *end || errno || val[0] == '-' || v < min || v > max)
		cmd_usage_error("%s: '%s' is not a whole number in %zu..%zu", opt, val, min, max);
	return (size_t)v;
}

double cmd_double(const char *opt, const char *val, double min, double max)
{
	char *end;
	errno = 0;
	double v = strtod(val, &end);
	if (!*val || *end || errno || !isfinite(v) || v < min || v > max)
		cmd_usage_error("%s: '%s' is not a number in %g..%g", opt, val, min, max);
	return v;
}

void cmd_metric(const char *val, vdb_metric *out)
{
	if (vdb_metric_parse(val, out))
		cmd_usage_error("--metric: %s", vdb_last_error());
}

void cmd_format(const char *val, vdb_format *out)
{
	if (vdb_format_parse(val, out))
		cmd_usage_error("--format: %s", vdb_last_error());
}

void cmd_output(const char *val, vdb_output *out)
{
	if (vdb_output_parse(val, out))
		cmd_usage_error("--output: %s", vdb_last_error());
}

static const char *opt_label(const struct option *lo, int opt, char *buf, size_t n)
{
	for (; lo->name; lo++)
		if (lo->val == opt) {
			snprintf(buf, n, "--%s", lo->name);
			return buf;
		}
	snprintf(buf, n, "-%c", opt);
	return buf;
}

/* What is wrong with a config file's "--key[=value]" that getopt refused. */
static __attribute__((noreturn)) void config_key_error(const struct option *lo, const char *arg)
{
	const char *key = arg + 2;
	size_t len = strcspn(key, "=");
	for (; lo->name; lo++)
		if (strlen(lo->name) == len && !strncmp(lo->name, key, len)) {
			if (lo->has_arg == no_argument)
				cmd_usage_error("%s: a flag: give true or false", lo->name);
			cmd_usage_error("%s: needs a value", lo->name);
		}
	cmd_usage_error("unknown key '%.*s'", (int)len, key);
}

/* One getopt pass; from_config: argv came from a YAML file (lines for messages). */
static void parse_pass(int argc, char **argv, const char *shortopts,
                       const struct option *longopts, cmd_opt_fn fn, void *ctx,
                       void (*help)(void), const char *config, const int *lines)
{
	int opt, idx;
	char label[64];
	optind = 0;
	opterr = 0;
	cmd_in_config = config != NULL;
	while ((opt = getopt_long(argc, argv, shortopts, longopts, &idx)) != -1) {
		if (config) {
			cfg_file = config;
			cfg_line = lines[optind - 2 < 0 ? 0 : optind - 2];
		}
		switch (opt) {
		case '?':
		case ':': {
			const char *bad = argv[optind - 1];
			if (config)
				config_key_error(longopts, bad);
			if (optopt && opt == ':')
				cmd_usage_error("option %s needs a value",
				                opt_label(longopts, optopt, label, sizeof label));
			if (optopt)
				cmd_usage_error("unknown option '-%c'", optopt);
			cmd_usage_error("unknown option or missing value: '%s'", bad);
		}
		case 'h':
			if (config)
				break;
			help();
			exit(0);
		case OPT_VERSION:
			if (config)
				break;
			cmd_version();
			exit(cmd_finish());
		case 't':
			cmd_opts.threads = (int)cmd_size("--threads", optarg, 1, 4096);
			break;
		case 'q':
			/* a command whose -q takes a value (vdb-quantize -q FILE)
			 * keeps --quiet, which never does */
			if (optarg) {
				if (!fn(opt, optarg, ctx))
					cmd_usage_error("unknown option '-q'");
				break;
			}
			cmd_opts.quiet = true;
			break;
		case OPT_PROGRESS:
			cmd_opts.progress = true;
			break;
		case 'c':
			break;
		default:
			if (!fn(opt, optarg, ctx))
				cmd_usage_error("unknown option '%s'",
				                opt_label(longopts, opt, label, sizeof label));
		}
	}
	cfg_file = NULL;
	cmd_in_config = false;
}

/* The arguments of the config file, which option values point into. */
static char **config_argv;

int cmd_parse(int argc, char **argv, const char *shortopts, const struct option *longopts,
              cmd_opt_fn fn, void *ctx, void (*help)(void))
{
	/* a leading ':' makes getopt report a missing value as ':' */
	char so[128];
	snprintf(so, sizeof so, ":%s", shortopts);
	/* first pass: only to find --config (and fail early on unknown options) */
	const char *config = NULL;
	int opt, idx;
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, so, longopts, &idx)) != -1)
		if (opt == 'c')
			config = optarg;
	if (config) {
		int cargc;
		int *lines;
		vdb_status s = vdb_config_load(config, cmd_config_each, &cargc, &config_argv, &lines);
		char **cargv = config_argv;
		if (s)
			cmd_die(s);
		/* getopt wants argv[0] */
		char **full = malloc(sizeof(char *) * (size_t)(cargc + 2));
		int *flines = malloc(sizeof(int) * (size_t)(cargc + 2));
		if (!full || !flines)
			cmd_die(vdb_fail(VDB_ENOMEM, "out of memory"));
		full[0] = argv[0];
		for (int i = 0; i < cargc; i++)
			full[i + 1] = cargv[i], flines[i] = lines[i];
		full[cargc + 1] = NULL;
		parse_pass(cargc + 1, full, so, longopts, fn, ctx, help, config, flines);
		/* option values point into cargv, as they point into argv: it is kept
		 * for the life of the process (in config_argv) */
		free(full);
		free(flines);
		free(lines);
	}
	parse_pass(argc, argv, so, longopts, fn, ctx, help, NULL, NULL);
	if (cmd_opts.threads)
		vdb_set_threads(cmd_opts.threads);
	return optind;
}

/* ===== Progress ===== */
static bool progress_shown;

bool cmd_progress_on(void)
{
	return !cmd_opts.quiet && (cmd_opts.progress || isatty(STDERR_FILENO));
}

void cmd_progress(void *ctx, size_t done, size_t total)
{
	const char *what = ctx ? ctx : "";
	if (!cmd_progress_on())
		return;
	if (total)
		fprintf(stderr, "\r%s: %s %zu/%zu (%3.0f%%)", cmd_name, what, done, total,
		        100.0 * (double)done / (double)total);
	else
		fprintf(stderr, "\r%s: %s %zu", cmd_name, what, done);
	progress_shown = true;
}

void cmd_progress_end(void)
{
	if (progress_shown)
		fputc('\n', stderr);
	progress_shown = false;
}

/* ===== stdout ===== */
static void stdout_failed(void)
{
	if (errno == EPIPE)
		_exit(EXIT_PIPE);
	fprintf(stderr, "%s: error: writing to standard output failed: %s\n", cmd_name,
	        strerror(errno));
	_exit(EXIT_IOERR);
}

void cmd_check_stdout(void)
{
	if (fflush(stdout) != 0 || ferror(stdout))
		stdout_failed();
}

int cmd_finish(void)
{
	cmd_progress_end();
	errno = 0;
	if (fflush(stdout) != 0 || ferror(stdout))
		stdout_failed();
	if (fclose(stdout) != 0)
		stdout_failed();
	return 0;
}

double cmd_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

cmd_span cmd_span_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (cmd_span){ cmd_now(), (double)t.tv_sec + 1e-9 * (double)t.tv_nsec };
}

double cmd_span_add(cmd_span *sum, cmd_span start)
{
	cmd_span now = cmd_span_now();
	sum->wall += now.wall - start.wall;
	sum->cpu += now.cpu - start.cpu;
	return now.wall - start.wall;
}

void cmd_refuse_input_output(const char *input, const char *output)
{
	struct stat out, in;
	if (!output || stat(output, &out) || !S_ISREG(out.st_mode))
		return; /* nothing there yet, or not a file that a rename replaces */
	bool std = !input || !strcmp(input, "-");
	if ((std ? fstat(STDIN_FILENO, &in) : stat(input, &in)) == 0 && in.st_dev == out.st_dev &&
	    in.st_ino == out.st_ino)
		cmd_usage_error("%s is also an input (%s): writing it would destroy the input; "
		                "write the output elsewhere", output, std ? "standard input" : input);
}

/* Append every record of one input (path "-": stdin) to v; exits on error. */
bool cmd_read_all(const char *path, vdb_format fmt, vdb_vecs *v, bool allow_empty)
{
	return cmd_read_shard(path, fmt, v, allow_empty, NULL);
}

bool cmd_read_shard(const char *path, vdb_format fmt, vdb_vecs *v, bool allow_empty,
                    vdb_shard_filter *f)
{
	vdb_reader *r;
	vdb_status s = vdb_reader_open(&r, path, fmt);
	if (s)
		cmd_die(s);
	size_t got;
	do {
		size_t from = v->n;
		if ((s = vdb_reader_read(r, v, 65536, &got))) {
			if (allow_empty && vdb_reader_empty(r)) {
				vdb_reader_close(r);
				return false;
			}
			cmd_die(s);
		}
		/* filtered batch by batch: a shard build holds only its share */
		if (f && (s = vdb_shard_filter_apply(f, v, from)))
			cmd_die(s);
		cmd_progress("reading", f ? vdb_shard_filter_seen(f) : v->n, 0);
	} while (got > 0);
	vdb_reader_close(r);
	return true;
}

/* ===== Metrics files ===== */
vdb_status cmd_metrics_write(const char *path, const char *prefix, const char *index, int code,
                             const vdb_prom_sample *s, size_t n)
{
	enum { OUTCOME = 4, MAX = 32 };
	vdb_prom_sample all[MAX + OUTCOME];
	char ok_name[96], last_ok[96], last_fail[96], status[96];
	snprintf(ok_name, sizeof ok_name, "%s_success", prefix);
	snprintf(last_ok, sizeof last_ok, "%s_last_success_timestamp_seconds", prefix);
	snprintf(last_fail, sizeof last_fail, "%s_last_failure_timestamp_seconds", prefix);
	snprintf(status, sizeof status, "%s_exit_status", prefix);
	size_t m = 0;
	for (size_t i = 0; i < n && i < MAX; i++)
		all[m++] = s[i];
	double now = (double)time(NULL), other;
	all[m++] = (vdb_prom_sample){ ok_name, "1 if the last run succeeded, else 0", "gauge", NULL,
	                              code == 0 };
	all[m++] = (vdb_prom_sample){ status, "Exit status of the last run", "gauge", NULL, code };
	/* this run's outcome is now; the other one's is kept from the last file */
	const char *mine = code == 0 ? last_ok : last_fail, *theirs = code == 0 ? last_fail : last_ok;
	const char *ok_help = "Unix time of the last successful run",
	           *fail_help = "Unix time of the last failed run";
	vdb_prom_sample ts[2] = {
		{ mine, code == 0 ? ok_help : fail_help, "gauge", NULL, now },
		{ theirs, code == 0 ? fail_help : ok_help, "gauge", NULL, 0 },
	};
	bool keep = vdb_prom_read(path, theirs, &other) == VDB_OK;
	ts[1].value = other;
	/* always in the same order in the file: success before failure */
	if (code == 0 || !keep) {
		all[m++] = ts[0];
		if (keep)
			all[m++] = ts[1];
	} else {
		all[m++] = ts[1];
		all[m++] = ts[0];
	}
	return vdb_prom_write(path, "index", index, all, m);
}

static const char *fail_path, *fail_prefix, *fail_index;
static const vdb_prom_sample *(*fail_samples)(size_t *n);

void cmd_metrics_failure_samples(const vdb_prom_sample *(*fn)(size_t *n))
{
	fail_samples = fn;
}

void cmd_metrics_on_failure(const char *path, const char *prefix, const char *index)
{
	vdb_status s;
	/* a target that cannot take the file is refused before the work */
	if (path && (s = vdb_prom_check(path)))
		cmd_die(s);
	fail_path = path, fail_prefix = prefix, fail_index = index;
}

void cmd_lock_hold(vdb_lock *l)
{
	held_lock = l;
}

void cmd_lock_release(vdb_lock *l)
{
	if (l == held_lock)
		held_lock = NULL;
	vdb_lock_release(l);
}

static void record_failure(int code)
{
	const char *path = fail_path;
	/* once (a failure to write it must not come back here); a busy lock
	 * means another run is on it, whose own outcome the file will tell */
	fail_path = NULL;
	if (!path || code == EXIT_TEMPFAIL)
		return;
	size_t n = 0;
	const vdb_prom_sample *s = fail_samples ? fail_samples(&n) : NULL;
	if (cmd_metrics_write(path, fail_prefix, fail_index, code, s, n))
		fprintf(stderr, "%s: error: %s\n", cmd_name, vdb_last_error());
}

/* ===== Mapped files changed in place (SIGBUS) ===== */
/* at most this many files are named by the handler (vdb-query's -x limit) */
#define WATCH_MAX 4096

/* The files mapped, with what they were when named: the handler names the
 * one that shrank or was replaced, or all if it cannot tell. */
static struct watched {
	const char *path;
	dev_t dev;
	ino_t ino;
	off_t size;
} watched[WATCH_MAX];
static volatile sig_atomic_t nwatched;

static void say(const char *s)
{
	size_t n = strlen(s);
	while (n) {
		ssize_t w = write(STDERR_FILENO, s, n);
		if (w <= 0)
			return;
		s += w, n -= (size_t)w;
	}
}

static void say_changed(const char *path)
{
	say(cmd_name);
	say(": error: ");
	say(path);
	say(": the index file changed under this command (truncated or overwritten in place; "
	    "replace indexes by rename)\n");
}

static void on_sigbus(int sig)
{
	(void)sig;
	int n = nwatched, named = 0;
	for (int i = 0; i < n; i++) {
		struct stat st;
		const struct watched *w = &watched[i];
		if (n == 1 || stat(w->path, &st) != 0 || st.st_dev != w->dev ||
		    st.st_ino != w->ino || st.st_size < w->size) {
			say_changed(w->path);
			named++;
		}
	}
	for (int i = 0; i < n && !named; i++)
		say_changed(watched[i].path);
	_exit(EXIT_IOERR);
}

void cmd_watch_index(const char *path)
{
	if (nwatched == 0) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_sigbus;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGBUS, &sa, NULL);
	}
	if (nwatched == WATCH_MAX)
		return;
	struct watched *w = &watched[nwatched];
	struct stat st;
	w->path = path;
	if (stat(path, &st) == 0)
		w->dev = st.st_dev, w->ino = st.st_ino, w->size = st.st_size;
	nwatched++;
}

vdb_status cmd_filter_parse(vdb_filter **out, const char *text)
{
	vdb_status s = vdb_filter_parse(out, text);
	const char *scan = getenv("VDB_FILTER_SCAN");
	if (!s && scan && *scan == '1')
		vdb_filter_scan_records(*out, 1);
	return s;
}
