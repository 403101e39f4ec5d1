/*
 * set_ref.c — what a result of a set of indexes names: the index and row
 * of a VDB_SET_REF, and the record of the whole input a shard's row is.
 * Below both the result writers (output.c) and the merges (merge.c), which
 * each read set results.
 */
#include "index_internal.h"
#include "results_internal.h"

const vdb_index *vdb_set_owner(const vdb_index *const *ix, size_t nix, int64_t ref, int64_t *row)
{
	*row = nix > 1 ? ref & 0xffffffff : ref;
	return ix[nix > 1 ? ref >> 32 : 0];
}

int64_t vdb_set_record(const vdb_index *const *ix, size_t nix, int64_t ref)
{
	int64_t row, num;
	const vdb_index *one = vdb_set_owner(ix, nix, ref, &row);
	uint32_t shards = 0;
	size_t len = 0;
	const char *id = (vdb_index_shard(one, &shards), shards) ? vdb_index_id_json(one, row, &len)
	                                                          : NULL;
	return id && vdb_id_integer(id, len, &num) ? num : row;
}
