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
  head -5000 gloss.jsonl | vdb-text tokens -l en >en
  head -5000 english | cmp - en
  head -5000 gloss.jsonl | vdb-text tokens >default
  cmp en default
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
  run -1 cmp ours lower
}

# py_rule OUT.jsonl: each record's "terms" are its text's tokens by the rule
# of vdb-text(1) written in python: a token is a run of Unicode letters (L*),
# decimal digits (Nd) and letter numbers (Nl), with the marks (M*) that
# follow them; each character lowercased alone (str.lower)
py_rule() {
  "$PY" - "$1" <<'PY'
import json, sys, unicodedata
def tokens(s):
    out, cur = [], ""
    for c in s + " ":
        cat = unicodedata.category(c)
        if cat[0] == "L" or cat in ("Nd", "Nl"):
            cur += c.lower()
        elif cat[0] == "M" and cur:
            cur += c
        elif cur:
            out.append(cur)
            cur = ""
    return out
n = 0
for l in open(sys.argv[1], encoding="utf-8"):
    r = json.loads(l)
    assert r["terms"] == tokens(r["text"]), (r["terms"], tokens(r["text"]))
    n += len(r["terms"])
print(n)
PY
}

@test "tokens: accented Latin, Cyrillic, Greek, CJK, digits, apostrophes, hyphens, emoji, combining marks as unicode61 and python cut them" {
  cat >sample.txt <<'TXT'
Café naïve RÉSUMÉ Ångström façade coöperate Œuvre straße ŁÓDŹ DŽungla
Москва ПРИВЕТ мир Ёлка
Αθήνα ΣΟΦΙΑ Ωμέγα
東京タワー 北京 한국어 ひらがな
123 4,5 3.14 ٣٤٥ ४२ x86_64 v2.0 Ⅻ ⅷ
don't l'homme rock'n'roll O’Brien
e-mail state-of-the-art well—known a_b
emoji 😀 ok👍 go 🇫🇷 fr
TXT
  # e and n with combining accents (NFD), and Hindi with a virama
  printf 'combining e\xcc\x81t\xcc\x81e\xcc\x81 n\xcc\x83o \xe0\xa4\xb9\xe0\xa4\xbf\xe0\xa4\xa8\xe0\xa5\x8d\xe0\xa4\xa6\xe0\xa5\x80 tab\tsep\n' >>sample.txt
  jq -Rc '{text: .}' sample.txt | vdb-text tokens --language none >out
  run -0 fts5_check out "unicode61 remove_diacritics 0 categories 'L* Nd Nl Mn Mc Me'"
  [ "$output" -eq 63 ]
  run -0 py_rule out
  [ "$output" -eq 63 ]
  run -0 jq -c .terms out
  [ "${lines[0]}" = '["café","naïve","résumé","ångström","façade","coöperate","œuvre","straße","łódź","džungla"]' ]
  [ "${lines[2]}" = '["αθήνα","σοφια","ωμέγα"]' ]
  [ "${lines[5]}" = '["don","t","l","homme","rock","n","roll","o","brien"]' ]
}

@test "tokens: where unicode61 differs by design (final sigma, a mark after a separator, superscripts and fractions, private use) the python rule holds" {
  # ς stays ς (towlower; unicode61 folds it to σ); ❤️'s U+FE0F and a lone
  # accent separate (unicode61 makes them tokens); ² ½ ① (Unicode No) and
  # U+E000 (private use, Co) separate (unicode61: part of a token)
  printf '%s\n' 'λόγος ΣΑΣ' '❤️ love ✌️ ok' 'x² ½ ①② 3' "$(printf 'a\xee\x80\x80b \xcc\x81c')" |
    jq -Rc '{text: .}' | vdb-text tokens --language none >out
  run -0 py_rule out
  [ "$output" -eq 9 ]
  run -0 jq -c .terms out
  [ "${lines[0]}" = '["λόγος","σασ"]' ]
  [ "${lines[1]}" = '["love","ok"]' ]
  [ "${lines[2]}" = '["x","3"]' ]
  [ "${lines[3]}" = '["a","b","c"]' ]
  # FTS5's own tokens differ (its assertion fails), not anything else
  run -1 fts5_check out "unicode61 remove_diacritics 0"
  assert_output --partial AssertionError
}

@test "tokens: a stop word file removes exactly its words (lowercased; comments and blank lines skipped), before stemming" {
  printf '# common words\n\nThe\n  of \t\nAND\r\nthe\nRUNNING\nÉTÉ\n' >stop.txt
  printf '%s\n' 'The end of the story and The Running man runs' 'Été ÉTÉ été cafe theory' '' |
    jq -Rc '{id: input_line_number, text: .}' >in.jsonl
  vdb-text tokens --language none in.jsonl >all
  vdb-text tokens --language none --stopwords stop.txt in.jsonl >some
  # jq: the terms without stop words are the terms minus the file's words
  jq -c '.terms |= map(select(IN("the", "of", "and", "running", "été") | not))' all >ref
  cmp some ref
  run -0 jq -c .terms some
  [ "${lines[0]}" = '["end","story","man","runs"]' ]
  [ "${lines[1]}" = '["cafe","theory"]' ]
  [ "${lines[2]}" = '[]' ]
  # stop words go before stemming: "running" goes, "runs" stays as "run"
  run -0 vdb-text tokens -l english -s stop.txt in.jsonl
  [ "$(jq -c .terms <<<"${lines[0]}")" = '["end","stori","man","run"]' ]
}

@test "tokens: a bad stop word line is 65 naming the file and line; a missing stop word file 66" {
  echo '{"text": "a b"}' >in.jsonl
  printf 'the\n# fine\n\ndon'"'"'t\n' >bad1.txt
  run -65 vdb-text tokens --stopwords bad1.txt in.jsonl
  assert_output --partial "bad1.txt: line 4: 'don't' is not one word"
  printf 'the\nnew york\n' >bad2.txt
  run -65 vdb-text tokens --stopwords bad2.txt in.jsonl
  assert_output --partial "bad2.txt: line 2: 'new york' is not one word"
  printf 'a\n%0256d\n' 0 >bad3.txt
  run -65 vdb-text tokens --stopwords bad3.txt in.jsonl
  assert_output --partial "bad3.txt: line 2: a stop word longer than the limit of 255 bytes (VDB_MAX_TERM)"
  printf 'ok\n\xff\n' >bad4.txt
  run -65 vdb-text tokens --stopwords bad4.txt in.jsonl
  assert_output --partial "bad4.txt: line 2: invalid UTF-8"
  # VDB_MAX_STOPWORDS: 65536 words are fine (comments do not count), 65537 are not
  { echo '# many'; seq 65536 | sed 's/^/w/'; } >many.txt
  run -0 vdb-text tokens --stopwords many.txt in.jsonl
  echo w65537 >>many.txt
  run -65 vdb-text tokens --stopwords many.txt in.jsonl
  assert_output --partial "many.txt: line 65538: more than 65536 stop words (VDB_MAX_STOPWORDS)"
  run -66 vdb-text tokens --stopwords missing.txt in.jsonl
  assert_output --partial "missing.txt: cannot open"
  [ "${#lines[@]}" -eq 1 ]
}

@test "tokens: an unknown language is 64 listing libstemmer's; bad records 65 naming input, line and record; a missing input 66" {
  printf '{"id": "a", "text": "fine"}\n' >ok.jsonl
  run -64 vdb-text tokens --language klingon ok.jsonl
  assert_output --partial "unknown language 'klingon'"
  for l in english french porter russian none; do
    assert_output --partial "$l"
  done
  # not one line written for a refused language
  run -64 --separate-stderr vdb-text tokens -l xx ok.jsonl
  [ "$output" = "" ]
  printf '{"id": "a", "text": "fine"}\n\n{"id": 7, "text": "bad \xff byte"}\n' >utf.jsonl
  run -65 --separate-stderr vdb-text tokens utf.jsonl
  [ "$(jq -r '.terms[]' <<<"$output")" = fine ]
  [[ "$stderr" == *"utf.jsonl: line 3 (record 1): invalid UTF-8 at byte 23 of the line"* ]]
  printf '{"id": "a", "text": "fine"}\n{"id": "b", "txt": "no text"}\n' >notext.jsonl
  run -65 vdb-text tokens notext.jsonl
  assert_output --partial 'notext.jsonl: line 2 (record 1, id "b"): "text" is missing'
  printf '{"id": "c", "text": 5}\n' >num.jsonl
  run -65 vdb-text tokens num.jsonl
  assert_output --partial 'num.jsonl: line 1 (record 0, id "c"): "text" is not a string'
  run -65 vdb-text tokens --field title ok.jsonl
  assert_output --partial 'ok.jsonl: line 1 (record 0, id "a"): metadata field "title" is missing'
  run -66 vdb-text tokens ok.jsonl missing.jsonl
  assert_output --partial "missing.jsonl: cannot open"
}

@test "tokens: --field analyses a metadata string; every field is kept and an existing \"terms\" replaced in place" {
  printf '%s\n' '{"id":1,"text":"Ignored","metadata":{"title":"Blue Whales"},"x":[1,2]}' \
    '{"id":2,"terms":"old","metadata":{"title":"Sea"},"z":null}' >in.jsonl
  run -0 vdb-text tokens -l none --field title in.jsonl
  [ "${lines[0]}" = '{"id":1,"text":"Ignored","metadata":{"title":"Blue Whales"},"x":[1,2],"terms":["blue","whales"]}' ]
  [ "${lines[1]}" = '{"id":2,"terms":["sea"],"metadata":{"title":"Sea"},"z":null}' ]
  printf '{"id": 3, "metadata": {"title": ["no"]}}\n' >arr.jsonl
  run -65 vdb-text tokens --field title arr.jsonl
  assert_output --partial 'line 1 (record 0, id 3): metadata field "title" is not a string'
}

@test "tokens: a term over VDB_MAX_TERM (255) bytes is skipped, counted after lowercasing and stemming" {
  a255=$(printf 'A%.0s' $(seq 255))
  e127=$(printf 'É%.0s' $(seq 127))
  jq -nc --arg a "$a255" --arg e "$e127" \
    '{text: "x \($a) \($a)B \($e)a a\($e) \($e)É É\($e) \($a)ing y"}' >in.jsonl
  run -0 vdb-text tokens -l none in.jsonl
  run -0 jq -r '.terms | map(utf8bytelength) | join(" ")' <<<"$output"
  [ "$output" = "1 255 255 255 1" ]
  # english: "a...aing" (258 bytes) stems to 255 bytes, as stemwords says
  run -0 vdb-text tokens -l english in.jsonl
  stem=$(printf '%sing\n' "$(tr A a <<<"$a255")" | stemwords -l english)
  [ "${#stem}" -eq 255 ]
  [ "$(jq -r '.terms[4]' <<<"$output")" = "$stem" ]
  run -0 jq -r '.terms | map(utf8bytelength) | join(" ")' <<<"$output"
  [ "$output" = "1 255 255 255 255 1" ]
}
