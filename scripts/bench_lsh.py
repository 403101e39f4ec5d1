"""LSH: vdb's lsh index against its hnsw and ivf indexes at equal recall, on the same data in the
same run (a benchmark of vdb against itself: FAISS's IndexLSH is binary codes without multi-probe
or re-ranking, not the same method).

For each dataset and index: build seconds (the `build S s` of vdb-build -v), bytes per vector
(--info), a sweep of the type's search setting (lsh --probes, hnsw --ef, ivf --nprobe), and for
each recall@10 target the queries/s of the smallest setting that reaches it, on one thread, timed
as the search loop only (the "search S s" of vdb-query -v), the best of --runs.

    bench_lsh.py --data DIR [--runs N] [--threads T]
"""
import argparse, json, os, sys, tempfile
import numpy as np
from bench_common import Run, datasets, machine, recall_at_10, search_seconds

K = 10
TARGETS = (0.90, 0.95)
# (label, build options, query option, settings to sweep)
INDEXES = (
    ("lsh 8x12", ["-T", "lsh", "--lsh-tables", "8", "--lsh-bits", "12"], "--probes",
     [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]),
    ("lsh 16x14", ["-T", "lsh", "--lsh-tables", "16", "--lsh-bits", "14"], "--probes",
     [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]),
    ("hnsw M16", ["-T", "hnsw", "--M", "16", "--ef-construction", "200"], "--ef",
     [10, 16, 24, 32, 48, 64, 96, 128, 256]),
    ("ivf", ["-T", "ivf"], "--nprobe", [1, 2, 4, 8, 16, 32, 64, 128]),
)


def vdb(name):
    return os.path.join(os.environ["VDB_BIN"], name)


def build(tmp, label, opts, metric, base, threads):
    path = os.path.join(tmp, label.replace(" ", "_") + ".vdb")
    r = Run([vdb("vdb-build"), "-v", "-t", str(threads), "-m", metric, *opts, "-o", path, base]).check()
    info = json.loads(Run([vdb("vdb-query"), "-x", path, "--info"]).check().out)
    secs = float(r.err.split("build ")[1].split(" s")[0])
    return path, secs, info["bytes_per_vector"]


def sweep(tmp, path, knob, values, queries, gt, runs):
    """(setting, recall@10, queries/s on one thread) for each setting until recall stops rising."""
    out, res = [], os.path.join(tmp, "res.jsonl")
    nq = gt.shape[0]
    for v in values:
        best = None
        for _ in range(runs):
            r = Run([vdb("vdb-query"), "-v", "-t", "1", "-k", str(K), "-x", path, knob, str(v),
                     queries], stdout_path=res).check()
            s = search_seconds(r.err)
            best = s if best is None or (s and s < best) else best
        with open(res) as f:  # a query may have fewer than K results (ivf, few lists)
            ids = [(json.loads(l)["ids"] + [-1] * K)[:K] for l in f]
        rec = recall_at_10(np.array(ids), gt, K)
        out.append((v, rec, nq / best if best else float("nan")))
        if rec >= 0.999:
            break
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--quick", action="store_true", help="accepted for symmetry; only real data is used")
    a = ap.parse_args()
    cpu, simd = machine()
    print(f"# lsh vs hnsw vs ivf: {cpu} ({simd}); builds on {a.threads} threads, queries on 1, "
          f"best of {a.runs}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, metric, base, queries, gt_thunk in datasets(a.data, tmp, True, a.threads):
            gt = gt_thunk()
            print(f"\n## {name}")
            head = "  ".join(f"qps@{t:.2f} (setting)" for t in TARGETS)
            print(f"{'index':<10} {'build s':>8} {'B/vec':>7}  {head}  best recall")
            for label, opts, knob, values in INDEXES:
                path, secs, bpv = build(tmp, label, opts, metric, base, a.threads)
                rows = sweep(tmp, path, knob, values, queries, gt, a.runs)
                cells = []
                for t in TARGETS:
                    hit = next((r for r in rows if r[1] >= t), None)
                    cells.append(f"{hit[2]:>9.0f} ({knob[2:]} {hit[0]})" if hit else f"{'-':>9} (not reached)")
                print(f"{label:<10} {secs:>8.2f} {bpv:>7.0f}  {'  '.join(cells)}  {max(r[1] for r in rows):.4f}")
                sys.stdout.flush()


if __name__ == "__main__":
    main()
