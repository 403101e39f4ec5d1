/*
 * index_types.c — the registry of index types and what each can do. A type
 * says in its ops table (index_internal.h) which metrics and storages it
 * builds with, whether --refine applies, which type-specific build options
 * it takes and its search setting (knob: name, range, default); this file
 * registers the types and reads those fields for everything generic: the
 * build checks, the knobs a sweep or a query sets, `vdb-eval types` and
 * --info. Adding a type is its own file plus its name in TYPES below.
 */
#include "index_internal.h"
#include "rows.h"
#include <stddef.h>
#include <string.h>

/* The registration line: each name is a file's vdb_NAME_ops. */
#define TYPES(X) X(flat) X(hnsw) X(ivf) X(ivfpq) X(lsh)

#define DECLARE(t) extern const struct vdb_index_ops vdb_##t##_ops;
TYPES(DECLARE)
#define ENTRY(t) &vdb_##t##_ops,
static const struct vdb_index_ops *const types[] = { TYPES(ENTRY) };
#define NTYPES (sizeof types / sizeof types[0])

const struct vdb_index_ops *vdb_index_type_at(size_t i)
{
	return i < NTYPES ? types[i] : NULL;
}

/* The knob of type i unless an earlier type has one of its name. */
static const struct vdb_index_knob *first_knob(size_t i)
{
	const struct vdb_index_knob *k = types[i]->knob;
	for (size_t j = 0; k && j < i; j++)
		if (types[j]->knob && !strcmp(types[j]->knob->pub.name, k->pub.name))
			return NULL;
	return k;
}

const vdb_knob *vdb_knob_at(size_t n)
{
	for (size_t i = 0; i < NTYPES; i++) {
		const struct vdb_index_knob *k = first_knob(i);
		if (k && n-- == 0)
			return &k->pub;
	}
	return NULL;
}

/* The knob named name and its slot in vdb_search_opts.knob (its place
 * among the distinct knobs); NULL if no type takes it. */
static const struct vdb_index_knob *knob_slot(const char *name, size_t *slot)
{
	for (size_t i = 0, n = 0; name && i < NTYPES; i++) {
		const struct vdb_index_knob *k = first_knob(i);
		if (k && !strcmp(k->pub.name, name)) {
			*slot = n;
			return k;
		}
		n += k != NULL;
	}
	return NULL;
}

static const struct vdb_index_knob *knob_named(const char *name)
{
	size_t slot;
	return knob_slot(name, &slot);
}

const vdb_knob *vdb_knob_find(const char *name)
{
	const struct vdb_index_knob *k = knob_named(name);
	return k ? &k->pub : NULL;
}

vdb_status vdb_search_opts_set(vdb_search_opts *o, const char *name, unsigned v)
{
	size_t slot;
	const struct vdb_index_knob *k = knob_slot(name, &slot);
	VDB_RETURN_IF(!k, VDB_EINVAL, "no index type takes a search setting '%s'", name);
	VDB_RETURN_IF(slot >= VDB_MAX_KNOBS, VDB_EINTERNAL,
	              "search setting '%s': more knobs than VDB_MAX_KNOBS (%u)", name, VDB_MAX_KNOBS);
	VDB_RETURN_IF(v && (v < k->pub.min || v > k->pub.max), VDB_EINVAL,
	              "--%s %u is out of range (%u..%u, %s)", name, v, k->pub.min, k->pub.max,
	              k->pub.max_name);
	o->knob[slot] = v;
	return VDB_OK;
}

unsigned vdb_search_opts_get(const vdb_search_opts *o, const char *name)
{
	size_t slot;
	return knob_slot(name, &slot) && slot < VDB_MAX_KNOBS ? o->knob[slot] : 0;
}

unsigned vdb_knob_value(const vdb_search_opts *o, const struct vdb_index_knob *k)
{
	return k ? vdb_search_opts_get(o, k->pub.name) : 0;
}

/* ===== Build parameters: the distinct ones of the types, in order ===== */
/* The n-th distinct parameter (its slot in vdb_build_opts.param); NULL
 * past the last. */
static const struct vdb_index_param *param_at(size_t n)
{
	for (size_t i = 0; i < NTYPES; i++)
		for (size_t p = 0; types[i]->params && types[i]->params[p]; p++) {
			const struct vdb_index_param *q = types[i]->params[p];
			bool seen = false;
			for (size_t j = 0; j <= i && !seen; j++)
				for (size_t r = 0; types[j]->params && types[j]->params[r] && !seen; r++) {
					if (j == i && r == p)
						break;
					seen = !strcmp(types[j]->params[r]->name, q->name);
				}
			if (!seen && n-- == 0)
				return q;
		}
	return NULL;
}

static const struct vdb_index_param *param_slot(const char *name, size_t *slot)
{
	const struct vdb_index_param *p;
	for (size_t n = 0; name && (p = param_at(n)); n++)
		if (!strcmp(p->name, name)) {
			*slot = n;
			return p;
		}
	return NULL;
}

vdb_status vdb_build_opts_set(vdb_build_opts *o, const char *name, unsigned v)
{
	size_t slot;
	VDB_RETURN_IF(!param_slot(name, &slot), VDB_EINVAL,
	              "no index type takes a build parameter '%s'", name ? name : "(null)");
	VDB_RETURN_IF(slot >= VDB_MAX_BUILD_PARAMS, VDB_EINTERNAL,
	              "build parameter '%s': more parameters than VDB_MAX_BUILD_PARAMS (%u)", name,
	              VDB_MAX_BUILD_PARAMS);
	o->param[slot] = v;
	return VDB_OK;
}

unsigned vdb_build_opts_get(const vdb_build_opts *o, const char *name)
{
	size_t slot;
	return param_slot(name, &slot) && slot < VDB_MAX_BUILD_PARAMS ? o->param[slot] : 0;
}

unsigned vdb_param_value(const vdb_build_opts *o, const struct vdb_index_param *p)
{
	unsigned v = vdb_build_opts_get(o, p->name);
	return v ? v : p->def;
}

static bool takes_param(const struct vdb_index_ops *t, const char *name)
{
	for (size_t p = 0; t->params && t->params[p]; p++)
		if (!strcmp(t->params[p]->name, name))
			return true;
	return false;
}

/* ===== Lists of types, for messages ===== */
typedef bool (*type_pred)(const struct vdb_index_ops *t, const void *arg);

/* The names of the types for which pred holds: "flat and hnsw",
 * "flat, hnsw and lsh" ("no type" when none). */
static void type_list(type_pred pred, const void *arg, char *buf, size_t size)
{
	size_t n = 0, seen = 0, used = 0;
	for (size_t i = 0; i < NTYPES; i++)
		n += pred(types[i], arg);
	buf[0] = 0;
	for (size_t i = 0; i < NTYPES && used < size; i++) {
		if (!pred(types[i], arg))
			continue;
		seen++;
		const char *sep = seen == 1 ? "" : seen == n ? " and " : ", ";
		int w = snprintf(buf + used, size - used, "%s%s", sep, types[i]->name);
		used += w > 0 ? (size_t)w : 0;
	}
	if (!n)
		snprintf(buf, size, "no type");
}

static bool any_type(const struct vdb_index_ops *t, const void *arg)
{
	(void)t, (void)arg;
	return true;
}

static bool has_metric(const struct vdb_index_ops *t, const void *arg)
{
	return t->metrics & VDB_BIT(*(const vdb_metric *)arg);
}

static bool has_knob(const struct vdb_index_ops *t, const void *arg)
{
	return t->knob && !strcmp(t->knob->pub.name, ((const vdb_knob *)arg)->name);
}

void vdb_knob_types(const vdb_knob *k, char *buf, size_t size)
{
	type_list(has_knob, k, buf, size);
}

static bool compresses(const struct vdb_index_ops *t, const void *arg)
{
	(void)arg;
	return (t->storages & ~VDB_BIT(VDB_STORAGE_F32)) != 0;
}

static bool refines_always(const struct vdb_index_ops *t, const void *arg)
{
	(void)arg;
	return t->refine == VDB_REFINE_ALWAYS;
}

static bool takes_opts(const struct vdb_index_ops *t, const void *arg)
{
	return takes_param(t, ((const struct vdb_index_param *)arg)->name);
}

const struct vdb_index_ops *vdb_index_type_named(const char *name)
{
	for (size_t i = 0; i < NTYPES; i++)
		if (!strcmp(types[i]->name, name))
			return types[i];
	char all[256];
	type_list(any_type, NULL, all, sizeof all);
	vdb_fail(VDB_EINVAL, "unknown index type '%s' (this version has: %s)", name, all);
	return NULL;
}

/* ===== The build checks ===== */
/* Do the same types take parameters a and b? */
static bool same_types(const struct vdb_index_param *a, const struct vdb_index_param *b)
{
	for (size_t t = 0; t < NTYPES; t++)
		if (takes_param(types[t], a->name) != takes_param(types[t], b->name))
			return false;
	return true;
}

/* A parameter out of its range, or given to a type that does not take it:
 * named with the parameters taken by the same types ("--lsh-tables and
 * --lsh-bits apply to lsh indexes"). */
static vdb_status check_build_opts(const struct vdb_index_ops *ops, const vdb_build_opts *o)
{
	const struct vdb_index_param *p;
	for (size_t i = 0; (p = param_at(i)); i++) {
		unsigned v = i < VDB_MAX_BUILD_PARAMS ? o->param[i] : 0;
		if (!v || (p->loose && !takes_param(ops, p->name)))
			continue;
		if (takes_param(ops, p->name)) {
			VDB_RETURN_IF(v < p->min || v > p->max, VDB_EINVAL,
			              "%s %u is out of range (%u..%u)", p->option, v, p->min, p->max);
			continue;
		}
		char who[256], names[256] = "";
		type_list(takes_opts, p, who, sizeof who);
		size_t n = 0, used = 0;
		const struct vdb_index_param *q;
		for (size_t j = 0; (q = param_at(j)); j++) {
			if (!same_types(p, q))
				continue;
			int w = snprintf(names + used, sizeof names - used, "%s%s", n++ ? " and " : "",
			                 q->option);
			used += w > 0 && (size_t)w < sizeof names - used ? (size_t)w : 0;
		}
		return vdb_fail(VDB_EINVAL, "%s %s to %s indexes, not %s", names,
		                n > 1 ? "apply" : "applies", who, ops->name);
	}
	return VDB_OK;
}

vdb_status vdb_index_caps_check(const struct vdb_index_ops *ops, const vdb_build_opts *o)
{
	char who[256];
	bool hamming = o->metric == VDB_METRIC_HAMMING;
	if (!(ops->metrics & VDB_BIT(o->metric))) {
		type_list(has_metric, &o->metric, who, sizeof who);
		return vdb_fail(VDB_EUNSUPPORTED, "index type %s does not support metric %s (%s %s)",
		                ops->name, vdb_metric_name(o->metric), who,
		                strchr(who, ' ') ? "do" : "does");
	}
	vdb_status s = check_build_opts(ops, o);
	if (s)
		return s;
	uint32_t storage = VDB_STORAGE_F32;
	if (o->storage && vdb_storage_parse(o->storage, &storage))
		return VDB_EINVAL;
	VDB_RETURN_IF(hamming && (storage != VDB_STORAGE_F32 || o->refine), VDB_EINVAL,
	              "--storage and --refine apply to float vectors; a hamming index keeps the "
	              "bits as they are");
	if (!(ops->storages & VDB_BIT(storage))) {
		char always[128];
		type_list(compresses, NULL, who, sizeof who);
		type_list(refines_always, NULL, always, sizeof always);
		return vdb_fail(VDB_EINVAL, "--storage applies to %s indexes; %s stores %s (see "
		                "--type %s)", who, ops->name, ops->rows_are, always);
	}
	VDB_RETURN_IF(ops->refine == VDB_REFINE_NEVER && o->refine, VDB_EINVAL,
	              "--refine does not apply to %s: %s", ops->name, ops->no_refine);
	if (ops->refine == VDB_REFINE_COMPRESSED && o->refine && storage == VDB_STORAGE_F32) {
		type_list(refines_always, NULL, who, sizeof who);
		return vdb_fail(VDB_EINVAL, "--refine applies to %s and to compressed --storage "
		                "(fp16, sq8); a %s index of float32 vectors is already exact", who,
		                ops->name);
	}
	return VDB_OK;
}

/* ===== What each type can do, as JSON ===== */
static json_t *knob_json(const vdb_knob *k)
{
	json_t *o = json_object();
	json_object_set_new(o, "name", json_string(k->name));
	json_object_set_new(o, "sets", json_string(k->what));
	json_object_set_new(o, "min", json_integer(k->min));
	json_object_set_new(o, "max", json_integer(k->max));
	json_object_set_new(o, "max_name", json_string(k->max_name));
	json_object_set_new(o, "default", json_integer(k->def));
	json_object_set_new(o, "default_note", k->def_note ? json_string(k->def_note) : json_null());
	return o;
}

json_t *vdb_index_type_json(const struct vdb_index_ops *t)
{
	static const char *const refine[] = { "never", "compressed", "always" };
	json_t *o = json_object(), *m = json_array(), *s = json_array();
	json_object_set_new(o, "type", json_string(t->name));
	for (int i = VDB_METRIC_L2; i <= VDB_METRIC_HAMMING; i++)
		if (t->metrics & VDB_BIT(i))
			json_array_append_new(m, json_string(vdb_metric_name((vdb_metric)i)));
	json_object_set_new(o, "metrics", m);
	for (uint32_t i = VDB_STORAGE_F32; i <= VDB_STORAGE_SQ8; i++)
		if (t->storages & VDB_BIT(i))
			json_array_append_new(s, json_string(vdb_storage_name(i)));
	json_object_set_new(o, "storage", s);
	json_object_set_new(o, "refine", json_string(refine[t->refine]));
	json_object_set_new(o, "knob", t->knob ? knob_json(&t->knob->pub) : json_null());
	json_t *p = json_array();
	for (size_t i = 0; t->params && t->params[i]; i++) {
		const struct vdb_index_param *q = t->params[i];
		json_array_append_new(p, json_pack("{s:s, s:s, s:s, s:I, s:I, s:o}", "name", q->name,
		                                   "option", q->option, "sets", q->what,
		                                   "min", (json_int_t)q->min, "max", (json_int_t)q->max,
		                                   "default", q->def ? json_integer(q->def)
		                                                     : json_null()));
	}
	json_object_set_new(o, "params", p);
	return o;
}

char *vdb_index_types_json(void)
{
	json_t *a = json_array();
	for (size_t i = 0; i < NTYPES; i++)
		json_array_append_new(a, vdb_index_type_json(types[i]));
	char *text = json_dumps(a, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(a);
	return text;
}
