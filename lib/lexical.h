/* lexical.h — the lexical (BM25) index of an index file: the sections that
 * hold it, its build from the records' texts (lex_build.c), its sections
 * (lex_section.c) and its ranked search (lex_search.c). (internal)
 *
 * Sections (little-endian, as the rest of the file):
 *   LXPM  parameters: compact JSON {"language", "stopwords" (the stop words
 *         as vdb_stopwords_load stores them, one per line), "field" (a
 *         string or null), "rows" (N: the rows indexed, those live when it
 *         was built), "total" (the sum of the row lengths)}
 *   LXVO  vocabulary: u64 nterms, u64 strings bytes, then nterms
 *         vdb_lex_term sorted by their term's bytes (memcmp, shorter first),
 *         then the terms' bytes
 *   LXPO  postings: each term's at its post_off, in vocabulary order:
 *         a term of more than one block (df > VDB_LEX_BLOCK) has its
 *         nblocks vdb_lex_block there (8-byte aligned), then the blocks'
 *         data; a term of one block (most of them) only its data, which
 *         ends where the next term's postings start (or the section
 *         ends), its bounds being the term's. A block holds
 *         VDB_LEX_BLOCK postings (the last one fewer): the rows as LEB128
 *         varints of row - previous - 1 (previous: the last row of the
 *         block before, -1 for the first), then the term frequencies as
 *         varints of tf - 1
 *   LXLN  row lengths: u32[count], the terms of each row (0: no text)
 * Every section is checksummed by the container; vdb_lex_open checks the
 * sizes and the parameters, vdb_lex_verify the rest, and a search of an
 * unverified file stays inside the sections whatever they hold. */
#ifndef VDB_LEXICAL_H
#define VDB_LEXICAL_H
#include "file.h"
#include <jansson.h>

#define VDB_SEC_LXPM VDB_FOURCC('L', 'X', 'P', 'M')
#define VDB_SEC_LXVO VDB_FOURCC('L', 'X', 'V', 'O')
#define VDB_SEC_LXPO VDB_FOURCC('L', 'X', 'P', 'O')
#define VDB_SEC_LXLN VDB_FOURCC('L', 'X', 'L', 'N')

#define VDB_LEX_BLOCK 128u /* postings a block */
/* BM25's parameters when a search names none (vdb_search_opts_init;
 * vdb-query --k1, --b): Lucene's and FTS5's defaults. */
#define VDB_BM25_K1 1.2f
#define VDB_BM25_B 0.75f

typedef struct {
	uint64_t str_off;  /* its bytes in the vocabulary's strings */
	uint64_t post_off; /* its block table in the postings */
	uint32_t str_len;
	uint32_t df;       /* rows holding it (postings) */
	uint32_t max_tf;   /* bounds of the whole list: BM25 rises with tf and */
	uint32_t min_len;  /* falls with the row length, for any k1 and b */
} vdb_lex_term;

typedef struct {
	uint32_t last_row;
	uint32_t max_tf, min_len; /* over the block's postings */
	uint32_t zero;
	uint64_t end;             /* where its data ends, from the term's post_off */
} vdb_lex_block;

typedef struct vdb_lex {
	/* parameters */
	char *language, *stopwords, *field; /* stopwords: stoplen bytes; field NULL: "text" */
	size_t stoplen;
	uint64_t rows, total;
	size_t count; /* the index's rows (lengths) */
	/* the sections' bytes (owned when built, else in the mapping) */
	const char *params;
	size_t params_len;
	const unsigned char *vocab, *post;
	size_t vocab_len, post_len;
	const uint32_t *lens;
	uint64_t nterms;
	const vdb_lex_term *terms;
	const char *strings;
	size_t strings_len;
	void *owned[4]; /* buffers of a built index */
} vdb_lex;

/* Build the lexical index of ix's rows (count, texts, metadata and live
 * set): each live row's text, or the string of its metadata's top-level
 * field; rows without one have length 0; deleted rows have length 0, and
 * are not counted in N, so that the index is what a build of the live rows
 * alone would make. stop: stop words as vdb_stopwords_load gives
 * them (stoplen bytes). VDB_EFORMAT naming the record for invalid UTF-8,
 * VDB_EINVAL for an unknown language. */
vdb_status vdb_lex_build(vdb_lex **out, const vdb_index *ix, const char *language,
                         const char *stop, size_t stoplen, const char *field);
/* The same parameters as lx, over ix's rows (append, upsert, compact). */
vdb_status vdb_lex_rebuild(vdb_lex **out, const vdb_index *ix, const vdb_lex *lx);
/* The lexical sections of f, *out NULL when it has none; VDB_ECORRUPT
 * naming the section when a size or a parameter is wrong. */
vdb_status vdb_lex_open(vdb_lex **out, const vdb_file *f, size_t count);
vdb_status vdb_lex_save(const vdb_lex *lx, vdb_file_writer *w);
/* Everything a search trusts: VDB_ECORRUPT naming name and the section. */
vdb_status vdb_lex_verify(const vdb_lex *lx, const char *name, size_t count);
/* "lexical": {...} of --info. */
void vdb_lex_info(const vdb_lex *lx, json_t *o);
void vdb_lex_free(vdb_lex *lx);

/* The index (i into the vocabulary) of a term, or -1. Safe on unverified
 * vocabularies. */
int64_t vdb_lex_find(const vdb_lex *lx, const char *term, size_t len);
/* Decode block b of term t (n postings, VDB_LEX_BLOCK at most) into rows
 * and tfs: how many decoded, fewer than n if the data is broken (a row
 * past count or not ascending, a varint past the block). */
size_t vdb_lex_decode(const vdb_lex *lx, const vdb_lex_term *t, const vdb_lex_block *blocks,
                      uint32_t b, size_t count, uint32_t *rows, uint32_t *tfs);
/* Term t's block table into *bl: in the postings, or for a term of one
 * block *one made from the term (last_row UINT32_MAX: unknown); 0 if it
 * does not fit in the postings. */
int vdb_lex_blocks(const vdb_lex *lx, const vdb_lex_term *t, const vdb_lex_block **bl,
                   vdb_lex_block *one);
static inline uint32_t vdb_lex_nblocks(const vdb_lex_term *t)
{
	return (uint32_t)((t->df + VDB_LEX_BLOCK - 1) / VDB_LEX_BLOCK);
}
#endif
