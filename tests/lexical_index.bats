#!/usr/bin/env bats
# The lexical (BM25) index (issue 19, items 1 and 2): vdb-build --lexical
# indexes each record's text, vdb-query --text ranks by BM25. The reference
# is SQLite's FTS5 (python3's sqlite3 module, tokenize 'unicode61
# remove_diacritics 0', ranked by bm25(): its negation is vdb's score):
# over the WordNet glosses of ../shared/data, --language none, the top 10
# of seeded OR queries of 2 to 5 corpus words are FTS5's, up to tied
# scores, with scores within 1e-4 relative; with a filter, with deleted
# records, after --compact, over shards. Changes (--append, --upsert,
# --delete and --compact) answer as a fresh build of the live records;
# --verify checks each lexical section; bad inputs exit as documented.
load helpers

setup() {
  T=$(mktemp -d "${BATS_TMPDIR:-/tmp}/vdb-test.XXXXXX")
  cd "$T" || return 1
  CORPUS=$VDB_SHARED_DATA/wordnet-fasttext/wordnet_gloss_corpus.txt.gz
}

need_corpus() {
  [ -f "$CORPUS" ] || skip "$CORPUS is absent (set VDB_SHARED_DATA to run the FTS5 comparisons)"
}

# gloss N FIRST: JSONL records of the corpus lines FIRST.. (N of them; 0:
# all), id the line number, a 2-d vector, metadata {"m": id % 3}
gloss() {
  zcat "$CORPUS" | /usr/bin/python3 -c '
import json, sys
n, first = int(sys.argv[1]), int(sys.argv[2])
for i, line in enumerate(sys.stdin):
    if i < first or (n and i >= first + n):
        continue
    print(json.dumps({"id": i, "vector": [i % 7, i % 11], "metadata": {"m": i % 3},
                      "text": line.rstrip("\n")}))' "$1" "$2"
}

# fts JSONL INDEXES NQ SEED [filter | deleted IDS | compacted IDS]: the
# records' texts in FTS5 and NQ seeded OR queries of 2-5 of their words,
# each run through vdb-query -k 10 --text over INDEXES (comma-separated)
# and checked against FTS5's ranking; prints how many differ (and how)
fts() {
  /usr/bin/python3 - "$@" <<'EOF'
import json, random, re, sqlite3, subprocess, sys
src, indexes, nq, seed = sys.argv[1], sys.argv[2].split(','), int(sys.argv[3]), int(sys.argv[4])
mode = sys.argv[5] if len(sys.argv) > 5 else 'plain'
dead = {int(x) for x in open(sys.argv[6])} if mode in ('deleted', 'compacted') else set()
docs = [(r['id'], r.get('text', '')) for r in map(json.loads, open(src))]
db = sqlite3.connect(':memory:')
db.execute("CREATE VIRTUAL TABLE t USING fts5(body, tokenize='unicode61 remove_diacritics 0')")
db.executemany('INSERT INTO t(rowid, body) VALUES (?, ?)',
               ((i, b) for i, b in docs if not (mode == 'compacted' and i in dead)))
extra, args = '', []
if mode == 'filter':
    extra, args = ' AND rowid % 3 = 1', ['--filter', 'm == 1']
elif mode == 'deleted':
    extra = ' AND rowid NOT IN (%s)' % ','.join(map(str, sorted(dead)))
rng = random.Random(seed)
close = lambda a, b: abs(a - b) <= 1e-4 * max(abs(a), abs(b))
bad = 0
for q in range(nq):
    words, want = [], rng.randint(2, 5)
    while len(words) < want:
        toks = re.findall(r'[a-z0-9]+', docs[rng.randrange(len(docs))][1].lower())
        if toks:
            words.append(rng.choice(toks))
    match = ' OR '.join('"%s"' % w for w in words)
    ref = db.execute('SELECT rowid, -bm25(t) FROM t WHERE t MATCH ?%s ORDER BY bm25(t), rowid '
                     'LIMIT 100' % extra, (match,)).fetchall()
    cmd = ['vdb-query', '-k', '10', '--text', ' '.join(words)] + args
    for ix in indexes:
        cmd += ['-x', ix]
    got = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    ids, scores, top, score_of = got['ids'], got['scores'], ref[:10], dict(ref)
    why = None if len(ids) == len(top) else 'vdb %d results, fts5 %d' % (len(ids), len(top))
    for i, (r, s) in enumerate(zip(ids, scores)):
        if why:
            break
        if not close(s, top[i][1]):
            why = 'rank %d: score %r, fts5 %r' % (i + 1, s, top[i][1])
        elif r not in score_of or not close(score_of[r], s):
            why = 'rank %d: id %r scores %r, in fts5 %r' % (i + 1, r, s, score_of.get(r))
    # every row that beats the 10th (not tied with it) is in vdb's top 10
    for r, s in top:
        if not why and not close(s, top[-1][1]) and r not in ids:
            why = 'fts5 id %d (score %r) is missing' % (r, s)
    if why:
        bad += 1
        print('query %d (%s): %s\n  vdb  %s\n  fts5 %s' % (q, match, why, list(zip(ids, scores)),
                                                         top))
print('%d of %d queries differ' % (bad, nq))
EOF
}

@test "lexical: the top 10 of 120 OR queries over the WordNet glosses are FTS5's bm25() ranking" {
  need_corpus
  gloss 0 0 >g.jsonl
  vdb-build -q -o g.vdb --lexical --language none g.jsonl
  run fts g.jsonl g.vdb 120 1
  assert_line "0 of 120 queries differ"
}

@test "lexical: --filter keeps FTS5's ranking of the rows that pass (statistics of them all)" {
  need_corpus
  gloss 20000 5000 >g.jsonl
  vdb-build -q -T hnsw --M 4 -o g.vdb --lexical --language none g.jsonl
  run fts g.jsonl g.vdb 30 2 filter
  assert_line "0 of 30 queries differ"
}

@test "lexical: deleted records never match, and count in the statistics until --compact" {
  need_corpus
  gloss 20000 0 >g.jsonl
  vdb-build -q -o g.vdb --lexical --language none g.jsonl
  /usr/bin/python3 -c 'import random; r = random.Random(3)
print("\n".join(map(str, sorted(r.sample(range(20000), 2000)))))' >dead
  vdb-build -q --delete -x g.vdb dead
  run fts g.jsonl g.vdb 30 4 deleted dead
  assert_line "0 of 30 queries differ"
  vdb-build -q --compact -x g.vdb
  run fts g.jsonl g.vdb 30 5 compacted dead
  assert_line "0 of 30 queries differ"
}

@test "lexical: shards searched as one set rank as FTS5 over all their records" {
  need_corpus
  gloss 20000 0 >g.jsonl
  vdb-build -q -o s0.vdb --shard 0/2 --lexical --language none g.jsonl
  vdb-build -q -o s1.vdb --shard 1/2 --lexical --language none g.jsonl
  run fts g.jsonl s0.vdb,s1.vdb 30 6
  assert_line "0 of 30 queries differ"
}

# answers INDEX: vdb-query --text results of a fixed set of queries
answers() {
  local q
  for q in "dog cat" "a small tree" "the of and" "water body of water" "music instrument" \
    "person who" "genus of plants" "red blue green" "city in France" "act of" "zzzz"; do
    vdb-query -x "$1" -k 15 --text "$q" || return 1
  done
}

@test "lexical: --append, --upsert and --delete with --compact answer as a fresh build of the live records" {
  need_corpus
  gloss 3000 0 >all.jsonl
  head -2000 all.jsonl >a.jsonl
  tail -1000 all.jsonl >b.jsonl
  vdb-build -q -o x.vdb --lexical a.jsonl
  vdb-build -q --append -x x.vdb b.jsonl
  vdb-build -q -o fresh.vdb --lexical all.jsonl
  answers fresh.vdb >want
  answers x.vdb >got
  diff want got
  # upsert: records 100..599 get the texts of 2100..2599 (and move last)
  jq -c 'select(.id >= 2100 and .id < 2600) | .id -= 2000' all.jsonl >u.jsonl
  vdb-build -q --upsert -x x.vdb u.jsonl
  jq -c 'select(.id < 100 or .id >= 600)' all.jsonl >live.jsonl
  cat u.jsonl >>live.jsonl
  vdb-build -q -o fresh.vdb --lexical live.jsonl
  answers fresh.vdb >want
  answers x.vdb >got
  diff want got
  # delete, then compact: as a build of what is left
  seq 0 3 2999 >dead
  vdb-build -q --delete -x x.vdb dead
  vdb-build -q --compact -x x.vdb
  jq -c 'select(.id % 3 != 0)' live.jsonl >left.jsonl
  vdb-build -q -o fresh.vdb --lexical left.jsonl
  answers fresh.vdb >want
  answers x.vdb >got
  diff want got
  vdb-query -x x.vdb --verify
}

# records with texts for the small tests
small() {
  printf '%s\n' '{"id": "a", "vector": [0, 1], "text": "The quick brown fox", "metadata": {"t": "zebra fox"}}' \
    '{"id": "b", "vector": [1, 1], "text": "the lazy dog and the fox, the fox", "metadata": {"t": "dog"}}' \
    '{"id": "c", "vector": [1, 0], "text": "Caf\u00e9 dogs dog DOG", "metadata": {}}' \
    '{"id": "d", "vector": [0, 0]}'
}

@test "lexical: BM25 scores of a small index are FTS5's, worked by hand" {
  small >s.jsonl
  vdb-build -q -o s.vdb --lexical --language none s.jsonl
  # N 4, avglen (4 + 8 + 4 + 0) / 4 = 4; "dog" (not "dogs": no stemming) is
  # in b (tf 1, length 8) and c (tf 2, length 4): idf ln(2.5 / 2.5) = 0, so
  # 1e-6; c: 1e-6 * 2 * 2.2 / (2 + 1.2) = 1.375e-06; b: 1e-6 * 2.2 / (1 +
  # 1.2 * (0.25 + 0.75 * 8 / 4)) = 7.0967742e-07
  run vdb-query -x s.vdb --text "dog"
  assert_output '{"query": 0, "ids": ["c", "b"], "scores": [1.375e-06, 7.096774e-07]}'
  # "lazy": idf ln(3.5 / 1.5) = 0.84729786; in b: 2.2 / 3.1 of it; --b 0 or
  # --k1 0: the idf alone (tf 1)
  run vdb-query -x s.vdb --text "lazy" -O tsv --include text
  assert_output $'0\t1\tb\t0.60130817\t"the lazy dog and the fox, the fox"'
  run vdb-query -x s.vdb --text "lazy" --b 0
  assert_output '{"query": 0, "ids": ["b"], "scores": [0.84729785]}'
  run vdb-query -x s.vdb --text "lazy" --k1 0
  assert_output '{"query": 0, "ids": ["b"], "scores": [0.84729785]}'
  # a query term given twice counts twice, as FTS5 sums each phrase
  run vdb-query -x s.vdb --text "lazy LAZY"
  assert_output '{"query": 0, "ids": ["b"], "scores": [1.2026163]}'
}

@test "lexical: --lexical-field indexes a metadata string; --info describes the index" {
  small >s.jsonl
  vdb-build -q -o s.vdb --lexical --lexical-field t --language none s.jsonl
  run vdb-query -x s.vdb --text "zebra"
  # N 4, lengths 2, 1, 0, 0: avglen 0.75; idf ln(3.5 / 1.5), times 2.2 / (1 +
  # 1.2 * (0.25 + 0.75 * 2 / 0.75))
  assert_output '{"query": 0, "ids": ["a"], "scores": [0.5037987]}'
  vdb-query -x s.vdb --info >info
  [ "$(jq -c '.lexical | [.language, .field, .terms, .rows, .avg_length]' info)" = '["none","t",3,4,0.75]' ]
  [ "$(jq '[.sections[].kind] | map(select(startswith("LX"))) | length' info)" = 4 ]
  # the options as configuration file keys
  printf 'lexical: true\nlanguage: none\nlexical-field: t\n' >b.yaml
  vdb-build -q -c b.yaml -o c.vdb s.jsonl
  [ "$(vdb-query -x c.vdb --info | jq -c '.lexical | [.language, .field]')" = '["none","t"]' ]
  printf 'k1: 0\ntext: zebra\n' >q.yaml
  run vdb-query -c q.yaml -x c.vdb
  assert_output '{"query": 0, "ids": ["a"], "scores": [0.84729785]}'
}

@test "lexical: stemming (english by default) and stop words" {
  small >s.jsonl
  printf 'the\n# comment\nAND\n\n' >stop
  vdb-build -q -o s.vdb --lexical --stopwords stop s.jsonl
  [ "$(vdb-query -x s.vdb --info | jq -c '.lexical | [.language, .stopwords, .terms, .field]')" = '["english",2,6,null]' ]
  # "dogs" is stemmed to dog: c has it 3 times
  run vdb-query -x s.vdb --text "dogs"
  assert_output --regexp '"ids": \["c", "b"\]'
  run vdb-query -x s.vdb --text "the and"
  assert_output '{"query": 0, "ids": [], "scores": []}'
}

# poke FILE OFFSET BYTE: one byte set; forge_at FILE OLD NEW: the bytes OLD
# replaced by NEW (as long); each then resealed by the caller or here
poke() {
  perl -e 'open(my $h, "+<:raw", $ARGV[0]) or die; seek($h, $ARGV[1], 0); print $h chr($ARGV[2]);' "$@"
}
forge_at() {
  perl -e 'my ($f, $o, $n) = @ARGV; open(my $h, "+<:raw", $f) or die; local $/; my $b = <$h>;
    my $i = index($b, $o); $i >= 0 or die "not found"; seek($h, $i, 0); print $h $n;' "$@"
  reseal "$1"
}

@test "lexical: --verify passes, and catches a changed byte in each lexical section" {
  command -v xxhsum >/dev/null || skip "xxhsum is not installed (Debian package xxhash)"
  small >s.jsonl
  vdb-build -q -o s.vdb --lexical s.jsonl
  vdb-query -x s.vdb --verify
  local kind off len
  for kind in LXPM LXVO LXPO LXLN; do
    read -r off len < <(section_at s.vdb $kind)
    # a flipped byte: the checksum says so
    cp s.vdb c.vdb
    printf '\x5a' | dd of=c.vdb bs=1 seek=$((off + len - 1)) conv=notrunc status=none
    run -65 vdb-query -x c.vdb --verify
    assert_output --partial "$kind"
  done
  # crafted changes with valid checksums: the structure says so
  cp s.vdb c.vdb && forge_at c.vdb '"total":16' '"total":17'
  run -65 vdb-query -x c.vdb --verify
  assert_output --partial "lexical section LXLN"
  read -r off len < <(section_at s.vdb LXVO)
  cp s.vdb c.vdb && poke c.vdb $((off + 16 + 20)) 3 && reseal c.vdb   # term 0's df
  run -65 vdb-query -x c.vdb --verify
  assert_output --partial "lexical section LXPO"
  read -r off len < <(section_at s.vdb LXPO)
  cp s.vdb c.vdb && poke c.vdb "$off" 9 && reseal c.vdb   # term 0's first row (its gap)
  run -65 vdb-query -x c.vdb --verify
  assert_output --partial "lexical section LXPO"
  read -r off len < <(section_at s.vdb LXLN)
  cp s.vdb c.vdb && poke c.vdb "$off" 7 && reseal c.vdb   # row 0's length
  run -65 vdb-query -x c.vdb --verify
  assert_output --partial "lexical section LXLN"
}

@test "lexical: crafted lexical sections (valid checksums) never crash a text search or --verify" {
  command -v xxhsum >/dev/null || skip "xxhsum is not installed (Debian package xxhash)"
  small >s.jsonl
  for i in $(seq 1 40); do
    printf '{"id": "x%d", "vector": [%d, 1], "text": "dog %d fox the words of record %d"}\n' $i $i $((i % 5)) $i
  done >>s.jsonl
  vdb-build -q -o s.vdb --lexical --language none s.jsonl
  local kind off len i at st
  for kind in LXVO LXPO LXLN; do
    read -r off len < <(section_at s.vdb $kind)
    for i in 1 2 3 4 5 6; do
      at=$((off + (i * 7919 + ${#kind}) % len))
      cp s.vdb c.vdb
      poke c.vdb "$at" $(((i * 37) % 256)) && reseal c.vdb
      st=0; vdb-query -x c.vdb --verify 2>/dev/null || st=$?
      [ "$st" -eq 0 ] || [ "$st" -eq 65 ] || { echo "$kind byte $at: --verify exit $st"; false; }
      st=0; vdb-query -x c.vdb -k 5 --text "dog fox 3 words record" >/dev/null 2>&1 || st=$?
      [ "$st" -eq 0 ] || [ "$st" -eq 65 ] || { echo "$kind byte $at: --text exit $st"; false; }
    done
  done
}

@test "lexical: bad inputs exit 64 or 65 with one message" {
  small >s.jsonl
  vdb-build -q -o s.vdb --lexical s.jsonl
  vdb-build -q -o plain.vdb s.jsonl
  run -64 vdb-query -x plain.vdb --text "fox"
  assert_output --partial "rebuild it with vdb-build --lexical"
  run -64 vdb-query -x s.vdb --text " "
  assert_output --partial "--text: the query is empty"
  run -65 vdb-query -x s.vdb --text "$(printf 'fox \xff')"
  assert_output --partial "invalid UTF-8"
  run -65 vdb-query -x s.vdb --text "$(seq 1 1025 | tr '\n' ' ')"
  assert_output --partial "more than 1024 terms"
  vdb-query -x s.vdb --text "$(seq 1 1024 | tr '\n' ' ')"
  run -64 vdb-query -x s.vdb --text fox --k1 -1
  run -64 vdb-query -x s.vdb --text fox --b 1.5
  run -64 vdb-query -x s.vdb --text fox q.fvecs
  run -64 vdb-build -q -o n.vdb --language none s.jsonl
  assert_output --partial "--language applies to the lexical index: give --lexical too"
  run -64 vdb-build -q -o n.vdb --lexical --language klingon s.jsonl
  assert_output --partial "klingon"
  run -66 vdb-build -q -o n.vdb --lexical --stopwords nosuchfile s.jsonl
  printf '{"id": 1, "vector": [0, 1]}\n' >notext.jsonl
  run -65 vdb-build -q -o n.vdb --lexical notext.jsonl
  assert_output --partial "no record has one"
  run -65 vdb-build -q -o n.vdb --lexical --lexical-field t notext.jsonl
  [ ! -e n.vdb ]
}
