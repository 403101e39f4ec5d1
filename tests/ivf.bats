#!/usr/bin/env bats
# IVF-Flat and IVF-PQ: the flat answer at nprobe = nlist, recall on real
# data, reproducible builds, --info, parameter errors, damaged files.
load helpers

@test "ivf with nprobe = nlist is exactly the flat answer (l2, ip, cosine)" {
  for m in l2 ip cosine; do
    vdb-build -T flat -m $m -o f.vdb "$D/words1k.jsonl"
    vdb-build -T ivf -m $m --nlist 20 -o i.vdb "$D/words1k.jsonl"
    vdb-query -x f.vdb -k 10 "$D/words_query20.jsonl" >f.out
    vdb-query -x i.vdb -k 10 --nprobe 20 "$D/words_query20.jsonl" >i.out
    cmp f.out i.out # same ids, same distances, same order
  done
}

@test "ivf with nprobe = nlist matches brute force on data with exact ties" {
  random_fvecs base.fvecs 600 8 3 4 # values 0..3: many equal distances
  random_fvecs q.fvecs 15 8 4 4
  vdb-build -T ivf --nlist 12 -o i.vdb base.fvecs
  vdb-query -x i.vdb -k 7 --nprobe 12 q.fvecs | ids_of >got
  brute base.fvecs q.fvecs 7 l2 >want
  diff want got
}

@test "ivf recall never falls as nprobe grows, and reaches 1 at nlist" {
  vdb-build -T ivf --nlist 40 -o s.vdb "$D/sift2k_base.fvecs"
  prev=0
  for np in 1 2 4 8 16 40; do
    r=$(recall10 s.vdb "$D/sift_query20.fvecs" "$D/sift2k_gt100_l2.ivecs" --nprobe $np)
    echo "nprobe $np: $r"
    ge "$r" "$prev"
    prev=$r
  done
  [ "$r" = 1.0000 ]
}

@test "a batch and one query at a time probe the same lists: identical output" {
  for t in ivf ivfpq; do
    vdb-build -T $t --nlist 32 -m cosine -o w.vdb "$D/words1k.jsonl"
    cmp <(vdb-query -x w.vdb -k 10 --nprobe 4 "$D/words_query20.jsonl") \
        <(vdb-query -x w.vdb -k 10 --nprobe 4 -b 1 "$D/words_query20.jsonl")
  done
  vdb-build -T ivfpq --nlist 32 -o s.vdb "$D/sift2k_base.fvecs"
  cat "$D/sift_query20.fvecs" "$D/sift_query20.fvecs" >q40.fvecs # 40: a batch of >= 32
  cmp <(vdb-query -x s.vdb -k 10 --nprobe 3 q40.fvecs) <(vdb-query -x s.vdb -k 10 --nprobe 3 -b 1 q40.fvecs)
  # 1024 x 128 centroid values: a batch chooses by sgemm, past nprobe 8 too
  vdb-build -T ivf --nlist 1024 -o b.vdb "$D/sift2k_base.fvecs"
  for np in 4 12 40; do
    cmp <(vdb-query -x b.vdb -k 10 --nprobe $np q40.fvecs) \
        <(vdb-query -x b.vdb -k 10 --nprobe $np -b 1 -t 1 q40.fvecs)
  done
}

@test "ivf chooses its lists by exact distance at any nprobe, alone and in a batch" {
  # one vector a list (nlist = count): the lists probed are the results. Rows
  # 8 and 9 are at nearly equal distance from the query: the float kernel
  # ranks 9 first, the exact distance (and brute force in double) 8
  fvecs base.fvecs 2 0.01 0 0.02 0 0.03 0 0.04 0 0.05 0 0.06 0 0.07 0 0.08 0 \
    0.5356169 0.5781004 0.56574106 0.5486552 5 5 -5 3 4 -6 -3 -7
  fvecs q.fvecs 2 0 0
  for i in $(seq 40); do cat q.fvecs; done >q40.fvecs # a batch of >= 32
  vdb-build -T ivf --nlist 14 -o i.vdb base.fvecs
  brute base.fvecs q.fvecs 9 l2 >want
  for np in 9 12; do
    vdb-query -x i.vdb -k 9 --nprobe $np q.fvecs | ids_of >got
    diff want got
    vdb-query -x i.vdb -k 9 --nprobe $np q40.fvecs | ids_of | sort -u >got
    diff want got
  done
}

@test "one query split across 2 threads: brute force at nprobe = nlist, as on 1 thread" {
  random_fvecs base.fvecs 9000 8 5 4 # 72,000 values: a lone query is split; exact ties
  random_fvecs q.fvecs 12 8 6 4
  brute base.fvecs q.fvecs 7 l2 >want
  # 3 lists: each thread's share holds some of the answers
  vdb-build -T ivf --nlist 3 -o i.vdb base.fvecs
  vdb-query -x i.vdb -k 7 --nprobe 3 -t 2 -b 1 q.fvecs | ids_of >got
  diff want got
  vdb-build -T ivf --nlist 30 -o i.vdb base.fvecs
  cmp <(vdb-query -x i.vdb -k 7 --nprobe 5 -t 2 -b 1 q.fvecs) \
      <(vdb-query -x i.vdb -k 7 --nprobe 5 -t 1 q.fvecs)
  for m in ip cosine; do
    vdb-build -T flat -m $m -o f.vdb "$D/words1k.jsonl"
    vdb-build -T ivf -m $m --nlist 20 -o w.vdb "$D/words1k.jsonl"
    cmp <(vdb-query -x f.vdb -k 10 "$D/words_query20.jsonl") \
        <(vdb-query -x w.vdb -k 10 --nprobe 20 -t 2 -b 1 "$D/words_query20.jsonl")
  done
}

@test "ivf and ivfpq builds: byte-identical on 1 and 2 threads; the seed changes them" {
  for t in ivf ivfpq; do
    vdb-build -T $t --nlist 16 -t 1 -o a.vdb "$D/sift2k_base.fvecs"
    vdb-build -T $t --nlist 16 -t 2 -o b.vdb "$D/sift2k_base.fvecs"
    cmp a.vdb b.vdb
    vdb-build -T $t --nlist 16 -t 2 --seed 7 -o c.vdb "$D/sift2k_base.fvecs"
    # other cells, so other answers from one list (the files differ anyway:
    # they record their seed)
    vdb-query -x a.vdb -k 10 --nprobe 1 "$D/sift_query20.fvecs" >a.out
    vdb-query -x c.vdb -k 10 --nprobe 1 "$D/sift_query20.fvecs" >c.out
    [ "$(wc -l <c.out)" -eq 20 ]
    run -1 cmp -s a.out c.out
  done
}

@test "ivfpq: codes only by default, --refine keeps vectors and re-ranks exactly" {
  vdb-build -T ivfpq --nlist 16 --pq-m 16 -o pq.vdb "$D/sift2k_base.fvecs"
  vdb-build -T ivfpq --nlist 16 --pq-m 16 --refine 8 -o pqr.vdb "$D/sift2k_base.fvecs"
  vdb-build -T flat -o f.vdb "$D/sift2k_base.fvecs"
  vdb-query -x pq.vdb --info >info
  # a row's bytes: its code, its row number and its share of the per-list l2 tables
  jq -e '.type == "ivfpq" and .nlist == 16 and .quantizer.m == 16 and .refine == 0
         and (.bytes_per_vector - (16 + 4 + 16 * 16 * 256 * 4 / 2000) | fabs) < 0.01
         and .storage == "pq"' info >/dev/null
  jq -e '[.sections[].kind] | index("IVVE") == null' info >/dev/null
  jq -e '(.bytes_per_vector - (16 + 4 + 512 + 16 * 16 * 256 * 4 / 2000) | fabs) < 0.01
         and .refine == 8' <(vdb-query -x pqr.vdb --info) >/dev/null
  # codes only: 16 bytes of codes a vector against flat's 512 (the 128 KB of
  # codebooks weigh most in a file of 2,000 vectors)
  jq -e '.sections[] | select(.kind == "PQCO") | .length == 2000 * 16' info >/dev/null
  # the per-list l2 tables are made when opening: not in the file
  jq -e '[.sections[].kind] | index("PQPL") == null' info >/dev/null
  [ "$(stat -c %s pq.vdb)" -lt $(( $(stat -c %s f.vdb) / 4 )) ]
  # refined distances are exact: equal to flat's for the same ids
  vdb-query -x pqr.vdb -k 10 --nprobe 16 "$D/sift_query20.fvecs" >r.out
  vdb-query -x f.vdb -k 2000 "$D/sift_query20.fvecs" >f.out
  paste -d' ' <(jq -c '[.ids, .distances] | transpose' r.out) \
    <(jq -c '[.ids, .distances] | transpose | map({(.[0] | tostring): .[1]}) | add' f.out) |
    jq -s -e '[range(0; length; 2) as $i | .[$i] as $r | .[$i + 1] as $f |
      $r[] | .[1] == $f[.[0] | tostring]] | all and length == 200' >/dev/null
  # refining the codes' candidates beats the codes alone
  r0=$(recall10 pq.vdb "$D/sift_query20.fvecs" "$D/sift2k_gt100_l2.ivecs" --nprobe 16)
  r8=$(recall10 pqr.vdb "$D/sift_query20.fvecs" "$D/sift2k_gt100_l2.ivecs" --nprobe 16)
  echo "codes $r0, refined $r8"
  ge "$r8" "$r0"
  ge "$r8" 0.95
}

@test "ivfpq code distances are within 15% of the true ones" {
  vdb-build -T ivfpq --nlist 16 --pq-m 32 -o pq.vdb "$D/sift2k_base.fvecs"
  vdb-build -T flat -o f.vdb "$D/sift2k_base.fvecs"
  vdb-query -x pq.vdb -k 10 --nprobe 16 "$D/sift_query20.fvecs" >pq.out
  vdb-query -x f.vdb -k 2000 "$D/sift_query20.fvecs" >f.out
  # mean relative error of the reported distance of each hit
  err=$(paste -d' ' <(jq -c '[.ids, .distances] | transpose' pq.out) \
    <(jq -c '[.ids, .distances] | transpose | map({(.[0] | tostring): .[1]}) | add' f.out) |
    jq -s '[range(0; length; 2) as $i | .[$i] as $r | .[$i + 1] as $f |
      $r[] | ((.[1] - $f[.[0] | tostring]) / $f[.[0] | tostring]) | fabs] | add / length')
  echo "mean relative distance error $err"
  ge 0.15 "$err"
}

@test "ivf and ivfpq with cosine and JSONL ids" {
  vdb-build -T ivfpq -m cosine --nlist 10 --pq-m 10 --refine 4 -o w.vdb "$D/words1k.jsonl"
  vdb-query -x w.vdb -k 5 --nprobe 10 "$D/words_query20.jsonl" >out
  [ "$(wc -l <out)" = 20 ]
  jq -e '.ids | length == 5 and all(type == "string")' out >/dev/null
  jq -e '.distances | all(. >= 0 and . <= 2)' out >/dev/null
  vdb-build -T ivf -m cosine --nlist 10 -o i.vdb "$D/words1k.jsonl"
  vdb-build -T flat -m cosine -o f.vdb "$D/words1k.jsonl"
  cmp <(vdb-query -x i.vdb -k 5 --nprobe 10 "$D/words_query20.jsonl") \
      <(vdb-query -x f.vdb -k 5 "$D/words_query20.jsonl")
}

@test "ivf parameter errors exit 64 (too little data 65) and leave the existing index alone" {
  vdb-build -T ivf --nlist 8 -o ix.vdb "$D/sift2k_base.fvecs"
  cp ix.vdb keep.vdb
  run vdb-build -T ivf --nlist 5000 -o ix.vdb "$D/sift2k_base.fvecs"
  [ "$status" -eq 64 ]
  [[ "$output" == *"--nlist 5000"*"2000"* ]]
  run vdb-build -T ivfpq --pq-m 7 -o ix.vdb "$D/sift2k_base.fvecs"
  [ "$status" -eq 64 ]
  [[ "$output" == *"--pq-m 7 must divide the dimension 128"* ]]
  run vdb-build -T ivf --pq-m 8 -o ix.vdb "$D/sift2k_base.fvecs"
  [ "$status" -eq 64 ]
  run vdb-build -T hnsw --nlist 8 -o ix.vdb "$D/sift2k_base.fvecs"
  [ "$status" -eq 64 ]
  # too few vectors for any ivfpq (as for vdb-quantize train --kind pq): bad data
  run vdb-build -T ivfpq -o ix.vdb "$D/sift_query20.fvecs"
  [ "$status" -eq 65 ]
  [[ "$output" == *"at least 256 vectors"* ]]
  run vdb-build --append -x ix.vdb -o ix.vdb "$D/words_query20.jsonl" # dimension 100
  [ "$status" -eq 65 ]
  run vdb-build -T ivf --nlist 0 -o ix.vdb "$D/sift2k_base.fvecs"
  [ "$status" -eq 64 ]
  cmp ix.vdb keep.vdb
  # nprobe beyond nlist is nlist; k beyond the count gives every row once
  vdb-query -x ix.vdb -k 3000 --nprobe 100 "$D/sift_query20.fvecs" | head -1 >all
  [ "$(jq '.ids | length' all)" = 2000 ]
  [ "$(jq '.ids | unique | length' all)" = 2000 ]
}

@test "ivf and ivfpq --append: new rows join their nearest lists; nprobe = nlist is still flat" {
  head -c $((1000 * 516)) "$D/sift2k_base.fvecs" >a.fvecs
  tail -c +$((1000 * 516 + 1)) "$D/sift2k_base.fvecs" >b.fvecs
  vdb-build -T flat -o f.vdb "$D/sift2k_base.fvecs"
  vdb-build -T ivf --nlist 16 -o ap.vdb a.fvecs
  vdb-build --append -x ap.vdb -o ap.vdb b.fvecs
  [ "$(vdb-query -x ap.vdb --info | jq '.count, .nlist' | tr '\n' ' ')" = "2000 16 " ]
  vdb-query -x ap.vdb --verify
  cmp <(vdb-query -x ap.vdb -k 10 --nprobe 16 "$D/sift_query20.fvecs") \
      <(vdb-query -x f.vdb -k 10 "$D/sift_query20.fvecs")
  # ivfpq: the appended index keeps its codebooks and reaches a fresh build's recall
  vdb-build -T ivfpq --nlist 16 --refine 4 -o pa.vdb a.fvecs
  vdb-build --append -x pa.vdb -o pa.vdb b.fvecs
  vdb-build -T ivfpq --nlist 16 --refine 4 -o pf.vdb "$D/sift2k_base.fvecs"
  vdb-query -x pa.vdb --verify
  ra=$(recall10 pa.vdb "$D/sift_query20.fvecs" "$D/sift2k_gt100_l2.ivecs" --nprobe 8)
  rf=$(recall10 pf.vdb "$D/sift_query20.fvecs" "$D/sift2k_gt100_l2.ivecs" --nprobe 8)
  echo "appended $ra, fresh $rf"
  near "$ra" "$rf" 0.05
}

@test "damaged ivf files: bad offsets and rows beyond the count exit 65 on open, --verify names them" {
  vdb-build -T ivf --nlist 8 -o s.vdb "$D/words1k.jsonl"
  cp s.vdb t.vdb
  off=$(vdb-query -x s.vdb --info | jq '.sections[] | select(.kind == "IVOF") | .offset')
  perl -e 'print "\xff" x 16' | dd of=s.vdb bs=1 seek=$((off + 8)) conv=notrunc status=none
  run vdb-query -x s.vdb -k 10 "$D/words_query20.jsonl"
  [ "$status" -eq 65 ]
  [[ "$output" == *"s.vdb"* ]]
  off=$(vdb-query -x t.vdb --info | jq '.sections[] | select(.kind == "IVRW") | .offset')
  perl -e 'print "\xff" x 4000' | dd of=t.vdb bs=1 seek=$off conv=notrunc status=none
  run vdb-query -x t.vdb -k 10 --nprobe 8 "$D/words_query20.jsonl"
  [ "$status" -eq 65 ]
  [[ "$output" == *"t.vdb: IVRW position 0 holds row 4294967295"* ]]
  run vdb-query -x t.vdb --verify
  [ "$status" -eq 65 ]
  [[ "$output" == *"t.vdb"* ]]
}

@test "siftsmall: ivf recall@10 >= 0.95 at nprobe 32, ivfpq with refine >= 0.90 at nprobe 16" {
  need_shared
  b=$S/siftsmall/siftsmall_base.fvecs q=$S/siftsmall/siftsmall_query.fvecs
  gt=$S/siftsmall/siftsmall_groundtruth.ivecs
  vdb-build -T ivf -o i.vdb "$b" # nlist 400 by default
  [ "$(vdb-query -x i.vdb --info | jq .nlist)" = 400 ]
  r=$(recall10 i.vdb "$q" "$gt" --nprobe 32)
  vdb-build -T ivfpq --pq-m 16 --refine 4 -o p.vdb "$b"
  rp=$(recall10 p.vdb "$q" "$gt" --nprobe 16)
  echo "ivf nprobe 32: $r; ivfpq m 16 refine 4 nprobe 16: $rp"
  ge "$r" 0.95
  ge "$rp" 0.90
}

@test "wordnet: ivf cosine recall@10 >= 0.95 at nprobe 96 (default nlist 652)" {
  need_shared
  W=$S/wordnet-fasttext
  vdb-build -T ivf -m cosine -o w.vdb "$W/wn100_base.fvecs"
  r=$(recall10 w.vdb "$W/wn100_query.fvecs" "$W/wn100_groundtruth_cosine.ivecs" --nprobe 96)
  echo "nlist $(vdb-query -x w.vdb --info | jq .nlist), nprobe 96: $r"
  ge "$r" 0.95
}

@test "--info bytes_per_vector for every type adds up to the file" {
  vdb-build -T flat -o f.vdb "$D/sift2k_base.fvecs"
  vdb-build -T flat -m cosine -o fc.vdb "$D/sift2k_base.fvecs"
  vdb-build -T hnsw -o h.vdb "$D/sift2k_base.fvecs"
  vdb-build -T ivf --nlist 16 -o i.vdb "$D/sift2k_base.fvecs"
  [ "$(vdb-query -x f.vdb --info | jq .bytes_per_vector)" = 516 ]   # vector + |x|^2
  [ "$(vdb-query -x fc.vdb --info | jq .bytes_per_vector)" = 512 ]  # unit vectors: no norms
  [ "$(vdb-query -x i.vdb --info | jq .bytes_per_vector)" = 516 ]   # vector + row number
  for ix in f.vdb h.vdb i.vdb; do
    # the per-vector bytes are at most the file and at least its vector sections
    vdb-query -x $ix --info | jq -e '.bytes_per_vector * .count <= .size and
      .bytes_per_vector * .count >= ([.sections[] | select(.kind | IN("VECS", "HNL0", "IVVE"))
      | .length] | add)' >/dev/null
  done
}

@test "ivfpq codes reconstruct far better than the list centroid alone; more bytes, less error" {
  for m in 8 32; do
    vdb-build -T ivfpq --nlist 16 --pq-m $m -o pq$m.vdb "$D/sift2k_base.fvecs"
    vdb-query -x pq$m.vdb --info | jq -c .quantizer >q$m.json
    cat q$m.json
    # the centroid alone leaves the whole residual; the codes at most a third of it
    jq -e '.centroid_mse > 0 and .mse > 0 and .mse < .centroid_mse / 3' q$m.json >/dev/null
  done
  jq -s -e '.[0].centroid_mse == .[1].centroid_mse and .[1].mse < .[0].mse / 1.5' q8.json q32.json >/dev/null
}
