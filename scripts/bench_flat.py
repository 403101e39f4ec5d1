"""Exact search and ground truth: vdb against FAISS IndexFlat, same data, same run.

vdb is timed as whole commands (process start to exit: reading the queries,
searching, writing results); FAISS as index.search() alone, data already in
memory. Best of --runs, the two sides alternating.

Then the sgemm bound, at k 10 and k 100: batched flat on one thread
(vdb-query's own search seconds, -v, wall; and the CPU seconds of its whole
process) against the CPU seconds OpenBLAS's sgemm alone takes for the same
shapes (all queries times all rows, in the fastest of a few tilings, one
thread, in this process): vdb's share of the bound; FAISS IndexFlatL2's
batch search on one thread (CPU) beside it. CPU time is what to compare on
a loaded machine.

And a lone query: one query per search call (-b 1), 1 thread and all, the
latency of vdb-query's search seconds.

--gt-n N: ground truth at scale, vdb-eval groundtruth -k 100 on 2 threads
against FAISS IndexFlat's batch search, N x 128 synthetic clustered rows and
1,000 queries (e.g. --gt-n 1000000: 512 MB of fvecs in the temporary
directory); --gt-only runs that line alone.
"""
import argparse, ctypes, os, platform, resource, subprocess, tempfile, time

p = argparse.ArgumentParser()
p.add_argument("--data", required=True)
p.add_argument("--runs", type=int, default=3)
p.add_argument("--quick", action="store_true", help="skip the 200k synthetic set")
p.add_argument("--blas-core", help="OpenBLAS kernel set for both sides (OPENBLAS_CORETYPE, e.g. "
               "SkylakeX): OpenBLAS 0.3.21 falls back to Prescott's SSE3 kernels on CPUs it does not know")
p.add_argument("--gt-n", type=int, help="add ground truth on N x 128 synthetic rows, 1,000 queries, 2 threads")
p.add_argument("--gt-only", action="store_true", help="only the --gt-n line")
a = p.parse_args()
if a.blas_core:  # read when OpenBLAS loads: before numpy, and inherited by vdb's commands
    os.environ["OPENBLAS_CORETYPE"] = a.blas_core
import numpy as np
import faiss
from bench_common import clustered, faiss_flat, read_vecs, search_seconds, write_fvecs

blas = ctypes.CDLL("libopenblas.so.0")  # the one numpy and FAISS loaded (LD_LIBRARY_PATH)
blas.openblas_get_corename.restype = ctypes.c_char_p
BIN = os.environ["VDB_BIN"]
tmp = tempfile.mkdtemp(prefix="vdb-bench-")


def run_vdb(cmd, out=None):
    t0 = time.perf_counter()
    with open(out or os.devnull, "wb") as f:
        subprocess.run(cmd, stdout=f, check=True)
    return time.perf_counter() - t0


def faiss_search(index, q, k, threads):
    faiss.omp_set_num_threads(threads)
    t0 = time.perf_counter()
    D, I = index.search(q, k)
    return time.perf_counter() - t0, I


def alternate(cmd, index, q, k, threads):
    """vdb's command (ivecs on stdout) and FAISS's search, alternating, best of --runs each:
    (vdb s, FAISS s, the fraction of FAISS's top-k ids vdb also returned)."""
    out = os.path.join(tmp, "r.ivecs")
    best_v = best_f = float("inf")
    for _ in range(a.runs):
        best_v = min(best_v, run_vdb(cmd, out))
        tf, I = faiss_search(index, q, k, threads)
        best_f = min(best_f, tf)
    mine = read_vecs(out, "<i4")
    return best_v, best_f, np.mean([len(set(mine[i]) & set(I[i])) / k for i in range(len(q))])


datasets = []
sift = os.path.join(a.data, "siftsmall")
wn = os.path.join(a.data, "wordnet-fasttext")
if os.path.isdir(sift) and not a.gt_only:
    datasets.append(("siftsmall 10k x 128, 100 q", "l2",
                     os.path.join(sift, "siftsmall_base.fvecs"), os.path.join(sift, "siftsmall_query.fvecs")))
if os.path.isdir(wn) and not a.gt_only:
    datasets.append(("wordnet 26.6k x 100, 1k q, cosine", "cosine",
                     os.path.join(wn, "wn100_base.fvecs"), os.path.join(wn, "wn100_query.fvecs")))
if not a.quick and not a.gt_only:
    b, q = os.path.join(tmp, "syn_base.fvecs"), os.path.join(tmp, "syn_query.fvecs")
    syn_base, syn_query = clustered((200_000, 1_000))
    write_fvecs(b, syn_base)
    write_fvecs(q, syn_query)
    del syn_base, syn_query
    datasets.append(("synthetic clustered 200k x 128, 1k q", "l2", b, q))

ver = subprocess.run([os.path.join(BIN, "vdb-query"), "--version"], capture_output=True, text=True).stdout.strip()
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
print(f"# vdb exact search vs FAISS IndexFlat ({faiss.__version__}, Debian build)")
print(f"{ver}; CPU {cpu}, {os.cpu_count()} cores; BLAS {os.environ.get('LD_LIBRARY_PATH', '').split(':')[0]}, "
      f"OpenBLAS kernels {blas.openblas_get_corename().decode()}")
print(f"vdb: whole command (read, search, write); FAISS: index.search only. Best of {a.runs}, alternating.\n")
print("| data | threads | measure | vdb | FAISS | vdb/FAISS speed | top-k ids agree |")
print("|---|---|---|---|---|---|---|")
threads_all = os.cpu_count() or 2
for name, metric, basef, qf in datasets:
    base, q = read_vecs(basef), read_vecs(qf)
    nq = len(q)
    if metric == "cosine":
        faiss.normalize_L2(q)
    index = faiss_flat(base, metric)
    idx = os.path.join(tmp, "b.vdb")
    t_build = run_vdb([os.path.join(BIN, "vdb-build"), "-m", metric, "-o", idx, basef])
    for threads in sorted({1, threads_all}):
        env_t = ["-t", str(threads)]
        for measure, k in (("search k=10", 10), ("groundtruth k=100", 100)):
            if measure.startswith("search"):
                cmd = [os.path.join(BIN, "vdb-query")] + env_t + ["-x", idx, "-k", "10", "-O", "ivecs", qf]
            else:
                cmd = [os.path.join(BIN, "vdb-eval"), "groundtruth"] + env_t + ["-m", metric, "-k", "100", basef, qf]
            best_v, best_f, agree = alternate(cmd, index, q, k, threads)
            print(f"| {name} | {threads} | {measure} | {nq / best_v:,.0f} q/s | {nq / best_f:,.0f} q/s "
                  f"| {best_f / best_v:.2f}x | {agree:.4f} |", flush=True)
    print(f"| {name} | {threads_all} | vdb-build (flat) | {t_build:.2f} s | | | |")


def gt_at_scale(n, threads=2, k=100):
    """vdb-eval groundtruth (whole command, reading the base file) against FAISS IndexFlat's
    search (base already in memory), n x 128 rows and 1,000 queries: best of --runs, the two
    alternating, wall seconds and CPU seconds (user + system: vdb's process, FAISS's search
    call), and whether the answers are the same."""
    b, q = os.path.join(tmp, "gt_base.fvecs"), os.path.join(tmp, "gt_query.fvecs")
    base, query = clustered((n, 1_000), seed=11)
    write_fvecs(b, base)
    write_fvecs(q, query)
    index = faiss_flat(base, "l2")
    cmd = [os.path.join(BIN, "vdb-eval"), "groundtruth", "-t", str(threads), "-k", str(k), b, q]
    out = os.path.join(tmp, "r.ivecs")
    wall_v = wall_f = cpu_v = cpu_f = float("inf")
    faiss.omp_set_num_threads(threads)
    for _ in range(a.runs):
        c0 = os.times()
        wall_v = min(wall_v, run_vdb(cmd, out))
        c1 = os.times()
        cpu_v = min(cpu_v, c1.children_user + c1.children_system - c0.children_user - c0.children_system)
        t0, p0 = time.perf_counter(), time.process_time()
        D, I = index.search(query, k)
        cpu_f = min(cpu_f, time.process_time() - p0)
        wall_f = min(wall_f, time.perf_counter() - t0)
    mine = read_vecs(out, "<i4")
    agree = np.mean([len(set(mine[i]) & set(I[i])) / k for i in range(len(query))])
    same = int(np.sum(np.all(mine == I, axis=1)))
    same_set = sum(set(mine[i]) == set(I[i]) for i in range(len(query)))
    # where the lists differ, rank by rank in float64: vdb's exact k-th best is never worse
    # than FAISS's (FAISS ranks by float distances, which misorder near-ties)
    no_worse = 0
    for i in np.nonzero(~np.all(mine == I, axis=1))[0]:
        qd = query[i].astype(np.float64)
        dv = np.sort(((base[mine[i]].astype(np.float64) - qd) ** 2).sum(1))
        df = np.sort(((base[I[i]].astype(np.float64) - qd) ** 2).sum(1))
        no_worse += bool(np.all(dv <= df))
    del base
    print(f"| synthetic clustered {n:,} x 128, 1k q | {threads} | groundtruth k={k} | {len(query) / wall_v:,.1f} q/s "
          f"| {len(query) / wall_f:,.1f} q/s | {wall_f / wall_v:.2f}x | {agree:.4f} |", flush=True)
    print(f"\nground truth {n:,} x 128, {len(query):,} queries, k {k}, {threads} threads, best of {a.runs}: "
          f"vdb {wall_v:.2f} s wall, {cpu_v:.2f} s CPU (whole command); FAISS {wall_f:.2f} s wall, "
          f"{cpu_f:.2f} s CPU (search); vdb/FAISS wall {wall_v / wall_f:.2f}, CPU {cpu_v / cpu_f:.2f}; "
          f"{same} of {len(query)} queries' {k} ids identical in order, {same_set} as sets; where they "
          f"differ, vdb's float64 distances rank by rank no larger than FAISS's in {no_worse} of "
          f"{len(query) - same}", flush=True)
    for f in (b, q, out):
        os.remove(f)


if a.gt_n:
    gt_at_scale(a.gt_n)
if a.gt_only:
    raise SystemExit(0)
print("\nvdb/FAISS speed > 1 means vdb answers more queries per second. Ids can differ at exact distance ties, and where FAISS's float distances misorder a near-tie (vdb re-checks in double).")


def sgemm_bound(q, base):
    """CPU seconds OpenBLAS's sgemm takes for q x base^T on one thread: the fastest of a few
    tilings (the whole product at once would not fit in memory)."""
    blas.openblas_set_num_threads(1)
    faiss.omp_set_num_threads(1)  # an OpenMP OpenBLAS follows the OpenMP thread count
    best = float("inf")
    for qb, xt in ((len(q), 4096), (256, 512), (512, 1024), (512, 2048)):
        qb = min(qb, len(q))
        out = np.empty((qb, xt), np.float32)
        t0 = time.process_time()
        for j in range(0, len(q), qb):
            qq = q[j:j + qb]
            for i in range(0, len(base), xt):
                x = base[i:i + xt]
                np.matmul(qq, x.T, out=out[:len(qq), :len(x)])
        best = min(best, time.process_time() - t0)
    return best


def vdb_search_cpu(cmd):
    """vdb-query's own search seconds (-v: wall, on the one thread) and the CPU seconds
    (user + system) of the whole process (reading the index and queries, writing results)."""
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=True)
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return search_seconds(r.stderr), c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime


def vdb_search_seconds(cmd):
    return vdb_search_cpu(cmd)[0]


print("\n| data | k | vdb batched flat, 1 thread: search (wall) | whole process (CPU) | sgemm bound, 1 thread (CPU) "
      "| bound / search | bound / process CPU | FAISS IndexFlatL2 batch, 1 thread (CPU) | bound / FAISS "
      "| vdb/FAISS speed (CPU) |")
print("|---|---|---|---|---|---|---|---|---|---|")
bound_sets = [d for d in datasets if d[1] == "l2"]
if os.path.isdir(sift):  # every base row a query: 10k x 10k, where selection weighs most
    bound_sets.append(("siftsmall 10k x 128, its 10k rows as queries", "l2",
                       os.path.join(sift, "siftsmall_base.fvecs"), os.path.join(sift, "siftsmall_base.fvecs")))
b100, q100 = os.path.join(tmp, "syn100k_base.fvecs"), os.path.join(tmp, "syn100k_query.fvecs")
syn_base, syn_query = clustered((100_000, 2_000), seed=7)
write_fvecs(b100, syn_base)
write_fvecs(q100, syn_query)
del syn_base, syn_query
bound_sets.append(("synthetic clustered 100k x 128, 2k q", "l2", b100, q100))
for name, metric, basef, qf in bound_sets:
    base, q = read_vecs(basef), read_vecs(qf)
    index = faiss_flat(base, metric)
    idx = os.path.join(tmp, "bound.vdb")
    run_vdb([os.path.join(BIN, "vdb-build"), "-m", metric, "-o", idx, basef])
    for k in (10, 100):
        cmd = [os.path.join(BIN, "vdb-query"), "-v", "-t", "1", "-x", idx, "-k", str(k), "-O", "ivecs", qf]
        best_v = best_c = best_b = best_f = float("inf")
        for _ in range(a.runs):  # vdb, the bound and FAISS alternating
            v, c = vdb_search_cpu(cmd)
            best_v, best_c = min(best_v, v), min(best_c, c)
            best_b = min(best_b, sgemm_bound(q, base))
            p0 = time.process_time()
            index.search(q, k)
            best_f = min(best_f, time.process_time() - p0)
        print(f"| {name} | {k} | {len(q) / best_v:,.0f} q/s | {len(q) / best_c:,.0f} q/s | {len(q) / best_b:,.0f} q/s "
              f"| {best_b / best_v:.0%} | {best_b / best_c:.0%} | {len(q) / best_f:,.0f} q/s | {best_b / best_f:.0%} "
              f"| {best_f / best_c:.2f}x |",
              flush=True)
print("\nThe bound is sgemm alone (no norms, no selection of the k best): vdb at 100% would select for free. "
      "Best of --runs, vdb, the bound and FAISS (its search call, faiss.omp_set_num_threads(1)) alternating.")

print(f"\n| data | lone queries (-b 1), search latency | 1 thread | {threads_all} threads | speed-up |")
print("|---|---|---|---|---|")
idx = os.path.join(tmp, "lone.vdb")
run_vdb([os.path.join(BIN, "vdb-build"), "-o", idx, b100])
q200 = os.path.join(tmp, "lone_query.fvecs")
write_fvecs(q200, read_vecs(q100)[:200])
best = {}
for _ in range(a.runs):
    for threads in (1, threads_all):
        cmd = [os.path.join(BIN, "vdb-query"), "-v", "-t", str(threads), "-b", "1", "-x", idx, "-k", "10", q200]
        best[threads] = min(best.get(threads, float("inf")), vdb_search_seconds(cmd))
one, many = best[1] / 200 * 1e3, best[threads_all] / 200 * 1e3
print(f"| synthetic clustered 100k x 128 | 200 queries one at a time | {one:.2f} ms | {many:.2f} ms | {one / many:.2f}x |")
