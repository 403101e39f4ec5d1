#!/usr/bin/env bats
# Partial updates: metadata patches (vdb-build --patch) and delete by filter
# (vdb-build --delete --filter). The reference is jq over the input: its
# merge of the records and the patches (RFC 7396, written out below), and
# its selection of the records a filter passes.
load helpers

# RFC 7396 MergePatch in jq: . is the target, $p the patch
MP='def mp($p): if ($p | type) == "object"
  then reduce ($p | to_entries[]) as $e (if type == "object" then . else {} end;
    if $e.value == null then del(.[$e.key]) else .[$e.key] |= mp($e.value) end)
  else $p end;'

# base OUT N: the first N records of words1k, metadata {corpus_count, cat,
# tags}, the last 10 without metadata
base() {
  head -n "$2" "$D/words1k.jsonl" | jq -sc --argjson n "$2" 'to_entries[] | .key as $i | .value
    | if $i >= $n - 10 then del(.metadata)
      else .metadata += {cat: ($i % 4), tags: {a: ($i % 2), b: "x"}} end' >"$1"
}

# merged BASE PATCHES: {id: metadata} after the patches, by jq
merged() {
  jq -n --slurpfile b "$1" --slurpfile p "$2" "$MP"'
    reduce $p[] as $q ($b | map({key: (.id | tostring), value: .metadata}) | from_entries;
      ($q.id | tostring) as $k | if has($k) and $q.metadata then .[$k] |= mp($q.metadata) else . end)'
}

# all_meta IX N: {id: metadata} of every record, by one flat query of k N
all_meta() {
  jq -c 'del(.id, .metadata, .text)' <(head -1 "$D/words1k.jsonl") |
    vdb-query -x "$1" -k "$2" --include metadata |
    jq -c '[.ids, .metadata] | transpose | map({key: (.[0] | tostring), value: .[1]}) | from_entries'
}

# filtered IX EXPR: the ids a filtered query of k 1000 returns, sorted
filtered() {
  jq -c '{vector}' <(head -1 "$D/words1k.jsonl") |
    vdb-query -x "$1" -k 1000 --filter "$2" | jq -r '.ids[] | tostring' | sort
}

FILTERS=('cat == 9' 'cat == "nine"' 'cat == 7' 'exists(corpus_count)' 'tags.c == true'
  'tags.a == 1' '!exists(tags.a)' 'cat == 1 && tags.b == "x"' 'exists(cat)')
# jq's version of each filter above
JQ=('.cat == 9' '.cat == "nine"' '.cat == 7' 'has("corpus_count")' '.tags.c == true'
  '.tags.a == 1' '(.tags // {}) | has("a") | not' '.cat == 1 and .tags.b == "x"' 'has("cat")')

@test "--patch merges metadata as a JSON merge patch (jq), seen by --get, --include and every filter" {
  base base.jsonl 300
  # nulls remove keys, nested objects merge, later patches of an id win,
  # a record without metadata gets some, one patch names no record
  { jq -c 'select(.id != null) | {id, metadata: {cat: 9, corpus_count: null, tags: {a: null, c: true}}}' \
      <(sed -n '1~2p' base.jsonl | head -n 30)
    jq -c '{id, metadata: {cat: "nine"}}' <(sed -n '2~5p' base.jsonl | head -n 8)
    echo '{"id": "no-such-word", "metadata": {"cat": 9}}'
    jq -c '{id, metadata: {cat: 7}}' <(sed -n 11p base.jsonl)
    jq -c '{id, metadata: {cat: 9, tags: {c: true}}}' <(sed -n '295,296p' base.jsonl)
  } >patches.jsonl
  missing_line=$(grep -n no-such-word patches.jsonl | cut -d: -f1)
  merged base.jsonl patches.jsonl >want.json
  npatched=$(jq -r 'select(.id != "no-such-word") | .id' patches.jsonl | sort -u | wc -l)
  for t in flat hnsw; do
    vdb-build -q -T $t -o $t.vdb base.jsonl
    run vdb-build --patch -x $t.vdb patches.jsonl
    assert_success
    assert_output --partial "1 of the $(wc -l <patches.jsonl) patches name no live record of $t.vdb (the first: patches.jsonl: line $missing_line (id \"no-such-word\"))"
    assert_output --partial "$npatched records patched (300 in all)"
    run vdb-query -x $t.vdb --verify
    assert_success
    # the payload index is made again: filters see the new values at once,
    # through it and through each record's JSON (VDB_FILTER_SCAN=1)
    for i in "${!FILTERS[@]}"; do
      # a record without metadata is tested as {} (vdb-query(1))
      jq -r "to_entries[] | select((.value // {}) | ${JQ[$i]}) | .key" want.json | sort >want
      filtered $t.vdb "${FILTERS[$i]}" >got
      diff got want
      VDB_FILTER_SCAN=1 filtered $t.vdb "${FILTERS[$i]}" >got
      diff got want
    done
  done
  [ "$(all_meta flat.vdb 300 | jq -S .)" = "$(jq -S . want.json)" ]
  for n in 1 11 296 299; do
    id=$(sed -n ${n}p base.jsonl | jq -r .id)
    [ "$(vdb-query -x hnsw.vdb --get "$id" | jq -Sc .metadata)" = "$(jq -Sc --arg k "$id" '.[$k]' want.json)" ]
  done
  # the vectors are those of the input
  vdb-query -x flat.vdb -k 1 <(jq -c '{vector}' base.jsonl) | jq -r '.ids[0]' >got
  jq -r .id base.jsonl | diff got -
}

@test "patches for ids no live record has: a warning, status 0, the index byte for byte" {
  base base.jsonl 50
  vdb-build -q -o ix.vdb base.jsonl
  sed -n 3p base.jsonl | jq -r .id | vdb-build -q --delete -x ix.vdb
  cp ix.vdb before.vdb
  { echo '{"id": "nowhere", "metadata": {"a": 1}}'
    echo
    sed -n 3p base.jsonl | jq -c '{id, metadata: {a: 1}}'; } >p.jsonl
  run vdb-build --patch -x ix.vdb p.jsonl
  assert_success
  assert_output --partial '2 of the 2 patches name no live record of ix.vdb (the first: p.jsonl: line 1 (id "nowhere"))'
  assert_output --partial "nothing patched: ix.vdb is unchanged"
  cmp ix.vdb before.vdb
  run vdb-build --patch -x ix.vdb /dev/null
  assert_success
  cmp ix.vdb before.vdb
}

@test "malformed patches are refused (65) naming the input and line; the index is byte for byte" {
  base base.jsonl 20
  vdb-build -q -o ix.vdb base.jsonl
  cp ix.vdb before.vdb
  good='{"id": "the", "metadata": {"cat": 5}}'
  while IFS='|' read -r bad msg; do
    printf '%s\n\n%s\n' "$good" "$bad" >p.jsonl
    run vdb-build --patch -x ix.vdb p.jsonl
    assert_failure 65
    assert_output --partial "p.jsonl: line 3: $msg"
    cmp ix.vdb before.vdb
  done <<'EOF'
{"metadata": {"cat": 1}}|no "id" (a string or an integer)
{"id": ["the"], "metadata": {"cat": 1}}|no "id" (a string or an integer)
{"id": "the", "metadata": [1]}|"metadata" must be an object (a JSON merge patch)
{"id": "the", "metadata": null}|"metadata" must be an object (a JSON merge patch)
{"id": "the", "metadata": {"cat": 1}, "vector": [1, 2]}|a patch has no vector: --upsert replaces
{"id": "the", "bits": "ff"}|a patch has no vector
{"id": "the", "text": 5}|"text" must be a string (or null, to remove it)
{"id": "the"}|nothing to change: give "metadata" or "text"
{"id": "the", "metadata": {"cat": 1}|malformed JSON
[1, 2]|a patch is an object
EOF
  run -66 vdb-build --patch -x ix.vdb no-such.jsonl
  cmp ix.vdb before.vdb
}

@test "text patches: the lexical index finds the new words and not the old, as jq's texts say" {
  head -n 100 "$D/words1k.jsonl" | jq -sc 'to_entries[] | .value + {text: (if .key % 2 == 0
    then "alpha " else "beta " end + .value.id)}' >base.jsonl
  vdb-build -q --lexical -o ix.vdb base.jsonl
  { jq -c '{id, text: "gamma delta"}' <(sed -n '1~10p' base.jsonl)
    jq -c '{id, text: null}' <(sed -n '2~20p' base.jsonl)
    jq -c '{id, metadata: {p: 1}}' <(sed -n '4p' base.jsonl); } >p.jsonl
  run vdb-build --patch -x ix.vdb p.jsonl
  assert_success
  assert_output --partial "16 records patched"
  vdb-query -x ix.vdb --verify
  jq -n --slurpfile b base.jsonl --slurpfile p p.jsonl 'reduce $p[] as $q ($b | map({key: .id,
    value: .text}) | from_entries; if $q | has("text") then .[$q.id] = $q.text else . end)' >texts.json
  for w in alpha beta gamma delta; do
    jq -r --arg w "$w" 'to_entries[] | select(.value != null and (.value | split(" ") | index($w)))
      | .key' texts.json | sort >want
    echo "{\"text\": \"$w\"}" | vdb-query -x ix.vdb -k 100 | jq -r '.ids[]' | sort >got
    diff got want
  done
  id=$(sed -n 2p base.jsonl | jq -r .id)
  [ "$(vdb-query -x ix.vdb --get "$id" | jq -c .text)" = null ]
  id=$(sed -n 11p base.jsonl | jq -r .id)
  [ "$(vdb-query -x ix.vdb --get "$id" | jq -c .text)" = '"gamma delta"' ]
}

@test "an index without ids is patched by row number (7 and \"7\" alike)" {
  vdb-build -q -o ix.vdb "$D/sift2k_base.fvecs"
  printf '{"id": 7, "metadata": {"k": 1}}\n{"id": "9", "metadata": {"k": 1}}\n' >p.jsonl
  run vdb-build --patch -x ix.vdb p.jsonl
  assert_success
  assert_output --partial "2 records patched"
  vdb-query -x ix.vdb -k 100 --filter 'k == 1' "$D/sift_query20.fvecs" | jq -c '.ids | sort' |
    sort -u >ids
  [ "$(cat ids)" = '[7,9]' ]
}

# sel BASE EXPR: the ids of the records of BASE whose metadata passes the jq EXPR
sel() {
  jq -r "select(.metadata != null) | select(.metadata | $2) | .id | tostring" "$1" | sort
}

@test "--delete --filter deletes every live record jq selects, with no k cap, on every type" {
  base base.jsonl 1000
  sel base.jsonl '.cat == 1 or .corpus_count < 2000' >gone
  jq -r '.id' base.jsonl | sort | comm -23 - gone >kept
  [ "$(wc -l <gone)" -gt 300 ]
  for t in flat hnsw ivf lsh; do
    vdb-build -q -T $t -o $t.vdb base.jsonl
    run vdb-build --delete --filter 'cat == 1 || corpus_count < 2000' -x $t.vdb
    assert_success
    assert_output --partial "$(wc -l <gone) records deleted ($(wc -l <kept) live of 1000)"
    [ "$(vdb-query -x $t.vdb --info | jq .live)" -eq "$(wc -l <kept)" ]
    # nothing deleted answers, and the rest does
    [ -z "$(filtered $t.vdb 'cat == 1 || corpus_count < 2000')" ]
    filtered $t.vdb 'exists(cat) || !exists(cat)' | diff - kept
    run vdb-query -x $t.vdb --verify
    assert_success
  done
  # the same with each record's JSON instead of the payload index
  vdb-build -q -o scan.vdb base.jsonl
  VDB_FILTER_SCAN=1 vdb-build -q --delete --filter 'cat == 1 || corpus_count < 2000' -x scan.vdb
  filtered scan.vdb 'exists(cat) || !exists(cat)' | diff - kept
}

@test "--delete --filter after a patch deletes by the patched values" {
  base base.jsonl 200
  vdb-build -q -T hnsw -o ix.vdb base.jsonl
  jq -c 'select(.metadata.cat == 2) | {id, metadata: {state: "gone"}}' base.jsonl >p.jsonl
  jq -c '{id, metadata: {state: "gone"}}' <(sed -n '1,5p' base.jsonl) >>p.jsonl
  vdb-build -q --patch -x ix.vdb p.jsonl
  run vdb-build --delete --filter 'state == "gone"' -x ix.vdb
  assert_success
  n=$(jq -r .id p.jsonl | sort -u | wc -l)
  assert_output --partial "$n records deleted ($((200 - n)) live of 200)"
  jq -r .id p.jsonl | sort -u >gone
  filtered ix.vdb 'exists(cat) || !exists(cat)' | comm -12 - gone >both
  [ ! -s both ]
}

@test "--delete --filter: no match warns and leaves the index byte for byte; bad uses are refused" {
  base base.jsonl 50
  vdb-build -q -o ix.vdb base.jsonl
  cp ix.vdb before.vdb
  run vdb-build --delete --filter 'cat == 99' -x ix.vdb
  assert_success
  assert_output --partial "no live record of ix.vdb passes the filter cat == 99"
  assert_output --partial "nothing deleted: ix.vdb is unchanged"
  cmp ix.vdb before.vdb
  run -64 vdb-build --delete --filter 'cat ==' -x ix.vdb
  assert_output --partial "--filter:"
  run -64 vdb-build --filter 'cat == 1' -x ix.vdb --compact
  run -64 vdb-build --filter 'cat == 1' -o new.vdb base.jsonl
  [ ! -e new.vdb ]
  run -64 vdb-build --delete --filter 'cat == 1' -x ix.vdb ids.txt
  assert_output --partial "give ids or a filter, not both"
  cmp ix.vdb before.vdb
  # a damaged index is refused, and left as it was
  cp ix.vdb bad.vdb
  off=$(vdb-query -x bad.vdb --info | jq '.sections[] | select(.kind == "MDTX") | .offset')
  printf 'X' | dd of=bad.vdb bs=1 seek=$((off + 3)) conv=notrunc status=none
  cp bad.vdb bad-before.vdb
  run -65 vdb-build --delete --filter 'cat == 1' -x bad.vdb
  cmp bad.vdb bad-before.vdb
  run -65 vdb-build --patch -x bad.vdb <(echo '{"id": "the", "metadata": {"cat": 1}}')
  cmp bad.vdb bad-before.vdb
}
