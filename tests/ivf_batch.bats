#!/usr/bin/env bats
# ivf's batch scan (a batch of 32 or more queries whose lists are chosen
# together, no filter): the lists are read list by list, each in blocks for
# every query that probes it, the lists split across threads. Its answers
# must be those of a reference over each query's probed lists.

load helpers

# listed_ref INDEX BASE QUERIES K NPROBE METRIC: per query, the ids of the K
# rows nearest it (l2: squared distance; ip: minus the dot product, in
# double; ties by row) among those of its NPROBE lists nearest by squared
# distance to their centroids (ties by list number), the lists (IVCE, IVOF,
# IVRW) read from the file with numpy; rows are the base's, by number.
listed_ref() {
  local ce of rw
  ce=$(section_at "$1" IVCE); of=$(section_at "$1" IVOF); rw=$(section_at "$1" IVRW)
  /usr/bin/python3 - "$@" "$ce" "$of" "$rw" <<'PY'
import sys
import numpy as np
ix, basef, qf, k, nprobe, metric = sys.argv[1:7]
k, nprobe = int(k), int(nprobe)
raw = open(ix, "rb").read()
def section(arg, dt):
    off, ln = map(int, arg.split())
    return np.frombuffer(raw[off:off + ln], dtype=dt)
def vecs(f):
    a = np.fromfile(f, dtype="<f4")
    return a.reshape(-1, a[:1].view("<i4")[0] + 1)[:, 1:].astype(np.float64)
base, q = vecs(basef), vecs(qf)
cent = section(sys.argv[7], "<f4").astype(np.float64).reshape(-1, q.shape[1])
off, row = section(sys.argv[8], "<u8"), section(sys.argv[9], "<u4")
for x in q:
    dl = ((cent - x) ** 2).sum(1)
    lists = sorted(range(len(cent)), key=lambda l: (dl[l], l))[:nprobe]
    rows = np.concatenate([row[off[l]:off[l + 1]] for l in lists]).astype(np.int64)
    dr = ((base[rows] - x) ** 2).sum(1) if metric == "l2" else -(base[rows] @ x)
    print(" ".join(str(r) for _, r in sorted(zip(dr.tolist(), rows.tolist()))[:k]))
PY
}

@test "a batch's lists scanned list by list, in blocks, on 1 and 2 threads: the k best of each query's probed lists" {
  # 2048-d: a list is ranked 8 rows at a time for each of its queries (64
  # KiB); 16 lists of about 40 rows; integer values: exact ties
  random_fvecs base.fvecs 640 2048 51 4
  random_fvecs q.fvecs 40 2048 52 4
  for m in l2 ip; do
    vdb-build -q -T ivf -m $m --nlist 16 -t 1 -o x.vdb base.fvecs
    for np in 1 3 16; do
      for k in 5 20; do
        listed_ref x.vdb base.fvecs q.fvecs $k $np $m >want
        for t in 1 2; do
          vdb-query -x x.vdb -k $k --nprobe $np -t $t q.fvecs | ids_of >got
          diff want got
        done
      done
    done
  done
}

@test "a batch's scan: lists every query probes, lists none does, the work split unevenly" {
  # 1200 rows in 3 far apart groups of 400 (values 0..2 plus 0, 50 or 100),
  # 64 lists; the queries all near the first group: its lists are probed by
  # every query, the others by none, and the 2 threads' runs of lists are
  # cut by the work in those
  perl -e 'srand(61); for my $i (0..1199) { my $g = 50 * int($i / 400);
           print pack("l<", 512), pack("f<*", map { $g + int(rand(3)) } 1..512); }' >base.fvecs
  perl -e 'srand(62); for (1..36) { print pack("l<", 512), pack("f<*", map { int(rand(3)) } 1..512); }' >q.fvecs
  vdb-build -q -T ivf --nlist 64 -t 1 -o x.vdb base.fvecs
  for np in 2 5 30; do
    listed_ref x.vdb base.fvecs q.fvecs 8 $np l2 >want
    # every query's lists hold 8 rows or more (else it would be searched again, wider)
    [ "$(awk 'NF != 8' want | wc -l)" = 0 ]
    for t in 1 2; do
      vdb-query -x x.vdb -k 8 --nprobe $np -t $t q.fvecs | ids_of >got
      diff want got
    done
  done
}
