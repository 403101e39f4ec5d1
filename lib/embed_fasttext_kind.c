/*
 * embed_fasttext_kind.c — the fasttext kind: sentence vectors of a fastText
 * model (.bin) through libfasttext (the shim in embed_fasttext.cc), the
 * texts of a batch in parallel. A text whose vector is all zeros (no word
 * at all, or only words without a vector) is refused: cosine cannot use it.
 */
#include "embed_internal.h"
#include <omp.h>
#include <stdio.h>

static vdb_status ft_embed(vdb_embedder *e, const char *const *texts, const size_t *lens,
                           size_t n, float **outp, size_t *cap, size_t *bad)
{
	(void)cap;
	vdb_ft *m = e->state;
	float *out = *outp;
	size_t d = e->dim, first = n;
	char msg[512] = "";
	vdb_status st = VDB_OK;
	omp_lock_t lock; /* guards first, st, msg (a named critical would be a global) */
	omp_init_lock(&lock);
	#pragma omp parallel for schedule(dynamic, 16) if (n > 16)
	for (size_t i = 0; i < n; i++) {
		char err[256];
		float *v = out + i * d;
		vdb_status si = VDB_OK;
		if (vdb_ft_sentence(m, texts[i], lens[i], v, err, sizeof err))
			si = VDB_EINTERNAL;
		else {
			bool zero = true;
			for (size_t j = 0; j < d && zero; j++)
				zero = v[j] == 0;
			if (zero)
				si = VDB_EFORMAT;
		}
		if (si) {
			omp_set_lock(&lock);
			if (i < first) {
				first = i;
				st = si;
				if (si == VDB_EINTERNAL)
					snprintf(msg, sizeof msg, "libfasttext failed: %s", err);
				else
					snprintf(msg, sizeof msg, "the text has no word with a vector in "
					         "the model (its vector would be all zeros)");
			}
			omp_unset_lock(&lock);
		}
	}
	omp_destroy_lock(&lock);
	if (st) {
		*bad = first;
		return vdb_fail(st, "%s", msg);
	}
	return VDB_OK;
}

static void ft_close(void *state)
{
	vdb_ft_free(state);
}

const vdb_embed_kind vdb_embed_fasttext = { "fasttext", true, ft_embed, ft_close };

vdb_status vdb_fasttext_load(vdb_embedder *e, const vdb_model_file *f)
{
	uint32_t dim;
	vdb_status s = vdb_fasttext_check(f, &dim);
	if (s)
		return s;
	char msg[512] = "";
	vdb_ft *m = vdb_ft_load(f->bytes, f->len, msg, sizeof msg);
	if (!m)
		return vdb_fail(VDB_EFORMAT, "%s: libfasttext cannot load the model: %s", f->name,
		                msg);
	int got = vdb_ft_dim(m);
	if (got < 0 || (uint32_t)got != dim) {
		vdb_ft_free(m);
		return vdb_fail(VDB_EINTERNAL, "%s: libfasttext reads dimension %d, the file says %u",
		                f->name, got, dim);
	}
	e->kind = &vdb_embed_fasttext;
	e->state = m;
	e->dim = dim;
	return VDB_OK;
}
