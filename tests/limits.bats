#!/usr/bin/env bats
# Named limits, and the edges that must simply work: k beyond the count, a
# one-vector index of every type, empty inputs among others, an append of
# nothing.
load helpers

@test "k larger than the index returns every vector once, for every type and storage" {
  head -c $((40 * 516)) "$D/sift2k_base.fvecs" >a.fvecs
  for spec in "flat" "hnsw" "ivf --nlist 4" "flat --storage sq8" "hnsw --storage fp16 --refine 2" \
              "lsh --lsh-bits 4"; do
    vdb-build -q -T $spec -o ix.vdb a.fvecs
    # lsh: every one of its 16 buckets probed
    vdb-query -x ix.vdb -k 1000 --ef 500 --nprobe 4 --probes 16 "$D/sift_query20.fvecs" >out
    [ "$(jq -s 'map(.ids | length) | unique' -c out)" = "[40]" ]
    [ "$(jq -s 'map(.ids | unique | length) | unique' -c out)" = "[40]" ]
    # nearest first
    jq -e '.distances as $d | [range(1; $d | length) | $d[. - 1] <= $d[.]] | all' out >/dev/null
  done
}

@test "a one-vector index of every type answers with that vector" {
  fvecs one.fvecs 4 1 2 3 4
  fvecs q.fvecs 4 0 0 0 0 1 2 3 4
  for spec in "flat" "hnsw" "ivf" "flat --storage sq8" "hnsw --storage sq8 --refine 3" \
              "lsh --lsh-bits 4"; do
    vdb-build -q -T $spec -o ix.vdb one.fvecs
    run vdb-query -x ix.vdb -k 3 --probes 16 q.fvecs
    assert_success
    [ "$(jq -c .ids <<<"${lines[0]}")" = "[0]" ]
    [ "$(jq -c .distances <<<"${lines[1]}")" = "[0]" ]
  done
  # ivfpq trains 256 centroids per sub-quantizer: one vector is too little data
  run vdb-build -q -T ivfpq -o ix.vdb one.fvecs
  assert_failure 65
  assert_output --partial "at least 256 vectors"
}

@test "empty inputs: alone refused (65, named); among others skipped; an append of nothing changes nothing" {
  : >empty.fvecs
  head -c $((40 * 516)) "$D/sift2k_base.fvecs" >a.fvecs
  run vdb-build -o ix.vdb empty.fvecs
  assert_failure 65
  assert_output --partial "empty.fvecs: no vectors in input"
  run vdb-build -o ix.vdb empty.fvecs empty.fvecs
  assert_failure 65
  assert_output --partial "no vectors in any of the 2 inputs"
  [ ! -e ix.vdb ]
  # concatenation, as cat would: the empty file adds nothing
  vdb-build -q -o ix.vdb empty.fvecs a.fvecs empty.fvecs
  vdb-build -q -o want.vdb a.fvecs
  cmp ix.vdb want.vdb
  # a quiet day's append: success, a warning, the index byte-identical
  vdb-build -q -T hnsw -o h.vdb a.fvecs
  cp h.vdb before.vdb
  run vdb-build --append -o h.vdb empty.fvecs
  assert_success
  assert_output --partial "no vectors in the input: h.vdb is unchanged"
  cmp h.vdb before.vdb
  run vdb-build -q --append -o h.vdb </dev/null
  assert_success
  assert_output ""
  cmp h.vdb before.vdb
}

@test "limits are named in their messages: k, ef, nprobe, M, nlist, refine, dimension, JSON line" {
  fvecs one.fvecs 4 1 2 3 4
  vdb-build -q -o ix.vdb one.fvecs
  run vdb-query -x ix.vdb -k 100001 one.fvecs
  assert_failure 64
  assert_output --partial "1..100000"
  run vdb-query -x ix.vdb --ef 0 one.fvecs
  assert_failure 64
  assert_output --partial "--ef"
  run vdb-query -x ix.vdb --nprobe 0 one.fvecs
  assert_failure 64
  assert_output --partial "--nprobe"
  run vdb-build -T hnsw --M 1000 -o x.vdb one.fvecs
  assert_failure 64
  assert_output --partial "2..256"
  run vdb-build -T ivf --nlist 99999999 -o x.vdb one.fvecs
  assert_failure 64
  assert_output --partial "--nlist"
  run vdb-build --storage sq8 --refine 5000 -o x.vdb one.fvecs
  assert_failure 64
  assert_output --partial "0..1000"
  perl -e 'print pack("l<", 65537), "\0" x 16' >big.fvecs
  run vdb-build -o x.vdb big.fvecs
  assert_failure 65
  assert_output --partial "65536"
  # a JSONL line without end is not read into memory whole
  { printf '{"vector": ['; head -c $((65 << 20)) /dev/zero | tr '\0' ' '; } >long.jsonl
  run vdb-build -o x.vdb long.jsonl
  assert_failure 65
  assert_output --partial "line 1 is longer than the limit of 64 MiB"
  [ ! -e x.vdb ]
}
