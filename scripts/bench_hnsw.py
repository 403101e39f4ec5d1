"""HNSW: vdb against hnswlib (compiled here twice, -O3 -march=native and -O3 -march=native
-mno-avx512f: on some AVX-512 machines the 256-bit build is faster; the faster of the two at
each point is the peer of the ratios) and FAISS IndexHNSWFlat, the same M and
ef-construction, the same data, in the same run.

For each system: build time on --threads threads, index file size, peak RSS of the build
process, time from process start to the first result, and an ef sweep; for each recall@10
target the queries/s of the smallest ef that reaches it, on one thread and as a batch on
--threads threads. Searches are timed as the search loop only (queries already in memory):
hnswlib by the C++ driver (scripts/bench_hnswlib.cpp), FAISS around index.search(), vdb by
the "search S s" figure of vdb-query -v. Build, search and first-result measurements are
taken --runs times, the systems alternating, and the best is kept.

--storage default (the default) builds vdb's default hnsw (byte codes walked, re-ranked with
the float32 vectors: hnsw_codes.h); FAISS is IndexHNSWFlat then. With --storage sq8 or fp16,
vdb stores its vectors compressed and FAISS is IndexHNSWSQ with
the same scalar quantizer (QT_8bit: per-dimension range; QT_fp16); hnswlib has no compressed
storage and stays float32, as the reference.

    bench_hnsw.py --data DIR [--runs N] [--quick] [--threads T] [--csv DIR] [--storage S]
"""
import argparse, json, math, os, re, shutil, subprocess, sys, tempfile, time
import numpy as np
import faiss
from bench_common import (Run, datasets, first_line, machine, read_vecs, recall_at_10, search_seconds,
                          write_fvecs)

M, EFC, K = 16, 200, 10
EFS = (10, 12, 16, 20, 24, 28, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 256, 320, 384, 512)
TARGETS = (0.90, 0.95, 0.99)
FIRST_EF = 64           # ef of the time-to-first-result query (one query: load time dominates)
TIMED_QUERIES = 10_000  # small query sets are repeated up to this many for timing
PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
HERE = os.path.dirname(os.path.abspath(__file__))
SYSTEMS = ("vdb", "hnswlib", "hnswlib256", "faiss")
HNSWLIBS = ("hnswlib", "hnswlib256")  # -march=native, and the same without AVX-512


def faiss_build_main(argv):
    """The FAISS build, in a process of its own so that its peak RSS can be measured:
    faiss-build METRIC M EFC THREADS BASE.fvecs OUT STORAGE"""
    metric, m, efc, threads, basef, out, storage = argv
    base = read_vecs(basef)
    fm = faiss.METRIC_L2
    if metric == "cosine":
        faiss.normalize_L2(base)
        fm = faiss.METRIC_INNER_PRODUCT
    if storage in ("f32", "default"):
        index = faiss.IndexHNSWFlat(base.shape[1], int(m), fm)
    else:
        qt = faiss.ScalarQuantizer.QT_8bit if storage == "sq8" else faiss.ScalarQuantizer.QT_fp16
        index = faiss.IndexHNSWSQ(base.shape[1], qt, int(m), fm)
    index.hnsw.efConstruction = int(efc)
    faiss.omp_set_num_threads(int(threads))
    t0 = time.perf_counter()
    if storage not in ("f32", "default"):
        index.train(base)
    index.add(base)
    t = time.perf_counter() - t0
    faiss.write_index(index, out)
    print(f"build_seconds {t:.6f}")


# FAISS's time to first result: a fresh Python that loads the index and answers one query
FAISS_FIRST = """
import sys, numpy as np, faiss
index = faiss.read_index(sys.argv[1])
q = np.fromfile(sys.argv[2], dtype="<f4")[1:].reshape(1, -1).copy()
if sys.argv[3] == "cosine":
    faiss.normalize_L2(q)
index.hnsw.efSearch = int(sys.argv[4])
D, I = index.search(q, 10)
print(*I[0])
"""


class Bench:
    def __init__(self, a, tmp, drv):
        self.a, self.tmp, self.drv, self.T = a, tmp, drv, a.threads
        self.avx512 = "avx512f" in machine()[1]
        self.bin = os.environ["VDB_BIN"]

    # ---- one dataset ----------------------------------------------------------------
    def dataset(self, name, metric, basef, qf, gt):
        a, T, tmp = self.a, self.T, self.tmp
        q = read_vecs(qf)
        nq = len(q)
        rep = max(1, math.ceil(TIMED_QUERIES / nq))
        qrep = os.path.join(tmp, "q_rep.fvecs")
        write_fvecs(qrep, np.tile(q, (rep, 1)))
        q1 = os.path.join(tmp, "q_1.fvecs")
        write_fvecs(q1, q[:1])
        if metric == "cosine":
            faiss.normalize_L2(q)
        fq_rep = np.ascontiguousarray(np.tile(q, (rep, 1)))
        idx = {s: os.path.join(tmp, f"index.{s}") for s in SYSTEMS}
        # per system: best build s, whole build process s, index bytes, peak RSS, ...
        R = {s: {"build": math.inf, "build_wall": math.inf, "rss": 0, "bytes": None,
                 "first": math.inf, "sweep": [], "qps": {}, "wall_qps": {}, "na": None}
             for s in SYSTEMS}
        for s in SYSTEMS:
            if s not in a.systems.split(","):
                R[s]["na"] = "not run (--systems)"
            elif s == "hnswlib256" and not self.avx512:
                R[s]["na"] = "not built: this CPU has no AVX-512, so it is the native build"

        def order(run):  # the systems alternate: each run starts with the next one
            n = len(SYSTEMS)
            return SYSTEMS[run % n:] + SYSTEMS[:run % n]

        # builds
        for run in range(a.runs):
            for s in order(run):
                r = R[s]
                if r["na"]:
                    continue
                if s in HNSWLIBS:
                    p = Run([self.drv[s], "build", metric, str(M), str(EFC), str(T), basef, idx[s]],
                            rss=True).check()
                    t = p.field("build_seconds")
                elif s == "faiss":
                    p = Run([PY, os.path.join(HERE, "bench_hnsw.py"), "faiss-build", metric, str(M),
                             str(EFC), str(T), basef, idx[s], a.storage], rss=True).check()
                    t = p.field("build_seconds")
                else:
                    p = Run([os.path.join(self.bin, "vdb-build"), "--type", "hnsw", "-m", metric,
                             "--M", str(M), "--ef-construction", str(EFC), "-t", str(T), "-v"] +
                            (["--storage", a.storage] if a.storage != "default" else []) +
                            ["-o", idx[s], basef], rss=True)
                    if p.rc != 0:
                        r["na"] = f"vdb-build exited with {p.rc}: {first_line(p.err)}"
                        continue
                    # the build itself from the -v summary (`build S s`), else the whole command
                    m = re.search(r"\bbuild ([0-9.]+) s\b", p.err)
                    t = float(m.group(1)) if m else p.wall
                    r["build_from_summary"] = bool(m)
                    r["summary"] = first_line(p.err)
                r["build"] = min(r["build"], t)
                r["build_wall"] = min(r["build_wall"], p.wall)
                r["rss"] = max(r["rss"], p.maxrss or 0)
                r["bytes"] = os.path.getsize(idx[s])
        fidx = faiss.read_index(idx["faiss"]) if not R["faiss"]["na"] else None

        # recall sweep (2 threads: recall does not depend on them), up to the first ef >= 0.99
        for s in SYSTEMS:
            r = R[s]
            for ef in EFS:
                if r["na"]:
                    break
                if s in HNSWLIBS:
                    pre = os.path.join(tmp, "ids")
                    Run([self.drv[s], "search", metric, idx[s], qf, "1", str(T), str(ef), pre]).check()
                    ids = read_vecs(f"{pre}.{ef}", "<i4")
                elif s == "faiss":
                    fidx.hnsw.efSearch = ef
                    faiss.omp_set_num_threads(T)
                    ids = fidx.search(q, K)[1]
                else:
                    out = os.path.join(tmp, "res.jsonl")
                    p = Run([os.path.join(self.bin, "vdb-query"), "-x", idx[s], "-k", str(K),
                             "--ef", str(ef), "-t", str(T), qf], stdout_path=out)
                    if p.rc != 0:
                        r["na"] = f"vdb-query exited with {p.rc}: {first_line(p.err)}"
                        break
                    ids = np.full((nq, K), -1, dtype=np.int64)
                    with open(out) as f:
                        for line in f:
                            o = json.loads(line)
                            row = o["ids"][:K]
                            ids[o["query"], :len(row)] = row
                rec = recall_at_10(ids, gt)
                r["sweep"].append((ef, rec))
                if rec >= TARGETS[-1]:
                    break
            r["chosen"] = {}
            for target in TARGETS:
                hit = next(((ef, rec) for ef, rec in r["sweep"] if rec >= target), None)
                r["chosen"][target] = hit
        timed = {s: sorted({h[0] for h in R[s]["chosen"].values() if h}) for s in SYSTEMS}

        # timed searches and time to first result, best of --runs, systems alternating
        for run in range(a.runs):
            for s in order(run):
                r = R[s]
                if r["na"]:
                    continue
                efs = timed[s]
                if s in HNSWLIBS:
                    if efs:
                        p = Run([self.drv[s], "search", metric, idx[s], qrep, "1", f"1,{T}",
                                 ",".join(map(str, efs))]).check()
                        for m in re.finditer(r"^ef (\d+) threads (\d+) seconds (\S+)$", p.out, re.M):
                            key = (int(m.group(1)), int(m.group(2)))
                            r["qps"][key] = max(r["qps"].get(key, 0), nq * rep / float(m.group(3)))
                    p = Run([self.drv[s], "first", metric, idx[s], q1, str(FIRST_EF)]).check()
                elif s == "faiss":
                    for ef in efs:
                        fidx.hnsw.efSearch = ef
                        for t in (1, T):
                            faiss.omp_set_num_threads(t)
                            t0 = time.perf_counter()
                            fidx.search(fq_rep, K)
                            sec = time.perf_counter() - t0
                            r["qps"][(ef, t)] = max(r["qps"].get((ef, t), 0), nq * rep / sec)
                    p = Run([PY, "-c", FAISS_FIRST, idx[s], q1, metric, str(FIRST_EF)]).check()
                else:
                    for ef in efs:
                        for t in (1, T):
                            p = Run([os.path.join(self.bin, "vdb-query"), "-x", idx[s], "-k", str(K),
                                     "--ef", str(ef), "-t", str(t), "-v", qrep]).check()
                            sec = search_seconds(p.err)
                            if sec is None:
                                sec, r["no_search_time"] = p.wall, True
                            r["qps"][(ef, t)] = max(r["qps"].get((ef, t), 0), nq * rep / sec)
                            r["wall_qps"][(ef, t)] = max(r["wall_qps"].get((ef, t), 0), nq * rep / p.wall)
                    p = Run([os.path.join(self.bin, "vdb-query"), "-x", idx[s], "-k", str(K),
                             "--ef", str(FIRST_EF), "-t", "1", q1]).check()
                r["first"] = min(r["first"], p.wall)
        del fidx
        self.report(name, nq, rep, R)
        if self.a.csv:
            self.write_csv(name, R)

    # ---- the table --------------------------------------------------------------------
    def write_csv(self, name, R):
        """The timed points as a reference file for vdb-eval sweep --reference:
        DIR/<dataset>.csv with system,setting,recall,qps,threads."""
        slug = re.sub(r"[^a-z0-9]+", "-", name.split(",")[0].lower()).strip("-")
        path = os.path.join(self.a.csv, f"{slug}.csv")
        with open(path, "w") as f:
            f.write(f"# scripts/bench hnsw: {name}; M {M}, ef-construction {EFC}, k {K}\n")
            f.write("system,setting,recall,qps,threads\n")
            for s in SYSTEMS:
                rec = dict(R[s]["sweep"])
                for (ef, t), qps in sorted(R[s]["qps"].items()):
                    f.write(f"{'vdb' if s == 'vdb' else s},ef={ef},{rec[ef]:.4f},{qps:.0f},{t}\n")
        print(f"- reference curves for vdb-eval sweep --reference: {path}")

    def report(self, name, nq, rep, R):
        T = self.T
        na = {s: R[s]["na"] is not None for s in SYSTEMS}

        def ratio(key, fmt="{:.2f}"):
            v = key(R["vdb"]) if not na["vdb"] else None
            out = []
            for s in ("hnswlib", "faiss"):
                w = key(R[s])
                if s == "hnswlib":  # the better of the two builds (lower s/MB/ms)
                    ws = [key(R[h]) for h in HNSWLIBS if not na[h] and key(R[h])]
                    w = min(ws) if ws else None
                out.append("n/a" if v is None or not w or w in (math.inf,) else fmt.format(v / w))
            return out

        rows = []

        def row(label, key, fmt):
            cells = []
            for s in SYSTEMS:
                v = None if na[s] else key(R[s])
                cells.append("n/a" if v is None or v == math.inf else fmt(v))
            rows.append([label] + cells + ratio(key))

        row(f"build s ({T} threads)", lambda r: r["build"], lambda v: f"{v:.2f}")
        row("index MB", lambda r: r["bytes"] / 1e6 if r["bytes"] else None, lambda v: f"{v:.1f}")
        row("peak RSS MB (build)", lambda r: r["rss"] / 1e6 if r["rss"] else None, lambda v: f"{v:.0f}")
        row("first result ms", lambda r: r["first"] * 1e3, lambda v: f"{v:.1f}")
        for target in TARGETS:
            for t in (1, T):
                label = f"q/s @{target:.2f}, {t} thread{'s' if t > 1 else ''}"
                cells, vals = [], {}
                for s in SYSTEMS:
                    r = R[s]
                    if na[s]:
                        cells.append("n/a")
                        continue
                    hit = r["chosen"].get(target)
                    if not hit:
                        ef, rec = max(r["sweep"], key=lambda x: x[1]) if r["sweep"] else (None, 0)
                        cells.append(f"not reached (max {rec:.3f}, ef {ef})")
                        continue
                    ef, rec = hit
                    vals[s] = r["qps"].get((ef, t))
                    star = "*" if s == "vdb" and r.get("no_search_time") else ""
                    cells.append(f"{vals[s]:,.0f}{star} (ef {ef}, {rec:.3f})" if vals[s] else "n/a")
                vals["hnswlib"] = max((vals.get(h) or 0 for h in HNSWLIBS), default=0) or None
                for s in ("hnswlib", "faiss"):
                    v, w = vals.get("vdb"), vals.get(s)
                    cells.append(f"{v / w:.2f}" if v and w else "n/a")
                rows.append([label] + cells)

        print(f"\n## {name}\n")
        if rep > 1:
            print(f"Searches timed on the {nq:,} queries repeated {rep}x ({nq * rep:,} searches).\n")
        print("| measure | vdb | hnswlib (native) | hnswlib (no AVX-512) | FAISS | vdb/hnswlib | vdb/FAISS |")
        print("|---|---|---|---|---|---|---|")
        for r in rows:
            print("| " + " | ".join(r) + " |")
        print()
        for s, label in zip(SYSTEMS, ("vdb", "hnswlib", "hnswlib (no AVX-512)", "FAISS")):
            r = R[s]
            if r["na"]:
                print(f"- {label}: n/a ({r['na']})")
                continue
            sweep = ", ".join(f"{ef} {rec:.3f}" for ef, rec in r["sweep"])
            print(f"- {label} recall@10 by ef: {sweep}")
        if not na["vdb"]:
            v = R["vdb"]
            what = ("the `build S s` of the vdb-build -v summary" if v.get("build_from_summary") else
                    "the whole vdb-build command (reading the fvecs, building, writing the index)")
            print(f"- vdb build: {what}; whole command {v['build_wall']:.2f} s; "
                  f"summary: `{v.get('summary', '')}`")
            whole = []
            for target in TARGETS:
                hit = v["chosen"].get(target)
                if hit:
                    for t in (1, T):
                        w = v["wall_qps"].get((hit[0], t))
                        if w:
                            whole.append(f"@{target:.2f} {t}t {w:,.0f}")
            if whole:
                print(f"- vdb-query as a whole command (start to exit, reading queries and writing "
                      f"JSONL included), q/s: {', '.join(whole)}")
            if v.get("no_search_time"):
                print("- *: vdb-query -v printed no `search S s`: whole-command time used")
        peers = [f"{lab} {R[s]['build_wall']:.2f} s" for s, lab in
                 (("hnswlib", "hnswlib"), ("hnswlib256", "hnswlib (no AVX-512)"), ("faiss", "FAISS"))
                 if not na[s]]
        print(f"- peers' build: the add calls only; whole build process (reading the data, building, "
              f"saving): {', '.join(peers)}")
        sys.stdout.flush()


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "faiss-build":
        return faiss_build_main(sys.argv[2:])
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--threads", type=int, default=2, help="threads of builds and batch searches")
    p.add_argument("--quick", action="store_true", help="skip the 100k synthetic set")
    p.add_argument("--synth", type=int, metavar="N", help="the synthetic set at N x 128 (even with --quick)")
    p.add_argument("--fashion", action="store_true",
                   help="add Fashion-MNIST 60k x 784 (Debian's dataset-fashion-mnist)")
    p.add_argument("--sets", metavar="WORDS", help="only the datasets whose name has one of these "
                   "comma-separated words (e.g. synthetic,fashion)")
    p.add_argument("--systems", default=",".join(SYSTEMS),
                   help=f"only these, comma-separated (default {','.join(SYSTEMS)}); vdb and hnswlib "
                   "are needed for the ratios")
    p.add_argument("--storage", choices=("default", "f32", "fp16", "sq8"), default="default",
                   help="vdb --storage and FAISS IndexHNSWSQ (hnswlib stays float32)")
    p.add_argument("--csv", metavar="DIR", help="write each dataset's timed points to DIR/<dataset>.csv "
                   "(system,setting,recall,qps,threads: vdb-eval sweep --reference)")
    a = p.parse_args()
    started = time.perf_counter()
    tmp = tempfile.mkdtemp(prefix="vdb-bench-hnsw-")
    try:
        drv = {}
        for s, extra in zip(HNSWLIBS, ([], ["-mno-avx512f"])):
            drv[s] = os.path.join(tmp, f"bench_{s}")
            cxx = ["g++", "-O3", "-march=native"] + extra + ["-fopenmp", "-o", drv[s],
                                                             os.path.join(HERE, "bench_hnswlib.cpp")]
            subprocess.run(cxx, check=True)

        sets = datasets(a.data, tmp, a.quick, a.threads, K, fashion=a.fashion, synth_n=a.synth)
        if a.sets:
            words = a.sets.lower().split(",")
            sets = [s for s in sets if any(w in s[0].lower() for w in words)]
        bin_ = os.environ["VDB_BIN"]
        ver = subprocess.run([os.path.join(bin_, "vdb-query"), "--version"], capture_output=True,
                             text=True).stdout.strip()
        hver = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "libhnswlib-dev"], capture_output=True,
                              text=True).stdout.strip() or "?"
        gver = first_line(subprocess.run(["g++", "--version"], capture_output=True, text=True).stdout)
        cpu, simd = machine()
        base_rss = Run([PY, "-c", "import numpy, faiss"], rss=True).check().maxrss or 0
        peer = "IndexHNSWFlat" if a.storage in ("f32", "default") else f"IndexHNSWSQ ({a.storage})"
        print(f"# HNSW: vdb (--storage {a.storage}) vs hnswlib (native, float32) vs FAISS {peer} — "
              f"M {M}, ef-construction {EFC}, k {K}")
        print(f"{ver}; hnswlib {hver} (Debian headers, {gver}, -O3 -march=native -fopenmp); "
              f"FAISS {faiss.__version__} (Debian python3-faiss)")
        print(f"CPU {cpu}, {os.cpu_count()} cores ({simd}); builds and batch searches on {a.threads} threads; "
              f"best of {a.runs} runs, the systems alternating.")
        print(f"\n- q/s: the search loop only, queries in memory (vdb: the `search S s` of vdb-query -v); "
              f"each cell is the smallest ef of the sweep {','.join(map(str, EFS))} that reaches the "
              f"recall@10 target, and the recall it reached.")
        print(f"- first result: spawn to exit of a process that opens the saved index (in the page cache) and "
              f"answers one query at ef {FIRST_EF}. For FAISS that process is Python: interpreter start and "
              f"`import numpy, faiss` included.")
        print(f"- peak RSS: of the build process (GNU time). FAISS builds in Python: Python with numpy and "
              f"faiss imported is {base_rss / 1e6:.0f} MB of it. MB = 10^6 bytes.")
        print("- ratios: vdb's figure over the peer's: above 1 is better for q/s, worse for s, MB and ms.")
        bench = Bench(a, tmp, drv)
        for name, metric, basef, qf, gt in sets:
            bench.dataset(name, metric, basef, qf, gt())
        print(f"\nTotal {time.perf_counter() - started:.0f} s.")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
