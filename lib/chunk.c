/*
 * chunk.c — splitting one document's text into chunks (byte ranges).
 *
 * A document is read as a stream of units, each a trimmed byte range:
 *   words       maximal runs of non-whitespace bytes;
 *   paragraphs  text between blank lines (a line of only whitespace);
 *   sentences   within each paragraph, text up to and including a run of
 *               '.', '!' or '?' and any closing quotes or brackets after it
 *               (" ' ) ] } and the typographic ’ ” » 」 』 ）) that is
 *               followed by whitespace or the paragraph's end; a run of the
 *               CJK full stops 。！？ (and closers) ends a sentence whatever
 *               follows. Text without such an end up to the paragraph's end
 *               is a sentence too.
 * Units are grouped into chunks of `size`, consecutive chunks sharing
 * `overlap` units: windows start at units 0, size-overlap, ... and the last
 * window is the first that reaches the last unit. A chunk spans from its
 * first unit's start to its last unit's end, so the whitespace and
 * punctuation between units are kept as the source has them. A chunk over
 * max_bytes is cut at the end of its last word that fits, or, when not even
 * one word fits, at the last character boundary that does; the rest starts
 * at the next non-whitespace byte and is cut again if need be.
 *
 * Whitespace is ASCII (space, \t, \n, \v, \f, \r): bytes of multi-byte
 * UTF-8 characters never are, so a cut at whitespace is a character
 * boundary, and only the cut inside a word needs vdb_utf8_floor.
 *
 * Memory: the chunker owns a ring of `size` unit ranges, allocated once;
 * chunking allocates nothing and reads each byte about once (a cut scans
 * back at most max_bytes). A chunker is used by one thread at a time.
 */
#include "vdb_internal.h"
#include "utf8.h"
#include <stdint.h>
#include <string.h>

typedef struct {
	size_t start, end;
} span;

struct vdb_chunker {
	vdb_chunk_params p;
	span *ring; /* the current window's units: ring[(first + i) % size] */
};

static const unsigned char ws_table[256] = {
	[' '] = 1, ['\t'] = 1, ['\n'] = 1, ['\v'] = 1, ['\f'] = 1, ['\r'] = 1
};
#define WS(c) (ws_table[(unsigned char)(c)])

void vdb_chunk_params_init(vdb_chunk_params *p)
{
	p->mode = VDB_CHUNK_WORDS;
	p->size = 200;
	p->overlap = 40;
	p->max_bytes = VDB_MAX_TEXT;
}

vdb_status vdb_chunker_new(vdb_chunker **out, const vdb_chunk_params *p)
{
	*out = NULL;
	VDB_RETURN_IF(p->mode < VDB_CHUNK_WORDS || p->mode > VDB_CHUNK_PARAGRAPHS, VDB_EINVAL,
	              "unknown chunking mode %d", (int)p->mode);
	VDB_RETURN_IF(p->size < 1 || p->size > VDB_MAX_CHUNK_UNITS, VDB_EINVAL,
	              "%zu %s a chunk is out of range (1..%u, the limit VDB_MAX_CHUNK_UNITS)",
	              p->size, p->mode == VDB_CHUNK_SENTENCES ? "sentences" : "words",
	              VDB_MAX_CHUNK_UNITS);
	VDB_RETURN_IF(p->mode == VDB_CHUNK_PARAGRAPHS && (p->size != 1 || p->overlap), VDB_EINVAL,
	              "paragraph chunks hold one paragraph each and do not overlap");
	VDB_RETURN_IF(p->overlap >= p->size, VDB_EINVAL,
	              "an overlap of %zu must be less than the %zu units of a chunk", p->overlap,
	              p->size);
	VDB_RETURN_IF(p->max_bytes < VDB_MIN_CHUNK_BYTES || p->max_bytes > VDB_MAX_TEXT, VDB_EINVAL,
	              "a chunk's maximum of %zu bytes is out of range (%u..%u, the limit "
	              "VDB_MAX_TEXT)", p->max_bytes, VDB_MIN_CHUNK_BYTES, VDB_MAX_TEXT);
	vdb_chunker *c = vdb_malloc(sizeof *c, "chunker");
	if (!c)
		return VDB_ENOMEM;
	c->p = *p;
	c->ring = vdb_malloc(p->size * sizeof *c->ring, "chunk window");
	if (!c->ring) {
		free(c);
		return VDB_ENOMEM;
	}
	*out = c;
	return VDB_OK;
}

const vdb_chunk_params *vdb_chunker_params(const vdb_chunker *c)
{
	return &c->p;
}

void vdb_chunker_free(vdb_chunker *c)
{
	if (!c)
		return;
	free(c->ring);
	free(c);
}

/* ===== Units ===== */
/* Each scanner finds the next unit of t[*pos, end) (end trimmed: t[end-1]
 * is not whitespace, or end == *pos); false when there is none. */

static size_t skip_ws(const char *t, size_t i, size_t end)
{
	while (i < end && WS(t[i]))
		i++;
	return i;
}

static bool next_paragraph(const char *t, size_t end, size_t *pos, span *u)
{
	size_t i = skip_ws(t, *pos, end), stop = end;
	if (i == end)
		return false;
	u->start = i;
	for (;;) {
		const char *nl = memchr(t + i, '\n', end - i);
		if (!nl)
			break;
		size_t j = (size_t)(nl - t) + 1;
		while (j < end && t[j] != '\n' && WS(t[j]))
			j++;
		if (j < end && t[j] == '\n') { /* a blank line follows */
			stop = (size_t)(nl - t);
			break;
		}
		i = j;
	}
	while (stop > u->start && WS(t[stop - 1]))
		stop--;
	u->end = *pos = stop;
	return true;
}

/* Bytes of the closing quote or bracket at t[i] (0 if none). */
static size_t closer(const char *t, size_t i, size_t end)
{
	const unsigned char *s = (const unsigned char *)t + i;
	size_t n = end - i;
	if (*s == '"' || *s == '\'' || *s == ')' || *s == ']' || *s == '}')
		return 1;
	if (n >= 2 && s[0] == 0xC2 && s[1] == 0xBB) /* » */
		return 2;
	if (n >= 3 && s[0] == 0xE2 && s[1] == 0x80 && (s[2] == 0x99 || s[2] == 0x9D)) /* ’ ” */
		return 3;
	if (n >= 3 && s[0] == 0xE3 && s[1] == 0x80 && (s[2] == 0x8D || s[2] == 0x8F)) /* 」 』 */
		return 3;
	if (n >= 3 && s[0] == 0xEF && s[1] == 0xBC && s[2] == 0x89) /* ） */
		return 3;
	return 0;
}

static bool ascii_stop(char c)
{
	return c == '.' || c == '!' || c == '?';
}

/* Bytes of the CJK full stop at t[i] (。！？; 0 if none). */
static size_t cjk_stop(const char *t, size_t i, size_t end)
{
	const unsigned char *s = (const unsigned char *)t + i;
	if (end - i < 3)
		return 0;
	if (s[0] == 0xE3 && s[1] == 0x80 && s[2] == 0x82)
		return 3;
	if (s[0] == 0xEF && s[1] == 0xBC && (s[2] == 0x81 || s[2] == 0x9F))
		return 3;
	return 0;
}

/* The bytes that may begin a sentence's end: . ! ? and the first byte of
 * the CJK full stops (a table: the scan skips all others one compare each). */
static const unsigned char may_stop[256] = {
	['.'] = 1, ['!'] = 1, ['?'] = 1, [0xE3] = 1, [0xEF] = 1
};

/* The next sentence of the paragraph t[*pos, end). */
static bool next_sentence(const char *t, size_t end, size_t *pos, span *u)
{
	size_t i = skip_ws(t, *pos, end);
	if (i == end)
		return false;
	u->start = i;
	while (i < end) {
		size_t j = i, k;
		bool cjk = false;
		if (!may_stop[(unsigned char)t[i]]) {
			i++;
			continue;
		}
		if (ascii_stop(t[i]))
			while (j < end && ascii_stop(t[j]))
				j++;
		else if ((k = cjk_stop(t, i, end))) {
			cjk = true;
			while ((k = j < end ? cjk_stop(t, j, end) : 0))
				j += k;
		} else {
			i++;
			continue;
		}
		while (j < end && (k = closer(t, j, end)))
			j += k;
		if (cjk || j == end || WS(t[j])) {
			u->end = *pos = j;
			return true;
		}
		i = j;
	}
	u->end = *pos = end;
	return true;
}

/* ===== Chunks ===== */
typedef struct {
	vdb_chunker *c;
	const char *t;
	vdb_chunk_fn fn;
	void *ctx;
	size_t first, count; /* the window: count units from ring[first] */
	bool emitted;        /* a window went out; its last overlap units stay */
} grouping;

/* Emit [s, e), cut into pieces of at most max_bytes. */
static vdb_status emit(grouping *g, size_t s, size_t e)
{
	const char *t = g->t;
	size_t max = g->c->p.max_bytes;
	while (e - s > max) {
		size_t k = s + max; /* < e */
		while (k > s && !(WS(t[k]) && !WS(t[k - 1])))
			k--;
		size_t next = k;
		if (k > s)
			next = skip_ws(t, k, e);
		else /* no word ends within the limit: cut between characters */
			k = next = vdb_utf8_floor((const unsigned char *)t, s + max);
		vdb_status st = g->fn(g->ctx, s, k);
		if (st)
			return st;
		s = next;
	}
	return g->fn(g->ctx, s, e);
}

static vdb_status add_unit(grouping *g, const span *u)
{
	size_t n = g->c->p.size, at = g->first + g->count; /* no %: one a word is slow */
	g->c->ring[at >= n ? at - n : at] = *u;
	if (++g->count < n)
		return VDB_OK;
	vdb_status s = emit(g, g->c->ring[g->first].start, u->end);
	size_t step = n - g->c->p.overlap;
	g->first += step;
	if (g->first >= n)
		g->first -= n;
	g->count = n - step;
	g->emitted = true;
	return s;
}

/* The units not yet in a chunk, if any: the last window. */
static vdb_status flush(grouping *g)
{
	if (g->count == 0 || (g->emitted && g->count <= g->c->p.overlap))
		return VDB_OK;
	size_t n = g->c->p.size;
	return emit(g, g->c->ring[g->first].start,
	            g->c->ring[(g->first + g->count - 1) % n].end);
}

/* 16 bytes at a time in the compilers' generic vectors (gcc and clang
 * compile them to SSE2 on x86-64, to NEON on aarch64, to plain words
 * elsewhere): no intrinsics of any one architecture. */
typedef unsigned char ws_u8x16 __attribute__((vector_size(16)));
typedef uint64_t ws_u64x2 __attribute__((vector_size(16)));

/* Bit j: the high bit of byte j of x (x has no other bit set) */
static inline uint64_t high_bits8(uint64_t x)
{
	return ((x >> 7) * 0x0102040810204080ull) >> 56;
}

/* Bit j: byte j of the 64 at p is whitespace (' ', or \t..\r: 9..13). */
static uint64_t ws_mask64(const unsigned char *p)
{
	uint64_t m = 0;
	for (int k = 0; k < 4; k++) {
		ws_u8x16 v;
		memcpy(&v, p + 16 * k, sizeof v);
		ws_u8x16 ws = (ws_u8x16)((v == ' ') | ((ws_u8x16)(v - '\t') <= 4)) & 0x80;
		ws_u64x2 w = (ws_u64x2)ws; /* little-endian: byte j is bits 8j.. */
		m |= (high_bits8(w[0]) | high_bits8(w[1]) << 8) << (16 * k);
	}
	return m;
}

/* The words of text[0, len) into g, 64 bytes at a time: a bit mask of the
 * whitespace gives the bytes where words start and end, so the loop runs
 * once a word instead of once a byte. */
static vdb_status add_words(grouping *g, const char *text, size_t len)
{
	const unsigned char *t = (const unsigned char *)text;
	unsigned char tail[64];
	uint64_t before = 1; /* the byte before the block is whitespace (or the text's start) */
	size_t start = 0;    /* of the word being read */
	for (size_t b = 0; b < len; b += 64) {
		const unsigned char *p = t + b;
		if (len - b < 64) { /* the last block, padded with spaces: its last word ends */
			memset(tail, ' ', sizeof tail);
			memcpy(tail, p, len - b);
			p = tail;
		}
		uint64_t w = ws_mask64(p), prev = w << 1 | before;
		uint64_t starts = ~w & prev, ends = w & ~prev;
		before = w >> 63;
		for (uint64_t ev = starts | ends; ev; ev &= ev - 1) {
			unsigned j = (unsigned)__builtin_ctzll(ev);
			if (starts >> j & 1) {
				start = b + j;
			} else {
				span u = { start, b + j };
				vdb_status s = add_unit(g, &u);
				if (s)
					return s;
			}
		}
	}
	if (!before) { /* a word up to the end of a text of whole blocks */
		span u = { start, len };
		return add_unit(g, &u);
	}
	return VDB_OK;
}

vdb_status vdb_chunk_text(vdb_chunker *c, const char *text, size_t len, vdb_chunk_fn fn,
                          void *ctx)
{
	grouping g = { .c = c, .t = text, .fn = fn, .ctx = ctx };
	size_t pos = 0;
	span u, para;
	vdb_status s = VDB_OK;
	switch (c->p.mode) {
	case VDB_CHUNK_WORDS:
		s = add_words(&g, text, len);
		break;
	case VDB_CHUNK_PARAGRAPHS:
		while (!s && next_paragraph(text, len, &pos, &para))
			s = add_unit(&g, &para);
		break;
	case VDB_CHUNK_SENTENCES:
		while (!s && next_paragraph(text, len, &pos, &para)) {
			size_t p = para.start;
			while (!s && next_sentence(text, para.end, &p, &u))
				s = add_unit(&g, &u);
		}
		break;
	}
	return s ? s : flush(&g);
}
