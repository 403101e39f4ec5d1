#!/usr/bin/env bats
# Range search (vdb-query --max-distance, vdb-eval range): every record
# within a distance, checked against brute force in numpy (tests/range_ref.py,
# run by /usr/bin/python3), never against vdb's own flat search.
load helpers

REF=$BATS_TEST_DIRNAME/range_ref.py
ref() { /usr/bin/python3 "$REF" "$@"; }

# clustered float data: base.jsonl (3000 x 16, metadata c = id % 3), q.jsonl (40 queries)
gen() { ref gen 3000 16 30 7 base.jsonl q.jsonl 40; }

# range_recall WANT GOT: micro-averaged recall of GOT's ids (as vdb-eval range defines it)
range_recall() {
  jq -n --slurpfile w "$1" --slurpfile g "$2" \
    '[range(0; $w | length) as $i | ($w[$i].ids - ($w[$i].ids - $g[$i].ids)) | length] | add
     / ([$w[].ids | length] | add)'
}

@test "flat range search is the brute force for l2, ip and cosine: ids, order and distances" {
  gen
  for m in l2 ip cosine; do
    r=$(ref radius $m base.jsonl q.jsonl 30)
    vdb-build -q -T flat -m $m -o f.vdb base.jsonl
    ref truth $m base.jsonl q.jsonl "$r" >want
    vdb-query -x f.vdb --max-distance "$r" q.jsonl >got
    echo "$m radius $r"
    ref check want got "$r"
    # not trivially empty or whole: queries have different counts
    [ "$(jq '.ids | length' want | sort -un | wc -l)" -gt 5 ]
  done
}

@test "flat hamming range search is the brute force, in bits, ties to the smaller id" {
  ref codes 1500 8 3 b.bvecs
  ref codes 30 8 4 q.bvecs
  vdb-build -q -T flat -m hamming -o f.vdb b.bvecs
  ref truth hamming b.bvecs q.bvecs 22 >want
  vdb-query -x f.vdb --max-distance 22 q.bvecs >got
  ref check want got 22
  # the distances are whole bits and ties (many at 22) go to the smaller id
  cmp <(jq -c .ids want) <(jq -c .ids got)
  [ "$(jq '.ids | length' want | paste -sd+ | bc)" -gt 100 ]
  # hnsw over the same codes: approximate, within the radius, in order
  vdb-build -q -T hnsw -m hamming -o h.vdb b.bvecs
  vdb-query -x h.vdb --max-distance 22 q.bvecs >h.out
  ref subset want h.out 22
  rec=$(range_recall want h.out)
  echo "hnsw hamming: range recall $rec"
  [ "$(echo "$rec >= 0.95" | bc)" = 1 ]
}

@test "hnsw, ivf and lsh find almost every record within the radius, even from narrow settings" {
  r=$(ref radius l2 "$D/sift2k_base.fvecs" "$D/sift_query20.fvecs" 20)
  ref truth l2 "$D/sift2k_base.fvecs" "$D/sift_query20.fvecs" "$r" >want
  for t in hnsw ivf lsh; do
    vdb-build -q -T $t -o $t.vdb "$D/sift2k_base.fvecs"
  done
  # the widening starts from the user's settings: ef 2 and nprobe 1 are a floor
  vdb-query -x hnsw.vdb --ef 2 --max-distance "$r" "$D/sift_query20.fvecs" >hnsw.out
  vdb-query -x ivf.vdb --nprobe 1 --max-distance "$r" "$D/sift_query20.fvecs" >ivf.out
  vdb-query -x lsh.vdb --max-distance "$r" "$D/sift_query20.fvecs" >lsh.out
  for t in hnsw ivf lsh; do
    rec=$(range_recall want $t.out)
    echo "$t: range recall $rec"
    [ "$(echo "$rec >= 0.97" | bc)" = 1 ]
    # what they return is within the radius, with the true distance, in order
    ref subset want $t.out "$r"
  done
}

@test "filters and deleted records are respected (flat exactly, hnsw and ivf within them)" {
  gen
  r=$(ref radius l2 base.jsonl q.jsonl 30)
  for t in flat hnsw ivf; do
    vdb-build -q -T $t -o $t.vdb base.jsonl
    jq -r 'select(.id % 7 == 0) | .id' base.jsonl | vdb-build -q --delete -x $t.vdb
  done
  drop=$(jq -r 'select(.id % 7 == 0) | .id' base.jsonl | paste -sd,)
  ref truth l2 base.jsonl q.jsonl "$r" --only-c 1 --drop "$drop" >want
  vdb-query -x flat.vdb --filter 'c == 1' --max-distance "$r" q.jsonl >got
  ref check want got "$r"
  for t in hnsw ivf; do
    vdb-query -x $t.vdb --filter 'c == 1' --max-distance "$r" q.jsonl >$t.out
    # nothing outside the filter or deleted
    run -0 jq -e '[.ids[] | select(. % 3 != 1 or . % 7 == 0)] | length == 0' $t.out
    refute_output --partial false
    rec=$(range_recall want $t.out)
    echo "$t: range recall $rec"
    [ "$(echo "$rec >= 0.97" | bc)" = 1 ]
  done
}

@test "shards searched as one set (-x a -x b) answer as the whole index, ties to the smaller id" {
  gen
  r=$(ref radius l2 base.jsonl q.jsonl 30)
  vdb-build -q -T flat --shard 0/2 -o a.vdb base.jsonl
  vdb-build -q -T flat --shard 1/2 -o b.vdb base.jsonl
  ref truth l2 base.jsonl q.jsonl "$r" >want
  vdb-query -x a.vdb -x b.vdb --max-distance "$r" q.jsonl >got
  ref check want got "$r"
  # each shard alone has only part of it
  vdb-query -x a.vdb --max-distance "$r" q.jsonl >a.out
  [ "$(jq '.ids | length' a.out | paste -sd+ | bc)" -lt "$(jq '.ids | length' want | paste -sd+ | bc)" ]
}

@test "-k caps a range search at the k nearest; zero results are empty lines; tsv works" {
  gen
  r=$(ref radius l2 base.jsonl q.jsonl 30)
  vdb-build -q -T flat -o f.vdb base.jsonl
  ref truth l2 base.jsonl q.jsonl "$r" --cap 5 >want
  vdb-query -x f.vdb -k 5 --max-distance "$r" q.jsonl >got
  ref check want got "$r"
  [ "$(jq '.ids | length' got | sort -u | head -1)" -lt 5 ] # some have fewer than the cap
  # a radius nothing is within: one line per query, without results
  vdb-query -x f.vdb --max-distance 0.001 q.jsonl >none
  [ "$(wc -l <none)" -eq 40 ]
  [ "$(jq -c '[.ids, .distances]' none | sort -u)" = '[[],[]]' ]
  # tsv: one row per result, the same as the JSONL lines
  vdb-query -x f.vdb -O tsv --max-distance "$r" q.jsonl >got.tsv
  ref truth l2 base.jsonl q.jsonl "$r" | jq -r '.query as $q | range(0; .ids | length) as $i
    | "\($q)\t\($i + 1)\t\(.ids[$i])"' >want.tsv
  cmp want.tsv <(cut -f1-3 got.tsv)
}

@test "an ip radius may be negative (-dot); a query's id is echoed" {
  gen
  r=$(ref radius ip base.jsonl q.jsonl 30)
  [ "${r:0:1}" = - ]
  vdb-build -q -T flat -m ip -o f.vdb base.jsonl
  ref truth ip base.jsonl q.jsonl "$r" >want
  jq -c '. + {id: "q\(input_line_number)"}' q.jsonl >qid.jsonl
  vdb-query -x f.vdb --max-distance "$r" qid.jsonl >got
  ref check want got "$r"
  [ "$(head -1 got | jq -r .query_id)" = q1 ]
}

@test "bad radii and what range search cannot do are usage errors (64)" {
  gen
  vdb-build -q -T flat -o f.vdb base.jsonl
  for bad in -1 nan NaN inf -inf 1e99 abc ''; do
    run -64 vdb-query -x f.vdb --max-distance "$bad" q.jsonl
    assert_output --partial -- "--max-distance"
  done
  run -64 vdb-query -x f.vdb --max-distance -0.5 q.jsonl
  assert_output --partial "negative"
  run -64 vdb-query -x f.vdb --max-distance 1 -O ivecs q.jsonl
  assert_output --partial "ivecs"
  echo '{"text": "hello"}' >t.jsonl
  run -64 vdb-query -x f.vdb --max-distance 1 t.jsonl
  assert_output --partial "text query"
  refute_output --partial '"ids"'
  # what picks or pages the k nearest does not bound a distance
  run -64 vdb-query -x f.vdb --max-distance 1 --mmr 0.5 q.jsonl
  assert_output --partial -- "--mmr"
  run -64 vdb-query -x f.vdb --max-distance 1 --offset 2 q.jsonl
  assert_output --partial -- "--offset"
  run -64 vdb-query -x f.vdb --max-distance 1 --dump
  assert_output --partial -- "--dump"
  # a query record's own options are not silently dropped: refused, naming it
  head -3 q.jsonl | jq -c 'if input_line_number == 2 then .filter = "c == 1" else . end' >o.jsonl
  run -64 vdb-query -x f.vdb --max-distance 1 o.jsonl
  assert_output --partial "o.jsonl: record 1 has its own search options"
  refute_output --partial '"ids"'
}

@test "vdb-eval range: micro-averaged precision and recall, by hand" {
  printf '%s\n' '{"query": 0, "ids": [1, 2, 3, 4], "distances": [0, 0, 0, 0]}' \
    '{"query": 1, "ids": [], "distances": []}' \
    '{"query": 2, "ids": ["a", 7], "distances": [0, 0]}' >truth.jsonl
  printf '%s\n' '{"query": 2, "ids": [7, "b", "c"], "distances": [0, 0, 0]}' \
    '{"query": 0, "ids": [4, 1], "distances": [0, 0]}' \
    '{"query": 1, "ids": [9], "distances": [0]}' >res.jsonl
  # returned 2 + 1 + 3 = 6, true 4 + 0 + 2 = 6, common 2 + 0 + 1 = 3
  run -0 vdb-eval range truth.jsonl res.jsonl
  assert_line "range precision: 0.5000"
  assert_line "range recall: 0.5000"
  run -0 vdb-eval range --json truth.jsonl <res.jsonl
  [ "$(echo "$output" | jq -c '[.queries, .returned, .true, .common]')" = '[3,6,6,3]' ]
}

@test "vdb-eval range measures ivf against the exact answer; sweep --max-distance reports it" {
  r=$(ref radius l2 "$D/sift2k_base.fvecs" "$D/sift_query20.fvecs" 20)
  ref truth l2 "$D/sift2k_base.fvecs" "$D/sift_query20.fvecs" "$r" >want
  vdb-build -q -T ivf -o ivf.vdb "$D/sift2k_base.fvecs"
  vdb-query -x ivf.vdb --nprobe 1 --max-distance "$r" "$D/sift_query20.fvecs" >got
  run -0 vdb-eval range --json want got
  expected=$(range_recall want got)
  echo "$output"
  [ "$(echo "$output" | jq ".recall - $expected | fabs < 1e-6")" = true ]
  [ "$(echo "$output" | jq .precision)" = 1 ]
  run -0 vdb-eval sweep -x ivf.vdb --queries "$D/sift_query20.fvecs" --max-distance "$r" \
    --nprobe 1,4 --runs 1 --format json
  echo "$output"
  [ "$(echo "$output" | jq -s 'length')" = 2 ]
  [ "$(echo "$output" | jq -s "map(.range_recall >= 0.97 and .range_precision == 1) | all")" = true ]
  [ "$(echo "$output" | jq -s "map(.max_distance == $r) | all")" = true ]
}

@test "sweep --max-distance on a flat index measures range recall 1 against the brute force" {
  need_shared
  # the exact answer of 20 queries over 10,000 rows is found a block of rows at
  # a time, a few queries at once: each record is counted once
  vdb-build -q -T flat -o f.vdb "$S/siftsmall/siftsmall_base.fvecs"
  run -0 vdb-eval sweep -x f.vdb --queries "$D/sift_query20.fvecs" --max-distance 295 --runs 1 \
    --format json
  echo "$output"
  [ "$(echo "$output" | jq .range_recall)" = 1 ]
  [ "$(echo "$output" | jq .range_precision)" = 1 ]
  [ "$(echo "$output" | jq .results_per_query)" = 71 ]
}

@test "exact k-NN of one query over a base read in several blocks counts each record once" {
  # vdb-eval groundtruth streams the base 65,536 rows a block; the exact
  # search of fewer queries than twice the threads used to push the earlier
  # blocks' results again with each block (duplicates in the ground truth)
  /usr/bin/python3 - <<'PY'
import numpy as np
rng = np.random.default_rng(5)
for name, n in (("b.fvecs", 70000), ("q.fvecs", 1)):
    x = rng.normal(size=(n, 4)).astype("<f4")
    out = np.empty((n, 5), dtype="<i4"); out[:, 0] = 4; out[:, 1:] = x.view("<i4"); out.tofile(name)
b = np.fromfile("b.fvecs", dtype="<i4").reshape(-1, 5)[:, 1:].view("<f4").astype(np.float64)
q = np.fromfile("q.fvecs", dtype="<i4").reshape(-1, 5)[:, 1:].view("<f4").astype(np.float64)
d = ((b - q[0]) ** 2).sum(1)
print(" ".join(map(str, np.lexsort((np.arange(len(d)), d))[:100])), file=open("want", "w"))
PY
  vdb-eval groundtruth -m l2 -k 100 -O jsonl b.fvecs q.fvecs | jq -r '.ids | map(tostring) | join(" ")' >got
  cmp want got
}
