// scripts/bench_hnswlib.cpp — hnswlib (Debian's libhnswlib-dev headers) as a peer for
// scripts/bench hnsw. Not part of vdb: bench_hnsw.py compiles it at run time with
//   g++ -O3 -march=native -fopenmp -o bench_hnswlib bench_hnswlib.cpp
// so that hnswlib runs at its best (native SIMD), and runs it in three modes:
//
//   build  METRIC M EFC THREADS BASE.fvecs INDEX
//       builds HierarchicalNSW<float>(space, n, M, EFC, seed 100) on THREADS threads (point 0
//       first, then an OpenMP loop over addPoint), saves it, prints "build_seconds S" (the
//       addPoint calls only) and "index_bytes B".
//   search METRIC INDEX QUERIES.fvecs REPEAT THREADS[,THREADS...] EF[,EF...] [IDS_PREFIX]
//       loads the index; for each EF and each thread count, searches the queries (in memory,
//       the set repeated REPEAT times) with k = 10 and prints "ef E threads T seconds S"
//       (the search loop only). With IDS_PREFIX, writes the top-10 ids of each EF to
//       IDS_PREFIX.E as ivecs (one row of 10 per query, -1 where fewer were found).
//   first  METRIC INDEX QUERY.fvecs EF
//       loads the index and answers the first query (time to first result, measured by the
//       caller from spawn to exit); prints the ids.
//   delete METRIC INDEX LABELS.ivecs OUT
//       loads the index, markDelete()s each label (one per ivecs row), saves it to OUT; prints
//       "load_seconds S", "delete_seconds S" (the markDelete calls only), "save_seconds S"
//       (scripts/bench update: hnswlib's deletion is this in-memory mark, searched around).
//
// METRIC is l2 (hnswlib::L2Space, squared distances) or cosine (base and queries normalised,
// hnswlib::InnerProductSpace).
#include <hnswlib/hnswlib.h>
#include <omp.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace {

const size_t K = 10;

[[noreturn]] void die(const std::string &msg) {
	std::fprintf(stderr, "bench_hnswlib: %s\n", msg.c_str());
	std::exit(1);
}

struct Vecs {
	size_t n = 0, d = 0;
	std::vector<float> x;
	const float *row(size_t i) const { return x.data() + i * d; }
};

// fvecs: per record an int32 dimension, then that many float32 (little-endian, as the host)
Vecs read_fvecs(const std::string &path, size_t limit = SIZE_MAX) {
	FILE *f = std::fopen(path.c_str(), "rb");
	if (!f)
		die("cannot open " + path);
	int32_t d32;
	if (std::fread(&d32, 4, 1, f) != 1 || d32 <= 0)
		die(path + ": not fvecs");
	std::fseek(f, 0, SEEK_END);
	long bytes = std::ftell(f);
	std::fseek(f, 0, SEEK_SET);
	Vecs v;
	v.d = (size_t)d32;
	size_t rec = 4 + 4 * v.d;
	if (bytes <= 0 || (size_t)bytes % rec)
		die(path + ": size is not a whole number of records");
	v.n = std::min((size_t)bytes / rec, limit);
	v.x.resize(v.n * v.d);
	for (size_t i = 0; i < v.n; i++) {
		if (std::fread(&d32, 4, 1, f) != 1 || (size_t)d32 != v.d ||
		    std::fread(v.x.data() + i * v.d, 4, v.d, f) != v.d)
			die(path + ": bad record " + std::to_string(i));
	}
	std::fclose(f);
	return v;
}

void normalise(Vecs &v) {
	for (size_t i = 0; i < v.n; i++) {
		float *r = v.x.data() + i * v.d;
		double s = 0;
		for (size_t j = 0; j < v.d; j++)
			s += (double)r[j] * r[j];
		if (s > 0) {
			float inv = (float)(1 / std::sqrt(s));
			for (size_t j = 0; j < v.d; j++)
				r[j] *= inv;
		}
	}
}

std::unique_ptr<hnswlib::SpaceInterface<float>> make_space(const std::string &metric, size_t d) {
	if (metric == "l2")
		return std::unique_ptr<hnswlib::SpaceInterface<float>>(new hnswlib::L2Space(d));
	if (metric == "cosine")
		return std::unique_ptr<hnswlib::SpaceInterface<float>>(new hnswlib::InnerProductSpace(d));
	die("metric must be l2 or cosine, not " + metric);
}

std::vector<size_t> parse_list(const std::string &s) {
	std::vector<size_t> out;
	size_t pos = 0;
	while (pos <= s.size()) {
		size_t comma = s.find(',', pos);
		if (comma == std::string::npos)
			comma = s.size();
		std::string item = s.substr(pos, comma - pos);
		char *end;
		unsigned long v = std::strtoul(item.c_str(), &end, 10);
		if (item.empty() || *end || v == 0)
			die("bad number in list: " + s);
		out.push_back(v);
		pos = comma + 1;
	}
	return out;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
	return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// the k best labels of one query, nearest first, -1 where fewer were found
void top_ids(const hnswlib::HierarchicalNSW<float> &index, const float *q, int32_t *out) {
	auto res = index.searchKnn(q, K);
	size_t m = res.size();
	for (size_t j = m; j < K; j++)
		out[j] = -1;
	for (size_t j = m; j-- > 0;) {  // the queue's top is the farthest
		out[j] = (int32_t)res.top().second;
		res.pop();
	}
}

int cmd_build(char **argv) {
	std::string metric = argv[0];
	size_t M = parse_list(argv[1]).at(0), efc = parse_list(argv[2]).at(0);
	int threads = (int)parse_list(argv[3]).at(0);
	Vecs base = read_fvecs(argv[4]);
	if (metric == "cosine")
		normalise(base);
	auto space = make_space(metric, base.d);
	hnswlib::HierarchicalNSW<float> index(space.get(), base.n, M, efc, 100);

	auto t0 = std::chrono::steady_clock::now();
	index.addPoint(base.row(0), 0);
	long n = (long)base.n;
#pragma omp parallel for schedule(dynamic, 64) num_threads(threads)
	for (long i = 1; i < n; i++)
		index.addPoint(base.row((size_t)i), (size_t)i);
	double build_s = seconds_since(t0);

	index.saveIndex(argv[5]);
	FILE *f = std::fopen(argv[5], "rb");
	if (!f)
		die(std::string("cannot reopen ") + argv[5]);
	std::fseek(f, 0, SEEK_END);
	long bytes = std::ftell(f);
	std::fclose(f);
	std::printf("build_seconds %.6f\nindex_bytes %ld\n", build_s, bytes);
	return 0;
}

int cmd_search(int argc, char **argv) {
	std::string metric = argv[0];
	Vecs q = read_fvecs(argv[2]);
	if (metric == "cosine")
		normalise(q);
	size_t repeat = parse_list(argv[3]).at(0);
	std::vector<size_t> threads = parse_list(argv[4]), efs = parse_list(argv[5]);
	std::string prefix = argc > 6 ? argv[6] : "";
	auto space = make_space(metric, q.d);
	hnswlib::HierarchicalNSW<float> index(space.get(), argv[1]);

	long total = (long)(q.n * repeat);
	std::vector<int32_t> ids(q.n * K);
	for (size_t ef : efs) {
		index.setEf(ef);
		for (size_t t : threads) {
			auto t0 = std::chrono::steady_clock::now();
			if (t == 1) {
				for (long i = 0; i < total; i++) {
					int32_t one[K];
					top_ids(index, q.row((size_t)i % q.n), one);
					if (i < (long)q.n)
						std::memcpy(ids.data() + (size_t)i * K, one, sizeof one);
				}
			} else {
#pragma omp parallel for schedule(dynamic, 16) num_threads((int)t)
				for (long i = 0; i < total; i++) {
					int32_t one[K];
					top_ids(index, q.row((size_t)i % q.n), one);
					if (i < (long)q.n)
						std::memcpy(ids.data() + (size_t)i * K, one, sizeof one);
				}
			}
			std::printf("ef %zu threads %zu seconds %.6f\n", ef, t, seconds_since(t0));
			std::fflush(stdout);
		}
		if (!prefix.empty()) {
			std::string path = prefix + "." + std::to_string(ef);
			FILE *f = std::fopen(path.c_str(), "wb");
			if (!f)
				die("cannot create " + path);
			int32_t k32 = (int32_t)K;
			for (size_t r = 0; r < q.n; r++)
				if (std::fwrite(&k32, 4, 1, f) != 1 || std::fwrite(ids.data() + r * K, 4, K, f) != K)
					die("write error on " + path);
			if (std::fclose(f))
				die("write error on " + path);
		}
	}
	return 0;
}

int cmd_first(char **argv) {
	std::string metric = argv[0];
	Vecs q = read_fvecs(argv[2], 1);
	if (metric == "cosine")
		normalise(q);
	auto space = make_space(metric, q.d);
	hnswlib::HierarchicalNSW<float> index(space.get(), argv[1]);
	index.setEf(parse_list(argv[3]).at(0));
	int32_t ids[K];
	top_ids(index, q.row(0), ids);
	for (size_t j = 0; j < K; j++)
		std::printf("%s%d", j ? " " : "", ids[j]);
	std::printf("\n");
	return 0;
}

int cmd_delete(char **argv) {
	auto t0 = std::chrono::steady_clock::now();
	FILE *f = std::fopen(argv[2], "rb");
	if (!f)
		die(std::string("cannot open ") + argv[2]);
	std::vector<size_t> labels;
	int32_t rec[2];
	while (std::fread(rec, 4, 2, f) == 2) {
		if (rec[0] != 1)
			die(std::string(argv[2]) + ": rows of one label expected");
		labels.push_back((size_t)rec[1]);
	}
	std::fclose(f);
	// the space needs the dimension, which the caller gives as METRIC:DIM
	std::string m = argv[0];
	size_t colon = m.find(':');
	if (colon == std::string::npos)
		die("delete: METRIC must be l2:DIM or cosine:DIM");
	size_t dim = parse_list(m.substr(colon + 1)).at(0);
	auto space = make_space(m.substr(0, colon), dim);
	hnswlib::HierarchicalNSW<float> index(space.get(), argv[1]);
	double load_s = seconds_since(t0);
	t0 = std::chrono::steady_clock::now();
	for (size_t l : labels)
		index.markDelete(l);
	double del_s = seconds_since(t0);
	t0 = std::chrono::steady_clock::now();
	index.saveIndex(argv[3]);
	std::printf("load_seconds %.6f\ndelete_seconds %.6f\nsave_seconds %.6f\n", load_s, del_s,
	            seconds_since(t0));
	return 0;
}

}  // namespace

int main(int argc, char **argv) {
	std::string mode = argc > 1 ? argv[1] : "";
	try {
		if (mode == "build" && argc == 8)
			return cmd_build(argv + 2);
		if (mode == "search" && (argc == 8 || argc == 9))
			return cmd_search(argc - 2, argv + 2);
		if (mode == "first" && argc == 6)
			return cmd_first(argv + 2);
		if (mode == "delete" && argc == 6)
			return cmd_delete(argv + 2);
	} catch (const std::exception &e) {
		die(e.what());
	}
	std::fprintf(stderr,
	             "usage: bench_hnswlib build METRIC M EFC THREADS BASE.fvecs INDEX\n"
	             "       bench_hnswlib search METRIC INDEX QUERIES.fvecs REPEAT THREADS,.. EF,.. [IDS_PREFIX]\n"
	             "       bench_hnswlib first METRIC INDEX QUERY.fvecs EF\n"
	             "       bench_hnswlib delete METRIC:DIM INDEX LABELS.ivecs OUT\n");
	return 2;
}
