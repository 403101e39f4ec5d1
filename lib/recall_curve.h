/* recall_curve.h — an index's own recall–setting curve, measured at build
 * and kept in the RCRV section (recall_curve.c). (internal) */
#ifndef VDB_RECALL_CURVE_H
#define VDB_RECALL_CURVE_H
#include "index_internal.h"

#define VDB_SEC_RCRV VDB_FOURCC('R', 'C', 'R', 'V')

/* The curve an index holds (ix->curve; NULL: none). */
typedef struct vdb_rcurve {
	uint32_t knob;    /* the type's knob's curve_id: what the settings are */
	uint32_t k;       /* recall@k measured (VDB_RECALL_K, or fewer live rows) */
	uint32_t queries; /* sample queries */
	double noise;     /* their noise: a fraction of the mean nearest-neighbour distance */
	size_t n;
	vdb_recall_point pt[VDB_RECALL_MAX_POINTS];
} vdb_rcurve;

/* Sample queries and their exact answers, drawn before a build consumes
 * its vectors. */
typedef struct vdb_rcurve_prep {
	size_t nq, k;
	float *q;        /* nq x dim */
	int32_t *truth;  /* nq x k exact answers (rows fit: VDB_MAX_COUNT) */
} vdb_rcurve_prep;

/* Draw the sample of ix (count, dim, metric and type set) from rows
 * (count x dim floats: the build's vectors, cosine ones normalised) or,
 * rows NULL, from the live rows the built index stores (ops->rows). *out
 * NULL when the type has no setting to measure (flat) or the metric is
 * hamming. seed: the build's. */
vdb_status vdb_rcurve_prepare(vdb_rcurve_prep **out, const vdb_index *ix, const float *rows);
/* Measure the built ix at its ladder of settings against p: ix->curve
 * replaced. */
vdb_status vdb_rcurve_measure(vdb_index *ix, const vdb_rcurve_prep *p);
void vdb_rcurve_prep_free(vdb_rcurve_prep *p);

/* The RCRV section of ix->file, if any, checked (checksum, layout, sorted
 * settings, recalls in [0, 1]) into ix->curve: VDB_ECORRUPT naming the file
 * otherwise. */
vdb_status vdb_rcurve_open(vdb_index *ix);
/* Write ix->curve as the RCRV section (nothing when NULL). */
vdb_status vdb_rcurve_save(const vdb_index *ix, vdb_file_writer *w);
/* "recall_curve" for --info: the points, or null. */
void vdb_rcurve_info(const vdb_index *ix, json_t *obj);
#endif
