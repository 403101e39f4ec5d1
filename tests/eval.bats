#!/usr/bin/env bats
# vdb-eval: exact ground truth and recall.
load helpers

@test "groundtruth equals the independent float64 ground truth (bundled SIFT)" {
  vdb-eval groundtruth -m l2 -k 100 "$D/sift2k_base.fvecs" "$D/sift_query20.fvecs" >gt.ivecs
  cmp gt.ivecs "$D/sift2k_gt100_l2.ivecs"
}

@test "groundtruth streams the base from stdin in blocks and matches brute force" {
  random_fvecs b.fvecs 700 5 11 3
  random_fvecs q.fvecs 4 5 12 3
  vdb-eval groundtruth -k 30 -O jsonl - q.fvecs <b.fvecs >gt.jsonl
  diff <(ids_of gt.jsonl) <(brute b.fvecs q.fvecs 30 l2)
  for m in ip cosine; do
    vdb-eval groundtruth -m $m -k 30 -O jsonl b.fvecs q.fvecs >gt.$m.jsonl
    diff <(ids_of gt.$m.jsonl) <(brute b.fvecs q.fvecs 30 $m)
  done
}

@test "groundtruth needs matching dimensions and two files" {
  fvecs q.fvecs 3  1 2 3
  run vdb-eval groundtruth "$D/sift2k_base.fvecs" q.fvecs
  assert_failure 65
  assert_output --partial "sift2k_base.fvecs: record 0"
  run vdb-eval groundtruth q.fvecs
  assert_failure 64
}

@test "the README pipeline: recall of flat search is 1" {
  vdb-build --type flat -m l2 -o base.vdb "$D/sift2k_base.fvecs"
  vdb-eval groundtruth -m l2 -k 100 "$D/sift2k_base.fvecs" "$D/sift_query20.fvecs" >gt.ivecs
  run bash -c "vdb-query -x base.vdb -k 10 '$D/sift_query20.fvecs' | vdb-eval recall -k 10 gt.ivecs"
  assert_success
  assert_output "recall@10: 1.0000"
  vdb-query -x base.vdb -k 10 -O ivecs "$D/sift_query20.fvecs" >r.ivecs
  run vdb-eval recall -k 10 --json gt.ivecs r.ivecs
  assert_output '{"k": 10, "queries": 20, "recall": 1.000000}'
}

@test "recall counts misses, and --min-recall fails with status 1" {
  vdb-build -o base.vdb "$D/sift2k_base.fvecs"
  # drop every other result: recall@10 must be exactly 0.5
  vdb-query -x base.vdb -k 10 "$D/sift_query20.fvecs" |
    jq -c '.ids |= [.[0], .[2], .[4], .[6], .[8]]' >half.jsonl
  run --separate-stderr vdb-eval recall -k 10 "$D/sift2k_gt100_l2.ivecs" half.jsonl
  assert_success
  assert_output "recall@10: 0.5000"
  [[ "$stderr" == *"at most 5 results per query"* ]]
  run vdb-eval recall -k 10 --min-recall 0.9 "$D/sift2k_gt100_l2.ivecs" half.jsonl
  assert_failure 1
  assert_output --partial "below"
  run vdb-eval recall -k 10 --min-recall 0.4 "$D/sift2k_gt100_l2.ivecs" half.jsonl
  assert_success
}

@test "recall refuses mismatched query counts and string ids" {
  vdb-build -o base.vdb "$D/sift2k_base.fvecs"
  vdb-query -x base.vdb -k 10 "$D/sift_query20.fvecs" | head -5 >five.jsonl
  run vdb-eval recall -k 10 "$D/sift2k_gt100_l2.ivecs" five.jsonl
  assert_failure 65
  assert_output --partial "5 queries"
  vdb-build -o w.vdb "$D/words1k.jsonl"
  vdb-query -x w.vdb -k 10 "$D/words_query20.jsonl" >w.jsonl
  run vdb-eval recall -k 10 "$D/words1k_gt100_l2.ivecs" w.jsonl
  assert_failure 65
  assert_output --partial "--output ivecs"
  run vdb-eval recall "$D/words1k_gt100_l2.ivecs" w.jsonl
  assert_failure 64
}

@test "groundtruth --progress counts base vectors against the total on stderr only" {
  run --separate-stderr vdb-eval groundtruth --progress -k 10 "$D/sift2k_base.fvecs" "$D/sift_query20.fvecs"
  assert_success
  [[ "$stderr" == *"base vectors 0/2000 (  0%)"*"base vectors 2000/2000 (100%)"* ]]
  # stdout is the ground truth alone, the same as without --progress
  vdb-eval groundtruth --progress -k 10 "$D/sift2k_base.fvecs" "$D/sift_query20.fvecs" \
    2>/dev/null >progress.ivecs
  vdb-eval groundtruth -k 10 "$D/sift2k_base.fvecs" "$D/sift_query20.fvecs" >plain.ivecs
  cmp progress.ivecs plain.ivecs
  # streamed from stdin the total is unknown: a count
  run --separate-stderr vdb-eval groundtruth --progress -k 10 - "$D/sift_query20.fvecs" <"$D/sift2k_base.fvecs"
  assert_success
  [[ "$stderr" == *"base vectors 2000"* ]]
  [[ "$stderr" != *"/2000"* ]]
  run --separate-stderr vdb-eval groundtruth --progress -q -k 10 "$D/sift2k_base.fvecs" "$D/sift_query20.fvecs"
  [ -z "$stderr" ]
}
