#!/usr/bin/env bats
# vdb-quantize: train, encode, decode, eval and info, end to end; the code
# file format; errors and their exit statuses; recall on real data.
load helpers

# size in bytes
size() { stat -c %s "$1"; }

# fvecs FILE as one line of values per record (perl, independent of vdb)
dump() {
  perl -e 'open(my $h, "<:raw", $ARGV[0]) or die; local $/; my $b = <$h>;
    while (length $b) { my $d = unpack("l<", $b);
      print join(" ", unpack("f<$d", substr($b, 4))), "\n"; $b = substr($b, 4 + 4 * $d); }' "$1"
}

@test "each kind trains, encodes to records of its code size and decodes to fvecs" {
  n=2000
  for spec in sq8:128 fp16:256 pq:16 binary:16; do
    kind=${spec%:*} cs=${spec#*:}
    opts=(--kind $kind)
    [ $kind = pq ] && opts+=(--pq-m 16)
    run vdb-quantize train "${opts[@]}" -o $kind.vdbq "$D/sift2k_base.fvecs"
    assert_success
    run vdb-quantize info -q $kind.vdbq
    assert_success
    [ "$(jq -r .kind <<<"$output")" = $kind ]
    [ "$(jq -r .code_size <<<"$output")" = $cs ]
    [ "$(jq -r .dim <<<"$output")" = 128 ]
    [ "$(jq -r .trained_on <<<"$output")" = $n ]
    vdb-quantize encode -q $kind.vdbq "$D/sift2k_base.fvecs" >$kind.codes
    [ "$(size $kind.codes)" -eq $((n * (4 + cs))) ]
    # every record is an int32 byte count, then that many bytes
    sizes=$(perl -e 'local $/; my $b = <STDIN>; my %c; while (length $b) {
      my $l = unpack("l<", $b); $c{$l}++; $b = substr($b, 4 + $l); } print join(",", keys %c)' \
      <$kind.codes)
    [ "$sizes" = $cs ]
    vdb-quantize decode -q $kind.vdbq <$kind.codes >$kind.fvecs
    [ "$(size $kind.fvecs)" -eq "$(size "$D/sift2k_base.fvecs")" ]
  done
  # SIFT values are small integers: fp16 decodes them exactly
  cmp fp16.fvecs "$D/sift2k_base.fvecs"
  # binary decodes to +-1 with the input's signs (SIFT is >= 0: 1 where > 0)
  paste -d'|' <(dump binary.fvecs) <(dump "$D/sift2k_base.fvecs") | head -50 | perl -ne '
    chomp; my ($a, $b) = split /\|/; my @a = split " ", $a; my @b = split " ", $b;
    for (0..$#a) { die "dim $_: $a[$_] for $b[$_]\n" if $a[$_] != ($b[$_] > 0 ? 1 : -1) }'
}

@test "the same seed gives the same pq file on 1 and 2 threads; another seed another" {
  vdb-quantize train -t 1 --kind pq --pq-m 8 --seed 3 -o a.vdbq "$D/sift2k_base.fvecs"
  vdb-quantize train -t 2 --kind pq --pq-m 8 --seed 3 -o b.vdbq "$D/sift2k_base.fvecs"
  vdb-quantize train -t 2 --kind pq --pq-m 8 --seed 4 -o c.vdbq "$D/sift2k_base.fvecs"
  cmp a.vdbq b.vdbq
  # other codebooks, so other codes (the files differ anyway: they record
  # their seed)
  vdb-quantize encode -q a.vdbq "$D/sift2k_base.fvecs" >a.codes
  vdb-quantize encode -q c.vdbq "$D/sift2k_base.fvecs" >c.codes
  [ "$(stat -c %s c.codes)" -eq $((2000 * (4 + 8))) ]
  run -1 cmp -s a.codes c.codes
}

@test "encode streams: files and stdin give the concatenated codes; codes read as bvecs" {
  vdb-quantize train --kind sq8 -o q.vdbq "$D/sift2k_base.fvecs"
  head -c $((700 * 516)) "$D/sift2k_base.fvecs" >part1.fvecs
  tail -c +$((700 * 516 + 1)) "$D/sift2k_base.fvecs" >part2.fvecs
  vdb-quantize encode -q q.vdbq "$D/sift2k_base.fvecs" >all.codes
  vdb-quantize encode -q q.vdbq part1.fvecs part2.fvecs >parts.codes
  vdb-quantize encode -q q.vdbq - <"$D/sift2k_base.fvecs" >stdin.codes
  cmp all.codes parts.codes
  cmp all.codes stdin.codes
  # the bvecs layout: other tools read the codes as byte vectors
  vdb-build -f bvecs -o codes.vdb all.codes
  run vdb-query -x codes.vdb --info
  [ "$(jq .dim <<<"$output")" = 128 ]
  [ "$(jq .count <<<"$output")" = 2000 ]
  # decode accepts several inputs, and stdin
  vdb-quantize decode -q q.vdbq all.codes all.codes >twice.fvecs
  [ "$(size twice.fvecs)" -eq $((2 * $(size "$D/sift2k_base.fvecs"))) ]
  # JSONL input works like fvecs
  vdb-quantize train --kind fp16 -o w.vdbq "$D/words1k.jsonl"
  vdb-quantize encode -q w.vdbq <"$D/words1k.jsonl" >w.codes
  [ "$(size w.codes)" -eq $((1000 * (4 + 200))) ]
}

@test "binary codes of sign-identical vectors are identical; opposite signs differ in every bit" {
  fvecs v.fvecs 10  1 -2 3 -4 5 -6 7 -8 9 -10 \
                    0.5 -0.1 30 -4e3 1e-3 -6 70 -0.25 9 -1 \
                   -1 2 -3 4 -5 6 -7 8 -9 10
  vdb-quantize train --kind binary -o b.vdbq v.fvecs
  vdb-quantize encode -q b.vdbq v.fvecs >v.codes
  [ "$(size v.codes)" -eq $((3 * (4 + 2))) ]
  run perl -e 'local $/; my $b = <STDIN>; my @c = map { substr($b, 6 * $_ + 4, 2) } 0..2;
    printf "%s %s %s\n", map { unpack("H*", $_) } @c' <v.codes
  # bits 0, 2, 4, 6, 8 set, LSB first: 0x55 0x01; the opposite: 0xaa 0x02
  assert_output "5501 5501 aa02"
}

@test "fp16 encode then decode is within half precision of random values" {
  random_fvecs r.fvecs 300 16 7
  perl -e 'open(my $h, "<:raw", "r.fvecs"); local $/; my $b = <$h>; my $o = "";
    while (length $b) { my @v = unpack("f<16", substr($b, 4)); $b = substr($b, 68);
      $o .= pack("l<", 16) . pack("f<*", map { $_ * 1000 * ($_ > 0 ? 1 : 1e-6) } @v) }
    open(my $w, ">:raw", "s.fvecs"); print $w $o' # magnitudes from ~1e-9 to 1000
  vdb-quantize train --kind fp16 -o h.vdbq s.fvecs
  vdb-quantize encode -q h.vdbq s.fvecs | vdb-quantize decode -q h.vdbq >back.fvecs
  paste -d'|' <(dump s.fvecs) <(dump back.fvecs) | perl -ne '
    chomp; my ($a, $b) = split /\|/; my @a = split " ", $a; my @b = split " ", $b;
    for (0..$#a) { my $tol = abs($a[$_]) >= 2**-14 ? abs($a[$_]) * 2**-11 : 2**-25;
      die "$a[$_] came back as $b[$_]\n" if abs($a[$_] - $b[$_]) > $tol }'
}

@test "eval reports error and recall, as text and JSON" {
  vdb-quantize train --kind fp16 -o h.vdbq "$D/sift2k_base.fvecs"
  run vdb-quantize eval -q h.vdbq --queries "$D/sift_query20.fvecs" "$D/sift2k_base.fvecs"
  assert_success
  assert_line --regexp '^quantizer +h.vdbq: fp16, dim 128, 256 bytes per vector'
  assert_line --regexp '^data +2000 base vectors, 20 queries$'
  assert_line --regexp '^mse +0 per vector'
  assert_line --regexp '^recall@10 +1\.0000 '
  vdb-quantize train --kind pq --pq-m 16 -o p.vdbq "$D/sift2k_base.fvecs"
  run vdb-quantize eval --json -k 5 -m cosine -q p.vdbq --queries "$D/sift_query20.fvecs" \
    "$D/sift2k_base.fvecs"
  assert_success
  [ "$(jq -r '.quantizer.kind, .quantizer.pq_m, .k, .metric, .base, .queries, .search' <<<"$output" |
       tr '\n' ' ')" = "pq 16 5 cosine 2000 20 decoded " ]
  jq -e '.recall > 0.3 and .recall <= 1 and .relative_mse > 0 and .relative_mse < 0.2
         and (.mse / .variance - .relative_mse | fabs) < 1e-4' <<<"$output"
  vdb-quantize train --kind binary -o b.vdbq "$D/sift2k_base.fvecs"
  run vdb-quantize eval --json -q b.vdbq --queries "$D/sift_query20.fvecs" <"$D/sift2k_base.fvecs"
  assert_success
  jq -e '.search == "hamming" and .recall >= 0 and .recall <= 1' <<<"$output"
}

@test "real data (siftsmall): recall@10 of searching the coded base, per kind" {
  need_shared
  base=$S/siftsmall/siftsmall_base.fvecs q=$S/siftsmall/siftsmall_query.fvecs
  # measured at seed 42: sq8 0.991, fp16 1.000, pq-m 16 0.727 (relative mse
  # 0.066), binary 0.155 (SIFT is non-negative, so sign bits say little).
  # The floors leave room for other seeds and BLAS versions, and still
  # catch a broken quantizer (a wrong codebook or bin drops recall far).
  for spec in sq8:0.95 fp16:0.999 pq:0.6; do
    kind=${spec%:*} floor=${spec#*:}
    vdb-quantize train --kind $kind $([ $kind = pq ] && echo --pq-m 16) -o $kind.vdbq "$base"
    run vdb-quantize eval --json -q $kind.vdbq --queries "$q" "$base"
    assert_success
    echo "$kind: $output"
    jq -e --argjson f $floor '.recall >= $f' <<<"$output"
  done
  jq -e '.relative_mse < 0.1' <<<"$output" # pq's
}

@test "errors: missing input 66, wrong dimension 65, unknown kind 64, pq-m not dividing 64" {
  vdb-quantize train --kind sq8 -o q.vdbq "$D/sift2k_base.fvecs"
  run vdb-quantize train --kind sq8 -o x.vdbq nosuch.fvecs
  assert_failure 66
  assert_output --partial "nosuch.fvecs"
  run vdb-quantize encode -q nosuch.vdbq "$D/sift2k_base.fvecs"
  assert_failure 66
  run vdb-quantize encode -q q.vdbq nosuch.fvecs
  assert_failure 66
  run vdb-quantize decode -q q.vdbq nosuch.codes
  assert_failure 66
  run vdb-quantize eval -q q.vdbq --queries nosuch.fvecs "$D/sift2k_base.fvecs"
  assert_failure 66
  run --separate-stderr vdb-quantize encode -q q.vdbq "$D/words1k.jsonl"
  assert_failure 65
  [[ "$stderr" == *"words1k.jsonl"*"record 0"*"dimension 100"*"128"* ]]
  run vdb-quantize eval -q q.vdbq --queries "$D/words_query20.jsonl" "$D/sift2k_base.fvecs"
  assert_failure 65
  run vdb-quantize train --kind nope -o x.vdbq "$D/sift2k_base.fvecs"
  assert_failure 64
  assert_output --partial "nope"
  run vdb-quantize train --kind pq --pq-m 7 -o x.vdbq "$D/sift2k_base.fvecs"
  assert_failure 64
  assert_output --partial "pq-m 7 must divide the dimension 128"
  [ ! -e x.vdbq ]
  head -c $((100 * 516)) "$D/sift2k_base.fvecs" >small.fvecs
  run vdb-quantize train --kind pq -o x.vdbq small.fvecs
  assert_failure 65
  assert_output --partial "at least 256"
}

@test "errors: damaged, truncated or foreign quantizer files are 65 with a message" {
  vdb-quantize train --kind pq --pq-m 16 -o q.vdbq "$D/sift2k_base.fvecs"
  cp q.vdbq bad.vdbq
  printf '\x5a' | dd of=bad.vdbq bs=1 seek=5000 conv=notrunc 2>/dev/null
  run vdb-quantize encode -q bad.vdbq "$D/sift2k_base.fvecs"
  assert_failure 65
  assert_output --partial "bad.vdbq: section PQCB: checksum mismatch"
  run vdb-quantize eval -q bad.vdbq --queries "$D/sift_query20.fvecs" "$D/sift2k_base.fvecs"
  assert_failure 65
  assert_output --partial "bad.vdbq: section PQCB: checksum mismatch"
  cp q.vdbq hdr.vdbq
  printf '\x01' | dd of=hdr.vdbq bs=1 seek=16 conv=notrunc 2>/dev/null
  run vdb-quantize info -q hdr.vdbq
  assert_failure 65
  assert_output --partial "header checksum"
  head -c 6000 q.vdbq >trunc.vdbq
  run vdb-quantize decode -q trunc.vdbq /dev/null
  assert_failure 65
  assert_output --partial "truncated"
  vdb-build -o flat.vdb "$D/sift2k_base.fvecs"
  run vdb-quantize info -q flat.vdb
  assert_failure 65
  assert_output --partial "not a quantizer"
  run vdb-quantize info -q "$D/sift2k_base.fvecs"
  assert_failure 65
  run vdb-query -x q.vdbq "$D/sift_query20.fvecs"
  assert_failure 65
}

@test "errors: codes of another quantizer, truncated codes, fp16 overflow name the record (65)" {
  vdb-quantize train --kind sq8 -o s.vdbq "$D/sift2k_base.fvecs"
  vdb-quantize train --kind binary -o b.vdbq "$D/sift2k_base.fvecs"
  vdb-quantize encode -q b.vdbq "$D/sift2k_base.fvecs" >b.codes
  run vdb-quantize decode -q s.vdbq b.codes
  assert_failure 65
  assert_output --partial "b.codes: record 0: a code of 16 bytes"
  head -c $((3 * 20 + 7)) b.codes >t.codes
  run vdb-quantize decode -q b.vdbq t.codes
  assert_failure 65
  assert_output --partial "t.codes: record 3: truncated"
  run vdb-quantize decode -q b.vdbq /dev/null
  assert_failure 65
  assert_output --partial "no codes"
  fvecs f.fvecs 2  1 2  3 4  5 70000
  vdb-quantize train --kind fp16 -o h.vdbq <(head -c 24 f.fvecs)
  run vdb-quantize encode -q h.vdbq f.fvecs
  assert_failure 65
  assert_output --partial "f.fvecs: record 2: dimension 1: 70000 is beyond the fp16 range"
}

@test "usage: subcommand options, required options, binary to a terminal (64)" {
  vdb-quantize train -o q.vdbq "$D/sift2k_base.fvecs"
  run vdb-quantize encode "$D/sift2k_base.fvecs"
  assert_failure 64
  assert_output --partial "-q FILE"
  run vdb-quantize eval -q q.vdbq "$D/sift2k_base.fvecs"
  assert_failure 64
  assert_output --partial "--queries"
  run vdb-quantize encode -q q.vdbq -o out.codes "$D/sift2k_base.fvecs"
  assert_failure 64
  run vdb-quantize train -q q.vdbq -o x.vdbq "$D/sift2k_base.fvecs"
  assert_failure 64
  run vdb-quantize train --pq-m 8 -o x.vdbq "$D/sift2k_base.fvecs"
  assert_failure 64
  assert_output --partial "--kind pq"
  run vdb-quantize decode --kind pq -q q.vdbq
  assert_failure 64
  run vdb-quantize eval -q q.vdbq --queries "$D/sift_query20.fvecs" -m hamming "$D/sift2k_base.fvecs"
  assert_failure 64
  run vdb-quantize info -q q.vdbq extra
  assert_failure 64
  run vdb-quantize train --pq-m 0 --kind pq -o x.vdbq "$D/sift2k_base.fvecs"
  assert_failure 64
  command -v script >/dev/null || skip "script(1) is not installed"
  run script -qec "$VDB_BIN/vdb-quantize encode -q q.vdbq $D/sift2k_base.fvecs" /dev/null
  assert_failure 64
  assert_output --partial "terminal"
}

@test "a config file sets the quantizer; --quiet stays; a failed train keeps the old file" {
  vdb-quantize train --kind sq8 -o q.vdbq "$D/sift2k_base.fvecs"
  cp q.vdbq before.vdbq
  printf 'quantizer: q.vdbq\nquiet: true\n' >enc.yaml
  vdb-quantize -c enc.yaml encode "$D/sift_query20.fvecs" >a.codes
  vdb-quantize encode --quiet --quantizer q.vdbq "$D/sift_query20.fvecs" >b.codes
  cmp a.codes b.codes
  [ "$(size a.codes)" -eq $((20 * (4 + 128))) ]
  # training fails (pq-m) and an unreadable directory: q.vdbq is untouched
  run vdb-quantize train --kind pq --pq-m 9 -o q.vdbq "$D/sift2k_base.fvecs"
  assert_failure 64
  cmp q.vdbq before.vdbq
  run vdb-quantize train -o /nonexistent/dir/q.vdbq "$D/sift2k_base.fvecs"
  assert_failure 73
  [ -z "$(ls | grep tmp)" ]
}

@test "a closed stdout ends encode and decode quietly; a full disk is 74" {
  vdb-quantize train --kind fp16 -o h.vdbq "$D/sift2k_base.fvecs"
  for ign in "" "trap '' PIPE;"; do
    run --separate-stderr bash -c "$ign $VDB_BIN/vdb-quantize encode -q h.vdbq \
      $D/sift2k_base.fvecs | head -c 10 >/dev/null; echo \${PIPESTATUS[0]}"
    [[ "$output" == 0 || "$output" == 141 ]]
    [ -z "$stderr" ]
  done
  vdb-quantize encode -q h.vdbq "$D/sift2k_base.fvecs" >h.codes
  run --separate-stderr bash -c "trap '' PIPE; $VDB_BIN/vdb-quantize decode -q h.vdbq h.codes |
    head -c 10 >/dev/null; echo \${PIPESTATUS[0]}"
  assert_output 141
  [ -z "$stderr" ]
  run bash -c "$VDB_BIN/vdb-quantize encode -q h.vdbq $D/sift2k_base.fvecs >/dev/full"
  assert_failure 74
  assert_output --partial "No space left"
}
