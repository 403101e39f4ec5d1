#!/usr/bin/env bats
# vdb-text chunk: every chunk checked against an independent reference in
# python3 (the source's bytes, the word, sentence and paragraph rules of
# vdb-text(1)), never against vdb's own earlier output.
load helpers

# check MODE N M MAX KIND SOURCE... < CHUNKS: python recomputes the chunks of
# every document (KIND jsonl: records of each SOURCE; plain: each SOURCE one
# document, its id the path) and compares them, record by record, with the
# chunk records on stdin: ids DOC#N numbered 0..n-1, "text" the source's
# UTF-8 bytes [start, end), metadata the document's plus "chunk", every
# other field kept in its place.
CHECK_PY=$(cat <<'PY'
import json, re, sys
mode, n, m, mx, kind = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
WS = b" \t\n\r\x0b\x0c"
def strip_span(b, s, e):
    while s < e and b[s] in WS: s += 1
    while e > s and b[e - 1] in WS: e -= 1
    return s, e
def paragraphs(b):
    out, pos = [], 0
    for sep in list(re.finditer(rb"\n[ \t\r\x0b\x0c]*\n", b)) + [None]:
        end = sep.start() if sep else len(b)
        s, e = strip_span(b, pos, end)
        if s < e: out.append((s, e))
        if sep: pos = sep.end()
    return out
CLOSE = rb"(?:[\"')\]}]|\xc2\xbb|\xe2\x80[\x99\x9d]|\xe3\x80[\x8d\x8f]|\xef\xbc\x89)*"
END = re.compile(rb"[.!?]+" + CLOSE + rb"(?=[ \t\n\r\x0b\x0c]|\Z)|(?:\xe3\x80\x82|\xef\xbc[\x81\x9f])+" + CLOSE)
def sentences(b):
    out = []
    for ps, pe in paragraphs(b):
        pos = ps
        while True:
            while pos < pe and b[pos] in WS: pos += 1
            if pos >= pe: break
            mt = END.search(b, pos, pe)
            e = mt.end() if mt else pe
            out.append((pos, e)); pos = e
    return out
WORD = re.compile(rb"[^ \t\n\r\x0b\x0c]+")
def units(b):
    if mode == "words": return [(x.start(), x.end()) for x in WORD.finditer(b)]
    return sentences(b) if mode == "sentences" else paragraphs(b)
def windows(u):
    out, i = [], 0
    while i < len(u):
        j = min(i + n, len(u)); out.append((u[i][0], u[j - 1][1]))
        if j == len(u): break
        i += n - m
    return out
def cut(b, s, e):  # pieces of at most mx bytes: at the last word end, else between characters
    out = []
    while e - s > mx:
        k = s + mx
        while k > s and not (b[k] in WS and b[k - 1] not in WS): k -= 1
        if k > s:
            out.append((s, k)); s = k
            while b[s] in WS: s += 1
        else:
            k = s + mx
            while b[k] & 0xC0 == 0x80: k -= 1
            out.append((s, k)); s = k
    return out + [(s, e)]
docs = []
for src in sys.argv[6:]:
    if kind == "plain":
        docs.append(({"id": src}, open(src, "rb").read()))
    else:
        for line in open(src, "rb"):
            if line.strip(): r = json.loads(line); docs.append((r, r["text"].encode()))
got = [json.loads(l) for l in sys.stdin.buffer]
want = []
for r, b in docs:
    meta = r.get("metadata") or {}
    spans = [p for w in windows(units(b)) for p in cut(b, *w)]
    for i, (s, e) in enumerate(spans):
        c = dict(r); c["id"] = "%s#%d" % (r["id"], i); c["text"] = b[s:e].decode("utf-8")
        c["metadata"] = dict(meta, chunk={"source": r["id"], "number": i, "start": s, "end": e})
        want.append(c)
for i, (g, w) in enumerate(zip(got, want)):
    if g != w or list(g) != list(w):
        sys.exit("chunk record %d:\n got  %s\n want %s" % (i, json.dumps(g, ensure_ascii=False), json.dumps(w, ensure_ascii=False)))
    t = g["text"].encode()
    assert len(t) <= mx and t.strip() == t and t, g
if len(got) != len(want):
    sys.exit("%d chunk records, want %d" % (len(got), len(want)))
print(len(got))
PY
)
check() { python3 -c "$CHECK_PY" "$@"; }

# the bundled sample: English, French (as \u escapes), combining marks,
# Chinese, Japanese, emoji (ZWJ sequences, flags), CRLF, \v and \f, Cyrillic,
# Greek, Hebrew, Arabic, an integer id, null metadata, extra fields
S=text_sample.jsonl

@test "chunk: default (200 words, overlap 40): the sample's chunks are its bytes, metadata and fields kept" {
  run -0 --separate-stderr vdb-text chunk "$D/$S"
  echo "$output" >out.jsonl
  run -0 check words 200 40 1048576 jsonl "$D/$S" <out.jsonl
  [ "$output" -eq 9 ]   # ten documents, one only whitespace
}

@test "chunk: --words N --overlap M are the word windows python computes, on non-ASCII text" {
  for nm in "5 2" "3 0" "1 0" "7 6" "40 10"; do
    set -- $nm
    vdb-text chunk --quiet --words "$1" --overlap "$2" "$D/$S" >out.jsonl
    run -0 check words "$1" "$2" 1048576 jsonl "$D/$S" <out.jsonl
  done
}

@test "chunk: --sentences N follows the sentence rule (. ! ? then whitespace, closers, CJK stops)" {
  for nm in "1 0" "2 1" "3 0"; do
    set -- $nm
    vdb-text chunk --quiet --sentences "$1" --overlap "$2" "$D/$S" >out.jsonl
    run -0 check sentences "$1" "$2" 1048576 jsonl "$D/$S" <out.jsonl
  done
  vdb-text chunk --quiet --sentences 1 "$D/$S" >out.jsonl
  run -0 jq -r 'select(.id | startswith("zh-4#")) | .text' out.jsonl
  assert_line --index 1 "这是第二句！"
  assert_line --index 3 "「引号里的句子。」"
}

@test "chunk: --paragraphs splits at blank lines (whitespace-only lines) like python" {
  vdb-text chunk --quiet --paragraphs "$D/$S" >out.jsonl
  run -0 check paragraphs 1 0 1048576 jsonl "$D/$S" <out.jsonl
  run -0 jq -r 'select(.id == "en-1#2") | .text' out.jsonl
  assert_output "A third, indented paragraph with trailing spaces."
}

@test "chunk: --max-bytes cuts at whitespace, or between characters, never inside one" {
  for mx in 4 5 10 11 17 64; do
    vdb-text chunk --quiet --words 12 --overlap 3 --max-bytes $mx "$D/$S" >out.jsonl
    run -0 check words 12 3 $mx jsonl "$D/$S" <out.jsonl
    vdb-text chunk --quiet --paragraphs --max-bytes $mx "$D/$S" >out.jsonl
    run -0 check paragraphs 1 0 $mx jsonl "$D/$S" <out.jsonl
    vdb-text chunk --sentences 2 --max-bytes $mx "$D/text_plain.txt" >out.jsonl
    run -0 check sentences 2 0 $mx plain "$D/text_plain.txt" <out.jsonl
  done
  # a CJK text without whitespace, cut every 10 bytes: 3 characters of 3 bytes a chunk
  python3 -c 'import json; print(json.dumps({"id": "cjk", "text": "漢字" * 50}))' >cjk.jsonl
  vdb-text chunk --max-bytes 10 cjk.jsonl >out.jsonl
  run -0 check words 200 40 10 jsonl cjk.jsonl <out.jsonl
  [ "$output" -eq 34 ]
  run -0 jq -r '.text | utf8bytelength' out.jsonl
  assert_line --index 0 9
}

@test "chunk: escapes and controls in ids, texts, metadata and other fields come out as the source" {
  python3 -c 'import json
recs = [{"id": "q\"uo\\te\u00e9#\u2028", "text": "tab\there \"quoted\" back\\slash ctl\u0001\u001f\u007f nul\u0000 end.\n\nls\u2028ps\u2029 bs\b ff\f z", "metadata": {"k\"ey": "v\\al\n", "n": -3, "f": 0.25, "t": True, "z": None, "a": [], "o": {}}, "w": "\u0000\"\\"},
        {"text": "no metadata, integer id, fields around", "id": -42, "before": [1, "two", {"three": 3}]},
        {"metadata": {}, "text": "empty metadata first", "id": 0}]
for r in recs: print(json.dumps(r))' >esc.jsonl
  vdb-text chunk --words 3 --overlap 1 esc.jsonl >out.jsonl
  run -0 check words 3 1 1048576 jsonl esc.jsonl <out.jsonl
  vdb-text chunk --paragraphs esc.jsonl >out.jsonl
  run -0 check paragraphs 1 0 1048576 jsonl esc.jsonl <out.jsonl
  run -0 jq -r 'select(.metadata.chunk.source == -42) | .id' out.jsonl
  assert_output "-42#0"
}

@test "chunk: plain text files are one document each, the file name as given its id" {
  mkdir docs
  cp "$D/text_plain.txt" docs/a.txt
  printf 'Second file.\n\nWith two paragraphs — ünïcödé.' >docs/b.txt
  printf '{not json, but --plain: text}\n' >docs/c.txt
  vdb-text chunk --plain --words 4 --overlap 1 docs/*.txt >out.jsonl
  run -0 check words 4 1 1048576 plain docs/a.txt docs/b.txt docs/c.txt <out.jsonl
  run -0 jq -r '.metadata.chunk.source' out.jsonl
  assert_line --index 0 docs/a.txt
  # without --plain, a file starting with '{' is JSONL
  run -65 vdb-text chunk docs/c.txt
  assert_output --partial "docs/c.txt: line 1 (record 0): malformed JSON"
  # stdin (no FILE, or -) is the document "stdin"
  vdb-text chunk --paragraphs <docs/b.txt >out.jsonl
  run -0 jq -r .id out.jsonl
  assert_output $'stdin#0\nstdin#1'
  vdb-text chunk --paragraphs - <"$D/$S" >out.jsonl
  run -0 check paragraphs 1 0 1048576 jsonl "$D/$S" <out.jsonl
}

@test "chunk: every chunk of the WordNet gloss corpus is its bytes (real data)" {
  [ -f "$VDB_SHARED_DATA/wordnet-fasttext/wordnet_gloss_corpus.txt.gz" ] ||
    skip "../shared/data is absent (set VDB_SHARED_DATA to run the real-data tests)"
  gzip -dc "$VDB_SHARED_DATA/wordnet-fasttext/wordnet_gloss_corpus.txt.gz" |
    python3 -c 'import json, sys
for i, l in enumerate(sys.stdin): print(json.dumps({"id": "g%d" % i, "text": l.rstrip("\n"), "metadata": {"line": i + 1}}))' >gloss.jsonl
  vdb-text chunk --quiet --words 12 --overlap 3 --max-bytes 100 gloss.jsonl >out.jsonl
  run -0 check words 12 3 100 jsonl gloss.jsonl <out.jsonl
  [ "$output" -gt 150000 ]
}

@test "chunk: JSONL on 1 or 4 threads: chunks in input order; a bad record stops after exactly those before it" {
  python3 -c 'import json
for i in range(20000):
    print(json.dumps({"id": i, "text": " ".join("w%d_%d" % (i, k) for k in range(i % 7 + 1)), "metadata": {"i": i}}))' >many.jsonl
  head -n 18000 many.jsonl >good.jsonl  # the bad record is in the second batch of 16384
  # every record after the first bad one is bad too: each thread meets one of them
  { cat good.jsonl; echo '{"id": "bad", "txt": "no text"}'
    for i in $(seq 3000); do echo '{"id": "worse", "text": 5}'; done; } >bad.jsonl
  for t in 1 4; do
    vdb-text chunk -t $t --words 3 --overlap 1 many.jsonl >out.jsonl
    run -0 check words 3 1 1048576 jsonl many.jsonl <out.jsonl
    run -65 --separate-stderr vdb-text chunk -t $t --words 3 --overlap 1 bad.jsonl
    [ "$stderr" = 'vdb-text chunk: error: bad.jsonl: line 18001 (record 18000): "text" is missing' ]
    echo "$output" >out.jsonl
    run -0 check words 3 1 1048576 jsonl good.jsonl <out.jsonl
  done
}

@test "chunk: a producer that pauses gets the chunks of what it sent, before it ends" {
  mkfifo in
  vdb-text chunk <in >out.jsonl 3>&- &
  pid=$!
  exec 7>in
  echo '{"id": 1, "text": "first document"}' >&7
  for _ in $(seq 100); do [ -s out.jsonl ] && break; sleep 0.05; done
  run -0 cat out.jsonl   # the input is still open
  assert_output --partial '"id":"1#0"'
  echo '{"id": 2, "text": "second"}' >&7
  exec 7>&-
  wait $pid
  run -0 jq -r .id out.jsonl
  assert_output $'1#0\n2#0'
}

@test "chunk: a document of only whitespace gives no chunk and a warning (--quiet: none)" {
  printf '{"id": "a", "text": " \\n\\t "}\n{"id": "b", "text": "word"}\n' >ws.jsonl
  run -0 --separate-stderr vdb-text chunk ws.jsonl
  assert_output --partial '"id":"b#0"'
  [ "${#lines[@]}" -eq 1 ]
  [[ "$stderr" == *"ws.jsonl: line 1 (record 0): the text is empty or only whitespace: no chunks"* ]]
  run -0 --separate-stderr vdb-text chunk --quiet ws.jsonl
  [ -z "$stderr" ]
  # an empty plain file is a document without text too
  : >empty.txt
  run -0 --separate-stderr vdb-text chunk empty.txt
  [ -z "$output" ]
  [[ "$stderr" == *"empty.txt: the text is empty or only whitespace: no chunks"* ]]
}

@test "chunk: invalid UTF-8 is 65 naming the input and the record; no chunk of it is written" {
  printf '{"id": "ok", "text": "fine"}\n{"id": "bad", "text": "caf\xe9 au lait"}\n' >bad.jsonl
  run -65 --separate-stderr vdb-text chunk bad.jsonl
  [[ "$stderr" == *"bad.jsonl: line 2 (record 1): invalid UTF-8 at byte 26"* ]]
  assert_output '{"id":"ok#0","text":"fine","metadata":{"chunk":{"source":"ok","number":0,"start":0,"end":4}}}'
  # an escaped lone surrogate is no character either
  printf '{"id": "s", "text": "a \\ud800 b"}\n' >sur.jsonl
  run -65 vdb-text chunk sur.jsonl
  assert_output --partial "sur.jsonl: line 1 (record 0): malformed JSON"
  # a plain file: an overlong '/', then a character cut by the end of the file
  printf 'abc \xc0\xaf def' >bad.txt
  run -65 --separate-stderr vdb-text chunk bad.txt
  [[ "$stderr" == *"bad.txt: invalid UTF-8 at byte 4 (0xc0)"* ]]
  [ -z "$output" ]
  printf 'abc \xe2\x82' >cut.txt
  run -65 vdb-text chunk cut.txt
  assert_output --partial "cut.txt: invalid UTF-8 at byte 4"
}

@test "chunk: records without a usable id or text are 65, each named" {
  for rec in '{"text": "no id"}|"id" is missing' '{"id": 1.5, "text": "x"}|"id" must be' \
             '{"id": "", "text": "x"}|"id" must be' '{"id": "a"}|"text" is missing' \
             '{"id": "a", "text": ""}|"text" is empty' '{"id": "a", "text": 7}|"text" must be a string' \
             '{"id": "a", "text": "x", "metadata": [1]}|"metadata" must be an object' \
             '{"id": "a", "text": "x", "metadata": {"chunk": 1}}|"metadata" has a "chunk" already' \
             '["id", "text"]|expected an object' '{"id": "a", "id": "b", "text": "x"}|malformed JSON'; do
    printf '\n{"id": "first", "text": "ok"}\n%s\n' "${rec%|*}" >r.jsonl
    run -65 --separate-stderr vdb-text chunk r.jsonl
    [[ "$stderr" == *"r.jsonl: line 3 (record 1): ${rec#*|}"* ]] || { echo "$rec: $stderr"; false; }
  done
}

@test "chunk: a missing input or a directory is 66; over the limits is 65 naming the limit" {
  run -66 vdb-text chunk nope.txt
  assert_output --partial "nope.txt"
  mkdir dir
  run -66 vdb-text chunk dir
  assert_output --partial "dir: is a directory"
  truncate -s $((256 * 1024 * 1024 + 1)) huge.txt
  run -65 vdb-text chunk huge.txt
  assert_output --partial "huge.txt: the document is longer than the limit of 256 MiB (VDB_MAX_DOCUMENT)"
  # the same through a pipe, read until the limit
  run -65 bash -c 'head -c $((256 * 1024 * 1024 + 1)) /dev/zero | tr "\0" a | vdb-text chunk'
  assert_output --partial "stdin: the document is longer than the limit of 256 MiB"
  python3 -c 'print("{\"id\": \"long\", \"text\": \"" + "a " * (32 * 1024 * 1024 + 1) + "\"}")' >long.jsonl
  run -65 vdb-text chunk long.jsonl
  assert_output --partial "long.jsonl: line 1 is longer than the limit of 64 MiB (VDB_MAX_LINE)"
}

@test "chunk: bad options are usage errors (64)" {
  run -64 vdb-text chunk --words 5 --overlap 5 "$D/$S"
  assert_output --partial "--overlap 5 must be less than the 5 words"
  run -64 vdb-text chunk --words 5 --paragraphs "$D/$S"
  assert_output --partial "give one way to chunk"
  run -64 vdb-text chunk --paragraphs --overlap 1 "$D/$S"
  run -64 vdb-text chunk --max-bytes 3 "$D/$S"
  run -64 vdb-text chunk --max-bytes 1048577 "$D/$S"
  run -64 vdb-text chunk --words 0 "$D/$S"
  run -64 vdb-text chunk --sentences "$D/$S"
}

@test "chunk: -c YAML gives the options; the command line wins" {
  printf 'words: 3\noverlap: 1\nmax-bytes: 64\n' >c.yaml
  vdb-text chunk -c c.yaml "$D/$S" >out.jsonl
  run -0 check words 3 1 64 jsonl "$D/$S" <out.jsonl
  vdb-text chunk -c c.yaml --paragraphs --overlap 0 "$D/$S" >out.jsonl
  run -0 check paragraphs 1 0 64 jsonl "$D/$S" <out.jsonl
}

@test "chunk: --help names every option, each in vdb-text(1); --version; --progress; -v" {
  run -0 vdb-text chunk --help
  for o in --words --overlap --sentences --paragraphs --max-bytes --plain --config --verbose \
           --quiet --progress --help --version; do
    assert_output --partial -- "$o"
    grep -qF -- "${o//-/\\-}" "$VDB_SRCDIR/man/vdb-text.1" || { echo "$o is not in vdb-text.1"; false; }
  done
  run -0 vdb-text chunk --version
  assert_output --partial "vdb-text chunk"
  for i in $(seq 5000); do echo "{\"id\": $i, \"text\": \"word $i\"}"; done >many.jsonl
  run -0 --separate-stderr vdb-text chunk --progress -v many.jsonl
  [[ "$stderr" == *"documents 4096"* ]]
  [[ "$stderr" == *"5000 documents (0 without text), 5000 chunks"* ]]
}
