/* filter.h — the parsed form of a metadata filter (vdb-query --filter), for
 * the code that resolves it: the payload index and the per-record check.
 * (internal) */
#ifndef VDB_FILTER_H
#define VDB_FILTER_H
#include "vdb_internal.h"
#include <jansson.h>

typedef enum {
	F_OR, F_AND, F_NOT,
	F_CMP,      /* field op value */
	F_IN,       /* field in [values]: == any of them */
	F_CONTAINS, /* array field holds the string */
	F_EXISTS    /* field present and not null */
} vdb_fnode_kind;

typedef enum { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE } vdb_fop;

typedef enum { V_STRING, V_NUMBER, V_BOOL } vdb_fvalue_kind;

typedef struct {
	vdb_fvalue_kind kind;
	const char *s;  /* V_STRING (NUL-terminated, may hold no NUL inside) */
	size_t len;
	double num;     /* V_NUMBER */
	int b;          /* V_BOOL */
} vdb_fvalue;

typedef struct vdb_fnode vdb_fnode;
struct vdb_fnode {
	vdb_fnode_kind kind;
	vdb_fnode **kids;      /* F_OR, F_AND: nkids >= 2 operands, left to right (a chain
	                          of && or || is one node, so its length costs no depth);
	                          F_NOT: kids[0] */
	size_t nkids;
	const char *field;     /* dotted path into the metadata object */
	int id;                /* the test is of the record's id (the bare field name
	                          `id`), not of a metadata field (see filter.c) */
	vdb_fop op;
	vdb_fvalue *vals;      /* F_CMP, F_CONTAINS: one; F_IN: nvals */
	size_t nvals;
};

struct vdb_filter {
	vdb_fnode *root;
	char *text;            /* the filter as given, for messages */
	void *arena;           /* every node, string and value, freed at once */
	int scan;              /* vdb_filter_scan_records: each record's JSON */
};

/* A record as an id test sees it: its stored id's JSON text, or (id NULL)
 * its row number in an index without ids (row -1: no id known, and every
 * id test is false). */
typedef struct {
	const char *id;
	size_t idlen;
	int64_t row;
} vdb_frec;

/* The value at a dotted path of a metadata object, or NULL. */
json_t *vdb_filter_lookup(json_t *meta, const char *path);
/* Does one record (metadata: NULL for none; rec: its id) satisfy the node?
 * Recurses once per level of the tree, which the parser bounds
 * (VDB_MAX_FILTER_DEPTH). */
int vdb_fnode_match(const vdb_fnode *n, json_t *meta, const vdb_frec *rec);
/* Does the record's id satisfy the id test n (n->id set)? */
int vdb_fnode_id_match(const vdb_fnode *n, const vdb_frec *rec);
/* Does any node of f test the record id? */
int vdb_filter_uses_id(const vdb_filter *f);
/* The rows of ix whose id passes the id test n, or-ed into out (count
 * bits): without stored ids, == and in set the rows they name directly;
 * else one pass over the id texts, no JSON parsed (filter_id.c). */
vdb_status vdb_filter_id_rows(const vdb_index *ix, const vdb_fnode *n, uint64_t *out);
#endif
