#!/usr/bin/env bats
# ivfpq's per-list l2 tables (|r|^2 + 2<c, r> per code value) are made when
# the index is opened, never stored; older files that keep them (PQPL) still
# open, are checked and searched.

load helpers

@test "8-bit l2: no PQPL in a new file, --info still counts the tables, and the file is no larger than flat's" {
  b=$D/sift2k_base.fvecs
  vdb-build -q -T ivfpq -m l2 --nlist 16 --pq-m 8 -o pq.vdb "$b"
  vdb-build -q -o f.vdb "$b"
  [ -z "$(section_at pq.vdb PQPL)" ]
  # per row: its number (4) and code (8), and its share of the tables made
  # at open: 16 lists x 8 sub-quantizers x 256 floats, over 2000 rows
  want=$(awk 'BEGIN { print 4 + 8 + 16 * 8 * 256 * 4 / 2000 }')
  near "$(vdb-query -x pq.vdb --info | jq .bytes_per_vector)" "$want" 0.01
  [ "$(stat -c %s pq.vdb)" -lt "$(stat -c %s f.vdb)" ]
  run -0 vdb-query -x pq.vdb --verify
}

@test "8-bit l2 codes only: a query's distances are those to the rows' reconstructions (centroid + code), as brute force over them" {
  random_fvecs base.fvecs 400 16 21
  random_fvecs q.fvecs 5 16 22
  vdb-build -q -T ivfpq -m l2 --nlist 4 --pq-m 4 -t 1 -o x.vdb base.fvecs
  # every row's reconstruction, in row order, as fvecs (vdb-query --dump)
  vdb-query -x x.vdb --dump | jq -r '.vector | map(tostring) | join(" ")' |
    perl -ne 'my @v = split; print pack("l<", scalar @v), pack("f<*", @v)' >rec.fvecs
  vdb-query -x x.vdb -k 5 --nprobe 4 q.fvecs | ids_of >got
  brute rec.fvecs q.fvecs 5 l2 >want
  diff want got
}

@test "an older file with its per-list tables (PQPL, tests/data/v1) opens, verifies and searches" {
  x=$D/v1/ivfpq-l2.vdb
  [ -n "$(section_at "$x" PQPL)" ]
  run -0 vdb-query -x "$x" --verify
  # built with --refine 60, nlist 4: nprobe 4 at k 5 re-ranks every row
  random_fvecs q.fvecs 6 16 8
  vdb-query -x "$x" -k 5 --nprobe 4 q.fvecs | ids_of >got
  brute "$D/v1/ivfpq-l2.fvecs" q.fvecs 5 l2 >want
  diff want got
  want=$(awk 'BEGIN { print 4 + 4 + 16 * 4 + 4 * 4 * 256 * 4 / 300 }')
  near "$(vdb-query -x "$x" --info | jq .bytes_per_vector)" "$want" 0.01
}

@test "an older file's PQPL is read: a NaN there is refused by --verify (65), naming the section" {
  cp "$D/v1/ivfpq-l2.vdb" x.vdb
  chmod u+w x.vdb
  read -r off len < <(section_at x.vdb PQPL)
  fill x.vdb $((off + 4 * 9)) V 1 0x7fc00000
  reseal x.vdb
  run -65 vdb-query -x x.vdb --verify
  assert_output --partial "PQPL: list 0, value 9 is NaN"
}
