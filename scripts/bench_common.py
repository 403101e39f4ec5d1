"""Helpers shared by the scripts/bench_*.py benchmarks: TEXMEX files, synthetic data, the
datasets, child processes and recall."""
import os, platform, re, subprocess, sys, tempfile, time
import numpy as np


def read_vecs(path, dtype="<f4"):
    """An fvecs (dtype "<f4") or ivecs ("<i4") file as an n x d array."""
    raw = np.fromfile(path, dtype="<i4")
    d = raw[0]
    return raw.reshape(-1, d + 1)[:, 1:].view(dtype).copy()


def write_fvecs(path, x):
    """x as fvecs rows to path (a file name, or an open binary file: appended there)."""
    n, d = x.shape
    out = np.empty((n, d + 1), dtype="<i4")
    out[:, 0] = d
    out[:, 1:] = np.ascontiguousarray(x, dtype="<f4").view("<i4")
    out.tofile(path)


def clustered(sizes, dim=128, clusters=1000, seed=42):
    """Gaussian clusters (centres spread 3x wider than the clusters): one float32 array per
    size in sizes, drawn in that order from one generator (so the same seed and sizes always
    give the same arrays)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(clusters, dim)).astype(np.float32) * 3
    return [centers[rng.integers(0, clusters, n)] + rng.normal(size=(n, dim)).astype(np.float32)
            for n in sizes]


class Run:
    """One finished child process: exit status, wall seconds (spawn to exit), stdout and
    stderr; with rss=True also its peak RSS in bytes, from GNU time's %M. (The peak that
    wait4 reports for a child of this process would start from the RSS of this Python,
    which the child has until it execs; GNU time's own child starts from a small one.)"""

    def __init__(self, cmd, stdout_path=None, rss=False):
        self.cmd, self.maxrss = cmd, None
        with tempfile.TemporaryFile() as fo, tempfile.TemporaryFile() as fe, \
                tempfile.NamedTemporaryFile("r") as ft, open(stdout_path or os.devnull, "wb") as fs:
            if rss:
                cmd = ["/usr/bin/time", "-f", "%M", "-o", ft.name] + cmd
            t0 = time.perf_counter()
            self.rc = subprocess.run(cmd, stdout=fo if stdout_path is None else fs, stderr=fe).returncode
            self.wall = time.perf_counter() - t0
            fo.seek(0)
            fe.seek(0)
            self.out, self.err = fo.read().decode(errors="replace"), fe.read().decode(errors="replace")
            if rss:
                kib = ft.read().split()
                self.maxrss = int(kib[-1]) * 1024 if kib and kib[-1].isdigit() else None

    def check(self):
        if self.rc != 0:
            sys.exit(f"bench: {' '.join(self.cmd)} exited with {self.rc}:\n{self.err}")
        return self

    def field(self, name):
        m = re.search(rf"^{name} (\S+)$", self.out, re.M)
        return float(m.group(1)) if m else None


def faiss_flat(base, metric):
    """A FAISS IndexFlat holding base (normalised first for cosine, which is then the inner
    product): the exact reference. base is not modified."""
    import faiss
    b = np.ascontiguousarray(base, dtype=np.float32)
    if metric == "cosine":
        b = b.copy()
        faiss.normalize_L2(b)
        index = faiss.IndexFlatIP(b.shape[1])
    else:
        index = faiss.IndexFlatL2(b.shape[1])
    index.add(b)
    return index


def recall_at_10(ids, gt, K=10):
    ids, gt = np.asarray(ids)[:, :K], np.asarray(gt)[:, :K]
    hits = (ids[:, :, None] == gt[:, None, :]).any(axis=2)
    return hits.sum() / gt.size


def search_seconds(err):
    m = re.search(r"\bsearch\s+([0-9.]+(?:[eE][-+]?[0-9]+)?)\s*s\b", err)
    return float(m.group(1)) if m and float(m.group(1)) > 0 else None


def first_line(text):
    return next((l.strip() for l in text.splitlines() if l.strip()), "")


FASHION = "/usr/share/datasets/fashion-mnist"


def read_idx_images(path):
    """An IDX3 file of uint8 images (gzipped, as Debian's dataset-fashion-mnist ships them)
    as an n x (rows*cols) float32 array of the pixel values 0..255."""
    import gzip
    raw = gzip.open(path, "rb").read()
    n, rows, cols = (int.from_bytes(raw[i:i + 4], "big") for i in (4, 8, 12))
    if int.from_bytes(raw[:4], "big") != 0x803 or len(raw) != 16 + n * rows * cols:
        sys.exit(f"bench: {path}: not an IDX3 image file")
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, rows * cols).astype(np.float32)


def fashion_mnist(tmp, threads, nq=1000, k=10):
    """Fashion-MNIST (Debian's dataset-fashion-mnist) as a dataset tuple of datasets(): the
    60k training images as the base, the first nq test images as queries (784-d, l2), the
    ground truth from FAISS IndexFlatL2. None when the package is not installed."""
    train = os.path.join(FASHION, "train-images-idx3-ubyte.gz")
    test = os.path.join(FASHION, "t10k-images-idx3-ubyte.gz")
    if not os.path.exists(train):
        return None
    b, q = os.path.join(tmp, "fmnist_base.fvecs"), os.path.join(tmp, "fmnist_query.fvecs")
    base, queries = read_idx_images(train), read_idx_images(test)[:nq]
    write_fvecs(b, base)
    write_fvecs(q, queries)

    def gt():
        import faiss
        faiss.omp_set_num_threads(threads)
        return faiss_flat(base, "l2").search(queries, k)[1]
    return (f"Fashion-MNIST 60k x 784, l2, {nq:,} queries", "l2", b, q, gt)


def synthetic(tmp, threads, n, nq=10_000, k=10):
    """Gaussian clusters (clustered()), n x 128 base and nq queries written to TMP, as a
    dataset tuple of datasets(); its ground truth from FAISS IndexFlatL2."""
    b, q = os.path.join(tmp, f"syn{n}_base.fvecs"), os.path.join(tmp, f"syn{n}_query.fvecs")

    def gt():
        import faiss
        base, queries = clustered((n, nq))
        write_fvecs(b, base)
        write_fvecs(q, queries)
        faiss.omp_set_num_threads(threads)
        return faiss_flat(base, "l2").search(queries, k)[1]
    return (f"synthetic clustered {n:,} x 128 (1,000 clusters), l2, {nq:,} queries", "l2", b, q, gt)


def datasets(data, tmp, quick, threads, k=10, fashion=False, synth_n=None):
    """The benchmark datasets, as (name, metric, base.fvecs, queries.fvecs, ground-truth thunk):
    siftsmall and wordnet fastText from DATA when present, unless quick a synthetic clustered
    100k x 128 set written to TMP (synth_n: that size instead, even when quick), its ground
    truth from FAISS IndexFlatL2; with fashion, Fashion-MNIST 60k x 784 when installed. The
    synthetic files are written when its ground truth is first asked for."""
    out = []
    sift = os.path.join(data, "siftsmall")
    wn = os.path.join(data, "wordnet-fasttext")
    if os.path.isdir(sift):
        out.append(("siftsmall 10k x 128, l2, 100 queries", "l2",
                    os.path.join(sift, "siftsmall_base.fvecs"), os.path.join(sift, "siftsmall_query.fvecs"),
                    lambda: read_vecs(os.path.join(sift, "siftsmall_groundtruth.ivecs"), "<i4")))
    if os.path.isdir(wn):
        out.append(("wordnet fastText 26.6k x 100, cosine, 1,000 queries", "cosine",
                    os.path.join(wn, "wn100_base.fvecs"), os.path.join(wn, "wn100_query.fvecs"),
                    lambda: read_vecs(os.path.join(wn, "wn100_groundtruth_cosine.ivecs"), "<i4")))
    if synth_n or not quick:
        out.append(synthetic(tmp, threads, synth_n or 100_000, k=k))
    fm = fashion_mnist(tmp, threads, k=k) if fashion else None
    if fm:
        out.append(fm)
    return out


def machine():
    """The CPU's name, and which of avx2, fma, avx512f it has."""
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
               platform.processor())
    flags = next((l.split(":", 1)[1].split() for l in open("/proc/cpuinfo") if l.startswith("flags")), [])
    return cpu, ", ".join(f for f in ("avx2", "fma", "avx512f") if f in flags) or "none of avx2/fma/avx512f"
