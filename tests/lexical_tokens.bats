#!/usr/bin/env bats
# vdb-text tokens: the lexical analyzer (lib/lex_analyze.c) checked against
# independent references: SQLite FTS5's unicode61 tokenizer (tokens and
# lowercasing), Snowball's own stemwords (stems), python (the documented
# differences from unicode61), jq (stop words).
load helpers

PY=/usr/bin/python3

need_gloss() {
  GLOSS=$VDB_SHARED_DATA/wordnet-fasttext/wordnet_gloss_corpus.txt.gz
  [ -f "$GLOSS" ] ||
    skip "../shared/data is absent (set VDB_SHARED_DATA to run the real-data tests)"
  zcat "$GLOSS" | jq -Rc '{text: .}' >gloss.jsonl
}

# fts5_check OUT.jsonl TOKENIZE: each record's "terms" (vdb-text tokens'
# output keeps its "text") are its text's tokens as FTS5's tokenizer TOKENIZE
# gives them (fts5vocab 'instance': term, row, offset, in order); prints the
# tokens compared
fts5_check() {
  "$PY" - "$1" "$2" <<'PY'
import json, sqlite3, sys
recs = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
db = sqlite3.connect(":memory:")
db.execute("create virtual table t using fts5(x, tokenize = \"%s\")" % sys.argv[2])
db.execute("create virtual table v using fts5vocab(t, 'instance')")
with db:
    db.executemany("insert into t(rowid, x) values (?, ?)",
                   ((i, r["text"]) for i, r in enumerate(recs)))
ref = [[] for _ in recs]
for term, doc in db.execute("select term, doc from v order by doc, offset"):
    ref[doc].append(term)
bad = [(r["terms"], f) for r, f in zip(recs, ref) if r["terms"] != f]
assert not bad, bad[:3]
print(sum(map(len, ref)))
PY
}

@test "tokens: --language none gives unicode61's tokens over the whole WordNet gloss corpus" {
  need_gloss
  vdb-text tokens --language none gloss.jsonl >out
  [ "$(wc -l <out)" -eq 117659 ]
  run -0 fts5_check out "unicode61 remove_diacritics 0"
  [ "$output" -gt 1700000 ]
}

@test "tokens: english (and en, the default) stems are Snowball's stemwords of the lowercased tokens, over the corpus's vocabulary" {
  need_gloss
  vdb-text tokens --language none gloss.jsonl >none
  vdb-text tokens --language english gloss.jsonl >english
  vdb-text tokens -l en gloss.jsonl >en
  cmp english en
  head -1000 gloss.jsonl | vdb-text tokens >default
  head -1000 english | cmp - default
  "$PY" -c '
import json
print("\n".join(sorted({t for l in open("none") for t in json.loads(l)["terms"]})))' >vocab
  [ "$(wc -l <vocab)" -gt 30000 ]
  stemwords -l english -i vocab -o stems
  "$PY" - <<'PY'
import json
stem = dict(zip(open("vocab").read().split("\n"), open("stems").read().split("\n")))
none = [json.loads(l)["terms"] for l in open("none")]
ours = [json.loads(l)["terms"] for l in open("english")]
ref = [[stem[t] for t in terms] for terms in none]
bad = [i for i in range(len(ref)) if ours[i] != ref[i]]
assert len(ours) == len(ref) == 117659 and not bad, bad[:5]
assert sum(o != n for o, n in zip(ours, none)) > 50000  # it does stem
PY
}

@test "tokens: french stems are stemwords -l french's" {
  words="continuation continuellement contiennent épargnées forêts généralement"
  echo "$words" | tr a-zéê A-ZÉÊ | jq -Rc '{text: .}' |
    vdb-text tokens --language french | jq -r '.terms[]' >ours
  printf '%s\n' $words >lower
  stemwords -l french -i lower -o ref
  cmp ours ref
  run ! cmp ours lower
}
