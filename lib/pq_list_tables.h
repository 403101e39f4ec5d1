/* pq_list_tables.h — ivfpq's 8-bit l2 per-list tables, each made the first
 * time a query probes its list (pq_list_tables.c). (internal) */
#ifndef VDB_PQ_LIST_TABLES_H
#define VDB_PQ_LIST_TABLES_H
#include "ivf.h"
#include "list_once.h"

typedef struct {
	float *tab;      /* nlist x m x 256, list l's valid once state[l] is VDB_LT_READY */
	uint8_t *state;  /* per list (NULL: every table made by vdb_pq_list_tables_init) */
	float *norms;    /* |cb|^2 of each code of each sub-quantizer (m x 256) */
	size_t bytes;    /* of tab */
} vdb_pq_list_tables;

/* Space for f's tables (bytes of them), made on first use; or, when the
 * centroids or codebooks are near the float range, every table now, and
 * VDB_EFORMAT if one holds a NaN. *t zeroed first; free it either way. */
vdb_status vdb_pq_list_tables_init(vdb_pq_list_tables *t, const ivf *f, uint32_t d,
                                   size_t bytes);
/* List l's table, made if no query has made it yet: the thread that claims
 * the list makes it in place and publishes it; one that finds it being made
 * makes its own copy in mine (m x 256 floats) rather than wait. The same
 * values either way. */
const float *vdb_pq_list_table_make(vdb_pq_list_tables *t, const ivf *f, uint32_t l, uint32_t d,
                                    float *mine);
/* (a made table without a call: the scan's registers stay its own) */
static inline const float *vdb_pq_list_table(vdb_pq_list_tables *t, const ivf *f, uint32_t l,
                                             uint32_t d, float *mine)
{
	if (!t->state || __atomic_load_n(&t->state[l], __ATOMIC_ACQUIRE) == VDB_LT_READY)
		return t->tab + (size_t)l * f->pq_q.m * VDB_PQ_KSUB;
	return vdb_pq_list_table_make(t, f, l, d, mine);
}
void vdb_pq_list_tables_free(vdb_pq_list_tables *t);
#endif
