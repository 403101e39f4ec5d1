"""Helpers shared by the scripts/bench_*.py benchmarks: TEXMEX files and synthetic data."""
import numpy as np


def read_vecs(path, dtype="<f4"):
    """An fvecs (dtype "<f4") or ivecs ("<i4") file as an n x d array."""
    raw = np.fromfile(path, dtype="<i4")
    d = raw[0]
    return raw.reshape(-1, d + 1)[:, 1:].view(dtype).copy()


def write_fvecs(path, x):
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
