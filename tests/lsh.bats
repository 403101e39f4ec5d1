#!/usr/bin/env bats
# LSH: random-hyperplane tables with multi-probe. Recall grows with --probes
# on real data, probing every bucket is the exact answer, a seed fixes the
# file, --info describes the buckets, bad parameters are usage errors.
load helpers

@test "lsh cosine recall@10 on wordnet grows with --probes and reaches 0.90" {
  need_shared
  W=$S/wordnet-fasttext
  # the documented setting (man vdb-build): 8 tables of 12 bits, 64 probes
  vdb-build -T lsh -m cosine --lsh-tables 8 --lsh-bits 12 -o w.vdb "$W/wn100_base.fvecs"
  prev=0
  for p in 1 4 16 64; do
    r=$(recall10 w.vdb "$W/wn100_query.fvecs" "$W/wn100_groundtruth_cosine.ivecs" --probes $p)
    echo "probes $p: recall@10 $r"
    ge "$r" "$prev"
    [ "$r" != "$prev" ] # every step finds more
    prev=$r
  done
  ge "$r" 0.90
  r1=$(recall10 w.vdb "$W/wn100_query.fvecs" "$W/wn100_groundtruth_cosine.ivecs" --probes 1)
  ! ge "$r1" 0.5 # one bucket a table is far from it: the probes do the work
}

@test "probing every bucket gives the flat answer, for every metric" {
  for m in cosine l2 ip; do
    vdb-build -T lsh -m $m --lsh-bits 4 --lsh-tables 2 -o l.vdb "$D/words1k.jsonl"
    vdb-build -T flat -m $m -o f.vdb "$D/words1k.jsonl"
    diff <(vdb-query -x l.vdb -k 10 --probes 16 "$D/words_query20.jsonl") \
      <(vdb-query -x f.vdb -k 10 "$D/words_query20.jsonl")
    # more probes than buckets is every bucket too
    diff <(vdb-query -x l.vdb -k 3 --probes 1000 "$D/words_query20.jsonl") \
      <(vdb-query -x f.vdb -k 3 "$D/words_query20.jsonl")
  done
  # fewer probes: fewer candidates, and a worse answer somewhere
  vdb-build -T lsh -m cosine --lsh-bits 8 -o l8.vdb "$D/words1k.jsonl"
  vdb-query -x l8.vdb -k 10 "$D/words_query20.jsonl" >l8.out
  vdb-query -x f.vdb -k 10 "$D/words_query20.jsonl" >f.out
  [ "$(wc -l <l8.out)" -eq 20 ]
  run -1 cmp -s l8.out f.out
}

@test "lsh l2 on bundled sift: distances are flat's, recall grows with probes" {
  vdb-build -T lsh -m l2 --lsh-bits 10 -o s.vdb "$D/sift2k_base.fvecs"
  r1=$(recall10 s.vdb "$D/sift_query20.fvecs" "$D/sift2k_gt100_l2.ivecs" --probes 1)
  r16=$(recall10 s.vdb "$D/sift_query20.fvecs" "$D/sift2k_gt100_l2.ivecs" --probes 16)
  echo "l2 recall@10: probes 1 $r1, probes 16 $r16"
  ge "$r16" 0.9
  ge "$r16" "$r1"
  # a row as its own query is found at distance 0 with its own buckets alone
  head -c $((516 * 8)) "$D/sift2k_base.fvecs" | tail -c 516 >row7.fvecs
  vdb-query -x s.vdb -k 1 --probes 1 row7.fvecs | jq -e '.ids == [7] and .distances == [0]'
}

@test "a seed gives identical files on 1 and 2 threads; another seed differs" {
  vdb-build -T lsh -m cosine -t 1 --seed 5 -o a.vdb "$D/words1k.jsonl"
  vdb-build -T lsh -m cosine -t 2 --seed 5 -o b.vdb "$D/words1k.jsonl"
  cmp a.vdb b.vdb
  vdb-build -T lsh -m cosine -t 2 --seed 6 -o c.vdb "$D/words1k.jsonl"
  # other hyperplanes, so other answers from one bucket a table (the files
  # differ anyway: they record their seed)
  vdb-query -x a.vdb -k 10 --probes 1 "$D/words_query20.jsonl" >a.out
  vdb-query -x c.vdb -k 10 --probes 1 "$D/words_query20.jsonl" >c.out
  [ "$(wc -l <c.out)" -eq 20 ]
  run -1 cmp -s a.out c.out
  # queries do not depend on the thread count either
  diff <(vdb-query -t 1 -x a.vdb --probes 8 "$D/words_query20.jsonl") \
    <(vdb-query -t 2 -x a.vdb --probes 8 "$D/words_query20.jsonl")
}

@test "lsh --info: tables, bits, bytes per vector and the bucket sizes" {
  vdb-build -T lsh -m cosine --lsh-tables 4 --lsh-bits 6 -o w.vdb "$D/words1k.jsonl"
  vdb-query -x w.vdb --info >info
  vdb-query -x w.vdb --verify
  # a row's 100 floats, a key and a row number in each of 4 tables, and the
  # bucket directory's share: 4 tables of 2^6 + 1 entries over 1,000 rows
  [ "$(jq -c '[.type, .tables, .bits, .bytes_per_vector]' info)" = "[\"lsh\",4,6,$((4 * 100 + 8 * 4 + (4 * 65 * 4 + 500) / 1000))]" ]
  [ "$(jq -r '[.sections[].kind] | join(",")' info)" = "LSPL,LSCE,LSKY,LSRW,LSDR,VECS,IDOF,IDTX,MDOF,MDTX,PKEY,PKST,PBMP,PFLD,PNUM,CNRM,RCRV" ]
  # 4 tables of 64 buckets; the non-empty ones hold each row once a table
  jq -e '.bucket_sizes | .buckets == 256 and .empty >= 0 and .empty < 256 and .max >= .mean' info
  jq -e '.bucket_sizes | ((.buckets - .empty) * .mean - 4000 | fabs) < 0.01' info
  # the bucket a row is in holds on average the sum over the rows of its
  # bucket's size (what the planner expects a query to meet), from the keys
  off=$(jq '.sections[] | select(.kind == "LSKY") | .offset' info)
  want=$(python3 -c "
import collections, struct
with open('w.vdb', 'rb') as f:
    f.seek($off)
    k = struct.unpack('<4000I', f.read(16000))
print(sum(c * c for t in range(4) for c in collections.Counter(k[t * 1000:(t + 1) * 1000]).values()) / 4000)")
  jq -e --argjson w "$want" '.bucket_sizes.row_mean - $w | fabs < 1e-9' info
  jq -e '.bucket_sizes.row_mean > .bucket_sizes.mean' info
  # ids come back verbatim
  vdb-query -x w.vdb -k 3 --probes 4 "$D/words_query20.jsonl" | jq -e '.ids | all(type == "string")'
}

@test "lsh bucket directory: LSDR says where each key prefix's bucket begins; checked by --verify; files without it answer the same" {
  for bits in 6 16; do
    vdb-build -q -T lsh -m cosine --lsh-tables 4 --lsh-bits $bits -o w$bits.vdb "$D/words1k.jsonl"
    vdb-query -x w$bits.vdb --info >info
    read -r koff klen < <(section_at w$bits.vdb LSKY)
    read -r doff dlen < <(section_at w$bits.vdb LSDR)
    # the reference: the top R bits of each table's keys (R the key's
    # bits, at most floor(log2 n) - 2), and for each prefix the first key
    # holding it or a larger one, from the keys read in Python
    python3 -c "
import bisect, math, struct
n, tables, bits = 1000, 4, $bits
with open('w$bits.vdb', 'rb') as f:
    f.seek($koff); keys = struct.unpack('<%dI' % (tables * n), f.read($klen))
    f.seek($doff); got = struct.unpack('<%dI' % ($dlen // 4), f.read($dlen))
r = min(bits, max(1, int(math.floor(math.log2(n))) - 2))
span = (1 << r) + 1
assert len(got) == tables * span, (len(got), tables, span)
for t in range(tables):
    pre = [k >> (bits - r) for k in keys[t * n:(t + 1) * n]]
    want = [bisect.bisect_left(pre, j) for j in range(span)]
    assert list(got[t * span:(t + 1) * span]) == want, t
print(bits, r, 'ok')"
    # a file written before the directory (here: the section renamed, so
    # not found) makes it in memory and answers the same
    cp w$bits.vdb old.vdb
    i=$(jq '[.sections[].kind] | index("LSDR")' info)
    poke old.vdb $((512 + 32 * i)) a4 LSDX
    reseal old.vdb
    vdb-query -x old.vdb --verify
    run vdb-query -x old.vdb --info
    [ "$(echo "$output" | jq -r '[.sections[].kind] | index("LSDR")')" = null ]
    for p in 1 8; do
      vdb-query -x w$bits.vdb -k 10 --probes $p "$D/words_query20.jsonl" >new.out
      vdb-query -x old.vdb -k 10 --probes $p "$D/words_query20.jsonl" >old.out
      [ "$(wc -l <new.out)" -eq 20 ]
      cmp new.out old.out
    done
    # an entry that is not where the keys say: --verify refuses (65)
    poke w$bits.vdb $((doff + 4 * 3)) V 999
    reseal w$bits.vdb
    run -65 vdb-query -x w$bits.vdb --verify
    assert_output --partial "LSDR table 0 entry 3"
  done
}

@test "append: new rows are hashed into the tables and found" {
  n=1000 rec=$((4 + 128 * 4))
  head -c $((rec * n)) "$D/sift2k_base.fvecs" >a.fvecs
  tail -c +$((rec * n + 1)) "$D/sift2k_base.fvecs" >b.fvecs
  vdb-build -T lsh -m l2 --lsh-bits 8 -o s.vdb a.fvecs
  vdb-build --append -o s.vdb b.fvecs
  vdb-query -x s.vdb --verify
  [ "$(vdb-query -x s.vdb --info | jq '[.count, .tables, .bits]' -c)" = "[2000,8,8]" ]
  tail -c $rec b.fvecs >last.fvecs
  vdb-query -x s.vdb -k 1 last.fvecs | jq -e '.ids == [1999] and .distances == [0]'
  # with every bucket probed the appended index is exact
  vdb-build -T flat -m l2 -o f.vdb "$D/sift2k_base.fvecs"
  diff <(vdb-query -x s.vdb -k 5 --probes 256 "$D/sift_query20.fvecs") \
    <(vdb-query -x f.vdb -k 5 "$D/sift_query20.fvecs")
}

@test "lsh parameter errors are usage errors (64)" {
  for bad in "--lsh-tables 0" "--lsh-tables 65" "--lsh-bits 0" "--lsh-bits 33" "--refine 2" \
             "-m hamming" "--storage sq8"; do
    run vdb-build -T lsh $bad -o x.vdb "$D/sift2k_base.fvecs"
    echo "$bad: $status $output"
    [ "$status" -eq 64 ]
  done
  run vdb-build -T hnsw --lsh-bits 8 -o x.vdb "$D/sift2k_base.fvecs"
  [ "$status" -eq 64 ]
  [[ "$output" == *"apply to lsh indexes"* ]]
  [ ! -e x.vdb ]
  vdb-build -T lsh -o x.vdb "$D/sift2k_base.fvecs"
  for bad in 0 65537 -1 x; do
    run vdb-query -x x.vdb --probes $bad "$D/sift_query20.fvecs"
    [ "$status" -eq 64 ]
    [[ "$output" == *"--probes"* ]]
  done
}
