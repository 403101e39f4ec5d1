/* test_threads.c — vdb.h's promise: an opened index may be searched from
 * several threads at once. Each index type (flat, hnsw, ivf, ivfpq with 8-
 * and 4-bit codes, lsh),
 * opened once, is searched by NTHREADS pthreads at the same time, batched
 * and one query per call, without a filter and with two (one that keeps
 * few rows: the exact path; one that keeps most: the index's own filtered
 * search), sharing one parsed filter; every answer must equal the one the
 * same search gave alone, before. And no library call changes process-wide
 * state: the functions that would (OpenBLAS's thread count, the umask, the
 * environment and the locale) are interposed here and counted. scripts/check
 * also runs this test under ThreadSanitizer (configure --enable-tsan). */
#define _GNU_SOURCE
#include "tap.h"
#include "vdb.h"
#include <dlfcn.h>
#include <locale.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define N 3000      /* rows */
#define DIM 24
#define NQ 40       /* queries */
#define K 10
#define NTHREADS 4
#define NTYPES 6
#define NFILTERS 3

/* ===== Process-wide state, counted ===== */
static atomic_int blas_sets, umasks, env_changes, env_reads, locales;
static atomic_int counting_reads; /* getenv counts only while threads search */

void openblas_set_num_threads(int n)
{
	blas_sets++;
	void (*real)(int) = (void (*)(int))dlsym(RTLD_NEXT, "openblas_set_num_threads");
	if (real)
		real(n);
}

mode_t umask(mode_t m)
{
	umasks++;
	mode_t (*real)(mode_t) = (mode_t (*)(mode_t))dlsym(RTLD_NEXT, "umask");
	return real ? real(m) : 022;
}

int setenv(const char *name, const char *value, int overwrite)
{
	env_changes++;
	int (*real)(const char *, const char *, int) =
		(int (*)(const char *, const char *, int))dlsym(RTLD_NEXT, "setenv");
	return real ? real(name, value, overwrite) : -1;
}

char *getenv(const char *name)
{
	if (counting_reads)
		env_reads++;
	extern char **environ;
	size_t n = strlen(name);
	for (char **e = environ; e && *e; e++)
		if (!strncmp(*e, name, n) && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

char *setlocale(int category, const char *locale)
{
	locales++;
	char *(*real)(int, const char *) = (char *(*)(int, const char *))dlsym(RTLD_NEXT, "setlocale");
	return real ? real(category, locale) : NULL;
}

/* ===== The data, the indexes and the answers alone ===== */
static const char *types[NTYPES] = { "flat", "hnsw", "ivf", "ivfpq", "lsh", "ivfpq" };
static const char *filter_text[NFILTERS] = { NULL, "cat == 1", "cat != 1" };
static vdb_filter *filters[NFILTERS];
static vdb_index *ix[NTYPES];
static float queries[NQ * DIM];
/* [type][filter][batched or single][query * K + rank] */
static int64_t want_id[NTYPES][NFILTERS][2][NQ * K];
static float want_dist[NTYPES][NFILTERS][2][NQ * K];
static char dir[64];

static float gauss(uint64_t *s)
{
	float acc = 0;
	for (int i = 0; i < 4; i++) {
		*s = *s * 6364136223846793005u + 1442695040888963407u;
		acc += (float)(*s >> 40) / (float)(1u << 24);
	}
	return acc - 2.0f;
}

static int write_data(const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return 0;
	uint64_t s = 42;
	for (int i = 0; i < N; i++) {
		fprintf(f, "{\"id\": \"r%d\", \"metadata\": {\"cat\": %d}, \"vector\": [", i, i % 5);
		for (int j = 0; j < DIM; j++)
			fprintf(f, "%s%.5f", j ? ", " : "", gauss(&s));
		fprintf(f, "]}\n");
	}
	for (int i = 0; i < NQ * DIM; i++)
		queries[i] = gauss(&s);
	return fclose(f) == 0;
}

static vdb_status build_one(int t, const char *data, vdb_index **out)
{
	vdb_reader *r;
	vdb_vecs v;
	vdb_vecs_init(&v);
	size_t got;
	vdb_status s = vdb_reader_open(&r, data, VDB_FMT_AUTO);
	if (s)
		return s;
	s = vdb_reader_read(r, &v, 0, &got);
	vdb_reader_close(r);
	vdb_build_opts o;
	vdb_build_opts_init(&o);
	o.type = types[t];
	if (t == 1)
		vdb_build_opts_set(&o, "M", 8), vdb_build_opts_set(&o, "ef_construction", 64);
	if (t == 2 || t == 3 || t == 5)
		vdb_build_opts_set(&o, "nlist", 16);
	if (t == 5) /* 4-bit codes, not re-ranked: the packed codes and tables decide */
		vdb_build_opts_set(&o, "pq_bits", 4), vdb_build_opts_set(&o, "pq_m", 8);
	vdb_index *built = NULL;
	if (!s)
		s = vdb_index_build(&built, &v, &o);
	vdb_vecs_free(&v);
	char path[128];
	snprintf(path, sizeof path, "%s/%s%d.vdb", dir, types[t], t);
	if (!s)
		s = vdb_index_save(built, path);
	vdb_index_close(built);
	return s ? s : vdb_index_open(out, path);
}

/* Search type t with filter f, batched (all NQ queries in one call) or one
 * query per call, into ids/dist. */
static vdb_status search(int t, int f, int single, int64_t *ids, float *dist)
{
	vdb_search_opts o;
	vdb_search_opts_init(&o);
	o.k = K;
	vdb_search_opts_set(&o, "ef", 32);
	vdb_search_opts_set(&o, "nprobe", 4);
	o.filter = filters[f];
	if (!single)
		return vdb_index_search(ix[t], queries, NQ, &o, ids, dist);
	for (size_t i = 0; i < NQ; i++) {
		vdb_status s = vdb_index_search(ix[t], queries + i * DIM, 1, &o, ids + i * K,
		                                dist + i * K);
		if (s)
			return s;
	}
	return VDB_OK;
}

/* ===== Several threads at once ===== */
typedef struct {
	int n;          /* thread number: each starts at another case */
	int mismatches; /* cases whose answer differs from the one alone */
	int failures;   /* searches that failed */
	char first[160];
} worker;

static void *run(void *arg)
{
	worker *w = arg;
	int64_t ids[NQ * K];
	float dist[NQ * K];
	int cases = NTYPES * NFILTERS * 2;
	for (int c = 0; c < cases; c++) {
		int at = (c + w->n * 7) % cases;
		int t = at / (NFILTERS * 2), f = at / 2 % NFILTERS, single = at % 2;
		if (search(t, f, single, ids, dist)) {
			w->failures++;
			continue;
		}
		if (memcmp(ids, want_id[t][f][single], sizeof ids) ||
		    memcmp(dist, want_dist[t][f][single], sizeof dist)) {
			if (!w->mismatches++)
				snprintf(w->first, sizeof w->first, "%s, filter %s, %s", types[t],
				         filter_text[f] ? filter_text[f] : "none", single ? "single" : "batched");
		}
	}
	return NULL;
}

int main(void)
{
	strcpy(dir, "/tmp/vdb-test-threads.XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	char data[128];
	snprintf(data, sizeof data, "%s/data.jsonl", dir);
	if (!ok(write_data(data), "the data is written"))
		return done_testing();
	for (int t = 0; t < NTYPES; t++) {
		vdb_status s = build_one(t, data, &ix[t]);
		if (!ok(s == VDB_OK, "the %s index is built, saved and opened", types[t])) {
			diag("%s", vdb_last_error());
			return done_testing();
		}
	}
	for (int f = 1; f < NFILTERS; f++)
		ok(vdb_filter_parse(&filters[f], filter_text[f]) == VDB_OK, "filter %s parses",
		   filter_text[f]);

	/* the answers alone, one search at a time */
	int alone_ok = 1;
	for (int t = 0; t < NTYPES; t++)
		for (int f = 0; f < NFILTERS; f++)
			for (int single = 0; single < 2; single++)
				if (search(t, f, single, want_id[t][f][single], want_dist[t][f][single])) {
					diag("%s: %s", types[t], vdb_last_error());
					alone_ok = 0;
				}
	ok(alone_ok, "every search alone succeeds");
	/* a filter keeping 600 of 3,000 rows: every answer has cat 1 (row % 5) */
	int kept = 1;
	for (int t = 0; t < NTYPES; t++)
		for (int i = 0; i < NQ * K; i++)
			kept &= want_id[t][1][0][i] >= 0 && want_id[t][1][0][i] % 5 == 1;
	ok(kept, "the filtered answers are rows the filter keeps");

	/* ivfpq's l2 tables (and 4-bit's packed codes) are made on a list's
	 * first probe: opened again, none is made yet, and the threads below
	 * race to make them */
	for (int t = 3; t < NTYPES; t += 2) {
		char again[128];
		snprintf(again, sizeof again, "%s/%s%d.vdb", dir, types[t], t);
		vdb_index_close(ix[t]);
		if (!ok(vdb_index_open(&ix[t], again) == VDB_OK, "%s opens again, its tables unmade",
		        t == 3 ? "ivfpq" : "4-bit ivfpq"))
			return done_testing();
	}

	counting_reads = 1;
	pthread_t th[NTHREADS];
	worker w[NTHREADS];
	for (int i = 0; i < NTHREADS; i++) {
		w[i] = (worker){ .n = i };
		if (pthread_create(&th[i], NULL, run, &w[i]))
			return 1;
	}
	int mismatches = 0, failures = 0;
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(th[i], NULL);
		mismatches += w[i].mismatches, failures += w[i].failures;
		if (w[i].mismatches)
			diag("thread %d: first difference: %s", i, w[i].first);
	}
	counting_reads = 0;
	ok(failures == 0, "%d threads search %d index types at once without a failure", NTHREADS,
	   NTYPES);
	ok(mismatches == 0, "and each answer (batched, single, filtered or not) equals the one "
	   "alone (%d differ)", mismatches);

	ok(blas_sets == 0, "no library call sets OpenBLAS's process-wide thread count (%d calls)",
	   (int)blas_sets);
	ok(umasks == 0, "no library call sets the umask, saving included (%d calls)", (int)umasks);
	ok(env_reads == 0, "searches read no environment variable (%d reads)", (int)env_reads);
	ok(env_changes == 0 && locales == 0, "nor change the environment or the locale");

	/* an index file gets the mode any new file gets: 0666 less the umask */
	mode_t old = umask(027);
	struct stat sb;
	char path[128];
	snprintf(path, sizeof path, "%s/flat0.vdb", dir);
	int saved = vdb_index_save(ix[0], path) == VDB_OK && stat(path, &sb) == 0;
	unsigned mode = saved ? (unsigned)(sb.st_mode & 0777) : 0;
	ok(mode == 0640, "an index saved under umask 027 is 0640 (%o)", mode);
	umask(old);

	for (int t = 0; t < NTYPES; t++) {
		snprintf(path, sizeof path, "%s/%s%d.vdb", dir, types[t], t);
		vdb_index_close(ix[t]);
		unlink(path);
	}
	for (int f = 0; f < NFILTERS; f++)
		vdb_filter_free(filters[f]);
	unlink(data);
	rmdir(dir);
	return done_testing();
}
