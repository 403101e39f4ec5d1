#!/usr/bin/env bats
# k means k: every index type returns min(k, matching live records) per
# query, with filters and deletions, on small data where lists, buckets and
# graphs come up short; -v counts the queries that were searched again
# wider; --output ivecs rows are k wide, padded with -1 (FAISS's convention).
# The expected counts come from jq over the input, not from vdb.
load helpers

# data N: base.jsonl (ids = rows, metadata c = row % 10) of 8-d vectors,
# q.jsonl (20 queries); hbase.jsonl / hq.jsonl: 64-bit codes alike
data() {
  /usr/bin/python3 - "$@" <<'EOF'
import json, sys
import numpy as np
n = int(sys.argv[1])
rng = np.random.default_rng(7)
x = rng.standard_normal((n, 8)).astype(np.float32)
with open("base.jsonl", "w") as f:
    for i, v in enumerate(x):
        f.write(json.dumps({"id": i, "vector": [float(t) for t in v], "metadata": {"c": i % 10}}) + "\n")
with open("q.jsonl", "w") as f:
    for v in rng.standard_normal((20, 8)).astype(np.float32):
        f.write(json.dumps({"vector": [float(t) for t in v]}) + "\n")
with open("hbase.jsonl", "w") as f:
    for i in range(n):
        f.write(json.dumps({"id": i, "bits": bytes(rng.integers(0, 256, 8, dtype=np.uint8)).hex(), "metadata": {"c": i % 10}}) + "\n")
with open("hq.jsonl", "w") as f:
    for i in range(20):
        f.write(json.dumps({"bits": bytes(rng.integers(0, 256, 8, dtype=np.uint8)).hex()}) + "\n")
EOF
  # the deletions: every third record below 150
  seq 0 3 150 | jq -c '{id: .}' >del.jsonl
}

# expect BASE DELETED(0|1) JQ_FILTER K: min(K, records left that pass)
expect() {
  jq -s --argjson del "$2" --argjson k "$4" \
    '[.[] | select($del == 0 or .id > 150 or .id % 3 != 0) | select(.metadata.c as $c | '"$3"')]
     | length | [., $k] | min' "$1"
}

# check INDEX BASE QUERIES DELETED K: for each filter, every result line
# holds exactly expect's count, and -v says how many queries were widened
check() {
  local ix=$1 base=$2 q=$3 del=$4 k=$5
  while IFS='@' read -r f jqf; do
    fa=(); [ -z "$f" ] || fa=(--filter "$f")
    want=$(expect "$base" "$del" "$jqf" "$k")
    vdb-query -v -x "$ix" -k "$k" "${fa[@]}" "${@:6}" "$q" >got 2>err
    # every line: as many ids as expected, each once
    got=$(jq -c '[(.ids | length), (.ids | unique | length)]' got | sort -u | tr '\n' ' ')
    echo "$ix deleted=$del k=$k filter='$f': want $want, got $got"
    [ "$got" = "[$want,$want] " ]
    [ "$(wc -l <got)" = "$(wc -l <"$q")" ]
    grep -Eq '^vdb-query: [0-9]+ queries searched again wider$' err
  done <<'EOF'
@true
c == 3@$c == 3
c != 7@$c != 7
EOF
}

# each TYPE OPTIONS...: the index built over base.jsonl, with and without deletions, at several k
each() {
  local base=$1; shift
  local q=q.jsonl; [ "$base" = hbase.jsonl ] && q=hq.jsonl
  vdb-build -q "$@" -o t.vdb "$base"
  cp t.vdb d.vdb
  vdb-build -q --delete -x d.vdb del.jsonl
  for k in 90 300; do
    check t.vdb "$base" "$q" 0 $k
    check d.vdb "$base" "$q" 1 $k
  done
}

@test "k means k: flat, l2 and hamming, with filters and deletions" {
  data 300
  each base.jsonl -T flat
  each hbase.jsonl -T flat -m hamming
}

@test "k means k: hnsw of few links, l2 and hamming (a walk that misses nodes), with filters and deletions" {
  data 300
  each base.jsonl -T hnsw --M 2 --ef-construction 4
  each hbase.jsonl -T hnsw --M 2 --ef-construction 4 -m hamming
  # more codes kept than hnsw scans exactly (1,500): the filtered walk, filled
  data 2500
  vdb-build -q -T hnsw --M 2 --ef-construction 4 -m hamming -o h.vdb hbase.jsonl
  check h.vdb hbase.jsonl hq.jsonl 0 2200
}

@test "k means k: ivf of many small lists probing one, with filters and deletions; -v counts the widened queries" {
  data 300
  vdb-build -q -T ivf --nlist 64 -o w.vdb base.jsonl
  run -0 vdb-query -v -x w.vdb -k 250 --nprobe 1 q.jsonl
  [[ "$output" == *"vdb-query: 20 queries searched again wider"* ]]
  run -0 vdb-query -v -x w.vdb -k 1 --nprobe 1 q.jsonl
  [[ "$output" == *"vdb-query: 0 queries searched again wider"* ]]
  each base.jsonl -T ivf --nlist 64
  each base.jsonl -T ivf --nlist 300
  # the index's own widening (--filter-path index: the planner would take
  # the exact scan of so few rows)
  data 2500
  vdb-build -q -T ivf --nlist 256 -o t.vdb base.jsonl
  cp t.vdb d.vdb
  vdb-build -q --delete -x d.vdb del.jsonl
  check t.vdb base.jsonl q.jsonl 0 2000 --nprobe 1
  check d.vdb base.jsonl q.jsonl 1 2000 --nprobe 1
  run -0 vdb-query -v -x d.vdb -k 2000 --nprobe 1 --filter-path index --filter 'c != 7' q.jsonl
  [[ "$output" =~ vdb-query:\ ([0-9]+)\ queries\ searched\ again\ wider ]]
  [ "${BASH_REMATCH[1]}" -gt 0 ]
}

@test "k means k: ivfpq of small lists, with filters and deletions" {
  data 300
  each base.jsonl -T ivfpq --nlist 32 --pq-m 2
}

@test "k means k: lsh of one sparse table, with filters and deletions; -v counts the widened queries" {
  data 300
  vdb-build -q -T lsh --lsh-tables 1 --lsh-bits 16 -o w.vdb base.jsonl
  run -0 vdb-query -v -x w.vdb -k 20 q.jsonl
  [[ "$output" =~ vdb-query:\ ([0-9]+)\ queries\ searched\ again\ wider ]]
  [ "${BASH_REMATCH[1]}" -gt 0 ]
  each base.jsonl -T lsh --lsh-tables 1 --lsh-bits 16
  each base.jsonl -T lsh --lsh-bits 4
  # the index's own widening (--filter-path index: the planner would take
  # the exact scan of so few rows)
  data 2500
  vdb-build -q -T lsh --lsh-tables 1 --lsh-bits 16 -o d.vdb base.jsonl
  vdb-build -q --delete -x d.vdb del.jsonl
  check d.vdb base.jsonl q.jsonl 1 2000
  run -0 vdb-query -v -x d.vdb -k 20 --filter-path index --filter 'c != 7' q.jsonl
  [[ "$output" =~ vdb-query:\ ([0-9]+)\ queries\ searched\ again\ wider ]]
  [ "${BASH_REMATCH[1]}" -gt 0 ]
}

@test "--output ivecs rows are k wide, -1 past the results, whatever the live and matching records" {
  data 300
  vdb-build -q -T hnsw --M 2 --ef-construction 4 -o h.vdb base.jsonl
  vdb-build -q --delete -x h.vdb del.jsonl
  vdb-build -q -o s0.vdb --shard 0/2 base.jsonl
  vdb-build -q -o s1.vdb --shard 1/2 base.jsonl
  for ix in "-x h.vdb" "-x s0.vdb -x s1.vdb"; do
    for k in 40 400; do
      for f in "c == 3" "c <= 8"; do
        vdb-query $ix -k $k --filter "$f" q.jsonl | jq -c .ids >want
        vdb-query $ix -k $k --filter "$f" -O ivecs q.jsonl >got.ivecs
        /usr/bin/python3 - $k <<'EOF'
import json, sys
import numpy as np
k = int(sys.argv[1])
a = np.fromfile("got.ivecs", dtype="<i4").reshape(-1, k + 1)
want = [json.loads(l) for l in open("want")]
assert len(a) == len(want) == 20, (a.shape, len(want))
assert (a[:, 0] == k).all(), a[:, 0]
for row, w in zip(a, want):
    assert list(row[1:]) == w + [-1] * (k - len(w)), (k, row, w)
EOF
      done
    done
  done
  # every row of a plain query as wide as k too, past the live records
  vdb-query -x h.vdb -k 300 -O ivecs q.jsonl >all.ivecs
  /usr/bin/python3 -c '
import numpy as np
a = np.fromfile("all.ivecs", dtype="<i4").reshape(20, 301)
assert ((a[:, 1:] >= 0).sum(axis=1) == 249).all()
assert (a[:, 250:] == -1).all()'
}
