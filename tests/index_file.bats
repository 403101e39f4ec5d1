#!/usr/bin/env bats
# The index file: header, checksums, corruption, atomic replacement.
load helpers

setup_file() {
  export IDX="$BATS_FILE_TMPDIR/s.vdb"
  "$VDB_BIN/vdb-build" -o "$IDX" "$VDB_TESTDATA/sift2k_base.fvecs"
}

# flip FILE OFFSET: invert one byte in place
flip() {
  perl -e 'my ($f, $o) = @ARGV; open(my $h, "+<:raw", $f) or die; seek($h, $o, 0);
           read($h, my $c, 1); seek($h, $o, 0); print $h chr(ord($c) ^ 0xff); close $h' "$1" "$2"
}

@test "--info prints the header as one JSON object" {
  run --separate-stderr vdb-query -x "$IDX" --info
  assert_success
  [ "$(jq -r '[.format, .type, .metric, .dim, .count, .storage] | join(" ")' <<<"$output")" = \
    "1.0 flat l2 128 2000 f32" ]
  [ "$(jq '.sections | map(.offset % 4096 == 0) | all' <<<"$output")" = true ]
  [ "$(jq -r '.sections[0].kind' <<<"$output")" = VECS ]
  [ "$(jq '.sections[0].length' <<<"$output")" = $((2000 * 128 * 4)) ]
}

@test "--verify accepts a sound index" {
  run --separate-stderr vdb-query -x "$IDX" --verify
  assert_success
  [[ "$stderr" == *": ok" ]]
  run --separate-stderr vdb-query -q -x "$IDX" --verify
  [ -z "$stderr" ]
}

@test "a truncated index is refused (65), never a crash" {
  for n in 0 3 100 4095 4096 8192 500000; do
    head -c $n "$IDX" >t.vdb
    run vdb-query -x t.vdb --info
    assert_failure 65
    assert_output --partial "t.vdb"
  done
  run vdb-query -x t.vdb --info
  assert_output --partial "truncated"
}

@test "a foreign file is refused as not a vdb index" {
  run vdb-query -x "$D/sift2k_base.fvecs" "$D/sift_query20.fvecs"
  assert_failure 65
  assert_output --partial "not a vdb index"
}

@test "an index from a newer major version asks for an upgrade" {
  cp "$IDX" new.vdb
  printf '\x03' | dd of=new.vdb bs=1 seek=6 conv=notrunc status=none
  run vdb-query -x new.vdb --info
  assert_failure 65
  assert_output --partial "index format 3 is newer than this vdb (2); upgrade vdb"
}

@test "a flipped byte in the header is caught on open" {
  for off in 8 20 40 600 4000; do
    cp "$IDX" h.vdb
    flip h.vdb $off
    run vdb-query -x h.vdb "$D/sift_query20.fvecs"
    assert_failure 65
    assert_output --partial "header checksum"
  done
}

@test "a flipped byte in a section is caught by --verify" {
  cp "$IDX" s.vdb
  flip s.vdb $((4096 + 1000))
  run vdb-query -x s.vdb --verify
  assert_failure 65
  assert_output --partial "section VECS: checksum mismatch"
  run vdb-query -x "$IDX" --verify
  assert_success
}

@test "a failed build leaves the previous index byte-identical and no temporary file" {
  cp "$IDX" keep.vdb
  sum=$(sha256sum <keep.vdb)
  head -c 5000 "$D/sift2k_base.fvecs" >trunc.fvecs
  run vdb-build -o keep.vdb trunc.fvecs
  assert_failure 65
  [ "$(sha256sum <keep.vdb)" = "$sum" ]
  [ -z "$(ls | grep '\.tmp\.')" ]
}

@test "a killed build leaves the previous index byte-identical" {
  cp "$IDX" keep.vdb
  sum=$(sha256sum <keep.vdb)
  mkfifo in.fifo
  vdb-build -o keep.vdb in.fifo &
  pid=$!
  exec 7>in.fifo
  head -c 100000 "$D/sift2k_base.fvecs" >&7
  sleep 0.3
  kill -9 $pid
  exec 7>&-
  wait $pid || true
  [ "$(sha256sum <keep.vdb)" = "$sum" ]
  run vdb-query -x keep.vdb --verify
  assert_success
}

@test "an output that is also an input is refused (64) and the input kept, whatever its name" {
  cp "$D/sift2k_base.fvecs" v.fvecs
  sum=$(sha256sum <v.fvecs)
  ln v.fvecs link.fvecs
  run -64 vdb-build -o v.fvecs v.fvecs
  assert_output --partial 'v.fvecs is also an input (v.fvecs): writing it would destroy the input'
  run -64 vdb-build -o ./v.fvecs "$D/sift_query20.fvecs" link.fvecs
  run -64 vdb-build -o link.fvecs --input v.fvecs
  run -64 sh -c 'vdb-build -o v.fvecs <v.fvecs'
  assert_output --partial '(standard input)'
  vdb-build -q -o keep.vdb "$D/sift_query20.fvecs"
  run -64 vdb-build --append -x keep.vdb -o v.fvecs v.fvecs
  run -64 vdb-quantize train --kind sq8 -o v.fvecs "$D/sift_query20.fvecs" v.fvecs
  [ "$(sha256sum <v.fvecs)" = "$sum" ]
  [ -z "$(ls | grep '\.tmp\.')" ]
  # a new name, and a change of the index in place, are as before
  run -0 vdb-build -q -o new.vdb v.fvecs
  run -0 vdb-build -q --append -x keep.vdb "$D/sift_query20.fvecs"
}

@test "an output that cannot be created is 73 and names it" {
  run vdb-build -o nodir/x.vdb "$D/sift2k_base.fvecs"
  assert_failure 73
  assert_output --partial "nodir/x.vdb"
}

@test "a full disk is an I/O error (74) and the previous index survives" {
  mkdir small
  mount -t tmpfs -o size=600k tmpfs small 2>/dev/null || skip "cannot mount a small tmpfs here"
  head -c $((200 * 516)) "$D/sift2k_base.fvecs" >small/a.fvecs
  vdb-build -o small/x.vdb small/a.fvecs
  sum=$(sha256sum <small/x.vdb)
  run vdb-build -o small/x.vdb "$D/sift2k_base.fvecs"
  status_=$status out_=$output
  [ "$(sha256sum <small/x.vdb)" = "$sum" ]
  left=$(ls small | grep -c tmp || true)
  umount small
  [ "$status_" = 74 ]
  [[ "$out_" == *"small/x.vdb"*"No space left on device"* ]]
  [ "$left" = 0 ]
}

@test "single-file index is written with the usual permissions" {
  umask 022
  vdb-build -o p.vdb "$D/sift2k_base.fvecs"
  [ "$(stat -c %a p.vdb)" = 644 ]
}

@test "index files written by format 1.0 stay readable (tests/data/v1)" {
  run vdb-query -x "$D/v1/flat-l2.vdb" --verify
  assert_success
  run vdb-query -x "$D/v1/flat-l2.vdb" -k 7 "$D/sift_query20.fvecs"
  assert_success
  diff <(ids_of <<<"$output") <(brute "$D/v1/flat-l2.fvecs" "$D/sift_query20.fvecs" 7 l2)
  run vdb-query -x "$D/v1/flat-cosine-ids.vdb" --info
  assert_output --partial '"format":"1.0"'
  assert_output --partial '"ids":true'
  run vdb-query -x "$D/v1/flat-cosine-ids.vdb" -k 3 --include metadata "$D/words_query20.jsonl"
  assert_success
  [ "$(head -1 <<<"$output" | jq -r '.ids[0] | type')" = string ]
  [ "$(head -1 <<<"$output" | jq -r '.metadata[0].corpus_count | type')" = number ]
}
