"""Scale: vdb on one machine at N x D generated vectors (default 10M x 96).

Writes the base (Gaussian clusters, clustered()'s recipe, generated a million
rows at a time so it never sits in memory whole) and 1,000 queries to --work,
computes their exact top 10 with FAISS IndexFlatL2 (added a million rows at a
time), then for each configuration builds one index with vdb-build (wall time,
peak RSS from GNU time, file size) and measures with vdb-eval check at two
search settings: recall@10 and one-query latency p50/p99 on one thread; and
queries/s of the whole batch on every thread (vdb-query -v); and, where this process may
drop the page cache (root), the peak RSS and wall time of the whole batch on one thread from a
cold cache (what a query touches, with the kernel's read-ahead, rather than the pages of a file
that was just written). With --shards N each configuration is built as N shards (vdb-build
--shard i/N, one after another: the build time is their sum, the peak RSS the largest shard's,
the file their total) and measured as the set (vdb-eval check and vdb-query over every shard),
as an index too large for one build would be. The generated files are kept in --work for the next run (delete them
with --clean); with --keep the indexes too, and --reuse measures those instead of building again.
"""
import argparse, os, re, shutil, sys, time
import numpy as np
from bench_common import Run, machine, write_fvecs

p = argparse.ArgumentParser()
p.add_argument("--data")  # unused: the data is generated
p.add_argument("--n", type=int, default=10_000_000)
p.add_argument("--dim", type=int, default=96)
p.add_argument("--nq", type=int, default=1000)
p.add_argument("--work", default="/var/tmp/vdb-scale")
p.add_argument("--configs", default="ivfpq,hnsw-sq8",
               help="comma-separated: hnsw, hnsw-sq8, hnsw-codes, ivf, ivfpq")
p.add_argument("--shards", type=int, default=1,
               help="build each configuration as this many shards (vdb-build --shard i/N, one "
                    "after another) and measure the set (vdb-eval check over every shard)")
p.add_argument("--clean", action="store_true", help="delete --work at the end")
p.add_argument("--keep", action="store_true", help="keep the indexes built (in --work)")
p.add_argument("--reuse", action="store_true",
               help="measure the indexes an earlier --keep run left in --work instead of building "
                    "(the build columns then say so)")
p.add_argument("--quick", action="store_true", help="100k vectors instead of --n")
p.add_argument("--runs", type=int, default=1)
a = p.parse_args()
if a.quick:
    a.n = 100_000
BIN = os.environ["VDB_BIN"]
# rows generated (and searched for the ground truth) at a time: a million,
# fewer at high dimension (at most 10^8 floats)
CHUNK = min(1_000_000, 100_000_000 // a.dim)
os.makedirs(a.work, exist_ok=True)
tag = f"{a.n}x{a.dim}"
basef, qf, gtf = (os.path.join(a.work, f"{tag}_{s}") for s in ("base.fvecs", "query.fvecs", "gt.ivecs"))


def centers(rng, clusters=1000):
    return rng.normal(size=(clusters, a.dim)).astype(np.float32) * 3


def generate():
    if os.path.exists(gtf):
        return
    rng = np.random.default_rng(42)
    c = centers(rng)
    with open(basef + ".part", "wb") as f:
        for start in range(0, a.n, CHUNK):
            m = min(CHUNK, a.n - start)
            write_fvecs(f, c[rng.integers(0, len(c), m)] + rng.normal(size=(m, a.dim)).astype(np.float32))
    os.replace(basef + ".part", basef)
    q = c[rng.integers(0, len(c), a.nq)] + rng.normal(size=(a.nq, a.dim)).astype(np.float32)
    with open(qf, "wb") as f:
        write_fvecs(f, q)
    import faiss
    rows = np.memmap(basef, dtype="<f4", mode="r").reshape(a.n, a.dim + 1)
    # exact top 10 chunk by chunk, merged (10M x 768 floats do not fit in memory)
    best_d = np.full((a.nq, 10), np.inf, dtype=np.float32)
    best_i = np.full((a.nq, 10), -1, dtype=np.int64)
    for start in range(0, a.n, CHUNK):
        index = faiss.IndexFlatL2(a.dim)
        index.add(np.ascontiguousarray(rows[start:start + CHUNK, 1:]))
        d, i = index.search(q, 10)
        d, i = np.hstack([best_d, d]), np.hstack([best_i, i + start])
        o = np.argsort(d, axis=1, kind="stable")[:, :10]
        best_d, best_i = np.take_along_axis(d, o, 1), np.take_along_axis(i, o, 1)
    gt = best_i.astype("<i4")
    out = np.empty((a.nq, 11), dtype="<i4")
    out[:, 0], out[:, 1:] = 10, gt
    out.tofile(gtf + ".part")
    os.replace(gtf + ".part", gtf)


def nlist():
    return max(16, int(4 * np.sqrt(a.n)))


CONFIGS = {
    "hnsw": (["-T", "hnsw"], "--ef", (64, 256)),
    "hnsw-sq8": (["-T", "hnsw", "--storage", "sq8", "--refine", "4"], "--ef", (64, 256)),
    # the byte codes alone: no float rows kept, none re-ranked (a quarter of the file)
    "hnsw-codes": (["-T", "hnsw", "--storage", "sq8"], "--ef", (64, 256)),
    "ivf": (["-T", "ivf", "--nlist", str(nlist())], "--nprobe", (16, 64)),
    "ivfpq": (["-T", "ivfpq", "--nlist", str(nlist()), "--pq-m", str(a.dim // 4), "--refine", "10"],
              "--nprobe", (16, 64)),
}


def drop_caches():
    """Empty the page cache (root only); whether it was."""
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def mb(x):
    return f"{x / 2**20:,.0f} MB" if x is not None else "?"


def main():
    t0 = time.perf_counter()
    generate()
    cpu, flags = machine()
    ver = Run([os.path.join(BIN, "vdb-query"), "--version"]).out.strip()
    print(f"# vdb at scale: {a.n:,} x {a.dim} (Gaussian clusters), {a.nq:,} queries, k 10")
    print(f"{ver}; CPU {cpu} ({flags}), {os.cpu_count()} cores, "
          f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB; "
          f"data and ground truth (FAISS IndexFlatL2) ready in {time.perf_counter() - t0:.0f} s\n")
    print("| config | build s | build peak RSS | file | setting | recall@10 | p50 ms | p99 ms | "
          "query peak RSS | batch q/s, all threads | cold cache, 1 thread: peak RSS, s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name in filter(None, a.configs.split(",")):  # --configs '': the data alone
        args, knob, settings = CONFIGS[name]
        parts = [os.path.join(a.work, f"{tag}_{name}" + (f"_part{i}" if a.shards > 1 else "") + ".vdb")
                 for i in range(a.shards)]
        wall, maxrss, failed = 0.0, 0, None
        reused = a.reuse and all(os.path.exists(x) for x in parts)
        for i, idx in enumerate(parts if not reused else []):  # one shard after another
            shard = ["--shard", f"{i}/{a.shards}"] if a.shards > 1 else []
            b = Run([os.path.join(BIN, "vdb-build"), "-q", "-o", idx] + args + shard + [basef], rss=True)
            if b.rc != 0:
                failed = f"failed ({b.rc}): {b.err.strip().splitlines()[-1] if b.err.strip() else ''}"
                break
            wall, maxrss = wall + b.wall, max(maxrss, b.maxrss or 0)
        if failed:
            print(f"| {name} | {failed} |")
            continue
        size = sum(os.path.getsize(x) for x in parts)
        print(f"# built {name}: {wall:,.0f} s, peak RSS {mb(maxrss)}, {mb(size)}", file=sys.stderr, flush=True)
        xs = [arg for x in parts for arg in ("-x", x)]
        label = name if a.shards == 1 else f"{name}, {a.shards} shards"
        for s in settings:
            c = Run([os.path.join(BIN, "vdb-eval"), "check"] + xs + ["--queries", qf, "--gt", gtf,
                     "-k", "10", knob, str(s), "--runs", str(a.runs)], rss=True).check()
            m = re.search(r"recall@10 ([0-9.]+), latency p50 ([0-9.]+) ms, p90 [0-9.]+ ms, p99 ([0-9.]+) ms",
                          c.out)
            q = Run([os.path.join(BIN, "vdb-query"), "-v"] + xs + ["-k", "10", knob, str(s), qf]).check()
            qps = re.search(r"\(([0-9]+) queries/s\)", q.err)
            cold = "not measured (not root)"
            if drop_caches():
                r = Run([os.path.join(BIN, "vdb-query"), "-t", "1"] + xs + ["-k", "10", knob, str(s), qf],
                        rss=True).check()
                cold = f"{mb(r.maxrss)}, {r.wall:.2f} s"
            built = (f"{wall:,.0f} | {mb(maxrss)}" if not reused else "reused | reused")
            print(f"| {label} | {built} | {mb(size)} | {knob} {s} | "
                  f"{m.group(1) if m else '?'} | {m.group(2) if m else '?'} | {m.group(3) if m else '?'} | "
                  f"{mb(c.maxrss)} | {qps.group(1) if qps else '?'} | {cold} |", flush=True)
        for x in parts if not a.keep else []:
            os.remove(x)
    if a.clean:
        shutil.rmtree(a.work)


main()
