#!/usr/bin/env bats
# Compaction of hnsw indexes (vdb-build --compact): a random 30% of the
# records deleted, then the index rewritten without them. The result must be
# smaller, hold exactly the live records under their original ids (rows
# copied as stored), pass --verify, and answer as well as a fresh build of
# the live records: recall@10 at ef 64 against brute force over them >= 0.95
# and within 0.01 of the fresh build's (and at ef 16 no more than 0.02 below
# it). The same for 1 and 2 threads, which
# give the same file. f32 (siftsmall, and the bundled sift2k), sq8 with
# --refine, and hamming over binarised siftsmall.
load helpers

# pick_dead N COUNT SEED: COUNT distinct row numbers below N, one a line, ascending
pick_dead() {
  perl -e 'my ($n, $c, $s) = @ARGV; srand($s); my @r = (0 .. $n - 1);
           for my $i (0 .. $c - 1) { my $j = $i + int(rand($n - $i)); @r[$i, $j] = @r[$j, $i] }
           print "$_\n" for sort { $a <=> $b } @r[0 .. $c - 1]' "$@"
}

# live_jsonl BASE DEAD: the records of BASE (fvecs, or bvecs as bits) whose
# row numbers are not in the file DEAD, as JSONL with those numbers as ids
live_jsonl() {
  perl -e 'my ($f, $d) = @ARGV; open(my $h, "<", $d) or die; my %dead = map { chomp; ($_ => 1) } <$h>;
           open(my $in, "<:raw", $f) or die; local $/; my $b = <$in>; my $bits = $f =~ /\.bvecs$/;
           my ($p, $i) = (0, 0);
           while ($p < length $b) { my $dim = unpack("l<", substr($b, $p, 4));
             my $len = $bits ? $dim : 4 * $dim; my $rec = substr($b, $p + 4, $len);
             $p += 4 + $len;
             unless ($dead{$i}) {
               print $bits ? qq({"id": $i, "bits": ") . unpack("H*", $rec) . qq("}\n)
                           : qq({"id": $i, "vector": [) . join(",", map { sprintf("%.9g", $_) }
                               unpack("f<$dim", $rec)) . "]}\n" }
             $i++ }' "$@"
}

# ids_ivecs: vdb-query JSONL with integer ids on stdin as ivecs (ground truth)
ids_ivecs() {
  jq -r '.ids | map(tostring) | join(" ")' | perl -ne 'my @a = split; print pack("l<*", scalar @a, @a)'
}

# compaction_case BASE QUERIES METRIC [vdb-build options]: build, delete a
# random 30%, compact with 1 and 2 threads, and check each result
compaction_case() {
  local base=$1 q=$2 m=$3 t
  shift 3
  # builds on one thread: the same graphs every run, so the comparison is not
  # at the mercy of thread timing (a 2-thread fresh build once won by 0.015)
  vdb-build -q -t 1 -T hnsw -m "$m" "$@" -o ix.vdb "$base"
  local n live
  n=$(vdb-query -x ix.vdb --info | jq .count)
  live=$((n - n * 3 / 10))
  pick_dead "$n" $((n * 3 / 10)) 7 >dead.txt
  vdb-build -q --delete -x ix.vdb dead.txt
  [ "$(vdb-query -x ix.vdb --info | jq .live)" = "$live" ]
  # brute force over the live records, and a fresh build of them, by original ids
  live_jsonl "$base" dead.txt >live.jsonl
  [ "$(wc -l <live.jsonl)" = "$live" ]
  vdb-build -q -T flat -m "$m" -o exact.vdb live.jsonl
  vdb-query -x exact.vdb -k 10 "$q" | ids_ivecs >gt.ivecs
  vdb-build -q -t 1 -T hnsw -m "$m" "$@" -o fresh.vdb live.jsonl
  local rf r rf16 r16
  rf=$(recall10 fresh.vdb "$q" gt.ivecs --ef 64)
  rf16=$(recall10 fresh.vdb "$q" gt.ivecs --ef 16)
  for t in 1 2; do
    vdb-build -q -t $t --compact -x ix.vdb -o c$t.vdb
    [ "$(stat -c %s c$t.vdb)" -lt "$(stat -c %s ix.vdb)" ]
    vdb-query -x c$t.vdb --info >info
    [ "$(jq .count info)" = "$live" ]
    [ "$(jq .live info)" = "$live" ]
    [ "$(jq .deleted info)" = 0 ]
    [ "$(jq .nodes_per_level[0] info)" = "$live" ]
    vdb-query -x c$t.vdb --verify
    r=$(recall10 c$t.vdb "$q" gt.ivecs --ef 64)
    r16=$(recall10 c$t.vdb "$q" gt.ivecs --ef 16)
    echo "threads $t: recall@10 at ef 64 $r, ef 16 $r16; fresh build of the live records $rf, $rf16"
    ge "$r" 0.95
    near "$r" "$rf" 0.01
    # a narrow beam shows a graph that only dropped the deleted nodes' links
    ge "$r16" "$(awk -v r="$rf16" 'BEGIN { print r - 0.02 }')"
    # no deleted id comes back, however wide the search
    vdb-query -x c$t.vdb -k 100 --ef 300 "$q" | jq -r '.ids[]' | sort -u >found
    [ "$(wc -l <found)" -ge 200 ]
    [ -z "$(comm -12 found <(sort dead.txt))" ]
  done
  # each node's new links depend on the old graph alone
  cmp c1.vdb c2.vdb
}

# same_records A B IDS: A and B store the same vectors under the ids of the
# file IDS (one a line), and A has none of the ids of dead.txt
same_records() {
  vdb-query -x "$1" --get "$(paste -sd, "$3")" >a.get
  vdb-query -x "$2" --get "$(paste -sd, "$3")" >b.get
  [ "$(wc -l <a.get)" = "$(wc -l <"$3")" ]
  cmp a.get b.get
  run vdb-query -x "$1" --get "$(paste -sd, dead.txt)"
  [ -z "$(echo "$output" | grep -v 'no record with id')" ]
}

live_ids() { # N: the row numbers below N not in dead.txt
  seq 0 $(($1 - 1)) | sort | comm -23 - <(sort dead.txt) | sort -n
}

@test "compact hnsw f32 (bundled sift2k): the live records, original ids, recall as a fresh build" {
  compaction_case "$D/sift2k_base.fvecs" "$D/sift_query20.fvecs" l2
  live_ids 2000 >live.txt
  same_records c1.vdb ix.vdb live.txt
}

@test "compact hnsw f32, siftsmall: 30% deleted, recall as a fresh build, 1 and 2 threads" {
  need_shared
  compaction_case "$S/siftsmall/siftsmall_base.fvecs" "$S/siftsmall/siftsmall_query.fvecs" l2
  live_ids 10000 >live.txt
  same_records c1.vdb ix.vdb live.txt
}

@test "compact hnsw sq8 --refine, siftsmall: codes and float rows kept as they were" {
  need_shared
  compaction_case "$S/siftsmall/siftsmall_base.fvecs" "$S/siftsmall/siftsmall_query.fvecs" l2 \
    --storage sq8 --refine 4
  vdb-query -x c1.vdb --info >info
  [ "$(jq -r .storage info)" = sq8 ]
  [ "$(jq .refine info)" = 4 ]
  # the ranges are the original build's (nothing quantised again)
  sq8r() { vdb-query -x "$1" --info | jq -r '.sections[] | select(.kind == "SQ8R") | .xxh3'; }
  [ -n "$(sq8r c1.vdb)" ]
  [ "$(sq8r c1.vdb)" = "$(sq8r ix.vdb)" ]
  live_ids 10000 >live.txt
  same_records c1.vdb ix.vdb live.txt # the VECS rows
  # without --refine, --get decodes the codes: the same codes
  vdb-build -q -T hnsw --storage sq8 -o plain.vdb "$S/siftsmall/siftsmall_base.fvecs"
  vdb-build -q --delete -x plain.vdb dead.txt
  vdb-build -q --compact -x plain.vdb -o plain-c.vdb
  same_records plain-c.vdb plain.vdb live.txt
}

@test "compact hnsw hamming, siftsmall as bits: recall as a fresh build, distances of the original rows" {
  need_shared
  # a bit per value: above its dimension's mean over the base
  perl -e 'sub rd { open(my $h, "<:raw", $_[0]) or die; local $/; my $b = <$h>; my @r;
             while (length $b) { my $d = unpack("l<", $b); push @r, [unpack("f<$d", substr($b, 4))];
               $b = substr($b, 4 + 4 * $d) } @r }
           my @b = rd($ARGV[0]); my @q = rd($ARGV[1]); my $d = @{$b[0]}; my @m = (0) x $d;
           for my $v (@b) { $m[$_] += $v->[$_] / @b for 0 .. $d - 1 }
           for ([\@b, "b.bvecs"], [\@q, "q.bvecs"]) { open(my $o, ">:raw", $_->[1]) or die;
             for my $v (@{$_->[0]}) { print $o pack("l<", $d / 8),
               pack("B*", join("", map { $v->[$_] > $m[$_] ? 1 : 0 } 0 .. $d - 1)) } }' \
    "$S/siftsmall/siftsmall_base.fvecs" "$S/siftsmall/siftsmall_query.fvecs"
  [ "$(stat -c %s b.bvecs)" = $((10000 * 20)) ]
  compaction_case b.bvecs q.bvecs hamming
  [ "$(vdb-query -x c1.vdb --info | jq -r .storage)" = binary ]
  # every hit is at the distance of the original row of its id (flat over all rows)
  head -c $((20 * 20)) q.bvecs >q20.bvecs
  vdb-build -q -T flat -m hamming -o all.vdb b.bvecs
  vdb-query -x all.vdb -k 10000 q20.bvecs |
    jq -c '[.ids, .distances] | transpose | map({(.[0] | tostring): .[1]}) | add' >all.out
  vdb-query -x c1.vdb -k 10 q20.bvecs | jq -c '[.ids, .distances] | transpose' >c.out
  paste -d' ' c.out all.out | jq -s -e '[range(0; length; 2) as $i | .[$i] as $c | .[$i + 1] as $a |
    $c[] | $a[.[0] | tostring] == .[1]] | all and length == 200' >/dev/null
}

@test "compact hnsw without its entry point, or with few records left" {
  vdb-build -q -T hnsw -o ix.vdb "$D/sift2k_base.fvecs"
  vdb-query -x ix.vdb --info >before
  e=$(jq .entry_point before)
  { echo "$e"; pick_dead 2000 600 3; } | sort -nu >dead.txt
  vdb-build -q --delete -x ix.vdb dead.txt
  vdb-build -q --compact -x ix.vdb -o c.vdb
  vdb-query -x c.vdb --verify # the entry point is on the top level left
  vdb-query -x c.vdb --info >after
  [ "$(jq .count after)" = $((2000 - $(wc -l <dead.txt))) ]
  [ "$(jq '.nodes_per_level | length' after)" -le "$(jq '.nodes_per_level | length' before)" ]
  live_jsonl "$D/sift2k_base.fvecs" dead.txt >live.jsonl
  vdb-build -q -T flat -o exact.vdb live.jsonl
  vdb-query -x exact.vdb -k 10 "$D/sift_query20.fvecs" | ids_ivecs >gt.ivecs
  ge "$(recall10 c.vdb "$D/sift_query20.fvecs" gt.ivecs --ef 64)" 0.95
  # 98% deleted: 40 records left, every one found exactly
  pick_dead 2000 1960 5 >dead.txt
  vdb-build -q -T hnsw -o small.vdb "$D/sift2k_base.fvecs"
  vdb-build -q --delete -x small.vdb dead.txt
  vdb-build -q --compact -x small.vdb
  vdb-query -x small.vdb --verify
  live_jsonl "$D/sift2k_base.fvecs" dead.txt >live.jsonl
  vdb-build -q -T flat -o exact.vdb live.jsonl
  diff <(vdb-query -x small.vdb -k 40 --ef 40 "$D/sift_query20.fvecs" | jq -c .ids) \
       <(vdb-query -x exact.vdb -k 40 "$D/sift_query20.fvecs" | jq -c .ids)
}
