/*
 * index_mutator.c — a structure-aware mutator for fuzz_index: it changes
 * an index file as the author of a crafted file would, a field at a time,
 * to the values that break code (0, 1, count - 1, count, 2^31, 2^32 - 1,
 * 2^40, all ones, NaN, infinities), then makes the checksums valid again.
 *
 * It parses the header and section table (index_layout.h) and picks one of:
 *   - a header field: type, metric, dim, storage, flags, section count,
 *     count, live, a type parameter (M, ef_construction, entry point, top
 *     level, nlist, pq_m, refine, tables, bits; doubles as NaN, Inf), shard;
 *   - a section table entry: its kind (another type's, or a duplicate), its
 *     offset or length;
 *   - a section's contents, read by kind: offsets (IDOF, MDOF, TXOF, HNUO, IVOF)
 *     and rows or links (HNUL, IVRW, LSKY, LSRW, LSDR) as integers, vectors,
 *     centroids, codebooks, planes and cosine row factors (CNRM) as floats, fp16 codes as halves,
 *     payload tables (PKEY, PFLD, PNUM) entry by entry, texts (IDTX, MDTX,
 *     TXTX, EMBD) with JSON-breaking bytes or a forged result line, bitmaps and codes
 *     as bytes; a run of elements at once (0xff fills, NaN fills);
 *   - the hnsw graph: a node's layer-0 link count or links, an upper-layer
 *     block's count, the entry point and top level;
 *   - the file's length (cut at a section's end, or one page more), or one
 *     section's bytes copied over another's.
 * One in four calls (and any input that is not an index) is libFuzzer's
 * byte-level mutation instead. LLVMFuzzerCustomCrossOver puts one index's
 * header fields, or one of its sections, on another.
 */
#include "index_layout.h"
#include <float.h>
#include <math.h>
#include <stddef.h>

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

/* ===== Randomness (from libFuzzer's seed: mutations are replayable) ===== */
typedef struct {
	uint64_t s;
} rng;

static uint64_t next(rng *r)
{
	uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static size_t pick(rng *r, size_t n)
{
	return n ? (size_t)(next(r) % n) : 0;
}

/* ===== Values that break code ===== */
/* An integer near the limits, near count (the index's rows, or the number
 * of elements the field indexes), or near the old value. */
static uint64_t boundary(rng *r, uint64_t count, uint64_t old)
{
	switch (pick(r, 16)) {
	case 0: return 0;
	case 1: return 1;
	case 2: return count ? count - 1 : 0;
	case 3: return count;
	case 4: return count + 1;
	case 5: return 1ull << 31;
	case 6: return (1ull << 31) - 1;
	case 7: return UINT32_MAX;
	case 8: return 1ull << 32;
	case 9: return 1ull << 40;
	case 10: return UINT64_MAX;
	case 11: return 1ull << 63;
	case 12: return old + 1;
	case 13: return old - 1;
	case 14: return old * 2 + 1;
	default: return pick(r, count + 2);
	}
}

static float special_float(rng *r)
{
	static const float v[] = { NAN, -NAN, INFINITY, -INFINITY, FLT_MAX, -FLT_MAX, 1e30f, -1e30f,
	                           0.0f, -0.0f, 1e-45f, 65504.0f, 65520.0f, 1.0f };
	return v[pick(r, sizeof v / sizeof *v)];
}

static double special_double(rng *r)
{
	static const double v[] = { NAN, -NAN, INFINITY, -INFINITY, DBL_MAX, -DBL_MAX, 1e300, 0.0,
	                            -0.0, 4.9e-324, 1.0 };
	return v[pick(r, sizeof v / sizeof *v)];
}

/* Write value v of width w (1, 2, 4 or 8 bytes) at p. */
static void put(uint8_t *p, unsigned w, uint64_t v)
{
	uint8_t b[8];
	memcpy(b, &v, 8); /* little-endian, as the format */
	memcpy(p, b, w);
}

static uint64_t get(const uint8_t *p, unsigned w)
{
	uint64_t v = 0;
	memcpy(&v, p, w);
	return v;
}

/* ===== What a section holds ===== */
typedef enum { E_BYTES, E_U32, E_U64, E_F32, E_F16, E_TEXT, E_PTAB, E_PNUM, E_HNL0 } elem_kind;

static const uint32_t kinds[] = {
	FZ_CC('V', 'E', 'C', 'S'), FZ_CC('C', 'O', 'D', 'E'), FZ_CC('N', 'R', 'M', '2'),
	FZ_CC('S', 'Q', '8', 'R'), FZ_CC('H', 'N', 'L', '0'), FZ_CC('H', 'N', 'U', 'O'),
	FZ_CC('H', 'N', 'U', 'L'), FZ_CC('I', 'V', 'C', 'E'), FZ_CC('I', 'V', 'O', 'F'),
	FZ_CC('I', 'V', 'R', 'W'), FZ_CC('I', 'V', 'V', 'E'), FZ_CC('P', 'Q', 'C', 'B'),
	FZ_CC('P', 'Q', 'C', 'O'), FZ_CC('P', 'Q', 'P', 'L'), FZ_CC('L', 'S', 'P', 'L'),
	FZ_CC('L', 'S', 'C', 'E'), FZ_CC('L', 'S', 'K', 'Y'), FZ_CC('L', 'S', 'R', 'W'),
	FZ_CC('I', 'D', 'O', 'F'), FZ_CC('I', 'D', 'T', 'X'), FZ_CC('M', 'D', 'O', 'F'),
	FZ_CC('M', 'D', 'T', 'X'), FZ_CC('T', 'O', 'M', 'B'), FZ_CC('P', 'K', 'E', 'Y'),
	FZ_CC('P', 'K', 'S', 'T'), FZ_CC('P', 'B', 'M', 'P'), FZ_CC('P', 'F', 'L', 'D'),
	FZ_CC('P', 'N', 'U', 'M'), FZ_CC('T', 'X', 'O', 'F'), FZ_CC('T', 'X', 'T', 'X'),
	FZ_CC('E', 'M', 'B', 'D'), FZ_CC('C', 'N', 'R', 'M'), FZ_CC('L', 'S', 'D', 'R'),
};
#define NKINDS (sizeof kinds / sizeof *kinds)

static const uint32_t types[] = { FZ_CC('F', 'L', 'A', 'T'), FZ_CC('H', 'N', 'S', 'W'),
	                          FZ_CC('I', 'V', 'F', 'L'), FZ_CC('I', 'V', 'P', 'Q'),
	                          FZ_CC('L', 'S', 'H', ' '), FZ_CC('Q', 'U', 'N', 'T') };

static elem_kind elem_of(uint32_t kind, uint32_t storage)
{
	switch (kind) {
	case FZ_CC('H', 'N', 'U', 'O'): case FZ_CC('I', 'V', 'O', 'F'):
	case FZ_CC('I', 'D', 'O', 'F'): case FZ_CC('M', 'D', 'O', 'F'): case FZ_CC('T', 'X', 'O', 'F'):
		return E_U64;
	case FZ_CC('H', 'N', 'U', 'L'): case FZ_CC('I', 'V', 'R', 'W'):
	case FZ_CC('L', 'S', 'K', 'Y'): case FZ_CC('L', 'S', 'R', 'W'): case FZ_CC('L', 'S', 'D', 'R'):
		return E_U32;
	case FZ_CC('V', 'E', 'C', 'S'): case FZ_CC('N', 'R', 'M', '2'): case FZ_CC('S', 'Q', '8', 'R'):
	case FZ_CC('I', 'V', 'C', 'E'): case FZ_CC('I', 'V', 'V', 'E'): case FZ_CC('P', 'Q', 'C', 'B'):
	case FZ_CC('P', 'Q', 'P', 'L'): case FZ_CC('L', 'S', 'P', 'L'): case FZ_CC('L', 'S', 'C', 'E'):
	case FZ_CC('C', 'N', 'R', 'M'):
		return E_F32;
	case FZ_CC('C', 'O', 'D', 'E'):
		return storage == FZ_F16 ? E_F16 : E_BYTES;
	case FZ_CC('I', 'D', 'T', 'X'): case FZ_CC('M', 'D', 'T', 'X'): case FZ_CC('P', 'K', 'S', 'T'):
	case FZ_CC('T', 'X', 'T', 'X'): case FZ_CC('E', 'M', 'B', 'D'):
		return E_TEXT;
	case FZ_CC('P', 'K', 'E', 'Y'): case FZ_CC('P', 'F', 'L', 'D'):
		return E_PTAB;
	case FZ_CC('P', 'N', 'U', 'M'):
		return E_PNUM;
	case FZ_CC('H', 'N', 'L', '0'):
		return E_HNL0;
	default:
		return E_BYTES;
	}
}

/* The first section of a kind: its index, or -1. */
static int find(const uint8_t *b, uint32_t kind)
{
	for (uint32_t i = 0; i < fz_nsec(b); i++)
		if (fz_get32(b + FZ_SECTAB + (size_t)i * FZ_SECENT) == kind)
			return (int)i;
	return -1;
}

static uint64_t section_len(uint8_t *b, size_t n, const char *kind)
{
	size_t len = 0;
	int i = find(b, FZ_CC(kind[0], kind[1], kind[2], kind[3]));
	if (i >= 0)
		(void)fz_section(b, n, (uint32_t)i, &len);
	return len;
}

/* ===== Mutations ===== */
typedef struct {
	uint8_t *b;
	size_t n, max;
	uint64_t count;
	uint32_t dim, storage;
	rng *r;
} file;

static void header_field(file *f)
{
	uint8_t *b = f->b;
	rng *r = f->r;
	switch (pick(r, 12)) {
	case 0:
		fz_put32(b + FZ_TYPE, types[pick(r, sizeof types / sizeof *types)]);
		break;
	case 1:
		fz_put32(b + FZ_METRIC, (uint32_t)pick(r, 6));
		break;
	case 2: {
		static const uint32_t d[] = { 0, 1, 7, 8, 9, 65536, 65537, 1u << 31, UINT32_MAX };
		fz_put32(b + FZ_DIM, pick(r, 2) ? d[pick(r, sizeof d / sizeof *d)]
		                                : (uint32_t)boundary(r, f->dim, f->dim));
		break;
	}
	case 3:
		fz_put32(b + FZ_STORAGE, (uint32_t)pick(r, 7));
		break;
	case 4:
		fz_put32(b + FZ_FLAGS, pick(r, 4) ? (uint32_t)pick(r, 8) : UINT32_MAX);
		break;
	case 5:
		fz_put32(b + FZ_NSEC, (uint32_t)boundary(r, FZ_MAXSEC, fz_get32(b + FZ_NSEC)));
		break;
	case 6:
		fz_put64(b + FZ_COUNT, boundary(r, f->count, f->count));
		break;
	case 7:
		fz_put64(b + FZ_LIVE, boundary(r, f->count, fz_get64(b + FZ_LIVE)));
		break;
	case 8: case 9: case 10: {
		/* the type's parameters: small integers mostly (M, efc, entry,
		 * top, nlist, pq_m, refine, tables, bits), doubles at 3..6 */
		unsigned i = 1 + (unsigned)pick(r, 6);
		uint8_t *p = b + FZ_PARAMS + 8 * i;
		if (i >= 3 && pick(r, 3) == 0) {
			double d = special_double(r);
			memcpy(p, &d, 8);
		} else {
			fz_put64(p, boundary(r, pick(r, 2) ? f->count : 32, fz_get64(p)));
		}
		break;
	}
	default: {
		static const uint32_t s[] = { 0, 1, 2, 65536, 65537, UINT32_MAX };
		fz_put32(b + (pick(r, 2) ? FZ_SHARD : FZ_SHARDS), s[pick(r, sizeof s / sizeof *s)]);
		break;
	}
	}
}

static void table_entry(file *f)
{
	uint32_t nsec = fz_nsec(f->b);
	if (!nsec)
		return header_field(f);
	uint8_t *e = fz_entry(f->b, (uint32_t)pick(f->r, nsec));
	uint8_t *other = fz_entry(f->b, (uint32_t)pick(f->r, nsec));
	uint64_t off = fz_get64(e + FZ_SEC_OFF), len = fz_get64(e + FZ_SEC_LEN);
	switch (pick(f->r, 5)) {
	case 0: /* another kind, or the same kind as another entry: a duplicate */
		fz_put32(e, pick(f->r, 2) ? kinds[pick(f->r, NKINDS)] : fz_get32(other));
		break;
	case 1: /* another section's place */
		fz_put64(e + FZ_SEC_OFF, fz_get64(other + FZ_SEC_OFF));
		if (pick(f->r, 2))
			fz_put64(e + FZ_SEC_LEN, fz_get64(other + FZ_SEC_LEN));
		break;
	case 2: {
		uint64_t v[] = { 0, FZ_HEADER, off + FZ_ALIGN, off - FZ_ALIGN, off + 1, f->n,
		                 f->n - FZ_ALIGN, UINT64_MAX - FZ_ALIGN + 1 };
		fz_put64(e + FZ_SEC_OFF, v[pick(f->r, sizeof v / sizeof *v)]);
		break;
	}
	default: {
		uint64_t v[] = { 0, 1, len - 1, len + 1, len - 4, len + 8, len * 2, f->n - off,
		                 f->n - off + 1, UINT64_MAX };
		fz_put64(e + FZ_SEC_LEN, v[pick(f->r, sizeof v / sizeof *v)]);
		break;
	}
	}
}

/* Elements [i, i + run) of the nel of width w at p (those that exist) set to v. */
static void fill(uint8_t *p, size_t nel, unsigned w, size_t i, size_t run, uint64_t v)
{
	for (size_t j = i; j < nel && j - i < run; j++)
		put(p + j * w, w, v);
}

static size_t run_of(rng *r)
{
	static const size_t runs[] = { 1, 1, 1, 1, 2, 3, 8, 64, 4096, SIZE_MAX };
	return runs[pick(r, sizeof runs / sizeof *runs)];
}

/* A text's bytes: JSON-breaking characters, or a forged result line. */
static void text(file *f, uint8_t *p, size_t len)
{
	static const char *const forged[] = {
		"\n", "\"", "\\", ",", "]", "}", "{", "[", "\r\n", "\0", "\xff", "\xc3",
		"\"}\n{\"query\": 1, \"ids\": [\"FORGED\"]}\n", "\"FORGED\"", ", , ", "[[[[[[[[",
		"{\"a\":{\"a\":{\"a\":{\"a\":", "1e999", "null", "\"\\ud800\"",
	};
	if (!len)
		return;
	size_t k = pick(f->r, sizeof forged / sizeof *forged);
	size_t l = k == 9 ? 1 : strlen(forged[k]);
	size_t at = pick(f->r, 3) == 0 ? 0 : pick(f->r, len);
	for (size_t j = 0; j < l && at + j < len; j++)
		p[at + j] = (uint8_t)forged[k][j];
}

/* The hnsw graph: layer-0 links in HNL0, upper blocks in HNUL, entry and
 * top level in the header's params 3 and 4 (index_hnsw.c, hnsw.h). */
static void hnsw_graph(file *f)
{
	rng *r = f->r;
	uint8_t *b = f->b;
	uint64_t M = fz_get64(b + FZ_PARAMS + 8), count = f->count;
	if (pick(r, 6) == 0) {
		fz_put64(b + FZ_PARAMS + 8 * (3 + pick(r, 2)), boundary(r, pick(r, 2) ? count : 31, 0));
		return;
	}
	int si = find(b, FZ_CC('H', 'N', 'L', '0'));
	size_t len;
	uint8_t *l0 = si >= 0 ? fz_section(b, f->n, (uint32_t)si, &len) : NULL;
	if (!l0 || !count || M == 0 || M > 512 || len % count)
		return;
	size_t stride = len / count, d = f->dim, vb;
	switch (f->storage) {
	case FZ_F16: vb = 2 * d; break;
	case FZ_SQ8: vb = d; break;
	case FZ_BINARY: vb = d / 8; break;
	default: vb = 4 * d;
	}
	vb = (vb + 3) & ~(size_t)3;
	if (vb + 4 + 8 * M > stride)
		return;
	size_t node = pick(r, 4) == 0 ? 0 : pick(r, count), runs = run_of(r);
	uint32_t M0 = (uint32_t)(2 * M);
	for (size_t k = node; k < count && k - node < runs; k++) {
		uint8_t *rec = l0 + k * stride;
		switch (pick(r, 5)) {
		case 0: { /* the link count */
			static const uint32_t c[] = { 0, 1, 3000, UINT32_MAX, 1u << 31 };
			fz_put32(rec + vb, pick(r, 2) ? c[pick(r, 5)] : M0 + (uint32_t)pick(r, 3) - 1);
			break;
		}
		case 1: /* a link */
			fz_put32(rec + vb + 4 + 4 * pick(r, M0),
			         pick(r, 4) ? (uint32_t)boundary(r, count, k) : (uint32_t)k);
			break;
		case 2: /* every link the same: duplicates */
			fill(rec + vb + 4, M0, 4, 0, M0, pick(r, count));
			break;
		case 3: /* all ones, count included */
			memset(rec + vb, 0xff, 4 + 4 * (size_t)M0);
			break;
		default: { /* the vector: NaN */
			float x = special_float(r);
			for (size_t j = 0; f->storage == FZ_F32 && j < d; j++)
				memcpy(rec + 4 * j, &x, 4);
			if (f->storage != FZ_F32)
				memset(rec, 0xff, vb);
		}
		}
	}
	/* an upper block: (1 + M) u32 words, the first the link count */
	int ui = find(b, FZ_CC('H', 'N', 'U', 'L'));
	size_t ulen;
	uint8_t *up = ui >= 0 ? fz_section(b, f->n, (uint32_t)ui, &ulen) : NULL;
	size_t blocks = up ? ulen / (4 * (1 + M)) : 0;
	if (blocks && pick(r, 3) == 0) {
		uint8_t *blk = up + 4 * (1 + M) * pick(r, blocks);
		if (pick(r, 2))
			fz_put32(blk, (uint32_t)boundary(r, M, M));
		else
			fz_put32(blk + 4 + 4 * pick(r, M), (uint32_t)boundary(r, count, 0));
	}
}

static void section_contents(file *f)
{
	rng *r = f->r;
	uint32_t nsec = fz_nsec(f->b);
	if (!nsec)
		return header_field(f);
	uint32_t i = (uint32_t)pick(r, nsec);
	size_t len;
	uint8_t *p = fz_section(f->b, f->n, i, &len);
	if (!p || !len)
		return table_entry(f);
	uint32_t kind = fz_get32(fz_entry(f->b, i));
	size_t run = run_of(r);
	switch (elem_of(kind, f->storage)) {
	case E_U64: {
		/* offsets: into texts, upper links, lists; rising, or not */
		size_t nel = len / 8, at = pick(r, 4) == 0 ? nel - 1 : pick(r, nel);
		uint64_t ref = kind == FZ_CC('I', 'V', 'O', 'F')   ? f->count
		               : kind == FZ_CC('H', 'N', 'U', 'O') ? section_len(f->b, f->n, "HNUL") / 4
		               : kind == FZ_CC('I', 'D', 'O', 'F') ? section_len(f->b, f->n, "IDTX")
		                                                   : section_len(f->b, f->n, "MDTX");
		if (nel && pick(r, 4) == 0 && at + 1 < nel) /* falling */
			put(p + 8 * at, 8, get(p + 8 * (at + 1), 8) + 1);
		else if (nel)
			fill(p, nel, 8, at, run, boundary(r, ref, get(p + 8 * at, 8)));
		break;
	}
	case E_U32: {
		/* rows, links, keys: out of range, duplicated, unsorted */
		size_t nel = len / 4, at = pick(r, nel);
		if (!nel)
			break;
		if (pick(r, 4) == 0 && at + 1 < nel)
			put(p + 4 * at, 4, get(p + 4 * (at + 1), 4) + (pick(r, 2) ? 0 : 1));
		else
			fill(p, nel, 4, at, run, (uint32_t)boundary(r, f->count, get(p + 4 * at, 4)));
		break;
	}
	case E_F32: {
		float x = special_float(r);
		uint32_t v;
		memcpy(&v, &x, 4);
		fill(p, len / 4, 4, pick(r, len / 4), run, v);
		break;
	}
	case E_F16: {
		static const uint16_t h[] = { 0x7c00, 0xfc00, 0x7e00, 0xffff, 0x7bff, 0x8000 };
		fill(p, len / 2, 2, pick(r, len / 2), run, h[pick(r, 6)]);
		break;
	}
	case E_TEXT:
		text(f, p, len);
		break;
	case E_PTAB: {
		/* u32 count, then entries of u32 offset, length; u64 offset, length */
		size_t nent = len >= 4 ? (len - 4) / 24 : 0;
		if (!nent || pick(r, 4) == 0) {
			fz_put32(p, (uint32_t)boundary(r, nent, fz_get32(p)));
			break;
		}
		static const unsigned at[] = { 0, 4, 8, 16 };
		unsigned k = (unsigned)pick(r, 4), w = k < 2 ? 4 : 8;
		uint8_t *e = p + 4 + 24 * pick(r, nent) + at[k];
		put(e, w, boundary(r, len, get(e, w)));
		break;
	}
	case E_PNUM: {
		/* f64 value, u32 row, u32 0 */
		size_t nent = len / 16;
		if (!nent)
			break;
		uint8_t *e = p + 16 * pick(r, nent);
		if (pick(r, 2)) {
			double d = special_double(r);
			memcpy(e, &d, 8);
		} else {
			fz_put32(e + 8 + 4 * pick(r, 2), (uint32_t)boundary(r, f->count, 0));
		}
		break;
	}
	case E_HNL0:
		hnsw_graph(f);
		break;
	default: {
		/* bytes: codes, bitmaps (TOMB, PBMP), unknown kinds */
		size_t at = pick(r, len);
		switch (pick(r, 3)) {
		case 0: memset(p + at, 0xff, len - at < run ? len - at : run); break;
		case 1: memset(p + at, 0, len - at < run ? len - at : run); break;
		default: {
			unsigned w = 1u << pick(r, 4);
			if (at + w <= len)
				put(p + at, w, boundary(r, f->count, get(p + at, w)));
		}
		}
	}
	}
}

/* The file's length: cut at a section's end or inside it, or a page more. */
static size_t length(file *f)
{
	uint32_t nsec = fz_nsec(f->b);
	if (pick(f->r, 2) && f->n + FZ_ALIGN <= f->max) {
		memset(f->b + f->n, 0, FZ_ALIGN);
		return f->n + FZ_ALIGN;
	}
	if (!nsec)
		return f->n;
	size_t len, at;
	uint8_t *p = fz_section(f->b, f->n, (uint32_t)pick(f->r, nsec), &len);
	if (!p)
		return f->n;
	at = (size_t)(p - f->b) + (pick(f->r, 2) ? len : pick(f->r, len + 1));
	return at >= FZ_HEADER && at < f->n ? at : f->n;
}

/* One section's bytes over another's (as many as both hold). */
static void graft(file *f)
{
	uint32_t nsec = fz_nsec(f->b);
	size_t la, lb;
	uint8_t *a = nsec ? fz_section(f->b, f->n, (uint32_t)pick(f->r, nsec), &la) : NULL;
	uint8_t *b = nsec ? fz_section(f->b, f->n, (uint32_t)pick(f->r, nsec), &lb) : NULL;
	if (a && b && a != b)
		memmove(a, b, la < lb ? la : lb);
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
	rng r = { seed * 0x2545F4914F6CDD1Dull + size };
	if (!fz_is_index(data, size) || max_size < FZ_HEADER || pick(&r, 4) == 0) {
		size = LLVMFuzzerMutate(data, size, max_size);
	} else {
		file f = { data, size, max_size, fz_get64(data + FZ_COUNT), fz_get32(data + FZ_DIM),
		           fz_get32(data + FZ_STORAGE), &r };
		for (size_t k = 0, rounds = 1 + pick(&r, 3); k < rounds; k++) {
			switch (pick(&r, 16)) {
			case 0: case 1: case 2: header_field(&f); break;
			case 3: case 4: table_entry(&f); break;
			case 5: case 6: case 7: hnsw_graph(&f); break;
			case 8: f.n = length(&f); break;
			case 9: graft(&f); break;
			default: section_contents(&f);
			}
		}
		size = f.n;
	}
	fz_fix_checksums(data, size);
	return size;
}

size_t LLVMFuzzerCustomCrossOver(const uint8_t *d1, size_t s1, const uint8_t *d2, size_t s2,
                                 uint8_t *out, size_t max_out, unsigned int seed)
{
	rng r = { seed * 0x2545F4914F6CDD1Dull + s1 + s2 };
	size_t n = s1 < max_out ? s1 : max_out;
	memcpy(out, d1, n);
	if (fz_is_index(out, n) && fz_is_index(d2, s2)) {
		if (pick(&r, 2)) {
			/* another index's header fields over this one's sections */
			size_t from = FZ_TYPE + 4 * pick(&r, 6), to = pick(&r, 2) ? FZ_SECTAB : FZ_SHARDS + 4;
			memcpy(out + from, d2 + from, to > from ? to - from : 0);
		} else {
			/* a section of the other index over this one's of the same kind */
			uint8_t *b2 = (uint8_t *)d2; /* only read */
			uint32_t n2 = fz_nsec(b2);
			size_t l2, l1;
			uint32_t i2 = (uint32_t)pick(&r, n2 ? n2 : 1);
			const uint8_t *src = n2 ? fz_section(b2, s2, i2, &l2) : NULL;
			int i1 = src ? find(out, fz_get32(fz_entry(b2, i2))) : -1;
			uint8_t *dst = i1 >= 0 ? fz_section(out, n, (uint32_t)i1, &l1) : NULL;
			if (dst)
				memcpy(dst, src, l1 < l2 ? l1 : l2);
		}
	} else if (n) {
		/* bytes: the first part of one, the rest of the other */
		size_t cut = pick(&r, n), from = pick(&r, s2 ? s2 : 1), m = s2 - from;
		if (cut + m > max_out)
			m = max_out - cut;
		memcpy(out + cut, d2 + from, m);
		n = cut + m;
	}
	fz_fix_checksums(out, n);
	return n;
}
