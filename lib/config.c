/*
 * config.c — YAML configuration files (libyaml).
 *
 * A config file is a flat mapping whose keys are the commands' long option
 * names. It is turned into ordinary "--key=value" arguments that the command
 * parses before its real command line, so options given on the command line
 * win and one parser validates both. Cron jobs keep their settings in a
 * file; one-off runs override a value on the command line. Errors in the
 * file are usage errors (VDB_EINVAL) naming the file and line: a cron job
 * with a broken config should fail like one with a broken crontab line.
 *
 * A hostile file costs little: it is read whole but at most
 * VDB_MAX_CONFIG_BYTES, and a first pass over libyaml's events refuses it
 * at the first level beyond VDB_MAX_CONFIG_DEPTH (libyaml's scanner takes
 * time quadratic in the nesting) or anchor and alias beyond
 * VDB_MAX_CONFIG_ALIASES (its loader looks each up in a list), before the
 * document is loaded; the options it expands to (an alias repeats its
 * anchor's value) are at most VDB_MAX_CONFIG_BYTES too.
 */
#include "vdb_internal.h"
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <yaml.h>

typedef struct {
	const char *path;  /* the file, for messages */
	char **argv;
	int *lines;
	size_t n, cap, lcap;
	size_t bytes;      /* of every argument so far */
} arglist;

static vdb_status push_arg(arglist *a, const char *key, const char *val, int line)
{
	size_t need = strlen(key) + (val ? strlen(val) + 1 : 0) + 3;
	if (need > VDB_MAX_CONFIG_BYTES - a->bytes)
		return vdb_fail(VDB_EINVAL, "%s: line %d: the options expand to more than the limit of "
		                "%u MiB (an alias repeats its anchor's value)", a->path, line,
		                VDB_MAX_CONFIG_BYTES >> 20);
	a->bytes += need;
	char *s = vdb_malloc(need, "config");
	if (!s)
		return VDB_ENOMEM;
	snprintf(s, need, val ? "--%s=%s" : "--%s", key, val ? val : "");
	if (vdb_grow((void **)&a->argv, &a->cap, a->n + 2, sizeof(char *), "config") ||
	    vdb_grow((void **)&a->lines, &a->lcap, a->n + 2, sizeof(int), "config")) {
		free(s);
		return VDB_ENOMEM;
	}
	a->lines[a->n] = line;
	a->argv[a->n++] = s;
	a->argv[a->n] = NULL;
	return VDB_OK;
}

static int is_true(const char *v)
{
	return !strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on") || !strcmp(v, "True");
}

static int is_false(const char *v)
{
	return !strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off") ||
	       !strcmp(v, "False") || !strcmp(v, "null") || !strcmp(v, "~") || !*v;
}

static bool listed(const char *const *keys, const char *key)
{
	for (; keys && *keys; keys++)
		if (!strcmp(*keys, key))
			return true;
	return false;
}

/* One argument per item: for options that repeat (file names may hold commas). */
static vdb_status push_items(arglist *a, yaml_document_t *doc, yaml_node_t *seq,
                             const char *path, const char *key)
{
	for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top;
	     it++) {
		yaml_node_t *e = yaml_document_get_node(doc, *it);
		int line = (int)e->start_mark.line + 1;
		if (e->type != YAML_SCALAR_NODE)
			return vdb_fail(VDB_EINVAL, "%s: line %d: %s: list items must be plain values",
			                path, line, key);
		vdb_status s = push_arg(a, key, (const char *)e->data.scalar.value, line);
		if (s)
			return s;
	}
	return VDB_OK;
}

/* The whole file, at most VDB_MAX_CONFIG_BYTES (a pipe too): *text
 * malloc'd, *len bytes. */
static vdb_status read_capped(const char *path, unsigned char **text, size_t *len)
{
	*text = NULL, *len = 0;
	FILE *f = fopen(path, "rb");
	if (!f)
		return vdb_fail(VDB_ENOENT, "%s: %s", path, strerror(errno));
	unsigned char *buf = vdb_malloc(VDB_MAX_CONFIG_BYTES + 1, "config");
	size_t n = buf ? fread(buf, 1, VDB_MAX_CONFIG_BYTES + 1, f) : 0;
	vdb_status s = !buf ? VDB_ENOMEM
	               : ferror(f) ? vdb_fail(VDB_EIO, "%s: %s", path, strerror(errno)) : VDB_OK;
	fclose(f);
	if (!s && n > VDB_MAX_CONFIG_BYTES) {
		size_t line = 1;
		for (size_t i = 0; i < VDB_MAX_CONFIG_BYTES; i++)
			line += buf[i] == '\n';
		s = vdb_fail(VDB_EINVAL, "%s: line %zu: the file is longer than the limit of %u MiB for "
		             "a config file", path, line, VDB_MAX_CONFIG_BYTES >> 20);
	}
	if (s) {
		free(buf);
		return s;
	}
	*text = buf, *len = n;
	return VDB_OK;
}

static vdb_status yaml_error(const char *path, const yaml_parser_t *p)
{
	return vdb_fail(VDB_EINVAL, "%s: line %zu: %s", path, p->problem_mark.line + 1,
	                p->problem ? p->problem : "invalid YAML");
}

/* The first pass: libyaml's events, checked for nesting and anchors
 * before anything is built from them. */
static vdb_status check_events(const char *path, const unsigned char *text, size_t len)
{
	yaml_parser_t p;
	yaml_parser_initialize(&p);
	yaml_parser_set_input_string(&p, text, len);
	vdb_status s = VDB_OK;
	unsigned depth = 0, aliases = 0;
	for (bool end = false; !s && !end;) {
		yaml_event_t e;
		if (!yaml_parser_parse(&p, &e)) {
			s = yaml_error(path, &p);
			break;
		}
		size_t line = e.start_mark.line + 1;
		const yaml_char_t *anchor = NULL;
		switch (e.type) {
		case YAML_STREAM_END_EVENT: end = true; break;
		case YAML_SEQUENCE_START_EVENT: anchor = e.data.sequence_start.anchor; depth++; break;
		case YAML_MAPPING_START_EVENT: anchor = e.data.mapping_start.anchor; depth++; break;
		case YAML_SEQUENCE_END_EVENT: case YAML_MAPPING_END_EVENT: depth--; break;
		case YAML_SCALAR_EVENT: anchor = e.data.scalar.anchor; break;
		case YAML_ALIAS_EVENT: aliases++; break;
		default: break;
		}
		aliases += anchor != NULL;
		if (depth > VDB_MAX_CONFIG_DEPTH)
			s = vdb_fail(VDB_EINVAL, "%s: line %zu: nested deeper than the limit of %u levels",
			             path, line, VDB_MAX_CONFIG_DEPTH);
		else if (aliases > VDB_MAX_CONFIG_ALIASES)
			s = vdb_fail(VDB_EINVAL, "%s: line %zu: more than the limit of %u anchors and "
			             "aliases", path, line, VDB_MAX_CONFIG_ALIASES);
		yaml_event_delete(&e);
	}
	yaml_parser_delete(&p);
	return s;
}

vdb_status vdb_config_load(const char *path, const char *const *each, int *argc, char ***argv,
                           int **lines)
{
	*argc = 0, *argv = NULL, *lines = NULL;
	unsigned char *text;
	size_t len;
	vdb_status s = read_capped(path, &text, &len);
	if (!s)
		s = check_events(path, text, len);
	if (s) {
		free(text);
		return s;
	}
	yaml_parser_t p;
	yaml_document_t doc;
	yaml_parser_initialize(&p);
	yaml_parser_set_input_string(&p, text, len);
	if (!yaml_parser_load(&p, &doc)) {
		s = yaml_error(path, &p);
		yaml_parser_delete(&p);
		free(text);
		return s;
	}
	arglist a = { .path = path };
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	if (!root) {
		/* an empty file sets nothing */
	} else if (root->type != YAML_MAPPING_NODE) {
		s = vdb_fail(VDB_EINVAL, "%s: line %zu: expected a mapping of option: value",
		             path, root->start_mark.line + 1);
	} else {
		for (yaml_node_pair_t *pr = root->data.mapping.pairs.start;
		     !s && pr < root->data.mapping.pairs.top; pr++) {
			yaml_node_t *k = yaml_document_get_node(&doc, pr->key);
			yaml_node_t *v = yaml_document_get_node(&doc, pr->value);
			int line = (int)k->start_mark.line + 1;
			if (k->type != YAML_SCALAR_NODE) {
				s = vdb_fail(VDB_EINVAL, "%s: line %d: keys must be option names", path, line);
				break;
			}
			const char *key = (const char *)k->data.scalar.value;
			if (v->type == YAML_SCALAR_NODE) {
				const char *val = (const char *)v->data.scalar.value;
				int quoted = v->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
				             v->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
				if (!quoted && is_true(val))
					s = push_arg(&a, key, NULL, line);
				else if (quoted || !is_false(val))
					s = push_arg(&a, key, val, line);
			} else if (v->type == YAML_SEQUENCE_NODE && listed(each, key)) {
				s = push_items(&a, &doc, v, path, key);
			} else if (v->type == YAML_SEQUENCE_NODE) {
				char joined[4096] = "";
				size_t used = 0;
				for (yaml_node_item_t *it = v->data.sequence.items.start;
				     it < v->data.sequence.items.top; it++) {
					yaml_node_t *e = yaml_document_get_node(&doc, *it);
					if (e->type != YAML_SCALAR_NODE) {
						s = vdb_fail(VDB_EINVAL, "%s: line %d: %s: list items must be "
						             "plain values", path, line, key);
						break;
					}
					int w = snprintf(joined + used, sizeof joined - used, "%s%s",
					                 used ? "," : "", (const char *)e->data.scalar.value);
					if (w < 0 || (size_t)w >= sizeof joined - used) {
						s = vdb_fail(VDB_EINVAL, "%s: line %d: %s: list too long",
						             path, line, key);
						break;
					}
					used += (size_t)w;
				}
				if (!s)
					s = push_arg(&a, key, joined, line);
			} else {
				s = vdb_fail(VDB_EINVAL, "%s: line %d: %s: expected a value or a list",
				             path, line, key);
			}
		}
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&p);
	free(text);
	if (s) {
		vdb_config_free((int)a.n, a.argv, a.lines);
		return s;
	}
	*argc = (int)a.n, *argv = a.argv, *lines = a.lines;
	return VDB_OK;
}

void vdb_config_free(int argc, char **argv, int *lines)
{
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	free(argv);
	free(lines);
}
