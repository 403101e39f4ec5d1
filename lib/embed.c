/*
 * embed.c — the embedder object: opening a model file (its kind from its
 * first bytes), its identity (kind, XXH3-64, dim) as the "embedder" JSON of
 * records, and a batch of texts handed to the kind with every newline and
 * carriage return read as a space.
 */
#include "embed_internal.h"
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

void vdb_embed_opts_init(vdb_embed_opts *o)
{
	memset(o, 0, sizeof *o);
}

static vdb_status new_embedder(vdb_embedder **out, const char *name, const vdb_embed_opts *o)
{
	vdb_embedder *e = calloc(1, sizeof *e);
	VDB_RETURN_IF(!e, VDB_ENOMEM, "out of memory");
	e->name = strdup(name);
	if (!e->name) {
		free(e);
		return vdb_fail(VDB_ENOMEM, "out of memory");
	}
	if (o) {
		e->want_dim = o->dim;
		e->timeout = o->timeout;
	}
	*out = e;
	return VDB_OK;
}

/* Map the whole file read-only (an empty one is refused). */
static vdb_status map_file(const char *path, vdb_model_file *f, size_t *maplen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	VDB_RETURN_IF(fd < 0, VDB_ENOENT, "%s: cannot open the model: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return vdb_fail(VDB_ENOENT, "%s: cannot open the model: not a regular file", path);
	}
	if (st.st_size == 0) {
		close(fd);
		return vdb_fail(VDB_EFORMAT, "%s: the model file is empty", path);
	}
	void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	int err = errno;
	close(fd);
	VDB_RETURN_IF(p == MAP_FAILED, VDB_EIO, "%s: cannot map the model: %s", path, strerror(err));
	f->bytes = p;
	f->len = *maplen = (size_t)st.st_size;
	return VDB_OK;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s && s[1] ? s + 1 : path;
}

/* The identity JSON, once the dimension is known. */
static vdb_status set_identity(vdb_embedder *e)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:I}", "kind", e->kind->name, "name", e->name,
	                      "xxh3", "", "dim", (json_int_t)e->dim);
	char hex[17];
	snprintf(hex, sizeof hex, "%016llx", (unsigned long long)e->xxh3);
	if (o)
		json_object_set_new(o, "xxh3", json_string(hex));
	char *text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(o);
	/* a name that is not UTF-8 (a file name) cannot go into JSON as it is */
	VDB_RETURN_IF(!text, VDB_EFORMAT, "%s: the %s's name is not valid UTF-8, which the "
	              "records' \"embedder\" needs", e->name,
	              e->kind == &vdb_embed_exec ? "command" : "model file");
	free(e->identity);
	e->identity = text;
	return VDB_OK;
}

vdb_status vdb_embedder_open(vdb_embedder **out, const char *model, const vdb_embed_opts *o)
{
	*out = NULL;
	vdb_model_file f = { model, model, NULL, 0 };
	size_t maplen = 0;
	vdb_status s = map_file(model, &f, &maplen);
	if (s)
		return s;
	vdb_embedder *e;
	if ((s = new_embedder(&e, base_name(model), o))) {
		munmap((void *)f.bytes, maplen);
		return s;
	}
	e->xxh3 = XXH3_64bits(f.bytes, f.len);
	int32_t magic = 0;
	if (f.len >= 4)
		memcpy(&magic, f.bytes, 4);
	size_t n = strlen(model);
	bool bin = n >= 4 && !strcmp(model + n - 4, ".bin");
	if (magic == VDB_FASTTEXT_MAGIC || bin)
		s = vdb_fasttext_load(e, &f);
	else
		s = vdb_wordvec_load(e, &f);
	munmap((void *)f.bytes, maplen);
	if (!s && e->want_dim && e->dim != e->want_dim)
		s = vdb_fail(VDB_EFORMAT, "%s: the model's dimension is %u, not %u (--dim)", model,
		             e->dim, e->want_dim);
	if (!s)
		s = set_identity(e);
	if (s) {
		vdb_embedder_close(e);
		return s;
	}
	*out = e;
	return VDB_OK;
}

vdb_status vdb_embedder_exec(vdb_embedder **out, const char *command, const vdb_embed_opts *o)
{
	*out = NULL;
	VDB_RETURN_IF(!*command, VDB_EINVAL, "--exec: the command is empty");
	VDB_RETURN_IF(strlen(command) > VDB_MAX_EMBED_COMMAND, VDB_EINVAL,
	              "--exec: the command is longer than %u bytes (VDB_MAX_EMBED_COMMAND)",
	              VDB_MAX_EMBED_COMMAND);
	vdb_embedder *e;
	vdb_status s = new_embedder(&e, command, o);
	if (s)
		return s;
	e->kind = &vdb_embed_exec;
	e->command = e->name;
	e->xxh3 = XXH3_64bits(command, strlen(command));
	*out = e;
	return VDB_OK;
}

void vdb_embedder_close(vdb_embedder *e)
{
	if (!e)
		return;
	if (e->kind && e->state)
		e->kind->close(e->state);
	free(e->name);
	free(e->identity);
	free(e);
}

uint32_t vdb_embedder_dim(const vdb_embedder *e)
{
	return e->dim;
}

const char *vdb_embedder_identity(const vdb_embedder *e)
{
	return e->identity;
}

vdb_status vdb_embed_batch(vdb_embedder *e, const char *const *texts, const size_t *lens,
                           size_t n, float **out, size_t *cap, size_t *bad)
{
	*bad = n;
	if (n == 0)
		return VDB_OK;
	size_t need;
	vdb_status s;
	if (e->dim && (!vdb_mul_ok(n, e->dim, &need) ||
	               (s = vdb_grow((void **)out, cap, need, sizeof(float), "vectors"))))
		return vdb_fail(VDB_ENOMEM, "out of memory for %zu vectors of dimension %u", n, e->dim);
	/* one line per text: newlines and carriage returns become spaces */
	size_t total = 0;
	for (size_t i = 0; i < n; i++)
		VDB_RETURN_IF(!vdb_add_ok(total, lens[i], &total), VDB_ENOMEM, "texts too long");
	char *buf = vdb_malloc(total, "the batch's texts");
	const char **line = vdb_malloc(n * sizeof *line, "the batch's texts");
	if (!buf || !line) {
		free(buf);
		free(line);
		return VDB_ENOMEM;
	}
	char *p = buf;
	for (size_t i = 0; i < n; i++) {
		line[i] = p;
		for (size_t j = 0; j < lens[i]; j++) {
			char c = texts[i][j];
			*p++ = c == '\n' || c == '\r' ? ' ' : c;
		}
	}
	uint32_t dim0 = e->dim;
	s = e->kind->embed(e, line, lens, n, out, cap, bad);
	free(buf);
	free(line);
	if (!s && !dim0 && e->dim) {
		if (e->want_dim && e->dim != e->want_dim) {
			*bad = 0;
			return vdb_fail(VDB_EFORMAT, "the embedder's vectors have dimension %u, not %u "
			                "(--dim)", e->dim, e->want_dim);
		}
		s = set_identity(e);
	}
	return s;
}
