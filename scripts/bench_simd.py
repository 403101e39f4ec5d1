"""Kernel levels side by side: vdb's hnsw and flat searches with VDB_SIMD=avx2 and
VDB_SIMD=avx512 (or any levels named), on the same indexes in the same run, alternating,
best of --runs. Prints queries/s (the `search S s` of vdb-query -v; one thread) and the
ratio of each level to the first. hnsw at two ef values, flat as one batch (sgemm: the
kernels only filter) and with --storage sq8 (a kernel per row).

    bench_simd.py --data DIR [--runs N] [--levels avx2,avx512] [--no-fashion]
"""
import argparse, os, sys, tempfile
import numpy as np
from bench_common import Run, datasets, machine, read_vecs, recall_at_10, search_seconds, write_fvecs

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.environ.get("VDB_BIN", os.path.join(HERE, "..", "build", "cmd"))
TIMED = 4000  # queries timed per run (small query sets are repeated)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="/work/shared/data")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--levels", default="avx2,avx512")
    p.add_argument("--no-fashion", action="store_true")
    a = p.parse_args()
    levels = a.levels.split(",")
    cpu, _ = machine()
    print(f"CPU: {cpu}; levels {', '.join(levels)}; best of {a.runs}, alternating; one thread")
    with tempfile.TemporaryDirectory() as tmp:
        sets = [s for s in datasets(a.data, tmp, True, 2, fashion=not a.no_fashion)
                if not s[0].startswith("wordnet")]
        for name, metric, basef, qf, gt in sets:
            truth = gt()
            q = read_vecs(qf)
            qrep = os.path.join(tmp, "qrep.fvecs")
            write_fvecs(qrep, np.tile(q, (max(1, TIMED // len(q)), 1)))
            nq = max(1, TIMED // len(q)) * len(q)
            idx = {}
            for kind, extra in (("hnsw", ["--type", "hnsw", "--M", "16", "--ef-construction", "200"]),
                                ("flat", []), ("flat-sq8", ["--storage", "sq8"])):
                idx[kind] = os.path.join(tmp, kind + ".vdb")
                Run([os.path.join(BIN, "vdb-build"), "-m", metric, "-t", "2", *extra, "-o", idx[kind],
                     basef]).check()
            cases = [("hnsw", ["--ef", "32"]), ("hnsw", ["--ef", "128"]), ("flat", []),
                     ("flat-sq8", [])]
            best = {}
            recall = {}
            for r in range(a.runs):
                for ci, (kind, extra) in enumerate(cases):
                    for lv in (levels if r % 2 == 0 else levels[::-1]):
                        env = dict(os.environ, VDB_SIMD=lv, OMP_NUM_THREADS="1")
                        out = os.path.join(tmp, "out.ivecs")
                        cmd = [os.path.join(BIN, "vdb-query"), "-x", idx[kind], "-k", "10", "-t", "1",
                               "-v", "-O", "ivecs", *extra, qrep]
                        old = os.environ.copy()
                        os.environ.update(env)
                        try:
                            p = Run(cmd, stdout_path=out).check()
                        finally:
                            os.environ.clear()
                            os.environ.update(old)
                        sec = search_seconds(p.err) or p.wall
                        best[(ci, lv)] = max(best.get((ci, lv), 0), nq / sec)
                        ids = read_vecs(out, "<i4")[:len(q)]
                        recall[(ci, lv)] = recall_at_10(ids, truth)
            print(f"\n{name}\n")
            print("| search | " + " | ".join(f"{lv} q/s" for lv in levels) + " | " +
                  " | ".join(f"{lv}/{levels[0]}" for lv in levels[1:]) + " | recall@10 |")
            print("|---" * (2 * len(levels) + 1) + "|")
            for ci, (kind, extra) in enumerate(cases):
                qps = [best[(ci, lv)] for lv in levels]
                print(f"| {kind} {' '.join(extra)} | " + " | ".join(f"{x:,.0f}" for x in qps) + " | " +
                      " | ".join(f"{x / qps[0]:.2f}" for x in qps[1:]) + " | " +
                      "/".join(f"{recall[(ci, lv)]:.3f}" for lv in levels) + " |")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
