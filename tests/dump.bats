#!/usr/bin/env bats
# vdb-query --dump: every live record as the JSONL vdb-build takes, in row
# order; built again (same options) it answers as the index did. Cosine
# indexes give back the vectors as they were given (the CNRM section of
# normalisation factors). The references are the input records (numpy for
# the vectors, jq for the rest), never vdb's own earlier output.
load helpers

PY=/usr/bin/python3

# gen N DIM SEED [SCALE]: JSONL records with string ids, metadata (a
# category, a number, some without metadata) and texts; vectors are float32
# values written exactly (repr of the float32), of length about SCALE
gen() {
  $PY - "$@" <<'EOF'
import json, sys
import numpy as np
n, d, seed = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
scale = float(sys.argv[4]) if len(sys.argv) > 4 else 1.0
rng = np.random.default_rng(seed)
X = (rng.standard_normal((n, d)) * scale).astype(np.float32)
for i, x in enumerate(X):
    r = {"id": "r%d" % i, "vector": [float(v) for v in x]}
    if i % 5 != 4:
        r["metadata"] = {"cat": "c%d" % (i % 3), "price": i * 1.5}
    if i % 4 == 0:
        r["text"] = "record %d \"quoted\" caf\u00e9" % i
    print(json.dumps(r))
EOF
}

# same_vectors DUMP INPUT RTOL: the records of DUMP are those of INPUT with
# the same ids, in the same order, vectors equal within RTOL (0: exactly as
# float32), metadata and text equal (a missing one as null)
same_vectors() {
  $PY - "$@" <<'EOF'
import json, sys
import numpy as np
def load(p):
    return [json.loads(l) for l in open(p) if l.strip()]
a, b, rtol = load(sys.argv[1]), load(sys.argv[2]), float(sys.argv[3])
assert [r["id"] for r in a] == [r["id"] for r in b], "ids differ"
A = np.array([r["vector"] for r in a], dtype=np.float32)
B = np.array([r["vector"] for r in b], dtype=np.float32)
if rtol == 0:
    assert (A == B).all(), "vectors differ: %s" % np.abs(A - B).max()
else:
    assert np.allclose(A, B, rtol=rtol, atol=1e-7), "vectors differ: %s" % np.abs(A - B).max()
for x, y in zip(a, b):
    assert x.get("metadata") == y.get("metadata"), (x["id"], x.get("metadata"), y.get("metadata"))
    assert x.get("text") == y.get("text"), x["id"]
print("ok", len(a))
EOF
}

# queries N DIM SEED: JSONL query vectors
queries() {
  $PY - "$@" <<'EOF'
import json, sys
import numpy as np
n, d, seed = map(int, sys.argv[1:4])
for q in np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32):
    print(json.dumps({"vector": [float(v) for v in q]}))
EOF
}

@test "--dump: every record as JSONL in row order, as it was given (ids, vectors, metadata, text)" {
  gen 60 8 1 >in.jsonl
  vdb-build -q -o f.vdb in.jsonl
  run -0 vdb-query -x f.vdb --dump
  echo "$output" >dump.jsonl
  [ "$(wc -l <dump.jsonl)" -eq 60 ]
  run -0 same_vectors dump.jsonl in.jsonl 0
}

@test "dump -> vdb-build: flat, hnsw, ivf and lsh over l2 and ip answer byte for byte the same" {
  gen 200 8 2 >in.jsonl
  queries 15 8 3 >q.jsonl
  for m in l2 ip; do
    for t in "flat" "hnsw --M 8" "ivf --nlist 4" "lsh"; do
      vdb-build -q -t 1 -m $m -T $t -o a.vdb in.jsonl
      vdb-query -x a.vdb --dump >d.jsonl
      vdb-build -q -t 1 -m $m -T $t -o b.vdb d.jsonl
      vdb-query -x a.vdb -k 10 --nprobe 2 q.jsonl >ra.jsonl
      vdb-query -x b.vdb -k 10 --nprobe 2 q.jsonl >rb.jsonl
      echo "$t $m"
      cmp ra.jsonl rb.jsonl
      run -0 same_vectors d.jsonl in.jsonl 0
    done
  done
}

@test "cosine: --dump and --get give back the original vectors, and the dump built again answers byte for byte the same" {
  gen 200 8 4 5 >in.jsonl
  queries 15 8 5 >q.jsonl
  for t in "flat" "hnsw --M 8" "ivf --nlist 4"; do
    vdb-build -q -t 1 -m cosine -T $t -o a.vdb in.jsonl
    vdb-query -x a.vdb --dump >d.jsonl
    # the input's vectors (lengths about 5 * sqrt(8)), not unit ones
    run -0 same_vectors d.jsonl in.jsonl 1e-6
    vdb-query -x a.vdb --get r3,r17 >g.jsonl
    jq -c 'select(.id == "r3" or .id == "r17")' in.jsonl >want.jsonl
    run -0 same_vectors g.jsonl want.jsonl 1e-6
    vdb-build -q -t 1 -m cosine -T $t -o b.vdb d.jsonl
    vdb-query -x a.vdb -k 10 --nprobe 2 q.jsonl >ra.jsonl
    vdb-query -x b.vdb -k 10 --nprobe 2 q.jsonl >rb.jsonl
    # the given-back vectors normalise to the very rows again
    cmp ra.jsonl rb.jsonl
    vdb-query -x b.vdb --dump >d2.jsonl
    cmp d.jsonl d2.jsonl
  done
  run -0 vdb-query -x a.vdb --verify
}

@test "cosine: 3000 vectors of lengths 0.01 to 100 (and a zero one) dumped, built and dumped again: the same bytes" {
  $PY -c '
import json
import numpy as np
rng = np.random.default_rng(15)
X = (rng.standard_normal((3000, 24)) * rng.uniform(0.01, 100, (3000, 1))).astype(np.float32)
X[17] = 0
for x in X:
    print(json.dumps({"vector": [float(v) for v in x]}))' >in.jsonl
  vdb-build -q -m cosine -o a.vdb in.jsonl
  vdb-query -x a.vdb --dump >d.jsonl
  vdb-build -q -m cosine -o b.vdb d.jsonl
  vdb-query -x b.vdb --dump >d2.jsonl
  cmp d.jsonl d2.jsonl
  # every vector within a float32 rounding of the input's
  $PY -c '
import json
import numpy as np
A = np.array([json.loads(l)["vector"] for l in open("d.jsonl")])
B = np.array([json.loads(l)["vector"] for l in open("in.jsonl")])
assert (A[17] == 0).all()
err = np.abs(A - B) / np.maximum(np.abs(B), 1e-30)
assert err.max() < 3e-7, err.max()'
}

@test "hamming: --dump writes \"bits\" as given, and the dump built again answers the same (flat, hnsw)" {
  $PY -c '
import json, random
random.seed(6)
for i in range(150):
    print(json.dumps({"id": i * 2, "bits": "".join("%02x" % random.randrange(256) for _ in range(8)),
                      "metadata": {"odd": i % 2}}))' >in.jsonl
  head -12 in.jsonl | jq -c '{bits}' >q.jsonl
  for t in "flat" "hnsw --M 8"; do
    vdb-build -q -t 1 -m hamming -T $t -o a.vdb in.jsonl
    vdb-query -x a.vdb --dump >d.jsonl
    diff <(jq -c '[.id, .bits, .metadata]' in.jsonl) <(jq -c '[.id, .bits, .metadata]' d.jsonl)
    vdb-build -q -t 1 -m hamming -T $t -o b.vdb d.jsonl
    vdb-query -x a.vdb -k 10 q.jsonl >ra.jsonl
    vdb-query -x b.vdb -k 10 q.jsonl >rb.jsonl
    cmp ra.jsonl rb.jsonl
  done
}

@test "--dump --filter: the records passing the filter, as jq selects them from the input" {
  gen 120 6 7 >in.jsonl
  vdb-build -q -T hnsw --M 8 -o h.vdb in.jsonl
  run -0 vdb-query -x h.vdb --dump --filter 'cat == "c1" && price >= 30'
  echo "$output" >d.jsonl
  jq -c 'select(.metadata.cat == "c1" and .metadata.price >= 30)' in.jsonl >want.jsonl
  [ "$(wc -l <want.jsonl)" -gt 5 ]
  run -0 same_vectors d.jsonl want.jsonl 0
  # a filter no record passes: nothing, and success
  run -0 vdb-query -x h.vdb --dump --filter 'cat == "none"'
  [ -z "$output" ]
}

@test "deleted rows never appear; cosine originals follow append, upsert, delete and compact" {
  gen 60 8 8 3 >all.jsonl
  head -30 all.jsonl >base.jsonl
  sed -n 31,40p all.jsonl >more.jsonl
  # upserts: new vectors (of other lengths) for five ids, one of them appended
  gen 5 8 9 7 | jq -c '.id = (["r2", "r5", "r11", "r33", "r20"][input_line_number - 1])' >up.jsonl
  printf '%s\n' r7 r31 r5 >del.txt
  vdb-build -q -m cosine -T hnsw --M 8 -o c.vdb base.jsonl
  vdb-build -q --append -x c.vdb more.jsonl
  vdb-build -q --upsert -x c.vdb up.jsonl
  vdb-build -q --delete -x c.vdb del.txt
  # the expected records in row order: base, appended, upserted; the
  # replaced and deleted ones left out
  jq -sc --slurpfile up <(jq -s . up.jsonl) --rawfile del del.txt '
    ($del | split("\n") | map(select(. != ""))) as $d | ($up[0] | map(.id)) as $u
    | (.[] | select((.id as $i | ($u + $d) | index([$i])) | not)),
      ($up[0][] | select(.id as $i | $d | index([$i]) | not))' <(cat base.jsonl more.jsonl) >want.jsonl
  [ "$(wc -l <want.jsonl)" -eq 37 ]
  vdb-query -x c.vdb --dump >d.jsonl
  run -0 same_vectors d.jsonl want.jsonl 1e-6
  run -1 grep -E '"r(7|31|40)"' d.jsonl
  vdb-build -q --compact -x c.vdb
  vdb-query -x c.vdb --dump >d2.jsonl
  run -0 same_vectors d2.jsonl want.jsonl 1e-6
  run -0 vdb-query -x c.vdb --verify
}

@test "--dump of several indexes (shards): each in turn, together every record once" {
  gen 80 4 10 >in.jsonl
  for i in 0 1 2; do vdb-build -q --shard $i/3 -o s$i.vdb in.jsonl; done
  run -0 vdb-query -x s0.vdb -x s1.vdb -x s2.vdb --dump
  echo "$output" >d.jsonl
  # in -x order, each shard's records in its row order
  diff <(for i in 0 1 2; do vdb-query -x s$i.vdb --dump | jq -r .id; done) <(jq -r .id d.jsonl)
  diff <(jq -r .id in.jsonl | sort) <(jq -r .id d.jsonl | sort)
}

@test "a cosine index without the factor section (an older file) opens; --dump prints unit vectors, warned once" {
  command -v xxhsum >/dev/null || skip "xxhsum (Debian xxhash) is absent"
  gen 20 4 11 4 >in.jsonl
  vdb-build -q -m cosine -o c.vdb in.jsonl
  # CNRM is the last section: drop it from the table, as a file before it
  n=$(vdb-query -x c.vdb --info | jq '.sections | length')
  [ "$(vdb-query -x c.vdb --info | jq -r '.sections[-1].kind')" = CNRM ]
  poke c.vdb 28 V $((n - 1))
  reseal c.vdb
  run -0 vdb-query -x c.vdb --verify
  run -0 --separate-stderr vdb-query -x c.vdb --dump
  echo "$output" >d.jsonl
  [ "$(grep -c 'normalised' <<<"$stderr")" -eq 1 ]
  # unit vectors, the input's directions
  $PY -c '
import json, sys
import numpy as np
A = np.array([json.loads(l)["vector"] for l in open("d.jsonl")])
B = np.array([json.loads(l)["vector"] for l in open("in.jsonl")])
assert np.allclose(np.linalg.norm(A, axis=1), 1, atol=1e-6)
assert np.allclose(A, B / np.linalg.norm(B, axis=1)[:, None], atol=1e-6)'
  # an append to it keeps no factors either: still unit vectors, no error
  gen 3 4 12 4 | jq -c '.id = "n\(input_line_number)"' >more.jsonl
  run -0 vdb-build -q --append -x c.vdb more.jsonl
  run -0 --separate-stderr vdb-query -x c.vdb --dump
  [ "${#lines[@]}" -eq 23 ]
}

@test "a damaged factor section is refused: wrong size at open, a bad factor by --verify and --dump (65)" {
  command -v xxhsum >/dev/null || skip "xxhsum (Debian xxhash) is absent"
  gen 20 4 13 4 >in.jsonl
  vdb-build -q -m cosine -o c.vdb in.jsonl
  read -r off len < <(section_at c.vdb CNRM)
  [ "$len" -eq 80 ]
  n=$(vdb-query -x c.vdb --info | jq '.sections | length')
  cp c.vdb size.vdb
  poke size.vdb $((512 + 32 * (n - 1) + 16)) 'Q<' 76
  reseal size.vdb
  run -65 vdb-query -x size.vdb --dump
  [[ "$output" == *"size.vdb"*"row-factor section"* ]]
  cp c.vdb nan.vdb
  poke nan.vdb $((off + 4 * 7)) 'f<' nan
  reseal nan.vdb
  run -65 vdb-query -x nan.vdb --verify
  [[ "$output" == *"row 7"* ]]
  run -65 vdb-query -x nan.vdb --dump
  # an unsealed byte: the checksum
  cp c.vdb flip.vdb
  poke flip.vdb $((off + 1)) C 255
  run -65 vdb-query -x flip.vdb --verify
  # l2 indexes have none; a factor section in one is refused
  vdb-build -q -o l.vdb in.jsonl
  [ -z "$(section_at l.vdb CNRM)" ]
  # (hnsw: its l2 needs no section that cosine lacks)
  vdb-build -q -m cosine -T hnsw --M 4 -o metric.vdb in.jsonl
  poke metric.vdb 12 V 1
  reseal metric.vdb
  run -65 vdb-query -x metric.vdb --dump
  [[ "$output" == *"row-factor section in a l2 index"* ]]
}

@test "--dump refuses what it cannot honour (64)" {
  gen 5 4 14 >in.jsonl
  vdb-build -q -o f.vdb in.jsonl
  run -0 vdb-query -x f.vdb --dump
  [ "${#lines[@]}" -eq 5 ]
  run -64 vdb-query -x f.vdb --dump in.jsonl
  [[ "$output" == *"--dump prints the records and exits"* ]]
  run -64 vdb-query -x f.vdb --dump --get r1
  [[ "$output" == *"--dump prints the records and exits"* ]]
  run -64 vdb-query --merge --dump in.jsonl
  [[ "$output" == *"--merge reads results"* ]]
}
