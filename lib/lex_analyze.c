/*
 * lex_analyze.c — text to terms: tokens, lowercasing, stop words, Snowball
 * stemming (lex_analyze.h).
 *
 * The text is validated as UTF-8 first (utf8.c skips ASCII eight bytes at a
 * time), then cut in one pass: an ASCII byte is classified and lowercased
 * through a table (most text is ASCII: no wide conversion); any other
 * character is decoded, classified by iswalnum_l (and iswctype_l's
 * "combining" for the marks that continue a token) and lowercased by
 * towlower_l in glibc's C.UTF-8 locale (a locale_t made once for the
 * process by pthread_once: the process's own locale, setlocale, is never
 * touched) and encoded back. A token's lowercased bytes collect in the
 * analyzer's buffer, which grows to the longest token and is then reused:
 * no allocation per token. Stop words are a sorted array searched by
 * binary search; libstemmer's stemmer reuses its own buffer too.
 */
#include "lex_analyze.h"
#include "reader_internal.h"
#include "utf8.h"
#include <libstemmer.h>
#include <limits.h>
#include <locale.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <wctype.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

/* ===== The C.UTF-8 locale, made once ===== */
static pthread_once_t utf8_once = PTHREAD_ONCE_INIT;
static locale_t utf8_locale;
static wctype_t combining; /* its class of combining marks */

static void make_utf8_locale(void)
{
	utf8_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	if (utf8_locale)
		combining = wctype_l("combining", utf8_locale);
}

static vdb_status get_utf8_locale(void)
{
	pthread_once(&utf8_once, make_utf8_locale);
	VDB_RETURN_IF(!utf8_locale || !combining, VDB_EUNSUPPORTED,
	              "the C.UTF-8 locale is not installed: it classifies and lowercases the "
	              "characters of text (glibc 2.35 and later have it built in)");
	return VDB_OK;
}

/* ASCII letters and digits lowercased; 0: a separator, or a byte of a
 * character beyond ASCII (0x80 and up). */
static const unsigned char ascii_term[256] = {
	['0'] = '0', ['1'] = '1', ['2'] = '2', ['3'] = '3', ['4'] = '4',
	['5'] = '5', ['6'] = '6', ['7'] = '7', ['8'] = '8', ['9'] = '9',
	['A'] = 'a', ['B'] = 'b', ['C'] = 'c', ['D'] = 'd', ['E'] = 'e', ['F'] = 'f',
	['G'] = 'g', ['H'] = 'h', ['I'] = 'i', ['J'] = 'j', ['K'] = 'k', ['L'] = 'l',
	['M'] = 'm', ['N'] = 'n', ['O'] = 'o', ['P'] = 'p', ['Q'] = 'q', ['R'] = 'r',
	['S'] = 's', ['T'] = 't', ['U'] = 'u', ['V'] = 'v', ['W'] = 'w', ['X'] = 'x',
	['Y'] = 'y', ['Z'] = 'z',
	['a'] = 'a', ['b'] = 'b', ['c'] = 'c', ['d'] = 'd', ['e'] = 'e', ['f'] = 'f',
	['g'] = 'g', ['h'] = 'h', ['i'] = 'i', ['j'] = 'j', ['k'] = 'k', ['l'] = 'l',
	['m'] = 'm', ['n'] = 'n', ['o'] = 'o', ['p'] = 'p', ['q'] = 'q', ['r'] = 'r',
	['s'] = 's', ['t'] = 't', ['u'] = 'u', ['v'] = 'v', ['w'] = 'w', ['x'] = 'x',
	['y'] = 'y', ['z'] = 'z',
};

/* A character beyond ASCII: a letter or digit, a combining mark (which
 * continues a token but does not start one), or a separator. */
enum { SEPARATOR, ALNUM, MARK };
static int classify(uint32_t u)
{
	if (iswalnum_l((wint_t)u, utf8_locale))
		return ALNUM;
	return iswctype_l((wint_t)u, combining, utf8_locale) ? MARK : SEPARATOR;
}

/* The character of valid UTF-8 at s (n bytes: 2 to 4). */
static uint32_t decode(const unsigned char *s, size_t *n)
{
	unsigned c = s[0];
	if (c < 0xE0) {
		*n = 2;
		return (uint32_t)(c & 0x1F) << 6 | (s[1] & 0x3F);
	}
	if (c < 0xF0) {
		*n = 3;
		return (uint32_t)(c & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F);
	}
	*n = 4;
	return (uint32_t)(c & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 |
	       (uint32_t)(s[2] & 0x3F) << 6 | (s[3] & 0x3F);
}

/* u as UTF-8 into d (room for 4); its length. */
static size_t encode(uint32_t u, unsigned char *d)
{
	if (u < 0x80) {
		d[0] = (unsigned char)u;
		return 1;
	}
	if (u < 0x800) {
		d[0] = (unsigned char)(0xC0 | u >> 6);
		d[1] = (unsigned char)(0x80 | (u & 0x3F));
		return 2;
	}
	if (u < 0x10000) {
		d[0] = (unsigned char)(0xE0 | u >> 12);
		d[1] = (unsigned char)(0x80 | (u >> 6 & 0x3F));
		d[2] = (unsigned char)(0x80 | (u & 0x3F));
		return 3;
	}
	d[0] = (unsigned char)(0xF0 | u >> 18);
	d[1] = (unsigned char)(0x80 | (u >> 12 & 0x3F));
	d[2] = (unsigned char)(0x80 | (u >> 6 & 0x3F));
	d[3] = (unsigned char)(0x80 | (u & 0x3F));
	return 4;
}

/* ===== Stop words: a sorted array of (bytes, length) ===== */
typedef struct {
	const char *p;
	size_t len;
} word;

static int word_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);
	return c ? c : (an > bn) - (an < bn);
}

static int word_qcmp(const void *a, const void *b)
{
	const word *x = a, *y = b;
	return word_cmp(x->p, x->len, y->p, y->len);
}

static bool word_find(const word *w, size_t n, const char *p, size_t len)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = word_cmp(w[mid].p, w[mid].len, p, len);
		if (!c)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* ===== A cache of stems ===== */
/* Text repeats its words (the WordNet glosses: 1.8 million tokens, 44,000
 * distinct), and a Snowball stemmer costs more than all the rest of the
 * analysis; stemming is a function of the word alone. So each analyzer
 * keeps the stems of recent short words in a direct-mapped table: a hit
 * costs a hash and a compare. The table is made once the analyzer has
 * stemmed STEM_CACHE_AFTER words (not for a query's few), then kept. */
#define STEM_CACHE_SLOTS 4096u /* a power of two: 256 KiB an analyzer; 76% of the
                                  glosses' tokens hit (16384: 85%, no faster) */
#define STEM_CACHE_WORD 30u    /* bytes of a cached word or stem, at most */
#define STEM_CACHE_AFTER 1024u
typedef struct {
	unsigned char word_len, stem_len; /* word_len 0: empty */
	char word[STEM_CACHE_WORD], stem[STEM_CACHE_WORD + 2];
} stem_slot;

static uint32_t hash_word(const unsigned char *p, size_t n)
{
	return (uint32_t)XXH3_64bits(p, n); /* the library's one hash, inlined */
}

/* ===== The analyzer ===== */
struct vdb_analyzer {
	struct sb_stemmer *stem; /* NULL: "none" */
	char language[64];
	char *stop_text;         /* the stop words' bytes (a copy) */
	word *stop;              /* sorted, unique */
	size_t nstop;
	uint32_t stop_lens;      /* bit l (l < 32) set: a stop word of l bytes */
	bool stop_long;          /* a stop word of 32 bytes or more */
	unsigned char *tok;      /* the token being read, lowercased */
	size_t cap;
	stem_slot *cache;        /* STEM_CACHE_SLOTS, or NULL */
	size_t stemmed;          /* words stemmed while cache is NULL */
};

/* The names libstemmer knows, for a message: "a, b, c". */
static void stemmer_names(char *dst, size_t n)
{
	size_t at = 0;
	dst[0] = 0;
	for (const char **l = sb_stemmer_list(); *l && at < n; l++) {
		int w = snprintf(dst + at, n - at, "%s%s", at ? ", " : "", *l);
		if (w < 0)
			break;
		at += (size_t)w;
	}
}

static vdb_status set_language(vdb_analyzer *a, const char *language)
{
	const char *name = !language || !strcmp(language, "en") ? "english" : language;
	if (!strcmp(name, "none")) {
		strcpy(a->language, "none");
		return VDB_OK;
	}
	bool listed = false;
	for (const char **l = sb_stemmer_list(); *l && !listed; l++)
		listed = !strcmp(*l, name);
	if (listed && strlen(name) < sizeof a->language) {
		a->stem = sb_stemmer_new(name, "UTF_8");
		VDB_RETURN_IF(!a->stem, VDB_ENOMEM, "out of memory for the %s stemmer", name);
		strcpy(a->language, name);
		return VDB_OK;
	}
	char names[1024];
	stemmer_names(names, sizeof names);
	return vdb_fail(VDB_EINVAL, "unknown language '%s': expected none, en, or one of "
	                "libstemmer's Snowball stemmers: %s", language, names);
}

static vdb_status set_stopwords(vdb_analyzer *a, const char *stop, size_t len)
{
	if (!stop || !len)
		return VDB_OK;
	a->stop_text = vdb_malloc(len, "the stop words");
	if (!a->stop_text)
		return VDB_ENOMEM;
	memcpy(a->stop_text, stop, len);
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		n += stop[i] == '\n';
	a->stop = vdb_malloc((n + 1) * sizeof *a->stop, "the stop words");
	if (!a->stop)
		return VDB_ENOMEM;
	for (size_t i = 0; i < len;) {
		const char *p = a->stop_text + i, *nl = memchr(p, '\n', len - i);
		size_t l = nl ? (size_t)(nl - p) : len - i;
		if (l)
			a->stop[a->nstop++] = (word){ p, l };
		i += l + 1;
	}
	qsort(a->stop, a->nstop, sizeof *a->stop, word_qcmp);
	size_t u = 0;
	for (size_t i = 0; i < a->nstop; i++)
		if (!u || word_qcmp(&a->stop[u - 1], &a->stop[i]))
			a->stop[u++] = a->stop[i];
	a->nstop = u;
	for (size_t i = 0; i < u; i++) {
		if (a->stop[i].len < 32)
			a->stop_lens |= 1u << a->stop[i].len;
		else
			a->stop_long = true;
	}
	return VDB_OK;
}

vdb_status vdb_analyzer_new(vdb_analyzer **out, const char *language, const char *stop,
                            size_t len)
{
	*out = NULL;
	vdb_status s = get_utf8_locale();
	if (s)
		return s;
	vdb_analyzer *a = vdb_malloc(sizeof *a, "an analyzer");
	if (!a)
		return VDB_ENOMEM;
	*a = (vdb_analyzer){ 0 };
	if ((s = set_language(a, language)) || (s = set_stopwords(a, stop, len))) {
		vdb_analyzer_free(a);
		return s;
	}
	*out = a;
	return VDB_OK;
}

void vdb_analyzer_free(vdb_analyzer *a)
{
	if (!a)
		return;
	if (a->stem)
		sb_stemmer_delete(a->stem);
	free(a->stop_text);
	free(a->stop);
	free(a->tok);
	free(a->cache);
	free(a);
}

const char *vdb_analyzer_language(const vdb_analyzer *a)
{
	return a->language;
}

static bool is_stop(const vdb_analyzer *a, const unsigned char *t, size_t n)
{
	if (!a->nstop || (n < 32 ? !(a->stop_lens >> n & 1) : !a->stop_long))
		return false;
	return word_find(a->stop, a->nstop, (const char *)t, n);
}

/* The token tok[0, n) is complete: drop it (a stop word, too long) or
 * stem it and hand the term to fn. */
static vdb_status emit(vdb_analyzer *a, size_t n, vdb_term_fn fn, void *ctx, size_t *nterms)
{
	if (is_stop(a, a->tok, n))
		return VDB_OK;
	const char *term = (const char *)a->tok;
	size_t len = n;
	if (a->stem) {
		stem_slot *c = NULL;
		if (!a->cache && ++a->stemmed == STEM_CACHE_AFTER)
			a->cache = calloc(STEM_CACHE_SLOTS, sizeof *a->cache); /* NULL: none */
		if (a->cache && n <= STEM_CACHE_WORD) {
			c = &a->cache[hash_word(a->tok, n) & (STEM_CACHE_SLOTS - 1)];
			if (c->word_len == n && !memcmp(c->word, a->tok, n)) {
				++*nterms;
				return fn ? fn(ctx, c->stem, c->stem_len) : VDB_OK;
			}
		}
		if (n > INT_MAX)
			return VDB_OK; /* no stem of it could be short enough */
		const sb_symbol *t = sb_stemmer_stem(a->stem, a->tok, (int)n);
		VDB_RETURN_IF(!t, VDB_ENOMEM, "out of memory stemming a word of %zu bytes", n);
		term = (const char *)t;
		len = (size_t)sb_stemmer_length(a->stem);
		if (c && len && len <= sizeof c->stem) {
			c->word_len = (unsigned char)n;
			c->stem_len = (unsigned char)len;
			memcpy(c->word, a->tok, n);
			memcpy(c->stem, term, len);
		}
	}
	if (len == 0 || len > VDB_MAX_TERM)
		return VDB_OK;
	++*nterms;
	return fn ? fn(ctx, term, len) : VDB_OK;
}

/* ASCII letters and digits copied at a time (the token buffer is grown
 * for that many first). */
#define ASCII_STEP 64

/* Room in the token buffer for need bytes. */
static vdb_status room(vdb_analyzer *a, size_t need)
{
	return need <= a->cap ? VDB_OK : vdb_grow((void **)&a->tok, &a->cap, need < 64 ? 64 : need,
	                                          1, "a token");
}

vdb_status vdb_analyze(vdb_analyzer *a, const char *text, size_t len, vdb_term_fn fn, void *ctx,
                       size_t *nterms)
{
	size_t count = 0;
	if (nterms)
		*nterms = 0;
	const unsigned char *s = (const unsigned char *)text;
	size_t bad = vdb_utf8_invalid(s, len);
	VDB_RETURN_IF(bad < len, VDB_EFORMAT, "invalid UTF-8 at byte %zu", bad);
	/* Without a stemmer a token's term is the token: once it is longer
	 * than VDB_MAX_TERM its bytes need not be kept. With one, every byte
	 * is (a stem may be shorter than its word). */
	size_t keep = a->stem ? SIZE_MAX : VDB_MAX_TERM + 1;
	size_t n = 0; /* bytes of the token so far */
	vdb_status st = VDB_OK;
	for (size_t i = 0; i < len && !st;) {
		unsigned c = s[i];
		if (c < 0x80) {
			unsigned char t = ascii_term[c];
			if (!t) {
				if (n)
					st = emit(a, n, fn, ctx, &count);
				n = 0;
				i++;
				continue;
			}
			/* the run of ASCII letters and digits from here, lowercased
			 * as it is read, ASCII_STEP bytes at a time */
			do {
				size_t end = len - i < ASCII_STEP ? len : i + ASCII_STEP;
				if ((st = room(a, n + ASCII_STEP)))
					break;
				unsigned char *d = a->tok + n;
				size_t from = i;
				while (i < end && (t = ascii_term[s[i]]))
					*d++ = t, i++;
				n += i - from;
				if (n > keep)
					n = keep; /* too long: its bytes need not be kept */
			} while (i < len && ascii_term[s[i]]);
			continue;
		}
		size_t w;
		uint32_t u = decode(s + i, &w);
		i += w;
		int k = classify(u);
		if (k == MARK && !n)
			continue; /* a mark after a separator: a separator */
		if (k == SEPARATOR) {
			if (n)
				st = emit(a, n, fn, ctx, &count);
			n = 0;
			continue;
		}
		if (n >= keep)
			continue; /* too long already: a term it cannot be */
		if (k == ALNUM)
			u = (uint32_t)towlower_l((wint_t)u, utf8_locale);
		if (!(st = room(a, n + 4)))
			n += encode(u, a->tok + n);
	}
	if (!st && n)
		st = emit(a, n, fn, ctx, &count);
	if (nterms)
		*nterms = count;
	return st;
}

/* ===== Stop word files ===== */
/* Whether valid UTF-8 s[0, n) is one token: letters and digits, and
 * combining marks after the first. */
static bool one_token(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t w = 1;
		int k = s[i] < 0x80 ? (ascii_term[s[i]] ? ALNUM : SEPARATOR) : classify(decode(s + i, &w));
		if (k == SEPARATOR || (k == MARK && !i))
			return false;
		i += w;
	}
	return true;
}

typedef struct {
	const char *path;
	char *buf;         /* the words so far, "word\n" each */
	size_t len, cap, words;
} stop_file;

static vdb_status take_word(void *ctx, const char *term, size_t len)
{
	stop_file *f = ctx;
	vdb_status s = vdb_grow((void **)&f->buf, &f->cap, f->len + len + 1, 1, "the stop words");
	if (s)
		return s;
	memcpy(f->buf + f->len, term, len);
	f->buf[f->len + len] = '\n';
	f->len += len + 1;
	f->words++;
	return VDB_OK;
}

/* One line of a stop word file: blank, a comment, or one token. */
static vdb_status stop_line(vdb_analyzer *a, stop_file *f, size_t lineno, const char *line,
                            size_t len)
{
	while (len && (line[len - 1] == ' ' || line[len - 1] == '\t' || line[len - 1] == '\r'))
		len--;
	while (len && (*line == ' ' || *line == '\t')) {
		line++;
		len--;
	}
	if (!len || *line == '#')
		return VDB_OK;
	const unsigned char *u = (const unsigned char *)line;
	size_t bad = vdb_utf8_invalid(u, len);
	VDB_RETURN_IF(bad < len, VDB_EFORMAT, "%s: line %zu: invalid UTF-8 at byte %zu", f->path,
	              lineno, bad);
	VDB_RETURN_IF(!one_token(u, len), VDB_EFORMAT, "%s: line %zu: '%.*s' is not one word: a "
	              "stop word is one token (letters and digits)", f->path, lineno,
	              len > 80 ? 80 : (int)len, line);
	VDB_RETURN_IF(f->words == VDB_MAX_STOPWORDS, VDB_EFORMAT, "%s: line %zu: more than %u stop "
	              "words (VDB_MAX_STOPWORDS)", f->path, lineno, VDB_MAX_STOPWORDS);
	size_t before = f->words;
	vdb_status s = vdb_analyze(a, line, len, take_word, f, NULL);
	if (s)
		return s;
	VDB_RETURN_IF(f->words == before, VDB_EFORMAT, "%s: line %zu: a stop word longer than the "
	              "limit of %u bytes (VDB_MAX_TERM)", f->path, lineno, VDB_MAX_TERM);
	return VDB_OK;
}

/* f->buf's words sorted and unique, in place. */
static vdb_status sort_words(stop_file *f)
{
	word *w = vdb_malloc((f->words + 1) * sizeof *w, "the stop words");
	char *out = vdb_malloc(f->len + 1, "the stop words");
	if (!w || !out) {
		free(w);
		free(out);
		return VDB_ENOMEM;
	}
	size_t n = 0;
	for (size_t i = 0; i < f->len;) {
		const char *nl = memchr(f->buf + i, '\n', f->len - i);
		w[n++] = (word){ f->buf + i, (size_t)(nl - (f->buf + i)) };
		i = (size_t)(nl - f->buf) + 1;
	}
	qsort(w, n, sizeof *w, word_qcmp);
	size_t len = 0;
	for (size_t i = 0; i < n; i++) {
		if (i && !word_qcmp(&w[i - 1], &w[i]))
			continue;
		memcpy(out + len, w[i].p, w[i].len);
		out[len + w[i].len] = '\n';
		len += w[i].len + 1;
	}
	free(w);
	free(f->buf);
	f->buf = out;
	f->len = len;
	return VDB_OK;
}

vdb_status vdb_stopwords_load(const char *path, char **out, size_t *len)
{
	*out = NULL;
	*len = 0;
	vdb_analyzer *a;
	vdb_status s = vdb_analyzer_new(&a, "none", NULL, 0);
	if (s)
		return s;
	vdb_reader *r;
	if ((s = vdb_reader_open(&r, path, VDB_FMT_JSONL))) {
		vdb_analyzer_free(a);
		return s;
	}
	stop_file f = { .path = path };
	for (;;) {
		const char *line;
		size_t n;
		bool got;
		if ((s = vdb_rd_line(r, &line, &n, &got)) || !got)
			break;
		if ((s = stop_line(a, &f, r->line, line, n)))
			break;
	}
	vdb_reader_close(r);
	vdb_analyzer_free(a);
	if (!s && f.words)
		s = sort_words(&f);
	if (s) {
		free(f.buf);
		return s;
	}
	*out = f.buf;
	*len = f.len;
	return VDB_OK;
}
