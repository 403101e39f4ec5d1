/* threads.c — the OpenMP thread count, set once by the commands. */
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
