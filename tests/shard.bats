#!/usr/bin/env bats
# Sharded builds and scatter-gather queries: the split is the documented
# hash, shards partition the input, and merged results are the whole index's.
load helpers

# shard_ids INDEX: every id stored in an index, one a line (a query with k = count)
shard_ids() {
  local n
  n=$(vdb-query -x "$1" --info | jq .count)
  vdb-query -x "$1" -k "$n" "$2" | head -1 | jq -r '.ids[] | tostring'
}

# build4 INPUT PREFIX [build options]: shards 0..3 of INPUT as PREFIX0.vdb ..
build4() {
  local in=$1 p=$2; shift 2
  for i in 0 1 2 3; do vdb-build -q "$@" --shard $i/4 -o "$p$i.vdb" "$in"; done
}

@test "4 shards of words1k and sift2k are disjoint, their union is the input, and --info names them" {
  build4 "$D/words1k.jsonl" w -m cosine
  build4 "$D/sift2k_base.fvecs" s
  for i in 0 1 2 3; do
    shard_ids w$i.vdb "$D/words_query20.jsonl" >>words.ids
    shard_ids s$i.vdb "$D/sift_query20.fvecs" >>sift.ids
    [ "$(vdb-query -x w$i.vdb --info | jq -c '[.shard, .shards, .format]')" = "[$i,4,\"1.1\"]" ]
  done
  # disjoint: no id twice; union: exactly the input's ids (fvecs: record numbers)
  [ -z "$(sort words.ids | uniq -d)" ]
  [ -z "$(sort sift.ids | uniq -d)" ]
  diff <(sort words.ids) <(jq -r .id "$D/words1k.jsonl" | sort)
  diff <(sort -n sift.ids) <(seq 0 1999)
  # every shard got a share (a split that put all in one would pass the above)
  for i in 0 1 2 3; do
    c=$(vdb-query -x s$i.vdb --info | jq .count)
    [ "$c" -gt 350 ]
    [ "$c" -lt 650 ]
  done
  # an index that is not a shard says nothing about shards
  vdb-build -q -o all.vdb "$D/sift2k_base.fvecs"
  [ "$(vdb-query -x all.vdb --info | jq -c '[.shard, .shards, .format]')" = '[null,null,"1.0"]' ]
}

@test "the split is reproduced by xxhsum -H3: string ids' bytes, fvecs record numbers in decimal" {
  command -v xxhsum >/dev/null || skip "xxhsum is not installed (Debian package xxhash)"
  build4 "$D/words1k.jsonl" w
  build4 "$D/sift2k_base.fvecs" s
  mkdir kw ks
  # one file per key, named by line; XXH3-64 mod 4 is its last hex digit mod 4
  jq -r .id "$D/words1k.jsonl" | awk '{ f = sprintf("kw/%04d", NR); printf "%s", $0 > f; close(f) }'
  for r in $(seq 0 7 1999); do printf %s "$r" >ks/$r; done
  expect() { # DIR: "key shard" lines from xxhsum
    xxhsum -H3 "$1"/* | sed -E 's/^XXH3 \(([^)]*)\) = (.*)$/\1 \2/' |
      while read -r f h; do echo "$(cat "$f") $(( 16#${h: -1} % 4 ))"; done | sort
  }
  expect kw >words.want
  expect ks >sift.want
  for i in 0 1 2 3; do
    shard_ids w$i.vdb "$D/words_query20.jsonl" | sed "s/\$/ $i/"
  done | sort >words.got
  for i in 0 1 2 3; do
    shard_ids s$i.vdb "$D/sift_query20.fvecs" | awk -v i=$i '$1 % 7 == 0 { print $1, i }'
  done | sort >sift.got
  [ "$(wc -l <words.want)" = 1000 ]
  diff words.want words.got
  diff sift.want sift.got
}

@test "escaped and non-ASCII string ids hash as their UTF-8 text, integer ids as their digits" {
  command -v xxhsum >/dev/null || skip "xxhsum is not installed (Debian package xxhash)"
  printf '%s\n' '{"id": "q\"uo\\te", "vector": [1]}' '{"id": "caf\u00e9", "vector": [2]}' \
    '{"id": "tab\there", "vector": [3]}' '{"id": "na\u00efve/\u65e5", "vector": [4]}' >s.jsonl
  printf '%s\n' '{"id": 42, "vector": [1]}' '{"id": -7, "vector": [2]}' '{"id": 0, "vector": [3]}' \
    '{"id": 123456789012, "vector": [4]}' >i.jsonl
  for f in s i; do
    for i in 0 1 2 3; do
      vdb-build -q --shard $i/4 -o $f$i.vdb $f.jsonl 2>/dev/null || continue
      fvecs q.fvecs 1 0
      vdb-query -x $f$i.vdb -k 4 q.fvecs | jq -c '.ids[]' | sed "s/\$/ $i/"
    done | sort >$f.got
    # the key: a string's decoded UTF-8 bytes, an integer's decimal digits
    jq -c .id $f.jsonl | while read -r id; do
      key=$(jq -j . <<<"$id")
      h=$(printf %s "$key" | xxhsum -H3 | sed 's/.* = //')
      echo "$id $(( 16#${h: -1} % 4 ))"
    done | sort >$f.want
    [ "$(wc -l <$f.want)" = 4 ]
    diff $f.want $f.got
  done
}

@test "flat over 4 shards, merged, is byte-identical to flat over the whole (sift l2, words cosine with metadata)" {
  build4 "$D/sift2k_base.fvecs" s
  vdb-build -q -o all.vdb "$D/sift2k_base.fvecs"
  vdb-query -x all.vdb -k 100 "$D/sift_query20.fvecs" >whole.jsonl
  vdb-query -x s0.vdb -x s1.vdb -x s2.vdb -x s3.vdb -k 100 "$D/sift_query20.fvecs" >merged.jsonl
  cmp whole.jsonl merged.jsonl
  # shard order does not matter, and a quoted glob names the same set
  vdb-query -x s3.vdb -x s1.vdb -x s0.vdb -x s2.vdb -k 100 "$D/sift_query20.fvecs" | cmp - whole.jsonl
  vdb-query -x 's?.vdb' -k 100 "$D/sift_query20.fvecs" | cmp - whole.jsonl
  # ivecs output of shards gives the whole input's record numbers
  vdb-query -x 's*.vdb' -k 100 -O ivecs "$D/sift_query20.fvecs" | cmp - "$D/sift2k_gt100_l2.ivecs"
  jq -c '. + {metadata: {n: input_line_number}}' "$D/words1k.jsonl" >wm.jsonl
  build4 wm.jsonl w -m cosine
  vdb-build -q -m cosine -o wall.vdb wm.jsonl
  vdb-query -x wall.vdb -k 25 --include metadata "$D/words_query20.jsonl" >whole.jsonl
  vdb-query -x w0.vdb -x w1.vdb -x w2.vdb -x w3.vdb -k 25 --include metadata \
    "$D/words_query20.jsonl" >merged.jsonl
  cmp whole.jsonl merged.jsonl
}

@test "hnsw over 4 shards reaches the single index's recall@10 (minus 0.01) at the same ef" {
  need_shared
  b=$S/siftsmall/siftsmall_base.fvecs q=$S/siftsmall/siftsmall_query.fvecs
  gt=$S/siftsmall/siftsmall_groundtruth.ivecs
  vdb-build -q -T hnsw -o one.vdb "$b"
  build4 "$b" h -T hnsw
  for ef in 10 32; do
    r1=$(recall10 one.vdb "$q" "$gt" --ef $ef)
    r4=$(vdb-query -x h0.vdb -x h1.vdb -x h2.vdb -x h3.vdb -k 10 --ef $ef "$q" |
         vdb-eval recall -k 10 "$gt" | awk '{print $2}')
    echo "ef $ef: one index $r1, 4 shards $r4"
    ge "$r4" "$(awk -v r="$r1" 'BEGIN { print r - 0.01 }')"
  done
  # the same through ivecs (global record numbers)
  r4i=$(vdb-query -x 'h*.vdb' -k 10 --ef 32 -O ivecs "$q" | vdb-eval recall -k 10 "$gt" | awk '{print $2}')
  [ "$r4i" = "$r4" ]
}

@test "--merge of per-shard JSONL equals the multi-index query" {
  build4 "$D/words1k.jsonl" w -T hnsw -m cosine
  for i in 0 1 2 3; do
    vdb-query -x w$i.vdb -k 10 --ef 40 "$D/words_query20.jsonl" >r$i.jsonl
  done
  vdb-query -x w0.vdb -x w1.vdb -x w2.vdb -x w3.vdb -k 10 --ef 40 "$D/words_query20.jsonl" >set.jsonl
  run --separate-stderr vdb-query --merge -k 10 r2.jsonl r0.jsonl r3.jsonl r1.jsonl
  assert_success
  [ -z "$stderr" ]
  diff <(printf '%s\n' "$output") set.jsonl
  [ "$(wc -l <set.jsonl)" = 20 ]
  # merging keeps the k asked for, and the input may come on stdin
  vdb-query --merge -k 3 r0.jsonl - r2.jsonl r3.jsonl <r1.jsonl >k3.jsonl
  [ "$(jq -s 'map(.ids | length) | unique' -c k3.jsonl)" = '[3]' ]
  diff <(jq -c '.ids' k3.jsonl) <(jq -c '.ids[:3]' set.jsonl)
  # TSV: one line a result
  [ "$(vdb-query --merge -k 10 -O tsv r0.jsonl r1.jsonl r2.jsonl r3.jsonl | wc -l)" = 200 ]
}

@test "the 4 shards built by GNU parallel are the shards built one by one" {
  command -v parallel >/dev/null || skip "GNU parallel is not installed (Debian package parallel)"
  build4 "$D/words1k.jsonl" seq -t 1 -T hnsw -m cosine  # one thread: a reproducible graph
  run parallel --will-cite -j 2 vdb-build -q -t 1 -T hnsw -m cosine --shard {}/4 -o par{}.vdb \
    "$D/words1k.jsonl" ::: 0 1 2 3
  assert_success
  for i in 0 1 2 3; do cmp seq$i.vdb par$i.vdb; done
}

@test "appending to a shard keeps only that shard's records and needs ids" {
  head -n 600 "$D/words1k.jsonl" >a.jsonl
  tail -n 400 "$D/words1k.jsonl" >b.jsonl
  build4 "$D/words1k.jsonl" whole
  vdb-build -q --shard 2/4 -o p.vdb a.jsonl
  vdb-build -q --append -o p.vdb b.jsonl
  diff <(shard_ids p.vdb "$D/words_query20.jsonl" | sort) \
       <(shard_ids whole2.vdb "$D/words_query20.jsonl" | sort)
  run vdb-build --append --shard 1/4 -o p.vdb b.jsonl
  assert_failure 64
  assert_output --partial "another shard"
  head -c $((100 * 516)) "$D/sift2k_base.fvecs" >x.fvecs
  vdb-build -q --shard 0/2 -o f.vdb x.fvecs
  run vdb-build --append -o f.vdb x.fvecs
  assert_failure 65
  assert_output --partial "needs inputs with ids"
}

@test "an incomplete or duplicated set of shards warns; one shard alone does not" {
  build4 "$D/sift2k_base.fvecs" s
  run --separate-stderr vdb-query -x s0.vdb -x s2.vdb -k 5 "$D/sift_query20.fvecs"
  assert_success
  [[ "$stderr" == *"2 of 4 shards missing (1, 3)"* ]]
  run --separate-stderr vdb-query -x s0.vdb -x s1.vdb -x s2.vdb -x s3.vdb -x s1.vdb -k 5 \
    "$D/sift_query20.fvecs"
  assert_success
  [[ "$stderr" == *"shard 1/4 is given twice"* ]]
  [[ "$stderr" != *missing* ]]
  run --separate-stderr vdb-query -x s3.vdb -k 5 "$D/sift_query20.fvecs"
  [ -z "$stderr" ]
  vdb-build -q --shard 0/2 -o h0.vdb "$D/sift2k_base.fvecs"
  vdb-build -q -o all.vdb "$D/sift2k_base.fvecs"
  run --separate-stderr vdb-query -x s0.vdb -x h0.vdb -k 5 "$D/sift_query20.fvecs"
  [[ "$stderr" == *"not one split"* ]]
  run --separate-stderr vdb-query -x s0.vdb -x all.vdb -k 5 "$D/sift_query20.fvecs"
  [[ "$stderr" == *"all.vdb is not a shard"* ]]
  run --separate-stderr vdb-query -q -x s0.vdb -x s2.vdb -k 5 "$D/sift_query20.fvecs"
  [ -z "$stderr" ]
}

# top10 GT.ivecs: each query's first 10 true neighbours, a line each
top10() {
  perl -e 'open(my $f, "<", $ARGV[0]) or die; binmode $f;
    while (read($f, my $b, 4) == 4) { my $w = unpack("l<", $b); read($f, my $r, 4 * $w);
      my @v = unpack("l<*", $r); print join(" ", @v[0 .. 9]), "\n" }' "$1"
}

# set_recall GT.ivecs RESULTS.jsonl: recall@10 of the results' ids, counted by awk
set_recall() {
  paste -d '|' <(top10 "$1") <(jq -r '.ids | map(tostring) | join(" ")' "$2") |
    awk -F'|' '{ n = split($1, t, " "); m = split($2, r, " "); for (i = 1; i <= m; i++) for (j = 1; j <= n; j++) if (r[i] == t[j]) hit++; q++ }
      END { printf "%.4f", hit / (10 * q) }'
}

@test "vdb-eval check over a set of shards: recall against the whole input's ground truth, as the merged answers give it" {
  q=$D/sift_query20.fvecs gt=$D/sift2k_gt100_l2.ivecs
  build4 "$D/sift2k_base.fvecs" f
  # exact shards: every true neighbour (a shard's rows named as records of the whole input)
  run --separate-stderr vdb-eval check -x f0.vdb -x f1.vdb -x f2.vdb -x f3.vdb --queries "$q" --gt "$gt" --runs 1
  assert_success
  [[ "$output" =~ ^f0\.vdb,f1\.vdb,f2\.vdb,f3\.vdb:\ recall@10\ 1\.0000,\ latency\ p50\ [0-9.]+\ ms ]] || { echo "$output"; false; }
  [ -z "$stderr" ]
  # approximate shards: the recall of the set's merged answers, counted apart
  build4 "$D/sift2k_base.fvecs" h -T hnsw --M 4 --ef-construction 16 -t 1
  vdb-query -x h0.vdb -x h1.vdb -x h2.vdb -x h3.vdb -k 10 --ef 10 "$q" >set.jsonl
  r=$(set_recall "$gt" set.jsonl)
  echo "recall of the merged answers: $r"
  awk -v r="$r" 'BEGIN { exit !(r > 0.05 && r < 0.99) }'
  run --separate-stderr vdb-eval check -x h0.vdb,h1.vdb,h2.vdb,h3.vdb --queries "$q" --gt "$gt" --ef 10 --runs 1 \
    --min-recall "$r" --metrics check.prom
  assert_success
  [[ "$output" == "h0.vdb,h1.vdb,h2.vdb,h3.vdb: recall@10 $r, latency p50 "*" ms, 20 queries: ok" ]] || { echo "$output"; false; }
  grep -q "^vdb_eval_recall{index=\"h0.vdb,h1.vdb,h2.vdb,h3.vdb\",k=\"10\"} " check.prom
  # a set short of shards is measured as it is searched, and told
  vdb-query -x h0.vdb -x h2.vdb -k 10 --ef 10 "$q" >half.jsonl
  r2=$(set_recall "$gt" half.jsonl)
  run --separate-stderr vdb-eval check -x h0.vdb -x h2.vdb --queries "$q" --gt "$gt" --ef 10 --runs 1
  assert_success
  [[ "$output" == "h0.vdb,h2.vdb: recall@10 $r2, "* ]] || { echo "$output"; false; }
  [[ "$stderr" == *"2 of 4 shards missing (1, 3)"* ]]
  # indexes of another dimension are refused, naming them
  vdb-build -q -o w.vdb "$D/words1k.jsonl"
  run --separate-stderr vdb-eval check -x h0.vdb -x w.vdb --queries "$q" --gt "$gt" --runs 1
  assert_failure 65
  [[ "$stderr" == *w.vdb* ]]
}

@test "errors: bad --shard, indexes of other dimension or metric, mismatched result files" {
  for bad in 4/4 1/0 x 1/ /4 -1/4 1/4x "1 /4" +1/4 0/65537; do
    run vdb-build --shard "$bad" -o x.vdb "$D/sift2k_base.fvecs"
    assert_failure 64
    assert_output --partial -- "--shard"
  done
  [ ! -e x.vdb ]
  head -n 5 "$D/words1k.jsonl" >five.jsonl
  run vdb-build --shard 0/65536 -o x.vdb five.jsonl
  assert_failure 65
  assert_output --partial "none of the 5 records falls in shard 0/65536"
  build4 "$D/sift2k_base.fvecs" s
  vdb-build -q --shard 1/4 -o w1.vdb "$D/words1k.jsonl"
  vdb-build -q --shard 1/4 -m ip -o ip1.vdb "$D/sift2k_base.fvecs"
  run vdb-query -x s0.vdb -x w1.vdb -k 5 "$D/sift_query20.fvecs"
  assert_failure 65
  assert_output --partial "w1.vdb has dimension 100 but s0.vdb has 128"
  run vdb-query -x s0.vdb -x ip1.vdb -k 5 "$D/sift_query20.fvecs"
  assert_failure 65
  assert_output --partial "ip1.vdb uses metric ip but s0.vdb uses l2"
  run vdb-query -x 'nothing*.vdb' -k 5 "$D/sift_query20.fvecs"
  assert_failure 66
  for i in 0 1; do vdb-query -x s$i.vdb -k 5 "$D/sift_query20.fvecs" >r$i.jsonl; done
  head -n 12 r1.jsonl >short.jsonl
  run vdb-query --merge -k 5 r0.jsonl short.jsonl
  assert_failure 65
  assert_output --partial "short.jsonl ends after 12 results (line 12) but r0.jsonl has more"
  sed '7s/.*/{"query": 6, "ids": [1, 2/' r1.jsonl >bad.jsonl
  run vdb-query --merge -k 5 r0.jsonl bad.jsonl
  assert_failure 65
  assert_output --partial "bad.jsonl: line 7: malformed JSON"
  sed '3s/"query": 2/"query": 9/' r1.jsonl >other.jsonl
  run vdb-query --merge -k 5 r0.jsonl other.jsonl
  assert_failure 65
  assert_output --partial "other.jsonl: line 3: query 9, but r0.jsonl: line 3 is query 2"
  run vdb-query --merge -k 5 r0.jsonl missing.jsonl
  assert_failure 66
  run vdb-query --merge -x s0.vdb r0.jsonl
  assert_failure 64
  run vdb-query --merge
  assert_failure 64
}

@test "scripts/shard-parallel (here, and scatter-gather through --sshlogin :) gives the whole index's answer" {
  command -v parallel >/dev/null || skip "GNU parallel is not installed (Debian package parallel)"
  vdb-build -q -o all.vdb "$D/sift2k_base.fvecs"
  vdb-query -x all.vdb -k 10 "$D/sift_query20.fvecs" >whole.jsonl
  run --separate-stderr "$VDB_SRCDIR/scripts/shard-parallel" -n 3 -b "-T flat" \
    "$D/sift2k_base.fvecs" "$D/sift_query20.fvecs" out
  assert_success
  diff <(printf '%s\n' "$output") whole.jsonl
  [ "$(vdb-query -x out/part2.vdb --info | jq -c '[.shard, .shards]')" = '[2,3]' ]
  run --separate-stderr "$VDB_SRCDIR/scripts/shard-parallel" -n 3 -S : -b "-T flat" \
    "$D/sift2k_base.fvecs" "$D/sift_query20.fvecs" scat
  assert_success
  diff <(printf '%s\n' "$output") whole.jsonl
  [ "$(ls scat/r*.jsonl | wc -l)" = 3 ]
}

@test "scripts/shard-slurm.sbatch: array tasks run by hand, then the merge, give the whole index's answer" {
  vdb-build -q -o all.vdb "$D/words1k.jsonl"
  vdb-query -x all.vdb -k 5 "$D/words_query20.jsonl" >whole.jsonl
  for i in 0 1 2 3; do
    SLURM_ARRAY_TASK_ID=$i SLURM_ARRAY_TASK_COUNT=4 SLURM_CPUS_PER_TASK=1 \
      "$VDB_SRCDIR/scripts/shard-slurm.sbatch" "$D/words1k.jsonl" "$D/words_query20.jsonl" out 5 -T flat
  done
  vdb-query --merge -k 5 out/r*.jsonl | cmp - whole.jsonl
  [ "$(vdb-query -x out/part3.vdb --info | jq -c '[.shard, .shards]')" = '[3,4]' ]
  run "$VDB_SRCDIR/scripts/shard-slurm.sbatch" "$D/words1k.jsonl" "$D/words_query20.jsonl" out
  assert_failure
  assert_output --partial "not an array task"
}

@test "hamming shards: each record of the input is in its shard with its own bits (rows moved as packed bytes)" {
  python3 -c '
import random
r = random.Random(5)
for i in range(200):
    print("{\"id\": \"h%d\", \"bits\": \"%s\"}" % (i, "".join("%02x" % r.randrange(256) for _ in range(8))))' >bits.jsonl
  vdb-build -q -m hamming --shard 0/2 -o s0.vdb bits.jsonl
  vdb-build -q -m hamming --shard 1/2 -o s1.vdb bits.jsonl
  jq -c '{bits}' bits.jsonl | vdb-query -x s0.vdb -x s1.vdb -k 1 >out.jsonl
  # query i (record i's own bits) finds record i at distance 0
  [ "$(jq -c '[.query, .ids[0], .distances[0]]' out.jsonl | sort)" = \
    "$(jq -sc 'to_entries[] | [.key, .value.id, 0]' bits.jsonl | sort)" ]
}
