/*
 * shard.c — splitting an input into shards, and checking a set of shards.
 *
 * The rule must be reproducible by any other tool (xxhsum -H3, Python's
 * xxhash), so the key is the id as a user writes it: a string id's bytes,
 * not its JSON quoting, which depends on the encoder's escaping choices.
 * Records without ids are keyed by their record number over all inputs,
 * which is also the id that an unsharded build would give them; the shard
 * keeps it as an explicit id, so ids stay global.
 *
 * The filter works batch by batch so that a shard build holds only its own
 * share of the input (plus one batch), not the whole input.
 */
#include "index_internal.h"
#include "idmap.h"
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

uint32_t vdb_shard_of_key(const char *key, size_t len, uint32_t shards)
{
	return (uint32_t)(XXH3_64bits(key, len) % shards);
}

vdb_status vdb_shard_of_id(const char *json, size_t len, uint32_t shards, uint32_t *out)
{
	vdb_idkey k;
	vdb_status s = vdb_idkey_of(&k, json, len, 0);
	if (s)
		return s;
	*out = vdb_shard_of_key(k.ptr, k.len, shards);
	vdb_idkey_done(&k);
	return VDB_OK;
}

vdb_status vdb_shard_parse(const char *s, uint32_t *shard, uint32_t *shards)
{
	/* digits, '/', digits: nothing sscanf would also take (signs, blanks) */
	size_t a = strspn(s, "0123456789"), b = a && s[a] == '/' ? strspn(s + a + 1, "0123456789") : 0;
	VDB_RETURN_IF(!b || s[a + 1 + b] || a > 9 || b > 9, VDB_EINVAL,
	              "'%s' is not I/N (shard I of N, counting from 0)", s);
	unsigned long i = strtoul(s, NULL, 10), n = strtoul(s + a + 1, NULL, 10);
	VDB_RETURN_IF(n == 0 || n > VDB_MAX_SHARDS, VDB_EINVAL,
	              "'%s': the shard count must be in 1..%u", s, VDB_MAX_SHARDS);
	VDB_RETURN_IF(i >= n, VDB_EINVAL, "'%s': shards of %lu are numbered 0..%lu", s, n, n - 1);
	*shard = (uint32_t)i;
	*shards = (uint32_t)n;
	return VDB_OK;
}

/* ===== The filter ===== */
struct vdb_shard_filter {
	uint32_t shard, shards;
	uint64_t seen;       /* records seen: the next one's record number */
	uint64_t *recno;     /* record number of each kept row without an id */
	size_t nrec, rcap;
};

vdb_status vdb_shard_filter_new(vdb_shard_filter **out, uint32_t shard, uint32_t shards)
{
	*out = NULL;
	VDB_RETURN_IF(shards == 0 || shard >= shards, VDB_EINVAL, "shard %u/%u is out of range",
	              shard, shards);
	vdb_shard_filter *f = calloc(1, sizeof *f);
	if (!f)
		return vdb_fail(VDB_ENOMEM, "out of memory");
	f->shard = shard;
	f->shards = shards;
	*out = f;
	return VDB_OK;
}

size_t vdb_shard_filter_seen(const vdb_shard_filter *f) { return (size_t)f->seen; }

void vdb_shard_filter_free(vdb_shard_filter *f)
{
	if (!f)
		return;
	free(f->recno);
	free(f);
}

/* Move text row j to row w (w <= j) of a text column, in place. */
static void move_text(char *buf, uint64_t *off, size_t w, size_t j)
{
	uint64_t a = off[j], len = off[j + 1] - a;
	memmove(buf + off[w], buf + a, (size_t)len);
	off[w + 1] = off[w] + len;
}

vdb_status vdb_shard_filter_apply(vdb_shard_filter *f, vdb_vecs *v, size_t from)
{
	size_t w = from;
	vdb_status s = VDB_OK;
	for (size_t j = from; j < v->n && !s; j++) {
		uint64_t rec = f->seen++;
		uint32_t sh;
		if (v->id_off) {
			s = vdb_shard_of_id(v->id_buf + v->id_off[j],
			                    (size_t)(v->id_off[j + 1] - v->id_off[j]), f->shards, &sh);
		} else {
			char num[24];
			sh = vdb_shard_of_key(num, (size_t)snprintf(num, sizeof num, "%" PRIu64, rec),
			                      f->shards);
		}
		if (s || sh != f->shard)
			continue;
		if (!v->id_off) {
			if ((s = vdb_grow((void **)&f->recno, &f->rcap, f->nrec + 1, sizeof *f->recno,
			                  "record numbers")))
				break;
			f->recno[f->nrec++] = rec;
		}
		if (w != j) {
			size_t rb = vdb_vecs_row_bytes(v);
			memcpy((char *)v->data + w * rb, (char *)v->data + j * rb, rb);
			for (int c = 0; c < VDB_NCOLS; c++)
				if (v->col[c].off)
					move_text(v->col[c].buf, v->col[c].off, w, j);
		}
		w++;
	}
	v->n = w;
	for (int c = 0; c < VDB_NCOLS; c++)
		if (v->col[c].off)
			v->col[c].len = (size_t)v->col[c].off[w];
	/* nothing kept yet: forget the column, so the reader's all-or-none
	 * id check starts again as for a fresh set */
	if (w == 0 && v->id_off) {
		free(v->id_buf), free(v->id_off);
		v->id_buf = NULL, v->id_off = NULL;
		v->id_len = v->id_cap = v->id_ocap = 0;
	}
	return s;
}

vdb_status vdb_shard_filter_finish(vdb_shard_filter *f, vdb_vecs *v)
{
	if (v->id_off || v->n == 0)
		return VDB_OK;
	VDB_RETURN_IF(f->nrec != v->n, VDB_EINTERNAL, "shard filter: %zu record numbers for %zu rows",
	              f->nrec, v->n);
	/* build the column from scratch: vdb_vecs_push_id appends at row v->n */
	size_t n = v->n, len = 0, cap = 0, ocap = 0;
	char *buf = NULL;
	uint64_t *off = NULL;
	vdb_status s = vdb_grow((void **)&off, &ocap, n + 1, sizeof *off, "ids");
	if (!s)
		off[0] = 0;
	for (size_t i = 0; i < n && !s; i++) {
		char num[24];
		size_t tl = (size_t)snprintf(num, sizeof num, "%" PRIu64, f->recno[i]);
		if (!(s = vdb_grow((void **)&buf, &cap, len + tl, 1, "ids"))) {
			memcpy(buf + len, num, tl);
			len += tl;
			off[i + 1] = len;
		}
	}
	if (s) {
		free(buf), free(off);
		return s;
	}
	v->id_buf = buf, v->id_off = off, v->id_len = len, v->id_cap = cap, v->id_ocap = ocap;
	return VDB_OK;
}

/* ===== Sets of indexes ===== */
static void append_warning(char **w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void append_warning(char **w, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	size_t old = *w ? strlen(*w) : 0;
	char *n = realloc(*w, old + strlen(line) + 2);
	if (!n)
		return;
	if (old)
		n[old++] = '\n';
	strcpy(n + old, line);
	*w = n;
}

vdb_status vdb_index_set_check(const vdb_index *const *ix, const char *const *names, size_t n,
                               char **warning)
{
	*warning = NULL;
	for (size_t i = 1; i < n; i++) {
		VDB_RETURN_IF(ix[i]->dim != ix[0]->dim, VDB_EFORMAT,
		              "%s has dimension %u but %s has %u: they cannot be searched as one set",
		              names[i], ix[i]->dim, names[0], ix[0]->dim);
		VDB_RETURN_IF(ix[i]->metric != ix[0]->metric, VDB_EFORMAT,
		              "%s uses metric %s but %s uses %s: they cannot be searched as one set",
		              names[i], vdb_metric_name(ix[i]->metric), names[0],
		              vdb_metric_name(ix[0]->metric));
		/* one embedder, or none: else the distances of two indexes do not compare */
		vdb_status s = vdb_index_embedder_check(ix[0], names[0], ix[i]->embedder, names[i], 1);
		if (s)
			return s;
	}
	/* one shard alone is the scatter step of a scatter-gather: nothing to say */
	if (n < 2)
		return VDB_OK;
	uint32_t shards = ix[0]->shards;
	for (size_t i = 0; i < n; i++) {
		if (!ix[i]->shards) {
			append_warning(warning, "%s is not a shard: its ids are its own record numbers and "
			               "may collide with other indexes' ids", names[i]);
			return VDB_OK;
		}
		if (ix[i]->shards != shards) {
			append_warning(warning, "%s is shard %u/%u but %s is %u/%u: the indexes are not "
			               "one split", names[i], ix[i]->shard, ix[i]->shards, names[0],
			               ix[0]->shard, shards);
			return VDB_OK;
		}
	}
	/* one split: every shard number exactly once */
	const char **seen = calloc(shards, sizeof *seen);
	if (!seen)
		return vdb_fail(VDB_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		uint32_t s = ix[i]->shard;
		if (seen[s])
			append_warning(warning, "shard %u/%u is given twice (%s and %s): its results will "
			               "appear twice", s, shards, seen[s], names[i]);
		else
			seen[s] = names[i];
	}
	char missing[256] = "";
	size_t nmiss = 0, used = 0;
	for (uint32_t s = 0; s < shards; s++)
		if (!seen[s]) {
			if (nmiss++ < 16 && used < sizeof missing)
				used += (size_t)snprintf(missing + used, sizeof missing - used, "%s%u",
				                         nmiss > 1 ? ", " : "", s);
		}
	if (nmiss)
		append_warning(warning, "%zu of %u shards missing (%s%s): results cover only part "
		               "of the data", nmiss, shards, missing, nmiss > 16 ? ", ..." : "");
	free(seen);
	return VDB_OK;
}
