#!/usr/bin/env bats
# --storage fp16|sq8 for flat and hnsw indexes, and --refine over them:
# what is stored, what a search returns, errors, recall on real data.
load helpers

# the (id, distance) pairs of results as one JSON object per query
pairs() { jq -c '[.ids, .distances] | transpose | map({(.[0] | tostring): .[1]}) | add' "$1"; }

@test "flat sq8 is exactly flat over vdb-quantize's decoded vectors (l2 and ip)" {
  vdb-quantize train --kind sq8 -o q.vdbq "$D/sift2k_base.fvecs"
  vdb-quantize encode -q q.vdbq "$D/sift2k_base.fvecs" | vdb-quantize decode -q q.vdbq >dec.fvecs
  for m in l2 ip; do
    vdb-build -m $m --storage sq8 -o s.vdb "$D/sift2k_base.fvecs"
    vdb-build -m $m -o d.vdb dec.fvecs
    vdb-query -x s.vdb -k 10 "$D/sift_query20.fvecs" >s.out
    vdb-query -x d.vdb -k 10 "$D/sift_query20.fvecs" >d.out
    cmp s.out d.out
    # and it is not simply the float32 answer
    vdb-build -m $m -o f.vdb "$D/sift2k_base.fvecs"
    vdb-query -x f.vdb -k 10 "$D/sift_query20.fvecs" >f.out
    run -1 cmp -s s.out f.out
  done
  # one query at a time: the same answer
  vdb-query -x s.vdb -k 10 --batch 1 "$D/sift_query20.fvecs" | cmp - s.out
}

@test "fp16 keeps SIFT's small integers exactly: flat fp16 answers as flat f32, in half the bytes" {
  vdb-build --storage fp16 -o h.vdb "$D/sift2k_base.fvecs"
  vdb-build -o f.vdb "$D/sift2k_base.fvecs"
  cmp <(vdb-query -x h.vdb -k 10 "$D/sift_query20.fvecs") <(vdb-query -x f.vdb -k 10 "$D/sift_query20.fvecs")
  vdb-query -x h.vdb --info >info
  jq -e '.storage == "fp16" and .bytes_per_vector == 256 + 4 and .refine == 0' info >/dev/null
  jq -e '[.sections[].kind] | (index("CODE") != null) and (index("VECS") == null)' info >/dev/null
  [ "$(vdb-query -x f.vdb --info | jq -r .storage)" = f32 ]
}

@test "sq8 stores a quarter of the bytes; --refine adds the float32 vectors; --info says so" {
  vdb-build -o f.vdb "$D/sift2k_base.fvecs"
  vdb-build --storage sq8 -o s.vdb "$D/sift2k_base.fvecs"
  vdb-build --storage sq8 --refine 4 -o r.vdb "$D/sift2k_base.fvecs"
  vdb-build -T hnsw --storage sq8 -o hs.vdb "$D/sift2k_base.fvecs"
  vdb-build -T hnsw -o hf.vdb "$D/sift2k_base.fvecs"
  jq -e '.storage == "sq8" and .bytes_per_vector == 128 + 4 and .refine == 0' \
    <(vdb-query -x s.vdb --info) >/dev/null
  jq -e '.bytes_per_vector == 128 + 512 + 4 and .refine == 4' <(vdb-query -x r.vdb --info) >/dev/null
  jq -e '.sections[] | select(.kind == "SQ8R") | .length == 2 * 128 * 4' \
    <(vdb-query -x s.vdb --info) >/dev/null
  # the quantizer: SIFT values lie in 0..255, so no step exceeds 1
  vdb-query -x hs.vdb --info | jq -e '.quantizer | .kind == "sq8" and .bits == 8 and
    .min >= 0 and .max <= 255 and .max > .min and .largest_step > 0 and .largest_step <= 1' >/dev/null
  [ $(stat -c %s s.vdb) -lt $(( $(stat -c %s f.vdb) * 3 / 10 )) ]
  # hnsw: the vector part of each node shrinks from 512 to 128 bytes
  hf=$(vdb-query -x hf.vdb --info | jq .bytes_per_vector)
  hs=$(vdb-query -x hs.vdb --info | jq .bytes_per_vector)
  ge "$(awk -v a="$hf" -v b="$hs" 'BEGIN { print a - b }')" 384
  for ix in s.vdb r.vdb hs.vdb; do
    vdb-query -x $ix --info | jq -e '.bytes_per_vector * .count <= .size' >/dev/null
  done
}

@test "--refine re-ranks with the float32 vectors: exact distances, flat's answer" {
  vdb-build -o f.vdb "$D/sift2k_base.fvecs"
  vdb-build --storage sq8 --refine 10 -o r.vdb "$D/sift2k_base.fvecs"
  vdb-query -x f.vdb -k 10 "$D/sift_query20.fvecs" >f.out
  vdb-query -x r.vdb -k 10 "$D/sift_query20.fvecs" | cmp - f.out
  # hnsw: every returned distance is the exact one (flat's, for the same id)
  vdb-build -T hnsw --storage sq8 --refine 4 -o hr.vdb "$D/sift2k_base.fvecs"
  vdb-query -x hr.vdb -k 10 --ef 64 "$D/sift_query20.fvecs" >hr.out
  vdb-query -x f.vdb -k 2000 "$D/sift_query20.fvecs" >all.out
  paste -d' ' <(jq -c '[.ids, .distances] | transpose' hr.out) <(pairs all.out) |
    jq -s -e '[range(0; length; 2) as $i | .[$i] as $r | .[$i + 1] as $f |
      $r[] | .[1] == $f[.[0] | tostring]] | all and length == 200' >/dev/null
  # without refine the sq8 distances are approximate, but close
  vdb-build -T hnsw --storage sq8 -o hs.vdb "$D/sift2k_base.fvecs"
  vdb-query -x hs.vdb -k 10 --ef 64 "$D/sift_query20.fvecs" >hs.out
  err=$(paste -d' ' <(jq -c '[.ids, .distances] | transpose' hs.out) <(pairs all.out) |
    jq -s '[range(0; length; 2) as $i | .[$i] as $r | .[$i + 1] as $f |
      $r[] | ((.[1] - $f[.[0] | tostring]) / $f[.[0] | tostring]) | fabs] | max')
  echo "largest relative distance error of sq8: $err"
  ge 0.02 "$err"
  run ! ge 0 "$err"
  r=$(recall10 hr.vdb "$D/sift_query20.fvecs" "$D/sift2k_gt100_l2.ivecs" --ef 64)
  ge "$r" 0.95
}

@test "cosine and JSONL ids with sq8 storage: ids kept, recall close to f32" {
  for st in f32 sq8; do
    vdb-build -m cosine -T hnsw --storage $st -o $st.vdb "$D/words1k.jsonl"
    vdb-query -x $st.vdb -k 10 --ef 64 "$D/words_query20.jsonl" >$st.out
  done
  # string ids from the JSONL, not row numbers
  jq -e '.ids | all(type == "string")' sq8.out >/dev/null
  # at least 90% of the f32 index's hits are found again
  same=$(paste -d' ' <(jq -c .ids f32.out) <(jq -c .ids sq8.out) |
    jq -s '[range(0; length; 2) as $i | (.[$i] - (.[$i] - .[$i + 1])) | length] | add')
  echo "common hits: $same of 200"
  [ "$same" -ge 180 ]
}

@test "append to sq8 indexes encodes the new rows with the file's ranges" {
  head -c $((1000 * 516)) "$D/sift2k_base.fvecs" >a.fvecs
  tail -c +$((1000 * 516 + 1)) "$D/sift2k_base.fvecs" >b.fvecs
  # flat: equal to flat over the rows decoded with a quantizer trained on a.fvecs
  vdb-build --storage sq8 -o s.vdb a.fvecs
  vdb-build --append -o s.vdb b.fvecs
  vdb-quantize train --kind sq8 -o q.vdbq a.fvecs
  vdb-quantize encode -q q.vdbq "$D/sift2k_base.fvecs" | vdb-quantize decode -q q.vdbq >dec.fvecs
  vdb-build -o d.vdb dec.fvecs
  cmp <(vdb-query -x s.vdb -k 10 "$D/sift_query20.fvecs") <(vdb-query -x d.vdb -k 10 "$D/sift_query20.fvecs")
  jq -e '.count == 2000 and .storage == "sq8"' <(vdb-query -x s.vdb --info) >/dev/null
  # hnsw with refine: the appended rows are searchable and refined exactly
  vdb-build -T hnsw --storage sq8 --refine 4 -o h.vdb a.fvecs
  vdb-build --append -o h.vdb b.fvecs
  vdb-query -x h.vdb --verify
  jq -e '.count == 2000 and .storage == "sq8" and .refine == 4' <(vdb-query -x h.vdb --info) >/dev/null
  r=$(recall10 h.vdb "$D/sift_query20.fvecs" "$D/sift2k_gt100_l2.ivecs" --ef 64)
  echo "recall after append $r"
  ge "$r" 0.95
}

@test "storage errors: unknown kind, ivf, refine without compression (64); fp16 overflow (65)" {
  vdb-build -o keep.vdb "$D/sift2k_base.fvecs"
  cp keep.vdb orig.vdb
  run vdb-build --storage q8 -o keep.vdb "$D/sift2k_base.fvecs"
  [ "$status" -eq 64 ]
  [[ "$output" == *"unknown storage 'q8'"* ]]
  run vdb-build -T ivf --storage sq8 -o keep.vdb "$D/sift2k_base.fvecs"
  [ "$status" -eq 64 ]
  [[ "$output" == *"--storage applies to flat and hnsw"* ]]
  run vdb-build -T hnsw --refine 2 -o keep.vdb "$D/sift2k_base.fvecs"
  [ "$status" -eq 64 ]
  [[ "$output" == *"--refine"* ]]
  fvecs big.fvecs 4 1 2 3 4 5 6 70000 8
  run vdb-build --storage fp16 -o keep.vdb big.fvecs
  [ "$status" -eq 65 ]
  [[ "$output" == *"vector 2"*"70000"* ]]
  cmp keep.vdb orig.vdb
  # sq8 has no range limit
  vdb-build --storage sq8 -o big.vdb big.fvecs
}

@test "damaged sq8 files: non-finite ranges exit 65 naming the file and section" {
  vdb-build -T hnsw --storage sq8 -o s.vdb "$D/sift2k_base.fvecs"
  off=$(vdb-query -x s.vdb --info | jq '.sections[] | select(.kind == "SQ8R") | .offset')
  perl -e 'print "\xff" x 8' | dd of=s.vdb bs=1 seek=$((off + 16)) conv=notrunc status=none
  run vdb-query -x s.vdb -k 10 "$D/sift_query20.fvecs"
  [ "$status" -eq 65 ]
  [[ "$output" == *"s.vdb"*"SQ8R"* ]]
}

@test "siftsmall: hnsw recall@10 at ef 64 >= 0.95 with fp16 and sq8; flat sq8 >= 0.98" {
  need_shared
  for st in fp16 sq8; do
    vdb-build -T hnsw --storage $st -o h$st.vdb "$S/siftsmall/siftsmall_base.fvecs"
    r=$(recall10 h$st.vdb "$S/siftsmall/siftsmall_query.fvecs" "$S/siftsmall/siftsmall_groundtruth.ivecs" --ef 64)
    echo "hnsw $st: $r"
    ge "$r" 0.95
  done
  vdb-build --storage sq8 -o f.vdb "$S/siftsmall/siftsmall_base.fvecs"
  r=$(recall10 f.vdb "$S/siftsmall/siftsmall_query.fvecs" "$S/siftsmall/siftsmall_groundtruth.ivecs")
  echo "flat sq8: $r"
  ge "$r" 0.98
}

@test "wordnet (cosine): hnsw sq8 recall@10 at ef 64 >= 0.95" {
  need_shared
  W=$S/wordnet-fasttext
  vdb-build -m cosine -T hnsw --storage sq8 -o h.vdb "$W/wn100_base.fvecs"
  r=$(recall10 h.vdb "$W/wn100_query.fvecs" "$W/wn100_groundtruth_cosine.ivecs" --ef 64)
  echo "hnsw sq8 cosine: $r"
  ge "$r" 0.95
}
