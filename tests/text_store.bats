#!/usr/bin/env bats
# Text stored with records and the embedder's identity as part of the index
# (issue 18, items 3 and 4): JSONL "text" and "embedder" read by vdb-build,
# kept in the index through appends, upserts, deletes, compactions, shards
# and merges, printed by vdb-query --include text and --get, and compared
# with the queries' identity (a warning, or 65 with --strict). Every text
# printed is checked against the input records with jq (an independent
# reader), never against vdb's own earlier output.
load helpers

EMB_A='{"kind": "fasttext", "name": "a.bin", "xxh3": "0123456789abcdef", "dim": 4}'
EMB_B='{"kind": "exec", "name": "./embed.sh --fast", "xxh3": "fedcba9876543210", "dim": 4}'

# records N SEED [FIRST] [PREFIX]: N JSONL records with ids PREFIXi, 4-d vectors
# and texts that need every kind of escape (quotes, backslashes, newlines,
# tabs, non-ASCII); every 7th record has no text
records() {
  python3 - "$@" <<'EOF'
import json, random, sys
n, seed = int(sys.argv[1]), int(sys.argv[2])
first = int(sys.argv[3]) if len(sys.argv) > 3 else 0
prefix = sys.argv[4] if len(sys.argv) > 4 else "d"
rnd = random.Random(seed)
words = ["caf\u00e9", "na\u00efve", "\u6f22\u5b57", "say \"hi\"", "back\\slash", "line\nbreak",
         "tab\there", "\u00fcber", "emoji \U0001F600", "plain", "}{][", "\\n not a newline"]
for i in range(first, first + n):
    r = {"id": "%s%d" % (prefix, i), "vector": [round(rnd.uniform(-1, 1), 4) for _ in range(4)]}
    if i % 7 != 3:
        r["text"] = "%s-%d: " % (prefix, i) + " ".join(rnd.choice(words) for _ in range(5))
    print(json.dumps(r, ensure_ascii=(i % 2 == 0)))
EOF
}

# with_embedder EMB < JSONL: each record with "embedder": EMB
with_embedder() { jq -c --argjson e "$1" '. + {embedder: $e}'; }

# queries < JSONL: the records' vectors as queries
queries() { jq -c '{vector}'; }

# texts_match REFERENCE RESULTS: every result's text (and metadata) is the
# text of the reference record with its id (null when it has none); prints
# how many were checked
texts_match() {
  jq -n --slurpfile ref "$1" --slurpfile out "$2" '
    ($ref | map({key: (.id | tostring), value: .text}) | from_entries) as $t
    | [$out[] | . as $o | range(0; $o.ids | length)
       | if $o.text[.] == $t[$o.ids[.] | tostring] then 1
         else error("id \($o.ids[.]): \($o.text[.]) is not \($t[$o.ids[.] | tostring])") end]
    | length'
}

# all_rows INDEX: one result line listing every live record, with its text
all_rows() {
  local n
  n=$(vdb-query -x "$1" --info | jq .live)
  echo '{"vector": [0, 0, 0, 0]}' | vdb-query -x "$1" -k "$n" --include text
}

# same_rows REFERENCE INDEX: the index's live records are exactly the
# reference records, each id with its own text
same_rows() {
  all_rows "$2" >rows.jsonl
  [ "$(jq -c '[.ids[] | tostring] | sort' rows.jsonl)" = "$(jq -sc 'map(.id | tostring) | sort' "$1")" ]
  [ "$(texts_match "$1" rows.jsonl)" -eq "$(jq -s length "$1")" ]
}

@test "--include text returns each result id's own stored text (quotes, backslashes, newlines, non-ASCII)" {
  records 60 1 >in.jsonl
  vdb-build -q -o t.vdb in.jsonl
  queries <in.jsonl >q.jsonl
  vdb-query -x t.vdb -k 5 --include text q.jsonl >out.jsonl
  # one line per query: no stored newline broke a line
  [ "$(wc -l <out.jsonl)" -eq 60 ]
  [ "$(texts_match in.jsonl out.jsonl)" -eq 300 ]
  # a record without text is printed with null
  jq -se 'map(select(.ids[0] == "d3")) | length == 1 and .[0].text[0] == null' out.jsonl
  # metadata and text together, in one option or two
  vdb-query -x t.vdb -k 3 --include metadata,text q.jsonl >both.jsonl
  vdb-query -x t.vdb -k 3 --include text --include metadata q.jsonl >both2.jsonl
  cmp both.jsonl both2.jsonl
  jq -e 'has("metadata") and has("text")' both.jsonl >/dev/null
  [ "$(texts_match in.jsonl both.jsonl)" -eq 180 ]
}

@test "--include text in TSV: a column holding each result's text as a JSON string" {
  records 20 2 >in.jsonl
  vdb-build -q -o t.vdb in.jsonl
  queries <in.jsonl | vdb-query -x t.vdb -k 4 --include text -O tsv >out.tsv
  [ "$(wc -l <out.tsv)" -eq 80 ]
  [ "$(awk -F'\t' 'NF != 5' out.tsv | wc -l)" -eq 0 ]
  # column 3 the id, column 5 the text: as JSON, the input record's text
  awk -F'\t' '{ printf "{\"ids\": [\"%s\"], \"text\": [%s]}\n", $3, $5 }' out.tsv >as.jsonl
  [ "$(texts_match in.jsonl as.jsonl)" -eq 80 ]
}

@test "--get returns each record's stored text and the index's embedder" {
  records 30 3 | with_embedder "$EMB_A" >in.jsonl
  vdb-build -q -o t.vdb in.jsonl
  vdb-query -x t.vdb --get d0,d3,d5,d28 >got.jsonl
  [ "$(wc -l <got.jsonl)" -eq 4 ]
  jq -n --slurpfile ref in.jsonl --slurpfile got got.jsonl -e '
    ($ref | map({key: .id, value: .}) | from_entries) as $r
    | $got | all(.text == $r[.id].text and .embedder == $r[.id].embedder)'
  # the record read back builds the same record again
  vdb-query -x t.vdb --get d5 | vdb-build -q -o again.vdb
  [ "$(vdb-query -x again.vdb --get d5 | jq -c '.text, .embedder')" = \
    "$(jq -c 'select(.id == "d5") | .text, .embedder' in.jsonl)" ]
}

@test "an index without text: --include text warns and prints null, --info says text false and embedder null" {
  records 10 4 | jq -c 'del(.text)' >in.jsonl
  vdb-build -q -o t.vdb in.jsonl
  run vdb-query -x t.vdb --info
  [ "$(echo "$output" | jq -c '[.text, .embedder]')" = '[false,null]' ]
  # no text sections are written for records without text
  [ -z "$(echo "$output" | jq -r '.sections[].kind' | grep -E 'TXOF|TXTX|EMBD')" ]
  run --separate-stderr vdb-query -x t.vdb -k 2 --include text <<<'{"vector": [0, 0, 0, 0]}'
  [ "$status" -eq 0 ]
  [[ "$stderr" == *"has no text"* ]]
  [ "$(echo "$output" | jq -c .text)" = '[null,null]' ]
}

@test "--info shows the embedder identity the records carried" {
  records 12 5 | with_embedder "$EMB_A" >in.jsonl
  vdb-build -q -o t.vdb in.jsonl
  run vdb-query -x t.vdb --info
  [ "$(echo "$output" | jq -c '.embedder')" = "$(jq -c . <<<"$EMB_A")" ]
  [ "$(echo "$output" | jq .text)" = true ]
  vdb-query -x t.vdb --verify
}

@test "append, upsert, delete and compact keep every row's text with its id" {
  records 40 6 0 >a.jsonl
  records 15 7 40 >b.jsonl
  records 10 8 0 | jq -c '.text = "new text of \(.id)\n\u00e9"' | head -10 >up.jsonl
  vdb-build -q -o t.vdb a.jsonl
  vdb-build -q --append -x t.vdb b.jsonl
  cat a.jsonl b.jsonl >ref.jsonl
  same_rows ref.jsonl t.vdb
  vdb-build -q --upsert -x t.vdb up.jsonl
  # the reference: the upserted records replace those with their ids
  jq -sc --slurpfile up up.jsonl '($up | map(.id)) as $u | .[] | select(.id as $i | $u | index($i) | not)' \
    ref.jsonl >ref2.jsonl
  cat up.jsonl >>ref2.jsonl
  same_rows ref2.jsonl t.vdb
  printf 'd41\nd0\nd7\n' | vdb-build -q --delete -x t.vdb
  jq -c 'select(.id != "d41" and .id != "d0" and .id != "d7")' ref2.jsonl >ref3.jsonl
  same_rows ref3.jsonl t.vdb
  vdb-build -q --compact -x t.vdb
  [ "$(vdb-query -x t.vdb --info | jq '.deleted')" -eq 0 ]
  same_rows ref3.jsonl t.vdb
  vdb-query -x t.vdb --verify
}

@test "records with text appended to an index without text: the older rows have null text" {
  records 10 9 0 | jq -c 'del(.text)' >a.jsonl
  records 5 10 10 >b.jsonl
  vdb-build -q -T hnsw -o t.vdb a.jsonl
  vdb-build -q --append -x t.vdb b.jsonl
  cat a.jsonl b.jsonl >ref.jsonl
  same_rows ref.jsonl t.vdb
  [ "$(vdb-query -x t.vdb --info | jq .text)" = true ]
}

@test "shards searched as a set, and merged result files, keep each id's text" {
  records 50 11 >in.jsonl
  vdb-build -q --shard 0/2 -o s0.vdb in.jsonl
  vdb-build -q --shard 1/2 -o s1.vdb in.jsonl
  queries <in.jsonl | head -20 >q.jsonl
  vdb-query -x s0.vdb -x s1.vdb -k 6 --include text q.jsonl >set.jsonl
  [ "$(texts_match in.jsonl set.jsonl)" -eq 120 ]
  vdb-query -x s0.vdb -k 6 --include metadata,text q.jsonl >r0.jsonl
  vdb-query -x s1.vdb -k 6 --include metadata,text q.jsonl >r1.jsonl
  vdb-query --merge -k 6 r0.jsonl r1.jsonl >merged.jsonl
  [ "$(wc -l <merged.jsonl)" -eq 20 ]
  [ "$(texts_match in.jsonl merged.jsonl)" -eq 120 ]
  jq -e 'has("metadata")' merged.jsonl >/dev/null
}

@test "shards of different embedders are not searched as one set (65)" {
  records 20 12 | with_embedder "$EMB_A" >a.jsonl
  records 20 12 | with_embedder "$EMB_B" >b.jsonl
  vdb-build -q --shard 0/2 -o s0.vdb a.jsonl
  vdb-build -q --shard 1/2 -o s1.vdb b.jsonl
  run -65 vdb-query -x s0.vdb -x s1.vdb <<<'{"vector": [0, 0, 0, 0]}'
  assert_output --partial 'a.bin'
  assert_output --partial './embed.sh --fast'
}

@test "queries embedded by another model: one warning and results; --strict: 65 and no results" {
  records 10 13 | with_embedder "$EMB_A" >in.jsonl
  vdb-build -q -o t.vdb in.jsonl
  queries <in.jsonl | with_embedder "$EMB_B" >q.jsonl
  run --separate-stderr vdb-query -x t.vdb -k 2 q.jsonl q.jsonl
  [ "$status" -eq 0 ]
  [ "${#lines[@]}" -eq 20 ]
  [ "$(grep -c warning <<<"$stderr")" -eq 1 ]
  [[ "$stderr" == *'a.bin'* ]]
  [[ "$stderr" == *'./embed.sh --fast'* ]]
  run --separate-stderr vdb-query -x t.vdb -k 2 --strict q.jsonl
  [ "$status" -eq 65 ]
  [ -z "$output" ]
  [[ "$stderr" == *'a.bin'* ]]
  # the same model under another name is the same embedder
  queries <in.jsonl | with_embedder "$(jq -c '.name = "renamed.bin"' <<<"$EMB_A")" >same.jsonl
  run --separate-stderr vdb-query -x t.vdb -k 2 --strict same.jsonl
  [ "$status" -eq 0 ]
  [ -z "$stderr" ]
}

@test "raw-vector queries: no warning; with --strict refused (65) by an index that has an embedder, and the reverse" {
  records 10 14 | with_embedder "$EMB_A" >emb.jsonl
  records 10 14 >raw.jsonl
  vdb-build -q -o e.vdb emb.jsonl
  vdb-build -q -o r.vdb raw.jsonl
  queries <raw.jsonl >q.jsonl
  run --separate-stderr vdb-query -x e.vdb -k 1 q.jsonl
  [ "$status" -eq 0 ]
  [ -z "$stderr" ]
  run -65 vdb-query -x e.vdb -k 1 --strict q.jsonl
  assert_output --partial 'a.bin'
  queries <raw.jsonl | with_embedder "$EMB_A" >qe.jsonl
  run -65 vdb-query -x r.vdb -k 1 --strict qe.jsonl
  assert_output --partial 'raw vectors'
  run -0 vdb-query -x r.vdb -k 1 --strict q.jsonl
}

@test "one build input mixing embedders is refused (65) naming the first record that differs and both names" {
  records 6 15 | with_embedder "$EMB_A" >a.jsonl
  records 3 16 6 | with_embedder "$EMB_B" >b.jsonl
  cat a.jsonl b.jsonl >mixed.jsonl
  run -65 vdb-build -o t.vdb mixed.jsonl
  assert_output --partial 'line 7 (record 6)'
  assert_output --partial 'a.bin'
  assert_output --partial './embed.sh --fast'
  [ ! -e t.vdb ]
  # a record without an identity among records with one
  records 3 17 6 >raw.jsonl
  run -65 vdb-build -o t.vdb a.jsonl raw.jsonl
  assert_output --partial 'raw.jsonl: line 1 (record 0)'
  assert_output --partial 'a.bin'
  [ ! -e t.vdb ]
}

@test "appending or upserting records of another embedder (or none) is refused (65), the index unchanged" {
  records 8 18 | with_embedder "$EMB_A" >a.jsonl
  records 4 19 8 | with_embedder "$EMB_B" >b.jsonl
  records 4 19 8 >raw.jsonl
  vdb-build -q -o t.vdb a.jsonl
  cp t.vdb orig.vdb
  run -65 vdb-build --append -x t.vdb b.jsonl
  assert_output --partial 'a.bin'
  assert_output --partial './embed.sh --fast'
  cmp t.vdb orig.vdb
  run -65 vdb-build --upsert -x t.vdb raw.jsonl
  assert_output --partial 'raw vectors'
  cmp t.vdb orig.vdb
  # the same embedder: added, the identity kept
  records 4 20 8 | with_embedder "$EMB_A" >c.jsonl
  vdb-build -q --append -x t.vdb c.jsonl
  [ "$(vdb-query -x t.vdb --info | jq -c '[.count, .embedder.name]')" = '[12,"a.bin"]' ]
}

# refused RECORD MESSAGE: vdb-build refuses the one-record input (65) with MESSAGE
refused() {
  printf '%s\n' "$1" >bad.jsonl
  run -65 vdb-build -o t.vdb bad.jsonl
  assert_output --partial "bad.jsonl: line 1 (record 0): $2"
  [ ! -e t.vdb ]
}

@test "bad text and embedder fields are refused (65) naming the input, the line and the record" {
  printf '{"id": 1, "vector": [1, 2], "text": "ok"}\n{"id": 2, "text": "no vector yet"}\n' >t1.jsonl
  run -65 vdb-build -o t.vdb t1.jsonl
  assert_output 'vdb-build: error: t1.jsonl: line 2 (record 1): "vector" is missing: a text record is embedded first (vdb-text embed)'
  local e='"embedder": {"kind": "fasttext", "name": "m"'
  refused '{"vector": [1, 2], "text": ["not", "a string"]}' '"text" must be a string'
  refused '{"vector": [1, 2], '"$e"', "xxh3": "0123456789abcdef", "dim": 3}}' \
    '"embedder"."dim" is 3 but the vector has 2'
  refused '{"vector": [1, 2], '"$e"', "xxh3": "0123456789ABCDEF", "dim": 2}}' \
    '"embedder"."xxh3" must be 16 lowercase hex digits'
  refused '{"vector": [1, 2], "embedder": "m.bin"}' '"embedder" must be an object'
  refused '{"vector": [1, 2], "embedder": {"kind": "onnx", "name": "m", "xxh3": "0123456789abcdef", "dim": 2}}' \
    '"embedder"."kind" must be "fasttext", "vec" or "exec"'
  refused "{\"vector\": [1, 2], \"embedder\": {\"kind\": \"exec\", \"name\": \"$(printf 'x%.0s' $(seq 4097))\", \"xxh3\": \"0123456789abcdef\", \"dim\": 2}}" \
    '"embedder"."name" must be a string of 1 to 4096 bytes (VDB_MAX_EMBEDDER_NAME)'
  refused "$(printf '{"vector": [1, 2], "text": "bad \xff byte"}')" 'malformed JSON'
}

@test "a text over VDB_MAX_TEXT (1 MiB decoded) is refused (65) naming the limit; one of exactly 1 MiB is kept" {
  python3 -c '
import json
print(json.dumps({"id": "max", "vector": [1, 0], "text": "\u00e9" * (1 << 19)}))
print(json.dumps({"id": "over", "vector": [0, 1], "text": "x" * ((1 << 20) + 1)}))' >big.jsonl
  run -65 vdb-build -o t.vdb big.jsonl
  assert_output --partial 'line 2 (record 1): "text" holds 1048577 bytes, over the limit of 1048576 (VDB_MAX_TEXT)'
  [ ! -e t.vdb ]
  head -1 big.jsonl | vdb-build -q -o t.vdb
  [ "$(vdb-query -x t.vdb --get max | jq -r '.text | utf8bytelength')" -eq 1048576 ]
}

# a stored text crafted after the build, checksums made valid again
forge_text() { # FILE OLD NEW (as long)
  perl -e 'my ($f, $o, $n) = @ARGV; length($o) == length($n) or die "lengths differ";
    open(my $h, "+<:raw", $f) or die; local $/; my $b = <$h>; my $i = index($b, $o);
    $i >= 0 or die "not found"; seek($h, $i, 0); print $h $n;' "$1" "$2" "$3"
  reseal "$1"
}

@test "a crafted text that is not a JSON string, or holds a raw newline, is refused by --verify and never printed" {
  command -v xxhsum >/dev/null || skip "xxhsum is not installed (Debian package xxhash)"
  printf '{"id": "a", "vector": [0, 0], "text": "TEXT-ONE-AAAAAAAAAA"}\n' >in.jsonl
  printf '{"id": "b", "vector": [1, 0], "text": "TEXT-TWO"}\n' >>in.jsonl
  vdb-build -q -o good.vdb in.jsonl
  # not a JSON string: a forged result line
  cp good.vdb forged.vdb
  forge_text forged.vdb '"TEXT-ONE-AAAAAAAAAA"' '1], "ids": ["FORGED"]'
  vdb-query -x forged.vdb --info >/dev/null
  run -65 vdb-query -x forged.vdb --verify
  assert_output --partial 'record 0: the stored text is not a JSON string'
  run -65 --separate-stderr vdb-query -x forged.vdb -k 2 --include text <<<'{"vector": [0, 0]}'
  [[ "$output" != *FORGED* ]]
  run -65 --separate-stderr vdb-query -x forged.vdb --get a
  [[ "$output" != *FORGED* ]]
  # a raw newline inside the string
  cp good.vdb newline.vdb
  forge_text newline.vdb 'TEXT-ONE-' "TEXT-ONE"$'\n'
  run -65 vdb-query -x newline.vdb --verify
  assert_output --partial 'record 0: the stored text'
  run -65 --separate-stderr vdb-query -x newline.vdb -k 2 --include text <<<'{"vector": [0, 0]}'
  [ -z "$output" ]
  # without --include text the texts are not read, and the ids print
  run -0 vdb-query -x newline.vdb -k 2 <<<'{"vector": [0, 0]}'
  # a change to the index checks it first: refused, never copied on
  run -65 vdb-build --append -x forged.vdb in.jsonl
}

@test "a crafted embedder section is refused when the index is opened (65)" {
  command -v xxhsum >/dev/null || skip "xxhsum is not installed (Debian package xxhash)"
  records 5 21 | with_embedder "$EMB_A" >in.jsonl
  vdb-build -q -o t.vdb in.jsonl
  forge_text t.vdb '"dim":4}' '"dim":5}'
  run -65 vdb-query -x t.vdb --info
  assert_output --partial 'embedder section'
}
