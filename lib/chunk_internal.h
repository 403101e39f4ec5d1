/* chunk_internal.h — between chunk_input.c, which reads documents, and
 * chunk_record.c, which writes their chunk records. (internal) */
#ifndef VDB_CHUNK_INTERNAL_H
#define VDB_CHUNK_INTERNAL_H
#include "jsonout.h"
#include <jansson.h>

/* The three fields a chunk record sets; the others are copied as they are. */
enum { VDB_SLOT_ID, VDB_SLOT_TEXT, VDB_SLOT_META, VDB_NSLOTS };

/* One thread's chunking: its chunker, the document it is on, the records
 * written. Zero-initialise, set c, name, jsonl and file; free with
 * vdb_chunk_job_free. */
typedef struct {
	vdb_chunker *c;
	const char *name;       /* the input, for messages */
	bool jsonl;             /* documents are named by line and record */
	size_t line_no, rec_no; /* JSONL: the document's line (from 1), record (from 0) */
	FILE *file;             /* out goes there past a MiB (NULL: kept in out) */
	vdb_jout out;           /* chunk records, one a line */
	size_t n;               /* chunks of the current document */
	/* the document's records: the text of tmpl with the slots filled in:
	 * piece 0, slot[0], piece 1, slot[1], piece 2, slot[2], piece 3, where
	 * piece i is tmpl.p[piece[i], piece[i + 1]) */
	const char *text;
	vdb_jout tmpl;          /* '{', the other fields, the slots' keys, '}' */
	size_t piece[VDB_NSLOTS + 2];
	int slot[VDB_NSLOTS];
	vdb_jout id_open;       /* "DOC#   (the number and '"' to come) */
	vdb_jout meta_open;     /* {...,"chunk":{"source":DOC,"number":   */
} vdb_chunk_job;

/* The document, for messages: "NAME: line L (record R)" or "NAME". */
void vdb_chunk_place(const vdb_chunk_job *j, char *buf, size_t n);
/* VDB_EFORMAT with a message naming the document. */
vdb_status vdb_chunk_bad(const vdb_chunk_job *j, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Chunk one document: rec its record (NULL for a plain document: id, text
 * and metadata only), id its "id" (string or integer), meta its metadata
 * (NULL, null or an object without "chunk"), text[0, len) its valid UTF-8
 * text. Appends one record per chunk to j->out; j->n counts them. */
vdb_status vdb_chunk_document(vdb_chunk_job *j, json_t *rec, json_t *id, json_t *meta,
                              const char *text, size_t len);
/* Write j->out to f and empty it (VDB_EIO if f fails). */
vdb_status vdb_chunk_flush(vdb_chunk_job *j, FILE *f);
void vdb_chunk_job_free(vdb_chunk_job *j);
#endif
