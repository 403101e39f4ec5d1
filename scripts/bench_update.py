"""Deletes and compaction: vdb's tombstones against hnswlib's markDelete, the same data, the
same M and ef-construction, in the same run.

For each dataset (a synthetic clustered set of --n vectors, 1,000,000 by default, and the real
sets when present), one hnsw index per system, then:
- delete 1% and 30% of the records (random ids): vdb-build --delete on the file (the new file
  written and renamed in place: whole command, spawn to exit) against hnswlib loading its
  file, markDelete() of each label and saving (the driver's figures, and its whole process);
- compaction of the 30%-deleted index (vdb-build --compact) against a fresh vdb build of the
  live vectors, and hnswlib's fresh build of them (hnswlib has no compaction: its deleted
  elements stay in the graph until replaced);
- queries with 30% deleted: recall@10 against the exact neighbours among the live records
  (FAISS IndexFlat over the live vectors) and queries/s of the smallest ef reaching 0.90 and
  0.95, on one thread and on --threads, for vdb with tombstones, vdb compacted, vdb freshly
  built, and hnswlib with its marks. FAISS's HNSW cannot remove vectors (remove_ids is not
  implemented for it), so it is not a peer here.
Each timing is the best of --runs, the systems alternating.

    bench_update.py --data DIR [--runs N] [--quick] [--threads T] [--n N]
"""
import argparse, json, math, os, re, shutil, subprocess, sys, tempfile, time
import numpy as np
import faiss
from bench_common import Run, clustered, faiss_flat, machine, read_vecs, recall_at_10, search_seconds, write_fvecs

M, EFC, K = 16, 200, 10
EFS = (10, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)
TARGETS = (0.90, 0.95)
FRACS = (0.01, 0.30)
TIMED_QUERIES = 10_000
HERE = os.path.dirname(os.path.abspath(__file__))


def vdb(name):
    return os.path.join(os.environ["VDB_BIN"], name)


def write_ivecs_col(path, v):
    out = np.empty((len(v), 2), dtype="<i4")
    out[:, 0] = 1
    out[:, 1] = v
    out.tofile(path)


def exact(base, queries, metric):
    """Top-K row numbers of base for each query, exactly."""
    q = np.ascontiguousarray(queries, dtype=np.float32).copy()
    if metric == "cosine":
        faiss.normalize_L2(q)
    return faiss_flat(base, metric).search(q, K)[1]


class Bench:
    def __init__(self, a, tmp, drv):
        self.a, self.tmp, self.drv, self.T = a, tmp, drv, a.threads

    def path(self, name):
        return os.path.join(self.tmp, name)

    def vdb_build(self, metric, basef, out):
        p = Run([vdb("vdb-build"), "-T", "hnsw", "-m", metric, "--M", str(M), "--ef-construction",
                 str(EFC), "-t", str(self.T), "-o", out, basef]).check()
        return p.wall

    def hnswlib_build(self, metric, basef, out):
        p = Run([self.drv, "build", metric, str(M), str(EFC), str(self.T), basef, out]).check()
        return p.wall, p.field("build_seconds")

    # ---- queries -----------------------------------------------------------------------
    def vdb_ids(self, idx, qf, ef, nq, rowmap=None):
        out = self.path("res.jsonl")
        Run([vdb("vdb-query"), "-x", idx, "-k", str(K), "--ef", str(ef), "-t", str(self.T), qf],
            stdout_path=out).check()
        ids = np.full((nq, K), -1, dtype=np.int64)
        with open(out) as f:
            for line in f:
                o = json.loads(line)
                row = [int(i) for i in o["ids"][:K]]
                ids[o["query"], :len(row)] = row
        if rowmap is not None:
            ids = np.where(ids >= 0, rowmap[np.maximum(ids, 0)], -1)
        return ids

    def hnswlib_ids(self, metric, idx, qf, ef):
        pre = self.path("hl_ids")
        Run([self.drv, "search", metric, idx, qf, "1", str(self.T), str(ef), pre]).check()
        return read_vecs(f"{pre}.{ef}", "<i4")

    def sweep(self, ids_at, gt):
        """(ef, recall) up to the first ef reaching the last target."""
        out = []
        for ef in EFS:
            rec = recall_at_10(ids_at(ef), gt)
            out.append((ef, rec))
            if rec >= TARGETS[-1]:
                break
        return out

    def qps(self, system, idx, metric, qrep, ntot, ef):
        """{threads: q/s} for one ef: one run."""
        out = {}
        if system == "hnswlib":
            p = Run([self.drv, "search", metric, idx, qrep, "1", f"1,{self.T}", str(ef)]).check()
            for m in re.finditer(r"^ef \d+ threads (\d+) seconds (\S+)$", p.out, re.M):
                out[int(m.group(1))] = ntot / float(m.group(2))
            return out
        for t in (1, self.T):
            p = Run([vdb("vdb-query"), "-x", idx, "-k", str(K), "--ef", str(ef), "-t", str(t), "-v",
                     qrep]).check()
            out[t] = ntot / (search_seconds(p.err) or p.wall)
        return out

    # ---- one dataset -------------------------------------------------------------------
    def dataset(self, name, metric, basef, qf):
        a, T = self.a, self.T
        base, q = read_vecs(basef), read_vecs(qf)
        n, nq = len(base), len(q)
        rep = max(1, math.ceil(TIMED_QUERIES / nq))
        qrep = self.path("q_rep.fvecs")
        write_fvecs(qrep, np.tile(q, (rep, 1)))
        print(f"\n## {name}")
        sys.stdout.flush()
        bv, bh = self.path("base.vdb"), self.path("base.hnsw")
        tb = {"vdb": math.inf, "hnswlib": math.inf}
        for run in range(a.runs if n <= 100_000 else 1):
            for s in (("vdb", "hnswlib") if run % 2 == 0 else ("hnswlib", "vdb")):
                if s == "vdb":
                    tb[s] = min(tb[s], self.vdb_build(metric, basef, bv))
                else:
                    tb[s] = min(tb[s], self.hnswlib_build(metric, basef, bh)[0])
        print(f"build on {T} threads (whole command): vdb {tb['vdb']:.2f} s, hnswlib {tb['hnswlib']:.2f} s; "
              f"files {os.path.getsize(bv) / 1e6:.0f} MB and {os.path.getsize(bh) / 1e6:.0f} MB")

        rng = np.random.default_rng(7)
        print(f"\n### deleting records (best of {a.runs}, spawn to exit; hnswlib: load + markDelete + save, "
              f"and markDelete alone)")
        print(f"| deleted | vdb --delete s | hnswlib s | markDelete alone s | vdb/hnswlib |")
        print("|---|---|---|---|---|")
        for frac in FRACS:
            dead = np.sort(rng.choice(n, int(n * frac), replace=False))
            delf, dell = self.path("del.txt"), self.path("del.ivecs")
            np.savetxt(delf, dead, fmt="%d")
            write_ivecs_col(dell, dead)
            xv, xh = self.path(f"del{frac}.vdb"), self.path(f"del{frac}.hnsw")
            best = {"vdb": math.inf, "hnswlib": math.inf, "mark": math.inf}
            for run in range(a.runs):
                for s in (("vdb", "hnswlib") if run % 2 == 0 else ("hnswlib", "vdb")):
                    if s == "vdb":
                        shutil.copyfile(bv, xv)
                        p = Run([vdb("vdb-build"), "-q", "--delete", "-x", xv, delf]).check()
                        best[s] = min(best[s], p.wall)
                    else:
                        p = Run([self.drv, "delete", f"{metric}:{base.shape[1]}", bh, dell, xh]).check()
                        best[s] = min(best[s], p.wall)
                        best["mark"] = min(best["mark"], p.field("delete_seconds"))
            print(f"| {frac:.0%} ({len(dead):,}) | {best['vdb']:.3f} | {best['hnswlib']:.3f} | "
                  f"{best['mark']:.4f} | {best['vdb'] / best['hnswlib']:.2f} |")
            sys.stdout.flush()
        live = np.setdiff1d(np.arange(n), dead)  # of the last (30%) deletion

        # compaction against fresh builds of the live vectors
        livef = self.path("live.fvecs")
        write_fvecs(livef, base[live])
        cv, fv, fh = self.path("compact.vdb"), self.path("fresh.vdb"), self.path("fresh.hnsw")
        tc = {"compact": math.inf, "fresh": math.inf, "hnswlib": math.inf}
        xv, xh = self.path(f"del{FRACS[-1]}.vdb"), self.path(f"del{FRACS[-1]}.hnsw")
        for run in range(a.runs if n <= 100_000 else 1):
            shutil.copyfile(xv, cv)
            tc["compact"] = min(tc["compact"], Run([vdb("vdb-build"), "-q", "-t", str(T), "--compact",
                                                    "-x", cv]).check().wall)
            tc["fresh"] = min(tc["fresh"], self.vdb_build(metric, livef, fv))
            tc["hnswlib"] = min(tc["hnswlib"], self.hnswlib_build(metric, livef, fh)[0])
        print(f"\n### compaction after deleting {FRACS[-1]:.0%} ({T} threads, whole command)")
        print(f"vdb --compact {tc['compact']:.2f} s; fresh vdb build of the live vectors {tc['fresh']:.2f} s "
              f"({tc['compact'] / tc['fresh']:.2f}x); fresh hnswlib build {tc['hnswlib']:.2f} s; "
              f"file {os.path.getsize(xv) / 1e6:.0f} MB -> {os.path.getsize(cv) / 1e6:.0f} MB")

        # queries with 30% deleted
        gt = live[exact(base[live], q, metric)]
        systems = {
            "vdb, 30% tombstones": ("vdb", xv, lambda ef: self.vdb_ids(xv, qf, ef, nq)),
            "vdb, compacted": ("vdb", cv, lambda ef: self.vdb_ids(cv, qf, ef, nq)),
            "vdb, fresh build": ("vdb", fv, lambda ef: self.vdb_ids(fv, qf, ef, nq, live)),
            "hnswlib, 30% marked": ("hnswlib", xh, lambda ef: self.hnswlib_ids(metric, xh, qf, ef)),
        }
        chosen = {}
        for label, (s, idx, ids_at) in systems.items():
            sw = self.sweep(ids_at, gt)
            chosen[label] = {t: next(((ef, r) for ef, r in sw if r >= t), None) for t in TARGETS}
        speed = {label: {} for label in systems}
        for run in range(a.runs):
            labels = list(systems) if run % 2 == 0 else list(reversed(systems))
            for label in labels:
                s, idx, _ = systems[label]
                for t in TARGETS:
                    hit = chosen[label][t]
                    if not hit:
                        continue
                    for th, v in self.qps(s, idx, metric, qrep, nq * rep, hit[0]).items():
                        speed[label][(t, th)] = max(speed[label].get((t, th), 0), v)
        print(f"\n### queries with {FRACS[-1]:.0%} deleted: q/s at recall@10 over the live records "
              f"(smallest ef reaching it)")
        head = " | ".join(f"@{t:.2f} 1 thr | @{t:.2f} {T} thr" for t in TARGETS)
        print(f"| index | {head} |")
        print("|---|" + "---|" * (2 * len(TARGETS)))
        for label in systems:
            cells = []
            for t in TARGETS:
                hit = chosen[label][t]
                for th in (1, T):
                    cells.append(f"{speed[label][(t, th)]:,.0f} (ef {hit[0]}, {hit[1]:.3f})" if hit else "-")
            print(f"| {label} | " + " | ".join(cells) + " |")
        ref = "hnswlib, 30% marked"
        for label in ("vdb, 30% tombstones", "vdb, compacted"):
            r = [f"{speed[label][k] / speed[ref][k]:.2f}" for k in sorted(speed[ref]) if k in speed[label]]
            print(f"{label} / hnswlib: {', '.join(r)} (per cell, in order)")
        sys.stdout.flush()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="a synthetic set of 100,000, not --n")
    p.add_argument("--n", type=int, default=1_000_000, help="size of the synthetic set")
    a = p.parse_args()
    started = time.perf_counter()
    tmp = tempfile.mkdtemp(prefix="vdb-bench-update-")
    try:
        drv = os.path.join(tmp, "bench_hnswlib")
        subprocess.run(["g++", "-O3", "-march=native", "-fopenmp", "-o", drv,
                        os.path.join(HERE, "bench_hnswlib.cpp")], check=True)
        cpu, simd = machine()
        print(f"# deletes and compaction: vdb hnsw vs hnswlib (native) — M {M}, ef-construction {EFC}, "
              f"k {K}; {cpu}, {os.cpu_count()} cores ({simd}); best of {a.runs}")
        n = 100_000 if a.quick else a.n
        sets = []
        b, q = os.path.join(tmp, "syn_base.fvecs"), os.path.join(tmp, "syn_query.fvecs")
        base, queries = clustered((n, 1000))
        write_fvecs(b, base)
        write_fvecs(q, queries)
        del base, queries
        sets.append((f"synthetic clustered {n:,} x 128, l2, 1,000 queries", "l2", b, q))
        sift = os.path.join(a.data, "siftsmall")
        if os.path.isdir(sift):
            sets.append(("siftsmall 10k x 128, l2", "l2", os.path.join(sift, "siftsmall_base.fvecs"),
                         os.path.join(sift, "siftsmall_query.fvecs")))
        wn = os.path.join(a.data, "wordnet-fasttext")
        if os.path.isdir(wn):
            sets.append(("wordnet fastText 26.6k x 100, cosine", "cosine", os.path.join(wn, "wn100_base.fvecs"),
                         os.path.join(wn, "wn100_query.fvecs")))
        bench = Bench(a, tmp, drv)
        for name, metric, basef, qf in sets:
            bench.dataset(name, metric, basef, qf)
        print(f"\nTotal {time.perf_counter() - started:.0f} s.")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
