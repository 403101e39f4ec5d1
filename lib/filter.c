/*
 * filter.c — the filter language of vdb-query --filter: a tokenizer and a
 * recursive-descent parser, and the per-record check against a metadata
 * object (the reference the payload index must agree with).
 *
 * No filter can exhaust the stack: the parser recurses only into '(' and
 * '!', at most VDB_MAX_FILTER_DEPTH deep (deeper is a usage error), and a
 * chain of && or || is one node with a list of operands, so the tree that
 * the check and the payload index walk is bounded by that depth too.
 *
 *   expr    := and ( '||' and )*
 *   and     := unary ( '&&' unary )*
 *   unary   := '!' unary | '(' expr ')' | 'exists' '(' field ')' | test
 *   test    := field ( op value | 'in' '[' value ( ',' value )* ']'
 *                    | 'contains' string )
 *   op      := '==' | '!=' | '<' | '<=' | '>' | '>='
 *   value   := string (JSON syntax) | number | 'true' | 'false'
 *   field   := [ '.' ] name ( '.' name )*, name = [A-Za-z_][A-Za-z0-9_-]*
 *
 * The bare field name `id` is the record's id (a string or an integer as
 * stored; the row number in an index stored without ids): `id == "x"`,
 * `id in [1, 2]`, `id != "x"`, and for integer ids <, <=, >, >=; exists(id)
 * is true of every record, `id contains` of none. A metadata field named
 * "id" is reached with a leading dot, `.id` (a leading dot names a path
 * from the metadata's root: `.price` is `price`); `id.x` is metadata too.
 *
 * Semantics, as SQL's on NULL: a test on a missing field, a null, or a value
 * of another type is false (so `price != 3` does not match a record without
 * a price, and `!(price == 3)` does). Ordering compares numbers only;
 * `contains` looks inside arrays of strings, `==` never does.
 *
 * Errors are usage errors naming the column (1-based) of the mistake.
 */
#include "filter.h"
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ===== Arena: every allocation of one filter, freed together ===== */
typedef struct block {
	struct block *next;
	max_align_t data[];
} block;

static void *arena_alloc(void **arena, size_t n)
{
	block *b = malloc(sizeof *b + n);
	if (!b)
		return NULL;
	b->next = *arena;
	*arena = b;
	memset(b->data, 0, n);
	return b->data;
}

static void arena_free(void *arena)
{
	for (block *b = arena; b;) {
		block *n = b->next;
		free(b);
		b = n;
	}
}

/* ===== Tokens ===== */
typedef enum {
	T_END, T_LPAREN, T_RPAREN, T_LBRACK, T_RBRACK, T_COMMA, T_AND, T_OR, T_NOT,
	T_OP, T_NAME, T_STRING, T_NUMBER
} tok_kind;

typedef struct {
	const char *text;
	size_t pos;        /* next unread byte */
	/* the current token */
	tok_kind kind;
	size_t start, len; /* its bytes */
	vdb_fop op;
	void **arena;
	int failed;
	unsigned depth;    /* '(' and '!' open around the current token */
} parser;

static vdb_status fail_at(parser *p, size_t col0, const char *what)
{
	p->failed = 1;
	return vdb_fail(VDB_EINVAL, "--filter: column %zu: %s (in '%s')", col0 + 1, what, p->text);
}

static vdb_status next(parser *p)
{
	const char *s = p->text;
	while (s[p->pos] == ' ' || s[p->pos] == '\t' || s[p->pos] == '\n' || s[p->pos] == '\r')
		p->pos++;
	p->start = p->pos;
	char c = s[p->pos];
	size_t two = (c && s[p->pos + 1]) ? 2 : 1;
	p->len = 1;
	switch (c) {
	case '\0': p->kind = T_END; p->len = 0; return VDB_OK;
	case '(': p->kind = T_LPAREN; break;
	case ')': p->kind = T_RPAREN; break;
	case '[': p->kind = T_LBRACK; break;
	case ']': p->kind = T_RBRACK; break;
	case ',': p->kind = T_COMMA; break;
	case '&':
		if (s[p->pos + 1] != '&')
			return fail_at(p, p->pos, "'&' alone: and is '&&'");
		p->kind = T_AND, p->len = 2;
		break;
	case '|':
		if (s[p->pos + 1] != '|')
			return fail_at(p, p->pos, "'|' alone: or is '||'");
		p->kind = T_OR, p->len = 2;
		break;
	case '=':
		if (s[p->pos + 1] != '=')
			return fail_at(p, p->pos, "'=' alone: equality is '=='");
		p->kind = T_OP, p->op = OP_EQ, p->len = 2;
		break;
	case '!':
		if (s[p->pos + 1] == '=')
			p->kind = T_OP, p->op = OP_NE, p->len = 2;
		else
			p->kind = T_NOT;
		break;
	case '<':
	case '>':
		p->kind = T_OP;
		p->op = c == '<' ? (s[p->pos + 1] == '=' ? OP_LE : OP_LT)
		                 : (s[p->pos + 1] == '=' ? OP_GE : OP_GT);
		p->len = s[p->pos + 1] == '=' ? two : 1;
		break;
	case '"': {
		size_t i = p->pos + 1;
		while (s[i] && s[i] != '"')
			i += s[i] == '\\' && s[i + 1] ? 2 : 1;
		if (!s[i])
			return fail_at(p, p->pos, "string without its closing '\"'");
		p->kind = T_STRING, p->len = i + 1 - p->pos;
		break;
	}
	default:
		if (isalpha((unsigned char)c) || c == '_' ||
		    (c == '.' && (isalpha((unsigned char)s[p->pos + 1]) || s[p->pos + 1] == '_'))) {
			size_t i = p->pos;
			while (isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '-' ||
			       (s[i] == '.' && (isalpha((unsigned char)s[i + 1]) || s[i + 1] == '_')))
				i++;
			p->kind = T_NAME, p->len = i - p->pos;
		} else if (isdigit((unsigned char)c) || c == '-' || c == '+' || c == '.') {
			char *end;
			strtod(s + p->pos, &end);
			if (end == s + p->pos)
				return fail_at(p, p->pos, "expected a number");
			p->kind = T_NUMBER, p->len = (size_t)(end - (s + p->pos));
		} else {
			return fail_at(p, p->pos, "unexpected character");
		}
	}
	p->pos += p->len;
	return VDB_OK;
}

static int word_is(const parser *p, const char *w)
{
	return p->kind == T_NAME && strlen(w) == p->len && !strncmp(p->text + p->start, w, p->len);
}

static char *copy_token(parser *p)
{
	char *c = arena_alloc(p->arena, p->len + 1);
	if (c)
		memcpy(c, p->text + p->start, p->len);
	return c;
}

/* The current name token as n's field: `id` alone is the record id, a
 * leading '.' is dropped (`.id` is the metadata field "id"). */
static vdb_status take_field(parser *p, vdb_fnode *n)
{
	n->id = p->len == 2 && !strncmp(p->text + p->start, "id", 2);
	char *f = copy_token(p);
	if (!f)
		return vdb_fail(VDB_ENOMEM, "out of memory");
	n->field = f[0] == '.' ? f + 1 : f;
	return VDB_OK;
}

/* Room for one more item in *items (n used of *cap, es bytes each, in the
 * arena; the old array stays there until the filter is freed). */
static vdb_status grow_items(parser *p, void **items, size_t *cap, size_t n, size_t es)
{
	if (*items && n < *cap)
		return VDB_OK;
	size_t more = *items ? 2 * *cap : 4;
	void *bigger = arena_alloc(p->arena, more * es);
	if (!bigger)
		return vdb_fail(VDB_ENOMEM, "out of memory");
	if (*items)
		memcpy(bigger, *items, n * es);
	*items = bigger, *cap = more;
	return VDB_OK;
}

/* ===== Grammar ===== */
static vdb_status parse_or(parser *p, vdb_fnode **out);

static vdb_fnode *node(parser *p, vdb_fnode_kind k)
{
	vdb_fnode *n = arena_alloc(p->arena, sizeof *n);
	if (n)
		n->kind = k;
	return n;
}

static vdb_status parse_value(parser *p, vdb_fvalue *v)
{
	if (p->kind == T_STRING) {
		/* JSON's string syntax, decoded by JSON's parser */
		json_error_t err;
		json_t *j = json_loadb(p->text + p->start, p->len, JSON_DECODE_ANY, &err);
		if (!j || !json_is_string(j)) {
			json_decref(j);
			return fail_at(p, p->start, "malformed string (JSON escapes only)");
		}
		v->kind = V_STRING;
		v->len = json_string_length(j);
		char *c = arena_alloc(p->arena, v->len + 1);
		if (c)
			memcpy(c, json_string_value(j), v->len);
		json_decref(j);
		if (!c)
			return vdb_fail(VDB_ENOMEM, "out of memory");
		v->s = c;
	} else if (p->kind == T_NUMBER) {
		v->kind = V_NUMBER;
		v->num = strtod(p->text + p->start, NULL);
		if (!isfinite(v->num))
			return fail_at(p, p->start, "number out of range");
	} else if (word_is(p, "true") || word_is(p, "false")) {
		v->kind = V_BOOL;
		v->b = word_is(p, "true");
	} else {
		return fail_at(p, p->start, p->kind == T_END ? "expected a value at the end"
		                                               : "expected a value: a \"string\", a "
		                                                 "number, true or false");
	}
	return next(p);
}

/* The operator's token is current: the one value after it into n, which
 * must be of kind want (-1: any), else the message why. */
static vdb_status parse_operand(parser *p, vdb_fnode *n, int want, const char *why)
{
	n->nvals = 1;
	n->vals = arena_alloc(p->arena, sizeof *n->vals);
	if (!n->vals)
		return vdb_fail(VDB_ENOMEM, "out of memory");
	vdb_status s = next(p);
	if (s)
		return s;
	size_t col = p->start;
	if ((s = parse_value(p, n->vals)))
		return s;
	if (want >= 0 && n->vals->kind != (vdb_fvalue_kind)want)
		return fail_at(p, col, why);
	return VDB_OK;
}

static vdb_status parse_test(parser *p, vdb_fnode **out)
{
	if (p->kind != T_NAME || word_is(p, "true") || word_is(p, "false") || word_is(p, "in") ||
	    word_is(p, "contains") || word_is(p, "exists"))
		return fail_at(p, p->start, p->kind == T_END ? "expected a condition at the end"
		                                               : "expected a field name");
	vdb_fnode *n = node(p, F_CMP);
	if (!n)
		return vdb_fail(VDB_ENOMEM, "out of memory");
	vdb_status s = take_field(p, n);
	if (s || (s = next(p)))
		return s;
	if (p->kind == T_OP) {
		n->op = p->op;
		bool order = n->op != OP_EQ && n->op != OP_NE;
		if ((s = parse_operand(p, n, order ? V_NUMBER : -1, "<, <=, > and >= compare numbers")))
			return s;
	} else if (word_is(p, "in")) {
		n->kind = F_IN;
		if ((s = next(p)))
			return s;
		if (p->kind != T_LBRACK)
			return fail_at(p, p->start, "expected '[' after in");
		size_t cap = 0;
		do {
			if ((s = next(p)) ||
			    (s = grow_items(p, (void **)&n->vals, &cap, n->nvals, sizeof *n->vals)) ||
			    (s = parse_value(p, &n->vals[n->nvals++])))
				return s;
		} while (p->kind == T_COMMA);
		if (p->kind != T_RBRACK)
			return fail_at(p, p->start, "expected ',' or ']' in the list");
		if ((s = next(p)))
			return s;
	} else if (word_is(p, "contains")) {
		n->kind = F_CONTAINS;
		if ((s = parse_operand(p, n, V_STRING, "contains takes a \"string\"")))
			return s;
	} else {
		return fail_at(p, p->start, p->kind == T_END
		                                ? "expected ==, !=, <, <=, >, >=, in or contains at the end"
		                                : "expected ==, !=, <, <=, >, >=, in or contains");
	}
	*out = n;
	return VDB_OK;
}

static vdb_status parse_unary(parser *p, vdb_fnode **out);

/* '!' or '(' is current: what it applies to or encloses, one level deeper. */
static vdb_status parse_nested(parser *p, vdb_fnode **out)
{
	if (p->depth == VDB_MAX_FILTER_DEPTH) {
		char why[96];
		snprintf(why, sizeof why, "nested deeper than the limit of %u ('(' and '!' together)",
		         VDB_MAX_FILTER_DEPTH);
		return fail_at(p, p->start, why);
	}
	vdb_status s;
	p->depth++;
	if (p->kind == T_NOT) {
		vdb_fnode *n = node(p, F_NOT);
		if (!n || !(n->kids = arena_alloc(p->arena, sizeof *n->kids)))
			return vdb_fail(VDB_ENOMEM, "out of memory");
		n->nkids = 1;
		if ((s = next(p)) || (s = parse_unary(p, &n->kids[0])))
			return s;
		*out = n;
	} else {
		size_t open = p->start;
		if ((s = next(p)) || (s = parse_or(p, out)))
			return s;
		if (p->kind != T_RPAREN)
			return fail_at(p, p->kind == T_END ? open : p->start,
			               p->kind == T_END ? "'(' is never closed" : "expected ')'");
		if ((s = next(p)))
			return s;
	}
	p->depth--;
	return VDB_OK;
}

static vdb_status parse_unary(parser *p, vdb_fnode **out)
{
	vdb_status s;
	if (p->kind == T_NOT || p->kind == T_LPAREN)
		return parse_nested(p, out);
	if (word_is(p, "exists")) {
		vdb_fnode *n = node(p, F_EXISTS);
		if (!n)
			return vdb_fail(VDB_ENOMEM, "out of memory");
		if ((s = next(p)))
			return s;
		if (p->kind != T_LPAREN)
			return fail_at(p, p->start, "expected '(' after exists");
		if ((s = next(p)))
			return s;
		if (p->kind != T_NAME)
			return fail_at(p, p->start, "expected a field name in exists(...)");
		if ((s = take_field(p, n)) || (s = next(p)))
			return s;
		if (p->kind != T_RPAREN)
			return fail_at(p, p->start, "expected ')' after the field of exists");
		*out = n;
		return next(p);
	}
	return parse_test(p, out);
}

/* One level: sub ( tok sub )*, as one node of kind k holding every
 * operand (or the operand itself when there is one). */
static vdb_status parse_chain(parser *p, vdb_fnode **out, tok_kind tok, vdb_fnode_kind k,
                              vdb_status (*sub)(parser *, vdb_fnode **))
{
	vdb_status s = sub(p, out);
	if (s || p->kind != tok)
		return s;
	vdb_fnode *n = node(p, k);
	if (!n)
		return vdb_fail(VDB_ENOMEM, "out of memory");
	size_t cap = 0;
	if ((s = grow_items(p, (void **)&n->kids, &cap, 0, sizeof *n->kids)))
		return s;
	n->kids[n->nkids++] = *out;
	while (p->kind == tok) {
		if ((s = grow_items(p, (void **)&n->kids, &cap, n->nkids, sizeof *n->kids)) ||
		    (s = next(p)) || (s = sub(p, &n->kids[n->nkids])))
			return s;
		n->nkids++;
	}
	*out = n;
	return VDB_OK;
}

static vdb_status parse_and(parser *p, vdb_fnode **out)
{
	return parse_chain(p, out, T_AND, F_AND, parse_unary);
}

static vdb_status parse_or(parser *p, vdb_fnode **out)
{
	return parse_chain(p, out, T_OR, F_OR, parse_and);
}

vdb_status vdb_filter_parse(vdb_filter **out, const char *text)
{
	*out = NULL;
	vdb_filter *f = calloc(1, sizeof *f);
	if (!f || !(f->text = strdup(text))) {
		free(f);
		return vdb_fail(VDB_ENOMEM, "out of memory");
	}
	parser p = { .text = f->text, .arena = &f->arena };
	vdb_status s = next(&p);
	if (!s && p.kind == T_END)
		s = fail_at(&p, 0, "empty filter");
	if (!s)
		s = parse_or(&p, &f->root);
	if (!s && p.kind != T_END)
		s = fail_at(&p, p.start, p.kind == T_RPAREN ? "')' without its '('"
		                                            : "expected && or || between conditions");
	if (s) {
		vdb_filter_free(f);
		return s;
	}
	*out = f;
	return VDB_OK;
}

void vdb_filter_scan_records(vdb_filter *f, int on)
{
	f->scan = on != 0;
}

void vdb_filter_free(vdb_filter *f)
{
	if (!f)
		return;
	arena_free(f->arena);
	free(f->text);
	free(f);
}

/* ===== Per-record check ===== */
json_t *vdb_filter_lookup(json_t *meta, const char *path)
{
	char name[256];
	while (meta && json_is_object(meta)) {
		const char *dot = strchr(path, '.');
		size_t len = dot ? (size_t)(dot - path) : strlen(path);
		if (len >= sizeof name)
			return NULL;
		memcpy(name, path, len);
		name[len] = 0;
		meta = json_object_get(meta, name);
		if (!dot)
			return meta;
		path = dot + 1;
	}
	return NULL;
}

static int value_eq(const vdb_fvalue *v, json_t *j)
{
	switch (v->kind) {
	case V_STRING:
		return json_is_string(j) && json_string_length(j) == v->len &&
		       !memcmp(json_string_value(j), v->s, v->len);
	case V_NUMBER:
		return json_is_number(j) && json_number_value(j) == v->num;
	case V_BOOL:
		return json_is_boolean(j) && json_is_true(j) == v->b;
	}
	return 0;
}

/* Same type as the value (the domain of != and of ordering). */
static int same_type(const vdb_fvalue *v, json_t *j)
{
	return v->kind == V_STRING ? json_is_string(j)
	       : v->kind == V_NUMBER ? json_is_number(j) : json_is_boolean(j);
}

int vdb_fnode_match(const vdb_fnode *n, json_t *meta, const vdb_frec *rec)
{
	if (n->id)
		return vdb_fnode_id_match(n, rec);
	switch (n->kind) {
	case F_OR:
		for (size_t i = 0; i < n->nkids; i++)
			if (vdb_fnode_match(n->kids[i], meta, rec))
				return 1;
		return 0;
	case F_AND:
		for (size_t i = 0; i < n->nkids; i++)
			if (!vdb_fnode_match(n->kids[i], meta, rec))
				return 0;
		return 1;
	case F_NOT:
		return !vdb_fnode_match(n->kids[0], meta, rec);
	case F_EXISTS: {
		json_t *j = vdb_filter_lookup(meta, n->field);
		return j && !json_is_null(j);
	}
	case F_IN: {
		json_t *j = vdb_filter_lookup(meta, n->field);
		for (size_t i = 0; j && i < n->nvals; i++)
			if (value_eq(&n->vals[i], j))
				return 1;
		return 0;
	}
	case F_CONTAINS: {
		json_t *j = vdb_filter_lookup(meta, n->field), *e;
		size_t i;
		if (!json_is_array(j))
			return 0;
		json_array_foreach(j, i, e)
			if (value_eq(n->vals, e))
				return 1;
		return 0;
	}
	case F_CMP: {
		json_t *j = vdb_filter_lookup(meta, n->field);
		const vdb_fvalue *v = n->vals;
		if (!j || !same_type(v, j))
			return 0;
		if (n->op == OP_EQ)
			return value_eq(v, j);
		if (n->op == OP_NE)
			return !value_eq(v, j);
		double x = json_number_value(j);
		switch (n->op) {
		case OP_LT: return x < v->num;
		case OP_LE: return x <= v->num;
		case OP_GT: return x > v->num;
		case OP_GE: return x >= v->num;
		default: return 0;
		}
	}
	}
	return 0;
}

int vdb_filter_match_record(const vdb_filter *f, const char *json, size_t len,
                            const char *id, size_t idlen, int64_t row)
{
	json_t *meta = json ? json_loadb(json, len, 0, NULL) : NULL;
	vdb_frec rec = { id, idlen, row };
	int m = vdb_fnode_match(f->root, meta, &rec);
	json_decref(meta);
	return m;
}

int vdb_filter_match_json(const vdb_filter *f, const char *json, size_t len)
{
	return vdb_filter_match_record(f, json, len, NULL, 0, -1);
}

static int uses_id(const vdb_fnode *n)
{
	for (size_t i = 0; i < n->nkids; i++)
		if (uses_id(n->kids[i]))
			return 1;
	return n->id;
}

int vdb_filter_uses_id(const vdb_filter *f)
{
	return uses_id(f->root);
}
