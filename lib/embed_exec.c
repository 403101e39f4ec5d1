/*
 * embed_exec.c — the exec kind: an external embedder, `/bin/sh -c CMD`, run
 * once per batch in its own process group. vdb writes the batch's texts to
 * its stdin, one a line, while it reads its stdout (poll: neither side can
 * block the other, whatever the batch's size), and keeps the last line of
 * its stderr for messages. Each line of its stdout is one vector: numbers
 * separated by whitespace (what `fasttext print-sentence-vectors` prints)
 * or a JSON array of numbers. The batch must get exactly one vector a
 * text, all of the dimension of the first batch's first vector (or
 * --dim's), finite and within VDB_MAX_SQNORM. An embedder that neither
 * reads nor writes for the timeout (hung: a slow one that keeps working is
 * never cut off, however large the batch) has its process group killed.
 */
#define _GNU_SOURCE /* pipe2 */
#include "embed_internal.h"
#include "reader_internal.h"
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define TAIL 1024 /* bytes of the embedder's stderr kept */

typedef struct {
	vdb_embedder *e;
	float **out;
	size_t *cap;
	size_t n, got;          /* texts, vectors read */
	char *line;             /* the stdout line being read */
	size_t line_len, line_cap;
	char tail[TAIL + 1];    /* the end of its stderr */
	size_t tail_len;
	vdb_status st;          /* the first bad vector (st, at) */
	size_t at;
} run;

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static vdb_status bad_line(run *r, vdb_status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static vdb_status bad_line(run *r, vdb_status st, const char *fmt, ...)
{
	char m[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(m, sizeof m, fmt, ap);
	va_end(ap);
	r->st = vdb_fail(st, "the embedder's output line %zu: %s", r->got + 1, m);
	r->at = r->got < r->n ? r->got : r->n;
	return r->st;
}

/* Fix the dimension at the first vector of all. */
static vdb_status set_dim(run *r, size_t d)
{
	vdb_embedder *e = r->e;
	uint32_t want = e->dim ? e->dim : e->want_dim;
	if (want && d != want)
		return bad_line(r, VDB_EFORMAT, "a vector of dimension %zu, not %u%s", d, want,
		                e->dim ? " like the vectors before it" : " (--dim)");
	if (d < 1 || d > VDB_MAX_DIM)
		return bad_line(r, VDB_EFORMAT, "a vector of dimension %zu: out of range (1..%u, "
		                "VDB_MAX_DIM)", d, VDB_MAX_DIM);
	if (!e->dim) {
		size_t need;
		e->dim = (uint32_t)d;
		if (!vdb_mul_ok(r->n, d, &need) ||
		    vdb_grow((void **)r->out, r->cap, need, sizeof(float), "vectors"))
			return r->st = vdb_fail(VDB_ENOMEM, "out of memory"), r->at = r->n, r->st;
	}
	return VDB_OK;
}

static vdb_status check_value(run *r, double x, size_t j, float *v)
{
	if (!isfinite(x) || fabs(x) > FLT_MAX)
		return bad_line(r, VDB_EFORMAT, "value %zu of the vector is %g: not a finite float",
		                j + 1, x);
	v[j] = (float)x;
	return VDB_OK;
}

/* One line of output (NUL-terminated at len): the vector of text r->got. */
static vdb_status vector_line(run *r, char *s, size_t len)
{
	if (r->got >= r->n)
		return bad_line(r, VDB_EFORMAT, "more lines than the %zu texts of the batch", r->n);
	while (len && vdb_embed_space((unsigned char)s[len - 1]))
		s[--len] = 0;
	while (len && vdb_embed_space((unsigned char)*s))
		s++, len--;
	vdb_status st;
	float *v;
	if (*s == '[') {
		json_error_t err;
		json_t *a = json_loadb(s, len, 0, &err);
		if (!a || !json_is_array(a)) {
			json_decref(a);
			return bad_line(r, VDB_EFORMAT, "not a JSON array of numbers (%s)",
			                a ? "not an array" : err.text);
		}
		if ((st = set_dim(r, json_array_size(a)))) {
			json_decref(a);
			return st;
		}
		v = *r->out + r->got * r->e->dim;
		for (size_t j = 0; j < r->e->dim; j++) {
			json_t *x = json_array_get(a, j);
			if (!json_is_number(x)) {
				json_decref(a);
				return bad_line(r, VDB_EFORMAT, "value %zu of the vector is not a number",
				                j + 1);
			}
			if ((st = check_value(r, json_number_value(x), j, v))) {
				json_decref(a);
				return st;
			}
		}
		json_decref(a);
	} else {
		size_t d = 0;
		for (size_t i = 0; i < len;) {
			while (i < len && vdb_embed_space((unsigned char)s[i]))
				i++;
			if (i < len)
				d++;
			while (i < len && !vdb_embed_space((unsigned char)s[i]))
				i++;
		}
		if ((st = set_dim(r, d)))
			return st;
		v = *r->out + r->got * r->e->dim;
		char *p = s;
		for (size_t j = 0; j < d; j++) {
			char *end;
			while (vdb_embed_space((unsigned char)*p))
				p++;
			double x = strtod(p, &end);
			if (end == p || (*end && !vdb_embed_space((unsigned char)*end))) {
				size_t w = strcspn(p, " \t\n\v\f\r");
				return bad_line(r, VDB_EFORMAT, "value %zu of the vector, '%.*s', is not a "
				                "number", j + 1, (int)(w > 40 ? 40 : w), p);
			}
			if ((st = check_value(r, x, j, v)))
				return st;
			p = end;
		}
	}
	double sq;
	if (!vdb_row_length_ok(v, r->e->dim, &sq))
		return bad_line(r, VDB_EFORMAT, "the vector's squared length %.3g is over %.3g "
		                "(VDB_MAX_SQNORM)", sq, VDB_MAX_SQNORM);
	r->got++;
	return VDB_OK;
}

/* Take what the embedder printed on stdout; complete lines are vectors. */
static vdb_status take_stdout(run *r, const char *buf, size_t n)
{
	for (size_t i = 0; i < n;) {
		const char *nl = memchr(buf + i, '\n', n - i);
		size_t k = nl ? (size_t)(nl - (buf + i)) : n - i;
		if (r->line_len + k > VDB_MAX_LINE)
			return bad_line(r, VDB_EFORMAT, "longer than the limit of %u MiB (VDB_MAX_LINE)",
			                VDB_MAX_LINE >> 20);
		if (vdb_grow((void **)&r->line, &r->line_cap, r->line_len + k + 1, 1, "a line"))
			return r->st = VDB_ENOMEM, r->at = r->n, r->st;
		memcpy(r->line + r->line_len, buf + i, k);
		r->line_len += k;
		i += k;
		if (nl) {
			i++;
			r->line[r->line_len] = 0;
			r->line_len = 0;
			vdb_status st = vector_line(r, r->line, strlen(r->line));
			if (st)
				return st;
		}
	}
	return VDB_OK;
}

/* Keep the last TAIL bytes of its stderr, for messages. */
static vdb_status take_stderr(run *r, const char *buf, size_t n)
{
	if (n >= TAIL) {
		memcpy(r->tail, buf + n - TAIL, TAIL);
		r->tail_len = TAIL;
		return VDB_OK;
	}
	if (r->tail_len + n > TAIL) {
		size_t drop = r->tail_len + n - TAIL;
		memmove(r->tail, r->tail + drop, r->tail_len - drop);
		r->tail_len -= drop;
	}
	memcpy(r->tail + r->tail_len, buf, n);
	r->tail_len += n;
	return VDB_OK;
}

/* Read what is ready on *fd into take (which records its own failures in
 * r); at its end, or on an error, close it and set *fd to -1. True if
 * something was read. */
static bool drain(int *fd, run *r, char *buf, size_t cap,
                  vdb_status (*take)(run *r, const char *buf, size_t n))
{
	ssize_t got = read(*fd, buf, cap);
	if (got > 0)
		(void)take(r, buf, (size_t)got);
	else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
		close(*fd);
		*fd = -1;
	}
	return got > 0;
}

/* The last non-empty line of its stderr, or "". */
static const char *last_stderr_line(run *r)
{
	r->tail[r->tail_len] = 0;
	size_t end = r->tail_len;
	while (end && vdb_embed_space((unsigned char)r->tail[end - 1]))
		r->tail[--end] = 0;
	char *nl = strrchr(r->tail, '\n');
	return nl ? nl + 1 : r->tail;
}

static vdb_status spawn(const char *command, int in, int out, int err, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, deflt;
	sigemptyset(&none);
	sigemptyset(&deflt);
	sigaddset(&deflt, SIGPIPE);
	sigaddset(&deflt, SIGINT);
	sigaddset(&deflt, SIGQUIT);
	sigaddset(&deflt, SIGTERM);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in, STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&fa, out, STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, err, STDERR_FILENO);
	posix_spawnattr_init(&at);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
	                         POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &deflt);
	char *argv[] = { "sh", "-c", (char *)command, NULL };
	int rc = posix_spawn(pid, "/bin/sh", &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	VDB_RETURN_IF(rc, VDB_EINTERNAL, "cannot run the embedder (/bin/sh -c): %s", strerror(rc));
	return VDB_OK;
}

/* Wait for the embedder until the deadline (0: none); false if it passed. */
static bool wait_child(pid_t pid, double deadline, int *status)
{
	for (;;) {
		pid_t w = waitpid(pid, status, deadline ? WNOHANG : 0);
		if (w == pid)
			return true;
		if (w < 0 && errno != EINTR) {
			*status = 0;
			return true;
		}
		if (deadline && now() >= deadline)
			return false;
		if (deadline)
			poll(NULL, 0, 5);
	}
}

/* The batch's texts, one a line, in a new buffer of *total bytes. */
static char *batch_input(const char *const *texts, const size_t *lens, size_t n, size_t *total)
{
	*total = 0;
	for (size_t i = 0; i < n; i++)
		*total += lens[i] + 1;
	char *input = vdb_malloc(*total ? *total : 1, "the batch's texts");
	if (!input)
		return NULL;
	for (size_t i = 0, at = 0; i < n; i++) {
		memcpy(input + at, texts[i], lens[i]);
		at += lens[i];
		input[at++] = '\n';
	}
	return input;
}

static void close_fds(int a, int b, int c)
{
	for (int *fd = (int[]){ a, b, c }, i = 0; i < 3; i++)
		if (fd[i] >= 0)
			close(fd[i]);
}

/* Start the embedder with its stdin (a socket: send() with MSG_NOSIGNAL
 * needs no SIGPIPE handling when it stops reading), stdout and stderr
 * connected to fd[0..2], the last two non-blocking. */
static vdb_status start_embedder(const vdb_embedder *e, int fd[3], pid_t *pid)
{
	int sv[2] = { -1, -1 }, po[2] = { -1, -1 }, pe[2] = { -1, -1 };
	vdb_status s = VDB_OK;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) || pipe2(po, O_CLOEXEC) ||
	    pipe2(pe, O_CLOEXEC))
		s = vdb_fail(VDB_EINTERNAL, "cannot make pipes for the embedder: %s", strerror(errno));
	if (!s)
		s = spawn(e->command, sv[1], po[1], pe[1], pid);
	close_fds(sv[1], po[1], pe[1]);
	if (s) {
		close_fds(sv[0], po[0], pe[0]);
		return s;
	}
	fcntl(po[0], F_SETFL, O_NONBLOCK);
	fcntl(pe[0], F_SETFL, O_NONBLOCK);
	fd[0] = sv[0], fd[1] = po[0], fd[2] = pe[0];
	return VDB_OK;
}

/* Feed the input to fd[0] while reading fd[1] (vectors) and fd[2] (messages)
 * until both end, a vector is bad (r->st) or the embedder neither reads nor
 * writes for --timeout (*timed_out). Closes the fds; *until is the deadline
 * the embedder's last move set (0: none). */
static vdb_status exchange(const vdb_embedder *e, run *r, int fd[3], const char *input,
                           size_t total, bool *timed_out, double *until)
{
	double deadline = e->timeout > 0 ? now() + e->timeout : 0;
	int in = fd[0], o = fd[1], er = fd[2];
	size_t sent = 0;
	vdb_status s = VDB_OK;
	char buf[1 << 16];
	while ((o >= 0 || er >= 0) && !r->st) {
		struct pollfd p[3];
		int np = 0, io = -1, iout = -1, ierr = -1;
		if (in >= 0)
			io = np, p[np++] = (struct pollfd){ in, POLLOUT, 0 };
		if (o >= 0)
			iout = np, p[np++] = (struct pollfd){ o, POLLIN, 0 };
		if (er >= 0)
			ierr = np, p[np++] = (struct pollfd){ er, POLLIN, 0 };
		int ms = -1;
		if (deadline) {
			double left = deadline - now();
			if (left <= 0) {
				*timed_out = true;
				break;
			}
			ms = (int)(left * 1000) + 1;
		}
		int k = poll(p, (nfds_t)np, ms);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			s = vdb_fail(VDB_EINTERNAL, "poll: %s", strerror(errno));
			break;
		}
		bool moved = false; /* the embedder read or wrote: it is not hung */
		if (io >= 0 && p[io].revents) {
			ssize_t w = send(in, input + sent, total - sent > sizeof buf ? sizeof buf
			                 : total - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (w > 0)
				sent += (size_t)w, moved = true;
			/* done, or the embedder no longer reads (its lines will tell) */
			if (sent == total || (w < 0 && errno != EAGAIN && errno != EINTR)) {
				close(in);
				in = -1;
			}
		}
		if (iout >= 0 && p[iout].revents)
			moved |= drain(&o, r, buf, sizeof buf, take_stdout);
		if (ierr >= 0 && p[ierr].revents)
			moved |= drain(&er, r, buf, sizeof buf, take_stderr);
		if (moved && deadline)
			deadline = now() + e->timeout;
	}
	/* a last line without a newline */
	if (!r->st && !*timed_out && !s && r->line_len) {
		r->line[r->line_len] = 0;
		r->line_len = 0;
		vector_line(r, r->line, strlen(r->line));
	}
	close_fds(in, o, er);
	*until = deadline;
	return s;
}

/* What the embedder's end says of the batch: its exit status, a timeout,
 * or too few vectors; *bad is the first text without its vector. */
static vdb_status verdict(const vdb_embedder *e, run *r, int status, bool timed_out,
                          size_t *bad)
{
	size_t n = r->n, first_missing = r->got < n ? r->got : n;
	char printed[96];
	snprintf(printed, sizeof printed, "it had printed %zu of the batch's %zu vectors", r->got, n);
	const char *why = last_stderr_line(r);
	*bad = first_missing;
	if (timed_out)
		return vdb_fail(VDB_EINTERNAL, "the embedder neither read nor wrote for %g s "
		                "(--timeout) and was killed; %s", e->timeout, printed);
	if (WIFSIGNALED(status))
		return vdb_fail(VDB_EINTERNAL, "the embedder was killed by signal %d (%s); %s%s%s",
		                WTERMSIG(status), strsignal(WTERMSIG(status)), printed,
		                *why ? "; its last message: " : "", why);
	if (WIFEXITED(status) && WEXITSTATUS(status))
		return vdb_fail(VDB_EINTERNAL, "the embedder exited with status %d; %s%s%s",
		                WEXITSTATUS(status), printed, *why ? "; its last message: " : "",
		                why);
	if (r->got < n)
		return vdb_fail(VDB_EFORMAT, "the embedder printed %zu lines for the batch's %zu "
		                "texts: no vector for this one", r->got, n);
	return VDB_OK;
}

static vdb_status ex_embed(vdb_embedder *e, const char *const *texts, const size_t *lens,
                           size_t n, float **out, size_t *cap, size_t *bad)
{
	run r = { .e = e, .out = out, .cap = cap, .n = n };
	size_t total;
	char *input = batch_input(texts, lens, n, &total);
	if (!input)
		return *bad = n, VDB_ENOMEM;
	int fd[3];
	pid_t pid = -1;
	vdb_status s = start_embedder(e, fd, &pid);
	if (s) {
		free(input);
		*bad = n;
		return s;
	}
	bool timed_out = false;
	double deadline;
	s = exchange(e, &r, fd, input, total, &timed_out, &deadline);
	int status = 0;
	if (r.st || s || timed_out || !wait_child(pid, deadline, &status)) {
		if (!r.st && !s)
			timed_out = true;
		kill(-pid, SIGKILL);
		wait_child(pid, 0, &status);
	}
	kill(-pid, SIGKILL); /* anything it left running in its group */
	free(input);
	free(r.line);
	if (s) {
		*bad = n;
		return s;
	}
	if (r.st) {
		*bad = r.at;
		return r.st;
	}
	return verdict(e, &r, status, timed_out, bad);
}

static void ex_close(void *state)
{
	(void)state;
}

const vdb_embed_kind vdb_embed_exec = { "exec", false, ex_embed, ex_close };
