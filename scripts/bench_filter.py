"""Filtered search: vdb's hnsw with --filter against FAISS IndexHNSWFlat searched with an
IDSelector (SearchParametersHNSW, FAISS 1.7.3; Debian's hnswlib 0.6.2 has no filter), the same
M and ef-construction, the same data, in the same run.

Each base vector gets synthetic metadata: a category of 50%, 10%, 1% and 0.1% frequency (spread
over the rows), as the tests use. For each selectivity the exact filtered neighbours come from
numpy; each system sweeps ef and reports the queries/s of the smallest ef that reaches recall@10
0.95, on 1 thread and on 2, best of --runs, the systems alternating, and the unfiltered search
as the reference. vdb's time is its `search S s`: it includes resolving the filter (once per
batch, from the payload index); FAISS's excludes building its selector.

    bench_filter.py --data DIR [--runs N] [--threads T]
"""
import argparse, json, math, os, shutil, subprocess, sys, tempfile, time
import numpy as np
import faiss
from bench_common import Run, datasets, machine, read_vecs, search_seconds, write_fvecs

M, EFC, K, TARGET = 16, 200, 10, 0.95
EFS = (10, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)
CATS = (("A", 0.5), ("B", 0.1), ("C", 0.01), ("D", 0.001), (None, 1.0))
TIMED = 10_000


def category(i):
    r = (i * 7919) % 1000
    return "A" if r < 500 else "B" if r < 600 else "C" if r < 610 else "D" if r < 611 else "E"


def exact(base, q, rows, metric):
    """The exact K nearest of base[rows] for each query, as row numbers."""
    sub = base[rows]
    if metric == "cosine":
        d = -(q @ sub.T)
    else:
        d = (q * q).sum(1)[:, None] - 2 * q @ sub.T + (sub * sub).sum(1)[None, :]
    part = np.argsort(d, axis=1, kind="stable")[:, :K]
    return rows[part]


def recall(ids, gt):
    hits = sum(len(set(a[a >= 0]) & set(b)) for a, b in zip(ids, gt))
    return hits / gt.size


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    T = a.threads
    bin_ = os.environ["VDB_BIN"]
    tmp = tempfile.mkdtemp(prefix="vdb-bench-filter-")
    cpu, simd = machine()
    print(f"# Filtered HNSW: vdb --filter vs FAISS {faiss.__version__} IndexHNSWFlat + IDSelector — "
          f"M {M}, ef-construction {EFC}, k {K}, recall@10 target {TARGET}")
    print(f"CPU {cpu}, {os.cpu_count()} cores ({simd}); best of {a.runs} runs, alternating.")
    try:
        for name, metric, basef, qf, _gt in datasets(a.data, tmp, True, T, K):
            base, q = read_vecs(basef), read_vecs(qf)
            if metric == "cosine":
                base /= np.linalg.norm(base, axis=1, keepdims=True) + 1e-30
                q /= np.linalg.norm(q, axis=1, keepdims=True) + 1e-30
            n, d = base.shape
            cats = np.array([category(i) for i in range(n)])
            jl = os.path.join(tmp, "base.jsonl")
            with open(jl, "w") as f:
                for i in range(n):
                    f.write(json.dumps({"id": i, "vector": base[i].tolist(),
                                        "metadata": {"category": cats[i]}}) + "\n")
            ix = os.path.join(tmp, "h.vdb")
            subprocess.run([os.path.join(bin_, "vdb-build"), "-q", "-T", "hnsw", "-m", metric,
                            "--M", str(M), "--ef-construction", str(EFC), "-o", ix, jl], check=True)
            fidx = faiss.IndexHNSWFlat(d, M, faiss.METRIC_INNER_PRODUCT if metric == "cosine"
                                       else faiss.METRIC_L2)
            fidx.hnsw.efConstruction = EFC
            faiss.omp_set_num_threads(T)
            fidx.add(base)
            rep = max(1, math.ceil(TIMED / len(q)))
            qrep = os.path.join(tmp, "q.fvecs")
            write_fvecs(qrep, np.tile(q, (rep, 1)))
            q1 = os.path.join(tmp, "q1.fvecs")
            write_fvecs(q1, q)
            print(f"\n## {name}\n")
            print(f"Searches timed on the {len(q):,} queries repeated {rep}x.\n")
            print(f"| kept | vdb 1 thread | FAISS 1 thread | vdb/FAISS | vdb {T} threads | "
                  f"FAISS {T} threads | vdb/FAISS |")
            print("|---|---|---|---|---|---|---|")
            for cat, share in CATS:
                rows = np.arange(n) if cat is None else np.nonzero(cats == cat)[0]
                gt = exact(base, q, rows, metric)
                filt = [] if cat is None else ["--filter", f'category == "{cat}"']
                sel = None if cat is None else faiss.IDSelectorBatch(rows.astype("int64"))

                def vdb_ids(ef):
                    out = subprocess.run([os.path.join(bin_, "vdb-query"), "-x", ix, "-k", str(K),
                                          "--ef", str(ef), *filt, q1], capture_output=True,
                                         text=True, check=True).stdout
                    ids = np.full((len(q), K), -1)
                    for line in out.splitlines():
                        o = json.loads(line)
                        ids[o["query"], :len(o["ids"])] = o["ids"]
                    return ids

                def faiss_params(ef):
                    # FAISS 1.7.3 takes ef from the index, not from the parameters
                    fidx.hnsw.efSearch = ef
                    return faiss.SearchParametersHNSW(sel=sel, efSearch=ef) if sel is not None \
                        else faiss.SearchParametersHNSW(efSearch=ef)

                chosen = {}
                for sysname in ("vdb", "faiss"):
                    chosen[sysname] = None
                    for ef in EFS:
                        if sysname == "vdb":
                            r = recall(vdb_ids(ef), gt)
                        else:
                            r = recall(fidx.search(q, K, params=faiss_params(ef))[1], gt)
                        if r >= TARGET:
                            chosen[sysname] = (ef, r)
                            break
                qps = {}
                for run in range(a.runs):
                    for sysname in (("vdb", "faiss") if run % 2 == 0 else ("faiss", "vdb")):
                        if not chosen[sysname]:
                            continue
                        ef = chosen[sysname][0]
                        for t in (1, T):
                            if sysname == "vdb":
                                pr = Run([os.path.join(bin_, "vdb-query"), "-x", ix, "-k", str(K),
                                          "--ef", str(ef), "-t", str(t), "-v", *filt, qrep]).check()
                                sec = search_seconds(pr.err) or pr.wall
                            else:
                                faiss.omp_set_num_threads(t)
                                qq = np.tile(q, (rep, 1))
                                t0 = time.perf_counter()
                                fidx.search(qq, K, params=faiss_params(ef))
                                sec = time.perf_counter() - t0
                            key = (sysname, t)
                            qps[key] = max(qps.get(key, 0), len(q) * rep / sec)

                def cell(s, t):
                    if not chosen[s]:
                        return f"not reached by ef {EFS[-1]}"
                    ef, r = chosen[s]
                    return f"{qps[(s, t)]:,.0f} (ef {ef}, {r:.3f})"

                def ratio(t):
                    v, f = qps.get(("vdb", t)), qps.get(("faiss", t))
                    return f"{v / f:.2f}" if v and f else "n/a"
                label = "all (no filter)" if cat is None else f"{share:.1%} ({len(rows):,})"
                print(f"| {label} | {cell('vdb', 1)} | {cell('faiss', 1)} | {ratio(1)} | "
                      f"{cell('vdb', T)} | {cell('faiss', T)} | {ratio(T)} |")
                sys.stdout.flush()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
