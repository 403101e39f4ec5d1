/*
 * fuzz_index — the index opener and search, for every index type.
 *
 * A mutated file would almost never get past the header's checksum, so
 * before opening it the harness recomputes every checksum the section table
 * names and then the header's: the fuzzer plays a crafted file with valid
 * checksums, which only structural validation can stop. (Random damage
 * without valid checksums is tests/corrupt.bats's.) An opened index is
 * verified, described, searched, searched with a filter (the payload
 * index's sections), asked for records by id, and compacted.
 */
#include "fuzz.h"
#include <string.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#define HEADER 4096u
#define SECTAB 512u
#define SECENT 32u

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8); /* the format is little-endian, as the hosts vdb builds on */
	return v;
}

static void fix_checksums(uint8_t *b, size_t n)
{
	if (n < HEADER)
		return;
	uint32_t nsec;
	memcpy(&nsec, b + 28, 4);
	for (uint32_t i = 0; i < nsec && i < 64; i++) {
		uint8_t *e = b + SECTAB + i * SECENT;
		uint64_t off = get64(e + 8), len = get64(e + 16);
		if (off <= n && len <= n - off) {
			uint64_t h = XXH3_64bits(b + off, (size_t)len);
			memcpy(e + 24, &h, 8);
		}
	}
	uint64_t h = XXH3_64bits(b, HEADER - 8);
	memcpy(b + HEADER - 8, &h, 8);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	uint8_t *b = malloc(n ? n : 1);
	if (!b)
		return 0;
	memcpy(b, data, n);
	fix_checksums(b, n);
	const char *path = fuzz_file(b, n, ".vdb");
	free(b);
	vdb_index *ix;
	if (vdb_index_open(&ix, path))
		return 0;
	(void)vdb_index_verify(ix);
	free(vdb_index_info_json(ix));
	uint32_t d = vdb_index_dim(ix);
	if (d <= 4096) {
		enum { NQ = 2, K = 5 };
		float *q = malloc((size_t)NQ * d * sizeof *q);
		int64_t ids[NQ * K];
		float dist[NQ * K];
		if (q) {
			for (size_t i = 0; i < (size_t)NQ * d; i++)
				q[i] = (float)((i * 7919) % 13) - 6;
			vdb_search_opts o;
			vdb_search_opts_init(&o);
			o.k = K;
			o.ef = 16;
			o.nprobe = 3;
			if (vdb_index_search(ix, q, NQ, &o, ids, dist) == VDB_OK)
				for (int i = 0; i < NQ * K; i++) {
					size_t len;
					if (ids[i] >= 0) {
						(void)vdb_index_id_json(ix, ids[i], &len);
						(void)vdb_index_meta_json(ix, ids[i], &len);
					}
				}
			static vdb_filter *f;
			if (!f && vdb_filter_parse(&f, "(n.t == \"a\" || tags contains \"x\") && "
			                                "(v > 1 || !exists(v)) && b != true") != VDB_OK)
				abort();
			o.filter = f;
			(void)vdb_index_search(ix, q, NQ, &o, ids, dist);
			int64_t row = vdb_index_find_id(ix, "r3");
			if (row >= 0)
				(void)vdb_index_row_vector(ix, row, q);
			/* compaction reads every structure of the file (lists, tables,
			 * links), beyond what opening checks */
			vdb_index *c;
			vdb_build_opts bo;
			vdb_build_opts_init(&bo);
			o.filter = NULL;
			if (vdb_index_count(ix) <= 4096 && vdb_index_compact(&c, ix, &bo) == VDB_OK) {
				(void)vdb_index_search(c, q, 1, &o, ids, dist);
				vdb_index_close(c);
			}
			free(q);
		}
	}
	vdb_index_close(ix);
	return 0;
}
