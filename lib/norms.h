/* norms.h — the factors that normalised a cosine index's rows
 * (norms.c): vectors are normalised once at build, and these give the
 * records back as they came (vdb-query --dump, --get). (internal) */
#ifndef VDB_NORMS_H
#define VDB_NORMS_H
#include "index_internal.h"

/* f32[count]: the factor row i was scaled by when it was normalised
 * (vdb_normalize_factor: 1/length, 1 for a zero vector); the row as given is
 * the stored row divided by it. Only in cosine indexes; files from before
 * it lack it and still open. */
#define VDB_SEC_NORM VDB_FOURCC('C', 'N', 'R', 'M')

/* ix (cosine) takes the factors of data's rows, before they are
 * normalised, after those of base's rows (base NULL: a build) or of base's
 * rows keep[0..ix->count) (a compaction: data NULL). Nothing when ix is not
 * cosine, or base has none (a file from before them). */
vdb_status vdb_norms_take(vdb_index *ix, const vdb_index *base, const vdb_vecs *data,
                          const int64_t *keep);
vdb_status vdb_norms_save(const vdb_index *ix, vdb_file_writer *w);
/* The section of ix->file, if any: a cosine index's, of count floats. */
vdb_status vdb_norms_open(vdb_index *ix);
/* y = the vector that unit row u (dim d) was normalised from by factor f,
 * chosen to normalise to u exactly again (else, rarely, a float32 rounding
 * off). */
void vdb_norms_restore(const float *u, float f, uint32_t d, float *y);
/* Every factor finite and above 0. */
vdb_status vdb_norms_verify(const vdb_index *ix);
#endif
