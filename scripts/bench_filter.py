"""Filtered search: vdb's hnsw with --filter against FAISS IndexHNSWFlat searched with an
IDSelector (SearchParametersHNSW, FAISS 1.7.3; Debian's hnswlib 0.6.2 has no filter), the same
M and ef-construction, the same data, in the same run.

Each base vector gets synthetic metadata: a category of 50%, 10%, 1% and 0.1% frequency (spread
over the rows), as the tests use. For each selectivity the exact filtered neighbours come from
numpy; each system sweeps ef and reports the queries/s of the smallest ef that reaches recall@10
0.95, on 1 thread and on 2, best of --runs, the systems alternating, and the unfiltered search
as the reference. vdb's time is its `search S s`: it includes resolving the filter (once per
batch, from the payload index); FAISS's excludes building its selector.

With --plan, the filtered-search planner instead (issue 23, item 8): on each dataset (siftsmall,
WordNet, synthetic 100k x 128) and index type (--types, default hnsw,ivf,lsh) a numeric field
keeps 0.1% .. 50% of the rows, and vdb's two paths are timed at each share, forced with
--filter-path (scan: exact over the kept rows; index: the filtered graph walk at --ef, ivf's
filtered lists at --nprobe, lsh's filtered buckets at --probes (0: the type's default), its
recall@10 beside it), batched (--plan-batch queries in one call)
and one query at a time (-b 1), on --threads threads, best of --runs, the paths alternating; then
the path the planner takes unforced (vdb-query -v) and its time over the better path's.

    bench_filter.py --data DIR [--runs N] [--threads T]
    bench_filter.py --plan --data DIR [--runs N] [--threads 1] [--ef 64] [--nprobe N] [--probes N]
                    [--types hnsw,ivf,lsh] [--only NAME] [--synth-n N] [--plan-batch N] [--plan-one N]
                    [--shares 0.05,0.1,0.2,0.5]
"""
import argparse, json, math, os, resource, shutil, subprocess, sys, tempfile, time
import numpy as np
import faiss
from bench_common import Run, clustered, datasets, machine, read_vecs, search_seconds, write_fvecs

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


SHARES = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5)


def vdb_query(bin_, args):
    return Run([os.path.join(bin_, "vdb-query"), *args]).check()


def cpu_seconds(bin_, args):
    """The CPU seconds (user + system) of one vdb-query run: on a shared, loaded machine the
    one-thread runs are timed by the CPU they take, not by the wall clock."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    pr = vdb_query(bin_, args)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime, pr


# each type's build options and search setting for --plan
PLAN_TYPES = {
    "hnsw": (["--M", str(M), "--ef-construction", str(EFC)], lambda a: ["--ef", str(a.ef)]),
    "ivf": ([], lambda a: ["--nprobe", str(a.nprobe)] if a.nprobe else []),
    "lsh": ([], lambda a: ["--probes", str(a.probes)] if a.probes else []),
}


def plan_dataset(a, bin_, tmp, name, metric, basef, qf):
    """The planner's curve on one dataset, for each type of --types (--plan)."""
    base, q = read_vecs(basef), read_vecs(qf)
    if metric == "cosine":
        base /= np.linalg.norm(base, axis=1, keepdims=True) + 1e-30
        q /= np.linalg.norm(q, axis=1, keepdims=True) + 1e-30
    n, d = base.shape
    r = (np.arange(n) * 7919) % 100_000  # spread over the rows, not in blocks
    jl = os.path.join(tmp, "base.jsonl")
    with open(jl, "w") as f:
        for i in range(n):
            f.write(json.dumps({"id": i, "vector": base[i].tolist(), "metadata": {"r": int(r[i])}}) + "\n")
    qb = os.path.join(tmp, "qb.fvecs")
    write_fvecs(qb, np.tile(q, (math.ceil(a.plan_batch / len(q)), 1))[:a.plan_batch])
    q1 = os.path.join(tmp, "q1.fvecs")
    q = np.tile(q, (math.ceil(a.plan_one / len(q)), 1))[:a.plan_one]
    write_fvecs(q1, q)
    for typ in a.types.split(","):
        build_opts, setting = PLAN_TYPES[typ]
        ix = os.path.join(tmp, f"{typ}.vdb")
        t0 = time.perf_counter()
        subprocess.run([os.path.join(bin_, "vdb-build"), "-q", "-T", typ, "-m", metric, *build_opts,
                        "-o", ix, jl], check=True)
        print(f"\n## {name}: {typ}\n\n{typ} {' '.join(build_opts + setting(a)) or '(defaults)'} "
              f"(built in {time.perf_counter() - t0:.0f} s); k {K}, {a.threads} thread(s); batched: "
              f"{a.plan_batch} queries in one call; one at a time: {a.plan_one} queries, -b 1. "
              f"Queries/s of each path forced, the index path's recall@10; the planner's path and "
              f"its time over the better one's. Times are CPU seconds (user + system) of the run "
              f"less those of the same run with a filter that keeps no row.\n")
        print("| kept | batch: scan q/s | index q/s (recall) | planner | /best | "
              "one: scan q/s | index q/s | planner | /best |")
        print("|---|---|---|---|---|---|---|---|---|")
        for share in (map(float, a.shares.split(",")) if a.shares else SHARES):
            cut = max(1, round(share * 100_000))
            rows = np.nonzero(r < cut)[0]
            filt = ["--filter", f"r < {cut}"]
            common = ["-x", ix, "-k", str(K), *setting(a), "-t", str(a.threads), *filt]
            # the index path's recall on the queries of the one-at-a-time run
            gt = exact(base, q, rows, metric)
            out = vdb_query(bin_, [*common, "--filter-path", "index", q1]).out
            ids = np.full((a.plan_one, K), -1)
            for line in out.splitlines():
                o = json.loads(line)
                ids[o["query"], :len(o["ids"])] = o["ids"]
            rec = recall(ids, gt)
            cells = []
            for qfile, batch, nq in ((qb, [], a.plan_batch), (q1, ["-b", "1"], a.plan_one)):
                best = {}
                for run in range(a.runs):
                    # a filter no row passes: the run's cost outside the search (start, reading
                    # the queries, resolving the filter, writing), taken off the others
                    null = cpu_seconds(bin_, [*common[:-2], "--filter", "r < 0", *batch, "-O", "ivecs", qfile])[0]
                    for path in (("scan", "index") if run % 2 == 0 else ("index", "scan")):
                        sec = cpu_seconds(bin_, [*common, *batch, "-O", "ivecs", "--filter-path", path, qfile])[0]
                        best[path] = max(best.get(path, 0), nq / max(sec - null, 1e-6))
                pr = vdb_query(bin_, [*common, *batch, "-v", qfile])
                chose = "scan" if "took the scan" in pr.err else "index"
                ratio = best[chose] / max(best.values())
                cells += [f"{best['scan']:,.0f}", f"{best['index']:,.0f}" + (f" ({rec:.3f})" if not batch else ""),
                          chose, f"{ratio:.2f}"]
            print(f"| {share:.1%} ({len(rows):,}) | " + " | ".join(cells) + " |")
            sys.stdout.flush()


def plan_main(a, bin_):
    tmp = tempfile.mkdtemp(prefix="vdb-bench-plan-")
    cpu, simd = machine()
    print(f"# Filtered-search planner: exact scan of the kept rows vs the index's filtered search "
          f"({a.types})")
    print(f"CPU {cpu}, {os.cpu_count()} cores ({simd}); best of {a.runs} runs, alternating.")
    try:
        sets = datasets(a.data, tmp, True, a.threads, K)
        b, qf = os.path.join(tmp, "syn_base.fvecs"), os.path.join(tmp, "syn_query.fvecs")
        base, queries = clustered((a.synth_n, 1000))
        write_fvecs(b, base)
        write_fvecs(qf, queries)
        sets.append((f"synthetic clustered {a.synth_n:,} x 128 (1,000 clusters), l2", "l2", b, qf, None))
        for name, metric, basef, qf, _gt in sets:
            if not a.only or a.only in name:
                plan_dataset(a, bin_, tmp, name, metric, basef, qf)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--plan", action="store_true")
    p.add_argument("--ef", type=int, default=64)
    p.add_argument("--plan-batch", type=int, default=1000)
    p.add_argument("--plan-one", type=int, default=200)
    p.add_argument("--synth-n", type=int, default=100_000)
    p.add_argument("--only", default="")
    p.add_argument("--types", default="hnsw,ivf,lsh")
    p.add_argument("--nprobe", type=int, default=0)
    p.add_argument("--probes", type=int, default=0)
    p.add_argument("--shares", default="", help="--plan: the kept shares, e.g. 0.05,0.2 (default 0.1%%..50%%)")
    a = p.parse_args()
    if a.plan:
        return plan_main(a, os.environ["VDB_BIN"])
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
