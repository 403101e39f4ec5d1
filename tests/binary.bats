#!/usr/bin/env bats
# Binary vectors and the hamming metric: bvecs bytes and JSONL "bits" read
# as packed bits, exact flat search against a brute force computed here,
# hnsw over codes, and the errors of malformed bits.
load helpers

# random_codes FILE N BYTES SEED: bvecs records of random bytes; BYTES 2
# gives 16-bit codes, so many distances tie
random_codes() {
  perl -e 'my ($n, $b, $s) = @ARGV; srand($s);
           for (1..$n) { print pack("l<", $b), pack("C*", map { int(rand(256)) } 1..$b) }' \
    "$2" "$3" "$4" >"$1"
}

# codes_to_jsonl FILE [ID_PREFIX]: the same codes as {"bits": hex} lines
codes_to_jsonl() {
  perl -e 'open(my $h, "<:raw", $ARGV[0]) or die; local $/; my $b = <$h>; my $i = 0;
           while (length $b) { my $d = unpack("l<", $b); my $hex = unpack("H*", substr($b, 4, $d));
             print $ARGV[1] ? qq({"id": "$ARGV[1]$i", "bits": "$hex"}\n) : qq({"bits": "$hex"}\n);
             $b = substr($b, 4 + $d); $i++ }' "$@"
}

# brute_hamming BASE QUERIES K [ROWS]: "id:distance ..." per query, ties to
# the smaller id, computed in perl (popcount of the xor by unpack's
# checksum); with ROWS (a file of row numbers), over those rows only
brute_hamming() {
  perl -e '
    sub rd { open(my $h, "<:raw", $_[0]) or die; local $/; my $b = <$h>; my @r;
      while (length $b) { my $d = unpack("l<", $b); push @r, substr($b, 4, $d); $b = substr($b, 4 + $d) }
      return @r }
    my @b = rd($ARGV[0]); my @q = rd($ARGV[1]); my $k = $ARGV[2]; my @rows = 0..$#b;
    if (defined $ARGV[3]) { open(my $r, "<", $ARGV[3]) or die; @rows = map { chomp; $_ } <$r> }
    $k = @rows if $k > @rows;
    for my $q (@q) {
      my @d = map { [unpack("%32b*", $q ^ $b[$_]), $_] } @rows;
      @d = sort { $a->[0] <=> $b->[0] || $a->[1] <=> $b->[1] } @d;
      print join(" ", map { "$_->[1]:$_->[0]" } @d[0 .. $k - 1]), "\n" }' "$@"
}

# codes_meta_jsonl FILE: the codes as {"bits": hex, "metadata": {...}} lines:
# a category of 50%, 10%, 1% and 0.1% frequency (A, B, C, D; E the rest),
# spread over the rows, and the row number n
codes_meta_jsonl() {
  perl -e 'open(my $h, "<:raw", $ARGV[0]) or die; local $/; my $b = <$h>; my $i = 0;
           while (length $b) { my $d = unpack("l<", $b); my $hex = unpack("H*", substr($b, 4, $d));
             my $r = ($i * 7919) % 1000;
             my $cat = $r < 500 ? "A" : $r < 600 ? "B" : $r < 610 ? "C" : $r < 611 ? "D" : "E";
             print qq({"bits": "$hex", "metadata": {"category": "$cat", "n": $i}}\n);
             $b = substr($b, 4 + $d); $i++ }' "$1"
}

# kept_rows JSONL JQ_FILTER: the row numbers of the records jq selects
kept_rows() { jq -n -r "[inputs] | to_entries[] | select(.value | $2) | .key" "$1"; }

# vdb-query jsonl as "id:distance ..." lines
pairs_of() { jq -r '[.ids, .distances] | transpose | map("\(.[0]):\(.[1])") | join(" ")' "$@"; }

@test "flat hamming is the brute force, ties to the smaller id, distances in bits" {
  random_codes b.bvecs 600 2 1
  random_codes q.bvecs 30 2 2
  vdb-build -T flat -m hamming -o f.vdb b.bvecs
  vdb-query -x f.vdb -k 20 q.bvecs | pairs_of >got
  brute_hamming b.bvecs q.bvecs 20 >want
  diff got want
  # 16-bit codes over 600 rows: the top 20 do tie (else this proves nothing)
  awk '{ split($20, a, ":"); split($19, b, ":"); if (a[2] == b[2]) t++ } END { exit !(t > 10) }' want
  # wider codes (8..4096 bits are covered by the kernel test): 1000 bits
  random_codes b2.bvecs 300 125 3
  random_codes q2.bvecs 10 125 4
  vdb-build -T flat -m hamming -o f2.vdb b2.bvecs
  [ "$(vdb-query -x f2.vdb --info | jq .dim)" = 1000 ]
  diff <(vdb-query -x f2.vdb -k 5 q2.bvecs | pairs_of) <(brute_hamming b2.bvecs q2.bvecs 5)
}

@test "bvecs, JSONL bits and vdb-quantize binary codes are the same vectors" {
  random_codes b.bvecs 200 8 5
  random_codes q.bvecs 10 8 6
  codes_to_jsonl b.bvecs doc- >b.jsonl
  codes_to_jsonl q.bvecs >q.jsonl
  head -1 b.jsonl | grep -q '"bits": "[0-9a-f]\{16\}"'
  vdb-build -T flat -m hamming -o a.vdb b.bvecs
  vdb-build -T flat -m hamming -o j.vdb b.jsonl
  vdb-query -x a.vdb -k 7 q.bvecs >a.out
  vdb-query -x a.vdb -k 7 <q.jsonl >aj.out # queries as JSONL bits, from stdin
  diff a.out aj.out
  vdb-query -x j.vdb -k 7 q.bvecs >j.out
  # the JSONL index returns its ids verbatim, at the same distances
  diff <(jq -c .distances a.out) <(jq -c .distances j.out)
  diff <(jq -c '.ids | map("doc-\(.)")' a.out) <(jq -c .ids j.out)
  # upper-case hex is the same byte
  perl -pe 's/("bits": ")(\w+)/$1\U$2/' <q.jsonl >upper.jsonl
  grep -q '"bits": "[0-9A-F]*[A-F][0-9A-F]*"' upper.jsonl
  vdb-query -x a.vdb -k 7 upper.jsonl | diff - a.out
  # sign codes of vdb-quantize encode, piped in as they are (no extension)
  vdb-quantize train --kind binary -o bin.vdbq "$D/sift2k_base.fvecs"
  vdb-quantize encode -q bin.vdbq "$D/sift2k_base.fvecs" >base.codes
  vdb-quantize encode -q bin.vdbq "$D/sift_query20.fvecs" >q.codes
  vdb-build -T flat -m hamming -o s.vdb <base.codes
  [ "$(vdb-query -x s.vdb --info | jq -c '[.dim, .count, .storage, .bytes_per_vector]')" = '[128,2000,"binary",16]' ]
  diff <(vdb-query -x s.vdb -k 10 <q.codes | pairs_of) <(brute_hamming base.codes q.codes 10)
}

@test "hnsw hamming: distances are flat's; a query that is a row finds it at 0" {
  random_codes b.bvecs 2000 16 7
  random_codes q.bvecs 20 16 8
  vdb-build -T hnsw -m hamming -o h.vdb b.bvecs
  vdb-build -T flat -m hamming -o f.vdb b.bvecs
  [ "$(vdb-query -x h.vdb --info | jq -r '.storage + " " + (.dim | tostring)')" = "binary 128" ]
  vdb-query -x h.vdb --verify
  vdb-query -x h.vdb -k 10 --ef 200 q.bvecs | pairs_of >h.out
  brute_hamming b.bvecs q.bvecs 2000 >all
  # every hit's distance is the true one
  paste -d'\n' h.out all | awk 'NR % 2 { n = split($0, h, " "); next }
    { for (i = 1; i <= NF; i++) { split($i, p, ":"); d[p[1]] = p[2] }
      for (i = 1; i <= n; i++) { split(h[i], p, ":"); if (d[p[1]] != p[2]) bad++ } }
    END { exit bad > 0 }'
  head -c $((20 * 5)) b.bvecs | tail -c 20 >row4.bvecs
  [ "$(vdb-query -x h.vdb -k 1 row4.bvecs | pairs_of)" = "4:0" ]
}

@test "hnsw hamming recall@10 >= 0.95 on centred, sign-binarized wordnet vectors" {
  need_shared
  W=$S/wordnet-fasttext
  # centre by the base mean (else most signs agree), then vdb-quantize's sign bits
  perl -e 'open(my $h, "<:raw", $ARGV[0]) or die; local $/; my $b = <$h>; my $d = unpack("l<", $b);
           my $r = 4 + 4 * $d; my $n = length($b) / $r; my @m = (0) x $d;
           for my $i (0 .. $n - 1) { my @v = unpack("f<$d", substr($b, $i * $r + 4, 4 * $d));
             $m[$_] += $v[$_] for 0 .. $d - 1 }
           for my $f (@ARGV) { open(my $in, "<:raw", $f) or die; my $x = <$in>; open(my $o, ">:raw", "c-" . ($f =~ s|.*/||r)) or die;
             for (my $p = 0; $p < length $x; $p += $r) { my @v = unpack("f<$d", substr($x, $p + 4, 4 * $d));
               print $o pack("l<", $d), pack("f<*", map { $v[$_] - $m[$_] / $n } 0 .. $d - 1) } }' \
    "$W/wn100_base.fvecs" "$W/wn100_query.fvecs"
  vdb-quantize train --kind binary -o bin.vdbq c-wn100_base.fvecs
  vdb-quantize encode -q bin.vdbq c-wn100_base.fvecs >base.codes
  vdb-quantize encode -q bin.vdbq c-wn100_query.fvecs >q.codes
  vdb-build -T flat -m hamming -o f.vdb base.codes
  vdb-query -x f.vdb -k 10 -O ivecs q.codes >gt.ivecs
  vdb-build -T hnsw -m hamming -o h.vdb base.codes
  r=$(vdb-query -x h.vdb -k 10 --ef 128 q.codes | vdb-eval recall -k 10 gt.ivecs | awk '{print $2}')
  echo "hnsw hamming recall@10 at ef 128: $r"
  ge "$r" 0.95
  r32=$(vdb-query -x h.vdb -k 10 --ef 16 q.codes | vdb-eval recall -k 10 gt.ivecs | awk '{print $2}')
  ge "$r" "$r32" # a wider beam finds no fewer
}

@test "append to hamming indexes answers as a fresh build" {
  random_codes b.bvecs 500 4 9
  random_codes q.bvecs 10 4 10
  head -c $((300 * 8)) b.bvecs >first
  tail -c $((200 * 8)) b.bvecs >second.bvecs
  vdb-build -T flat -m hamming -o f.vdb --format bvecs first
  vdb-build --append -o f.vdb second.bvecs
  vdb-build -T flat -m hamming -o all.vdb b.bvecs
  diff <(vdb-query -x f.vdb -k 10 q.bvecs) <(vdb-query -x all.vdb -k 10 q.bvecs)
  vdb-build -T hnsw -m hamming -o h.vdb --format bvecs first
  vdb-build --append -o h.vdb second.bvecs
  [ "$(vdb-query -x h.vdb --info | jq .count)" = 500 ]
  [ "$(vdb-query -x h.vdb -k 1 <(tail -c 8 b.bvecs) | pairs_of)" = "499:0" ]
}

@test "malformed bits are bad data (65) naming the record" {
  printf '{"bits": "0f3a"}\n{"bits": "0f3a"}\n' >ok.jsonl
  vdb-build -m hamming -o x.vdb ok.jsonl
  printf '{"bits": "0f3a"}\n{"bits": "0f3"}\n' >odd.jsonl
  run vdb-build -m hamming -o y.vdb odd.jsonl
  [ "$status" -eq 65 ]
  [[ "$output" == *"line 2 (record 1)"*"odd number"* ]]
  printf '{"bits": "0f3a"}\n{"bits": "0g3a"}\n' >nonhex.jsonl
  run vdb-build -m hamming -o y.vdb nonhex.jsonl
  [ "$status" -eq 65 ]
  [[ "$output" == *"record 1"*"[1] is not a hex digit"* ]]
  printf '{"bits": "0f3a"}\n{"bits": "0f3a00"}\n' >long.jsonl
  run vdb-build -m hamming -o y.vdb long.jsonl
  [ "$status" -eq 65 ]
  [[ "$output" == *"record 1"*"24 bits; expected 16"* ]]
  run vdb-query -x x.vdb <<<'{"bits": 15}'
  [ "$status" -eq 65 ]
  [[ "$output" == *"record 0"*"not a string"* ]]
  run vdb-query -x x.vdb <<<'{"vector": [1, 0]}'
  [ "$status" -eq 65 ]
  [[ "$output" == *'"bits" is missing'* ]]
  # queries of another width, in bvecs
  printf '\003\000\000\000abc' >q3.bvecs
  run vdb-query -x x.vdb q3.bvecs
  [ "$status" -eq 65 ]
  [[ "$output" == *"record 0: 3 bytes (24 bits) differ from the expected 16 bits"* ]]
  [ ! -e y.vdb ]
}

@test "float input to hamming, bits to a float metric, hamming on other types" {
  run vdb-build -m hamming -o x.vdb "$D/sift_query20.fvecs"
  [ "$status" -eq 65 ]
  [[ "$output" == *"record 0: the hamming metric takes binary vectors"* ]]
  printf '{"bits": "0f3a"}\n' >b.jsonl
  run vdb-build -m cosine -o x.vdb b.jsonl
  [ "$status" -eq 65 ]
  [[ "$output" == *"-m hamming"* ]]
  for t in ivf ivfpq; do
    run vdb-build -T $t -m hamming -o x.vdb b.jsonl
    [ "$status" -eq 64 ]
    [[ "$output" == *"does not support metric hamming"* ]]
  done
  run vdb-build -m hamming --storage sq8 -o x.vdb b.jsonl
  [ "$status" -eq 64 ]
  [ ! -e x.vdb ]
}

@test "flat hamming --filter is the brute force over the records jq selects, ties to the smaller id" {
  random_codes b.bvecs 5000 2 11
  random_codes q.bvecs 20 2 12
  codes_meta_jsonl b.bvecs >m.jsonl
  vdb-build -q -T flat -m hamming -o f.vdb m.jsonl
  # 50% to none kept: whole blocks of rows, blocks taken a row at a time, none
  while IFS='@' read -r filter jqf; do
    vdb-query -x f.vdb -k 20 --filter "$filter" q.bvecs | pairs_of >got
    kept_rows m.jsonl "$jqf" >rows
    brute_hamming b.bvecs q.bvecs 20 rows >want
    echo "$filter: $(wc -l <rows) kept"
    diff got want
  done <<'EOF'
category == "A"@.metadata.category == "A"
category != "B"@.metadata.category != "B"
category == "B"@.metadata.category == "B"
category == "C" || category == "D"@.metadata.category == "C" or .metadata.category == "D"
category == "D"@.metadata.category == "D"
n < 40 || n >= 4990@.metadata.n < 40 or .metadata.n >= 4990
category == "nope"@.metadata.category == "nope"
EOF
  [ "$(vdb-query -x f.vdb -k 20 --filter 'category == "nope"' q.bvecs | jq -s 'map(.ids | length) | add')" = 0 ]
}

@test "hnsw hamming --filter: few kept rows are searched exactly; else k hits that pass, at their true distances" {
  random_codes b.bvecs 5000 8 13
  random_codes q.bvecs 20 8 14
  codes_meta_jsonl b.bvecs >m.jsonl
  vdb-build -q -T hnsw -m hamming -o h.vdb m.jsonl
  # 500 and 55 rows kept: their codes scanned, the brute force's answer
  for jqf in '.metadata.category == "B"' '.metadata.category == "C" or .metadata.category == "D"'; do
    filter=$(sed 's/\.metadata\.//g; s/ or / || /' <<<"$jqf")
    kept_rows m.jsonl "$jqf" >rows
    diff <(vdb-query -x h.vdb -k 10 --filter "$filter" q.bvecs | pairs_of) \
      <(brute_hamming b.bvecs q.bvecs 10 rows)
  done
  # 4,500 and 2,500 kept: the graph; every hit is a kept row at its true distance
  for cat in B A; do
    [ $cat = B ] && filter='category != "B"' jqf='.metadata.category != "B"'
    [ $cat = A ] && filter='category == "A"' jqf='.metadata.category == "A"'
    kept_rows m.jsonl "$jqf" >rows
    vdb-query -x h.vdb -k 10 --filter "$filter" q.bvecs >out
    [ "$(jq -s 'map(.ids | length) | unique' -c out)" = "[10]" ]
    pairs_of out >got
    brute_hamming b.bvecs q.bvecs 5000 rows >all
    paste -d'\n' got all | awk 'NR % 2 { n = split($0, h, " "); next }
      { delete d; for (i = 1; i <= NF; i++) { split($i, p, ":"); d[p[1]] = p[2] }
        for (i = 1; i <= n; i++) { split(h[i], p, ":"); if (!(p[1] in d) || d[p[1]] != p[2]) bad++ } }
      END { exit bad > 0 }'
  done
  # fewer match than k: those; none: no hits
  [ "$(vdb-query -x h.vdb -k 10 --filter 'category == "D"' q.bvecs | jq -s 'map(.ids | length) | unique' -c)" = "[$(kept_rows m.jsonl '.metadata.category == "D"' | wc -l)]" ]
  run vdb-query -x h.vdb -k 10 --filter 'n > 99999' q.bvecs
  assert_success
  [ "$(jq -s 'map(.ids | length) | add' <<<"$output")" = 0 ]
  [ "${#lines[@]}" = 20 ]
}
