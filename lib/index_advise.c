/*
 * index_advise.c — what the kernel is told of an index's mapping: the float
 * rows that hnsw and ivfpq read only to re-rank a few candidates a query are
 * read at random. With the disk's read-around (read_ahead_kb, 8 MB on the
 * project's machines) a fault on one 3 KB row reads megabytes; while the rows
 * stay cached that fills the cache faster from cold (1M x 128: the first
 * 1,000 queries in 1.2 s, 3.7 s without it), but rows that do not fit beside
 * the graph evict it (a 10M x 768 set of three shards, 39 GB on a 24 GiB
 * machine, read 465 GB in 10 minutes). So rows of a quarter of physical
 * memory or more, one index's or a set's together, are advised random, by
 * the commands that search (vdb-query, vdb-eval), not at open: an append
 * or a compaction copies the rows in order, which read-around speeds.
 */
#include "index_internal.h"

size_t vdb_index_advise_search_at(const vdb_index *const *ix, size_t n, size_t limit)
{
	size_t sum = 0, advised = 0;
	for (size_t i = 0; i < n; i++)
		sum += ix[i]->rerank_len;
	if (sum < limit)
		return 0;
	for (size_t i = 0; i < n; i++) /* each the set's limit, which its rows' sum reaches */
		advised += vdb_file_advise_random(ix[i]->rerank_rows, ix[i]->rerank_len, 0);
	return advised;
}

size_t vdb_index_advise_search(const vdb_index *const *ix, size_t n)
{
	return vdb_index_advise_search_at(ix, n, vdb_file_random_limit());
}
