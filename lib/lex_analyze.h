/* lex_analyze.h — text to terms for the lexical index and its queries:
 * tokens, lowercasing, stop words, Snowball stemming (lex_analyze.c).
 * (internal)
 *
 * A token is a maximal run of letters and digits as glibc's C.UTF-8 locale
 * classifies them (iswalnum: Unicode's letters, decimal digits, letter
 * numbers, and the marks Unicode calls alphabetic), with the combining
 * marks (the locale's class "combining": accents, viramas) that follow a
 * letter or digit of the run; every other character separates tokens (a
 * combining mark after a separator too). A token is lowercased (towlower,
 * character by character: simple mappings, no final-sigma rule),
 * dropped if it is a stop word, stemmed, and emitted as a term when its
 * stemmed form is 1 to VDB_MAX_TERM bytes (a longer one is skipped, and
 * does not count). On ASCII text the tokens are those of SQLite FTS5's
 * unicode61 tokenizer (vdb-text(1) lists where they differ). The index
 * and its queries are analysed by analyzers made from the same language
 * and stop words, which the index stores. */
#ifndef VDB_LEX_ANALYZE_H
#define VDB_LEX_ANALYZE_H
#include "vdb_internal.h"

typedef struct vdb_analyzer vdb_analyzer;

/* language: a Snowball algorithm name as sb_stemmer_list() gives them
 * (UTF-8 encoding), "en" (= "english"), or "none"; NULL: "english". stop:
 * stop words, one per line (already lowercased: see vdb_stopwords_load), len
 * bytes; NULL or 0: none. VDB_EINVAL naming the language when libstemmer
 * has no such stemmer (the message lists the ones it has). An analyzer
 * is used by one thread at a time (a libstemmer stemmer holds state):
 * parallel code makes one per thread. */
vdb_status vdb_analyzer_new(vdb_analyzer **out, const char *language, const char *stop,
                            size_t len);
void vdb_analyzer_free(vdb_analyzer *a);
/* The canonical language name ("english", "none", ...): what an index
 * stores. */
const char *vdb_analyzer_language(const vdb_analyzer *a);

/* Called once per term, in text order; term is not NUL-terminated. A
 * status other than VDB_OK stops the analysis and is returned. */
typedef vdb_status (*vdb_term_fn)(void *ctx, const char *term, size_t len);
/* The terms of text[0, len) (UTF-8): VDB_EFORMAT at invalid UTF-8, with a
 * message that names the byte offset but not the record (callers prefix
 * it). *nterms (may be NULL) counts the terms emitted: the row's length
 * in BM25. No allocation once the analyzer has grown to the longest
 * token. */
vdb_status vdb_analyze(vdb_analyzer *a, const char *text, size_t len, vdb_term_fn fn, void *ctx,
                       size_t *nterms);

/* Read a stop word file (one word per line, blank lines and lines starting
 * with '#' skipped, at most VDB_MAX_STOPWORDS words of at most VDB_MAX_TERM
 * bytes) into *out: the words lowercased as tokens are, sorted, unique, one
 * per line (malloc'd, *len bytes): the form an index stores. VDB_ENOENT if
 * the file cannot be opened, VDB_EFORMAT naming the file and line for a
 * line that is not one token (such as "don't") or invalid UTF-8. */
vdb_status vdb_stopwords_load(const char *path, char **out, size_t *len);
#endif
