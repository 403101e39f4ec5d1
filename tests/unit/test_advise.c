/* test_advise.c — index_advise.c: an opened hnsw (default: codes walked,
 * float rows re-ranked) and an ivfpq with refine record the rows they read
 * only to re-rank, an ivf (which scans its rows) none; opening advises
 * nothing; a set whose rows together reach the limit has every index's rows
 * mapped for random access (VmFlags "rr" in /proc/self/smaps), a set under
 * it none; one index alone is advised at its own rows. */
#include "tap.h"
#include "smaps.h"
#include "index_internal.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N 600
#define DIM 16

static char dir[64];

/* An index of type (with o's defaults) over N x DIM random rows, saved to
 * dir/name and opened from there. */
static vdb_index *saved(const char *type, const char *name, unsigned refine, unsigned seed)
{
	vdb_vecs v;
	vdb_vecs_init(&v);
	v.dim = DIM, v.n = v.cap = N;
	if (!(v.data = malloc((size_t)N * DIM * sizeof(float))))
		return NULL;
	srand(seed);
	for (size_t i = 0; i < (size_t)N * DIM; i++)
		v.data[i] = (float)(rand() % 1000) / 1000.0f;
	vdb_build_opts o;
	vdb_build_opts_init(&o);
	o.type = type;
	if (!strcmp(type, "ivfpq") || !strcmp(type, "ivf"))
		vdb_build_opts_set(&o, "nlist", 8);
	if (!strcmp(type, "ivfpq"))
		vdb_build_opts_set(&o, "pq_m", 4);
	o.refine = refine;
	char path[128];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	vdb_index *built = NULL, *ix = NULL;
	int fine = vdb_index_build(&built, &v, &o) == VDB_OK && vdb_index_save(built, path) == VDB_OK &&
	           vdb_index_open(&ix, path) == VDB_OK;
	if (!ok(fine, "%s is built, saved and opened", name))
		diag("%s", vdb_last_error());
	vdb_index_close(built);
	vdb_vecs_free(&v);
	return ix;
}

int main(void)
{
	strcpy(dir, "/tmp/vdb-test-advise.XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	vdb_index *a = saved("hnsw", "a.vdb", 0, 1), *b = saved("hnsw", "b.vdb", 0, 2),
	          *c = saved("ivfpq", "c.vdb", 4, 3), *d = saved("ivf", "d.vdb", 0, 4);
	if (!a || !b || !c || !d)
		return done_testing();
	size_t rows = (size_t)N * DIM * sizeof(float);
	ok(a->rerank_rows && a->rerank_len == rows && b->rerank_len == rows,
	   "an hnsw on codes records its float rows as read to re-rank (%zu bytes)", a->rerank_len);
	ok(c->rerank_rows && c->rerank_len == rows, "an ivfpq with refine records its rows");
	ok(!d->rerank_rows && d->rerank_len == 0, "an ivf (its rows scanned) records none");
	if (getenv("VDB_EMULATED")) { /* qemu-user accepts madvise and does nothing */
		skip("madvise under emulation");
	} else {
		const vdb_index *ab[] = { a, b }, *cd[] = { c, d };
		ok(!random_read(a->rerank_rows) && !random_read(b->rerank_rows),
		   "small rows opened alone keep read-around");
		ok(vdb_index_advise_search_at(ab, 2, 2 * rows + 1) == 0 && !random_read(a->rerank_rows) &&
		   !random_read(b->rerank_rows), "a set under the limit is not advised");
		ok(vdb_index_advise_search_at(ab, 2, rows + 1) == 2 && random_read(a->rerank_rows) &&
		   random_read(b->rerank_rows) &&
		   random_read((const char *)b->rerank_rows + rows - 1),
		   "a set whose rows together reach the limit (each under it) advises each");
		ok(vdb_index_advise_search_at(cd, 1, rows) == 1 && random_read(c->rerank_rows),
		   "one index whose rows reach the limit is advised (an ivfpq's)");
		ok(vdb_index_advise_search_at(cd + 1, 1, 0) == 0, "an ivf's rows never are");
		ok(vdb_index_advise_search((const vdb_index *const *)ab, 1) == 0 ||
		   (size_t)sysconf(_SC_PHYS_PAGES) / 4 * (size_t)sysconf(_SC_PAGESIZE) <= rows,
		   "the public call's limit is a quarter of physical memory");
	}
	vdb_index_close(a);
	vdb_index_close(b);
	vdb_index_close(c);
	vdb_index_close(d);
	char cmd[160];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd))
		diag("could not remove %s", dir);
	return done_testing();
}
