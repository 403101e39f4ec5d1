#!/usr/bin/env bats
# Exact search on the full real datasets of ../shared/data against their
# own float64 ground truth. Skipped with a message where the data is absent.
load helpers

@test "siftsmall: flat l2 recall@100 is 1 against the shipped ground truth" {
  need_shared
  vdb-build -m l2 -o s.vdb "$S/siftsmall/siftsmall_base.fvecs"
  vdb-query -x s.vdb -k 100 -O ivecs "$S/siftsmall/siftsmall_query.fvecs" >r.ivecs
  run vdb-eval recall -k 100 "$S/siftsmall/siftsmall_groundtruth.ivecs" r.ivecs
  assert_output "recall@100: 1.0000"
  # ties are broken by the smaller id in both, so the lists are identical
  cmp r.ivecs "$S/siftsmall/siftsmall_groundtruth.ivecs"
}

@test "siftsmall: vdb-eval groundtruth reproduces the shipped ground truth" {
  need_shared
  vdb-eval groundtruth -k 100 "$S/siftsmall/siftsmall_base.fvecs" \
    "$S/siftsmall/siftsmall_query.fvecs" >gt.ivecs
  cmp gt.ivecs "$S/siftsmall/siftsmall_groundtruth.ivecs"
}

@test "wordnet: flat l2 and cosine recall@10 and @100 are 1 against the shipped ground truth" {
  need_shared
  W=$S/wordnet-fasttext
  for m in l2 cosine; do
    vdb-build -m $m -o w.vdb "$W/wn100_base.fvecs"
    vdb-query -x w.vdb -k 100 -O ivecs "$W/wn100_query.fvecs" >r.ivecs
    for k in 10 100; do
      run vdb-eval recall -k $k "$W/wn100_groundtruth_$m.ivecs" r.ivecs
      assert_output "recall@$k: 1.0000"
    done
  done
}

@test "wordnet: groundtruth with 1 and 2 threads agree, and agree with flat search" {
  need_shared
  W=$S/wordnet-fasttext
  vdb-eval groundtruth -t 1 -m cosine -k 10 "$W/wn100_base.fvecs" "$W/wn100_query.fvecs" >g1
  vdb-eval groundtruth -t 2 -m cosine -k 10 "$W/wn100_base.fvecs" "$W/wn100_query.fvecs" >g2
  cmp g1 g2
  vdb-build -m cosine -o w.vdb "$W/wn100_base.fvecs"
  vdb-query -x w.vdb -k 10 -O ivecs "$W/wn100_query.fvecs" >r
  cmp g1 r
}
