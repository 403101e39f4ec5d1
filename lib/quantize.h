/* quantize.h — scalar conversions of the quantizers, exposed for the unit
 * tests and for storage types of indexes. (internal) */
#ifndef VDB_QUANTIZE_H
#define VDB_QUANTIZE_H
#include "file.h"
#include "f16.h"

/* The file type of a quantizer file (the index container's type field). */
#define VDB_QUANT_FOURCC VDB_FOURCC('Q', 'U', 'N', 'T')

/* sq8 as the storage of an index: a quantizer from an SQ8R section (dim
 * float32 lo, then dim hi) of the file at path, checked as vdb-quantize
 * checks its own (VDB_ECORRUPT naming path); its ranges (lo then hi, 2*dim
 * floats, the SQ8R section to write) and the level steps. */
vdb_status vdb_quantizer_sq8_from(vdb_quantizer **out, const char *path, uint32_t dim,
                                  const float *ranges, size_t len);
const float *vdb_quantizer_sq8_ranges(const vdb_quantizer *q);
const float *vdb_quantizer_sq8_step(const vdb_quantizer *q);
#endif
