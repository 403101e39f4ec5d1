#!/usr/bin/env bats
# ivfpq's per-list l2 tables (|r|^2 + 2<c, r> per code value), and 4-bit's
# packed codes, are made the first time a query probes their list, never
# stored; older files that keep them (PQPL) still open, are checked and
# searched. A filtered scan counts the kept rows of its lists.

load helpers
load ivf_ref

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

# made_anyhow INDEX: the 40 queries of q.fvecs (dim 16) at k 5, nprobe 3
# answer the same (ids and distances) in one process (the first queries
# make the lists' tables, the later ones reuse them), each alone in a
# process of its own (only its lists' made) and on 2 threads racing to make
# them.
made_anyhow() {
  vdb-query -x "$1" -t 1 -k 5 --nprobe 3 q.fvecs >one
  for i in $(seq 0 39); do
    dd if=q.fvecs of=q1.fvecs bs=68 skip="$i" count=1 status=none
    vdb-query -x "$1" -t 1 -k 5 --nprobe 3 q1.fvecs | jq -c '{ids, distances}'
  done >alone
  diff <(jq -c '{ids, distances}' one) alone
  vdb-query -x "$1" -t 2 -k 5 --nprobe 3 q.fvecs >two
  diff one two
}

@test "8-bit l2 tables made on a list's first probe: fresh queries, later ones and 2 threads all answer as a reference over the probed lists" {
  random_fvecs base.fvecs 1200 16 31
  random_fvecs q.fvecs 40 16 32
  vdb-build -q -T ivfpq -m l2 --nlist 12 --pq-m 4 -t 1 -o x.vdb base.fvecs
  [ "$(vdb-query -x x.vdb --info | jq -c .list_tables)" = '{"bytes":49152,"made":"on first probe"}' ]
  vdb-query -x x.vdb --dump | jq -r '.vector | map(tostring) | join(" ")' |
    perl -ne 'my @v = split; print pack("l<", scalar @v), pack("f<*", @v)' >rec.fvecs
  probed_ref x.vdb rec.fvecs q.fvecs 5 3 >ref
  # the first half of the batch probes every list: the second half reads
  # tables made by earlier queries, the first half makes them
  [ "$(tail -2 ref | head -1)" = 12 ]
  head -n -2 ref >want
  # one process: the first queries make the tables, the later ones reuse them
  vdb-query -x x.vdb -t 1 -k 5 --nprobe 3 q.fvecs >one
  ids_of one >got
  diff want got
  made_anyhow x.vdb
}

@test "4-bit: codes packed and l2 tables made on a list's first probe: fresh queries, later ones and 2 threads all answer as a reference over the probed lists" {
  random_fvecs base.fvecs 1200 16 41
  random_fvecs q.fvecs 40 16 42
  # --refine 60 re-ranks 300 rows, every row of the 3 probed lists (~100 a list):
  # the answer is exact over them
  vdb-build -q -T ivfpq -m l2 --nlist 12 --pq-m 4 --pq-bits 4 --refine 60 -t 1 -o x.vdb base.fvecs
  [ "$(vdb-query -x x.vdb --info | jq -c .list_tables)" = '{"bytes":3072,"made":"on first probe"}' ]
  probed_ref x.vdb base.fvecs q.fvecs 5 3 >ref
  [ "$(tail -2 ref | head -1)" = 12 ]
  head -n -2 ref >want
  vdb-query -x x.vdb -t 1 -k 5 --nprobe 3 q.fvecs >one
  ids_of one >got
  diff want got
  # codes only (the packed codes and quantized tables decide)
  vdb-build -q -T ivfpq -m l2 --nlist 12 --pq-m 4 --pq-bits 4 -t 1 -o c.vdb base.fvecs
  made_anyhow c.vdb
}

@test "filtered ivfpq (8- and 4-bit): the scan counts its lists' kept rows; the queries searched again wider are those a reference counts" {
  random_fvecs base.fvecs 1200 16 51
  random_fvecs q.fvecs 40 16 52
  perl -e 'open(my $h, "<:raw", $ARGV[0]) or die; local $/; my $b = <$h>; my $i = 0;
    while (length $b) { my $d = unpack("l<", $b); my @v = unpack("f<$d", substr($b, 4));
      $b = substr($b, 4 + 4 * $d);
      printf "{\"id\": \"r%d\", \"vector\": [%s], \"metadata\": {\"m\": %d}}\n",
        $i, join(",", @v), $i % 20; $i++ }' base.fvecs >m.jsonl
  for bits in 8 4; do
    vdb-build -q -T ivfpq --nlist 12 --pq-m 4 --pq-bits $bits --refine 4 -t 1 -o x.vdb m.jsonl
    for np in 1 2; do
      want=$(probed_ref x.vdb base.fvecs q.fvecs 5 $np | tail -1)
      vdb-query -x x.vdb -t 1 -k 5 --nprobe $np --filter-path index --filter 'm < 10' -v \
        q.fvecs 2>err >/dev/null
      n=$(sed -nE 's/^vdb-query: ([0-9]+) queries searched again wider$/\1/p' err)
      echo "$bits bits, nprobe $np: ${n:-0} searched again, reference $want"
      [ "${n:-0}" = "$want" ]
    done
  done
}
