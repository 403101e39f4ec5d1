#!/usr/bin/env bats
# Deletes, upserts and compaction (vdb-build --delete, --upsert, --compact).
# The reference for a search after deletions is computed apart from the
# tombstone code: a flat index built from just the live records (with their
# original numbers as ids) gives the exact neighbours among them.
load helpers

# pick N OF SEED: N distinct row numbers in 0..OF-1, one per line, random
pick() {
  perl -e 'my ($n, $of, $s) = @ARGV; srand($s); my @r = (0 .. $of - 1);
    for my $i (0 .. $n - 1) { my $j = $i + int(rand($of - $i)); @r[$i, $j] = @r[$j, $i]; }
    print "$_\n" for @r[0 .. $n - 1];' "$@"
}

# live_jsonl IN.fvecs DELETED OUT.jsonl: the rows not listed in DELETED,
# as JSONL records whose id is the row number
live_jsonl() {
  perl -e 'open(my $h, "<:raw", $ARGV[0]) or die; local $/; my $b = <$h>;
    open(my $g, "<", $ARGV[1]) or die; my %del; { local $/ = "\n"; while (<$g>) { chomp; $del{$_} = 1; } }
    my $i = 0;
    while (length $b) { my $d = unpack("l<", $b); my @v = unpack("f<$d", substr($b, 4));
      $b = substr($b, 4 + 4 * $d);
      printf "{\"id\": %d, \"vector\": [%s]}\n", $i, join(",", map { sprintf "%.9g", $_ } @v) unless $del{$i};
      $i++ }' "$1" "$2" >"$3"
}

# overlap GOT WANT K: mean share of WANT's first K ids per line found in GOT's
overlap() {
  paste -d'|' "$1" "$2" | awk -F'|' -v k="$3" '{ n = split($1, g, " "); m = split($2, w, " ");
    delete s; for (i = 1; i <= n && i <= k; i++) s[g[i]] = 1;
    for (i = 1; i <= m && i <= k; i++) if (w[i] in s) hit++; tot += (m < k ? m : k) }
    END { printf "%.4f\n", tot ? hit / tot : 0 }'
}

# no_deleted RESULTS.jsonl DELETED: no result names a deleted row
no_deleted() {
  ! jq -r '.ids[]' "$1" | grep -qxFf "$2"
}

# every_k RESULTS.jsonl K: every query has K results
every_k() {
  [ "$(jq -c "select(.ids | length != $2)" "$1" | wc -l)" -eq 0 ]
}

@test "flat: after deleting 30%, results are the exact search over the live records" {
  pick 600 2000 1 >del.txt
  vdb-build -q -o ix.vdb "$D/sift2k_base.fvecs"
  run vdb-build --delete -x ix.vdb del.txt
  assert_success
  assert_output --partial "600 records deleted (1400 live of 2000)"
  vdb-query -x ix.vdb --info >info.json
  [ "$(jq -r '.format' info.json)" = 2.0 ]
  [ "$(jq -c '[.count, .live, .deleted, .deleted_fraction]' info.json)" = "[2000,1400,600,0.3]" ]
  jq -e '.sections | map(.kind) | index("TOMB")' info.json
  vdb-query -x ix.vdb --verify
  live_jsonl "$D/sift2k_base.fvecs" del.txt live.jsonl
  vdb-build -q -o live.vdb live.jsonl
  for k in 1 10 100; do
    vdb-query -x ix.vdb -k $k "$D/sift_query20.fvecs" >got.jsonl
    vdb-query -x live.vdb -k $k "$D/sift_query20.fvecs" >want.jsonl
    no_deleted got.jsonl del.txt
    every_k got.jsonl $k
    diff <(jq -c '[.ids, .distances]' got.jsonl) <(jq -c '[.ids, .distances]' want.jsonl)
  done
}

@test "ivf, ivfpq, lsh: no deleted record is returned, k results, and compaction keeps the answers" {
  pick 700 2000 2 >del.txt
  live_jsonl "$D/sift2k_base.fvecs" del.txt live.jsonl
  vdb-build -q -o live.vdb live.jsonl
  vdb-query -x live.vdb -k 10 "$D/sift_query20.fvecs" | ids_of >want
  for t in ivf ivfpq lsh; do
    # lsh: 8-bit keys, so --probes 256 is every bucket: exact, compacted or
    # not (1,300 live rows take the exact path of filtered.c)
    vdb-build -q -T $t --nlist 16 -o $t.vdb "$D/sift2k_base.fvecs" 2>/dev/null ||
      vdb-build -q -T $t --lsh-bits 8 -o $t.vdb "$D/sift2k_base.fvecs"
    vdb-build -q --delete -x $t.vdb del.txt
    opts=(--nprobe 16)
    [ $t = lsh ] && opts=(--probes 256)
    vdb-query -x $t.vdb -k 10 "${opts[@]}" "$D/sift_query20.fvecs" >got.jsonl
    no_deleted got.jsonl del.txt
    every_k got.jsonl 10
    ids_of got.jsonl >got
    echo "$t: recall against the live records $(overlap got want 10)"
    [ $t = ivf ] && cmp got want  # every list probed: exact
    ge "$(overlap got want 10)" 0.7  # ivfpq: 0.80 measured (the codes, not the deletions)
    before=$(stat -c %s $t.vdb)
    vdb-build -q --compact -x $t.vdb
    # smaller, though the row numbers become ids (ivfpq's 16-byte codes
    # about pay for them: there the codes section must shrink)
    if [ $t = ivfpq ]; then
      [ "$(vdb-query -x $t.vdb --info | jq '.sections[] | select(.kind == "PQCO") | .length')" -eq $((1300 * 16)) ]
    else
      [ "$(stat -c %s $t.vdb)" -lt "$before" ]
    fi
    vdb-query -x $t.vdb --verify
    [ "$(vdb-query -x $t.vdb --info | jq -c '[.format, .count, .live, .deleted]')" = '["1.0",1300,1300,0]' ]
    vdb-query -x $t.vdb -k 10 "${opts[@]}" "$D/sift_query20.fvecs" | ids_of >compacted
    cmp got compacted  # the same records, under their old ids
  done
}

@test "hnsw on siftsmall: 30% deleted, no deleted id, k results, recall@10 >= 0.95 at ef 64" {
  need_shared
  B=$S/siftsmall/siftsmall_base.fvecs Q=$S/siftsmall/siftsmall_query.fvecs
  pick 3000 10000 3 >del.txt
  vdb-build -q -T hnsw -o ix.vdb "$B"
  vdb-build -q --delete -x ix.vdb del.txt
  live_jsonl "$B" del.txt live.jsonl
  vdb-build -q -o live.vdb live.jsonl
  vdb-query -x live.vdb -k 10 "$Q" | ids_of >want
  for ef in 16 64; do
    vdb-query -x ix.vdb -k 10 --ef $ef "$Q" >got.jsonl
    no_deleted got.jsonl del.txt
    every_k got.jsonl 10
    r=$(overlap <(ids_of got.jsonl) want 10)
    echo "ef $ef: recall@10 over the live records $r"
  done
  ge "$r" 0.95
  # k beyond the live count of a small index still gives every live record
  vdb-build -q -T hnsw -o small.vdb "$D/sift2k_base.fvecs"
  pick 1990 2000 4 | vdb-build -q --delete -x small.vdb
  vdb-query -x small.vdb -k 20 "$D/sift_query20.fvecs" >got.jsonl
  every_k got.jsonl 10
}

@test "ids: JSONL records, JSON strings and plain lines all name records; escapes are decoded" {
  printf '{"id": "a\\"b", "vector": [1, 0]}\n{"id": "caf\\u00e9", "vector": [0, 1]}\n{"id": 7, "vector": [1, 1]}\n{"id": "x y", "vector": [2, 2]}\n{"id": "keep", "vector": [3, 3]}\n' >r.jsonl
  vdb-build -q -o ix.vdb r.jsonl
  printf '"a\\"b"\n  café  \n\n{"id": 7, "vector": [9, 9]}\nx y\r\n' >ids.txt
  run vdb-build --delete -x ix.vdb ids.txt
  assert_success
  assert_output --partial "4 records deleted (1 live of 5)"
  echo '{"vector": [1, 1]}' | vdb-query -x ix.vdb -k 5 >got.jsonl
  [ "$(jq -c .ids got.jsonl)" = '["keep"]' ]
  run vdb-query -x ix.vdb --get 7
  assert_failure 1
  assert_output --partial "no record with id '7'"
  run vdb-query -x ix.vdb --get keep
  assert_success
  [ "$(echo "$output" | jq -r .id)" = keep ]
}

@test "deleting ids that name no live record: a warning, status 0, the file untouched" {
  vdb-build -q -o ix.vdb "$D/sift2k_base.fvecs"
  printf '5\n6\n' | vdb-build -q --delete -x ix.vdb
  cp ix.vdb before.vdb
  run vdb-build --delete -x ix.vdb <(printf '5\n6\n99999\nnot-an-id\n')
  assert_success
  assert_output --partial "4 of the 4 ids name no live record"
  assert_output --partial "unchanged"
  cmp ix.vdb before.vdb
  run vdb-build --delete -x ix.vdb <(printf '5\n7\n')
  assert_success
  assert_output --partial "1 of the 2 ids name no live record"
  assert_output --partial "1 records deleted (1997 live of 2000)"
  # an empty list is a quiet night
  run vdb-build --delete -x ix.vdb /dev/null
  assert_success
  assert_output --partial "no ids in the input"
}

@test "bad id lists and misused options have their documented statuses" {
  vdb-build -q -o ix.vdb "$D/sift2k_base.fvecs"
  cp ix.vdb before.vdb
  run vdb-build --delete -x ix.vdb <(printf '1\n{"id": [1]}\n')
  assert_failure 65
  assert_output --partial "line 2"
  run vdb-build --delete -x ix.vdb <(printf '1\n{"id": 2\n')
  assert_failure 65
  assert_output --partial "line 2"
  run vdb-build --delete -x ix.vdb no-such-file
  assert_failure 66
  assert_output --partial "no-such-file"
  run vdb-build --delete --append -x ix.vdb /dev/null
  assert_failure 64
  run vdb-build --compact -x ix.vdb "$D/sift_query20.fvecs"
  assert_failure 64
  assert_output --partial "--compact reads no input"
  run vdb-build --delete
  assert_failure 64
  run vdb-build --delete -x no-such.vdb /dev/null
  assert_failure 66
  run vdb-build --upsert -x ix.vdb "$D/sift_query20.fvecs"
  assert_failure 65
  assert_output --partial "by id"
  run vdb-build -x ix.vdb -o out.vdb "$D/sift_query20.fvecs"
  assert_failure 64
  cmp ix.vdb before.vdb
  [ ! -e out.vdb ]
}

@test "upsert: replaced records answer with their new vectors and metadata, new ones are added" {
  # 20 records of words1k get the vectors of 20 others, and new metadata;
  # two new records arrive, one of them twice (the last one wins)
  jq -c '{id, vector, metadata: {v: 1}}' "$D/words1k.jsonl" >base.jsonl
  vdb-build -q -T hnsw -m cosine -o ix.vdb base.jsonl
  jq -sc '. as $a | range(0; 20) | {id: $a[.].id, vector: $a[. + 500].vector, metadata: {v: 2}}' \
    base.jsonl >changed.jsonl
  jq -sc '{id: "new-1", vector: .[900].vector, metadata: {v: 3}}' base.jsonl >>changed.jsonl
  jq -sc '{id: "new-2", vector: .[901].vector, metadata: {v: 3}}' base.jsonl >>changed.jsonl
  jq -sc '{id: "new-2", vector: .[902].vector, metadata: {v: 4}}' base.jsonl >>changed.jsonl
  run vdb-build --upsert -x ix.vdb changed.jsonl
  assert_success
  assert_output --partial "23 vectors upserted (20 replaced) (1002 live of 1023)"
  [ "$(vdb-query -x ix.vdb --info | jq -c '[.count, .live, .deleted]')" = '[1023,1002,21]' ]
  # a changed record's new vector finds it first, at distance 0 (it shares
  # that vector with record 500 + i, so both come first)
  jq -c '{vector}' changed.jsonl | head -20 >q.jsonl
  vdb-query -x ix.vdb -k 2 --ef 64 q.jsonl >got.jsonl
  jq -sc '.[:20] | map(.id)' changed.jsonl >ids
  jq -sc 'map(.ids)' got.jsonl >got
  jq -n --slurpfile i ids --slurpfile g got '[range(0; 20) | $i[0][.] as $id | $g[0][.] | index($id) != null] | all' | grep -qx true
  # the old vectors do not answer for them any more
  jq -sc '.[:20][] | {vector}' base.jsonl >oldq.jsonl
  vdb-query -x ix.vdb -k 1 --ef 64 oldq.jsonl | jq -r '.ids[0]' >first
  jq -r .id changed.jsonl | head -20 >changed_ids
  [ "$(wc -l <changed_ids)" -eq 20 ]
  [ "$(grep -c . first)" -eq 20 ]
  run -1 grep -qxFf changed_ids first
  # metadata follows the record: the filter on the old value misses it
  [ "$(vdb-query -x ix.vdb --get new-2 | jq -c .metadata)" = '{"v":4}' ]
  [ "$(vdb-query -x ix.vdb --get "$(head -1 ids | jq -r '.[0]')" | jq -c .metadata)" = '{"v":2}' ]
  vdb-query -x ix.vdb -k 50 --filter 'v == 2' q.jsonl | jq -r '.ids[]' | sort -u >v2
  [ "$(wc -l <v2)" -eq 20 ]
  vdb-query -x ix.vdb -k 1000 --filter 'v == 1' q.jsonl | jq -r '.ids[]' | sort -u >v1
  jq -r '.[]' ids >new_ids
  [ "$(wc -l <new_ids)" -eq 20 ]
  [ -s v1 ]
  run -1 grep -qxFf new_ids v1
}

@test "appending keeps deletions; new records without ids never take a compacted id" {
  head -c $((100 * 516)) "$D/sift2k_base.fvecs" >a.fvecs
  tail -c $((1 * 516)) "$D/sift2k_base.fvecs" >b.fvecs
  vdb-build -q -o ix.vdb a.fvecs
  printf '99\n3\n' | vdb-build -q --delete -x ix.vdb
  vdb-build -q --append -x ix.vdb b.fvecs
  [ "$(vdb-query -x ix.vdb --info | jq -c '[.count, .live]')" = '[101,99]' ]
  vdb-build -q --compact -x ix.vdb
  [ "$(vdb-query -x ix.vdb --info | jq -c '[.count, .live, .ids]')" = '[99,99,true]' ]
  vdb-build -q --append -x ix.vdb b.fvecs
  # the compacted index holds ids 0..98 less 3, and 100: the new row gets 101
  vdb-query -x ix.vdb -k 2 b.fvecs | jq -c .ids >got
  [ "$(cat got)" = '[100,101]' ] || [ "$(cat got)" = '[101,100]' ]
}

@test "--filter on an index with deletions: the exact filtered search over the live records" {
  perl -e 'open(my $h, "<:raw", $ARGV[0]) or die; local $/; my $b = <$h>; my $i = 0;
    while (length $b) { my $d = unpack("l<", $b); my @v = unpack("f<$d", substr($b, 4));
      $b = substr($b, 4 + 4 * $d);
      printf "{\"id\": %d, \"vector\": [%s], \"metadata\": {\"c\": %d}}\n", $i, join(",", @v), $i % 3; $i++ }' \
    "$D/sift2k_base.fvecs" >m.jsonl
  pick 500 2000 5 >del.txt
  vdb-build -q -o ix.vdb m.jsonl
  vdb-build -q --delete -x ix.vdb del.txt
  jq -c --slurpfile d <(jq -s . del.txt) 'select(.metadata.c == 1 and (.id as $i | $d[0] | index($i) | not))' m.jsonl >sub.jsonl
  vdb-build -q -o sub.vdb sub.jsonl
  vdb-query -x ix.vdb -k 10 --filter 'c == 1' "$D/sift_query20.fvecs" | jq -c .ids >got
  vdb-query -x sub.vdb -k 10 "$D/sift_query20.fvecs" | jq -c .ids >want
  cmp got want
}

@test "a file with deletions is format 2.0 (major 2: 1.x readers refuse it); compaction gives 1.0 back" {
  vdb-build -q -T hnsw -o ix.vdb "$D/sift2k_base.fvecs"
  [ "$(od -An -tu1 -j6 -N2 ix.vdb | tr -s ' ')" = " 1 0" ]
  echo 12 | vdb-build -q --delete -x ix.vdb
  [ "$(od -An -tu1 -j6 -N2 ix.vdb | tr -s ' ')" = " 2 0" ]
  vdb-build -q --compact -x ix.vdb
  [ "$(od -An -tu1 -j6 -N2 ix.vdb | tr -s ' ')" = " 1 0" ]
}

@test "a header whose live count disagrees with its tombstones is refused, even with a valid checksum" {
  command -v xxhsum >/dev/null || skip "xxhsum is not installed (Debian package xxhash)"
  vdb-build -q -T hnsw -o ix.vdb "$D/sift2k_base.fvecs"
  echo 13 | vdb-build -q --delete -x ix.vdb
  [ "$(vdb-query -x ix.vdb --info | jq .deleted)" = 1 ]
  for live in 2000 1998; do
    cp ix.vdb bad.vdb
    perl -e 'open(my $f, "+<:raw", $ARGV[0]) or die; seek($f, 40, 0); print $f pack("Q<", $ARGV[1]);' bad.vdb $live
    sum=$(head -c 4088 bad.vdb | xxhsum -H3 - | awk '{print $NF}')
    perl -e 'open(my $f, "+<:raw", $ARGV[0]) or die; seek($f, 4088, 0); print $f pack("Q<", hex($ARGV[1]));' bad.vdb "$sum"
    run vdb-query -x bad.vdb -k 1 "$D/sift_query20.fvecs"
    assert_failure 65
    assert_output --partial "bad.vdb"
    assert_output --partial "deleted rows"
  done
}

@test "--compact-hint: a warning once the deleted share passes it; --compact with none deleted is a no-op" {
  vdb-build -q -o ix.vdb "$D/sift2k_base.fvecs"
  cp ix.vdb before.vdb
  run vdb-build --compact -x ix.vdb
  assert_success
  assert_output --partial "no deleted records"
  cmp ix.vdb before.vdb
  run vdb-build --delete -x ix.vdb <(pick 300 2000 6)
  assert_success
  refute_output --partial "--compact"
  run vdb-build --delete -x ix.vdb <(pick 300 2000 7)
  assert_success
  assert_output --partial "are deleted: \`vdb-build --compact -x ix.vdb\` would remove them"
  run vdb-build --compact-hint 0.5 --delete -x ix.vdb <(pick 100 2000 8)
  assert_success
  refute_output --partial "would remove them"
  run vdb-build -q --delete -x ix.vdb <(pick 100 2000 9)
  assert_success
  assert_output ""
  run vdb-build --compact-hint 2 --delete -x ix.vdb <(echo 1)
  assert_failure 64
}

@test "compacting an index whose every record is deleted: status 65, the file untouched" {
  head -c $((10 * 516)) "$D/sift2k_base.fvecs" >a.fvecs
  vdb-build -q -o ix.vdb a.fvecs
  seq 0 9 | vdb-build -q --delete -x ix.vdb
  cp ix.vdb before.vdb
  vdb-query -x ix.vdb -k 3 a.fvecs | jq -c .ids | sort -u >got
  [ "$(cat got)" = "[]" ]
  run vdb-build --compact -x ix.vdb
  assert_failure 65
  assert_output --partial "every record"
  cmp ix.vdb before.vdb
}

@test "a query started before an upsert and a delete answers from the index it opened" {
  jq -c '{id, vector}' "$D/words1k.jsonl" >w.jsonl
  vdb-build -q -m cosine -o ix.vdb w.jsonl
  head -20 w.jsonl | jq -c '{vector}' >q.jsonl
  vdb-query -x ix.vdb -k 5 q.jsonl >old.jsonl
  rm -f q.fifo && mkfifo q.fifo
  vdb-query -x ix.vdb -k 5 q.fifo >during.jsonl &
  reader=$!
  exec 9>q.fifo
  for _ in $(seq 100); do grep -q "/ix.vdb$" /proc/$reader/maps 2>/dev/null && break; sleep 0.05; done
  grep -q "/ix.vdb$" /proc/$reader/maps
  # the first 10 records replaced by others' vectors, the next 10 deleted
  jq -sc '. as $a | range(0; 10) | {id: $a[.].id, vector: $a[. + 500].vector}' w.jsonl >u.jsonl
  vdb-build -q --upsert -x ix.vdb u.jsonl
  sed -n '11,20p' w.jsonl | vdb-build -q --delete -x ix.vdb
  vdb-query -x ix.vdb -k 5 q.jsonl >new.jsonl
  run -1 cmp -s old.jsonl new.jsonl
  cat q.jsonl >&9
  exec 9>&-
  wait $reader
  cmp during.jsonl old.jsonl
}
