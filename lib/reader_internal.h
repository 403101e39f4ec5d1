/* reader_internal.h — shared by reader.c, io_fvecs.c, io_jsonl.c and vecs.c. (internal) */
#ifndef VDB_READER_INTERNAL_H
#define VDB_READER_INTERNAL_H
#include "vdb_internal.h"
#include <jansson.h>

struct vdb_reader {
	char *name;            /* "stdin" or the path, for messages */
	int fd, own_fd;
	vdb_format fmt;
	int guessed;           /* fvecs only by default (no telling extension): binary
	                          vectors read such an input as bvecs */
	unsigned char *buf;    /* buffered input: bytes [pos, len) are unread */
	size_t cap, pos, len;
	int eof;
	size_t records;        /* records read so far */
	int empty;             /* the input ended before its first record */
	size_t line;           /* JSONL: lines read so far */
	char *line_buf;        /* JSONL: a line longer than the buffer */
	size_t line_cap;
};

/* Make at least n unread bytes available unless the input ends first;
 * returns the number available (< n only at end of input). */
vdb_status vdb_rd_want(vdb_reader *r, size_t n, size_t *avail);
/* The next line of a JSONL input, without its newline: *line, *len (in
 * r's buffer, valid until the next read); *got false at the end of the
 * input. A line over VDB_MAX_LINE is VDB_EFORMAT naming it, so that a file
 * without newlines is never buffered whole. The JSONL reader, vdb-text
 * chunk and vdb-text embed read their lines with it. */
vdb_status vdb_rd_line(vdb_reader *r, const char **line, size_t *len, bool *got);
/* A line of only spaces, tabs and carriage returns (skipped by every
 * JSONL reader). */
bool vdb_blank_line(const char *s, size_t n);
/* Where a JSONL record is, for messages: "NAME: line L (record R, id ID)"
 * (the id, from obj when it has one, cut to 80 bytes) into dst. */
void vdb_record_label(const char *name, size_t line, size_t rec, const json_t *obj,
                      char *dst, size_t n);
/* True when the next read would block (a pipe with nothing waiting). */
int vdb_rd_would_block(vdb_reader *r);

/* One record of each format appended to v; *got 0 at end of input. */
vdb_status vdb_read_vecs_record(vdb_reader *r, vdb_vecs *v, int *got);
vdb_status vdb_read_jsonl_record(vdb_reader *r, vdb_vecs *v, int *got);
/* Is a complete record already buffered? (so reading it cannot block) */
int vdb_vecs_record_buffered(const vdb_reader *r);
int vdb_jsonl_record_buffered(const vdb_reader *r);

/* vecs.c: room for one more row; then the row's floats go at
 * v->data + v->n * v->dim and v->n++ commits it. */
vdb_status vdb_vecs_reserve_row(vdb_vecs *v);
/* Whether a float row's squared length is within VDB_MAX_SQNORM; 0 with
 * *sq set when it is not (values already checked to be finite). */
int vdb_row_length_ok(const float *row, uint32_t d, double *sq);
/* Append a JSON text as row v->n's entry of column col (VDB_COL_*; call
 * before v->n++); a new column gets null for the rows before. */
vdb_status vdb_vecs_push(vdb_vecs *v, int col, const char *text, size_t len);
/* null as row v->n's entry of each sparse column (metadata, text) the set
 * has, but those whose bit (1 << VDB_COL_*) is in set. */
vdb_status vdb_vecs_push_nulls(vdb_vecs *v, unsigned set);
/* Mark row v->n (call before v->n++) as one without a vector (novec) or
 * with one: v->novec is made at the first row without. */
vdb_status vdb_vecs_mark_row(vdb_vecs *v, int novec);
#endif
