/*
 * filter_id.c — filter tests of the record id (`id == "x"`, `id in [1, 2]`,
 * `id != "x"`; the bare field name `id`, see filter.c): the per-record check
 * and the rows of an index that pass one.
 *
 * Types are as for metadata: a string value matches string ids, a number
 * integer ids (an index stored without ids: the row number), and a test
 * against an id of the other type is false. The rows are found without
 * parsing any JSON: with no stored ids, `==` and `in` name their rows
 * directly; else one pass over the id texts (a string id's bytes are
 * compared in place, as idmap.c keys them).
 */
#include "filter.h"
#include "index_internal.h"
#include "jsontext.h"
#include "rowset.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The record's id as a string (*s, *slen; *hold to release) or an integer
 * (*num): 1 string, 2 integer, 0 none or unreadable. */
static int id_value(const vdb_frec *r, const char **s, size_t *slen, json_t **hold, double *num)
{
	*hold = NULL;
	if (!r->id) {
		*num = (double)r->row;
		return r->row >= 0 ? 2 : 0;
	}
	if (r->idlen >= 2 && r->id[0] == '"')
		return vdb_json_string_bytes(r->id, r->idlen, s, slen, hold) ? 0 : 1;
	char digits[32];
	if (r->idlen == 0 || r->idlen >= sizeof digits)
		return 0;
	memcpy(digits, r->id, r->idlen);
	digits[r->idlen] = 0;
	char *end;
	errno = 0;
	long long v = strtoll(digits, &end, 10);
	if (*end || errno)
		return 0;
	*num = (double)v;
	return 2;
}

static int eq(const vdb_fvalue *v, int kind, const char *s, size_t slen, double num)
{
	if (v->kind == V_STRING)
		return kind == 1 && slen == v->len && !memcmp(s, v->s, slen);
	return v->kind == V_NUMBER && kind == 2 && num == v->num;
}

int vdb_fnode_id_match(const vdb_fnode *n, const vdb_frec *rec)
{
	const char *s = NULL;
	size_t slen = 0;
	double num = 0;
	json_t *hold;
	int kind = id_value(rec, &s, &slen, &hold, &num), m = 0;
	if (n->kind == F_EXISTS) {
		m = kind != 0;
	} else if (n->kind == F_IN) {
		for (size_t i = 0; !m && i < n->nvals; i++)
			m = eq(&n->vals[i], kind, s, slen, num);
	} else if (n->kind == F_CMP) {
		const vdb_fvalue *v = n->vals;
		int same = (v->kind == V_STRING && kind == 1) || (v->kind == V_NUMBER && kind == 2);
		switch (n->op) {
		case OP_EQ: m = eq(v, kind, s, slen, num); break;
		case OP_NE: m = same && !eq(v, kind, s, slen, num); break;
		case OP_LT: m = same && num < v->num; break;
		case OP_LE: m = same && num <= v->num; break;
		case OP_GT: m = same && num > v->num; break;
		case OP_GE: m = same && num >= v->num; break;
		}
	}
	json_decref(hold);
	return m; /* F_CONTAINS: an id is not an array */
}

/* The row a number names in an index without ids, or -1. */
static int64_t row_named(const vdb_fvalue *v, size_t count)
{
	if (v->kind != V_NUMBER || v->num < 0 || v->num >= (double)count || floor(v->num) != v->num)
		return -1;
	return (int64_t)v->num;
}

vdb_status vdb_filter_id_rows(const vdb_index *ix, const vdb_fnode *n, uint64_t *out)
{
	int direct = !ix->col[VDB_COL_ID].off &&
	             (n->kind == F_IN || (n->kind == F_CMP && n->op == OP_EQ));
	if (direct) {
		size_t nv = n->kind == F_IN ? n->nvals : 1;
		for (size_t i = 0; i < nv; i++) {
			int64_t r = row_named(&n->vals[i], ix->count);
			if (r >= 0)
				vdb_rowset_add(out, (size_t)r);
		}
		return VDB_OK;
	}
	size_t words = vdb_rowset_words(ix->count);
	/* a word per iteration: no two threads write the same word */
	#pragma omp parallel for schedule(dynamic, 256)
	for (size_t w = 0; w < words; w++) {
		uint64_t word = 0;
		for (size_t i = w * 64; i < (w + 1) * 64 && i < ix->count; i++) {
			vdb_frec rec = { NULL, 0, (int64_t)i };
			rec.id = vdb_index_id_json(ix, (int64_t)i, &rec.idlen);
			if (vdb_fnode_id_match(n, &rec))
				word |= (uint64_t)1 << (i & 63);
		}
		out[w] |= word;
	}
	return VDB_OK;
}
