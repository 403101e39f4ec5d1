/* index_layout.h — the index file as the fuzz harness and its mutator see
 * it: the header and section table of lib/file.c (restated here, as a
 * crafted file's author would: the harness tests the library, it does not
 * borrow its parser), the section kinds of the index types, and the
 * checksums made valid again after a change. */
#ifndef VDB_FUZZ_INDEX_LAYOUT_H
#define VDB_FUZZ_INDEX_LAYOUT_H
#include <stdint.h>
#include <string.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#define FZ_HEADER 4096u
#define FZ_ALIGN 4096u
#define FZ_MAXSEC 64u
#define FZ_SECTAB 512u
#define FZ_SECENT 32u
#define FZ_CHECKSUM (FZ_HEADER - 8u)

/* header byte offsets */
enum {
	FZ_MAJOR = 6, FZ_MINOR = 7, FZ_TYPE = 8, FZ_METRIC = 12, FZ_DIM = 16, FZ_STORAGE = 20,
	FZ_FLAGS = 24, FZ_NSEC = 28, FZ_COUNT = 32, FZ_LIVE = 40, FZ_PARAMS = 48, FZ_SHARD = 176,
	FZ_SHARDS = 180
};
/* a section table entry: u32 kind, u32 0, u64 offset, length, xxh3 */
enum { FZ_SEC_KIND = 0, FZ_SEC_OFF = 8, FZ_SEC_LEN = 16, FZ_SEC_XXH = 24 };
/* storage kinds (file.h) */
enum { FZ_F32 = 1, FZ_F16, FZ_SQ8, FZ_PQ, FZ_BINARY };

#define FZ_CC(a, b, c, d) \
	((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)

static inline uint32_t fz_get32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4); /* the format is little-endian, as the hosts vdb builds on */
	return v;
}
static inline uint64_t fz_get64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}
static inline void fz_put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void fz_put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static inline int fz_is_index(const uint8_t *b, size_t n)
{
	return n >= FZ_HEADER && !memcmp(b, "VDBIDX", 6);
}

/* Sections the table names (at most FZ_MAXSEC, whatever nsections says). */
static inline uint32_t fz_nsec(const uint8_t *b)
{
	uint32_t n = fz_get32(b + FZ_NSEC);
	return n < FZ_MAXSEC ? n : FZ_MAXSEC;
}

static inline uint8_t *fz_entry(uint8_t *b, uint32_t i)
{
	return b + FZ_SECTAB + (size_t)i * FZ_SECENT;
}

/* Section i's bytes when they lie inside the n bytes of b, else NULL. */
static inline uint8_t *fz_section(uint8_t *b, size_t n, uint32_t i, size_t *len)
{
	const uint8_t *e = fz_entry(b, i);
	uint64_t off = fz_get64(e + FZ_SEC_OFF), l = fz_get64(e + FZ_SEC_LEN);
	*len = 0;
	if (off > n || l > n - off)
		return NULL;
	*len = (size_t)l;
	return b + off;
}

/* Recompute every checksum the section table names, then the header's. */
static inline void fz_fix_checksums(uint8_t *b, size_t n)
{
	if (n < FZ_HEADER)
		return;
	for (uint32_t i = 0; i < fz_nsec(b); i++) {
		size_t len;
		const uint8_t *s = fz_section(b, n, i, &len);
		if (s)
			fz_put64(fz_entry(b, i) + FZ_SEC_XXH, XXH3_64bits(s, len));
	}
	fz_put64(b + FZ_CHECKSUM, XXH3_64bits(b, FZ_CHECKSUM));
}
#endif
