/* list_once.h — what ivfpq makes for a list the first time a query probes
 * it (8-bit: pq_list_tables.c's tables; 4-bit: pq_fast.c's packed codes and
 * tables), one state a list. Queries run in parallel on one index: the
 * thread that claims a list makes its things in place and publishes them
 * with a release store; one that finds them being made does not wait, it
 * makes what it needs in its own scratch (the same values). (internal) */
#ifndef VDB_LIST_ONCE_H
#define VDB_LIST_ONCE_H
#include <stdbool.h>
#include <stdint.h>

/* A list's things: not made, being made by one thread, readable. */
enum { VDB_LT_UNMADE, VDB_LT_MAKING, VDB_LT_READY };

/* What the thread probing a list does: read what is made, make it (and
 * then vdb_list_made), or make its own (another thread is making it). */
typedef enum { VDB_LIST_READ, VDB_LIST_MAKE, VDB_LIST_OWN } vdb_list_use;

static inline vdb_list_use vdb_list_claim(uint8_t *state, uint32_t l)
{
	uint8_t s = __atomic_load_n(&state[l], __ATOMIC_ACQUIRE);
	if (s == VDB_LT_READY)
		return VDB_LIST_READ;
	if (s == VDB_LT_UNMADE &&
	    __atomic_compare_exchange_n(&state[l], &s, VDB_LT_MAKING, false, __ATOMIC_ACQUIRE,
	                                __ATOMIC_ACQUIRE))
		return VDB_LIST_MAKE;
	/* (made between the load and the exchange: s was reloaded) */
	return s == VDB_LT_READY ? VDB_LIST_READ : VDB_LIST_OWN;
}

/* List l's things are made (after vdb_list_claim said VDB_LIST_MAKE). */
static inline void vdb_list_made(uint8_t *state, uint32_t l)
{
	__atomic_store_n(&state[l], VDB_LT_READY, __ATOMIC_RELEASE);
}
#endif
