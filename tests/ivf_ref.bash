# ivf_ref.bash — references over an ivf or ivfpq index's probed lists
# (tests/ivfpq_tables.bats, tests/ivf_batch.bats), computed with numpy from
# the lists read from the file (IVCE, IVOF, IVRW): a query's NPROBE lists are
# those nearest it by squared distance to their centroids (ties by list
# number), its rows ranked by exact distance (double; l2, or ip: minus the
# dot product) to their reconstructions REC (--dump, fvecs; or the base,
# for float32 rows), ties by row.

# probed_ref INDEX REC QUERIES K NPROBE [METRIC]: per query, the ids of the K
# rows nearest it among those of its NPROBE lists. Then one line: how many
# lists the queries before the last half probe; and one: how many queries
# a filter keeping the rows with row % 20 < 10 would search again wider
# (their lists hold fewer than half their rows, at least 2K, kept).
probed_ref() {
  lists_ref probed "$1" "$2" "$3" "$4" "$5" "${6:-l2}" 20
}

# filtered_ref INDEX REC QUERIES K NPROBE METRIC KEEP: as probed_ref, under a
# filter that keeps the rows with row % 20 < KEEP, and with the queries
# searched again wider as vdb_ivf_search_allowed does: a query whose lists
# hold fewer than half its target (the rows of its first NPROBE lists, at
# least 2 min(K, kept rows)) allowed, and fewer than every allowed row, is
# searched with its lists doubled until they hold as many as its share
# says are needed. Per query the ids of the K best allowed rows of its last
# lists; then one line: how many queries were searched again. On stderr:
# "passes N", the most passes a query took.
filtered_ref() {
  lists_ref filtered "$@"
}

lists_ref() {
  local ce of rw
  ce=$(section_at "$2" IVCE); of=$(section_at "$2" IVOF); rw=$(section_at "$2" IVRW)
  /usr/bin/python3 - "$@" "$ce" "$of" "$rw" <<'PY'
import sys
import numpy as np
mode, ix, recf, qf, k, nprobe, metric, keep = sys.argv[1:9]
k, nprobe, keep = int(k), int(nprobe), int(keep)
raw = open(ix, "rb").read()
def sec(arg, dt):
    off, ln = map(int, arg.split())
    return np.frombuffer(raw[off:off + ln], dtype=dt)
def fvecs(f):
    a = np.fromfile(f, dtype="<f4")
    d = a[:1].view("<i4")[0]
    return a.reshape(-1, d + 1)[:, 1:].astype(np.float64)
rec, q = fvecs(recf), fvecs(qf)
cent = sec(sys.argv[9], "<f4").astype(np.float64).reshape(-1, q.shape[1])
off, row = sec(sys.argv[10], "<u8"), sec(sys.argv[11], "<u4")
nlist = len(cent)
n_allow = int((np.arange(len(rec)) % 20 < keep).sum())
want = 2 * min(n_allow, k)
seen, wide, passes = set(), 0, 1
for i, x in enumerate(q):
    dl = ((cent - x) ** 2).sum(1)
    order = sorted(range(nlist), key=lambda l: (dl[l], l))
    def held(np_):
        rows = np.concatenate([row[off[l]:off[l + 1]] for l in order[:np_]])
        return rows, rows[rows % 20 < keep]
    np_ = min(nprobe, nlist)
    rows, kept = held(np_)
    if mode == "probed":
        if i < len(q) // 2:
            seen.update(order[:np_])
        wide += int((rows % 20 < 10).sum()) < (max(len(rows), 2 * k) + 1) // 2
    else:
        target, again, n = max(len(rows), want), False, 1
        while not (len(kept) >= (target + 1) // 2 or len(kept) >= n_allow or np_ >= nlist):
            n += 1
            passes = max(passes, n)
            need = np_ * target / max(len(kept), 1)
            v = np_ * 2
            while v < need and v < nlist:
                v *= 2
            np_, again = min(v, nlist), True
            rows, kept = held(np_)
        wide += again
    dr = ((rec[kept] - x) ** 2).sum(1) if metric == "l2" else -(rec[kept] @ x)
    print(" ".join(str(r) for _, r in sorted(zip(dr, kept))[:k]))
if mode == "probed":
    print(len(seen))
print(wide)
if mode == "filtered":
    print("passes", passes, file=sys.stderr)
PY
}
