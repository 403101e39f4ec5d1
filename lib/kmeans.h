/* kmeans.h — k-means and product quantization, shared by the IVF indexes
 * and vdb-quantize. (internal) */
#ifndef VDB_KMEANS_H
#define VDB_KMEANS_H
#include "vdb_internal.h"

/* Training rows per centroid beyond which k-means trains on a sample (as
 * FAISS does: more rows barely move the centroids, and cost time). */
#define VDB_KMEANS_MAX_PER_CENTROID 256
#define VDB_KMEANS_ITERS 20

/* Nearest of the k rows of c (l2) for each of the n rows of x, exact and
 * parallel (see knn.c); dist (optional) gets squared distances. */
vdb_status vdb_nearest(const float *c, size_t k, const float *x, size_t n, uint32_t d,
                       uint32_t *assign, float *dist);

/* k centroids (k x d, l2) of the n rows of x. Initial centroids are
 * distinct random rows; Lloyd iterations until no row changes cluster or
 * iters (0: VDB_KMEANS_ITERS); an empty cluster takes half of a big one.
 * The same seed gives the same centroids on any number of threads. what
 * names the training for messages ("nlist", "pq"). */
vdb_status vdb_kmeans(const float *x, size_t n, uint32_t d, size_t k, unsigned iters,
                      uint64_t seed, const char *what, float *centroids);

/* Product quantizer: d = m * dsub, 256 centroids (one byte) per subspace. */
typedef struct {
	uint32_t d, m, dsub;
	float *cb;          /* m x 256 x dsub; owned unless borrowed */
	int borrowed;
	float *cbt;         /* m x dsub x 256 (always owned): see vdb_pq_prepare */
	/* centroids trained per subspace: 16 (4-bit codes, in the first 16
	 * slots of each subspace's 256, the others zero) or 0 for 256 */
	uint32_t ksub;
} vdb_pq;
#define VDB_PQ_KSUB 256
#define VDB_PQ4_KSUB 16

vdb_status vdb_pq_train(vdb_pq *pq, const float *x, size_t n, uint32_t d, uint32_t m,
                        uint64_t seed);
/* The same with ksub centroids per subspace (16 or 256). */
vdb_status vdb_pq_train_k(vdb_pq *pq, const float *x, size_t n, uint32_t d, uint32_t m,
                          uint32_t ksub, uint64_t seed);
/* Codes: n x m bytes. */
vdb_status vdb_pq_encode(const vdb_pq *pq, const float *x, size_t n, uint8_t *codes);
void vdb_pq_decode(const vdb_pq *pq, const uint8_t *codes, size_t n, float *x);
/* Keep a transposed copy of the codebooks, so that the tables below are
 * built by loops over the 256 centroids that vectorise (without it they
 * cost one short kernel call per entry). VDB_ENOMEM on failure. */
vdb_status vdb_pq_prepare(vdb_pq *pq);
/* Distance tables, m x 256: squared l2 from each subvector of r, or the
 * dot product with each subvector of q. */
void vdb_pq_table_l2(const vdb_pq *pq, const float *r, float *table);
void vdb_pq_table_dot(const vdb_pq *pq, const float *q, float *table);
/* Sum of table entries chosen by one code. */
static inline float vdb_pq_adc(const float *table, const uint8_t *code, uint32_t m)
{
	float s0 = 0, s1 = 0;
	uint32_t j = 0;
	for (; j + 2 <= m; j += 2) {
		s0 += table[(size_t)j * VDB_PQ_KSUB + code[j]];
		s1 += table[(size_t)(j + 1) * VDB_PQ_KSUB + code[j + 1]];
	}
	if (j < m)
		s0 += table[(size_t)j * VDB_PQ_KSUB + code[j]];
	return s0 + s1;
}
void vdb_pq_free(vdb_pq *pq);

#endif
