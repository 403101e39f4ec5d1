/*
 * embed_wordvec.c — the vec kind: word vectors in text form (fastText .vec,
 * word2vec text, GloVe): an optional first line "COUNT DIM", then a line
 * "WORD V1 ... VDIM" per word, fields separated by spaces or tabs.
 *
 * A text's vector is the mean of the unit-length vectors of its known
 * words. Words are the text split on ASCII whitespace (space, tab, newline,
 * vertical tab, form feed, carriage return), as fastText splits; a word is
 * looked up as it is, then, if not found, with ASCII A-Z lowercased
 * (GloVe's vectors are lowercase). Unknown words and words whose vector is
 * all zeros are skipped; a text without any known word is refused. A word
 * given twice keeps its first vector.
 */
#include "embed_internal.h"
#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

typedef struct {
	uint32_t dim;
	size_t n;
	float *vec;         /* n x dim, unit length (or zero) */
	char *words;        /* NUL-separated */
	size_t *word_off;
	uint32_t *table;    /* open addressing: word index + 1, 0 empty */
	size_t mask;
} wordvec;

static void wv_close(void *state)
{
	wordvec *w = state;
	if (!w)
		return;
	free(w->vec);
	free(w->words);
	free(w->word_off);
	free(w->table);
	free(w);
}

/* The index of word (len bytes), or -1. */
static int64_t lookup(const wordvec *w, const char *word, size_t len)
{
	for (size_t h = XXH3_64bits(word, len) & w->mask;; h = (h + 1) & w->mask) {
		uint32_t t = w->table[h];
		if (!t)
			return -1;
		const char *cand = w->words + w->word_off[t - 1];
		if (!strncmp(cand, word, len) && cand[len] == 0)
			return t - 1;
	}
}

static vdb_status wv_embed(vdb_embedder *e, const char *const *texts, const size_t *lens,
                           size_t n, float **outp, size_t *cap, size_t *bad)
{
	(void)cap;
	const wordvec *w = e->state;
	float *out = *outp;
	size_t d = w->dim, first = n;
	vdb_status st = VDB_OK;
	omp_lock_t lock; /* guards first, st (a named critical would be a global) */
	omp_init_lock(&lock);
	#pragma omp parallel if (n > 16)
	{
		double *acc = malloc(d * sizeof *acc);
		char *low = NULL;
		size_t low_cap = 0;
		#pragma omp for schedule(dynamic, 16)
		for (size_t i = 0; i < n; i++) {
			const char *t = texts[i];
			size_t len = lens[i], known = 0;
			if (!acc)
				continue;
			memset(acc, 0, d * sizeof *acc);
			for (size_t a = 0; a < len;) {
				while (a < len && vdb_embed_space((unsigned char)t[a]))
					a++;
				size_t b = a;
				while (b < len && !vdb_embed_space((unsigned char)t[b]))
					b++;
				if (b == a)
					break;
				int64_t k = lookup(w, t + a, b - a);
				if (k < 0 && vdb_grow((void **)&low, &low_cap, b - a, 1, "a word") == VDB_OK) {
					bool upper = false;
					for (size_t j = a; j < b; j++) {
						char c = t[j];
						upper |= c >= 'A' && c <= 'Z';
						low[j - a] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
					}
					if (upper)
						k = lookup(w, low, b - a);
				}
				const float *v = k >= 0 ? w->vec + (size_t)k * d : NULL;
				if (v) {
					bool zero = true;
					for (size_t j = 0; j < d; j++) {
						acc[j] += v[j];
						zero &= v[j] == 0;
					}
					known += !zero;
				}
				a = b;
			}
			if (known)
				for (size_t j = 0; j < d; j++)
					out[i * d + j] = (float)(acc[j] / (double)known);
			else {
				omp_set_lock(&lock);
				if (i < first) {
					first = i;
					st = VDB_EFORMAT;
				}
				omp_unset_lock(&lock);
			}
		}
		if (!acc) {
			omp_set_lock(&lock);
			st = VDB_ENOMEM, first = n;
			omp_unset_lock(&lock);
		}
		free(acc);
		free(low);
	}
	omp_destroy_lock(&lock);
	*bad = first;
	if (st == VDB_ENOMEM)
		return vdb_fail(st, "out of memory");
	if (st)
		return vdb_fail(st, "no word of the text has a vector in %s (words are split on "
		                "whitespace and looked up as they are, then lowercased)", e->name);
	return VDB_OK;
}

const vdb_embed_kind vdb_embed_wordvec = { "vec", true, wv_embed, wv_close };

/* ===== Loading ===== */
#define FAIL(...) do { s = vdb_fail(VDB_EFORMAT, __VA_ARGS__); goto out; } while (0)

/* Split line (NUL-terminated) on spaces and tabs into at most max fields. */
static size_t fields(char *line, char **f, size_t max)
{
	size_t n = 0;
	for (char *p = line; *p;) {
		while (*p == ' ' || *p == '\t')
			*p++ = 0;
		if (!*p)
			break;
		if (n < max)
			f[n] = p;
		n++;
		while (*p && *p != ' ' && *p != '\t')
			p++;
	}
	return n;
}

static bool whole_number(const char *s, unsigned long long *v)
{
	char *end;
	if (!*s || *s == '-' || *s == '+')
		return false;
	*v = strtoull(s, &end, 10);
	return !*end;
}

/* The values f[0..dim) of line lineno (0-based) into v, scaled to unit
 * length (a zero vector stays zero). */
static vdb_status parse_vector(float *v, uint32_t dim, char **f, const char *name, size_t lineno)
{
	double sq = 0;
	for (uint32_t j = 0; j < dim; j++) {
		char *endp;
		double x = strtod(f[j], &endp);
		VDB_RETURN_IF(*endp || endp == f[j], VDB_EFORMAT,
		              "%s: line %zu: value %u, '%.40s', is not a number", name, lineno + 1,
		              j + 1, f[j]);
		VDB_RETURN_IF(!isfinite(x) || fabs(x) > FLT_MAX, VDB_EFORMAT,
		              "%s: line %zu: value %u, %s, is not a finite float", name, lineno + 1,
		              j + 1, f[j]);
		v[j] = (float)x;
		sq += (double)v[j] * v[j];
	}
	if (sq > 0) {
		double inv = 1 / sqrt(sq);
		for (uint32_t j = 0; j < dim; j++)
			v[j] = (float)(v[j] * inv);
	}
	return VDB_OK;
}

/* The word table (open addressing, at most half full): a word given twice
 * keeps its first vector. */
static vdb_status build_table(wordvec *w)
{
	size_t size = 16;
	while (size < 2 * w->n)
		size *= 2;
	w->mask = size - 1;
	VDB_RETURN_IF(!(w->table = calloc(size, sizeof *w->table)), VDB_ENOMEM, "out of memory");
	for (size_t i = 0; i < w->n; i++) {
		const char *word = w->words + w->word_off[i];
		if (lookup(w, word, strlen(word)) >= 0)
			continue; /* the first vector of a word given twice */
		size_t h = XXH3_64bits(word, strlen(word)) & w->mask;
		while (w->table[h])
			h = (h + 1) & w->mask;
		w->table[h] = (uint32_t)(i + 1);
	}
	return VDB_OK;
}

vdb_status vdb_wordvec_load(vdb_embedder *e, const vdb_model_file *file)
{
	vdb_status s = VDB_OK;
	wordvec *w = calloc(1, sizeof *w);
	char *line = NULL, **f = NULL;
	size_t line_cap = 0, cap_vec = 0, cap_words = 0, words_len = 0, cap_off = 0, nf_max = 0;
	unsigned long long header_count = 0;
	bool header = false;
	const char *p = (const char *)file->bytes, *end = p + file->len;
	size_t lineno = 0;
	VDB_RETURN_IF(!w, VDB_ENOMEM, "out of memory");
	for (; p < end; lineno++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		const char *next = nl ? nl + 1 : end;
		if (len && p[len - 1] == '\r')
			len--;
		if (memchr(p, 0, len))
			FAIL("%s: line %zu: a NUL byte: not word vectors in text form", file->name,
			     lineno + 1);
		if ((s = vdb_grow((void **)&line, &line_cap, len + 1, 1, "a line")))
			goto out;
		memcpy(line, p, len);
		line[len] = 0;
		p = next;
		if (!nf_max) {
			nf_max = (size_t)VDB_MAX_DIM + 2;
			if (!(f = malloc(nf_max * sizeof *f))) {
				s = vdb_fail(VDB_ENOMEM, "out of memory");
				goto out;
			}
		}
		size_t nf = fields(line, f, nf_max);
		if (nf == 0)
			continue; /* a blank line */
		unsigned long long c, d;
		if (lineno == 0 && nf == 2 && whole_number(f[0], &c) && whole_number(f[1], &d)) {
			if (d < 1 || d > VDB_MAX_DIM)
				FAIL("%s: line 1: dimension %llu is out of range (1..%u, VDB_MAX_DIM)",
				     file->name, d, VDB_MAX_DIM);
			header = true;
			header_count = c;
			w->dim = (uint32_t)d;
			continue;
		}
		if (!w->dim) {
			if (nf < 2 || nf - 1 > VDB_MAX_DIM)
				FAIL("%s: line %zu: %zu values: not a word and its vector (1..%u values, "
				     "VDB_MAX_DIM)", file->name, lineno + 1, nf - 1, VDB_MAX_DIM);
			w->dim = (uint32_t)(nf - 1);
		}
		if (nf - 1 != w->dim)
			FAIL("%s: line %zu: the word's vector has %zu values, not %u like the %s",
			     file->name, lineno + 1, nf - 1, w->dim,
			     header ? "header says" : "first line's");
		if (w->n >= UINT32_MAX - 1)
			FAIL("%s: line %zu: too many words", file->name, lineno + 1);
		if ((s = vdb_grow((void **)&w->vec, &cap_vec, (w->n + 1) * w->dim, sizeof(float),
		                  "word vectors")))
			goto out;
		if ((s = parse_vector(w->vec + w->n * w->dim, w->dim, f + 1, file->name, lineno)))
			goto out;
		size_t wl = strlen(f[0]);
		if ((s = vdb_grow((void **)&w->words, &cap_words, words_len + wl + 1, 1, "words")) ||
		    (s = vdb_grow((void **)&w->word_off, &cap_off, w->n + 1, sizeof(size_t), "words")))
			goto out;
		memcpy(w->words + words_len, f[0], wl + 1);
		w->word_off[w->n++] = words_len;
		words_len += wl + 1;
	}
	if (w->n == 0)
		FAIL("%s: no word vectors in it", file->name);
	if (header && header_count != w->n)
		FAIL("%s: %zu words, but its first line says %llu (a truncated file?)", file->name,
		     w->n, header_count);
	if ((s = build_table(w)))
		goto out;
	e->kind = &vdb_embed_wordvec;
	e->state = w;
	e->dim = w->dim;
	w = NULL;
out:
	wv_close(w);
	free(line);
	free(f);
	return s;
}
