/* random.h — the one pseudo-random generator of the library: splitmix64
 * (Steele, Lea and Flood 2014) on a caller-owned 64-bit state, so that a
 * seed gives one result and no state is shared between threads or calls.
 * (internal) */
#ifndef VDB_RANDOM_H
#define VDB_RANDOM_H
#include <stddef.h>
#include <stdint.h>

/* The seed of every build and training that names none (vdb-build and
 * vdb-quantize train --seed): a seed gives one result. */
#define VDB_DEFAULT_SEED 42u

/* The increment of the state (2^64 / golden ratio) and splitmix64's output
 * mix, exposed so that counter-based draws (the i-th draw of a seed:
 * vdb_splitmix64_at) are the same numbers as a sequence's. */
#define VDB_SPLITMIX_GAMMA 0x9e3779b97f4a7c15ull
static inline uint64_t vdb_splitmix64_mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* The next draw of the sequence at *state (which advances). */
uint64_t vdb_splitmix64(uint64_t *state);
/* Draw i (0-based) of the sequence of seed, without a state to share:
 * the value vdb_splitmix64 returns on its (i+1)-th call from seed. */
static inline uint64_t vdb_splitmix64_at(uint64_t seed, uint64_t i)
{
	return vdb_splitmix64_mix(seed + VDB_SPLITMIX_GAMMA * (i + 1));
}
/* A standard normal draw (Box-Muller) from the generator's state (lsh's
 * hyperplanes, the recall curve's noisy queries). */
double vdb_gaussian(uint64_t *state);
/* Uniform in [0, n) without modulo bias worth mentioning (n < 2^40). */
size_t vdb_rand_below(uint64_t *state, size_t n);
#endif
