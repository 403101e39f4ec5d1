/* common.h — what the four commands share: option parsing with YAML config
 * files, error reporting with documented exit statuses, output checks. */
#ifndef VDB_CMD_COMMON_H
#define VDB_CMD_COMMON_H
#include "vdb.h"
#include <getopt.h>
#include <stdbool.h>

/* Exit statuses (sysexits), documented in every man page. */
enum {
	EXIT_BELOW = 1,      /* vdb-eval recall: below --min-recall */
	EXIT_USAGE = 64,
	EXIT_DATAERR = 65,
	EXIT_NOINPUT = 66,
	EXIT_SOFTWARE = 70,
	EXIT_CANTCREAT = 73,
	EXIT_IOERR = 74,
	EXIT_TEMPFAIL = 75,  /* the index is locked by another build */
	EXIT_PIPE = 141
};

/* Options every command takes; long-only ones get values above 256. */
enum { OPT_VERSION = 256, OPT_PROGRESS, OPT_COMMON_LAST };

/* The long options every command takes; ends a command's option table. */
#define CMD_COMMON_LONGOPTS \
	{ "threads", required_argument, NULL, 't' }, \
	{ "config", required_argument, NULL, 'c' }, \
	{ "quiet", no_argument, NULL, 'q' }, \
	{ "progress", no_argument, NULL, OPT_PROGRESS }, \
	{ "help", no_argument, NULL, 'h' }, \
	{ "version", no_argument, NULL, OPT_VERSION }, \
	{ NULL, 0, NULL, 0 }

typedef struct {
	int threads;
	bool quiet, progress, verbose;
} cmd_common;

extern const char *cmd_name;
extern cmd_common cmd_opts;
/* Long options whose YAML lists become one option per item (set before
 * cmd_parse; NULL-terminated); other lists are joined by commas. */
extern const char *const *cmd_config_each;
/* True while the config file's options are being handed to the command. */
extern bool cmd_in_config;

void cmd_init(const char *name);
int cmd_exit_code(vdb_status s);
/* "NAME: error: <last error>" and exit with the status's code. */
__attribute__((noreturn)) void cmd_die(vdb_status s);
__attribute__((noreturn, format(printf, 1, 2))) void cmd_usage_error(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void cmd_warn(const char *fmt, ...);
void cmd_version(void);

/* Called for each option (from the config file first, then argv); returns
 * false if it is not the command's option. */
typedef bool (*cmd_opt_fn)(int opt, const char *arg, void *ctx);
/* Parse -c/--config, then the config file's options, then argv. Handles
 * -h (calls help and exits 0), --version, -t, -q, --progress, -c. Returns
 * the index of the first operand in argv. A command may give -q a value
 * ("q:" in shortopts); then -q VALUE goes to fn and only --quiet is quiet. */
int cmd_parse(int argc, char **argv, const char *shortopts, const struct option *longopts,
              cmd_opt_fn fn, void *ctx, void (*help)(void));

/* Numbers from option values; a bad value is a usage error naming opt. */
size_t cmd_size(const char *opt, const char *val, size_t min, size_t max);
double cmd_double(const char *opt, const char *val, double min, double max);
/* Named values of --metric, --format, --output; a bad one is a usage error. */
void cmd_metric(const char *val, vdb_metric *out);
void cmd_format(const char *val, vdb_format *out);
void cmd_output(const char *val, vdb_output *out);

/* Progress bar on stderr when it is a terminal or --progress was given. */
bool cmd_progress_on(void);
void cmd_progress(void *ctx, size_t done, size_t total);
void cmd_progress_end(void);

/* Flush stdout; an error there ends the command (quietly for a closed pipe). */
void cmd_check_stdout(void);
/* Final flush and close of stdout; returns the exit status to use. */
int cmd_finish(void);

/* Seconds on the monotonic clock. */
double cmd_now(void);
/* Time spent: seconds on the monotonic clock, and of the process's CPU time
 * (every thread's). */
typedef struct {
	double wall, cpu;
} cmd_span;
/* Both clocks now (where a span starts). */
cmd_span cmd_span_now(void);
/* Add to *sum the time since start; the wall seconds of it. */
double cmd_span_add(cmd_span *sum, cmd_span start);
/* Refuse (64) an input that is the file output names (the same file: device
 * and inode; "-" is standard input), before anything is read or written:
 * the output replaces its file, so `-o X X` would destroy the input. */
void cmd_refuse_input_output(const char *input, const char *output);
/* Read all of one input into v (dies with the reader's message on error). */
/* Append every record of path to v; dies on an error. An input without any
 * record is an error too unless allow_empty (then false is returned). */
bool cmd_read_all(const char *path, vdb_format fmt, vdb_vecs *v, bool allow_empty);
/* The same, keeping only the records of f's shard (f NULL: all). */
bool cmd_read_shard(const char *path, vdb_format fmt, vdb_vecs *v, bool allow_empty,
                    vdb_shard_filter *f);

/* Write a metrics file (Prometheus text format, atomically): s, labelled
 * index="INDEX", then the outcome of the run whose exit status is code:
 * PREFIX_success, PREFIX_exit_status and PREFIX_last_success_timestamp_seconds
 * or PREFIX_last_failure_timestamp_seconds (now), keeping the other one
 * from the previous file when it can be read back. At most 32 samples. */
vdb_status cmd_metrics_write(const char *path, const char *prefix, const char *index, int code,
                             const vdb_prom_sample *s, size_t n);
/* From now on, an exit through cmd_die or cmd_usage_error records the
 * failure in path (except status 75: the lock's holder will write it). */
void cmd_metrics_on_failure(const char *path, const char *prefix, const char *index);
/* The samples such a failure records beside its outcome (fn gives them and
 * their count: the figures of the run so far), instead of none. */
void cmd_metrics_failure_samples(const vdb_prom_sample *(*fn)(size_t *n));

/* From now on, an exit through cmd_die or cmd_usage_error releases l (after
 * recording the failure's metrics), which removes its lock file. */
void cmd_lock_hold(vdb_lock *l);
/* Release l now (vdb_lock_release), so that no exit releases it again. */
void cmd_lock_release(vdb_lock *l);

/* The command maps the index (or quantizer) file at path from now on (call
 * it before opening; path must outlive the command). A SIGBUS, which a
 * mapped file truncated or overwritten in place raises, then ends the
 * command with "NAME: error: PATH: the index file changed under this
 * command (...)" and status 74 instead of killing it with the signal. */
void cmd_watch_index(const char *path);

/* vdb_index_set_check over the n open indexes ix named names: dies on an
 * error (another dimension), warns once a line of its warning (a set short
 * of shards: searched as it is); then vdb_index_advise_search. */
void cmd_set_check(vdb_index *const *ix, const char *const *names, size_t n);

/* vdb_filter_parse, with VDB_FILTER_SCAN=1 in the environment asking for
 * each record's JSON instead of the payload index (vdb_filter_scan_records). */
vdb_status cmd_filter_parse(vdb_filter **out, const char *text);
#endif
