/* fuzz_vecs — the fvecs, ivecs and bvecs readers (as floats and as binary
 * vectors): the first byte picks the format, the rest is the file. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	if (n < 1)
		return 0;
	static const vdb_format fmts[] = { VDB_FMT_FVECS, VDB_FMT_IVECS, VDB_FMT_BVECS, VDB_FMT_AUTO };
	vdb_format fmt = fmts[data[0] % 4];
	fuzz_read_all(fuzz_file(data + 1, n - 1, ".fvecs"), fmt);
	return 0;
}
