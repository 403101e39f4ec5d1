/* file.h — the index file container: header, section table, atomic writer,
 * memory-mapped reader. Knows nothing about index types. (internal) */
#ifndef VDB_FILE_H
#define VDB_FILE_H
#include "vdb_internal.h"

/*
 * Format history:
 *   1.0  first format: 4096-byte header, up to 64 sections, XXH3-64 checksums.
 *   1.1  u32 shard, shards at header bytes 176..183 (zero before: not a shard).
 *        1.0 readers ignore those bytes, so a 1.1 file opens in them as an
 *        ordinary index; 1.1 readers see 1.0 files as not sharded. Files
 *        that are not shards are still written as 1.0.
 *   2.0  deleted rows: live < count and a TOMB section (a CRoaring bitmap of
 *        the deleted rows). 1.x readers refuse it, as they would return
 *        deleted rows; files without deleted rows are still written as 1.x.
 *   (same versions) texts and the embedder identity (issue 18): header flag
 *        4 with TXOF/TXTX (offsets, and JSON strings or null, as IDOF/IDTX),
 *        and an EMBD section (the identity's canonical JSON). Only files
 *        whose records carry them have them, and readers that do not know
 *        them open such a file as one without texts, so no version changes:
 *        a file without texts is byte for byte what earlier versions wrote.
 *   (same versions) the lexical index (issue 19): LXPM, LXVO, LXPO and LXLN
 *        (lexical.h), only in files built with --lexical; readers that do
 *        not know them open such a file as one without it.
 *   (same versions) the recall curve (issue 20): RCRV (recall_curve.h) in
 *        hnsw, ivf, ivfpq and lsh files; readers that do not know it open
 *        such a file as one without a curve.
 * A reader opens every file whose major version is <= its own; a changed
 * section layout gets a new section kind, never a silent reinterpretation.
 */
#define VDB_FORMAT_MAJOR 2
#define VDB_FORMAT_MINOR 0
#define VDB_HEADER_SIZE 4096u
#define VDB_ALIGN 4096u
#define VDB_MAX_SECTIONS 64u
#define VDB_NPARAMS 16u
#define VDB_FOURCC(a, b, c, d) \
	((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)

/* Storage types of vectors. */
enum { VDB_STORAGE_F32 = 1, VDB_STORAGE_F16, VDB_STORAGE_SQ8, VDB_STORAGE_PQ, VDB_STORAGE_BINARY };

typedef struct {
	uint32_t kind;
	uint64_t offset, length, xxh3;
} vdb_section;

typedef struct {
	uint32_t major, minor;
	uint32_t type;      /* index fourcc */
	uint32_t metric, dim, storage, flags;
	uint64_t count, live;
	uint64_t params[VDB_NPARAMS]; /* type-specific build parameters */
	uint32_t shard, shards; /* shard `shard` of `shards` (vdb-build --shard); 0 shards: none */
	uint32_t nsections;
	vdb_section sec[VDB_MAX_SECTIONS];
} vdb_header;

/* ===== Writing ===== */
typedef struct vdb_file_writer vdb_file_writer;
/* Create NAME.tmp.XXXXXX beside path; nothing at path changes until commit. */
vdb_status vdb_file_create(vdb_file_writer **out, const char *path);
/* Sections are written in order, each starting on a 4096-byte boundary.
 * begin/append/end stream one section; write_section does all three. */
vdb_status vdb_file_begin_section(vdb_file_writer *w, uint32_t kind);
vdb_status vdb_file_append(vdb_file_writer *w, const void *data, size_t len);
vdb_status vdb_file_end_section(vdb_file_writer *w);
vdb_status vdb_file_write_section(vdb_file_writer *w, uint32_t kind, const void *data, size_t len);
/* Write the header (h's section table is filled in), fsync, rename over
 * path, fsync the directory. Frees w whatever happens; on failure the
 * temporary file is removed. */
vdb_status vdb_file_commit(vdb_file_writer *w, vdb_header *h);
/* Give up: remove the temporary file and free w. */
void vdb_file_abort(vdb_file_writer *w);
/* fsync the directory holding path, so that a rename into it is durable. */
vdb_status vdb_fsync_dir(const char *path);

/* ===== Output targets =====
 * Every output that vdb replaces whole (index, quantizer, metrics, plot) is
 * written to a temporary file beside it and renamed over its name. rename(2)
 * replaces whatever has that name (a device, a FIFO, a symbolic link), so
 * the name must hold nothing or a regular file: vdb_output_file_check (in
 * vdb.h) says so before the work, vdb_file_replace again at the rename. */
/* "a symbolic link", "a directory", "a character device", ... */
const char *vdb_file_kind(unsigned mode);
/* rename(tmp, path) if path holds nothing or a regular file; VDB_ECREATE
 * naming path otherwise (tmp is left for the caller to remove). */
vdb_status vdb_file_replace(const char *tmp, const char *path);
/* mkstemp(3) (tmpl ends in XXXXXX, replaced by the name made), but the file
 * gets the mode any new file gets, 0666 less the umask, as open(2) applies
 * it: mkstemp makes 0600, and reading the process's umask means setting it,
 * which no library call may do while other threads create files. */
int vdb_temp_open(char *tmpl);

/* The one atomic writer (atomic.c) of every output replaced whole: open
 * makes NAME.tmp.XXXXXX beside path (as readable as a new file; VDB_ECREATE
 * if it cannot), the caller writes to fd (or to the stream of
 * vdb_atomic_stream, or lets another program write to the name tmp), and
 * commit flushes, fsyncs, closes, renames over path and fsyncs the
 * directory. Commit and abort release a whatever happens; on failure, or
 * on abort, the temporary file is removed and path is untouched. */
typedef struct {
	char *path, *tmp;
	int fd;
	FILE *f;    /* vdb_atomic_stream's, on fd; NULL before */
} vdb_atomic;
vdb_status vdb_atomic_open(vdb_atomic *a, const char *path);
FILE *vdb_atomic_stream(vdb_atomic *a); /* NULL (message set) if out of memory */
vdb_status vdb_atomic_commit(vdb_atomic *a);
void vdb_atomic_abort(vdb_atomic *a);

/* ===== Reading ===== */
typedef struct {
	char *path;
	const unsigned char *map;
	size_t size;
	vdb_header h;
} vdb_file;

/* mmap path and check magic, version, header checksum and section bounds. */
vdb_status vdb_file_open(vdb_file **out, const char *path);
/* The section of that kind, or NULL (*len = 0) when absent. */
const void *vdb_file_section(const vdb_file *f, uint32_t kind, size_t *len);
/* Advise the kernel that the len bytes at p (a section, page-aligned) are
 * read a few rows at a time at random (the float rows a search only
 * re-ranks) when len is at least limit bytes: a fault there then reads the
 * pages touched instead of the disk's read-around window (read_ahead_kb,
 * megabytes on some machines), which, for rows that do not stay cached,
 * reads megabytes a row and evicts the pages the search walks. Whether it
 * advised. */
bool vdb_file_advise_random(const void *p, size_t len, size_t limit);
/* The limit the indexes advise at: a quarter of physical memory (rows that
 * big are not all cached beside the rest; smaller ones are, and read-around
 * fills the cache faster from cold). */
size_t vdb_file_random_limit(void);
/* Check every section's XXH3-64. */
vdb_status vdb_file_verify(const vdb_file *f);
void vdb_file_close(vdb_file *f);

/* "VECS" from a fourcc, into buf[5]. */
const char *vdb_fourcc_str(uint32_t k, char buf[5]);

/* The section table of a header as a JSON array (--info; file_info.c). */
struct json_t *vdb_sections_json(const vdb_header *h);

/* Header encoding, exposed for tests that craft files. */
void vdb_header_encode(const vdb_header *h, unsigned char *out); /* VDB_HEADER_SIZE bytes */
#endif
