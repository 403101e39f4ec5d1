/*
 * lex_section.c — the lexical index's sections in an index file: saving,
 * opening (sizes and parameters), verifying (every posting), --info, and
 * the bounded readers a search uses on an unverified file (a term's
 * lookup, a block's decoding). The layout is in lexical.h.
 */
#include "lex_analyze.h"
#include "lexical.h"
#include <string.h>

static const char *const sec_name[4] = { "LXPM", "LXVO", "LXPO", "LXLN" };
static const uint32_t sec_kind[4] = { VDB_SEC_LXPM, VDB_SEC_LXVO, VDB_SEC_LXPO, VDB_SEC_LXLN };

void vdb_lex_free(vdb_lex *lx)
{
	if (!lx)
		return;
	free(lx->language);
	free(lx->stopwords);
	free(lx->field);
	for (int i = 0; i < 4; i++)
		free(lx->owned[i]);
	free(lx);
}

vdb_status vdb_lex_save(const vdb_lex *lx, vdb_file_writer *w)
{
	const void *data[4] = { lx->params, lx->vocab, lx->post, lx->lens };
	size_t len[4] = { lx->params_len, lx->vocab_len, lx->post_len, lx->count * sizeof(uint32_t) };
	vdb_status s = VDB_OK;
	for (int i = 0; i < 4 && !s; i++)
		s = vdb_file_write_section(w, sec_kind[i], data[i], len[i]);
	return s;
}

/* The parameters' JSON into lx: VDB_ECORRUPT (no message) if they are not
 * what vdb_lex_build writes for count rows. */
static vdb_status parse_params(vdb_lex *lx, size_t count)
{
	json_t *j = json_loadb(lx->params, lx->params_len, JSON_REJECT_DUPLICATES, NULL);
	json_t *lang = json_object_get(j, "language"), *stop = json_object_get(j, "stopwords"),
	       *field = json_object_get(j, "field"), *rows = json_object_get(j, "rows"),
	       *total = json_object_get(j, "total");
	vdb_status s = VDB_ECORRUPT;
	if (json_is_string(lang) && json_string_length(lang) && json_string_length(lang) < 256 &&
	    json_is_string(stop) && json_string_length(stop) <= VDB_MAX_STOPWORDS * (VDB_MAX_TERM + 1) &&
	    (json_is_null(field) || json_is_string(field)) && json_is_integer(rows) &&
	    json_integer_value(rows) >= 0 &&
	    json_integer_value(rows) <= (json_int_t)count && json_is_integer(total) &&
	    json_integer_value(total) >= 0 && json_object_size(j) == 5) {
		lx->language = strdup(json_string_value(lang));
		lx->stoplen = json_string_length(stop);
		lx->stopwords = malloc(lx->stoplen + 1);
		if (lx->stopwords)
			memcpy(lx->stopwords, json_string_value(stop), lx->stoplen + 1);
		lx->field = json_is_string(field) ? strdup(json_string_value(field)) : NULL;
		lx->rows = (uint64_t)json_integer_value(rows);
		lx->total = (uint64_t)json_integer_value(total);
		s = lx->language && lx->stopwords && (lx->field || !json_is_string(field)) ? VDB_OK
		                                                                           : VDB_ENOMEM;
	}
	json_decref(j);
	return s;
}

/* Point lx at a vocabulary section's parts; 0 if its sizes disagree. */
static int split_vocab(vdb_lex *lx)
{
	uint64_t head[2];
	if (lx->vocab_len < sizeof head)
		return 0;
	memcpy(head, lx->vocab, sizeof head);
	size_t rest = lx->vocab_len - sizeof head;
	if (head[0] > rest / sizeof(vdb_lex_term) ||
	    head[1] != rest - head[0] * sizeof(vdb_lex_term))
		return 0;
	lx->nterms = head[0];
	lx->terms = (const vdb_lex_term *)(const void *)(lx->vocab + sizeof head);
	lx->strings = (const char *)lx->vocab + sizeof head + head[0] * sizeof(vdb_lex_term);
	lx->strings_len = (size_t)head[1];
	return 1;
}

vdb_status vdb_lex_open(vdb_lex **out, const vdb_file *f, size_t count)
{
	*out = NULL;
	const void *p[4];
	size_t len[4];
	int have = 0;
	for (int i = 0; i < 4; i++)
		have += (p[i] = vdb_file_section(f, sec_kind[i], &len[i])) != NULL;
	if (have == 0)
		return VDB_OK;
	VDB_RETURN_IF(have != 4, VDB_ECORRUPT, "%s: lexical index sections missing (corrupt index)",
	              f->path);
	vdb_lex *lx = calloc(1, sizeof *lx);
	if (!lx)
		return vdb_fail(VDB_ENOMEM, "out of memory");
	lx->params = p[0], lx->params_len = len[0];
	lx->vocab = p[1], lx->vocab_len = len[1];
	lx->post = p[2], lx->post_len = len[2];
	lx->lens = p[3];
	lx->count = count;
	vdb_status s = parse_params(lx, count);
	int bad = s ? 0 : !split_vocab(lx) ? 1 : len[3] != count * sizeof(uint32_t) ? 3 : -1;
	if (s == VDB_ENOMEM || bad >= 0) {
		vdb_lex_free(lx);
		return s == VDB_ENOMEM ? vdb_fail(s, "out of memory")
		                       : vdb_fail(VDB_ECORRUPT, "%s: lexical section %s is of the wrong "
		                                  "size or content (corrupt index)", f->path,
		                                  sec_name[bad]);
	}
	*out = lx;
	return VDB_OK;
}

int vdb_lex_blocks(const vdb_lex *lx, const vdb_lex_term *t, const vdb_lex_block **bl,
                   vdb_lex_block *one)
{
	uint64_t nb = vdb_lex_nblocks(t);
	if (t->post_off > lx->post_len)
		return 0;
	if (nb == 1) {
		size_t i = (size_t)(t - lx->terms);
		uint64_t next = i + 1 < lx->nterms ? lx->terms[i + 1].post_off : lx->post_len;
		*one = (vdb_lex_block){ UINT32_MAX, t->max_tf, t->min_len, 0,
		                        next >= t->post_off ? next - t->post_off : 0 };
		*bl = one;
		return 1;
	}
	if (t->post_off % 8 || nb > (lx->post_len - t->post_off) / sizeof(vdb_lex_block))
		return 0;
	*bl = (const vdb_lex_block *)(const void *)(lx->post + t->post_off);
	return 1;
}

size_t vdb_lex_decode(const vdb_lex *lx, const vdb_lex_term *t, const vdb_lex_block *blocks,
                      uint32_t b, size_t count, uint32_t *rows, uint32_t *tfs)
{
	uint64_t nb = vdb_lex_nblocks(t);
	uint64_t start = b ? blocks[b - 1].end : nb > 1 ? nb * sizeof(vdb_lex_block) : 0;
	uint64_t end = blocks[b].end;
	uint64_t room = lx->post_len - t->post_off; /* vdb_lex_blocks checked post_off */
	if (start > end || end > room)
		return 0;
	const unsigned char *p = lx->post + t->post_off + start, *e = lx->post + t->post_off + end;
	size_t n = t->df - (size_t)b * VDB_LEX_BLOCK;
	n = n > VDB_LEX_BLOCK ? VDB_LEX_BLOCK : n;
	int64_t prev = b ? (int64_t)blocks[b - 1].last_row : -1;
	size_t got = 0;
	for (int pass = 0; pass < 2; pass++) {
		size_t i = 0;
		for (; i < (pass ? got : n); i++) {
			uint64_t v = 0;
			int sh = 0;
			while (p < e && sh < 35) {
				unsigned char c = *p++;
				v |= (uint64_t)(c & 127) << sh;
				sh += 7;
				if (!(c & 128))
					goto done;
			}
			break; /* past the block, or too long */
		done:
			if (!pass) {
				int64_t row = prev + 1 + (int64_t)v;
				if ((uint64_t)row >= count)
					break;
				rows[i] = (uint32_t)row;
				prev = row;
			} else {
				tfs[i] = v >= UINT32_MAX ? UINT32_MAX : (uint32_t)v + 1;
			}
		}
		got = i;
	}
	return got;
}

int64_t vdb_lex_find(const vdb_lex *lx, const char *term, size_t len)
{
	uint64_t lo = 0, hi = lx->nterms;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		const vdb_lex_term *t = &lx->terms[mid];
		if (t->str_off > lx->strings_len || t->str_len > lx->strings_len - t->str_off)
			return -1; /* a broken vocabulary (verify says so) */
		size_t m = t->str_len < len ? t->str_len : len;
		int c = memcmp(lx->strings + t->str_off, term, m);
		if (!c)
			c = (t->str_len > len) - (t->str_len < len);
		if (c == 0)
			return (int64_t)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* One term's postings against the vocabulary's promises; seen[row] adds
 * its tfs (for the lengths). 0 if they break one. */
static int verify_term(const vdb_lex *lx, const vdb_lex_term *t, size_t count, uint64_t *seen,
                       uint32_t *rows, uint32_t *tfs)
{
	const vdb_lex_block *bl;
	vdb_lex_block one;
	if (t->df == 0 || t->df > count || !vdb_lex_blocks(lx, t, &bl, &one))
		return 0;
	uint32_t nb = vdb_lex_nblocks(t), max_tf = 0, min_len = UINT32_MAX;
	for (uint32_t b = 0; b < nb; b++) {
		size_t n = t->df - (size_t)b * VDB_LEX_BLOCK;
		n = n > VDB_LEX_BLOCK ? VDB_LEX_BLOCK : n;
		if (bl[b].zero || vdb_lex_decode(lx, t, bl, b, count, rows, tfs) != n ||
		    (nb > 1 && rows[n - 1] != bl[b].last_row))
			return 0;
		uint32_t bmax = 0, bmin = UINT32_MAX;
		for (size_t i = 0; i < n; i++) {
			bmax = tfs[i] > bmax ? tfs[i] : bmax;
			bmin = lx->lens[rows[i]] < bmin ? lx->lens[rows[i]] : bmin;
			seen[rows[i]] += tfs[i];
		}
		if (bmax != bl[b].max_tf || bmin != bl[b].min_len)
			return 0;
		max_tf = bmax > max_tf ? bmax : max_tf;
		min_len = bmin < min_len ? bmin : min_len;
	}
	/* the last block's data ends inside the postings (decode checked each) */
	return max_tf == t->max_tf && min_len == t->min_len;
}

vdb_status vdb_lex_verify(const vdb_lex *lx, const char *name, size_t count)
{
	uint64_t sum = 0, texts = 0;
	for (size_t i = 0; i < count; i++)
		sum += lx->lens[i], texts += lx->lens[i] > 0;
	/* N counts the rows live at the build, every row with terms among them */
	VDB_RETURN_IF(sum != lx->total || lx->rows > count || texts > lx->rows, VDB_ECORRUPT,
	              "%s: lexical section LXLN: %llu rows of lengths summing to %llu, the "
	              "parameters (LXPM) say %llu rows and %llu (corrupt index)", name,
	              (unsigned long long)texts, (unsigned long long)sum,
	              (unsigned long long)lx->rows, (unsigned long long)lx->total);
	vdb_analyzer *a;
	VDB_RETURN_IF(vdb_analyzer_new(&a, lx->language, lx->stopwords, lx->stoplen), VDB_ECORRUPT,
	              "%s: lexical section LXPM: %s (corrupt index)", name, vdb_last_error());
	int canon = !strcmp(vdb_analyzer_language(a), lx->language);
	vdb_analyzer_free(a);
	VDB_RETURN_IF(!canon, VDB_ECORRUPT, "%s: lexical section LXPM: language '%s' is not a "
	              "canonical name (corrupt index)", name, lx->language);
	uint64_t *seen = calloc(count ? count : 1, sizeof *seen);
	uint32_t *rows = malloc(VDB_LEX_BLOCK * sizeof *rows), *tfs = malloc(VDB_LEX_BLOCK * sizeof *tfs);
	vdb_status s = seen && rows && tfs ? VDB_OK : vdb_fail(VDB_ENOMEM, "out of memory");
	for (uint64_t i = 0; !s && i < lx->nterms; i++) {
		const vdb_lex_term *t = &lx->terms[i], *p = i ? t - 1 : NULL;
		/* postings in vocabulary order: a term of one block ends at the next */
		int ok = (!p || p->post_off <= t->post_off) && t->str_off <= lx->strings_len && t->str_len <= lx->strings_len - t->str_off &&
		         t->str_len > 0 && t->str_len <= VDB_MAX_TERM;
		if (ok && p) { /* sorted, unique: lookups are binary searches */
			size_t m = p->str_len < t->str_len ? p->str_len : t->str_len;
			int c = memcmp(lx->strings + p->str_off, lx->strings + t->str_off, m);
			ok = c < 0 || (c == 0 && p->str_len < t->str_len);
		}
		if (!ok)
			s = vdb_fail(VDB_ECORRUPT, "%s: lexical section LXVO: term %llu is out of bounds "
			             "or out of order (corrupt index)", name, (unsigned long long)i);
		else if (!verify_term(lx, t, count, seen, rows, tfs))
			s = vdb_fail(VDB_ECORRUPT, "%s: lexical section LXPO: the postings of term %llu "
			             "do not decode as the vocabulary says (corrupt index)", name,
			             (unsigned long long)i);
	}
	for (size_t i = 0; !s && i < count; i++)
		if (seen[i] != lx->lens[i])
			s = vdb_fail(VDB_ECORRUPT, "%s: lexical section LXLN: row %zu has length %u, its "
			             "postings %llu terms (corrupt index)", name, i, lx->lens[i],
			             (unsigned long long)seen[i]);
	free(seen), free(rows), free(tfs);
	return s;
}

void vdb_lex_info(const vdb_lex *lx, json_t *o)
{
	size_t nstop = 0;
	for (size_t i = 0; i < lx->stoplen; i++)
		nstop += lx->stopwords[i] == '\n';
	json_t *j = json_object();
	json_object_set_new(j, "language", json_string(lx->language));
	json_object_set_new(j, "stopwords", json_integer((json_int_t)nstop));
	json_object_set_new(j, "field", lx->field ? json_string(lx->field) : json_null()); /* null: the text */
	json_object_set_new(j, "terms", json_integer((json_int_t)lx->nterms));
	json_object_set_new(j, "postings_bytes", json_integer((json_int_t)lx->post_len));
	json_object_set_new(j, "avg_length", json_real(lx->rows ? (double)lx->total /
	                                                          (double)lx->rows : 0));
	json_object_set_new(j, "rows", json_integer((json_int_t)lx->rows));
	json_object_set_new(o, "lexical", j);
}
