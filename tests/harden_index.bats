#!/usr/bin/env bats
# Crafted index files with valid checksums (reseal, helpers.bash): what
# opening and --verify accept must be safe to search and to change, and
# nothing vdb writes may be a file its own --verify refuses.
#  - a hostile hnsw graph (link counts beyond M0, ids beyond the count, link
#    words of 0xff or NaN) is refused by --append and --upsert (65, the
#    file untouched), where they wrote past a buffer; search stays in bounds;
#  - --delete of a file whose metadata offsets run past the mapping is 65;
#  - an ivf row beyond the count is refused at open, not printed as an id;
#    --verify checks stored values (NaN, infinite) in every type; --compact
#    (and every other rewrite) of a file --verify refuses is 65.
load helpers

setup() {
  T=$(mktemp -d "${BATS_TMPDIR:-/tmp}/vdb-test.XXXXXX")
  cd "$T" || return 1
  command -v xxhsum >/dev/null || skip "xxhsum is not installed (Debian package xxhash)"
  head -c $((300 * 516)) "$D/sift2k_base.fvecs" >base.fvecs # 300 x 128
  head -c $((5 * 516)) "$D/sift_query20.fvecs" >q.fvecs
}

# hnsw_links FILE MODE: rewrite the layer-0 links of every node of an f32
# hnsw index of dim 128 and M 4 (a record: 512 bytes of vector, u32 count,
# M0 = 8 ids): counts of 3000 or 2^32 - 1, full lists of ids beyond the
# count, or the count and list as 0xff bytes or NaN floats
hnsw_links() {
  local off len count
  read -r off len < <(section_at "$1" HNL0)
  count=$(vdb-query -x "$1" --info | jq .count)
  perl -e 'my ($f, $mode, $off, $stride, $n) = @ARGV; open(my $h, "+<:raw", $f) or die;
    for my $i (0 .. $n - 1) { seek($h, $off + $i * $stride + 512, 0);
      if ($mode eq "count3000") { print $h pack("V", 3000) }
      elsif ($mode eq "countmax") { print $h pack("V", 0xffffffff) }
      elsif ($mode eq "ids") { print $h pack("V*", 8, map { 0x40000000 + 8 * $i + $_ } 0 .. 7) }
      elsif ($mode eq "ff") { print $h "\xff" x 36 }
      elsif ($mode eq "nan") { print $h pack("V*", (0x7fc00000) x 9) } }' \
    "$1" "$2" "$off" $((len / count)) "$count"
}

# upsert input: two records whose ids name rows 3 and 7 of an index without ids
upsert_input() {
  perl -e 'open(my $h, "<:raw", $ARGV[0]) or die; local $/; my $b = <$h>;
    for my $i (0, 1) { my @v = unpack("f<128", substr($b, $i * 516 + 4, 512));
      printf "{\"id\": %d, \"vector\": [%s]}\n", 3 + 4 * $i, join(",", @v) }' q.fvecs
}

# refused FILE CMD...: CMD exits 65 naming FILE, and FILE is unchanged
refused() {
  local f=$1; shift
  cp "$f" before.vdb
  run "$@"
  echo "$output"
  assert_failure 65
  assert_output --partial "$f"
  cmp "$f" before.vdb
}

@test "hnsw: --append and --upsert to a hostile graph (valid checksums) exit 65, the index untouched; search stays in bounds" {
  # float32 rows: hnsw_links writes past a 512-byte row
  vdb-build -q -T hnsw --M 4 --ef-construction 1 --storage f32 -o clean.vdb base.fvecs
  upsert_input >up.jsonl
  for mode in count3000 countmax ids ff nan; do
    cp clean.vdb h.vdb
    hnsw_links h.vdb "$mode"
    reseal h.vdb
    refused h.vdb vdb-build --append -x h.vdb q.fvecs
    assert_output --partial "HNSW node 0"
    refused h.vdb vdb-build --upsert -x h.vdb up.jsonl
    assert_output --partial "HNSW node 0"
    # opening checks sizes only; the search clamps counts and skips ids
    # beyond the count: every id it returns is a row of the index
    run -0 vdb-query -x h.vdb -k 5 --ef 32 q.fvecs
    [ "${#lines[@]}" -eq 5 ]
    run -0 jq -s '[.[].ids[] | select(. < 0 or . >= 300)] | length' <<<"$output"
    [ "$output" = 0 ]
    run vdb-query -x h.vdb --verify
    assert_failure 65
  done
}

@test "hnsw: upper layers of 0xff (valid checksums): --append and --compact 65, a filtered search stays in bounds" {
  vdb-build -q -T hnsw --M 4 -o h.vdb base.fvecs
  echo 10 | vdb-build -q --delete -x h.vdb # deleted rows: the filtered walk
  read -r off len < <(section_at h.vdb HNUL)
  fill h.vdb "$off" V $((len / 4)) 0xffffffff
  reseal h.vdb
  refused h.vdb vdb-build --append -x h.vdb q.fvecs
  assert_output --partial "links"
  refused h.vdb vdb-build --compact -x h.vdb
  run -0 vdb-query -x h.vdb -k 5 --ef 32 q.fvecs
  run -0 jq -s '[.[].ids[] | select(. < 0 or . >= 300 or . == 10)] | length' <<<"$output"
  [ "$output" = 0 ]
}

@test "--delete of a file whose last metadata offset is 2^40: 65 (metadata offsets broken), untouched" {
  head -100 "$D/words1k.jsonl" >w.jsonl
  [ "$(head -1 w.jsonl | jq -c '.metadata | type')" = '"object"' ]
  vdb-build -q -o w.vdb w.jsonl
  read -r off len < <(section_at w.vdb MDOF)
  poke w.vdb $((off + len - 8)) Q '1099511627776'
  reseal w.vdb
  first=$(head -1 w.jsonl | jq -r .id)
  refused w.vdb vdb-build --delete -x w.vdb <(echo "$first")
  assert_output --partial "metadata offsets broken"
  # a decreasing offset in the middle too (an id's, this time)
  vdb-build -q -o w.vdb w.jsonl
  read -r off len < <(section_at w.vdb IDOF)
  poke w.vdb $((off + 50 * 8)) Q 0
  reseal w.vdb
  refused w.vdb vdb-build --delete -x w.vdb <(echo "$first")
  assert_output --partial "id offsets broken"
}

@test "ivf and ivfpq: an IVRW row beyond the count is refused at open (65), never printed as an id" {
  for t in "ivf --nlist 4" "ivfpq --nlist 4 --pq-m 8"; do
    vdb-build -q -T $t -o i.vdb base.fvecs
    read -r off len < <(section_at i.vdb IVRW)
    fill i.vdb "$off" V 300 4294967280
    reseal i.vdb
    run vdb-query -x i.vdb -k 3 --nprobe 4 q.fvecs
    echo "$output"
    assert_failure 65
    assert_output --partial "i.vdb: IVRW position 0 holds row 4294967280"
    refute_output --partial '"ids"'
  done
}

# nan_at FILE KIND [INDEX]: write a quiet NaN (or with INF set, +infinity)
# into float INDEX (default 0) of the section KIND, and reseal
nan_at() {
  local off len
  read -r off len < <(section_at "$1" "$2")
  [ -n "$off" ]
  fill "$1" $((off + 4 * ${3:-0})) V 1 "${INF:-0x7fc00000}"
  reseal "$1"
}

# bad_value OPTIONS KIND INDEX BITS MESSAGE: build base.fvecs with OPTIONS, write
# the float BITS at float INDEX of section KIND and reseal; --verify exits 65
# with MESSAGE
bad_value() {
  vdb-build -q $1 -o x.vdb base.fvecs
  INF=$4 nan_at x.vdb "$2" "$3"
  run -65 vdb-query -x x.vdb --verify
  assert_output --partial "$5"
}

@test "--verify checks values: NaN or infinity in the stored vectors of every type is 65, naming the section" {
  nan=0x7fc00000 inf=0x7f800000
  bad_value "" VECS 700 $nan "x.vdb: VECS: row 5, dimension 60 is NaN or infinite"
  bad_value "-m ip" NRM2 3 $nan "NRM2: row 3"
  bad_value "--storage fp16" CODE 64 0x7c007c00 "CODE: row 1, dimension 0"
  bad_value "-T hnsw --M 4 --storage f32" HNL0 0 $inf "HNL0: row 0, dimension 0"
  bad_value "-T hnsw --M 4" VECS 128 $nan "VECS: row 1"
  bad_value "-T hnsw --M 4 --storage sq8 --refine 2" VECS 128 $nan "VECS: row 1"
  bad_value "-T ivf --nlist 4" IVVE 130 $nan "IVVE: row 1, dimension 2"
  bad_value "-T lsh" VECS 300 $inf "VECS: row 2"
}

@test "NaN or infinity in centroids, codebooks or hyperplanes: refused at open (65), not searched as distance 0" {
  vdb-build -q -T ivf --nlist 4 -o x.vdb base.fvecs
  nan_at x.vdb IVCE 200
  run -65 vdb-query -x x.vdb -k 3 q.fvecs
  assert_output --partial "x.vdb: IVCE: row 1"
  vdb-build -q -T ivfpq --nlist 4 --pq-m 8 -o x.vdb base.fvecs
  cp x.vdb clean.vdb
  nan_at x.vdb PQCB 0
  run -65 vdb-query -x x.vdb -k 3 --nprobe 4 q.fvecs
  assert_output --partial "PQCB: row 0"
  refute_output --partial '"distances": [0'
  cp clean.vdb x.vdb
  INF=0xff800000 nan_at x.vdb PQCB 5000
  run -65 vdb-query -x x.vdb --verify
  vdb-build -q -T lsh -o x.vdb base.fvecs
  nan_at x.vdb LSPL 1000
  run -65 vdb-query -x x.vdb -k 3 q.fvecs
  assert_output --partial "LSPL"
  vdb-build -q -T lsh -o x.vdb base.fvecs
  INF=0x7f800000 nan_at x.vdb LSCE 1
  run -65 vdb-query -x x.vdb --verify
  assert_output --partial "LSCE"
}

# dup_row FILE KIND: make entry 1 of section KIND repeat entry 0 (a row
# listed twice, another never), and reseal
dup_row() {
  local off len first
  read -r off len < <(section_at "$1" "$2")
  first=$(perl -e 'open(my $h, "<:raw", $ARGV[0]) or die; seek($h, $ARGV[1], 0);
                   read($h, my $b, 4); print unpack("V", $b)' "$1" "$off")
  poke "$1" $((off + 4)) V "$first"
  reseal "$1"
}

@test "ivf, ivfpq and lsh with a row listed twice: --compact, --delete and --append exit 65, untouched" {
  for t in "ivf --nlist 4" "ivfpq --nlist 4 --pq-m 8" "lsh --lsh-tables 2 --lsh-bits 4"; do
    vdb-build -q -T $t -o x.vdb base.fvecs
    printf '%s\n' 7 8 9 | vdb-build -q --delete -x x.vdb
    case $t in lsh*) dup_row x.vdb LSRW ;; *) dup_row x.vdb IVRW ;; esac
    refused x.vdb vdb-build --compact -x x.vdb
    assert_output --partial "not a permutation"
    refused x.vdb vdb-build --delete -x x.vdb <(echo 20)
    refused x.vdb vdb-build --append -x x.vdb q.fvecs
  done
}

@test "values near the length limit: every type builds a file that passes its own --verify" {
  # up to 2.2e18 in 16 dimensions: squared lengths under VDB_MAX_SQNORM (8.5e37)
  perl -e 'srand(3); for (1 .. 400) { print pack("l<", 16), pack("f<*", map { (rand(2) - 1) * 2.2e18 } 1 .. 16) }' >big.fvecs
  for t in flat hnsw "ivf --nlist 4" "ivfpq --nlist 4 --pq-m 4" lsh; do
    vdb-build -q -T $t -o big.vdb big.fvecs
    run -0 vdb-query -x big.vdb --verify
    run -0 vdb-query -x big.vdb -k 5 big.fvecs
    refute_output --partial "inf"
  done
}

@test "--get of a record whose stored vector is NaN: 65 naming the index, no 'nan' printed" {
  vdb-build -q -o x.vdb base.fvecs
  nan_at x.vdb VECS 700   # row 5 of 128 dimensions
  run -65 vdb-query -x x.vdb --get 5
  assert_output --partial "x.vdb: stored vector"
  refute_output --partial "nan"
  run -0 vdb-query -x x.vdb --get 4
  echo "$output" | jq -e '.vector | length == 128'
}

@test "vectors whose distances would overflow float32 are refused (65, naming the record); up to the limit every distance is finite JSON" {
  printf '{"vector": [1, 2]}\n{"vector": [3e38, 3e38]}\n' > big.jsonl
  run -65 vdb-build -q -m ip -o big.vdb big.jsonl
  assert_output --partial "big.jsonl: line 2 (record 1): the vector's squared length"
  assert_output --partial "VDB_MAX_SQNORM"
  [ ! -e big.vdb ]
  perl -e 'print pack("l<f<f<", 2, 7e18, 7e18)' > big.fvecs    # 9.8e37: just over
  run -65 vdb-build -q -o big.vdb big.fvecs
  assert_output --partial "big.fvecs: record 0: the vector's squared length"
  # 2 x 6.5e18^2 = 8.45e37, just under: opposite vectors, the largest distances there are
  printf '{"vector": [6.5e18, 6.5e18]}\n{"vector": [-6.5e18, -6.5e18]}\n' > ok.jsonl
  for m in ip l2 cosine; do
    for t in flat hnsw; do
      vdb-build -q -T $t -m $m -o ok.vdb ok.jsonl
      run -0 vdb-query -x ok.vdb -k 2 ok.jsonl
      refute_output --partial "inf"
      refute_output --partial "nan"
      run -0 jq -s -e 'map(.distances | length == 2 and all(isinfinite | not)) | all' <<<"$output"
    done
  done
}

@test "a crafted file whose finite values overflow a distance prints the largest float, never inf" {
  vdb-build -q -m ip -o x.vdb base.fvecs
  INF=0x7e967699 nan_at x.vdb VECS 0   # row 0, dimension 0: 1e38, finite
  run -0 vdb-query -x x.vdb --verify
  run -0 vdb-query -x x.vdb -k 3 q.fvecs
  refute_output --partial "inf"
  local res=$output
  run -0 jq -s -e 'map(.distances | all(isinfinite | not)) | all' <<<"$res"
  run -0 jq -s -e '[.[].distances[0]] | min == -3.4028235e38' <<<"$res"
}

@test "hnsw: an upper-layer link to a node without that layer (found by fuzz_index): --verify and --compact 65, untouched" {
  # the fuzzer's input: a crafted file with valid checksums (tests/fuzz/corpus/index)
  cp "$VDB_SRCDIR/tests/fuzz/corpus/index/regress-26-offer-level.vdb" x.vdb
  cp x.vdb before.vdb
  run -65 vdb-query -x x.vdb --verify
  assert_output --partial "is not on"
  run -65 vdb-build --compact -x x.vdb -o x.vdb
  assert_output --partial "is not on"
  cmp x.vdb before.vdb
}
