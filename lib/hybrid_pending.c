/* hybrid_pending.c — TEMPORARY stand-ins for the lexical search (the lex
 * branch brings the real ones); removed when that branch is merged. An
 * index with texts is taken as lexical; a text scores the number of times
 * the query's words (lowercased ASCII, split at spaces) occur in it. */
#include "vdb_internal.h"
#include <ctype.h>
#include <jansson.h>
#include <string.h>

int vdb_index_has_lexical(const vdb_index *ix) { return vdb_index_has_text(ix); }

static double score_of(const char *q, size_t ql, const char *text)
{
	double s = 0;
	size_t i = 0;
	while (i < ql) {
		while (i < ql && q[i] == ' ')
			i++;
		size_t j = i;
		while (j < ql && q[j] != ' ')
			j++;
		if (j > i) {
			char w[256];
			size_t n = j - i < 255 ? j - i : 255;
			for (size_t c = 0; c < n; c++)
				w[c] = (char)tolower((unsigned char)q[i + c]);
			w[n] = 0;
			for (const char *p = text; (p = strstr(p, w)); p += n)
				s++;
		}
		i = j;
	}
	return s;
}

vdb_status vdb_index_search_text_set(const vdb_index *const *ix, size_t n,
                                     const char *const *texts, const size_t *lens, size_t nq,
                                     const vdb_search_opts *o, int64_t *ids, float *scores)
{
	for (size_t q = 0; q < nq; q++) {
		VDB_RETURN_IF(lens[q] == 0, VDB_EFORMAT, "query %zu: empty", q);
		int64_t *id = ids + q * o->k;
		float *sc = scores + q * o->k;
		size_t m = 0;
		for (size_t k = 0; k < o->k; k++)
			id[k] = -1, sc[k] = 0;
		for (size_t i = 0; i < n; i++) {
			VDB_RETURN_IF(!vdb_index_has_text(ix[i]), VDB_EUNSUPPORTED, "no lexical index");
			for (size_t r = 0; r < vdb_index_count(ix[i]); r++) {
				if (!vdb_index_is_live(ix[i], (int64_t)r))
					continue;
				size_t len;
				const char *md = vdb_index_meta_json(ix[i], (int64_t)r, &len);
				if (o->filter && !vdb_filter_match_json(o->filter, md, md ? len : 0))
					continue;
				const char *tj = vdb_index_text_json(ix[i], (int64_t)r, &len);
				json_t *t = tj ? json_loadb(tj, len, JSON_DECODE_ANY, NULL) : NULL;
				char *low = json_is_string(t) ? strdup(json_string_value(t)) : NULL;
				json_decref(t);
				if (!low)
					continue;
				for (char *p = low; *p; p++)
					*p = (char)tolower((unsigned char)*p);
				double s = score_of(texts[q], lens[q], low);
				free(low);
				if (s <= 0)
					continue;
				int64_t ref = n > 1 ? VDB_SET_REF(i, r) : (int64_t)r;
				size_t at = m < o->k ? m++ : o->k;
				if (at == o->k && !(s > sc[o->k - 1]))
					continue;
				if (at == o->k)
					at = o->k - 1;
				while (at > 0 && sc[at - 1] < s)
					id[at] = id[at - 1], sc[at] = sc[at - 1], at--;
				id[at] = ref, sc[at] = (float)s;
			}
		}
	}
	return VDB_OK;
}
