#!/usr/bin/env bats
# HNSW: recall on real data, reproducible builds, append, --info, damaged
# files. Recall thresholds are the issue's (M 16, ef-construction 200).
load helpers

@test "hnsw on bundled sift: recall@10 against brute force, any thread count" {
  vdb-build -T hnsw -o s.vdb "$D/sift2k_base.fvecs"
  r=$(recall10 s.vdb "$D/sift_query20.fvecs" "$D/sift2k_gt100_l2.ivecs" --ef 64)
  ge "$r" 0.95
  r1=$(recall10 s.vdb "$D/sift_query20.fvecs" "$D/sift2k_gt100_l2.ivecs" --ef 64 -t 1)
  [ "$r" = "$r1" ] # queries are independent: threads change nothing
}

@test "hnsw ip: recall against vdb-eval groundtruth -m ip" {
  vdb-build -T hnsw -m ip -o s.vdb "$D/sift2k_base.fvecs"
  vdb-eval groundtruth -m ip -k 10 "$D/sift2k_base.fvecs" "$D/sift_query20.fvecs" >gt.ivecs
  r=$(recall10 s.vdb "$D/sift_query20.fvecs" gt.ivecs --ef 256)
  ge "$r" 0.9
}

@test "hnsw distances are the metric's own: equal to flat's for the same ids" {
  for m in l2 cosine ip; do
    vdb-build -T hnsw -m $m -o h.vdb "$D/words1k.jsonl"
    vdb-build -T flat -m $m -o f.vdb "$D/words1k.jsonl"
    vdb-query -x h.vdb -k 10 "$D/words_query20.jsonl" >h.out
    vdb-query -x f.vdb -k 1000 "$D/words_query20.jsonl" >f.out
    # every hnsw hit carries the distance flat computes for that id
    paste -d' ' <(jq -c '[.ids, .distances] | transpose' h.out) \
      <(jq -c '[.ids, .distances] | transpose | map({(.[0]): .[1]}) | add' f.out) |
      jq -s -e --arg m $m '[range(0; length; 2) as $i | .[$i] as $h | .[$i + 1] as $f |
        $h[] | (.[1] - $f[.[0]]) | fabs < 1e-4] | all and length == 200' >/dev/null
  done
}

@test "hnsw returns k results when ef < k, and ids from JSONL verbatim" {
  vdb-build -T hnsw -o w.vdb "$D/words1k.jsonl"
  vdb-query -x w.vdb -k 50 --ef 10 "$D/words_query20.jsonl" >out
  [ "$(jq '.ids | length' out | sort -u)" = 50 ]
  jq -e '.ids | all(type == "string")' out >/dev/null
  vdb-query -x w.vdb -k 2000 "$D/words_query20.jsonl" | head -1 >all
  # k beyond the count: every node reached, once, nearest first (a few
  # outliers lose all their in-links to the pruning heuristic, as in hnswlib)
  n=$(jq '.ids | length' all)
  [ "$n" -ge 950 ]
  [ "$n" -le 1000 ]
  [ "$(jq '.ids | unique | length' all)" = "$n" ]
  jq -e '.distances as $d | [range(1; $d | length) | $d[. - 1] <= $d[.]] | all' all >/dev/null
}

# finds_itself IX RECORDS.jsonl: every record, asked for by its own vector with
# ef at least the record count, comes first at distance 0 (to float rounding;
# the words have no duplicate vectors: the record itself is the exact answer)
finds_itself() {
  jq -c '{vector}' "$2" | vdb-query -x "$1" -k 1 --ef 1000 |
    jq -c '[.ids[0], (.distances[0] | fabs < 1e-5)]' >got
  jq -c '[.id, true]' "$2" >want
  diff got want
}

@test "every node is reachable: a record's own vector finds it, whatever M, metric, append or compaction" {
  # pruning can leave a node no list links to (hnswlib leaves 27 of these
  # 1,000 word vectors so at M 16): such a node is never found, whatever ef
  for M in 4 16; do
    for m in l2 cosine; do
      vdb-build -q -T hnsw --M $M -m $m -o w.vdb "$D/words1k.jsonl"
      finds_itself w.vdb "$D/words1k.jsonl"
    done
  done
  # appended records, and what is left after compacting a third away
  head -n 500 "$D/words1k.jsonl" | vdb-build -q -T hnsw --M 4 -o a.vdb
  tail -n 500 "$D/words1k.jsonl" | vdb-build -q --append -x a.vdb
  finds_itself a.vdb "$D/words1k.jsonl"
  awk 'NR % 3 == 0' "$D/words1k.jsonl" | jq -r .id >dead.txt
  vdb-build -q --delete -x a.vdb dead.txt
  vdb-build -q --compact -x a.vdb -o c.vdb
  awk 'NR % 3 != 0' "$D/words1k.jsonl" >live.jsonl
  finds_itself c.vdb live.jsonl
}

@test "single-thread hnsw builds are byte-identical; the seed changes them" {
  vdb-build -T hnsw -t 1 --seed 7 -o a.vdb "$D/sift2k_base.fvecs"
  vdb-build -T hnsw -t 1 --seed 7 -o b.vdb "$D/sift2k_base.fvecs"
  cmp a.vdb b.vdb
  vdb-build -T hnsw -t 1 --seed 8 -o c.vdb "$D/sift2k_base.fvecs"
  # another graph, so other answers at a small ef (the files differ anyway:
  # they record their seed)
  vdb-query -x a.vdb -k 10 --ef 10 "$D/sift_query20.fvecs" >a.out
  vdb-query -x c.vdb -k 10 --ef 10 "$D/sift_query20.fvecs" >c.out
  [ "$(wc -l <c.out)" -eq 20 ]
  run -1 cmp -s a.out c.out
}

@test "hnsw --info shows M, ef_construction, levels and nodes per level" {
  vdb-build -T hnsw --M 8 --ef-construction 50 -o s.vdb "$D/sift2k_base.fvecs"
  vdb-query -x s.vdb --info >info
  [ "$(jq .M info)" = 8 ]
  [ "$(jq .ef_construction info)" = 50 ]
  [ "$(jq '.nodes_per_level | length' info)" = "$(jq .levels info)" ]
  [ "$(jq '.nodes_per_level[0]' info)" = 2000 ]
  # each level holds fewer nodes than the one below, about 1/M of them
  jq -e '.nodes_per_level as $c | [range(1; $c | length) | $c[.] < $c[. - 1]] | all' info
  jq -e '.nodes_per_level[1] > 2000 / 8 / 2 and .nodes_per_level[1] < 2000 / 8 * 2' info
  # the default: the graph on byte codes (their ranges in SQ8R), the float32
  # vectors beside it for re-ranking
  [ "$(jq -r '[.sections[].kind] | join(",")' info)" = "HNL0,HNUO,HNUL,SQ8R,VECS,RCRV" ]
  vdb-build -q -T hnsw --storage f32 -o f.vdb "$D/sift2k_base.fvecs"
  [ "$(vdb-query -x f.vdb --info | jq -r '[.sections[].kind] | join(",")')" = "HNL0,HNUO,HNUL,RCRV" ]
}

@test "hnsw parameters out of range are usage errors" {
  run vdb-build -T hnsw --M 1 -o s.vdb "$D/sift2k_base.fvecs"
  [ "$status" -eq 64 ]
  [[ "$output" == *"--M"* ]]
  run vdb-build -T hnsw --ef-construction 0 -o s.vdb "$D/sift2k_base.fvecs"
  [ "$status" -eq 64 ]
  [ ! -e s.vdb ]
}

@test "append: ids continue, the result answers like a fresh build" {
  n=1000 rec=$((4 + 128 * 4))
  head -c $((n * rec)) "$D/sift2k_base.fvecs" >a.fvecs
  tail -c +$((n * rec + 1)) "$D/sift2k_base.fvecs" >b.fvecs
  vdb-build -T hnsw -o ix.vdb a.fvecs
  vdb-build --append -o ix.vdb b.fvecs
  [ "$(vdb-query -x ix.vdb --info | jq .count)" = 2000 ]
  vdb-query -x ix.vdb --verify
  r=$(recall10 ix.vdb "$D/sift_query20.fvecs" "$D/sift2k_gt100_l2.ivecs")
  ge "$r" 0.95
  # with -x, the base is left as it was
  cp ix.vdb keep.vdb
  vdb-build --append -x ix.vdb -o ix2.vdb b.fvecs
  cmp ix.vdb keep.vdb
  [ "$(vdb-query -x ix2.vdb --info | jq .count)" = 3000 ]
}

@test "append to a flat index equals a flat build of everything" {
  head -c $((700 * 516)) "$D/sift2k_base.fvecs" >a.fvecs
  tail -c +$((700 * 516 + 1)) "$D/sift2k_base.fvecs" >b.fvecs
  vdb-build -o ix.vdb a.fvecs
  vdb-build --append -x ix.vdb -o ix.vdb b.fvecs
  vdb-query -x ix.vdb -k 100 -O ivecs "$D/sift_query20.fvecs" >r.ivecs
  cmp r.ivecs "$D/sift2k_gt100_l2.ivecs"
}

@test "append JSONL keeps string ids; mixed sources number the rows without ids" {
  head -n 600 "$D/words1k.jsonl" >a.jsonl
  tail -n +601 "$D/words1k.jsonl" >b.jsonl
  vdb-build -T hnsw -m cosine -o w.vdb a.jsonl
  vdb-build --append -o w.vdb b.jsonl
  vdb-build -T hnsw -m cosine -o fresh.vdb "$D/words1k.jsonl"
  vdb-query -x w.vdb -k 10 "$D/words_query20.jsonl" >app.out
  jq -e '.ids | all(type == "string")' app.out >/dev/null
  # recall of the appended index against the fresh one's exact neighbours
  vdb-build -m cosine -o flat.vdb "$D/words1k.jsonl"
  vdb-query -x flat.vdb -k 10 "$D/words_query20.jsonl" >flat.out
  hits=$(paste -d' ' <(jq -c .ids app.out) <(jq -c .ids flat.out) |
    jq -s '[range(0; length; 2) as $i | .[$i] as $a | .[$i + 1] as $b | $a - ($a - $b) | length] | add')
  [ "$hits" -ge 190 ] # of 200
  # fvecs rows appended to a JSONL index get their row numbers as ids
  printf '{"id":"x","vector":[1,2,3]}\n' >one.jsonl
  vdb-build -o n.vdb one.jsonl
  fvecs two.fvecs 3 1 2 4 9 9 9
  vdb-build --append -o n.vdb two.fvecs
  fvecs q.fvecs 3 9 9 9
  [ "$(vdb-query -x n.vdb -k 3 q.fvecs | jq -c .ids)" = '[2,1,"x"]' ]
}

@test "append errors leave the index untouched" {
  vdb-build -T hnsw -o ix.vdb "$D/sift2k_base.fvecs"
  cp ix.vdb keep.vdb
  fvecs d3.fvecs 3 1 2 3
  run vdb-build --append -o ix.vdb d3.fvecs
  [ "$status" -eq 65 ]
  [[ "$output" == *"d3.fvecs"* ]]
  [[ "$output" == *"dimension"* ]]
  run vdb-build --append -T flat -o ix.vdb "$D/sift_query20.fvecs"
  [ "$status" -eq 64 ]
  [[ "$output" == *"hnsw"* ]]
  run vdb-build --append -x missing.vdb -o ix.vdb "$D/sift_query20.fvecs"
  [ "$status" -eq 66 ]
  cmp ix.vdb keep.vdb
  run vdb-build -x ix.vdb -o other.vdb "$D/sift_query20.fvecs"
  [ "$status" -eq 64 ]
}

@test "a damaged hnsw graph: search stays in bounds, --verify names the failure" {
  vdb-build -T hnsw -o s.vdb "$D/sift2k_base.fvecs"
  off=$(vdb-query -x s.vdb --info | jq '.sections[] | select(.kind == "HNL0") | .offset')
  # overwrite 64 KiB of vectors and links with 0xff: counts and ids far out of range
  perl -e 'print "\xff" x 65536' | dd of=s.vdb bs=1 seek=$((off + 4096)) conv=notrunc status=none
  run vdb-query -x s.vdb -k 10 "$D/sift_query20.fvecs"
  [ "$status" -eq 0 ]
  [ "${#lines[@]}" -eq 20 ]
  run vdb-query -x s.vdb --verify
  [ "$status" -eq 65 ]
  [[ "$output" == *"s.vdb"* ]]
}

@test "siftsmall: hnsw recall@10 >= 0.95 at ef 64 and >= 0.99 at ef 256" {
  need_shared
  vdb-build -T hnsw --M 16 --ef-construction 200 -o s.vdb "$S/siftsmall/siftsmall_base.fvecs"
  gt=$S/siftsmall/siftsmall_groundtruth.ivecs q=$S/siftsmall/siftsmall_query.fvecs
  r64=$(recall10 s.vdb "$q" "$gt" --ef 64)
  r256=$(recall10 s.vdb "$q" "$gt" --ef 256)
  echo "recall@10: ef 64 $r64, ef 256 $r256"
  ge "$r64" 0.95
  ge "$r256" 0.99
}

@test "wordnet: hnsw l2 and cosine recall@10 thresholds; 2-thread build within 0.01 of 1-thread" {
  need_shared
  W=$S/wordnet-fasttext
  for m in l2 cosine; do
    vdb-build -T hnsw -m $m -t 2 -o w2.vdb "$W/wn100_base.fvecs"
    r64=$(recall10 w2.vdb "$W/wn100_query.fvecs" "$W/wn100_groundtruth_$m.ivecs" --ef 64)
    r256=$(recall10 w2.vdb "$W/wn100_query.fvecs" "$W/wn100_groundtruth_$m.ivecs" --ef 256)
    echo "$m: ef 64 $r64, ef 256 $r256"
    ge "$r64" 0.95
    ge "$r256" 0.99
  done
  vdb-build -T hnsw -m cosine -t 1 -o w1.vdb "$W/wn100_base.fvecs"
  r1=$(recall10 w1.vdb "$W/wn100_query.fvecs" "$W/wn100_groundtruth_cosine.ivecs" --ef 64)
  r2=$(recall10 w2.vdb "$W/wn100_query.fvecs" "$W/wn100_groundtruth_cosine.ivecs" --ef 64)
  echo "1 thread $r1, 2 threads $r2"
  near "$r1" "$r2" 0.01
}

@test "siftsmall: appending the second half reaches a fresh build's recall within 0.01" {
  need_shared
  b=$S/siftsmall/siftsmall_base.fvecs q=$S/siftsmall/siftsmall_query.fvecs
  gt=$S/siftsmall/siftsmall_groundtruth.ivecs
  head -c $((5000 * 516)) "$b" >a.fvecs
  tail -c +$((5000 * 516 + 1)) "$b" >b.fvecs
  vdb-build -T hnsw -o fresh.vdb "$b"
  vdb-build -T hnsw -o app.vdb a.fvecs
  vdb-build --append -x app.vdb -o app.vdb b.fvecs
  rf=$(recall10 fresh.vdb "$q" "$gt" --ef 32)
  ra=$(recall10 app.vdb "$q" "$gt" --ef 32)
  echo "fresh $rf, appended $ra"
  near "$rf" "$ra" 0.01
}
