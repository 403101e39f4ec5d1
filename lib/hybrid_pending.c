/* hybrid_pending.c — TEMPORARY stand-ins for the lexical search (the lex
 * branch brings the real ones); removed when that branch is merged. */
#include "vdb_internal.h"
int vdb_index_has_lexical(const vdb_index *ix) { (void)ix; return 0; }
vdb_status vdb_index_search_text_set(const vdb_index *const *ix, size_t n,
                                     const char *const *texts, const size_t *lens, size_t nq,
                                     const vdb_search_opts *o, int64_t *ids, float *scores)
{
	(void)ix, (void)n, (void)texts, (void)lens, (void)nq, (void)o, (void)ids, (void)scores;
	return vdb_fail(VDB_EUNSUPPORTED, "no lexical index (pending)");
}
