/* fuzz_jsonl — the JSONL reader: ids, vectors or "bits", metadata, line by line. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	fuzz_read_all(fuzz_file(data, n, ".jsonl"), VDB_FMT_JSONL);
	return 0;
}
