/*
 * output.c — results as JSONL, ivecs or TSV.
 *
 * One query's results per call, so vdb-query can stream batch after batch.
 * Distances are printed in the shortest form that reads back as the same
 * float (jq-friendly, and no "0.100000001" noise). Ids are the index's JSON
 * texts when it has them (returned verbatim), else record numbers; ix may be
 * NULL (ground truth), which means record numbers.
 */
#include "vdb_internal.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void format_float(char *buf, size_t n, float v)
{
	for (int prec = 6; prec <= 9; prec++) {
		snprintf(buf, n, "%.*g", prec, (double)v);
		if (strtof(buf, NULL) == v)
			return;
	}
}

static void put_id(FILE *f, const vdb_index *ix, int64_t id, int raw_string)
{
	size_t len;
	const char *t = ix ? vdb_index_id_json(ix, id, &len) : NULL;
	if (!t) {
		fprintf(f, "%lld", (long long)id);
		return;
	}
	/* TSV shows a plain string id without its quotes, unless it needs escapes */
	if (raw_string && len >= 2 && t[0] == '"' && !memchr(t, '\\', len)) {
		fwrite(t + 1, 1, len - 2, f);
		return;
	}
	fwrite(t, 1, len, f);
}

static void put_meta(FILE *f, const vdb_index *ix, int64_t id)
{
	size_t len;
	const char *t = ix ? vdb_index_meta_json(ix, id, &len) : NULL;
	if (t)
		fwrite(t, 1, len, f);
	else
		fputs("null", f);
}

vdb_status vdb_write_result(FILE *f, vdb_output fmt, const vdb_index *ix, size_t query_no,
                            const int64_t *ids, const float *dist, size_t k, int include_meta)
{
	char num[32];
	size_t n = 0;
	while (n < k && ids[n] >= 0)
		n++;
	switch (fmt) {
	case VDB_OUT_JSONL:
		fprintf(f, "{\"query\": %zu, \"ids\": [", query_no);
		for (size_t r = 0; r < n; r++) {
			if (r)
				fputs(", ", f);
			put_id(f, ix, ids[r], 0);
		}
		fputs("], \"distances\": [", f);
		for (size_t r = 0; r < n; r++) {
			format_float(num, sizeof num, dist[r]);
			fprintf(f, r ? ", %s" : "%s", num);
		}
		fputc(']', f);
		if (include_meta) {
			fputs(", \"metadata\": [", f);
			for (size_t r = 0; r < n; r++) {
				if (r)
					fputs(", ", f);
				put_meta(f, ix, ids[r]);
			}
			fputc(']', f);
		}
		fputs("}\n", f);
		break;
	case VDB_OUT_IVECS: {
		int32_t row[1 + 1024];
		row[0] = (int32_t)n;
		fwrite(row, 4, 1, f);
		for (size_t r = 0; r < n; r += 1024) {
			size_t m = n - r < 1024 ? n - r : 1024;
			for (size_t i = 0; i < m; i++)
				row[i] = (int32_t)ids[r + i];
			fwrite(row, 4, m, f);
		}
		break;
	}
	case VDB_OUT_TSV:
		for (size_t r = 0; r < n; r++) {
			fprintf(f, "%zu\t%zu\t", query_no, r + 1);
			put_id(f, ix, ids[r], 1);
			format_float(num, sizeof num, dist[r]);
			fprintf(f, "\t%s", num);
			if (include_meta) {
				fputc('\t', f);
				put_meta(f, ix, ids[r]);
			}
			fputc('\n', f);
		}
		break;
	}
	if (ferror(f))
		return vdb_fail(VDB_EIO, "writing results failed: %s", strerror(errno));
	return VDB_OK;
}
