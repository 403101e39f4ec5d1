#!/usr/bin/env bats
# Files that are not what vdb expects at a name it writes or maps: links and
# devices at the lock's or an output's name (issue 22, findings 4 and 5),
# stored ids and metadata crafted to forge output lines (finding 6), an
# index that is a FIFO or is truncated while a query maps it (finding 11).
load helpers

# three records: a 49-character string id, "x1" and 7, each with metadata
three_records() {
  local pad
  pad=$(printf 'A%.0s' $(seq 1 49))
  printf '{"id": "%s", "vector": [0, 0], "metadata": {"n": 10}}\n' "$pad"
  printf '{"id": "x1", "vector": [1, 0], "metadata": {"n": 11}}\n'
  printf '{"id": 7, "vector": [2, 0], "metadata": {"n": 12}}\n'
}

# reseal FILE: every section's XXH3-64 and the header's recomputed by xxhsum
reseal() {
  local f=$1 n i off len sum
  n=$(od -An -tu4 -j28 -N4 "$f" | tr -d ' ')
  for ((i = 0; i < n; i++)); do
    off=$(od -An -tu8 -j$((512 + 32 * i + 8)) -N8 "$f" | tr -d ' ')
    len=$(od -An -tu8 -j$((512 + 32 * i + 16)) -N8 "$f" | tr -d ' ')
    sum=$(tail -c +$((off + 1)) "$f" | head -c "$len" | xxhsum -H3 - | awk '{print $NF}')
    put64 "$f" $((512 + 32 * i + 24)) "$sum"
  done
  put64 "$f" 4088 "$(head -c 4088 "$f" | xxhsum -H3 - | awk '{print $NF}')"
}

put64() { # FILE OFFSET HEX
  perl -e 'open(my $f, "+<:raw", $ARGV[0]) or die; seek($f, $ARGV[1], 0);
           print $f pack("Q<", hex($ARGV[2]));' "$@"
}

# forge FILE OLD NEW: the bytes OLD replaced by NEW (as long), checksums made valid
forge() {
  perl -e 'my ($f, $o, $n) = @ARGV; length($o) == length($n) or die "lengths differ";
    open(my $h, "+<:raw", $f) or die; local $/; my $b = <$h>; my $i = index($b, $o);
    $i >= 0 or die "not found"; seek($h, $i, 0); print $h $n;' "$1" "$2" "$3"
  reseal "$1"
}

need_xxhsum() {
  command -v xxhsum >/dev/null || skip "xxhsum is not installed (Debian package xxhash)"
}

# every line of FILE is one JSON value (jq, an independent parser)
each_line_json() {
  local line
  while IFS= read -r line; do
    printf '%s\n' "$line" | jq -e . >/dev/null || { echo "not JSON: $line"; return 1; }
  done <"$1"
}

# ===== Finding 4: the lock file =====

@test "a symbolic link at INDEX.lock is refused (73) and neither its target nor a new file is written" {
  three_records >in.jsonl
  echo secret >victim
  cp victim victim.orig
  ln -s victim x.vdb.lock
  ln -s made-by-vdb y.vdb.lock
  run -73 vdb-build -o x.vdb in.jsonl
  assert_output --partial "x.vdb.lock"
  [ "${#lines[@]}" -eq 1 ]
  cmp victim victim.orig
  [ -L x.vdb.lock ]
  [ ! -e x.vdb ]
  run -73 vdb-build -o y.vdb in.jsonl
  assert_output --partial "y.vdb.lock"
  [ ! -e made-by-vdb ]
}

@test "a hard link or a FIFO at INDEX.lock is refused (73), the linked file intact" {
  three_records >in.jsonl
  echo secret >victim
  cp victim victim.orig
  ln victim x.vdb.lock
  run -73 vdb-build -o x.vdb in.jsonl
  assert_output --partial "x.vdb.lock"
  cmp victim victim.orig
  mkfifo y.vdb.lock
  run -73 timeout 10 vdb-build -o y.vdb in.jsonl
  assert_output --partial "y.vdb.lock"
  [ -p y.vdb.lock ]
}

# ===== Finding 5: special files as outputs =====

@test "-o naming a FIFO, a character device, a symbolic link or a directory is refused (73), left as it was" {
  three_records >in.jsonl
  mkfifo fifo.vdb
  mkdir dir.vdb
  echo target >t
  ln -s t link.vdb
  for out in fifo.vdb dir.vdb link.vdb; do
    run -73 timeout 10 vdb-build -o "$out" in.jsonl
    assert_output --partial "$out: "
    [ "${#lines[@]}" -eq 1 ]
    [ ! -e "$out.lock" ]
  done
  [ -p fifo.vdb ]
  [ -d dir.vdb ]
  [ -L link.vdb ]
  [ "$(cat t)" = target ]
  [ -z "$(ls | grep tmp)" ]
  if mknod null.vdb c 1 3 2>/dev/null; then
    run -73 vdb-build -o null.vdb in.jsonl
    assert_output --partial "null.vdb: a character device"
    [ -c null.vdb ]
  fi
}

@test "vdb-build -o /dev/null is refused and /dev/null stays the device (restored if a build replaced it)" {
  three_records >in.jsonl
  run vdb-build -o /dev/null in.jsonl
  local status_was=$status replaced=0
  if [ ! -c /dev/null ]; then
    replaced=1
    rm -f /dev/null && mknod -m 666 /dev/null c 1 3
  fi
  rm -f /dev/null.lock /dev/null.tmp.*
  [ "$replaced" -eq 0 ]
  [ "$status_was" -eq 73 ]
  assert_output --partial "/dev/null: a character device"
}

@test "--metrics to a character device or a FIFO is written as a stream, never replaced" {
  three_records >in.jsonl
  mkfifo m.fifo
  timeout 20 cat m.fifo >got &
  run timeout 20 vdb-build -q -o x.vdb --metrics m.fifo in.jsonl
  wait
  assert_success
  [ -p m.fifo ]
  grep -q '^vdb_build_success{index="x.vdb"} 1$' got
  if mknod m.dev c 1 3 2>/dev/null; then
    run vdb-build -q -o y.vdb --metrics m.dev in.jsonl
    assert_success
    [ -c m.dev ]
  fi
}

@test "--metrics naming a symbolic link or a directory is refused (73) before the build" {
  three_records >in.jsonl
  echo 'keep me' >t
  ln -s t m.prom
  run -73 vdb-build -q -o x.vdb --metrics m.prom in.jsonl
  assert_output --partial "m.prom: a symbolic link"
  [ ! -e x.vdb ]
  [ "$(cat t)" = 'keep me' ]
  mkdir d.prom
  run -73 vdb-build -q -o x.vdb --metrics d.prom in.jsonl
  assert_output --partial "d.prom: a directory"
  [ ! -e x.vdb ]
}

@test "vdb-quantize train -o and vdb-eval --plot naming a FIFO are refused (73), the FIFO kept" {
  mkfifo q.fifo p.svg
  run -73 timeout 10 vdb-quantize train --kind sq8 -o q.fifo "$D/sift2k_base.fvecs"
  assert_output --partial "q.fifo: a FIFO"
  [ -p q.fifo ]
  vdb-build -q -o ix.vdb "$D/sift2k_base.fvecs"
  run -73 timeout 10 vdb-eval sweep -x ix.vdb --queries "$D/sift_query20.fvecs" \
    --gt "$D/sift2k_gt100_l2.ivecs" --plot p.svg
  assert_output --partial "p.svg: a FIFO"
  [ -p p.svg ]
}

# ===== Finding 6: stored texts that would forge output =====

@test "an id that forges a result line: --verify and the query fail (65) naming the record, nothing forged" {
  need_xxhsum
  three_records >in.jsonl
  vdb-build -q -o ok.vdb in.jsonl
  cp ok.vdb f.vdb
  local pad forged
  pad=$(printf 'A%.0s' $(seq 1 49))
  forged='1], "distances": [0]}'$'\n''{"query": 1, "ids": ["FORGED"'
  forge f.vdb "\"$pad\"" "$forged"
  run -65 vdb-query -x f.vdb --verify
  assert_output --partial "f.vdb: record 0"
  echo '{"vector": [0, 0]}' >q.jsonl
  run -65 --separate-stderr vdb-query -x f.vdb -k 2 q.jsonl
  refute_output --partial FORGED
  [[ "$stderr" == *"f.vdb: record 0"* ]]
  run -65 --separate-stderr vdb-query -x f.vdb -k 2 -O tsv q.jsonl
  refute_output --partial FORGED
}

@test "a blank id or metadata with a raw newline or broken JSON fails (65) in every format, and --verify" {
  need_xxhsum
  three_records >in.jsonl
  vdb-build -q -o ok.vdb in.jsonl
  echo '{"vector": [0, 0]}' >q.jsonl
  cp ok.vdb blank.vdb
  forge blank.vdb '"x1"' '    '
  for fmt in jsonl tsv; do
    run -65 --separate-stderr vdb-query -x blank.vdb -k 3 -O "$fmt" q.jsonl
    assert_output ''
    [[ "$stderr" == *"blank.vdb: record 1"* ]]
  done
  run -65 vdb-query -x blank.vdb --verify
  assert_output --partial "record 1"
  cp ok.vdb nl.vdb
  forge nl.vdb '{"n":11}' $'{"n":\n1}'
  cp ok.vdb bad.vdb
  forge bad.vdb '{"n":11}' '{"n" 11}'
  for f in nl.vdb bad.vdb; do
    run -65 vdb-query -x "$f" --verify
    assert_output --partial "$f: record 1"
    for fmt in jsonl tsv; do
      run -65 --separate-stderr vdb-query -x "$f" -k 3 -O "$fmt" --include metadata q.jsonl
      assert_output ''
    done
    run -65 --separate-stderr vdb-query -x "$f" --get x1
    assert_output ''
    # without the metadata, the ids print as they are
    vdb-query -x "$f" -k 3 q.jsonl >out
    each_line_json out
    [ "$(jq -c .ids out)" = "[\"$(printf 'A%.0s' $(seq 1 49))\",\"x1\",7]" ]
  done
}

@test "ids and metadata of every JSON form vdb accepts print as the input has them (jq compares)" {
  {
    echo '{"id": "plain", "vector": [0, 0], "metadata": {"a": "tab\there", "b": [1, {"c": null}]}}'
    echo '{"id": "caf\u00e9 \u65e5\u672c", "vector": [1, 0], "metadata": {"q": "say \"hi\"\\n"}}'
    echo '{"id": "quote\"back\\slash/\u0001", "vector": [2, 0], "metadata": {"e": 1.5e-7}}'
    echo '{"id": -42, "vector": [3, 0]}'
    echo '{"id": 0, "vector": [4, 0], "metadata": {}}'
    echo '{"id": 9007199254740993, "vector": [5, 0], "metadata": {"big": 123456789012345678}}'
  } >in.jsonl
  vdb-build -q -o ix.vdb in.jsonl
  run vdb-query -x ix.vdb --verify
  assert_success
  echo '{"vector": [0, 0]}' >q.jsonl
  vdb-query -x ix.vdb -k 6 --include metadata q.jsonl >out
  each_line_json out
  [ "$(jq -c .ids out)" = "$(jq -s -c 'map(.id)' in.jsonl)" ]
  [ "$(jq -c .metadata out)" = "$(jq -s -c 'map(.metadata)' in.jsonl)" ]
  vdb-query -x ix.vdb -k 6 -O tsv --include metadata q.jsonl >out.tsv
  [ "$(wc -l <out.tsv)" -eq 6 ]
  [ "$(awk -F'\t' '{print NF}' out.tsv | sort -u)" = 5 ]
  vdb-query -x ix.vdb --get plain,-42 >got
  each_line_json got
  [ "$(jq -c .metadata got)" = "$(printf '%s\n' '{"a":"tab\there","b":[1,{"c":null}]}' null)" ]
}

# ===== Finding 11: an index that is a FIFO, or changed in place while mapped =====

@test "-x naming a FIFO fails at once (66), in vdb-query, vdb-eval and vdb-quantize" {
  mkfifo ix.vdb q.vdbq
  run -66 timeout 10 vdb-query -x ix.vdb -k 1 "$D/sift_query20.fvecs"
  assert_output --partial "ix.vdb: a FIFO, not a regular file"
  run -66 timeout 10 vdb-query -x ix.vdb --info
  run -66 timeout 10 vdb-eval check -x ix.vdb --queries "$D/sift_query20.fvecs" \
    --gt "$D/sift2k_gt100_l2.ivecs"
  assert_output --partial "ix.vdb: a FIFO"
  run -66 timeout 10 vdb-quantize encode -q q.vdbq "$D/sift_query20.fvecs"
  assert_output --partial "q.vdbq: a FIFO"
}

@test "an index truncated while a query maps it: exit 74 naming the file, not SIGBUS" {
  vdb-build -q -o ix.vdb "$D/sift2k_base.fvecs"
  vdb-build -q -o other.vdb "$D/sift2k_base.fvecs"
  mkfifo queries
  for set in "ix.vdb" "other.vdb ix.vdb"; do
    cp other.vdb keep.vdb
    local args=()
    for f in $set; do args+=(-x "$f"); done
    rm -f out err
    vdb-query "${args[@]}" -b 1 -k 3 queries >out 2>err &
    local pid=$!
    exec 7>queries # (bats keeps 3 for itself)
    head -c 516 "$D/sift_query20.fvecs" >&7 # one query (dim 128)
    for _ in $(seq 1 100); do [ -s out ] && break; sleep 0.1; done
    [ "$(wc -l <out)" -eq 1 ]
    truncate -s 0 ix.vdb # in place, as cp over it would
    head -c 516 "$D/sift_query20.fvecs" >&7
    exec 7>&-
    local rc=0
    wait "$pid" || rc=$?
    cat err
    [ "$rc" -eq 74 ]
    grep -q '^vdb-query: error: ix.vdb: the index file changed under this command (truncated or overwritten in place; replace indexes by rename)$' err
    [ "$(grep -c 'the index file changed' err)" -eq 1 ]
    cp keep.vdb ix.vdb
  done
}
