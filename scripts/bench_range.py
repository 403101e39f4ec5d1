"""Range search: vdb-query --max-distance against FAISS's range_search, on the same data in the
same run.

For each dataset (siftsmall, l2; WordNet fastText, cosine; from --data when present) and two
radii (about 10 and about 100 records within the radius per query on average, from the exact
distances), it measures queries/s and range recall (micro-averaged, as FAISS's range
evaluation: |returned ∩ true| / |true| over all queries) of
  - vdb flat against FAISS IndexFlatL2 / IndexFlatIP (exact: recall 1 expected of both);
  - vdb hnsw (M 16, ef-construction 200, --ef 64: where its widening starts); FAISS 1.7.3's
    IndexHNSWFlat has no range_search ("range search not implemented"), so it stands alone;
  - vdb ivf against FAISS IndexIVFFlat (the same nlist, nprobe 16): FAISS probes nprobe lists,
    vdb widens from there until a wider probe finds nothing new.
The truth is numpy's, in float64: l2 distance <= R (FAISS's radius is the squared distance, R²,
compared with <), cosine 1 - cos <= R (FAISS: inner product of normalised vectors > 1 - R).
vdb's time is its `search S s` (vdb-query -v: the search alone, not reading or printing);
FAISS's the range_search call. One thread and two, best of --runs, the systems alternating.
The queries are repeated to about 10,000 searches per timing.

    bench_range.py --data DIR [--runs N] [--threads T]
"""
import argparse, json, math, os, shutil, subprocess, tempfile, time
import numpy as np
import faiss
from bench_common import datasets, machine, read_vecs, search_seconds, write_fvecs

M, EFC, EF, NPROBE, TIMED = 16, 200, 64, 16, 10_000
MEANS = (10, 100)


def exact_dist(base, q, metric):
    """Reported distances, float64: Euclidean (l2) or 1 - cos (rows normalised)."""
    b, qq = base.astype(np.float64), q.astype(np.float64)
    if metric == "cosine":
        return 1 - qq @ b.T
    d2 = (qq * qq).sum(1)[:, None] - 2 * qq @ b.T + (b * b).sum(1)[None, :]
    return np.sqrt(np.maximum(d2, 0))


def radius_for(dist, mean):
    """A radius (4 significant digits) with about mean records within it per query."""
    flat = np.sort(dist, axis=None)
    return float("%.4g" % flat[min(flat.size - 1, int(mean * dist.shape[0]))])


def recall(lists, truth):
    common = sum(len(set(a) & set(t)) for a, t in zip(lists, truth))
    total = sum(len(t) for t in truth)
    returned = sum(len(a) for a in lists)
    return common / max(total, 1), common / max(returned, 1)


def vdb_run(bin_, ix, qf, r, threads, extra):
    out = subprocess.run([os.path.join(bin_, "vdb-query"), "-v", "-t", str(threads), "-x", ix,
                          "--max-distance", repr(r), *extra, qf], capture_output=True,
                         text=True, check=True)
    return out.stdout, search_seconds(out.stderr)


def vdb_lists(stdout, nq):
    lists = [[] for _ in range(nq)]
    for line in stdout.splitlines():
        o = json.loads(line)
        if o["query"] < nq:
            lists[o["query"]] = o["ids"]
    return lists


def faiss_lists(index, q, fr):
    lims, _, ids = index.range_search(q, fr)
    return [ids[lims[i]:lims[i + 1]].tolist() for i in range(len(q))]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    bin_ = os.environ["VDB_BIN"]
    tmp = tempfile.mkdtemp(prefix="vdb-bench-range-")
    cpu, simd = machine()
    print(f"# Range search: vdb-query --max-distance vs FAISS {faiss.__version__} range_search")
    print(f"CPU {cpu}, {os.cpu_count()} cores ({simd}); best of {a.runs} runs, alternating.")
    print("FAISS IndexHNSWFlat: no range_search in this FAISS (\"range search not implemented\"); "
          "vdb hnsw alone.")
    try:
        for name, metric, basef, qf, _gt in datasets(a.data, tmp, True, a.threads):
            base, q = read_vecs(basef), read_vecs(qf)
            if metric == "cosine":
                base /= np.linalg.norm(base, axis=1, keepdims=True) + 1e-30
                q /= np.linalg.norm(q, axis=1, keepdims=True) + 1e-30
            n, d = base.shape
            fm = faiss.METRIC_INNER_PRODUCT if metric == "cosine" else faiss.METRIC_L2
            ixs = {}
            nlist = int(4 * math.sqrt(n))
            for t, opts in (("flat", []), ("hnsw", ["--M", str(M), "--ef-construction", str(EFC)]),
                            ("ivf", ["--nlist", str(nlist)])):
                ixs[t] = os.path.join(tmp, t + ".vdb")
                subprocess.run([os.path.join(bin_, "vdb-build"), "-q", "-T", t, "-m", metric, *opts,
                                "-o", ixs[t], basef], check=True)
            fflat = faiss.IndexFlatIP(d) if metric == "cosine" else faiss.IndexFlatL2(d)
            fflat.add(base)
            quant = faiss.IndexFlatIP(d) if metric == "cosine" else faiss.IndexFlatL2(d)
            fivf = faiss.IndexIVFFlat(quant, d, nlist, fm)
            fivf.train(base)
            fivf.add(base)
            fivf.nprobe = NPROBE
            rep = max(1, math.ceil(TIMED / len(q)))
            qrep = os.path.join(tmp, "q.fvecs")
            write_fvecs(qrep, np.tile(q, (rep, 1)))
            qtimed = np.ascontiguousarray(np.tile(q, (rep, 1)))
            q1 = os.path.join(tmp, "q1.fvecs")
            write_fvecs(q1, q)
            dist = exact_dist(base, q, metric)
            print(f"\n## {name}\n")
            print(f"vdb hnsw --ef {EF}, ivf nlist {nlist} --nprobe {NPROBE} (FAISS IVFFlat: the "
                  f"same); {len(q):,} queries repeated {rep}x per timing.\n")
            print("| radius (results/query) | system | range recall | precision | queries/s 1 thread"
                  f" | queries/s {a.threads} threads |")
            print("|---|---|---|---|---|---|")
            for mean in MEANS:
                r = radius_for(dist, mean)
                truth = [np.nonzero(row <= r)[0].tolist() for row in dist]
                per = sum(len(t) for t in truth) / len(truth)
                fr = (1 - r) if metric == "cosine" else r * r
                systems = [("vdb flat", "flat", []), ("FAISS IndexFlat", fflat, None),
                           ("vdb hnsw", "hnsw", ["--ef", str(EF)]),
                           ("vdb ivf", "ivf", ["--nprobe", str(NPROBE)]),
                           ("FAISS IndexIVFFlat", fivf, None)]
                quality, best = {}, {}
                for label, what, extra in systems:
                    if extra is not None:
                        out, _ = vdb_run(bin_, ixs[what], q1, r, a.threads, extra)
                        quality[label] = recall(vdb_lists(out, len(q)), truth)
                    else:
                        quality[label] = recall(faiss_lists(what, q, fr), truth)
                    best[label] = [0.0, 0.0]
                for _ in range(a.runs):
                    for ti, threads in enumerate((1, a.threads)):
                        for label, what, extra in systems:
                            if extra is not None:
                                _, s = vdb_run(bin_, ixs[what], qrep, r, threads, extra)
                            else:
                                faiss.omp_set_num_threads(threads)
                                t0 = time.perf_counter()
                                what.range_search(qtimed, fr)
                                s = time.perf_counter() - t0
                            if s:
                                best[label][ti] = max(best[label][ti], len(qtimed) / s)
                for label, _, _ in systems:
                    rec, prec = quality[label]
                    print(f"| {r:g} ({per:.1f}) | {label} | {rec:.4f} | {prec:.4f} | "
                          f"{best[label][0]:,.0f} | {best[label][1]:,.0f} |")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
