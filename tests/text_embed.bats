#!/usr/bin/env bats
# vdb-text embed: fastText sentence vectors through libfasttext against the
# fastText CLI's own, word vectors (.vec) against a python mean, external
# embedders (--exec) and every way they can misbehave, and the records'
# refusals: each one message naming the record, no line of it written.
load helpers

setup_file() {
  M=$BATS_FILE_TMPDIR/m
  export M
  # a tiny skip-gram model of the bundled gloss sample (its .vec comes too)
  fasttext skipgram -input "$VDB_TESTDATA/embed_gloss_sample.txt" -output "$M" -dim 16 \
    -epoch 1 -minCount 1 -thread 1 -bucket 10000 -seed 1 >"$M.log" 2>&1
}

# texts FILE: records {"id": "rN", "text": ..., "metadata": {...}} of the
# sample's lines and of texts with unseen words, runs of spaces, tabs,
# newlines, carriage returns and non-ASCII letters
texts() {
  python3 - "$VDB_TESTDATA/embed_gloss_sample.txt" >"$1" <<'PY'
import json, sys
t = [l.rstrip("\n") for l in open(sys.argv[1], encoding="utf-8")]
t += ["zyxwvut qqqqplmk unseenwords", "the   cat \t\t sat", "a dog\nbarks\r\nloudly",
      "café naïve ünïcödé words", "  leading and trailing  ", "ENTITY Physical"]
for i, s in enumerate(t):
    print(json.dumps({"id": "r%d" % i, "text": s, "metadata": {"n": i}}, ensure_ascii=False))
PY
}

# close A B REL: every number of A's lines within REL (relative) of B's
close() {
  python3 - "$@" <<'PY'
import sys
a = [[float(x) for x in l.split()] for l in open(sys.argv[1])]
b = [[float(x) for x in l.split()] for l in open(sys.argv[2])]
rel = float(sys.argv[3])
assert len(a) == len(b), "%d lines, expected %d" % (len(a), len(b))
for i, (u, v) in enumerate(zip(a, b)):
    assert len(u) == len(v), "line %d: %d values, expected %d" % (i + 1, len(u), len(v))
    for x, y in zip(u, v):
        assert abs(x - y) <= rel * abs(y) + 1e-7, "line %d: %r vs %r" % (i + 1, x, y)
PY
}

vectors() { jq -r '.vector | map(tostring) | join(" ")' "$@"; }

@test "--model .bin: the vectors fasttext print-sentence-vectors prints, unseen words, spaces, tabs and newlines included" {
  texts in.jsonl
  run -0 vdb-text embed --model "$M.bin" in.jsonl
  echo "$output" >out.jsonl
  # the CLI reads one text a line: newlines and carriage returns as spaces
  jq -r '.text | gsub("[\n\r]"; " ")' in.jsonl | fasttext print-sentence-vectors "$M.bin" >ref.txt
  vectors out.jsonl >got.txt
  # the CLI prints 5 significant digits
  close got.txt ref.txt 6e-5
  [ "$(wc -l <out.jsonl)" -eq 306 ]
}

@test "--model .bin: a supervised model's vectors are the CLI's too (its end-of-line token counted)" {
  awk '{ print "__label__" (NR % 3), $0 }' "$VDB_TESTDATA/embed_gloss_sample.txt" >sup.txt
  fasttext supervised -input sup.txt -output sup -dim 8 -epoch 1 -bucket 1000 -wordNgrams 2 \
    -thread 1 -seed 1 >/dev/null 2>&1
  texts in.jsonl
  run -0 vdb-text embed --model sup.bin in.jsonl
  echo "$output" >out.jsonl
  jq -r '.text | gsub("[\n\r]"; " ")' in.jsonl | fasttext print-sentence-vectors sup.bin >ref.txt
  vectors out.jsonl >got.txt
  close got.txt ref.txt 6e-5
}

@test "--model .bin: two threads and batches of 7 give the same bytes as one thread" {
  texts in.jsonl
  vdb-text embed -m "$M.bin" -t 1 in.jsonl >one.jsonl
  vdb-text embed -m "$M.bin" -t 2 --batch 7 in.jsonl >two.jsonl
  [ -s one.jsonl ]
  cmp one.jsonl two.jsonl
}

@test "records keep every field in order; vector replaced in place; embedder names the model, its XXH3 and dim" {
  printf '%s\n' '{"z": 1, "id": "a", "vector": [9], "text": "the cat", "metadata": {"k": [1, "x"]}, "extra": null}' \
    '{"text": "a dog", "id": 7}' >in.jsonl
  run -0 vdb-text embed -m "$M.bin" in.jsonl
  echo "$output" >out.jsonl
  [ "$(jq -c keys_unsorted out.jsonl | head -1)" = '["z","id","vector","text","metadata","extra","embedder"]' ]
  [ "$(jq -c keys_unsorted out.jsonl | tail -1)" = '["text","id","vector","embedder"]' ]
  [ "$(jq -c .metadata out.jsonl | head -1)" = '{"k":[1,"x"]}' ]
  [ "$(jq -c '.vector | length' out.jsonl | sort -u)" = 16 ]
  xx=$(xxhsum -H3 "$M.bin" | sed 's/.* = //')
  [ "$(jq -c .embedder out.jsonl | sort -u)" = "{\"kind\":\"fasttext\",\"name\":\"m.bin\",\"xxh3\":\"$xx\",\"dim\":16}" ]
  # a fastText model is known by its magic number, whatever its name
  cp "$M.bin" model.data
  run -0 vdb-text embed -m model.data in.jsonl
  [ "$(jq -r .embedder.kind <<<"$output" | sort -u)" = fasttext ]
  [ "$(vectors <<<"$output")" = "$(vectors out.jsonl)" ]
  # printed to round-trip float32: 9 significant digits
  python3 -c '
import json, struct
for l in open("out.jsonl"):
    for t in json.loads(l, parse_float=str, parse_int=str)["vector"]:
        f = struct.unpack("f", struct.pack("f", float(t)))[0]
        assert "%.9g" % f == t, t'
}

@test "--model .vec: the mean of the unit vectors of the known words, as a python reference computes it" {
  texts all.jsonl
  grep -v unseenwords all.jsonl >in.jsonl
  run -0 vdb-text embed --model "$M.vec" in.jsonl
  echo "$output" >out.jsonl
  vectors out.jsonl >got.txt
  python3 - "$M.vec" >ref.txt <<'PY'
import json, math, re, sys
lines = open(sys.argv[1], encoding="utf-8").read().split("\n")
vec = {}
for l in lines[1:]:                       # the first line is "COUNT DIM"
    f = l.split()
    if f and f[0] not in vec:
        vec[f[0]] = [float(x) for x in f[1:]]
for l in open("in.jsonl", encoding="utf-8"):
    words = [w for w in re.split(r"[ \t\n\v\f\r]+", json.loads(l)["text"]) if w]
    acc, n = [0.0] * 16, 0
    for w in words:
        v = vec.get(w) or vec.get(re.sub("[A-Z]", lambda m: m.group(0).lower(), w))
        norm = math.sqrt(sum(x * x for x in v)) if v else 0
        if norm > 0:
            acc = [a + x / norm for a, x in zip(acc, v)]
            n += 1
    print(" ".join(repr(a / n) for a in acc) if n else "NONE")
PY
  run -1 grep -q NONE ref.txt
  close got.txt ref.txt 1e-5
  [ "$(jq -r .embedder.kind out.jsonl | sort -u)" = vec ]
}

@test "--model .vec: exact word first, then lowercased; a text without a known word is refused naming it" {
  printf '3 2\ncat 3 4\nDog 1 0\ndog 0 1\n' >w.vec
  printf '%s\n' '{"id": "a", "text": "Cat Dog"}' '{"id": "b", "text": "DOG\tunknown"}' >in.jsonl
  run -0 vdb-text embed -m w.vec in.jsonl
  [ "$(jq -c .vector <<<"$output" | head -1)" = '[0.800000012,0.400000006]' ]
  [ "$(jq -c .vector <<<"$output" | tail -1)" = '[0,1]' ]
  # GloVe's form: no "COUNT DIM" line, any file name
  printf 'cat 3 4\nDog 1 0\ndog 0 1\n' >glove.txt
  run -0 vdb-text embed -m glove.txt in.jsonl
  [ "$(jq -c .vector <<<"$output" | head -1)" = '[0.800000012,0.400000006]' ]
  printf '%s\n' '{"id": "c", "text": "bird"}' >>in.jsonl
  run -65 vdb-text embed -m w.vec in.jsonl
  assert_output --partial 'in.jsonl: line 3 (record 2, id "c"): no word of the text has a vector in w.vec'
  refute_output --partial '"vector"'
}

@test "--model .vec: ragged dimensions, non-numbers, a short file and non-models are refused naming the line" {
  printf '{"text": "cat"}\n' >in.jsonl
  printf 'cat 1 2\ndog 1 2 3\n' >ragged.vec
  run -65 vdb-text embed -m ragged.vec in.jsonl
  assert_output --partial 'ragged.vec: line 2: the word'"'"'s vector has 3 values, not 2'
  printf '2 2\ncat 1 2\ndog 1 x2\n' >nan.vec
  run -65 vdb-text embed -m nan.vec in.jsonl
  assert_output --partial "nan.vec: line 3: value 2, 'x2', is not a number"
  printf '3 2\ncat 1 2\ndog 1 2\n' >short.vec
  run -65 vdb-text embed -m short.vec in.jsonl
  assert_output --partial 'short.vec: 2 words, but its first line says 3'
  printf '2 2\ncat 1 inf\n' >inf.vec
  run -65 vdb-text embed -m inf.vec in.jsonl
  assert_output --partial 'inf.vec: line 2: value 2, inf, is not a finite float'
  head -c 3000 /dev/urandom >random.vec
  run -65 vdb-text embed -m random.vec in.jsonl
  assert_output --partial 'random.vec: line'
  : >empty.vec
  run -65 vdb-text embed -m empty.vec in.jsonl
  assert_output --partial 'empty.vec: the model file is empty'
}

@test "a model that is not fastText, or a truncated one, is 65 before libfasttext reads it; a missing one 66" {
  printf '{"text": "cat"}\n' >in.jsonl
  run -66 vdb-text embed -m nowhere.bin in.jsonl
  assert_output --partial 'nowhere.bin: cannot open the model'
  run -66 vdb-text embed -m "$M.bin" nowhere.jsonl
  assert_output --partial 'nowhere.jsonl: cannot open'
  mkdir dir.jsonl
  run -66 vdb-text embed -m "$M.bin" dir.jsonl
  assert_output --partial 'dir.jsonl: cannot open: a directory'
  cp "$VDB_TESTDATA/embed_gloss_sample.txt" text.bin
  run -65 vdb-text embed -m text.bin in.jsonl
  assert_output --partial "text.bin: not a fastText model (its first 4 bytes are not fastText's magic number"
  # every cut of the model's structure: header, arguments, dictionary, matrices
  for n in 6 30 70 200 5000 200000 $(( $(stat -c %s "$M.bin") - 1 )); do
    head -c "$n" "$M.bin" >cut.bin
    run -65 vdb-text embed -m cut.bin in.jsonl
    assert_output --partial 'cut.bin: not a complete fastText model: it ends inside'
  done
  { cat "$M.bin"; printf x; } >long.bin
  run -65 vdb-text embed -m long.bin in.jsonl
  assert_output --partial 'long.bin: not a fastText model: 1 bytes follow'
  # fastText's magic, then garbage: a dimension out of range
  perl -e 'print pack("l<l<l<", 793712314, 12, -5), "\0" x 100' >bad.bin
  run -65 vdb-text embed -m bad.bin in.jsonl
  assert_output --partial 'bad.bin: fastText model of dimension -5: out of range'
}

@test "--exec: the fastText CLI as an external embedder gives the vectors of --model, in order, over many batches" {
  texts in.jsonl
  vdb-text embed -m "$M.bin" in.jsonl >model.jsonl
  run -0 vdb-text embed --exec "fasttext print-sentence-vectors '$M.bin'" --batch 50 in.jsonl
  echo "$output" >exec.jsonl
  [ "$(jq -r .id exec.jsonl | tr '\n' ' ')" = "$(jq -r .id in.jsonl | tr '\n' ' ')" ]
  vectors exec.jsonl >got.txt
  vectors model.jsonl >ref.txt
  close got.txt ref.txt 6e-5
  [ "$(jq -r .embedder.kind exec.jsonl | sort -u)" = exec ]
  [ "$(jq -r .embedder.name exec.jsonl | sort -u)" = "fasttext print-sentence-vectors '$M.bin'" ]
  xx=$(printf '%s' "fasttext print-sentence-vectors '$M.bin'" | xxhsum -H3 | sed 's/.* = //; s/ .*//')
  [ "$(jq -r .embedder.xxh3 exec.jsonl | sort -u)" = "$xx" ]
  # a JSON array a line is a vector too
  run -0 vdb-text embed --exec 'while read -r l; do echo "[1, 2.5, -3]"; done' in.jsonl
  [ "$(jq -c .vector <<<"$output" | sort -u)" = '[1,2.5,-3]' ]
}

@test "--exec: a batch far larger than the pipes' buffers goes through without a deadlock" {
  python3 -c '
import json
for i in range(3000):
    print(json.dumps({"id": i, "text": "word%d " % i * 200}))' >in.jsonl
  run -0 vdb-text embed --exec 'awk "{ s = NR; for (i = 1; i < 64; i++) s = s \" \" i; print s }"' \
    --batch 3000 --timeout 60 in.jsonl
  echo "$output" >out.jsonl
  [ "$(wc -l <out.jsonl)" -eq 3000 ]
  # line N of the embedder's output went to record N-1
  [ "$(jq -r '"\(.id) \(.vector[0])"' out.jsonl | awk '$1 + 1 != $2' | wc -l)" -eq 0 ]
}

# misbehave CMD STATUS MESSAGE: with batches of 2 the second batch (records
# 2 and 3) fails: the first batch's two lines are out, whole, and nothing of
# the failing one
misbehave() {
  printf '%s\n' '{"id": "a", "text": "one"}' '{"id": "b", "text": "two"}' \
    '{"id": "c", "text": "three"}' '{"id": "d", "text": "four"}' >in.jsonl
  run -"$2" vdb-text embed --exec "$1" --batch 2 --timeout 1 in.jsonl
  assert_output --partial "$3"
  [ "$(grep -c '^{' <<<"$output")" -eq 2 ]
  [ "$(grep '^{' <<<"$output" | jq -r .id | tr '\n' ' ')" = "a b " ]
  [ "$(grep -c 'error' <<<"$output")" -eq 1 ]
}

# the embedder: vectors of 3 for the first batch, then MISBEHAVIOUR
ok_then() { printf 'if grep -q one; then echo 1 2 3; echo 4 5 6; else %s; fi' "$1"; }

@test "--exec: an embedder that exits 3 is 70, naming the record and quoting its stderr" {
  misbehave "$(ok_then 'echo "model not loaded" >&2; exit 3')" 70 \
    'in.jsonl: line 3 (record 2, id "c"): the embedder exited with status 3; it had printed 0 of the batch'"'"'s 2 vectors; its last message: model not loaded'
}

@test "--exec: an embedder killed by a signal is 70, naming the record" {
  misbehave "$(ok_then 'echo 1 2 3; kill -9 $$')" 70 \
    'in.jsonl: line 4 (record 3, id "d"): the embedder was killed by signal 9'
}

@test "--exec: one line short is 65, naming the record without a vector" {
  misbehave "$(ok_then 'echo 1 2 3')" 65 \
    'in.jsonl: line 4 (record 3, id "d"): the embedder printed 1 lines for the batch'"'"'s 2 texts'
}

@test "--exec: one line too many is 65" {
  misbehave "$(ok_then 'echo 1 2 3; echo 1 2 3; echo 1 2 3')" 65 \
    "the embedder's output line 3: more lines than the 2 texts of the batch"
}

@test "--exec: a wrong dimension is 65, naming the record" {
  misbehave "$(ok_then 'echo 1 2 3; echo 1 2')" 65 \
    'in.jsonl: line 4 (record 3, id "d"): the embedder'"'"'s output line 2: a vector of dimension 2, not 3'
}

@test "--exec: nan, or a word, where a number belongs is 65, naming the record" {
  misbehave "$(ok_then 'echo 1 nan 3; echo 1 2 3')" 65 \
    'in.jsonl: line 3 (record 2, id "c"): the embedder'"'"'s output line 1: value 2 of the vector is nan: not a finite float'
  misbehave "$(ok_then 'echo 1 2 3; echo 1 2 three')" 65 \
    "line 4 (record 3, id \"d\"): the embedder's output line 2: value 3 of the vector, 'three', is not a number"
}

@test "--exec: an embedder that hangs is killed, with its process group, after --timeout" {
  start=$(date +%s)
  misbehave "$(ok_then 'sleep 30 & sleep 30')" 70 \
    'in.jsonl: line 3 (record 2, id "c"): the embedder neither read nor wrote for 1 s (--timeout) and was killed'
  [ $(( $(date +%s) - start )) -lt 10 ]
}

@test "--exec: a slow embedder that keeps writing is not cut off by --timeout" {
  for i in 1 2 3 4 5 6; do echo "{\"id\": $i, \"text\": \"t$i\"}"; done >in.jsonl
  # 6 vectors, 0.4 s apart: 2.4 s for the batch, never 1 s without a line
  run -0 --separate-stderr vdb-text embed --exec 'while read l; do sleep 0.4; echo 1 2 3; done' \
    --batch 6 --timeout 1 in.jsonl
  [ "$(jq -s 'map(.vector == [1, 2, 3]) | all and length == 6' <<<"$output")" = true ]
}

@test "--exec: --dim asserts the dimension" {
  printf '{"text": "x"}\n' >in.jsonl
  run -65 vdb-text embed --exec 'read l; echo 1 2 3' --dim 4 in.jsonl
  assert_output --partial 'in.jsonl: line 1 (record 0): the embedder'"'"'s output line 1: a vector of dimension 3, not 4 (--dim)'
  run -65 vdb-text embed -m "$M.bin" --dim 4 in.jsonl
  assert_output --partial 'the model'"'"'s dimension is 16, not 4 (--dim)'
}

@test "records without text, with a non-string, empty or too long text, or bad JSON are 65 naming the record; none of their lines written" {
  printf '{"id": "a", "text": "fine"}\n' >ok.jsonl
  for bad in '{"id": "x"}' '{"id": "x", "text": 5}' '{"id": "x", "text": ""}' '{"id": "x", "text": "a' \
             '[1]' '{"id": [1], "text": "a"}'; do
    { cat ok.jsonl; echo "$bad"; } >in.jsonl
    run -65 vdb-text embed -m "$M.bin" --batch 1 in.jsonl
    assert_output --partial 'in.jsonl: line 2 (record 1'
    [ "$(grep -c '^{' <<<"$output")" -eq 1 ]
  done
  # text that is not UTF-8
  { cat ok.jsonl; printf '{"id": "x", "text": "caf\xe9"}\n'; } >in.jsonl
  run -65 vdb-text embed -m "$M.bin" --batch 1 in.jsonl
  assert_output --partial 'in.jsonl: line 2 (record 1): malformed JSON'
  [ "$(grep -c '^{' <<<"$output")" -eq 1 ]
  run -65 vdb-text embed -m "$M.bin" <<<'{"id": "x"}'
  assert_output --partial 'stdin: line 1 (record 0, id "x"): "text" is missing'
  python3 -c 'import json; print(json.dumps({"id": "big", "text": "the " * (1 << 18)})); print(json.dumps({"id": "over", "text": "the " * (1 << 18) + "a"}))' >big.jsonl
  run -65 vdb-text embed -m "$M.vec" --batch 1 big.jsonl
  assert_output --partial 'big.jsonl: line 2 (record 1, id "over"): "text" is 1048577 bytes, over the limit of 1048576 (VDB_MAX_TEXT)'
  # the text of exactly VDB_MAX_TEXT bytes went through
  [ "$(grep '^{' <<<"$output" | jq -r .id)" = big ]
}

@test "a text of only spaces, without any word, has no fastText vector: 65" {
  run -65 vdb-text embed -m "$M.bin" <<<'{"id": 3, "text": " \t "}'
  assert_output --partial 'stdin: line 1 (record 0, id 3): the text has no word with a vector in the model'
}

@test "the stream goes into vdb-build, and a question embedded the same way finds its passage" {
  jq -c '{id: ("g" + (input_line_number | tostring)), text: .}' -R "$VDB_TESTDATA/embed_gloss_sample.txt" >docs.jsonl
  vdb-text embed -m "$M.bin" docs.jsonl | vdb-build -o g.vdb -T flat -m cosine
  sed -n 5p docs.jsonl | vdb-text embed -m "$M.bin" >q.jsonl
  run -0 vdb-query -x g.vdb -k 1 q.jsonl
  [ "$(jq -r '.ids[0]' <<<"$output")" = g5 ]
}

@test "usage: one embedder, -c YAML, --help" {
  run -64 vdb-text embed in.jsonl
  assert_output --partial 'no embedder: give --model FILE or --exec CMD'
  run -64 vdb-text embed -m a.bin --exec cat
  assert_output --partial 'give one embedder, not both'
  printf 'model: %s\nbatch: 3\n' "$M.vec" >c.yaml
  run -0 vdb-text embed -c c.yaml <<<'{"text": "the"}'
  [ "$(jq -r .embedder.kind <<<"$output")" = vec ]
  run -0 vdb-text embed --help
  assert_output --partial '--exec CMD'
  assert_output --partial '--timeout'
}
