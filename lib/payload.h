/* payload.h — the payload index of an index file's metadata (payload.c):
 * written with the index, used to resolve --filter without parsing each
 * record. (internal) */
#ifndef VDB_PAYLOAD_H
#define VDB_PAYLOAD_H
#include "file.h"

struct vdb_fnode;

/* Write the payload sections for count records of metadata texts. */
vdb_status vdb_payload_save(vdb_file_writer *w, const uint64_t *md_off, const char *md_buf,
                            size_t count);

/* Copy f's payload sections, as they are, to w (the metadata they index
 * is unchanged); *copied 0 if f has none. */
vdb_status vdb_payload_copy(vdb_file_writer *w, const vdb_file *f, int *copied);

/* The payload sections of an opened file (their contents are checked as
 * they are used). */
typedef struct vdb_payload {
	const vdb_file *f;
	size_t count;
	const unsigned char *kt, *ks, *bm, *ft, *nm;
	size_t ktn, ksn, bmn, ftn, nmn;
	uint32_t nkeys, nfields;
	/* the rows an id test keeps (filter id tests: the record id is not in
	 * the payload index); set by the caller after vdb_payload_open */
	vdb_status (*id_rows)(const vdb_index *ix, const struct vdb_fnode *n, uint64_t *out);
	const vdb_index *ix;
} vdb_payload;

/* 1 if the file has a payload index (older files do not), else 0. */
int vdb_payload_open(vdb_payload *p, const vdb_file *f, size_t count);
/* Set the bits of the rows f keeps in bits (zeroed, count bits); *n
 * counts them. */
vdb_status vdb_payload_resolve(const vdb_payload *p, const vdb_filter *f, uint64_t *bits,
                               size_t *n);
#endif
