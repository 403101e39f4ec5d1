"""Exact search and ground truth: vdb against FAISS IndexFlat, same data, same run.

vdb is timed as whole commands (process start to exit: reading the queries,
searching, writing results); FAISS as index.search() alone, data already in
memory. Best of --runs, the two sides alternating.
"""
import argparse, os, platform, subprocess, tempfile, time
import numpy as np
import faiss
from bench_common import clustered, faiss_flat, read_vecs, write_fvecs

p = argparse.ArgumentParser()
p.add_argument("--data", required=True)
p.add_argument("--runs", type=int, default=3)
p.add_argument("--quick", action="store_true", help="skip the 200k synthetic set")
a = p.parse_args()
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


datasets = []
sift = os.path.join(a.data, "siftsmall")
wn = os.path.join(a.data, "wordnet-fasttext")
if os.path.isdir(sift):
    datasets.append(("siftsmall 10k x 128, 100 q", "l2",
                     os.path.join(sift, "siftsmall_base.fvecs"), os.path.join(sift, "siftsmall_query.fvecs")))
if os.path.isdir(wn):
    datasets.append(("wordnet 26.6k x 100, 1k q, cosine", "cosine",
                     os.path.join(wn, "wn100_base.fvecs"), os.path.join(wn, "wn100_query.fvecs")))
if not a.quick:
    b, q = os.path.join(tmp, "syn_base.fvecs"), os.path.join(tmp, "syn_query.fvecs")
    syn_base, syn_query = clustered((200_000, 10_000))
    write_fvecs(b, syn_base)
    write_fvecs(q, syn_query)
    del syn_base, syn_query
    datasets.append(("synthetic clustered 200k x 128, 10k q", "l2", b, q))

ver = subprocess.run([os.path.join(BIN, "vdb-query"), "--version"], capture_output=True, text=True).stdout.strip()
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
print(f"# vdb exact search vs FAISS IndexFlat ({faiss.__version__}, Debian build)")
print(f"{ver}; CPU {cpu}, {os.cpu_count()} cores; BLAS {os.environ.get('LD_LIBRARY_PATH', '').split(':')[0]}")
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
            out = os.path.join(tmp, "r.ivecs")
            best_v = best_f = float("inf")
            for _ in range(a.runs):
                best_v = min(best_v, run_vdb(cmd, out))
                tf, I = faiss_search(index, q, k, threads)
                best_f = min(best_f, tf)
            mine = read_vecs(out, "<i4")
            agree = np.mean([len(set(mine[i]) & set(I[i])) / k for i in range(nq)])
            print(f"| {name} | {threads} | {measure} | {nq / best_v:,.0f} q/s | {nq / best_f:,.0f} q/s "
                  f"| {best_f / best_v:.2f}x | {agree:.4f} |", flush=True)
    print(f"| {name} | {threads_all} | vdb-build (flat) | {t_build:.2f} s | | | |")
print("\nvdb/FAISS speed > 1 means vdb answers more queries per second. Ids can differ only at exact distance ties.")
