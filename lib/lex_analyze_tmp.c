/* THROWAWAY ASCII analyzer until lib/lex_analyze.c lands (helper token). */
#include "lex_analyze.h"
#include "utf8.h"
#include <libstemmer.h>
#include <stdio.h>
#include <string.h>

struct vdb_analyzer {
	struct sb_stemmer *st;
	char lang[64];
	char *stop;
	size_t stoplen;
	char *tok;
	size_t cap;
};

vdb_status vdb_analyzer_new(vdb_analyzer **out, const char *language, const char *stop, size_t len)
{
	*out = NULL;
	if (!language || !strcmp(language, "en"))
		language = "english";
	vdb_analyzer *a = calloc(1, sizeof *a);
	if (!a)
		return vdb_fail(VDB_ENOMEM, "out of memory");
	snprintf(a->lang, sizeof a->lang, "%s", language);
	if (strcmp(language, "none") && !(a->st = sb_stemmer_new(language, "UTF_8"))) {
		free(a);
		return vdb_fail(VDB_EINVAL, "unknown language '%s'", language);
	}
	if (len) {
		a->stop = malloc(len + 2);
		a->stop[0] = '\n';
		memcpy(a->stop + 1, stop, len);
		a->stop[len + 1] = 0;
		a->stoplen = len + 1;
	}
	*out = a;
	return VDB_OK;
}

void vdb_analyzer_free(vdb_analyzer *a)
{
	if (!a)
		return;
	if (a->st)
		sb_stemmer_delete(a->st);
	free(a->stop);
	free(a->tok);
	free(a);
}

const char *vdb_analyzer_language(const vdb_analyzer *a) { return a->lang; }

static int is_stop(vdb_analyzer *a, const char *t, size_t n)
{
	if (!a->stop)
		return 0;
	char buf[300];
	if (n > 256)
		return 0;
	buf[0] = '\n';
	memcpy(buf + 1, t, n);
	buf[n + 1] = '\n';
	buf[n + 2] = 0;
	return strstr(a->stop, buf) != NULL;
}

vdb_status vdb_analyze(vdb_analyzer *a, const char *text, size_t len, vdb_term_fn fn, void *ctx,
                       size_t *nterms)
{
	size_t bad = vdb_utf8_invalid((const unsigned char *)text, len), n = 0;
	if (nterms)
		*nterms = 0;
	VDB_RETURN_IF(bad < len, VDB_EFORMAT, "invalid UTF-8 at byte %zu", bad);
	for (size_t i = 0; i < len;) {
		unsigned char c = (unsigned char)text[i];
		if (!(c >= 0x80 || (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z'))) {
			i++;
			continue;
		}
		size_t j = i;
		while (j < len && ((unsigned char)text[j] >= 0x80 || (text[j] >= '0' && text[j] <= '9') ||
		                   ((text[j] | 32) >= 'a' && (text[j] | 32) <= 'z')))
			j++;
		if (vdb_grow((void **)&a->tok, &a->cap, j - i + 1, 1, "token"))
			return VDB_ENOMEM;
		for (size_t k = i; k < j; k++)
			a->tok[k - i] = (char)((unsigned char)text[k] < 0x80 && text[k] >= 'A' && text[k] <= 'Z' ? text[k] | 32 : text[k]);
		size_t tl = j - i;
		i = j;
		if (is_stop(a, a->tok, tl))
			continue;
		const char *t = a->tok;
		if (a->st) {
			t = (const char *)sb_stemmer_stem(a->st, (const sb_symbol *)a->tok, (int)tl);
			tl = (size_t)sb_stemmer_length(a->st);
		}
		if (tl > VDB_MAX_TERM)
			continue;
		n++;
		vdb_status s = fn(ctx, t, tl);
		if (s)
			return s;
	}
	if (nterms)
		*nterms = n;
	return VDB_OK;
}

vdb_status vdb_stopwords_load(const char *path, char **out, size_t *len)
{
	FILE *f = fopen(path, "r");
	VDB_RETURN_IF(!f, VDB_ENOENT, "%s: cannot open", path);
	char line[1024];
	char *buf = NULL;
	size_t n = 0, cap = 0;
	while (fgets(line, sizeof line, f)) {
		size_t l = strcspn(line, "\r\n");
		if (!l || line[0] == '#')
			continue;
		for (size_t i = 0; i < l; i++)
			if (line[i] >= 'A' && line[i] <= 'Z')
				line[i] |= 32;
		vdb_grow((void **)&buf, &cap, n + l + 2, 1, "stop");
		memcpy(buf + n, line, l);
		n += l;
		buf[n++] = '\n';
	}
	fclose(f);
	*out = buf;
	*len = n;
	return VDB_OK;
}
