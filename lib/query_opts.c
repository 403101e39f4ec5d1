/*
 * query_opts.c — a query record's own search options: {"vector": [...],
 * "k": 5, "filter": "price < 10", "ef": 64, "nprobe": 8, "probes": 2,
 * "exclude": ["doc-7"]}, each overriding the command line's for that query
 * only (vdb-query(1), QUERY RECORDS).
 *
 * They are checked as the record is read, so that a bad one is refused
 * (65) naming the input, the line and the option before any search, and
 * kept as a compact JSON object of just those fields (null for a record
 * without any): the batch groups its queries by that text, and a record's
 * options are decoded again only when its batch has some.
 */
#include "query_opts.h"
#include <string.h>

#define WHERE "%s: line %zu (record %zu): "
#define BAD(...) do { s = vdb_fail(VDB_EFORMAT, __VA_ARGS__); goto out; } while (0)

/* The numeric options: k, then each index type's search setting (ef,
 * nprobe, probes: vdb_knob_at), with its limit. */
static const vdb_knob k_opt = { .name = "k", .min = 1, .max = VDB_MAX_K, .max_name = "VDB_MAX_K" };

static const vdb_knob *knob(size_t i)
{
	return i ? vdb_knob_at(i - 1) : &k_opt;
}

static vdb_status push(vdb_vecs *v, const char *text, size_t len)
{
	vdb_texts *t = &v->qopt;
	vdb_status s;
	if ((s = vdb_grow((void **)&t->off, &t->ocap, v->n + 2, sizeof *t->off, "query options")) ||
	    (s = vdb_grow((void **)&t->buf, &t->cap, t->len + len, 1, "query options")))
		return s;
	if (v->n == 0)
		t->off[0] = 0;
	memcpy(t->buf + t->len, text, len);
	t->len += len;
	t->off[v->n + 1] = t->len;
	return VDB_OK;
}

/* Does the record give any option (the common record gives none)? */
static bool any_option(json_t *o)
{
	for (size_t i = 0; knob(i); i++)
		if (json_object_get(o, knob(i)->name))
			return true;
	return json_object_get(o, "filter") || json_object_get(o, "exclude");
}

vdb_status vdb_query_opts_read(vdb_reader *r, vdb_vecs *v, json_t *o, size_t ln, size_t rec)
{
	if (!any_option(o))
		return push(v, "null", 4);
	json_t *keep = json_object();
	char *text = NULL;
	vdb_status s = keep ? VDB_OK : vdb_fail(VDB_ENOMEM, "out of memory");
	for (size_t i = 0; !s && knob(i); i++) {
		const vdb_knob *kn = knob(i);
		json_t *j = json_object_get(o, kn->name);
		if (!j || json_is_null(j))
			continue;
		if (!json_is_integer(j))
			BAD(WHERE "\"%s\" must be an integer (1..%u)", r->name, ln, rec, kn->name, kn->max);
		json_int_t x = json_integer_value(j);
		if (x < kn->min || x > kn->max)
			BAD(WHERE "\"%s\" is %lld, out of range (%u..%u, %s)", r->name, ln, rec, kn->name,
			    (long long)x, kn->min, kn->max, kn->max_name);
		json_object_set(keep, kn->name, j);
	}
	json_t *f = json_object_get(o, "filter");
	if (!s && f && !json_is_null(f)) {
		if (!json_is_string(f))
			BAD(WHERE "\"filter\" must be a string (a filter expression)", r->name, ln, rec);
		vdb_filter *parsed;
		if (strlen(json_string_value(f)) != json_string_length(f))
			BAD(WHERE "\"filter\" holds a NUL byte", r->name, ln, rec);
		if (vdb_filter_parse(&parsed, json_string_value(f))) {
			const char *m = vdb_last_error();
			BAD(WHERE "\"filter\": %s", r->name, ln, rec,
			    strncmp(m, "--filter: ", 10) ? m : m + 10);
		}
		vdb_filter_free(parsed);
		json_object_set(keep, "filter", f);
	}
	json_t *x = json_object_get(o, "exclude");
	if (!s && x && !json_is_null(x)) {
		if (!json_is_array(x))
			BAD(WHERE "\"exclude\" must be an array of ids (strings or integers)", r->name, ln,
			    rec);
		if (json_array_size(x) > VDB_MAX_QUERY_EXCLUDE)
			BAD(WHERE "\"exclude\" holds %zu ids, over the limit of %u (VDB_MAX_QUERY_EXCLUDE)",
			    r->name, ln, rec, json_array_size(x), VDB_MAX_QUERY_EXCLUDE);
		size_t i;
		json_t *e;
		json_array_foreach(x, i, e)
			if (!json_is_string(e) && !json_is_integer(e))
				BAD(WHERE "\"exclude\"[%zu] is not an id (a string or an integer)", r->name,
				    ln, rec, i);
		json_object_set(keep, "exclude", x);
	}
	if (s)
		goto out;
	if (json_object_size(keep) == 0) {
		s = push(v, "null", 4);
		goto out;
	}
	text = json_dumps(keep, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!text)
		BAD("out of memory");
	if (!(s = push(v, text, strlen(text))))
		v->nqopt++;
out:
	free(text);
	json_decref(keep);
	return s;
}

/* What a decoded record's options hold on to. */
typedef struct {
	json_t *obj;
	const char **ids;
} held;

vdb_status vdb_query_opts_get(const vdb_vecs *q, size_t i, vdb_query_opts *o)
{
	memset(o, 0, sizeof *o);
	if (!q->qopt.off || !q->nqopt)
		return VDB_OK;
	const char *t = q->qopt.buf + q->qopt.off[i];
	size_t len = q->qopt.off[i + 1] - q->qopt.off[i];
	if (len == 4 && !memcmp(t, "null", 4))
		return VDB_OK;
	held *h = calloc(1, sizeof *h);
	json_t *j = json_loadb(t, len, 0, NULL);
	if (!h || !j) {
		free(h), json_decref(j);
		return vdb_fail(VDB_ENOMEM, "out of memory for a query's options");
	}
	h->obj = j;
	o->hold = h;
	json_t *e = json_object_get(j, "k");
	if (e)
		o->k = (size_t)json_integer_value(e);
	vdb_search_opts so; /* the settings, checked when read */
	memset(&so, 0, sizeof so);
	for (size_t n = 1; knob(n); n++)
		if ((e = json_object_get(j, knob(n)->name)))
			vdb_search_opts_set(&so, knob(n)->name, (unsigned)json_integer_value(e));
	memcpy(o->knob, so.knob, sizeof o->knob);
	json_t *f = json_object_get(j, "filter");
	o->filter = f ? json_string_value(f) : NULL;
	json_t *x = json_object_get(j, "exclude");
	if (x && json_array_size(x)) {
		size_t n = json_array_size(x);
		if (!(h->ids = calloc(n, sizeof *h->ids))) {
			vdb_query_opts_done(o);
			return vdb_fail(VDB_ENOMEM, "out of memory for a query's options");
		}
		for (size_t e = 0; e < n; e++) {
			char *d = json_dumps(json_array_get(x, e), JSON_ENCODE_ANY | JSON_COMPACT);
			if (!d) {
				o->nexclude = e;
				o->exclude = h->ids;
				vdb_query_opts_done(o);
				return vdb_fail(VDB_ENOMEM, "out of memory for a query's options");
			}
			h->ids[e] = d;
		}
		o->nexclude = n;
		o->exclude = h->ids;
	}
	return VDB_OK;
}

void vdb_query_opts_done(vdb_query_opts *o)
{
	held *h = o->hold;
	if (h) {
		for (size_t e = 0; h->ids && e < o->nexclude; e++)
			free((char *)h->ids[e]);
		free(h->ids);
		json_decref(h->obj);
		free(h);
	}
	memset(o, 0, sizeof *o);
}
