/*
 * recall_curve.c — ask for recall, not ef: an index measures its own
 * recall–setting curve and keeps it in its file, so that vdb-query
 * --recall R can pick the cheapest setting that reached R.
 *
 * The sample. Real queries are not records of the index: they come from the
 * same distribution and lie apart from the records. So the queries are
 * records moved away: min(VDB_RECALL_MAX_QUERIES, live/10) distinct live
 * rows drawn with the index's seed, each plus Gaussian noise of standard
 * deviation VDB_RECALL_NOISE * m / sqrt(dim) per dimension, m the mean l2
 * distance from a sampled row to its nearest other row (exact), so that the
 * noise's expected length is VDB_RECALL_NOISE * m. Less noise asks the easy
 * question: the record is still the answer's centre, and in hnsw a graph
 * node whose links are nearly that answer, so the curve promises too much.
 * Calibrated against the real held-out queries of siftsmall (l2) and
 * WordNet fastText (cosine), recall@10 at the setting picked for 0.8, 0.9,
 * 0.95, 0.99: with noise 1 ivf and lsh kept their promise but hnsw fell
 * short by up to 0.07 (WordNet: promised 0.93 at ef 10, got 0.85); with 2
 * every type kept it within 0.01 (lsh and WordNet's hnsw with room to
 * spare: a cheaper setting would have done). Cosine queries are normalised
 * again. Their exact k answers are brute force (vdb_knn) over the build's
 * float32 vectors, or over the live stored rows when an index is measured
 * again after a change.
 *
 * The ladder. Settings 1, 2, 3, 4, 6, 8, 12, 16, ... (each power of two
 * and 1.5 times it; ef ten times that from 10: 10, 20, 30, 40, 60, ...), up
 * to the largest that means anything (ef VDB_RECALL_MAX_EF, nprobe nlist,
 * probes 2^bits or VDB_LSH_MAX_PROBES), stopping at the first with recall 1
 * (no larger setting can be the cheapest) or at the third in a row with the
 * same recall (ivfpq: its codes, not the lists probed, bound its recall).
 * The setting is the cost: each step searches at least what the one before
 * did. Where the type's answers nest (hnsw: a larger ef keeps a larger
 * beam; knob->curve_nested), a query that found all k is not searched
 * again, its answers kept: most of the sample reaches 1 at the first
 * steps, and the few hard queries set how far the ladder goes (siftsmall,
 * 2 threads: the curve's searches took 0.06-0.13 s of CPU, now 0.01).
 * For a graph that is nearly always so, not a theorem (a wider beam walks
 * in another order): the curves of siftsmall, WordNet (l2, cosine) and
 * 100k clustered rows came out byte for byte the same with every query
 * searched at every step. No timings are kept: a build stays byte for byte reproducible (lsh
 * on any thread count, every type on one), and vdb-eval sweep measures
 * speed where it is asked.
 *
 * The section RCRV (little-endian): a 32-byte head {u32 version 1, u32
 * knob (1 ef, 2 nprobe, 3 probes), u32 k, u32 queries, u32 points, u32 0,
 * f64 noise}, then per point {u32 setting, u32 0, f64 recall}.
 * Opening checks its checksum (it is small) and its values: a curve that
 * lies would make --recall pick wrong without a word.
 *
 * Threads: the exact answers and the ladder's searches run with
 * vdb_threads() threads, except where the sample's exact pass is small
 * (queries x live rows x dim under RC_TEAM_WORK: siftsmall, WordNet): then
 * the calling thread does it all, inside a region of one thread whose own
 * thread count is one (an OpenMP ICV of that region's task: nothing
 * process-wide changes). Small, the curve is a few parallel regions of a
 * few ms each, and a region's second thread woke, waited and spun for
 * longer than its share (siftsmall on 2 threads of a loaded machine: the
 * sample and the ladder 0.1-0.2 s of CPU, on one thread 0.03). The
 * results are the same on any thread count. The curve is read-only once
 * the index is opened.
 */
#include "recall_curve.h"
#include "random.h"
#include "rowset.h"
#include <math.h>
#include <omp.h>
#include <string.h>
#include <xxhash.h>

#define RC_VERSION 1u
#define RC_HEAD 32u
#define RC_POINT 16u

/* The setting the type takes, from its ops table (its code in RCRV, the
 * ladder's unit and its largest meaningful value). */
const char *vdb_index_knob(const vdb_index *ix)
{
	return ix->ops->knob ? ix->ops->knob->pub.name : NULL;
}

/* The type's fields of --info (nlist, bits, refine). */
static json_t *type_info(const vdb_index *ix)
{
	json_t *o = json_object();
	if (o)
		ix->ops->info(ix, o);
	return o;
}

static unsigned knob_max(const vdb_index *ix)
{
	const struct vdb_index_knob *k = ix->ops->knob;
	unsigned v = k->curve_max ? k->curve_max(ix) : VDB_RECALL_MAX_EF;
	return v < 1 ? 1 : v;
}

/* Whether ops->rows gives the index's float32 vectors (not codes decoded):
 * a type that reports "refine" stores compressed rows, kept whole with it. */
static bool rows_exact(const vdb_index *ix)
{
	json_t *o = type_info(ix), *r = json_object_get(o, "refine");
	bool exact = !r || json_integer_value(r) > 0;
	json_decref(o);
	return exact;
}

/* ===== The sample ===== */
/* Its queries: a tenth of the live rows, at least 1, at most
 * VDB_RECALL_MAX_QUERIES. */
static size_t sample_size(size_t live)
{
	size_t nq = live / 10 < VDB_RECALL_MAX_QUERIES ? live / 10 : VDB_RECALL_MAX_QUERIES;
	return nq ? nq : 1;
}

void vdb_rcurve_prep_free(vdb_rcurve_prep *p)
{
	if (!p)
		return;
	free(p->q);
	free(p->truth);
	free(p);
}

/* Row r as floats: from rows, or the index's stored row. */
static void row_of(const vdb_index *ix, const float *rows, int64_t r, float *out)
{
	if (rows)
		memcpy(out, rows + (size_t)r * ix->dim, ix->dim * sizeof(float));
	else
		ix->ops->rows(ix, &r, 1, out);
}

/* The exact k best of q (nq of them) over the live rows. */
static vdb_status exact(const vdb_index *ix, const float *rows, const float *q, size_t nq,
                        size_t k, int64_t *ids, float *dist)
{
	if (!rows)
		return vdb_search_exact_allowed(ix, q, nq, k, ix->live, ix->count - ix->ndead, ids,
		                                dist);
	vdb_knn *s;
	vdb_status st = vdb_knn_new(&s, ix->metric, ix->dim, k, q, nq);
	if (st)
		return st;
	if (ix->live)
		vdb_knn_allow(s, ix->live);
	st = vdb_knn_add(s, rows, NULL, ix->count, 0);
	if (!st)
		st = vdb_knn_result(s, ids, dist);
	vdb_knn_free(s);
	return st;
}

/* The sampled rows: nq distinct live rows, drawn with the index's seed: by
 * rejection when most rows are live (no array of every row: an index may
 * hold 2^31), else by a partial Fisher-Yates over the live rows. */
static int64_t *draw_rows(const vdb_index *ix, size_t live, size_t nq)
{
	bool few = live < ix->count / 4;
	int64_t *all = vdb_malloc((few ? live : nq) * sizeof *all, "the recall curve's sample");
	if (!all)
		return NULL;
	uint64_t st = ix->seed ^ 0x52435256u; /* "RCRV": not k-means' or lsh's stream */
	for (size_t m = 0; !few && m < nq;) {
		int64_t r = (int64_t)(vdb_splitmix64(&st) % ix->count);
		bool dup = ix->live && !vdb_rowset_has(ix->live, (size_t)r);
		for (size_t j = 0; j < m && !dup; j++)
			dup = all[j] == r;
		if (!dup)
			all[m++] = r;
	}
	for (size_t i = 0, m = 0; few && i < ix->count; i++)
		if (vdb_rowset_has(ix->live, i))
			all[m++] = (int64_t)i;
	for (size_t i = 0; few && i < nq; i++) {
		size_t j = i + (size_t)(vdb_splitmix64(&st) % (live - i));
		int64_t t = all[i];
		all[i] = all[j], all[j] = t;
	}
	return all;
}

/* Mean l2 distance from each sampled row (x, nq x dim) to its nearest other
 * live row. */
static vdb_status mean_nn(const vdb_index *ix, const float *rows, const int64_t *sample,
                          const float *x, size_t nq, double *out)
{
	size_t d = ix->dim;
	int64_t *ids = vdb_malloc(nq * 2 * sizeof *ids, "the recall curve's sample");
	float *dist = vdb_malloc(nq * 2 * sizeof *dist, "the recall curve's sample");
	float *y = vdb_malloc(d * sizeof *y, "the recall curve's sample");
	vdb_status st = ids && dist && y ? exact(ix, rows, x, nq, 2, ids, dist) : VDB_ENOMEM;
	double sum = 0;
	size_t got = 0;
	for (size_t i = 0; !st && i < nq; i++) {
		int64_t nb = ids[2 * i] != sample[i] ? ids[2 * i] : ids[2 * i + 1];
		if (nb < 0)
			continue;
		row_of(ix, rows, nb, y);
		double s = 0;
		for (size_t j = 0; j < d; j++) {
			double t = (double)x[i * d + j] - y[j];
			s += t * t;
		}
		sum += sqrt(s), got++;
	}
	*out = got ? sum / (double)got : 0;
	free(ids), free(dist), free(y);
	return st;
}

static vdb_status prepare(vdb_rcurve_prep **out, const vdb_index *ix, const float *rows)
{
	*out = NULL;
	size_t live = ix->count - ix->ndead, d = ix->dim;
	if (!ix->ops->knob || ix->metric == VDB_METRIC_HAMMING || live < 2)
		return VDB_OK;
	VDB_RETURN_IF(!rows && (!ix->ops->rows || !rows_exact(ix)), VDB_EUNSUPPORTED,
	              "the recall curve cannot be measured again: this %s index keeps no float32 "
	              "vectors (build it with --refine to keep them)", ix->ops->name);
	vdb_rcurve_prep *p = calloc(1, sizeof *p);
	if (!p)
		return vdb_fail(VDB_ENOMEM, "out of memory");
	p->nq = sample_size(live);
	p->k = live < VDB_RECALL_K ? live : VDB_RECALL_K;
	int64_t *sample = draw_rows(ix, live, p->nq);
	p->q = vdb_malloc(p->nq * d * sizeof *p->q, "the recall curve's queries");
	p->truth = vdb_malloc(p->nq * p->k * sizeof *p->truth, "the recall curve's answers");
	int64_t *ids = vdb_malloc(p->nq * p->k * sizeof *ids, "the recall curve's answers");
	float *dist = vdb_malloc(p->nq * p->k * sizeof *dist, "the recall curve's answers");
	vdb_status st = sample && p->q && p->truth && ids && dist ? VDB_OK : VDB_ENOMEM;
	for (size_t i = 0; !st && i < p->nq; i++)
		row_of(ix, rows, sample[i], p->q + i * d);
	double m = 0;
	if (!st)
		st = mean_nn(ix, rows, sample, p->q, p->nq, &m);
	double sigma = VDB_RECALL_NOISE * m / sqrt((double)d);
	uint64_t rng = ix->seed ^ 0x6e6f697365ull; /* "noise" */
	for (size_t i = 0; !st && i < p->nq * d; i++)
		p->q[i] += (float)(sigma * vdb_gaussian(&rng));
	for (size_t i = 0; !st && ix->metric == VDB_METRIC_COSINE && i < p->nq; i++)
		vdb_normalize(p->q + i * d, d);
	if (!st)
		st = exact(ix, rows, p->q, p->nq, p->k, ids, dist);
	for (size_t i = 0; !st && i < p->nq * p->k; i++)
		p->truth[i] = (int32_t)ids[i];
	free(sample);
	free(ids), free(dist);
	if (st) {
		vdb_rcurve_prep_free(p);
		return st;
	}
	*out = p;
	return VDB_OK;
}

/* ===== Measuring ===== */

/* The ladder after s: each power of two and 1.5 times it (ef: ten times). */
static unsigned next_setting(unsigned s, unsigned base)
{
	unsigned u = s / base, p = 1;
	while (p * 2 <= u)
		p *= 2;
	unsigned next = u == p && p >= 2 ? p + p / 2 : 2 * p;
	return next * base;
}

/* The sample's queries still searched along the ladder: those below recall
 * 1 when the knob nests its answers (a query that found all k keeps them at
 * a larger setting), else every one. */
typedef struct {
	size_t n;
	size_t *of;    /* their numbers in the sample */
	float *q;      /* their vectors, n x dim */
	int64_t *ids;  /* their results, n x k */
	float *dist;
} rc_active;

static void active_free(rc_active *a)
{
	free(a->of), free(a->q), free(a->ids), free(a->dist);
}

static bool active_new(rc_active *a, const vdb_rcurve_prep *p, size_t dim)
{
	a->n = p->nq;
	a->of = vdb_malloc(p->nq * sizeof *a->of, "the recall curve's queries");
	a->q = vdb_malloc(p->nq * dim * sizeof *a->q, "the recall curve's queries");
	a->ids = vdb_malloc(p->nq * p->k * sizeof *a->ids, "the recall curve's results");
	a->dist = vdb_malloc(p->nq * p->k * sizeof *a->dist, "the recall curve's results");
	if (!a->of || !a->q || !a->ids || !a->dist)
		return false;
	for (size_t i = 0; i < p->nq; i++)
		a->of[i] = i;
	memcpy(a->q, p->q, p->nq * dim * sizeof *a->q);
	return true;
}

/* Copy the active queries' results into ids (nq x k, the whole sample's
 * latest), and with nested drop those that found all k. */
static void active_update(rc_active *a, const vdb_rcurve_prep *p, size_t dim, int64_t *ids,
                          bool nested)
{
	size_t k = p->k, m = 0;
	for (size_t j = 0; j < a->n; j++) {
		size_t i = a->of[j];
		memcpy(ids + i * k, a->ids + j * k, k * sizeof *ids);
		if (nested && vdb_recall(p->truth + i * k, k, ids + i * k, k, 1, k) >= 1.0)
			continue;
		a->of[m] = i;
		memmove(a->q + m * dim, a->q + j * dim, dim * sizeof *a->q);
		m++;
	}
	a->n = m;
}

static vdb_status measure(vdb_index *ix, const vdb_rcurve_prep *p)
{
	vdb_rcurve *c = calloc(1, sizeof *c);
	int64_t *ids = vdb_malloc(p->nq * p->k * sizeof *ids, "the recall curve's results");
	rc_active a = { 0 };
	if (!c || !ids || !active_new(&a, p, ix->dim)) {
		free(c), free(ids), active_free(&a);
		return vdb_fail(VDB_ENOMEM, "out of memory for the recall curve");
	}
	const struct vdb_index_knob *kn = ix->ops->knob;
	c->knob = kn->curve_id;
	c->k = (uint32_t)p->k;
	c->queries = (uint32_t)p->nq;
	c->noise = VDB_RECALL_NOISE;
	unsigned base = kn->curve_unit, max = knob_max(ix);
	vdb_status st = VDB_OK;
	for (unsigned s = base; !st && c->n < VDB_RECALL_MAX_POINTS; s = next_setting(s, base)) {
		s = s < max ? s : max;
		vdb_search_opts o;
		vdb_search_opts_init(&o);
		o.k = p->k;
		st = vdb_search_opts_set(&o, kn->pub.name, s);
		if (!st)
			st = vdb_index_search(ix, a.q, a.n, &o, a.ids, a.dist);
		if (st)
			break;
		active_update(&a, p, ix->dim, ids, kn->curve_nested);
		vdb_recall_point *pt = &c->pt[c->n++];
		pt->setting = s;
		pt->recall = vdb_recall(p->truth, p->k, ids, p->k, p->nq, p->k);
		/* three points alike: a plateau (ivfpq's codes bound its recall) */
		bool flat = c->n >= 3 && pt->recall == pt[-1].recall && pt->recall == pt[-2].recall;
		if (pt->recall >= 1.0 || s >= max || flat)
			break;
	}
	free(ids), active_free(&a);
	if (st) {
		free(c);
		return st;
	}
	free(ix->curve);
	ix->curve = c;
	return VDB_OK;
}

/* Multiply-adds of one exact pass over the sample under which the curve
 * is measured on the calling thread alone (about 20 ms of it). */
#define RC_TEAM_WORK 1e9

/* Whether ix's curve is measured on the calling thread alone. */
static bool alone(const vdb_index *ix, size_t nq)
{
	return (double)nq * (double)(ix->count - ix->ndead) * ix->dim < RC_TEAM_WORK;
}

/* One step of the curve (its preparation or its measure) and what it takes. */
struct rc_step {
	vdb_rcurve_prep **out;
	const vdb_index *ix;
	vdb_index *measured; /* ix, whose curve the measure sets */
	const float *rows;
	const vdb_rcurve_prep *p;
};

static vdb_status step_prepare(const struct rc_step *s)
{
	return prepare(s->out, s->ix, s->rows);
}

static vdb_status step_measure(const struct rc_step *s)
{
	return measure(s->measured, s->p);
}

/* run(s), inside a team of one thread when nq queries over ix are too
 * little work to share: the searches it makes then open no team either. */
static vdb_status run_step(vdb_status (*run)(const struct rc_step *), const struct rc_step *s,
                           size_t nq)
{
	if (!alone(s->ix, nq))
		return run(s);
	vdb_status st = VDB_OK;
	#pragma omp parallel num_threads(1)
	{
		omp_set_num_threads(1); /* this region's, for the regions it opens */
		st = run(s);
	}
	return st;
}

vdb_status vdb_rcurve_prepare(vdb_rcurve_prep **out, const vdb_index *ix, const float *rows)
{
	struct rc_step s = { .out = out, .ix = ix, .rows = rows };
	return run_step(step_prepare, &s, sample_size(ix->count - ix->ndead));
}

vdb_status vdb_rcurve_measure(vdb_index *ix, const vdb_rcurve_prep *p)
{
	struct rc_step s = { .ix = ix, .measured = ix, .p = p };
	return run_step(step_measure, &s, p->nq);
}

vdb_status vdb_index_measure_recall(vdb_index *ix)
{
	vdb_rcurve_prep *p;
	vdb_status st = vdb_rcurve_prepare(&p, ix, NULL);
	if (st || !p)
		vdb_index_drop_recall(ix);
	if (!st && p)
		st = vdb_rcurve_measure(ix, p);
	vdb_rcurve_prep_free(p);
	return st;
}

void vdb_index_drop_recall(vdb_index *ix)
{
	free(ix->curve);
	ix->curve = NULL;
}

const vdb_recall_point *vdb_index_recall_curve(const vdb_index *ix, size_t *n)
{
	*n = ix->curve ? ix->curve->n : 0;
	return ix->curve ? ix->curve->pt : NULL;
}

vdb_status vdb_index_pick_setting(const vdb_index *ix, const char *name, double target,
                                  unsigned *setting, double *recall, int *reached)
{
	const vdb_rcurve *c = ix->curve;
	VDB_RETURN_IF(!c, VDB_EUNSUPPORTED, "%s has no recall curve to pick a setting for a "
	              "recall from (built with --no-recall-curve, by an older vdb, or its curve "
	              "was dropped): rebuild it with vdb-build, or give --%s", name,
	              vdb_index_knob(ix) ? vdb_index_knob(ix) : "ef");
	for (size_t i = 0; i < c->n; i++)
		if (c->pt[i].recall >= target) {
			*setting = c->pt[i].setting, *recall = c->pt[i].recall, *reached = 1;
			return VDB_OK;
		}
	*setting = c->pt[c->n - 1].setting, *recall = c->pt[c->n - 1].recall, *reached = 0;
	return VDB_OK;
}

/* ===== The section ===== */
static void put32(unsigned char *b, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		b[i] = (unsigned char)(v >> (8 * i));
}

static void put64d(unsigned char *b, double d)
{
	uint64_t v;
	memcpy(&v, &d, 8);
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static double get64d(const unsigned char *b)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | b[i];
	double d;
	memcpy(&d, &v, 8);
	return d;
}

vdb_status vdb_rcurve_save(const vdb_index *ix, vdb_file_writer *w)
{
	const vdb_rcurve *c = ix->curve;
	if (!c)
		return VDB_OK;
	unsigned char buf[RC_HEAD + VDB_RECALL_MAX_POINTS * RC_POINT];
	memset(buf, 0, sizeof buf);
	put32(buf, RC_VERSION);
	put32(buf + 4, c->knob);
	put32(buf + 8, c->k);
	put32(buf + 12, c->queries);
	put32(buf + 16, (uint32_t)c->n);
	put64d(buf + 24, c->noise);
	for (size_t i = 0; i < c->n; i++) {
		unsigned char *r = buf + RC_HEAD + i * RC_POINT;
		put32(r, c->pt[i].setting);
		put64d(r + 8, c->pt[i].recall);
	}
	return vdb_file_write_section(w, VDB_SEC_RCRV, buf, RC_HEAD + c->n * RC_POINT);
}

vdb_status vdb_rcurve_open(vdb_index *ix)
{
	const vdb_file *f = ix->file;
	size_t len;
	const unsigned char *b = vdb_file_section(f, VDB_SEC_RCRV, &len);
	if (!b)
		return VDB_OK;
	uint64_t sum = 0;
	for (unsigned i = 0; i < f->h.nsections; i++)
		if (f->h.sec[i].kind == VDB_SEC_RCRV)
			sum = f->h.sec[i].xxh3;
	const struct vdb_index_knob *kn = ix->ops->knob;
	size_t n = len >= RC_HEAD ? get32(b + 16) : 0;
	bool ok = XXH3_64bits(b, len) == sum && len >= RC_HEAD && get32(b) == RC_VERSION &&
	          kn && get32(b + 4) == kn->curve_id && n >= 1 &&
	          n <= VDB_RECALL_MAX_POINTS && len == RC_HEAD + n * RC_POINT &&
	          get32(b + 8) >= 1 && get32(b + 8) <= VDB_RECALL_K && get32(b + 12) >= 1 &&
	          get32(b + 12) <= VDB_RECALL_MAX_QUERIES && get32(b + 20) == 0 &&
	          isfinite(get64d(b + 24)) && get64d(b + 24) >= 0;
	vdb_rcurve *c = ok ? calloc(1, sizeof *c) : NULL;
	for (size_t i = 0; c && i < n; i++) {
		const unsigned char *r = b + RC_HEAD + i * RC_POINT;
		vdb_recall_point *p = &c->pt[i];
		p->setting = get32(r), p->recall = get64d(r + 8);
		/* NaN fails every comparison: refused with the rest */
		ok = get32(r + 4) == 0 && p->setting >= 1 && (i == 0 || p->setting > c->pt[i - 1].setting)
		     && p->recall >= 0 && p->recall <= 1;
		if (!ok)
			free(c), c = NULL;
	}
	if (!ok)
		return vdb_fail(VDB_ECORRUPT, "%s: the recall curve section (RCRV) is damaged (checksum, "
		                "layout, unsorted settings, or a recall outside [0, 1]): corrupt index; "
		                "rebuild it", f->path);
	if (!c)
		return vdb_fail(VDB_ENOMEM, "out of memory");
	c->knob = get32(b + 4), c->k = get32(b + 8), c->queries = get32(b + 12);
	c->noise = get64d(b + 24), c->n = n;
	ix->curve = c;
	return VDB_OK;
}

void vdb_rcurve_info(const vdb_index *ix, json_t *obj)
{
	const vdb_rcurve *c = ix->curve;
	if (!ix->ops->knob)
		return;
	if (!c) {
		json_object_set_new(obj, "recall_curve", json_null());
		return;
	}
	json_t *a = json_array();
	for (size_t i = 0; i < c->n; i++)
		json_array_append_new(a, json_pack("{s:s, s:i, s:f}", "knob", vdb_index_knob(ix),
		                                   "setting", (int)c->pt[i].setting, "recall",
		                                   c->pt[i].recall));
	json_object_set_new(obj, "recall_curve", a);
	json_object_set_new(obj, "recall_curve_sample",
	                    json_pack("{s:i, s:i, s:f}", "queries", (int)c->queries, "k", (int)c->k,
	                              "noise", c->noise));
}
