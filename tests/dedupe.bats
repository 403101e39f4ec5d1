#!/usr/bin/env bats
# Duplicate ids at build (vdb-build --dedupe first|last; --append of an id
# the index has). The reference for what is kept is jq over the input.
load helpers

# dup_input OUT: 60 records of words1k, then 20 of them again (every third)
# with other vectors, and 5 of those a third time; metadata {"line": N}
# names each record's line, so what is kept is seen in the metadata
dup_input() {
  head -n 60 "$D/words1k.jsonl" >base.jsonl
  { cat base.jsonl
    jq -sc '[range(0; 60; 3) as $i | .[$i]][]' base.jsonl
    jq -sc '[range(0; 15; 3) as $i | .[$i]][]' base.jsonl
  } | jq -sc 'to_entries[] | .key as $k | {id: .value.id,
      vector: (.value.vector | map(. * (1 + $k / 100))), metadata: {line: ($k + 1)}}' >"$1"
}

# kept OUT.jsonl last|first: the id -> line of each id's kept record, by jq
kept() {
  jq -sc --arg w "$2" 'group_by(.id) | map(if $w == "last" then .[-1] else .[0] end)
    | map({key: .id, value: .metadata.line}) | from_entries' "$1"
}

# stored IX IDS: the id -> metadata.line of each id, by vdb-query --get
stored() {
  while read -r id; do vdb-query -x "$1" --get "$id"; done <"$2" |
    jq -sc 'map({key: .id, value: .metadata.line}) | from_entries'
}

@test "a build whose input holds an id twice is refused (65), naming both lines and the id" {
  head -n 5 "$D/words1k.jsonl" >a.jsonl
  # b.jsonl: a blank line, then a record of a.jsonl's line 3 again
  { echo; sed -n 2p "$D/words1k.jsonl" | jq -c '.id = "x1"'; sed -n 3p "$D/words1k.jsonl"; } >b.jsonl
  id=$(sed -n 3p a.jsonl | jq -c .id)
  run vdb-build -o ix.vdb a.jsonl b.jsonl
  assert_failure 65
  assert_output --partial "duplicate id $id: a.jsonl: line 3 and b.jsonl: line 3"
  [ ! -e ix.vdb ]
  # within one input, and from standard input
  run -65 bash -c 'cat a.jsonl a.jsonl | vdb-build -o ix.vdb'
  assert_output --partial "duplicate id $(head -1 a.jsonl | jq -c .id): stdin: line 1 and stdin: line 6"
  [ ! -e ix.vdb ]
  # an integer id and its string are one id, as for --delete and --shard
  printf '{"id": 7, "vector": [1, 2]}\n{"id": "7", "vector": [3, 4]}\n' >n.jsonl
  run -65 vdb-build -o ix.vdb n.jsonl
  assert_output --partial 'duplicate id "7": n.jsonl: line 1 and n.jsonl: line 2'
}

@test "--dedupe last and first keep the record jq keeps of each id, and say how many were dropped" {
  dup_input dup.jsonl
  jq -r .id dup.jsonl | sort -u >ids
  dropped=$(( $(wc -l <dup.jsonl) - $(wc -l <ids) ))
  [ "$dropped" -eq 25 ]
  for w in last first; do
    run vdb-build -T hnsw --dedupe $w -o $w.vdb dup.jsonl
    assert_success
    assert_output --partial "--dedupe $w: $dropped records dropped"
    [ "$(vdb-query -x $w.vdb --info | jq .live)" -eq "$(wc -l <ids)" ]
    [ "$(stored $w.vdb ids)" = "$(kept dup.jsonl $w)" ]
    # the kept record's vector is the one searched: it finds itself first
    jq -c --argjson k "$(kept dup.jsonl $w)" 'select($k[.id] == .metadata.line) | {vector}' \
      dup.jsonl >q.jsonl
    jq -r --argjson k "$(kept dup.jsonl $w)" 'select($k[.id] == .metadata.line) | .id' \
      dup.jsonl >want
    vdb-query -x $w.vdb -k 1 --ef 64 q.jsonl | jq -r '.ids[0]' >got
    diff got want
    run vdb-query -x $w.vdb --verify
    assert_success
  done
  # -q: nothing on stderr
  run --separate-stderr vdb-build -q --dedupe last -o q.vdb dup.jsonl
  assert_success
  [ -z "$stderr" ]
}

@test "--append of an id the index has is refused (65) and leaves the index byte for byte" {
  head -n 50 "$D/words1k.jsonl" >a.jsonl
  vdb-build -q -o ix.vdb a.jsonl
  cp ix.vdb before.vdb
  { sed -n 60,61p "$D/words1k.jsonl"; sed -n 7p "$D/words1k.jsonl"; } >more.jsonl
  id=$(sed -n 7p a.jsonl | jq -c .id)
  run vdb-build --append -x ix.vdb more.jsonl
  assert_failure 65
  assert_output --partial "more.jsonl: line 3: id $id is already in ix.vdb (record 6): --upsert"
  cmp ix.vdb before.vdb
  # twice in the appended input: refused as at build, unless --dedupe
  sed -n 60,61p "$D/words1k.jsonl" >twice.jsonl
  sed -n 60p "$D/words1k.jsonl" >>twice.jsonl
  run -65 vdb-build --append -x ix.vdb twice.jsonl
  assert_output --partial "twice.jsonl: line 1 and twice.jsonl: line 3"
  cmp ix.vdb before.vdb
  run vdb-build --dedupe first --append -x ix.vdb twice.jsonl
  assert_success
  [ "$(vdb-query -x ix.vdb --info | jq .live)" -eq 52 ]
  # an id whose record was deleted may come back by --append
  sed -n 7p a.jsonl | jq -r .id | vdb-build -q --delete -x ix.vdb
  vdb-build -q --append -x ix.vdb <(sed -n 7p a.jsonl)
  [ "$(vdb-query -x ix.vdb --info | jq -c '[.live, .count]')" = '[52,53]' ]
}

@test "--upsert keeps the last record of an id unless --dedupe first" {
  head -n 20 "$D/words1k.jsonl" | jq -c '.metadata = {v: 0}' >a.jsonl
  vdb-build -q -o ix.vdb a.jsonl
  { sed -n 5p a.jsonl | jq -c '.metadata = {v: 1}'; sed -n 5p a.jsonl | jq -c '.metadata = {v: 2}'; } >u.jsonl
  id=$(sed -n 5p a.jsonl | jq -r .id)
  vdb-build -q --upsert -x ix.vdb u.jsonl
  [ "$(vdb-query -x ix.vdb --get "$id" | jq -c .metadata)" = '{"v":2}' ]
  run vdb-build --dedupe first --upsert -x ix.vdb u.jsonl
  assert_success
  assert_output --partial "1 record dropped"
  [ "$(vdb-query -x ix.vdb --get "$id" | jq -c .metadata)" = '{"v":1}' ]
}

@test "--dedupe: bad values and other changes are usage errors (64)" {
  head -n 5 "$D/words1k.jsonl" >a.jsonl
  run -64 vdb-build --dedupe middle -o ix.vdb a.jsonl
  assert_output --partial "--dedupe: 'middle': give first or last"
  vdb-build -q -o ix.vdb a.jsonl
  cp ix.vdb before.vdb
  run -64 vdb-build --dedupe last --delete -x ix.vdb a.jsonl
  run -64 vdb-build --dedupe last --compact -x ix.vdb
  cmp ix.vdb before.vdb
}
