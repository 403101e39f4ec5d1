/* test_quant.c — the quantizers: fp16 conversion (every half, rounding to
 * nearest even, special values), sq8 error bounds, binary sign codes and
 * hamming distances, pq determinism and error, encode/decode consistency,
 * quantizer files (round trip, damage, crafted bad headers), evaluation
 * statistics and code files. */
#include "tap.h"
#include "kmeans.h"
#include "random.h"
#include "quantize.h"
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];

static uint64_t rng = 12345;
static double urand(void) /* [0, 1) */
{
	return (double)(vdb_splitmix64(&rng) >> 11) / 9007199254740992.0;
}

static int is_nan_half(uint16_t h)
{
	return (h & 0x7c00) == 0x7c00 && (h & 0x3ff);
}

/* the value of a half from its fields, in double (independent of the code) */
static double half_value(uint16_t h)
{
	int s = h >> 15, e = (h >> 10) & 0x1f, m = h & 0x3ff;
	double v = e ? ldexp(1.0 + m / 1024.0, e - 15) : ldexp(m, -24);
	return s ? -v : v;
}

static void fp16_conversions(void)
{
	/* every half: decoding matches its fields, and encoding gives it back */
	int bad_dec = -1, bad_rt = -1;
	for (uint32_t h = 0; h < 65536; h++) {
		float f = vdb_f16_to_f32((uint16_t)h);
		if (is_nan_half((uint16_t)h)) {
			if (!isnan(f) || !is_nan_half(vdb_f32_to_f16(f)))
				bad_rt = (int)h;
			continue;
		}
		int e = (h >> 10) & 0x1f;
		if (e == 0x1f) {
			if (!isinf(f) || (f < 0) != (h >> 15))
				bad_dec = (int)h;
		} else if ((double)f != half_value((uint16_t)h) || (signbit(f) != 0) != (int)(h >> 15))
			bad_dec = (int)h;
		if (vdb_f32_to_f16(f) != h)
			bad_rt = (int)h;
	}
	ok(bad_dec < 0, "fp16: every half decodes to its exact value (first bad 0x%04x)",
	   (unsigned)bad_dec);
	ok(bad_rt < 0, "fp16: every representable value encodes exactly (first bad 0x%04x)",
	   (unsigned)bad_rt);

	/* random floats from the subnormal range to the largest half: the
	 * result is the nearest half (ties to the even one), so relative error
	 * is at most 2^-11 for normal values */
	int not_nearest = 0, too_far = 0;
	double worst = 0;
	for (int i = 0; i < 1000000; i++) {
		double mag = ldexp(1.0, -26 + (int)(urand() * 42)) * (1 + urand());
		float x = (float)(urand() < 0.5 ? -mag : mag);
		if (fabsf(x) >= 65504.0f)
			continue;
		uint16_t h = vdb_f32_to_f16(x);
		double got = half_value(h), err = fabs(got - x);
		uint16_t nb[2] = { (uint16_t)(h - 1), (uint16_t)(h + 1) };
		for (int j = 0; j < 2; j++) {
			if ((nb[j] & 0x7fff) >= 0x7c00 || (nb[j] ^ h) & 0x8000)
				continue; /* no neighbour on that side within the same sign */
			double e2 = fabs(half_value(nb[j]) - x);
			if (e2 < err || (e2 == err && (h & 1)))
				not_nearest++;
		}
		if (fabsf(x) >= 0x1p-14f) {
			double rel = err / fabs(x);
			worst = rel > worst ? rel : worst;
			if (rel > 0x1p-11)
				too_far++;
		} else if (err > 0x1p-25)
			too_far++;
	}
	ok(!not_nearest, "fp16: 1e6 random values round to the nearest half, ties to even "
	   "(%d not)", not_nearest);
	ok(!too_far, "fp16: relative error <= 2^-11 for normal values, <= 2^-25 absolute below "
	   "(worst relative %.3g)", worst);

	struct { float x; uint16_t h; const char *what; } sp[] = {
		{ 0.0f, 0x0000, "+0" }, { -0.0f, 0x8000, "-0" },
		{ INFINITY, 0x7c00, "+inf" }, { -INFINITY, 0xfc00, "-inf" },
		{ 65504.0f, 0x7bff, "largest half" }, { 65519.0f, 0x7bff, "65519 rounds down" },
		{ 65520.0f, 0x7c00, "65520 overflows" }, { -1e9f, 0xfc00, "-1e9 overflows" },
		{ 0x1p-24f, 0x0001, "smallest subnormal" }, { 0x1p-25f, 0x0000, "2^-25 ties to 0" },
		{ 0x1.8p-25f, 0x0001, "0.75 units rounds up" },
		{ 0x1.8p-24f, 0x0002, "1.5 units ties to 2" },
		{ 0x1p-14f - 0x1p-25f, 0x0400, "tie at the subnormal/normal border" },
		{ 1.0f + 0x1p-11f, 0x3c00, "1 + 2^-11 ties down to even" },
		{ 1.0f + 0x1.8p-10f, 0x3c02, "1 + 1.5 ulp ties up to even" },
		{ 1.0f + 0x1p-11f + 0x1p-20f, 0x3c01, "just above a tie rounds up" },
		{ 1e-10f, 0x0000, "1e-10 underflows" }, { -3.0f, 0xc200, "-3" },
	};
	int bad = 0;
	for (size_t i = 0; i < sizeof sp / sizeof sp[0]; i++) {
		uint16_t h = vdb_f32_to_f16(sp[i].x);
		if (h != sp[i].h) {
			diag("%s: got 0x%04x want 0x%04x", sp[i].what, h, sp[i].h);
			bad++;
		}
	}
	ok(!bad, "fp16: special values (zeros, infinities, overflow, subnormals, ties)");
	ok(is_nan_half(vdb_f32_to_f16(NAN)) && is_nan_half(vdb_f32_to_f16(-NAN)) &&
	   (vdb_f32_to_f16(-NAN) & 0x8000), "fp16: NaN stays NaN with its sign");
}

/* n x d random rows; dimension j spans [off_j, off_j + width_j) */
static float *random_rows(size_t n, uint32_t d, double spread)
{
	float *x = malloc(n * d * sizeof *x);
	for (uint32_t j = 0; j < d; j++) {
		double off = (urand() - 0.5) * spread, width = urand() * spread + 1e-3;
		for (size_t i = 0; i < n; i++)
			x[i * d + j] = (float)(off + urand() * width);
	}
	return x;
}

static void quant_fp16(void)
{
	vdb_quantizer *q;
	const uint32_t d = 24;
	const size_t n = 500;
	float *x = random_rows(n, d, 2000);
	ok(vdb_quantizer_train(&q, VDB_QUANT_FP16, d, x, n, NULL) == VDB_OK &&
	   vdb_quantizer_code_size(q) == 2 * d, "fp16 quantizer: trains, 2 bytes per value");
	uint8_t *c = malloc(n * 2 * d);
	float *y = malloc(n * d * sizeof *y);
	vdb_quantizer_encode(q, x, n, c);
	vdb_quantizer_decode(q, c, n, y);
	double worst = 0;
	for (size_t i = 0; i < n * d; i++) {
		double rel = fabs((double)y[i] - x[i]) / fmax(fabs(x[i]), 0x1p-14);
		worst = rel > worst ? rel : worst;
	}
	ok(worst <= 0x1p-11, "fp16: encode then decode within half precision (worst %.3g)", worst);
	/* decoded values are halves: a second round trip is exact */
	uint8_t *c2 = malloc(n * 2 * d);
	vdb_quantizer_encode(q, y, n, c2);
	ok(!memcmp(c, c2, n * 2 * d), "fp16: re-encoding decoded vectors gives the same codes");
	x[7 * d + 3] = 70000.0f;
	vdb_status s = vdb_quantizer_encode(q, x, n, c);
	ok(s == VDB_EFORMAT && strstr(vdb_last_error(), "vector 7, dimension 3"),
	   "fp16: a value beyond the half range is an error naming vector and dimension (%s)",
	   vdb_last_error());
	vdb_quantizer *q2;
	ok(vdb_quantizer_train(&q2, VDB_QUANT_FP16, d, x, n, NULL) == VDB_EFORMAT,
	   "fp16: training data beyond the half range is refused");
	vdb_quantizer_free(q);
	free(x), free(c), free(c2), free(y);
}

static void quant_sq8(void)
{
	const uint32_t d = 37;
	const size_t n = 3000;
	float *x = random_rows(n, d, 100);
	for (size_t i = 0; i < n; i++)
		x[i * d + 5] = 3.25f; /* a constant dimension */
	vdb_quantizer *q;
	ok(vdb_quantizer_train(&q, VDB_QUANT_SQ8, d, x, n, NULL) == VDB_OK &&
	   vdb_quantizer_code_size(q) == d, "sq8: trains, one byte per value");
	float lo[37], hi[37];
	for (uint32_t j = 0; j < d; j++) {
		lo[j] = hi[j] = x[j];
		for (size_t i = 0; i < n; i++) {
			lo[j] = fminf(lo[j], x[i * d + j]);
			hi[j] = fmaxf(hi[j], x[i * d + j]);
		}
	}
	uint8_t *c = malloc(n * d);
	float *y = malloc(n * d * sizeof *y);
	vdb_quantizer_encode(q, x, n, c);
	vdb_quantizer_decode(q, c, n, y);
	int over = 0, used0 = 0, used255 = 0;
	double worst = 0;
	for (size_t i = 0; i < n; i++)
		for (uint32_t j = 0; j < d; j++) {
			double r = (double)hi[j] - lo[j], err = fabs((double)y[i * d + j] - x[i * d + j]);
			double bound = r / 510 * (1 + 1e-5) + 1e-6 * (fabs(lo[j]) + fabs(hi[j]));
			if (err > bound)
				over++;
			if (r > 0)
				worst = fmax(worst, err / r);
			used0 += c[i * d + j] == 0;
			used255 += c[i * d + j] == 255;
		}
	ok(!over, "sq8: error <= range/510 in every dimension (worst %.5f of the range; "
	   "1/510 = %.5f)", worst, 1.0 / 510);
	ok(used0 && used255, "sq8: the training minimum and maximum use levels 0 and 255");
	int exact = 1;
	for (size_t i = 0; i < n; i++)
		exact &= y[i * d + 5] == 3.25f;
	ok(exact, "sq8: a constant dimension decodes exactly");
	/* out of range values clamp to the ends */
	float out[37];
	for (uint32_t j = 0; j < d; j++)
		out[j] = j % 2 ? hi[j] + 50 : lo[j] - 50;
	uint8_t oc[37];
	float oy[37];
	vdb_quantizer_encode(q, out, 1, oc);
	vdb_quantizer_decode(q, oc, 1, oy);
	int clamped = 1;
	for (uint32_t j = 0; j < d; j++)
		if (j != 5)
			clamped &= oc[j] == (j % 2 ? 255 : 0) && fabsf(oy[j] - (j % 2 ? hi[j] : lo[j])) <=
			           1e-5f * (fabsf(lo[j]) + fabsf(hi[j]) + 1);
	ok(clamped, "sq8: values outside the training range clamp to its ends");
	/* decode(encode(decode(c))) == c */
	uint8_t *c2 = malloc(n * d);
	vdb_quantizer_encode(q, y, n, c2);
	ok(!memcmp(c, c2, n * d), "sq8: decoded vectors encode to the same codes");
	vdb_quantizer_free(q);
	float huge[2] = { -3e38f, 3e38f };
	ok(vdb_quantizer_train(&q, VDB_QUANT_SQ8, 1, huge, 2, NULL) == VDB_EFORMAT,
	   "sq8: a range beyond float32 is refused (%s)", vdb_last_error());
	free(x), free(c), free(c2), free(y);
}

static void quant_binary(void)
{
	const vdb_kernels *K = vdb_kernels_get();
	uint32_t dims[] = { 1, 13, 64, 128, 1001 };
	for (size_t t = 0; t < sizeof dims / sizeof dims[0]; t++) {
		uint32_t d = dims[t];
		float *a = malloc(3 * d * sizeof *a), *y = malloc(d * sizeof *y);
		for (uint32_t j = 0; j < d; j++) {
			float v = (float)(urand() - 0.5);
			if (v == 0)
				v = 0.25f;
			a[j] = v;
			a[d + j] = v * (float)(0.01 + 100 * urand()); /* same signs */
			a[2 * d + j] = -v;                          /* opposite signs */
		}
		vdb_quantizer *q;
		vdb_quantizer_train(&q, VDB_QUANT_BINARY, d, a, 3, NULL);
		size_t cs = vdb_quantizer_code_size(q);
		uint8_t *c = malloc(3 * cs);
		vdb_quantizer_encode(q, a, 3, c);
		uint32_t same = K->hamming(c, c + cs, cs), opp = K->hamming(c, c + 2 * cs, cs);
		vdb_quantizer_decode(q, c, 1, y);
		int signs = 1;
		for (uint32_t j = 0; j < d; j++)
			signs &= y[j] == (a[j] > 0 ? 1.0f : -1.0f);
		ok(cs == (d + 7) / 8 && same == 0 && opp == d && signs,
		   "binary d=%u: %zu bytes; sign-identical vectors at hamming 0 (%u), opposite at d "
		   "(%u); decodes to +-1", d, cs, same, opp);
		free(a), free(y), free(c);
		vdb_quantizer_free(q);
	}
	/* bit order: LSB first, zero is not positive */
	float v[10] = { 1, -1, 0, 2, -3, -4, -5, 6, 7, -0.0f };
	vdb_quantizer *q;
	vdb_quantizer_train(&q, VDB_QUANT_BINARY, 10, v, 1, NULL);
	uint8_t c[2];
	vdb_quantizer_encode(q, v, 1, c);
	ok(c[0] == 0x89 && c[1] == 0x01, "binary: bit i is x[i] > 0, LSB first (0x%02x 0x%02x)",
	   c[0], c[1]);
	vdb_quantizer_free(q);
}

static void quant_pq(void)
{
	/* k-means: the same seed gives the same centroids on 1 and 2 threads
	 * (enough work for the parallel paths of knn.c and the update) */
	const uint32_t d = 32;
	const size_t n = 40000, k = 256;
	float *x = random_rows(n, d, 10);
	float *c1 = malloc(k * d * sizeof *c1), *c2 = malloc(k * d * sizeof *c2);
	float *c3 = malloc(k * d * sizeof *c3);
	int threads = vdb_threads();
	vdb_set_threads(1);
	vdb_status s1 = vdb_kmeans(x, n, d, k, 8, 7, "test", c1);
	vdb_set_threads(2);
	vdb_status s2 = vdb_kmeans(x, n, d, k, 8, 7, "test", c2);
	vdb_status s3 = vdb_kmeans(x, n, d, k, 8, 8, "test", c3);
	ok(!s1 && !s2 && !memcmp(c1, c2, k * d * sizeof *c1),
	   "k-means: seed 7 gives identical centroids on 1 and 2 threads");
	ok(!s3 && memcmp(c1, c3, k * d * sizeof *c1), "k-means: another seed gives others");

	/* pq on 20000 x 32, m 8: error well below that of the mean alone */
	const size_t np = 20000;
	vdb_quant_params p;
	vdb_quant_params_init(&p);
	p.pq_m = 8;
	vdb_quantizer *q1, *q2;
	vdb_set_threads(1);
	vdb_status t1 = vdb_quantizer_train(&q1, VDB_QUANT_PQ, d, x, np, &p);
	vdb_set_threads(2);
	vdb_status t2 = vdb_quantizer_train(&q2, VDB_QUANT_PQ, d, x, np, &p);
	vdb_set_threads(threads);
	if (!ok(!t1 && !t2 && vdb_quantizer_code_size(q1) == 8, "pq: trains, m bytes per code")) {
		diag("%s", vdb_last_error());
		return;
	}
	uint8_t *a = malloc(np * 8), *b = malloc(np * 8);
	float *y = malloc(np * d * sizeof *y);
	vdb_quantizer_encode(q1, x, np, a);
	vdb_quantizer_encode(q2, x, np, b);
	ok(!memcmp(a, b, np * 8), "pq: training and encoding on 1 and 2 threads give the same codes");
	vdb_quantizer_decode(q1, a, np, y);
	double mean[32] = { 0 }, var = 0, mse = 0;
	for (size_t i = 0; i < np; i++)
		for (uint32_t j = 0; j < d; j++)
			mean[j] += x[i * d + j] / (double)np;
	for (size_t i = 0; i < np; i++)
		for (uint32_t j = 0; j < d; j++) {
			double t = x[i * d + j] - mean[j], e = (double)x[i * d + j] - y[i * d + j];
			var += t * t / (double)np;
			mse += e * e / (double)np;
		}
	ok(mse < 0.2 * var, "pq: reconstruction error %.4g is well below the mean's %.4g (%.3f)",
	   mse, var, mse / var);
	uint8_t *a2 = malloc(np * 8);
	vdb_quantizer_encode(q1, y, np, a2);
	ok(!memcmp(a, a2, np * 8), "pq: decoded vectors (centroids) encode to the same codes");

	vdb_quantizer *bad;
	p.pq_m = 5;
	ok(vdb_quantizer_train(&bad, VDB_QUANT_PQ, d, x, np, &p) == VDB_EINVAL &&
	   strstr(vdb_last_error(), "divide"), "pq: pq-m not dividing the dimension is EINVAL (%s)",
	   vdb_last_error());
	p.pq_m = 8;
	ok(vdb_quantizer_train(&bad, VDB_QUANT_PQ, d, x, 100, &p) == VDB_EFORMAT,
	   "pq: fewer than 256 training vectors is EFORMAT");
	p.pq_m = 0;
	ok(vdb_quantizer_train(&bad, VDB_QUANT_PQ, 100, x, 1000, &p) == VDB_OK &&
	   vdb_quantizer_code_size(bad) == 10,
	   "pq: default m for d=100 is 10 (largest divisor <= d/8)");
	vdb_quantizer_free(bad);
	vdb_quantizer_free(q1), vdb_quantizer_free(q2);
	free(x), free(c1), free(c2), free(c3), free(a), free(b), free(a2), free(y);
}

static void patch(const char *p, off_t off, unsigned char v)
{
	int fd = open(p, O_RDWR);
	unsigned char c;
	if (pread(fd, &c, 1, off) == 1) {
		c ^= v;
		if (pwrite(fd, &c, 1, off) != 1)
			diag("patch failed");
	}
	close(fd);
}

/* a quantizer file written through the container with chosen contents */
static int craft(const char *p, uint32_t dim, uint64_t kind, uint64_t m, uint64_t cs,
                 uint32_t sec, const void *data, size_t len)
{
	vdb_file_writer *w;
	if (vdb_file_create(&w, p))
		return 0;
	if (len && vdb_file_write_section(w, sec, data, len)) {
		vdb_file_abort(w);
		return 0;
	}
	vdb_header h;
	memset(&h, 0, sizeof h);
	h.type = VDB_QUANT_FOURCC;
	h.dim = dim;
	h.storage = kind == 1 ? VDB_STORAGE_SQ8 : kind == 3 ? VDB_STORAGE_PQ : VDB_STORAGE_F16;
	h.params[0] = kind, h.params[1] = m, h.params[3] = cs;
	return vdb_file_commit(w, &h) == VDB_OK;
}

static void files(void)
{
	char path[128];
	const uint32_t d = 16;
	const size_t n = 1000;
	float *x = random_rows(n, d, 10);
	uint8_t *a = malloc(n * 2 * d), *b = malloc(n * 2 * d);
	for (int kind = VDB_QUANT_SQ8; kind <= VDB_QUANT_BINARY; kind++) {
		snprintf(path, sizeof path, "%s/%s.vdbq", dir, vdb_quant_kind_name(kind));
		vdb_quantizer *q, *r = NULL;
		vdb_quant_params p;
		vdb_quant_params_init(&p);
		p.pq_m = 4;
		vdb_status s = vdb_quantizer_train(&q, (vdb_quant_kind)kind, d, x, n, &p);
		if (!s)
			s = vdb_quantizer_save(q, path);
		if (!s)
			s = vdb_quantizer_open(&r, path);
		int same = 0;
		if (!s) {
			size_t cs = vdb_quantizer_code_size(q);
			vdb_quantizer_encode(q, x, n, a);
			vdb_quantizer_encode(r, x, n, b);
			same = cs == vdb_quantizer_code_size(r) && (int)vdb_quantizer_kind(r) == kind &&
			       vdb_quantizer_dim(r) == d && !memcmp(a, b, n * cs);
			char *j = vdb_quantizer_info_json(r);
			char want[64];
			snprintf(want, sizeof want, "\"kind\":\"%s\"", vdb_quant_kind_name(kind));
			same &= j && strstr(j, want) != NULL;
			free(j);
		}
		ok(!s && same, "%s: save, open: same kind, dimension and codes (%s)",
		   vdb_quant_kind_name(kind), s ? vdb_last_error() : "ok");
		vdb_quantizer_free(r);
		vdb_quantizer_free(q);
		if (kind == VDB_QUANT_SQ8 || kind == VDB_QUANT_PQ) {
			/* a flipped byte inside the first section: named, never trusted */
			patch(path, 4096 + 21, 0x40);
			s = vdb_quantizer_open(&r, path);
			const char *sec = kind == VDB_QUANT_SQ8 ? "SQ8R" : "PQCB";
			ok(s == VDB_ECORRUPT && strstr(vdb_last_error(), sec) &&
			   strstr(vdb_last_error(), path), "%s: a damaged section is ECORRUPT naming "
			   "file and section (%s)", vdb_quant_kind_name(kind), vdb_last_error());
		}
		patch(path, 16, 0x01); /* the dimension, under the header checksum */
		ok(vdb_quantizer_open(&r, path) == VDB_ECORRUPT, "%s: a damaged header is ECORRUPT",
		   vdb_quant_kind_name(kind));
	}
	vdb_quantizer *r;
	snprintf(path, sizeof path, "%s/none.vdbq", dir);
	ok(vdb_quantizer_open(&r, path) == VDB_ENOENT, "a missing file is ENOENT");

	/* well-formed containers (checksums right) with wrong contents */
	float lohi[4] = { 0, 5, 1, 4 }; /* dim 2: lo {0, 5}, hi {1, 4}: 5 > 4 */
	snprintf(path, sizeof path, "%s/c.vdbq", dir);
	ok(craft(path, 2, 1, 0, 2, VDB_FOURCC('S', 'Q', '8', 'R'), lohi, sizeof lohi) &&
	   vdb_quantizer_open(&r, path) == VDB_ECORRUPT && strstr(vdb_last_error(), "min 5, max 4"),
	   "sq8 with min > max is ECORRUPT (%s)", vdb_last_error());
	ok(craft(path, 2, 1, 0, 2, VDB_FOURCC('S', 'Q', '8', 'R'), lohi, 12) &&
	   vdb_quantizer_open(&r, path) == VDB_ECORRUPT && strstr(vdb_last_error(), "bytes"),
	   "sq8 with a short section is ECORRUPT (%s)", vdb_last_error());
	lohi[1] = NAN;
	ok(craft(path, 2, 1, 0, 2, VDB_FOURCC('S', 'Q', '8', 'R'), lohi, sizeof lohi) &&
	   vdb_quantizer_open(&r, path) == VDB_ECORRUPT && strstr(vdb_last_error(), "finite"),
	   "sq8 with a NaN range is ECORRUPT (%s)", vdb_last_error());
	ok(craft(path, 2, 1, 0, 2, 0, NULL, 0) && vdb_quantizer_open(&r, path) == VDB_ECORRUPT &&
	   strstr(vdb_last_error(), "missing"), "sq8 without its section is ECORRUPT (%s)",
	   vdb_last_error());
	ok(craft(path, 8, 9, 0, 8, 0, NULL, 0) && vdb_quantizer_open(&r, path) == VDB_ECORRUPT &&
	   strstr(vdb_last_error(), "kind 9"), "an unknown kind is ECORRUPT (%s)", vdb_last_error());
	ok(craft(path, 8, 2, 0, 15, 0, NULL, 0) && vdb_quantizer_open(&r, path) == VDB_ECORRUPT &&
	   strstr(vdb_last_error(), "code size"), "a wrong code size is ECORRUPT (%s)",
	   vdb_last_error());
	ok(craft(path, 8, 3, 3, 3, 0, NULL, 0) && vdb_quantizer_open(&r, path) == VDB_ECORRUPT &&
	   strstr(vdb_last_error(), "divide"), "pq-m not dividing dim is ECORRUPT (%s)",
	   vdb_last_error());
	ok(craft(path, 8, 2, 0, 16, 0, NULL, 0) && vdb_quantizer_open(&r, path) == VDB_OK,
	   "a well-formed fp16 file opens");
	vdb_quantizer_free(r);
	free(x), free(a), free(b);
}

static void evaluation(void)
{
	const uint32_t d = 8;
	const size_t n = 3000, nq = 30;
	float *x = random_rows(n, d, 50);
	vdb_quantizer *q;
	/* integers are exact in fp16: no error, recall 1 */
	for (size_t i = 0; i < n * d; i++)
		x[i] = roundf(x[i]);
	vdb_quantizer_train(&q, VDB_QUANT_FP16, d, x, n, NULL);
	vdb_quant_eval *e;
	vdb_quant_stats st;
	vdb_status s = vdb_quant_eval_new(&e, q, VDB_METRIC_L2, 10, x + 100 * d, nq);
	for (size_t i = 0; !s && i < n; i += 1000)
		s = vdb_quant_eval_add(e, x + i * d, 1000);
	if (!s)
		s = vdb_quant_eval_result(e, &st);
	ok(!s && st.mse == 0 && st.max_abs == 0 && st.recall == 1.0 && st.n == n && st.nq == nq,
	   "eval fp16 on exact values: mse 0, recall 1 (%g, %g)", st.mse, st.recall);
	vdb_quant_eval_free(e);
	vdb_quantizer_free(q);

	/* sq8: the statistics match a direct computation */
	vdb_quantizer_train(&q, VDB_QUANT_SQ8, d, x, n, NULL);
	uint8_t *c = malloc(n * d);
	float *y = malloc(n * d * sizeof *y);
	vdb_quantizer_encode(q, x, n, c);
	vdb_quantizer_decode(q, c, n, y);
	double mean[8] = { 0 }, var = 0, mse = 0, mx = 0;
	for (size_t i = 0; i < n * d; i++)
		mean[i % d] += x[i] / (double)n;
	for (size_t i = 0; i < n * d; i++) {
		double t = x[i] - mean[i % d], err = (double)x[i] - y[i];
		var += t * t / (double)n;
		mse += err * err / (double)n;
		mx = fmax(mx, fabs(err));
	}
	s = vdb_quant_eval_new(&e, q, VDB_METRIC_COSINE, 5, x, nq);
	for (size_t i = 0; !s && i < n; i += 700)
		s = vdb_quant_eval_add(e, x + i * d, n - i < 700 ? n - i : 700);
	if (!s)
		s = vdb_quant_eval_result(e, &st);
	ok(!s && fabs(st.mse - mse) <= 1e-9 * mse && fabs(st.variance - var) <= 1e-9 * var &&
	   st.max_abs == mx && st.recall > 0.5 && st.recall <= 1,
	   "eval sq8: mse %g, variance %g, max %g as computed directly; recall %.3f",
	   st.mse, st.variance, st.max_abs, st.recall);
	vdb_quant_eval_free(e);
	vdb_quantizer_free(q);

	/* binary: queries that are base rows find themselves at hamming 0;
	 * with k = n every row is found, so recall is 1 */
	vdb_quantizer_train(&q, VDB_QUANT_BINARY, d, x, n, NULL);
	s = vdb_quant_eval_new(&e, q, VDB_METRIC_L2, 300, x, nq);
	if (!s)
		s = vdb_quant_eval_add(e, x, 300);
	if (!s)
		s = vdb_quant_eval_result(e, &st);
	ok(!s && st.recall == 1.0, "eval binary with k = n: recall 1 (%g)", st.recall);
	vdb_quant_eval_free(e);
	ok(vdb_quant_eval_new(&e, q, VDB_METRIC_HAMMING, 5, x, nq) == VDB_EUNSUPPORTED,
	   "eval with the hamming metric for exact search is EUNSUPPORTED");
	vdb_quantizer_free(q);
	free(x), free(c), free(y);
}

static void code_files(void)
{
	char path[128];
	snprintf(path, sizeof path, "%s/c.codes", dir);
	uint8_t codes[5 * 3], back[5 * 3];
	for (int i = 0; i < 15; i++)
		codes[i] = (uint8_t)(i * 17);
	FILE *f = fopen(path, "wb");
	vdb_status s = vdb_codes_write(f, codes, 5, 3);
	fclose(f);
	vdb_code_reader *r;
	size_t got = 0, got2 = 9;
	if (!s)
		s = vdb_codes_open(&r, path, 3);
	if (!s) {
		s = vdb_codes_read(r, back, 4, &got);
		if (!s)
			s = vdb_codes_read(r, back + 12, 4, &got2);
		size_t end = 9;
		if (!s)
			s = vdb_codes_read(r, back, 4, &end);
		ok(!s && got == 4 && got2 == 1 && end == 0 && vdb_codes_records(r) == 5,
		   "codes: 5 records read back in blocks of 4, then the end");
		vdb_codes_close(r);
	}
	ok(!memcmp(codes, back + 0, 12) && !memcmp(codes + 12, back + 12, 3),
	   "codes: the bytes round trip");
	vdb_codes_open(&r, path, 4);
	s = vdb_codes_read(r, back, 4, &got);
	ok(s == VDB_EFORMAT && strstr(vdb_last_error(), "record 0"),
	   "codes: records of another size are EFORMAT naming the record (%s)", vdb_last_error());
	vdb_codes_close(r);
	if (truncate(path, 4 * 7 - 1) == 0) {
		vdb_codes_open(&r, path, 3);
		s = vdb_codes_read(r, back, 5, &got);
		ok(s == VDB_EFORMAT && strstr(vdb_last_error(), "record 3") &&
		   strstr(vdb_last_error(), "truncated"), "codes: a truncated record is named (%s)",
		   vdb_last_error());
		vdb_codes_close(r);
	}
	if (truncate(path, 0) == 0) {
		vdb_codes_open(&r, path, 3);
		ok(vdb_codes_read(r, back, 5, &got) == VDB_EFORMAT, "codes: an empty input is EFORMAT");
		vdb_codes_close(r);
	}
	snprintf(path, sizeof path, "%s/nonexistent", dir);
	ok(vdb_codes_open(&r, path, 3) == VDB_ENOENT, "codes: a missing file is ENOENT");
}

int main(void)
{
	strcpy(dir, "/tmp/vdb-test-quant.XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	fp16_conversions();
	quant_fp16();
	quant_sq8();
	quant_binary();
	quant_pq();
	files();
	evaluation();
	code_files();
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		diag("could not remove %s", dir);
	return done_testing();
}
