#!/usr/bin/env bats
# Ask for recall, not ef: vdb-build measures each index's recall curve,
# vdb-query --recall R picks the cheapest ef/nprobe/probes that reached R,
# --info shows the curve, vdb-eval check --recall R tells when real queries
# fall short. Recall is judged against exact answers computed here by numpy
# brute force, independently of vdb.
load helpers

# how far below R real queries may land (vdb-eval check's RECALL_TOLERANCE)
TOL=0.02

# clustered data: 3000 base vectors and 200 held-out queries of 24
# dimensions around 30 centres, and far queries (50 times the data's spread
# away) with their exact top 10 (l2), as fvecs and ivecs
setup_file() {
  cd "$BATS_FILE_TMPDIR" || return 1
  /usr/bin/python3 - <<'PY'
import numpy as np
rng = np.random.default_rng(7)
d, c = 24, 30
centres = rng.normal(0, 4, (c, d))
def draw(n):
    return (centres[rng.integers(0, c, n)] + rng.normal(0, 1, (n, d))).astype(np.float32)
base, queries = draw(3000), draw(200)
far = (rng.normal(0, 50, (100, d))).astype(np.float32)
def fvecs(path, x):
    out = np.empty((len(x), d + 1), np.float32)
    out[:, 0] = np.array([d], np.int32).view(np.float32)[0]
    out[:, 1:] = x
    out.tofile(path)
def gt(path, q):
    dist = ((q[:, None, :].astype(np.float64) - base[None, :, :]) ** 2).sum(-1)
    ids = np.argsort(dist, axis=1, kind="stable")[:, :10].astype(np.int32)
    out = np.empty((len(q), 11), np.int32)
    out[:, 0] = 10
    out[:, 1:] = ids
    out.tofile(path)
fvecs("base.fvecs", base); fvecs("q.fvecs", queries); fvecs("far.fvecs", far)
fvecs("more.fvecs", draw(1000))
gt("gt.ivecs", queries); gt("far_gt.ivecs", far)
PY
  for t in hnsw ivf lsh; do
    vdb-build -q -t 2 -T "$t" -o "$t.vdb" base.fvecs
  done
}

F() { echo "$BATS_FILE_TMPDIR/$1"; }

# recall@10 of vdb-query's JSONL results (stdin) against an ivecs ground
# truth, computed by numpy
recall_of() {
  /usr/bin/python3 -c '
import json, sys, numpy as np
gt = np.fromfile(sys.argv[1], np.int32).reshape(-1, 11)[:, 1:]
lines = [json.loads(l) for l in sys.stdin]
hits = sum(len(set(l["ids"][:10]) & set(gt[l["query"]].tolist())) for l in lines)
print("%.4f" % (hits / (10.0 * len(lines))))' "$1"
}

# the setting -v says --recall R chose for INDEX
chosen() {
  vdb-query -v -x "$1" --recall "$2" "$(F q.fvecs)" 2>&1 >/dev/null |
    sed -n 's/.*: \(ef\|nprobe\|probes\) \([0-9]*\) (measured.*/\2/p'
}

# keeps R: for hnsw, ivf and lsh, --recall R gives held-out queries recall@10
# of at least R - TOL against the exact answers
keeps() {
  for t in hnsw ivf lsh; do
    vdb-query -x "$(F $t.vdb)" --recall "$1" "$(F q.fvecs)" >out.jsonl
    r=$(recall_of "$(F gt.ivecs)" <out.jsonl)
    echo "$t --recall $1: recall@10 $r"
    awk -v r="$r" -v R="$1" -v t=$TOL 'BEGIN { exit !(r >= R - t) }'
  done
}

@test "--recall 0.9 on hnsw, ivf and lsh reaches 0.9 against exact answers" {
  keeps 0.9
}

@test "--recall 0.95 keeps its promise too, and asks for less than the largest setting" {
  keeps 0.95
  for t in hnsw ivf lsh; do
    last=$(vdb-query -x "$(F $t.vdb)" --info | jq '.recall_curve[-1].setting')
    [ "$(chosen "$(F $t.vdb)" 0.5)" -lt "$last" ]
  done
}

@test "a higher target picks a larger or equal setting (-v)" {
  for t in hnsw ivf lsh; do
    prev=0
    for r in 0.3 0.6 0.8 0.9 0.95 0.99 1; do
      s=$(chosen "$(F $t.vdb)" $r)
      echo "$t --recall $r: $s"
      [ -n "$s" ]
      [ "$s" -ge "$prev" ]
      prev=$s
    done
    [ "$(chosen "$(F $t.vdb)" 0.3)" -lt "$(chosen "$(F $t.vdb)" 1)" ]
  done
}

@test "-v names the setting chosen and its measured recall" {
  run vdb-query -v -x "$(F ivf.vdb)" --recall 0.9 "$(F q.fvecs)"
  assert_success
  assert_output --regexp "--recall 0.9: .*ivf.vdb: nprobe [0-9]+ \(measured recall@10 (0\.9[0-9]*|1\.0000)\)"
}

@test "a target no setting reached: the largest setting, one warning naming the best recall" {
  # ivfpq's codes bound its recall below 1
  vdb-build -q -T ivfpq --nlist 16 -o pq.vdb "$(F base.fvecs)"
  vdb-query -x pq.vdb --info >info.json
  best=$(jq '[.recall_curve[].recall] | max' info.json)
  last=$(jq '.recall_curve[-1].setting' info.json)
  jq -e '.recall_curve[-1].recall < 1' info.json
  run vdb-query -v -b 7 -x pq.vdb --recall 1 "$(F q.fvecs)"
  assert_success
  [ "$(grep -c 'warning' <<<"$output")" = 1 ]
  assert_output --partial "measured at most recall $(printf '%.4f' "$best") (at nprobe $last, the largest setting measured)"
  assert_output --partial "pq.vdb: nprobe $last (measured"
  [ "$(grep -c '"query"' <<<"$output")" = 200 ]
}

@test "--info shows the curve: settings (the cost) ascending, recalls in [0, 1], the sample" {
  for t in hnsw ivf lsh; do
    vdb-query -x "$(F $t.vdb)" --info >info.json
    jq -e '.recall_curve | type == "array" and length >= 2' info.json
    jq -e '[.recall_curve[].setting] as $s | $s == ($s | sort) and ($s | unique | length) == ($s | length)' info.json
    jq -e 'all(.recall_curve[]; .recall >= 0 and .recall <= 1)' info.json
    jq -e '.recall_curve_sample == {"queries": 200, "k": 10, "noise": 2}' info.json
  done
  jq -e '.recall_curve[0] | .knob == "probes" and .setting == 1' info.json
  # the ladder stops at the first setting with recall 1, or at the largest
  vdb-query -x "$(F ivf.vdb)" --info | jq -e '.recall_curve[-1].recall == 1 or .recall_curve[-1].setting == .nlist'
  vdb-query -x "$(F hnsw.vdb)" --info | jq -e '.recall_curve[0] | .knob == "ef" and .setting == 10'
}

@test "the curve's recall at a setting matches exact answers of held-out queries" {
  # the sample's promise at nprobe 4 against what real queries get there
  p=$(vdb-query -x "$(F ivf.vdb)" --info | jq '.recall_curve[] | select(.setting == 4) | .recall')
  vdb-query -x "$(F ivf.vdb)" --nprobe 4 "$(F q.fvecs)" >out.jsonl
  r=$(recall_of "$(F gt.ivecs)" <out.jsonl)
  echo "promised $p, measured $r"
  awk -v p="$p" -v r="$r" 'BEGIN { exit !(r >= p - 0.05 && r <= p + 0.1) }'
}

@test "--recall out of (0, 1], NaN or not a number is a usage error (64)" {
  for r in 0 -0.1 1.5 nan NaN inf abc "" 0.9x; do
    run -64 vdb-query -x "$(F hnsw.vdb)" --recall "$r" "$(F q.fvecs)"
    assert_output --partial "--recall: '$r' is not a"
  done
}

@test "--recall with --ef, --nprobe or --probes is refused (64)" {
  for o in --ef --nprobe --probes; do
    run -64 vdb-query -x "$(F ivf.vdb)" --recall 0.9 $o 4 "$(F q.fvecs)"
    assert_output --partial "not both"
  done
}

@test "an index without a curve: --recall says to rebuild (64); --info shows null" {
  vdb-build -q --no-recall-curve -T ivf -o nc.vdb "$(F base.fvecs)"
  run vdb-query -x nc.vdb --info
  assert_success
  echo "$output" | jq -e '.recall_curve == null'
  echo "$output" | jq -e '[.sections[].kind] | index("RCRV") == null'
  run -64 vdb-query -x nc.vdb --recall 0.9 "$(F q.fvecs)"
  assert_output --partial "no recall curve"
  assert_output --partial "rebuild"
  # flat is exact: --recall needs no curve there
  vdb-build -q -o flat.vdb "$(F base.fvecs)"
  run vdb-query -v -x flat.vdb --recall 0.9 "$(F q.fvecs)"
  assert_success
  assert_output --partial "exact, recall 1"
}

@test "a damaged recall curve section is refused at open (65), naming the file" {
  cp "$(F hnsw.vdb)" c.vdb
  # flip the low byte of the first point's recall (8 bytes into the point)
  off=$(vdb-query -x c.vdb --info | jq '.sections[] | select(.kind == "RCRV") | .offset')
  [ -n "$off" ]
  perl -e 'my ($f, $o) = @ARGV; open(my $h, "+<:raw", $f) or die; seek($h, $o, 0);
           read($h, my $b, 1); seek($h, $o, 0); print $h chr(ord($b) ^ 1); close $h' \
    c.vdb $((off + 32 + 8))
  run -65 vdb-query -x c.vdb "$(F q.fvecs)"
  assert_output --partial "c.vdb"
  assert_output --partial "recall curve"
  run -65 vdb-query -x c.vdb --info
}

@test "--append, --upsert, --delete and --compact measure the curve again" {
  cp "$(F ivf.vdb)" a.vdb
  vdb-query -x a.vdb --info | jq -e '.recall_curve_sample.queries == 200 and .count == 3000'
  # 1000 more records: the sample is drawn from the new index (4000 rows)
  vdb-build -q --append -x a.vdb "$(F more.fvecs)"
  vdb-query -x a.vdb --info | jq -e '.count == 4000 and (.recall_curve | length) >= 2'
  vdb-query -x a.vdb --recall 0.9 "$(F q.fvecs)" >/dev/null
  # a small index: its sample is a tenth of its live rows
  head -c $((100 * 100)) "$(F base.fvecs)" >small.fvecs
  vdb-build -q -T hnsw -o s.vdb small.fvecs
  vdb-query -x s.vdb --info | jq -e '.recall_curve_sample.queries == 10'
  head -c $((100 * 200)) "$(F more.fvecs)" >more200.fvecs
  vdb-build -q --append -x s.vdb more200.fvecs
  vdb-query -x s.vdb --info | jq -e '.recall_curve_sample.queries == 30'
  seq 0 49 | vdb-build -q --delete -x s.vdb
  vdb-query -x s.vdb --info | jq -e '.live == 250 and .recall_curve_sample.queries == 25'
  vdb-build -q --compact -x s.vdb
  vdb-query -x s.vdb --info | jq -e '.count == 250 and .recall_curve_sample.queries == 25'
  # an upsert of 60 new ids and 10 old ones (50..59): 310 live rows
  /usr/bin/python3 -c '
import json
for i in list(range(50, 60)) + list(range(1000, 1060)):
    print(json.dumps({"id": i, "vector": [float((i * 7 + j) % 11) for j in range(24)]}))' >up.jsonl
  vdb-build -q --upsert -x s.vdb up.jsonl
  vdb-query -x s.vdb --info | jq -e '.live == 310 and .recall_curve_sample.queries == 31'
  # --no-recall-curve on a change drops the curve
  vdb-build -q --no-recall-curve --append -x s.vdb more200.fvecs
  vdb-query -x s.vdb --info | jq -e '.recall_curve == null'
}

@test "an ivfpq index without --refine drops its curve on a change, with a warning" {
  vdb-build -q -T ivfpq --nlist 16 -o pq.vdb "$(F base.fvecs)"
  vdb-query -x pq.vdb --info | jq -e '(.recall_curve | length) >= 2'
  run vdb-build --append -x pq.vdb "$(F more.fvecs)"
  assert_success
  assert_output --partial "recall curve is dropped"
  vdb-query -x pq.vdb --info | jq -e '.recall_curve == null'
  # with --refine the float32 vectors are kept, and it is measured again
  vdb-build -q -T ivfpq --nlist 16 --refine 2 -o pqr.vdb "$(F base.fvecs)"
  vdb-build -q --append -x pqr.vdb "$(F more.fvecs)"
  vdb-query -x pqr.vdb --info | jq -e '(.recall_curve | length) >= 2'
}

@test "vdb-eval check --recall: held-out queries keep the promise (0)" {
  run vdb-eval check -x "$(F ivf.vdb)" --queries "$(F q.fvecs)" --gt "$(F gt.ivecs)" --recall 0.9 --runs 1
  assert_success
  assert_output --regexp "--recall 0.9 at nprobe [0-9]+: promised 0.9, measured recall@10 0\.[0-9]+ \(tolerance 0.02\): ok"
  run -64 vdb-eval check -x "$(F ivf.vdb)" --queries "$(F q.fvecs)" --gt "$(F gt.ivecs)" --recall 0.9 --nprobe 3
  run -64 vdb-eval check -x "$(F ivf.vdb)" --queries "$(F q.fvecs)" --gt "$(F gt.ivecs)" --recall 2
}

@test "vdb-eval check --recall: queries far from the data fall short (1), told" {
  # the numpy ground truth of the far queries: ivf's nearest lists to them
  # are not where their neighbours are
  vdb-query -x "$(F ivf.vdb)" --recall 0.9 "$(F far.fvecs)" >out.jsonl
  r=$(recall_of "$(F far_gt.ivecs)" <out.jsonl)
  echo "far queries: recall@10 $r"
  awk -v r="$r" -v t=$TOL 'BEGIN { exit !(r < 0.9 - t) }'
  run -1 vdb-eval check -x "$(F ivf.vdb)" --queries "$(F far.fvecs)" --gt "$(F far_gt.ivecs)" --recall 0.9 --runs 1
  assert_output --partial "promised 0.9, measured recall@10 ${r%?}"
  assert_output --partial "FAILED"
  assert_output --partial "below the promise of --recall 0.9"
}
