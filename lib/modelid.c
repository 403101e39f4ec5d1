/*
 * modelid.c — the embedder identity (issue 18): which model turned texts
 * into the vectors of a record, so that an index can say what its vectors
 * mean and vdb-query can tell queries embedded by another model, whose
 * distances to the index's vectors mean nothing.
 *
 * vdb-text embed writes it into each record as "embedder": {"kind", "name",
 * "xxh3", "dim"}. The identity is (kind, xxh3, dim): xxh3 is the XXH3-64 of
 * the model file's bytes (or of the --exec command line), so a model
 * renamed is still the same model and a retrained one under the old name
 * is not. The stored form is canonical (those four keys in that order,
 * compact, as jansson writes them), so that an index file's EMBD section
 * can be checked by parsing it and comparing it with its own canonical form.
 */
#include "modelid.h"
#include <stdio.h>
#include <string.h>

static const char *const kinds[] = { "fasttext", "vec", "exec" };

static int lower_hex16(const char *s, size_t n)
{
	if (n != 16)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

vdb_status vdb_modelid_canon(json_t *j, const char *where, char **out)
{
	*out = NULL;
	VDB_RETURN_IF(!json_is_object(j), VDB_EFORMAT, "%s: \"embedder\" must be an object "
	              "{\"kind\", \"name\", \"xxh3\", \"dim\"} (as vdb-text embed writes it)", where);
	json_t *kind = json_object_get(j, "kind"), *name = json_object_get(j, "name");
	json_t *xxh = json_object_get(j, "xxh3"), *dim = json_object_get(j, "dim");
	int known = 0;
	for (size_t i = 0; json_is_string(kind) && i < sizeof kinds / sizeof *kinds; i++)
		known |= !strcmp(json_string_value(kind), kinds[i]);
	VDB_RETURN_IF(!known, VDB_EFORMAT, "%s: \"embedder\".\"kind\" must be \"fasttext\", \"vec\" "
	              "or \"exec\"", where);
	VDB_RETURN_IF(!json_is_string(name) || json_string_length(name) == 0 ||
	              json_string_length(name) > VDB_MAX_EMBEDDER_NAME, VDB_EFORMAT,
	              "%s: \"embedder\".\"name\" must be a string of 1 to %u bytes "
	              "(VDB_MAX_EMBEDDER_NAME)", where, VDB_MAX_EMBEDDER_NAME);
	VDB_RETURN_IF(!json_is_string(xxh) || !lower_hex16(json_string_value(xxh),
	                                                   json_string_length(xxh)), VDB_EFORMAT,
	              "%s: \"embedder\".\"xxh3\" must be 16 lowercase hex digits", where);
	VDB_RETURN_IF(!json_is_integer(dim) || json_integer_value(dim) < 1 ||
	              json_integer_value(dim) > VDB_MAX_DIM, VDB_EFORMAT,
	              "%s: \"embedder\".\"dim\" must be an integer in 1..%u", where, VDB_MAX_DIM);
	json_t *c = json_pack("{s:O, s:O, s:O, s:O}", "kind", kind, "name", name, "xxh3", xxh,
	                      "dim", dim);
	char *t = c ? json_dumps(c, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(c);
	VDB_RETURN_IF(!t, VDB_ENOMEM, "out of memory");
	*out = t;
	return VDB_OK;
}

/* kind, xxh3 and dim of a canonical identity; 0 if it is not one. */
static int fields(const char *json, char kind[16], char xxh[17], char *name, size_t nn,
                  uint32_t *dim)
{
	json_t *j = json ? json_loads(json, 0, NULL) : NULL;
	const char *k = json_string_value(json_object_get(j, "kind"));
	const char *x = json_string_value(json_object_get(j, "xxh3"));
	const char *nm = json_string_value(json_object_get(j, "name"));
	json_t *d = json_object_get(j, "dim");
	int ok = k && x && nm && json_is_integer(d) && strlen(k) < 16 && strlen(x) == 16;
	if (ok) {
		snprintf(kind, 16, "%s", k);
		snprintf(xxh, 17, "%s", x);
		if (name)
			snprintf(name, nn, "%s", nm);
		*dim = (uint32_t)json_integer_value(d);
	}
	json_decref(j);
	return ok;
}

int vdb_modelid_same(const char *a, const char *b)
{
	char ka[16], kb[16], xa[17], xb[17];
	uint32_t da, db;
	if (!fields(a, ka, xa, NULL, 0, &da) || !fields(b, kb, xb, NULL, 0, &db))
		return 0;
	return !strcmp(ka, kb) && !strcmp(xa, xb) && da == db;
}

uint32_t vdb_modelid_dim(const char *json)
{
	char k[16], x[17];
	uint32_t d;
	return fields(json, k, x, NULL, 0, &d) ? d : 0;
}

void vdb_modelid_describe(const char *json, char *buf, size_t n)
{
	char k[16], x[17], name[160];
	uint32_t d;
	if (!json)
		snprintf(buf, n, "no embedder (raw vectors)");
	else if (!fields(json, k, x, name, sizeof name, &d))
		snprintf(buf, n, "an unreadable embedder identity");
	else {
		for (char *p = name; *p; p++) /* a message stays one line */
			if ((unsigned char)*p < 0x20)
				*p = '?';
		snprintf(buf, n, "%s \"%s\" (xxh3 %s, dim %u)", k, name, x, d);
	}
}

vdb_status vdb_index_embedder_check(const vdb_index *ix, const char *ixname,
                                    const char *embedder, const char *qname, int strict)
{
	const char *mine = vdb_index_embedder(ix);
	if (!mine && !embedder)
		return VDB_OK;
	if (mine && embedder && vdb_modelid_same(mine, embedder))
		return VDB_OK;
	char a[256], b[256];
	vdb_modelid_describe(embedder, a, sizeof a);
	vdb_modelid_describe(mine, b, sizeof b);
	if (mine && embedder)
		return vdb_fail(VDB_EFORMAT, "%s embedded by %s, %s by %s: their distances do not "
		                "compare", qname, a, ixname, b);
	if (!strict)
		return VDB_OK;
	if (embedder)
		return vdb_fail(VDB_EFORMAT, "%s embedded by %s, %s built from raw vectors (no "
		                "embedder identity)", qname, a, ixname);
	return vdb_fail(VDB_EFORMAT, "%s without an embedder identity (raw vectors), %s built "
	                "from vectors of %s", qname, ixname, b);
}
