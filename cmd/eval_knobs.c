/* eval_knobs.c — vdb-eval's knob options, from the library's list of the
 * index types' search settings (vdb_knob_at). */
#include "eval_knobs.h"
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void knobs_init(knob_set *s)
{
	memset(s, 0, sizeof *s);
	const vdb_knob *k;
	for (size_t i = 0; (k = vdb_knob_at(i)) && s->n < EVAL_MAX_KNOBS; i++)
		s->k[s->n++].knob = k;
}

void knobs_free(knob_set *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->k[i].v);
		s->k[i].v = NULL, s->k[i].n = 0;
	}
}

knob_values *knobs_find(knob_set *s, const char *name)
{
	for (size_t i = 0; name && i < s->n; i++)
		if (!strcmp(s->k[i].knob->name, name))
			return &s->k[i];
	return NULL;
}

size_t knobs_given(const knob_set *s, bool one)
{
	size_t n = 0;
	for (size_t i = 0; i < s->n; i++)
		n += one ? s->k[i].n > 1 : s->k[i].n > 0;
	return n;
}

void knobs_names(const knob_set *s, const char *last_sep, const char *sep, char *buf,
                 size_t size)
{
	size_t used = 0;
	buf[0] = 0;
	for (size_t i = 0; i < s->n && used < size; i++) {
		const char *before = !i ? "" : i + 1 == s->n ? last_sep : sep;
		int w = snprintf(buf + used, size - used, "%s--%s", before, s->k[i].knob->name);
		used += w > 0 ? (size_t)w : 0;
	}
}

struct option *knobs_longopts(const knob_set *s, int first, const struct option *base)
{
	size_t nb = 0;
	while (base[nb].name)
		nb++;
	struct option *o = calloc(s->n + nb + 1, sizeof *o);
	if (!o)
		cmd_die(vdb_fail(VDB_ENOMEM, "out of memory"));
	for (size_t i = 0; i < s->n; i++)
		o[i] = (struct option){ s->k[i].knob->name, required_argument, NULL, first + (int)i };
	memcpy(o + s->n, base, nb * sizeof *o);
	return o;
}

void knobs_help(const knob_set *s)
{
	for (size_t i = 0; i < s->n; i++) {
		const vdb_knob *k = s->k[i].knob;
		char who[128], opt[40];
		vdb_knob_types(k, who, sizeof who);
		snprintf(opt, sizeof opt, "--%s LIST", k->name);
		printf("      %-19s%s: %s;\n                         %u..%u, default %u%s%s; sweep: a "
		       "list, check: one\n", opt, who, k->what, k->min, k->max, k->def,
		       k->def_note ? ", " : "", k->def_note ? k->def_note : "");
	}
}

void knobs_set(vdb_search_opts *so, const vdb_knob *k, unsigned v)
{
	if (vdb_search_opts_set(so, k->name, v))
		cmd_usage_error("%s", vdb_last_error());
}

/* ===== vdb-eval types ===== */
/* The words of a JSON array of strings, joined by spaces. */
static void words(json_t *a, char *buf, size_t size)
{
	size_t i, used = 0;
	json_t *v;
	buf[0] = 0;
	json_array_foreach(a, i, v) {
		int w = snprintf(buf + used, size - used, "%s%s", i ? " " : "", json_string_value(v));
		used += w > 0 && (size_t)w < size - used ? (size_t)w : 0;
	}
}

int eval_types(bool json, int nargs, char **args)
{
	if (nargs)
		cmd_usage_error("types takes no operands (got '%s')", args[0]);
	char *text = vdb_index_types_json();
	json_t *all = text ? json_loads(text, 0, NULL) : NULL;
	free(text);
	if (!all)
		cmd_die(vdb_fail(VDB_ENOMEM, "out of memory"));
	if (!json)
		printf("%-6s %-21s %-13s %-11s %-8s %-12s %s\n", "TYPE", "METRICS", "STORAGE",
		       "REFINE", "SETTING", "RANGE", "DEFAULT");
	size_t i;
	json_t *t;
	json_array_foreach(all, i, t) {
		if (json) {
			char *line = json_dumps(t, JSON_COMPACT | JSON_PRESERVE_ORDER);
			if (line)
				puts(line);
			free(line);
			continue;
		}
		char m[64], st[64], range[32] = "-", def[128] = "-";
		words(json_object_get(t, "metrics"), m, sizeof m);
		words(json_object_get(t, "storage"), st, sizeof st);
		json_t *k = json_object_get(t, "knob");
		const char *note = json_string_value(json_object_get(k, "default_note"));
		if (json_is_object(k)) {
			snprintf(range, sizeof range, "%lld..%lld",
			         (long long)json_integer_value(json_object_get(k, "min")),
			         (long long)json_integer_value(json_object_get(k, "max")));
			snprintf(def, sizeof def, "%lld%s%s",
			         (long long)json_integer_value(json_object_get(k, "default")),
			         note ? ", " : "", note ? note : "");
		}
		const char *name = json_string_value(json_object_get(k, "name"));
		printf("%-6s %-21s %-13s %-11s %-8s %-12s %s\n",
		       json_string_value(json_object_get(t, "type")), m, st,
		       json_string_value(json_object_get(t, "refine")), name ? name : "-", range, def);
	}
	json_decref(all);
	return cmd_finish();
}
