/* embed_internal.h — the kinds of embedder behind vdb_embedder (embed.c
 * dispatches; embed_fasttext*.{c,cc}, embed_wordvec.c and embed_exec.c
 * implement). (internal) */
#ifndef VDB_EMBED_INTERNAL_H
#define VDB_EMBED_INTERNAL_H
#include "vdb_internal.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct vdb_embed_kind vdb_embed_kind;

struct vdb_embedder {
	const vdb_embed_kind *kind;
	void *state;          /* the kind's */
	uint32_t dim;         /* 0: not known yet (exec) */
	uint32_t want_dim;    /* --dim: 0 any */
	double timeout;
	char *name;           /* file base name or command line */
	char *command;        /* exec: the command line */
	uint64_t xxh3;
	char *identity;       /* the "embedder" JSON, once dim is known */
};

/* One kind's operations. embed gets texts without newlines or carriage
 * returns (embed.c maps them to spaces) and fills *out, n x e->dim floats
 * (embed.c makes room when e->dim is known; exec sets e->dim at its first
 * batch and makes room itself, *cap counting floats); on failure *bad is the text at fault
 * or n for the whole batch, and the message names no record. */
struct vdb_embed_kind {
	const char *name;     /* "fasttext", "vec", "exec" */
	bool per_text;        /* each text's vector is its own: a batch may be split */
	vdb_status (*embed)(vdb_embedder *e, const char *const *texts, const size_t *lens,
	                    size_t n, float **out, size_t *cap, size_t *bad);
	void (*close)(void *state);
};

extern const vdb_embed_kind vdb_embed_fasttext, vdb_embed_wordvec, vdb_embed_exec;

/* The model file's bytes, as open() found them (embed.c); name for messages. */
typedef struct {
	const char *path, *name;
	const unsigned char *bytes;
	size_t len;
} vdb_model_file;

/* embed_fasttext_check.c: is this a complete fastText model that
 * libfasttext can load safely? (the whole structure, to its last byte);
 * *dim on success. VDB_EFORMAT naming the file and what is wrong. */
#define VDB_FASTTEXT_MAGIC 793712314
vdb_status vdb_fasttext_check(const vdb_model_file *f, uint32_t *dim);
/* embed_fasttext_kind.c: load a checked model. */
vdb_status vdb_fasttext_load(vdb_embedder *e, const vdb_model_file *f);
/* embed_wordvec.c: parse word vectors in text form. */
vdb_status vdb_wordvec_load(vdb_embedder *e, const vdb_model_file *f);

/* embed_fasttext.cc: the C interface of the shim over libfasttext. Each
 * catches every exception and returns NULL or -1 with a message in msg. */
typedef struct vdb_ft vdb_ft;
vdb_ft *vdb_ft_load(const void *bytes, size_t len, char *msg, size_t msglen);
int vdb_ft_dim(const vdb_ft *m);
/* The sentence vector of one line of text (no newline in it) into out. */
int vdb_ft_sentence(vdb_ft *m, const char *text, size_t len, float *out, char *msg,
                    size_t msglen);
void vdb_ft_free(vdb_ft *m);

/* The ASCII whitespace that fastText's tokeniser splits on: space, \t, \n,
 * \v, \f, \r. */
static inline bool vdb_embed_space(unsigned char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}
#ifdef __cplusplus
}
#endif
#endif
