/*
 * embed_fasttext_check.c — is a file a complete fastText model that
 * libfasttext (0.9.2, format version 11 or 12) can load safely?
 *
 * libfasttext trusts its input: a truncated file makes its dictionary
 * loader read EOF as word characters until memory runs out, a zero bucket
 * count divides by zero, and counts that disagree with the matrices index
 * out of bounds. So the whole file is walked here first, in fastText's
 * layout, and only a file that holds exactly one consistent model, to its
 * last byte, is handed to the shim:
 *   int32 magic 793712314, int32 version;
 *   args: int32 dim ws epoch minCount neg wordNgrams loss model bucket
 *         minn maxn lrUpdateRate, float64 t;
 *   dictionary: int32 size nwords nlabels, int64 ntokens pruneidx_size,
 *         size x (word bytes, NUL, int64 count, int8 type), pruneidx_size
 *         x (int32, int32);
 *   uint8 quantized input; input matrix: int64 rows cols, rows*cols float32;
 *   uint8 quantized output; output matrix: the same.
 * Quantized models (.ftz) are refused: vdb reads dense ones only.
 */
#include "embed_internal.h"
#include <string.h>

typedef struct {
	const unsigned char *p;
	size_t len, at;
} cursor;

static bool take(cursor *c, void *dst, size_t n)
{
	if (c->len - c->at < n)
		return false;
	memcpy(dst, c->p + c->at, n); /* little-endian host (configure checks) */
	c->at += n;
	return true;
}

#define FAIL(...) return vdb_fail(VDB_EFORMAT, __VA_ARGS__)
#define NEED(c, x, what) \
	do { if (!take(c, &(x), sizeof(x))) FAIL("%s: not a complete fastText model: it ends " \
	     "inside its %s (byte %zu)", f->name, what, (c)->at); } while (0)

enum { MODEL_CBOW = 1, MODEL_SG, MODEL_SUP };
#define FT_MAX_VOCAB 30000000 /* libfasttext's own MAX_VOCAB_SIZE */

/* A dense matrix of rows x dim float32. */
static vdb_status matrix(const vdb_model_file *f, cursor *c, const char *which, int64_t rows,
                         int32_t dim)
{
	uint8_t quant;
	int64_t m, n;
	NEED(c, quant, "matrix header");
	if (quant > 1)
		FAIL("%s: not a fastText model: the %s matrix's quantization flag is %u", f->name,
		     which, quant);
	if (quant)
		FAIL("%s: a quantized fastText model (.ftz): vdb reads only dense models (.bin)",
		     f->name);
	NEED(c, m, "matrix header");
	NEED(c, n, "matrix header");
	if (m != rows || n != dim)
		FAIL("%s: not a consistent fastText model: its %s matrix is %lld x %lld, its "
		     "header implies %lld x %d", f->name, which, (long long)m, (long long)n,
		     (long long)rows, dim);
	size_t bytes;
	if (!vdb_mul_ok((size_t)m, (size_t)n, &bytes) || !vdb_mul_ok(bytes, 4, &bytes) ||
	    c->len - c->at < bytes)
		FAIL("%s: not a complete fastText model: it ends inside its %s matrix", f->name,
		     which);
	c->at += bytes;
	return VDB_OK;
}

vdb_status vdb_fasttext_check(const vdb_model_file *f, uint32_t *dim)
{
	cursor c = { f->bytes, f->len, 0 };
	int32_t magic, version, a[12];
	double t;
	NEED(&c, magic, "header");
	if (magic != VDB_FASTTEXT_MAGIC)
		FAIL("%s: not a fastText model (its first 4 bytes are not fastText's magic number "
		     "%d)", f->name, VDB_FASTTEXT_MAGIC);
	NEED(&c, version, "header");
	if (version < 11 || version > 12)
		FAIL("%s: fastText model format version %d: vdb reads versions 11 and 12", f->name,
		     version);
	for (int i = 0; i < 12; i++)
		NEED(&c, a[i], "arguments");
	NEED(&c, t, "arguments");
	int32_t d = a[0], word_ngrams = a[5], loss = a[6], model = a[7], bucket = a[8],
	        minn = a[9], maxn = a[10];
	if (d < 1 || (uint32_t)d > VDB_MAX_DIM)
		FAIL("%s: fastText model of dimension %d: out of range (1..%u, VDB_MAX_DIM)",
		     f->name, d, VDB_MAX_DIM);
	if (loss < 1 || loss > 4 || model < MODEL_CBOW || model > MODEL_SUP)
		FAIL("%s: not a fastText model: unknown loss %d or model %d", f->name, loss, model);
	if (bucket < 0 || minn < 0 || maxn < 0)
		FAIL("%s: not a fastText model: negative bucket %d, minn %d or maxn %d", f->name,
		     bucket, minn, maxn);
	if (bucket == 0 && (maxn > 0 || word_ngrams > 1))
		FAIL("%s: not a consistent fastText model: no hash buckets, yet character n-grams "
		     "(maxn %d) or word n-grams (%d)", f->name, maxn, word_ngrams);

	int32_t size, nwords, nlabels;
	int64_t ntokens, pruned;
	NEED(&c, size, "dictionary");
	NEED(&c, nwords, "dictionary");
	NEED(&c, nlabels, "dictionary");
	NEED(&c, ntokens, "dictionary");
	NEED(&c, pruned, "dictionary");
	if (size < 0 || size > FT_MAX_VOCAB || nwords < 0 || nlabels < 0 ||
	    (int64_t)nwords + nlabels != size)
		FAIL("%s: not a consistent fastText model: dictionary of %d entries, %d words and "
		     "%d labels", f->name, size, nwords, nlabels);
	if (pruned != -1)
		FAIL("%s: a pruned fastText model (from quantization): vdb reads only dense models",
		     f->name);
	for (int32_t i = 0; i < size; i++) {
		const unsigned char *w = c.p + c.at;
		const unsigned char *nul = memchr(w, 0, c.len - c.at);
		if (!nul)
			FAIL("%s: not a complete fastText model: it ends inside dictionary entry %d",
			     f->name, i);
		c.at += (size_t)(nul - w) + 1;
		int64_t count;
		int8_t type;
		NEED(&c, count, "dictionary");
		NEED(&c, type, "dictionary");
		if (count < 0 || type != (i >= nwords))
			FAIL("%s: not a consistent fastText model: dictionary entry %d has count %lld "
			     "and type %d", f->name, i, (long long)count, type);
	}
	vdb_status s;
	if ((s = matrix(f, &c, "input", (int64_t)nwords + bucket, d)) ||
	    (s = matrix(f, &c, "output", model == MODEL_SUP ? nlabels : nwords, d)))
		return s;
	if (c.at != c.len)
		FAIL("%s: not a fastText model: %zu bytes follow the model's end", f->name,
		     c.len - c.at);
	*dim = (uint32_t)d;
	return VDB_OK;
}
