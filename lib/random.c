/*
 * random.c — splitmix64 and the draws made from it (random.h). Every
 * random choice of the library (k-means seeding and sampling, lsh's
 * hyperplanes, the recall curve's sample and noise) comes from here.
 */
#include "random.h"
#include <math.h>

uint64_t vdb_splitmix64(uint64_t *state)
{
	return vdb_splitmix64_mix(*state += VDB_SPLITMIX_GAMMA);
}

double vdb_gaussian(uint64_t *state)
{
	double u = ((double)(vdb_splitmix64(state) >> 11) + 1.0) / 9007199254740993.0; /* (0, 1) */
	double v = (double)(vdb_splitmix64(state) >> 11) / 9007199254740992.0;
	return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

size_t vdb_rand_below(uint64_t *state, size_t n)
{
	return (size_t)(((vdb_splitmix64(state) >> 11) * (double)n) / 9007199254740992.0);
}
