#!/usr/bin/env bats
# ivfpq --pq-bits 4: 4-bit codes scanned in registers (fast-scan), re-ranked
# with --refine; every SIMD level gives the same answer; crafted files are
# refused or searched without a crash.

load helpers

@test "pq-bits 4: recall@10 after --refine 16 on sift2k is within 0.02 of 8-bit codes' at --refine 8, >= 0.95" {
  b=$D/sift2k_base.fvecs q=$D/sift_query20.fvecs gt=$D/sift2k_gt100_l2.ivecs
  vdb-build -q -T ivfpq --nlist 32 --pq-m 16 --pq-bits 4 --refine 16 -o p4.vdb "$b"
  vdb-build -q -T ivfpq --nlist 32 --pq-m 16 --refine 8 -o p8.vdb "$b"
  r4=$(recall10 p4.vdb "$q" "$gt" --nprobe 8)
  r8=$(recall10 p8.vdb "$q" "$gt" --nprobe 8)
  echo "4-bit $r4, 8-bit $r8"
  ge "$r4" 0.95
  ge "$r4" "$(awk -v r="$r8" 'BEGIN { print r - 0.02 }')"
}

@test "pq-bits 4 with refine covering every row and nprobe = nlist: exactly brute force (l2, ip, cosine)" {
  random_fvecs base.fvecs 300 16 7
  random_fvecs q.fvecs 6 16 8
  for m in l2 ip cosine; do
    vdb-build -q -T ivfpq -m $m --nlist 4 --pq-m 4 --pq-bits 4 --refine 60 -o x.vdb base.fvecs
    vdb-query -x x.vdb -k 5 --nprobe 4 q.fvecs | ids_of >got
    brute base.fvecs q.fvecs 5 $m >want
    diff want got
  done
}

@test "pq-bits 4: scalar, avx2 and avx512 kernels give identical results (codes only and refined)" {
  vdb-query --version | grep -q avx || skip "no x86 SIMD level here"
  b=$D/sift2k_base.fvecs q=$D/sift_query20.fvecs
  for r in 0 4; do
    vdb-build -q -T ivfpq --nlist 16 --pq-m 32 --pq-bits 4 --refine $r -o x.vdb "$b"
    VDB_SIMD=scalar vdb-query -x x.vdb -k 10 --nprobe 4 "$q" >scalar.out
    for lv in avx2 avx512; do
      VDB_SIMD=$lv vdb-query -x x.vdb -k 10 --nprobe 4 "$q" >$lv.out 2>/dev/null || continue
      cmp scalar.out $lv.out
    done
    grep -q '"ids"' scalar.out
  done
}

@test "pq-bits 4: --info says bits 4 and counts the packed codes and list tables; no PQPL stored (nor for 8 bits)" {
  b=$D/sift2k_base.fvecs
  vdb-build -q -T ivfpq --nlist 16 --pq-m 16 --pq-bits 4 -o p4.vdb "$b"
  vdb-build -q -T ivfpq --nlist 16 --pq-m 16 -o p8.vdb "$b"
  vdb-query -x p4.vdb --info >i4
  jq -e '.quantizer.bits == 4 and .quantizer.m == 16' i4
  # row number 4 + packed codes 16 x 4 bits = 12 bytes at least, plus the
  # tables (16 lists x 16 x 16 floats / 2000 rows = 8.2): more than 20
  jq -e '.bytes_per_vector > 20 and .bytes_per_vector < 40' i4
  [ -z "$(section_at p4.vdb PQPL)" ]
  [ -z "$(section_at p8.vdb PQPL)" ]
  b4=$(jq .bytes_per_vector i4) b8=$(vdb-query -x p8.vdb --info | jq .bytes_per_vector)
  ge "$b8" "$(awk -v b="$b4" 'BEGIN { print 4 * b }')"
  run -0 vdb-query -x p4.vdb --verify
}

@test "pq-bits 4: --append and --compact keep 4-bit codes; an appended row is found, a deleted one not" {
  head -c $((1000 * 516)) "$D/sift2k_base.fvecs" >a.fvecs
  tail -c $((1000 * 516)) "$D/sift2k_base.fvecs" >b.fvecs
  vdb-build -q -T ivfpq --nlist 16 --pq-m 16 --pq-bits 4 --refine 4 -o x.vdb a.fvecs
  vdb-build -q --append -x x.vdb b.fvecs
  jq -e '.count == 2000 and .quantizer.bits == 4' <(vdb-query -x x.vdb --info)
  head -c 516 b.fvecs >one.fvecs
  vdb-query -x x.vdb -k 1 --nprobe 16 one.fvecs | jq -e '.ids[0] == 1000'
  vdb-build -q --delete -x x.vdb <(echo 1000)
  vdb-build -q --compact -x x.vdb
  jq -e '.count == 1999 and .quantizer.bits == 4' <(vdb-query -x x.vdb --info)
  vdb-query -x x.vdb -k 1 --nprobe 16 one.fvecs | jq -e '.ids[0] != 1000'
  vdb-query -x x.vdb -k 1 --nprobe 16 <(head -c 516 a.fvecs) | jq -e '.ids[0] == 0'
}

@test "pq-bits 4 with a filter: only allowed rows, as many as asked" {
  perl -e 'open(my $h, "<:raw", $ARGV[0]) or die; local $/; my $b = <$h>; my $i = 0;
    while (length $b) { my $d = unpack("l<", $b); my @v = unpack("f<$d", substr($b, 4));
      $b = substr($b, 4 + 4 * $d);
      printf "{\"id\": \"r%d\", \"vector\": [%s], \"metadata\": {\"odd\": %s}}\n",
        $i, join(",", @v), $i % 2 ? "true" : "false"; $i++ }' "$D/sift2k_base.fvecs" >m.jsonl
  vdb-build -q -T ivfpq --nlist 16 --pq-m 16 --pq-bits 4 --refine 4 -o x.vdb m.jsonl
  vdb-query -x x.vdb -k 10 --nprobe 4 --filter 'odd == true' "$D/sift_query20.fvecs" >out
  [ "$(jq '.ids | length' out | sort -u)" = 10 ]
  [ "$(jq -r '.ids[] | ltrimstr("r") | tonumber % 2' out | sort -u)" = 1 ]
}

@test "--pq-bits 8 writes today's file; other than 4 or 8 is a usage error (64)" {
  run -64 vdb-build -T ivfpq --pq-bits 5 -o x.vdb "$D/sift2k_base.fvecs"
  assert_output --partial "pq-bits"
  run -64 vdb-build -T ivfpq --pq-bits 3 -o x.vdb "$D/sift2k_base.fvecs"
  [ ! -e x.vdb ]
  vdb-build -q -T ivfpq --nlist 16 --pq-m 16 -o x.vdb "$D/sift2k_base.fvecs"
  jq -e '.quantizer.bits == 8' <(vdb-query -x x.vdb --info)
  vdb-build -q -T ivfpq --nlist 16 --pq-m 16 --pq-bits 8 -o y.vdb "$D/sift2k_base.fvecs"
  cmp x.vdb y.vdb
}

@test "crafted 4-bit files: a bad bits value is refused at open (65); code bytes above 15 never crash" {
  vdb-build -q -T ivfpq --nlist 4 --pq-m 8 --pq-bits 4 -o x.vdb "$D/sift2k_base.fvecs"
  cp x.vdb clean.vdb
  # header param 7 (bits) at offset 48 + 8 * 7
  fill x.vdb 104 Q 1 5
  reseal x.vdb
  run -65 vdb-query -x x.vdb -k 3 "$D/sift_query20.fvecs"
  assert_output --partial "IVF parameters out of range"
  vdb-build -q -T ivf --nlist 4 -o f.vdb "$D/sift2k_base.fvecs"
  fill f.vdb 104 Q 1 4
  reseal f.vdb
  run -65 vdb-query -x f.vdb -k 3 "$D/sift_query20.fvecs"
  # every code byte 0xff: searched (and decoded by --get) without a crash
  cp clean.vdb x.vdb
  read -r off len < <(section_at x.vdb PQCO)
  fill x.vdb "$off" C "$len" 255
  reseal x.vdb
  run -0 vdb-query -x x.vdb -k 3 --nprobe 4 "$D/sift_query20.fvecs"
  assert_output --partial '"ids"'
  run -0 vdb-query -x x.vdb --get 5
}

# codes_ref INDEX QUERIES K NPROBE METRIC GOT: checks, independently of vdb's
# decoding, the codes-only answers GOT (vdb-query's JSONL) of an ip or cosine
# 4-bit index: per query (normalised for cosine), its NPROBE lists nearest by
# Euclidean distance (ties by list number) and their rows' reconstructions,
# centroid + codebook entries, from the file's sections (numpy, double). Each
# answer must lie in those lists, its distance be its reconstruction's (ip:
# -<q, r>, cosine: 1 - <q, r>) within the byte tables' rounding, m x delta / 2
# (delta: the widest subspace table's span / 255), and no row of the lists
# beat it by more than twice that. Prints the answers checked.
codes_ref() {
  local ce of rw cb co
  ce=$(section_at "$1" IVCE); of=$(section_at "$1" IVOF); rw=$(section_at "$1" IVRW)
  cb=$(section_at "$1" PQCB); co=$(section_at "$1" PQCO)
  /usr/bin/python3 - "$@" "$ce" "$of" "$rw" "$cb" "$co" <<'PY'
import json, sys
import numpy as np
ix, qf, k, nprobe, metric, got = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
raw = open(ix, "rb").read()
def sec(arg, dt):
    off, ln = map(int, arg.split())
    return np.frombuffer(raw[off:off + ln], dtype=dt)
a = np.fromfile(qf, dtype="<f4")
d = int(a[:1].view("<i4")[0])
q = a.reshape(-1, d + 1)[:, 1:].astype(np.float64)
cent = sec(sys.argv[7], "<f4").astype(np.float64).reshape(-1, d)
off, row = sec(sys.argv[8], "<u8"), sec(sys.argv[9], "<u4")
codes = sec(sys.argv[11], "u1")
m = len(codes) // len(row)
codes = codes.reshape(-1, m)
ds = d // m
cb = sec(sys.argv[10], "<f4").astype(np.float64).reshape(m, 256, ds)
rec = np.empty((len(row), d))
for l in range(len(cent)):
    for p in range(int(off[l]), int(off[l + 1])):
        rec[row[p]] = cent[l] + np.concatenate([cb[s, codes[p, s]] for s in range(m)])
checked = 0
for i, line in enumerate(open(got)):
    ans = json.loads(line)
    x = q[i] / np.linalg.norm(q[i]) if metric == "cosine" else q[i]
    dl = ((cent - x) ** 2).sum(1)
    lists = sorted(range(len(cent)), key=lambda l: (dl[l], l))[:nprobe]
    rows = np.concatenate([row[off[l]:off[l + 1]] for l in lists]).astype(np.int64)
    key = -(rec[rows] @ x) + (1 if metric == "cosine" else 0)
    span = max(np.ptp(-(cb[s, :16] @ x[s * ds:(s + 1) * ds])) for s in range(m))
    tol = m * span / 255 / 2 + 1e-5
    kth = np.sort(key)[k - 1]
    assert len(ans["ids"]) == k, (i, ans)
    for r, dist in zip(ans["ids"], ans["distances"]):
        assert r in rows, (i, r, "not in the probed lists")
        want = key[rows == r][0]
        assert abs(dist - want) <= tol, (i, r, dist, want, tol)
        assert want <= kth + 2 * tol, (i, r, want, kth, tol)
        checked += 1
print(checked)
PY
}

@test "pq-bits 4 codes only, ip and cosine: answers from the probed lists at their reconstructions' distances, within the byte tables' rounding" {
  random_fvecs base.fvecs 1200 36 51
  random_fvecs q.fvecs 40 36 52
  for m in ip cosine; do
    vdb-build -q -T ivfpq -m $m --nlist 12 --pq-m 9 --pq-bits 4 -t 1 -o x.vdb base.fvecs
    vdb-query -x x.vdb -t 1 -k 5 --nprobe 3 q.fvecs >got
    run -0 codes_ref x.vdb q.fvecs 5 3 $m got
    [ "$output" = 200 ]
  done
}
