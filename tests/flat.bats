#!/usr/bin/env bats
# Exact search: the flat index returns the brute-force answer.
load helpers

@test "flat l2 on bundled SIFT returns exactly the float64 ground truth (ties to smaller id)" {
  vdb-build -T flat -m l2 -o s.vdb "$D/sift2k_base.fvecs"
  vdb-query -x s.vdb -k 100 -O ivecs "$D/sift_query20.fvecs" >r.ivecs
  cmp r.ivecs "$D/sift2k_gt100_l2.ivecs"
}

@test "flat matches an independent brute force for l2, ip and cosine, with exact ties" {
  random_fvecs b.fvecs 300 7 1 4     # integers 0..3: many exact ties
  random_fvecs q.fvecs 5 7 2 4
  random_fvecs fb.fvecs 300 9 3      # real values
  random_fvecs fq.fvecs 5 9 4
  # cosine ties between non-identical integer vectors, e.g. (1,1) and (3,3), are
  # ties only in exact arithmetic: any float computation orders them by rounding,
  # so cosine is checked on real-valued data
  for m in l2 ip cosine; do
    for set in "b q" "fb fq"; do
      read -r base qs <<<"$set"
      [ $m = cosine ] && [ $base = b ] && continue
      vdb-build -m $m -o $base.$m.vdb $base.fvecs
      run vdb-query -x $base.$m.vdb -k 25 $qs.fvecs
      assert_success
      diff <(ids_of <<<"$output") <(brute $base.fvecs $qs.fvecs 25 $m)
    done
  done
}

@test "reported distances are Euclidean, -dot and 1-cosine" {
  fvecs b.fvecs 2  3 4  1 0
  fvecs q.fvecs 2  0 0
  vdb-build -m l2 -o l2.vdb b.fvecs
  run vdb-query -x l2.vdb -k 2 q.fvecs
  assert_output '{"query": 0, "ids": [1, 0], "distances": [1, 5]}'
  fvecs q2.fvecs 2  1 1
  vdb-build -m ip -o ip.vdb b.fvecs
  run vdb-query -x ip.vdb -k 2 q2.fvecs
  assert_output '{"query": 0, "ids": [0, 1], "distances": [-7, -1]}'
  fvecs c.fvecs 2  0 1  -1 0  1 0
  vdb-build -m cosine -o cos.vdb c.fvecs
  fvecs q3.fvecs 2  2 0
  run vdb-query -x cos.vdb -k 3 q3.fvecs
  assert_output '{"query": 0, "ids": [2, 0, 1], "distances": [0, 1, 2]}'
}

@test "k larger than the index returns every vector" {
  fvecs b.fvecs 1  1 2 3
  fvecs q.fvecs 1  0
  vdb-build -o b.vdb b.fvecs
  run vdb-query -x b.vdb -k 10 q.fvecs
  assert_output '{"query": 0, "ids": [0, 1, 2], "distances": [1, 2, 3]}'
}

@test "output is in input order and identical on 1 and 2 threads, any batch size" {
  vdb-build -o s.vdb "$D/sift2k_base.fvecs"
  vdb-query -t 1 -x s.vdb -k 10 "$D/sift_query20.fvecs" >one.jsonl
  vdb-query -t 2 -x s.vdb -k 10 "$D/sift_query20.fvecs" >two.jsonl
  vdb-query -t 2 -b 3 -x s.vdb -k 10 <"$D/sift_query20.fvecs" >three.jsonl
  cmp one.jsonl two.jsonl
  cmp one.jsonl three.jsonl
  [ "$(jq -s 'map(.query) == [range(20)]' one.jsonl)" = true ]
}

@test "several query files are answered in order with running query numbers" {
  vdb-build -o s.vdb "$D/sift2k_base.fvecs"
  vdb-query -x s.vdb "$D/sift_query20.fvecs" "$D/sift_query20.fvecs" >r.jsonl
  [ "$(wc -l <r.jsonl)" = 40 ]
  [ "$(jq -s '.[20].query' r.jsonl)" = 20 ]
  [ "$(jq -s '.[0].ids == .[20].ids' r.jsonl)" = true ]
}

@test "JSONL ids come back verbatim, metadata with --include metadata" {
  printf '%s\n' '{"id": "doc-7", "vector": [0, 0], "metadata": {"category": "AI", "price": 12.5}}' \
    '{"id": 42, "vector": [1, 0]}' \
    '{"id": "q\"uote", "vector": [5, 5], "metadata": {"tags": ["a", "b"]}}' >docs.jsonl
  vdb-build -o docs.vdb docs.jsonl
  fvecs q.fvecs 2  0.75 0
  run vdb-query -x docs.vdb -k 3 q.fvecs
  assert_output --partial '"ids": [42, "doc-7", "q\"uote"]'
  run vdb-query -x docs.vdb -k 3 --include metadata q.fvecs
  assert_success
  [ "$(jq -c .metadata <<<"$output")" = '[null,{"category":"AI","price":12.5},{"tags":["a","b"]}]' ]
  run vdb-query -x docs.vdb -k 1 -O tsv --include metadata q.fvecs
  assert_output "$(printf '0\t1\t42\t0.25\tnull')"
  run vdb-query -x docs.vdb -k 2 -O tsv q.fvecs
  assert_line --index 1 "$(printf '0\t2\tdoc-7\t0.75')"
}

@test "ivecs output holds record numbers even when the index has string ids" {
  vdb-build -o w.vdb "$D/words1k.jsonl"
  vdb-query -x w.vdb -k 5 -O ivecs "$D/words_query20.jsonl" >r.ivecs
  [ "$(stat -c %s r.ivecs)" = $((20 * 24)) ]
  run vdb-query -x w.vdb -k 5 "$D/words_query20.jsonl"
  [ "$(head -1 <<<"$output" | jq -r '.ids[0] | type')" = string ]
}

@test "cosine and l2 flat match the bundled word ground truth" {
  for m in l2 cosine; do
    vdb-build -m $m -o w.$m.vdb "$D/words1k.jsonl"
    vdb-query -x w.$m.vdb -k 100 -O ivecs "$D/words_query20.jsonl" | vdb-eval recall -k 100 "$D/words1k_gt100_$m.ivecs" >rec
    assert_equal "$(cat rec)" "recall@100: 1.0000"
  done
}

@test "a lone query's scan split over 2 threads gives the one-thread and brute-force answer, ties to the smaller id" {
  random_fvecs b.fvecs 8000 128 5 3   # integers 0..2: ties across the threads' shares
  random_fvecs q.fvecs 3 128 6 3
  vdb-build -o b.vdb b.fvecs
  vdb-query -t 2 -b 1 -x b.vdb -k 20 q.fvecs >two.jsonl
  vdb-query -t 1 -b 1 -x b.vdb -k 20 q.fvecs >one.jsonl
  cmp one.jsonl two.jsonl
  diff <(ids_of two.jsonl) <(brute b.fvecs q.fvecs 20 l2)
}
