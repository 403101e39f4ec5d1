/* threads.c — the OpenMP thread count, set once by the commands, and the
 * parallel loop over queries that the index types share. */
#include "vdb_internal.h"
#include <omp.h>

void vdb_set_threads(int n)
{
	if (n > 0)
		omp_set_num_threads(n);
}

int vdb_threads(void)
{
	return omp_get_max_threads();
}

vdb_status vdb_for_queries(size_t nq, void *ctx, void *(*make)(void *ctx), void (*drop)(void *ws),
                           void (*one)(void *ctx, void *ws, size_t i))
{
	int threads = vdb_threads();
	if ((size_t)threads > nq)
		threads = (int)(nq ? nq : 1);
	vdb_status st = VDB_OK;
	#pragma omp parallel num_threads(threads) if (threads > 1)
	{
		void *w = make(ctx);
		if (!w) {
			#pragma omp atomic write
			st = VDB_ENOMEM;
		}
		#pragma omp for schedule(dynamic, 4)
		for (size_t i = 0; i < nq; i++)
			if (w)
				one(ctx, w, i);
		if (w)
			drop(w);
	}
	return st;
}
