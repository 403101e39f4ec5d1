"""IVF: vdb's ivf and ivfpq indexes against FAISS IndexIVFFlat, IndexIVFPQ and IndexRefineFlat
around IndexIVFPQ, the same nlist, m (8-bit codes), refine factor and nprobe, the same data, in
the same run.

For each dataset and index kind: training + build time on --threads threads (vdb: the `build S s`
of vdb-build -v; FAISS: train() + add()), bytes per vector (vdb: --info's bytes_per_vector and the
file size / n; FAISS: the size of its serialized index / n), an nprobe sweep of recall@10, and for
each recall@10 target (0.90, 0.95; ivf also 0.99) the queries/s of the smallest nprobe that
reaches it, on one thread and as a batch on --threads threads. Searches are timed as the search loop only (queries already in memory):
FAISS around index.search(), vdb by the "search S s" figure of vdb-query -v. Builds and searches are
taken --runs times, the systems alternating, and the best is kept. For ivf, also the queries answered
one at a time on 1 and --threads threads (vdb-query -b 1, whose lone query's lists are split across
the threads; FAISS one search() call per query, which it runs on one thread).

Cosine for FAISS: the base and the queries normalised (faiss.normalize_L2), METRIC_INNER_PRODUCT,
an IndexFlatIP coarse quantizer (FAISS's IVF then trains spherical k-means).

ivfpq4_r: vdb's 4-bit fast-scan codes (--pq-bits 4, twice the sub-quantizers: the same code bytes)
with --refine, against the same FAISS IndexIVFPQ + IndexRefineFlat; the last line of a dataset gives
its queries/s over vdb's 8-bit ivfpq + refine at each recall both reach.

--stages: for the ivfpq kinds, at nprobe 4..64, the share of the true top 10 in the probed lists, and
of those the share the codes rank within the k x refine candidates, each system (bench_ivf.py:
Bench.stages).

    bench_ivf.py --data DIR [--runs N] [--quick] [--threads T] [--kinds ivfpq_r,ivfpq4_r] [--synth N]
                 [--stages]
"""
import argparse, json, math, os, re, shutil, subprocess, sys, tempfile, time
from contextlib import contextmanager
import numpy as np
import faiss
from bench_common import (Run, datasets, first_line, machine, read_vecs, recall_at_10, search_seconds,
                          write_fvecs)


def search_cpu_seconds(err):
    """The `search cpu S s` of vdb-query -v (the process's CPU time around the search)."""
    m = re.search(r"\bsearch cpu\s+([0-9.]+(?:[eE][-+]?[0-9]+)?)\s*s\b", err)
    return float(m.group(1)) if m and float(m.group(1)) > 0 else None

K = 10
TARGETS = (0.90, 0.95)
SWEEP_TO = 0.99         # the sweep goes on to this recall (or nlist, or a plateau)
PLATEAU = 0.002         # ... and stops once a doubling of nprobe gains less than this (PQ-bound)
REFINE = 4
REFINE4 = REFINE        # vdb --pq-bits 4 (twice the sub-quantizers: the same code bytes): its refine
TIMED_QUERIES = 10_000  # small query sets are repeated up to this many for timing
PQ_M = {128: 16, 100: 10}
SYSTEMS = ("vdb", "faiss")


@contextmanager
def captured_stderr(sink):
    """FAISS's C++ warnings (k-means with few points per centroid) go to fd 2: collect them."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as f:
        os.dup2(f.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            f.seek(0)
            sink.extend(l.strip() for l in f.read().decode(errors="replace").splitlines() if l.strip())


def read_ivecs_ragged(path, nq):
    """vdb-query -O ivecs: one record per query, fewer than k ids when the probed lists hold fewer."""
    raw = np.fromfile(path, dtype="<i4")
    ids = np.full((nq, K), -1, dtype=np.int64)
    pos = i = 0
    while pos < len(raw):
        n = int(raw[pos])
        ids[i, :min(n, K)] = raw[pos + 1:pos + 1 + min(n, K)]
        pos += 1 + n
        i += 1
    if i != nq:
        sys.exit(f"bench: {path}: {i} result records for {nq} queries")
    return ids


def recall_tie_aware(ids, gt, base, q, metric):
    """Recall@10 counting a returned id as right when its exact (float64) distance is no worse
    than the 10th true neighbour's: ids swapped at a distance tie are not misses."""
    base, q = base.astype(np.float64), q.astype(np.float64)
    if metric == "cosine":
        base = base / np.maximum(np.linalg.norm(base, axis=1, keepdims=True), 1e-300)
        q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-300)
    hits = 0
    for i in range(len(q)):
        def dist(rows):
            v = base[rows]
            return -(v @ q[i]) if metric in ("cosine", "ip") else ((v - q[i]) ** 2).sum(axis=1)
        worst = dist(gt[i, :K]).max()
        got = [j for j in dict.fromkeys(ids[i, :K].tolist()) if j >= 0]
        hits += int((dist(got) <= worst + 1e-9 * max(1.0, abs(worst))).sum()) if got else 0
    return hits / (len(q) * K)


def nprobes(nlist):
    """1, 2, 3, 4, 6, 8, 12, ...: powers of two and the half-steps between them, then nlist. Half
    steps: on powers of two alone a recall that misses a target by a hair (WordNet's 4-bit codes:
    0.747 at nprobe 16 for 0.75) doubles the lists scanned, and the ratio at that target with it."""
    p, out = 1, []
    while p < nlist:
        out.append(p)
        if p >= 2 and p * 3 // 2 < nlist:
            out.append(p * 3 // 2)
        p *= 2
    return out + [nlist]


class Bench:
    def __init__(self, a, tmp):
        self.a, self.tmp, self.T = a, tmp, a.threads
        self.bin = os.environ["VDB_BIN"]
        self.faiss_warnings = set()
        self.faiss_params = None

    def vdb(self, name):
        return os.path.join(self.bin, name)

    # ---- FAISS ------------------------------------------------------------------------
    def faiss_build(self, kind, metric, d, nlist, m, base):
        ip = metric in ("cosine", "ip")
        mt = faiss.METRIC_INNER_PRODUCT if ip else faiss.METRIC_L2
        quant = faiss.IndexFlatIP(d) if ip else faiss.IndexFlatL2(d)
        if kind == "ivf":
            ivf = faiss.IndexIVFFlat(quant, d, nlist, mt)
        else:
            ivf = faiss.IndexIVFPQ(quant, d, nlist, m, 8, mt)
        index = ivf
        if kind in ("ivfpq_r", "ivfpq4_r"):  # the peer of vdb's 4-bit fast-scan: the same
            index = faiss.IndexRefineFlat(ivf)
            index.k_factor = REFINE
        if self.faiss_params is None and kind != "ivf":
            self.faiss_params = (f"FAISS training: coarse k-means {ivf.cp.niter} iterations on at most "
                                 f"{ivf.cp.max_points_per_centroid} points per centroid, seed {ivf.cp.seed}; "
                                 f"PQ k-means {ivf.pq.cp.niter} iterations on at most "
                                 f"{ivf.pq.cp.max_points_per_centroid * 256:,} residuals; by_residual "
                                 f"{bool(ivf.by_residual)}.")
        faiss.omp_set_num_threads(self.T)
        warn = []
        with captured_stderr(warn):
            t0 = time.perf_counter()
            index.train(base)
            t1 = time.perf_counter()
            index.add(base)
            t2 = time.perf_counter()
        self.faiss_warnings.update(re.sub(r"\d+", "N", w) for w in warn)
        size = len(faiss.serialize_index(index))
        return (index, ivf, quant), t1 - t0, t2 - t1, size

    # ---- one dataset ----------------------------------------------------------------
    def dataset(self, name, metric, basef, qf, gt):
        tmp = self.tmp
        base, q = read_vecs(basef), read_vecs(qf)
        n, d = base.shape
        nq = len(q)
        nlist = int(round(4 * math.sqrt(n)))
        m = PQ_M.get(d) or max(x for x in range(1, d // 8 + 1) if d % x == 0)
        rep = max(1, math.ceil(TIMED_QUERIES / nq))
        qrep = os.path.join(tmp, "q_rep.fvecs")
        write_fvecs(qrep, np.tile(q, (rep, 1)))
        fbase, fq = base.copy(), q.copy()
        if metric == "cosine":
            faiss.normalize_L2(fbase)
            faiss.normalize_L2(fq)
        fq_rep = np.ascontiguousarray(np.tile(fq, (rep, 1)))
        kinds = [("ivf", "IVF-Flat", ["--type", "ivf"]),
                 ("ivfpq", f"IVF-PQ m {m}x8", ["--type", "ivfpq", "--pq-m", str(m)]),
                 ("ivfpq_r", f"IVF-PQ m {m}x8 + refine {REFINE}",
                  ["--type", "ivfpq", "--pq-m", str(m), "--refine", str(REFINE)])]
        m4 = 2 * m if d % (2 * m) == 0 else m
        kinds.append(("ivfpq4_r", f"vdb IVF-PQ m {m4}x4 fast-scan + refine {REFINE4} (FAISS: m {m}x8 + refine {REFINE})",
                      ["--type", "ivfpq", "--pq-m", str(m4), "--pq-bits", "4", "--refine", str(REFINE4)]))
        kinds = [k for k in kinds if not self.a.kinds or k[0] in self.a.kinds.split(",")]
        print(f"\n## {name}\n")
        print(f"nlist {nlist} (4 sqrt(n), passed to both); PQ m {m}, 8 bits."
              + (f" Searches timed on the {nq:,} queries repeated {rep}x ({nq * rep:,} searches)." if rep > 1 else ""))
        sanity = None
        runs = {}
        for kind, label, vargs in kinds:
            R = self.kind(kind, metric, basef, qf, qrep, fbase, fq, fq_rep, gt, n, d, nq, rep, nlist, m, vargs)
            runs[kind] = R
            if kind == "ivf" and not R["vdb"]["na"]:
                sanity = self.sanity(R["vdb"], metric, qf, base, q, gt, nq, nlist)
            self.report(label, nlist, R)
        if sanity:
            print(sanity)
        self.fast_scan_ratio(runs)
        sys.stdout.flush()

    def stages(self, R, info, ivf, metric, fbase, fq, gt, nlist):
        """--stages: where each system loses the true top 10 (gt), at the same nprobe. Coarse: the
        share lying in the probed lists (vdb: the nearest centroids by Euclidean distance, the query
        normalised for cosine, as vdb_ivf_probe; FAISS: its quantizer's search). Codes: the share the
        code distances (centroid + decoded residual, against the query) rank within the k x refine
        candidates of those lists, what the exact re-ranking then keeps. vdb's lists, codes and
        codebooks are read from the index file's sections (--info gives their offsets)."""
        refine = info.get("refine") or 1
        c = K * refine
        sec = {x["kind"]: x for x in info["sections"]}
        raw = np.memmap(R["vdb"]["path"], dtype=np.uint8, mode="r")

        def part(kind, dt):
            x = sec[kind]
            return np.frombuffer(raw[x["offset"]:x["offset"] + x["length"]], dtype=dt)
        n, d = fbase.shape
        qz, m = info["quantizer"], info["quantizer"]["m"]
        ds = qz["dsub"]
        cent = part("IVCE", "<f4").reshape(nlist, d)
        off, row = part("IVOF", "<u8").astype(np.int64), part("IVRW", "<u4").astype(np.int64)
        cb = part("PQCB", "<f4").reshape(m, 256, ds)
        codes = part("PQCO", "u1").reshape(n, m)
        pos_list = np.repeat(np.arange(nlist), np.diff(off))
        rec = cent[pos_list].copy()
        for j in range(m):
            rec[:, j * ds:(j + 1) * ds] += cb[j][codes[:, j]]
        lists = {"vdb": [row[off[l]:off[l + 1]] for l in range(nlist)]}
        recon = {"vdb": np.empty_like(rec)}
        recon["vdb"][row] = rec
        qs = fq / np.linalg.norm(fq, axis=1, keepdims=True) if metric == "cosine" else fq
        c64 = cent.astype(np.float64)
        cd = (c64 ** 2).sum(1)[None] - 2 * qs.astype(np.float64) @ c64.T  # + |q|^2: the same order
        probe = {"vdb": np.argsort(cd, axis=1, kind="stable")}
        inv = ivf.invlists
        lists["faiss"] = [faiss.rev_swig_ptr(inv.get_ids(l), inv.list_size(l)).copy()
                          for l in range(nlist)]
        ivf.make_direct_map()
        recon["faiss"] = ivf.reconstruct_n(0, n)
        ivf.set_direct_map_type(faiss.DirectMap.NoMap)
        out = []
        for npr in [p_ for p_ in (4, 8, 16, 32, 64) if p_ < nlist]:
            probe["faiss"] = ivf.quantizer.search(fq, npr)[1]
            cells = []
            for s in SYSTEMS:
                cov = kept = 0
                for i in range(len(fq)):
                    rows = np.concatenate([lists[s][l] for l in probe[s][i, :npr] if l >= 0])
                    v = recon[s][rows]
                    key = -(v @ fq[i]) if metric in ("cosine", "ip") else ((v - fq[i]) ** 2).sum(axis=1)
                    best = rows[np.argsort(key, kind="stable")[:c]]
                    cov += np.isin(gt[i, :K], rows).sum()
                    kept += np.isin(gt[i, :K], best).sum()
                t = K * len(fq)
                cells.append(f"{s} {cov / t:.3f} / {kept / max(cov, 1):.3f} / {kept / t:.3f}")
            out.append(f"nprobe {npr}: " + ", ".join(cells))
        print(f"- stages (true top 10 in the probed lists / of those, within the best {c} by code / "
              f"both): " + "; ".join(out))

    def sanity(self, r, metric, qf, base, q, gt, nq, nlist):
        """vdb ivf probing every list is exact: recall@10 must be 1.000 (ids swapped at a
        distance tie aside)."""
        out = os.path.join(self.tmp, "res.ivecs")
        p = Run([self.vdb("vdb-query"), "-x", r["path"], "-k", str(K), "--nprobe", str(nlist),
                 "-t", str(self.T), "-O", "ivecs", qf], stdout_path=out)
        if p.rc != 0:
            return f"- sanity: vdb ivf at nprobe = nlist ({nlist}): vdb-query exited with {p.rc}: {first_line(p.err)}"
        ids = read_ivecs_ragged(out, nq)
        rec = recall_at_10(ids, gt)
        ties = recall_tie_aware(ids, gt, base, q, metric)
        verdict = "ok" if ties == 1.0 else "WRONG: the ivf index probing all lists must be exact"
        return (f"- sanity: vdb ivf recall@10 at nprobe = nlist ({nlist}): {rec:.3f} by ids, {ties:.3f} "
                f"counting ties at the 10th distance ({verdict}).")

    def kind(self, kind, metric, basef, qf, qrep, fbase, fq, fq_rep, gt, n, d, nq, rep, nlist, m, vargs):
        a, T, tmp = self.a, self.T, self.tmp
        path = os.path.join(tmp, f"index.{kind}.vdb")
        R = {s: {"build": math.inf, "build_wall": math.inf, "train": None, "add": None, "bytes": None,
                 "bpv_info": None, "sweep": [], "qps": {}, "cpu_qps": {}, "wall_qps": {}, "one": {}, "na": None,
                 "stop": None}
             for s in SYSTEMS}
        R["vdb"]["path"] = path
        fidx = None

        def order(run):  # the systems alternate: each run starts with the next one
            return SYSTEMS[run % 2:] + SYSTEMS[:run % 2]

        # builds
        for run in range(a.runs):
            for s in order(run):
                r = R[s]
                if r["na"]:
                    continue
                if s == "faiss":
                    fidx = None  # free the previous one first
                    fidx, tt, ta, size = self.faiss_build(kind, metric, d, nlist, m, fbase)
                    if tt + ta < r["build"]:
                        r["train"], r["add"] = tt, ta
                    r["build"] = min(r["build"], tt + ta)
                    r["bytes"] = size
                else:
                    p = Run([self.vdb("vdb-build")] + vargs + ["--nlist", str(nlist), "-m", metric,
                            "-t", str(T), "-v", "-o", path, basef])
                    if p.rc != 0:
                        r["na"] = f"vdb-build exited with {p.rc}: {first_line(p.err)}"
                        continue
                    mm = re.search(r"\bbuild ([0-9.]+) s\b", p.err)
                    t = float(mm.group(1)) if mm else p.wall
                    r["build_from_summary"] = bool(mm)
                    r["summary"] = first_line(p.err)
                    r["build"] = min(r["build"], t)
                    r["build_wall"] = min(r["build_wall"], p.wall)
                    r["bytes"] = os.path.getsize(path)
        info = None
        if not R["vdb"]["na"]:
            p = Run([self.vdb("vdb-query"), "-x", path, "--info"])
            try:
                info = json.loads(p.out) if p.rc == 0 else None
            except ValueError:
                info = None
            R["vdb"]["bpv_info"] = info.get("bytes_per_vector") if info else None
        index, ivf, _ = fidx
        sizes = np.array([ivf.invlists.list_size(i) for i in range(nlist)])
        R["faiss"]["lists"] = (int(sizes.min()), int(sizes.max()), int((sizes == 0).sum()))
        ls = (info or {}).get("list_sizes")
        if ls:
            R["vdb"]["lists"] = (ls.get("min"), ls.get("max"), ls.get("empty"))

        if a.stages and info and kind != "ivf" and not R["vdb"]["na"]:
            R["stages"] = (info, ivf, metric, fbase, fq, gt, nlist)

        # recall sweep (on --threads threads: recall does not depend on them)
        for s in SYSTEMS:
            r = R[s]
            seen = {}
            for npr in nprobes(nlist):
                if r["na"]:
                    break
                if s == "faiss":
                    ivf.nprobe = npr
                    faiss.omp_set_num_threads(T)
                    ids = index.search(fq, K)[1]
                else:
                    out = os.path.join(tmp, "res.ivecs")
                    p = Run([self.vdb("vdb-query"), "-x", path, "-k", str(K), "--nprobe", str(npr),
                             "-t", str(T), "-O", "ivecs", qf], stdout_path=out)
                    if p.rc != 0:
                        r["na"] = f"vdb-query --nprobe {npr} exited with {p.rc}: {first_line(p.err)}"
                        break
                    ids = read_ivecs_ragged(out, nq)
                rec = recall_at_10(ids, gt)
                r["sweep"].append((npr, rec))
                seen[npr] = rec
                if rec >= SWEEP_TO:
                    r["stop"] = f"reached {SWEEP_TO:.2f}"
                    break
                half = seen.get(npr // 2) if npr % 2 == 0 else None
                if half is not None and npr >= 16 and rec - half < PLATEAU:
                    r["stop"] = f"plateau (+{rec - half:.4f} over the last doubling)"
                    break
        # where a target is missed (PQ-bound recall), also compare at the highest multiple of 0.05
        # both reach with some margin (97% of the lower of the two best recalls)
        best = [max((rc for _, rc in R[s]["sweep"]), default=0) for s in SYSTEMS if not R[s]["na"]]
        targets = TARGETS + ((SWEEP_TO,) if kind == "ivf" else ())  # ivf is exact: 0.99 is reached
        if best and min(best) < max(TARGETS):
            common = math.floor(20 * 0.97 * min(best) + 1e-9) / 20
            if common > 0 and common not in TARGETS:
                targets = tuple(sorted(TARGETS + (common,)))
                R["common"] = common
        R["targets"] = targets
        for s in SYSTEMS:
            r = R[s]
            r["chosen"] = {t: next(((p_, rc) for p_, rc in r["sweep"] if rc >= t), None) for t in targets}
        timed = {s: sorted({h[0] for h in R[s]["chosen"].values() if h}) for s in SYSTEMS}

        # timed searches, best of --runs, systems alternating
        for run in range(a.runs):
            for s in order(run):
                r = R[s]
                if r["na"]:
                    continue
                for npr in timed[s]:
                    for t in (1, T):
                        if s == "faiss":
                            ivf.nprobe = npr
                            faiss.omp_set_num_threads(t)
                            t0, c0 = time.perf_counter(), time.process_time()
                            index.search(fq_rep, K)
                            sec, cpu = time.perf_counter() - t0, time.process_time() - c0
                        else:
                            p = Run([self.vdb("vdb-query"), "-x", path, "-k", str(K), "--nprobe", str(npr),
                                     "-t", str(t), "-v", qrep])
                            if p.rc != 0:
                                r["na"] = f"vdb-query -t {t} --nprobe {npr} exited with {p.rc}: {first_line(p.err)}"
                                break
                            sec, cpu = search_seconds(p.err), search_cpu_seconds(p.err)
                            if sec is None:
                                sec, r["no_search_time"] = p.wall, True
                            r["wall_qps"][(npr, t)] = max(r["wall_qps"].get((npr, t), 0), nq * rep / p.wall)
                        r["qps"][(npr, t)] = max(r["qps"].get((npr, t), 0), nq * rep / sec)
                        if t == 1 and cpu:  # one thread: CPU time is the time, less the machine's load
                            r["cpu_qps"][npr] = max(r["cpu_qps"].get(npr, 0), nq * rep / cpu)
                    if kind == "ivf":  # one query at a time: vdb splits its lists across threads
                        for t in (1, T):
                            sec = self.one_at_a_time(s, path, ivf, index, fq, qf, npr, t)
                            if sec:
                                r["one"][(npr, t)] = max(r["one"].get((npr, t), 0), nq / sec)
        faiss.omp_set_num_threads(T)
        R["n"], R["d"] = n, d
        return R

    def call_cost(self, d):
        """CPU seconds of one FAISS search() call from Python that does almost nothing (a 1-row
        IndexFlatL2, k 10): what the one-at-a-time loop pays per query beyond the search, which
        vdb-query -b 1's `search S s` does not count (it times the library calls only)."""
        if getattr(self, "_call_cost", None) is None:
            ix = faiss.IndexFlatL2(d)
            ix.add(np.zeros((1, d), dtype=np.float32))
            q = np.zeros((1, d), dtype=np.float32)
            faiss.omp_set_num_threads(1)
            best = math.inf
            for _ in range(self.a.runs):
                c0 = time.process_time()
                for _ in range(2000):
                    ix.search(q, K)
                best = min(best, (time.process_time() - c0) / 2000)
            self._call_cost = best
        return self._call_cost

    def one_at_a_time(self, s, path, ivf, index, fq, qf, npr, t):
        """Seconds to answer the queries one at a time on t threads (vdb-query -b 1; FAISS a
        search() call per query, which FAISS runs on one thread)."""
        if s == "faiss":
            ivf.nprobe = npr
            faiss.omp_set_num_threads(t)
            t0 = time.perf_counter()
            for i in range(len(fq)):
                index.search(fq[i:i + 1], K)
            return time.perf_counter() - t0
        p = Run([self.vdb("vdb-query"), "-x", path, "-k", str(K), "--nprobe", str(npr), "-b", "1",
                 "-t", str(t), "-v", qf])
        return search_seconds(p.err) if p.rc == 0 else None
    def fast_scan_ratio(self, runs):
        """vdb's 4-bit fast-scan over its own 8-bit ivfpq, both refined, at each recall both reach."""
        a, b = runs.get("ivfpq4_r"), runs.get("ivfpq_r")
        if not a or not b or a["vdb"]["na"] or b["vdb"]["na"]:
            return
        out = []
        for target in sorted(set(a["targets"]) | set(b["targets"])):
            for t in (1, self.T):
                q = []
                for R in (a, b):
                    hit = next(((p_, rc) for p_, rc in R["vdb"]["sweep"] if rc >= target), None)
                    q.append(R["vdb"]["qps"].get((hit[0], t)) if hit else None)
                if q[0] and q[1]:
                    out.append(f"@{target:.2f} {t}t {q[0] / q[1]:.2f}")
        print(f"- vdb 4-bit fast-scan + refine {REFINE4} over vdb 8-bit + refine {REFINE}, q/s at equal recall: "
              + (", ".join(out) or "no recall target reached by both (or not timed)"))

    # ---- the table --------------------------------------------------------------------
    def report(self, label, nlist, R):
        T, n = self.T, R["n"]
        na = {s: R[s]["na"] is not None for s in SYSTEMS}
        rows = []

        def row(name, key, fmt, ratio=True):
            vals = {s: (None if na[s] else key(R[s])) for s in SYSTEMS}
            cells = ["n/a" if v is None or v == math.inf else fmt(v) for v in vals.values()]
            v, w = vals["vdb"], vals["faiss"]
            ok = v not in (None, math.inf) and w not in (None, math.inf, 0)
            rows.append([name] + cells + [("-" if not ratio else f"{v / w:.2f}" if ok else "n/a")])

        row(f"train + build s ({T} threads)", lambda r: r["build"], lambda v: f"{v:.2f}")
        row("bytes/vector (vdb: --info; FAISS: serialized / n)",
            lambda r: r["bpv_info"] if "path" in r else r["bytes"] / n, lambda v: f"{v:.1f}", ratio=False)
        row("index bytes/vector (file or serialized size / n)",
            lambda r: r["bytes"] / n if r["bytes"] else None, lambda v: f"{v:.1f}")
        for target in R["targets"]:
            for t in (1, T):
                cells, vals = [], {}
                for s in SYSTEMS:
                    r = R[s]
                    if na[s]:
                        cells.append("n/a")
                        continue
                    hit = r["chosen"].get(target)
                    if not hit:
                        npr, rec = max(r["sweep"], key=lambda x: x[1]) if r["sweep"] else (None, 0)
                        cells.append(f"not reached (max {rec:.3f}, nprobe {npr})")
                        continue
                    npr, rec = hit
                    vals[s] = r["qps"].get((npr, t))
                    star = "*" if s == "vdb" and r.get("no_search_time") else ""
                    cells.append(f"{vals[s]:,.0f}{star} (nprobe {npr}, {rec:.3f})" if vals[s] else "n/a")
                v, w = vals.get("vdb"), vals.get("faiss")
                cells.append(f"{v / w:.2f}" if v and w else "n/a")
                common = " (common)" if target == R.get("common") else ""
                rows.append([f"q/s @{target:.2f}{common}, {t} thread{'s' if t > 1 else ''}"] + cells)
                if t == 1:
                    cpu = {s: R[s]["cpu_qps"].get(R[s]["chosen"][target][0])
                           if not na[s] and R[s]["chosen"].get(target) else None for s in SYSTEMS}
                    v, w = cpu["vdb"], cpu["faiss"]
                    rows.append([f"q per CPU s @{target:.2f}{common}, 1 thread"]
                                + [f"{x:,.0f}" if x else "n/a" for x in (v, w)]
                                + [f"{v / w:.2f}" if v and w else "n/a"])
                if R["vdb"]["one"] or R["faiss"]["one"]:
                    one = {s: R[s]["one"].get((R[s]["chosen"][target][0], t))
                           if not na[s] and R[s]["chosen"].get(target) else None for s in SYSTEMS}
                    v, w = one["vdb"], one["faiss"]
                    rows.append([f"q/s @{target:.2f}, one query at a time, {t} thread{'s' if t > 1 else ''}"]
                                + [f"{x:,.0f}" if x else "n/a" for x in (v, w)]
                                + [f"{v / w:.2f}" if v and w else "n/a"])

        print(f"\n### {label}, nlist {nlist}\n")
        print("| measure | vdb | FAISS | vdb/FAISS |")
        print("|---|---|---|---|")
        for r in rows:
            print("| " + " | ".join(r) + " |")
        print()
        for s, lab in (("vdb", "vdb"), ("faiss", "FAISS")):
            r = R[s]
            if r["na"]:
                print(f"- {lab}: n/a ({r['na']})")
                continue
            sweep = ", ".join(f"{p} {rec:.3f}" for p, rec in r["sweep"])
            stop = f" (stopped: {r['stop']})" if r["stop"] else ""
            print(f"- {lab} recall@10 by nprobe: {sweep}{stop}")
        if not na["vdb"]:
            v = R["vdb"]
            what = ("`build S s` of the -v summary" if v.get("build_from_summary") else
                    "the whole vdb-build command")
            print(f"- vdb build: {what}; whole command {v['build_wall']:.2f} s; summary: `{v.get('summary', '')}`")
            whole = []
            for target in R["targets"]:
                hit = v["chosen"].get(target)
                if hit:
                    for t in (1, T):
                        w = v["wall_qps"].get((hit[0], t))
                        if w:
                            whole.append(f"@{target:.2f} {t}t {w:,.0f}")
            if whole:
                print(f"- vdb-query as a whole command (start to exit, reading the queries and the index "
                      f"included), q/s: {', '.join(whole)}")
            if v.get("no_search_time"):
                print("- *: vdb-query -v printed no `search S s`: whole-command time used")
        if not na["faiss"]:
            f = R["faiss"]
            print(f"- FAISS build: train {f['train']:.2f} s + add {f['add']:.2f} s")
            if f["one"]:
                print(f"- one query at a time: FAISS's time includes Python's cost of each search() call, "
                      f"about {self.call_cost(R['d']) * 1e6:.1f} us of CPU (a call on a 1-row IndexFlatL2); "
                      f"vdb's counts its library calls only")
        if R.get("stages"):
            self.stages(R, *R["stages"])
        ls = [f"{lab} {R[s]['lists'][0]}..{R[s]['lists'][1]}, {R[s]['lists'][2]} empty"
              for s, lab in (("vdb", "vdb"), ("faiss", "FAISS")) if not na[s] and R[s].get("lists")]
        if ls:
            print(f"- list sizes (min..max, mean {n / nlist:.1f}): {'; '.join(ls)}")
        sys.stdout.flush()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--threads", type=int, default=2, help="threads of builds and batch searches")
    p.add_argument("--quick", action="store_true", help="skip the 100k synthetic set")
    p.add_argument("--kinds", help="only these, comma-separated: ivf, ivfpq, ivfpq_r, ivfpq4_r")
    p.add_argument("--synth", type=int, help="the synthetic set's size (default 100k)")
    p.add_argument("--stages", action="store_true",
                   help="ivfpq: where each system loses the true top 10, lists or codes (see Bench.stages)")
    a = p.parse_args()
    started = time.perf_counter()
    tmp = tempfile.mkdtemp(prefix="vdb-bench-ivf-")
    try:
        sets = datasets(a.data, tmp, a.quick, a.threads, K, synth_n=a.synth)
        bin_ = os.environ["VDB_BIN"]
        ver = subprocess.run([os.path.join(bin_, "vdb-query"), "--version"], capture_output=True,
                             text=True).stdout.strip()
        cpu, simd = machine()
        print(f"# IVF: vdb ivf / ivfpq vs FAISS IndexIVFFlat / IndexIVFPQ / IndexRefineFlat(IndexIVFPQ) — k {K}")
        print(f"{ver}; FAISS {faiss.__version__} (Debian python3-faiss)")
        print(f"CPU {cpu}, {os.cpu_count()} cores ({simd}); builds and batch searches on {a.threads} threads; "
              f"best of {a.runs} runs, the systems alternating.")
        print(f"\n- the same nlist (4 sqrt(n), rounded), PQ m (8-bit codes, residuals) and nprobe on both sides; "
              f"refine {REFINE}: vdb --refine {REFINE}, FAISS IndexRefineFlat with k_factor {REFINE}.")
        print("- cosine: FAISS gets normalised base and queries, METRIC_INNER_PRODUCT and an IndexFlatIP coarse "
              "quantizer; vdb gets the raw vectors and -m cosine.")
        print("- train + build: vdb the `build S s` of vdb-build -v; FAISS train() + add(), in memory.")
        print("- bytes/vector: vdb --info's bytes_per_vector, and the index file size / n; FAISS the size of "
              "faiss.serialize_index / n (codes or vectors, 8-byte ids, centroids, codebooks).")
        print(f"- q/s: the search loop only, queries in memory (vdb: the `search S s` of vdb-query -v; FAISS: "
              f"index.search); each cell is the smallest nprobe of the sweep 1, 2, 3, 4, 6, 8, 12, ... (powers of "
              f"two and the half-steps between), nlist "
              f"that reaches the recall@10 target, and the recall it reached. The sweep stops at recall "
              f"{SWEEP_TO:.2f}, at nlist, or (from nprobe 16) when doubling nprobe gains less than {PLATEAU}.")
        print("- q per CPU s (1 thread): the queries over the CPU time of the search (vdb: the `search cpu S s` "
              "of vdb-query -v; FAISS: the process's CPU time around index.search on one OpenMP thread): on a "
              "loaded machine the fairer figure.")
        print("- (common): where a target is not reached (PQ-bound recall), also the highest multiple of 0.05 "
              "below 97% of the lower of the two systems' best recalls.")
        print("- ratios: vdb's figure over FAISS's: above 1 is better for q/s, worse for s and bytes. The --info "
              "row has none: vdb's per-vector payload is not FAISS's whole serialized index.")
        bench = Bench(a, tmp)
        for name, metric, basef, qf, gt in sets:
            bench.dataset(name, metric, basef, qf, gt())
        print()
        if bench.faiss_params:
            print(f"- {bench.faiss_params}")
        for w in sorted(bench.faiss_warnings):
            print(f"- FAISS said (numbers elided): `{w}`")
        print(f"\nTotal {time.perf_counter() - started:.0f} s.")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
