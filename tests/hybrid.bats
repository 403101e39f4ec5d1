#!/usr/bin/env bats
# Text and hybrid queries in vdb-query: fusion (rrf, weighted) checked against
# tests/hybrid_ref.py, which recomputes it from the vector-only and the
# lexical-only answers of the same records; query ids; mixed query files;
# filters and deletions; sets of shards and --merge; bad input.
load helpers

REF="/usr/bin/python3 $BATS_TEST_DIRNAME/hybrid_ref.py"

# docs.jsonl: 300 records, 4-d integer vectors (ties), texts over a small
# vocabulary (BM25 ties, texts matching few records), string and integer
# ids, metadata n; q.jsonl: 24 hybrid queries (string and integer ids)
make_data() {
  /usr/bin/python3 - <<'PY'
import json, random
random.seed(7)
words = "apple banana cherry date elder fig grape honey iris jade kiwi lemon mango".split()
rare = ["zircon", "quartz", "onyx"]
with open("docs.jsonl", "w") as f:
    for i in range(300):
        t = " ".join(random.choice(words) for _ in range(random.randint(1, 7)))
        if i % 37 == 0:
            t += " " + rare[i % 3]
        if i % 50 == 7:
            t = "apple fig"  # equal texts: equal BM25 scores
        rid = i if i % 3 else "d%03d" % i
        f.write(json.dumps({"id": rid, "vector": [random.randint(0, 3) for _ in range(4)],
                            "text": t, "metadata": {"n": i}}) + "\n")
with open("q.jsonl", "w") as f:
    for j in range(24):
        t = " ".join(random.choice(words) for _ in range(random.randint(1, 3)))
        if j % 5 == 0:
            t = random.choice(rare)  # a lexical list shorter than the depth
        qid = j if j % 2 else "q%d" % j
        f.write(json.dumps({"id": qid, "vector": [random.randint(0, 3) for _ in range(4)],
                            "text": t}) + "\n")
PY
  jq -c 'del(.text)' q.jsonl >qv.jsonl
  jq -c 'del(.vector)' q.jsonl >ql.jsonl
}

# check_fusion INDEX... -- K [QUERY OPTIONS]: the hybrid answers of q.jsonl
# equal the reference fused from the vector-only and lexical-only answers
check_fusion() {
  local ix=() k method=rrf alpha=0.5 c=60 depth=0
  while [ "$1" != -- ]; do ix+=(-x "$1"); shift; done
  shift; k=$1; shift
  local a=("$@")
  while [ $# -gt 0 ]; do
    case $1 in
      --fusion) method=$2; shift ;; --alpha) alpha=$2; shift ;;
      --rrf-k) c=$2; shift ;; --fusion-depth) depth=$2; shift ;;
    esac
    shift
  done
  [ "$depth" -gt 0 ] || depth=100
  [ "$depth" -ge "$k" ] || depth=$k
  vdb-query "${ix[@]}" -k "$depth" "${a[@]}" qv.jsonl >v.jsonl
  vdb-query "${ix[@]}" -k "$depth" "${a[@]}" ql.jsonl >l.jsonl
  vdb-query "${ix[@]}" -k "$k" "${a[@]}" q.jsonl >h.jsonl
  $REF fuse "$method" "$alpha" "$c" "$depth" "$k" v.jsonl l.jsonl >want.jsonl
  $REF check want.jsonl h.jsonl
}

@test "rrf and weighted fusion equal the reference fused from the two single-mode answers" {
  make_data
  vdb-build -q --lexical -o d.vdb docs.jsonl
  check_fusion d.vdb -- 10
  check_fusion d.vdb -- 10 --rrf-k 1
  check_fusion d.vdb -- 7 --rrf-k 10.5 --fusion-depth 20
  check_fusion d.vdb -- 10 --fusion rrf --fusion-depth 5
  for a in 0 0.3 0.5 0.75 1; do
    check_fusion d.vdb -- 10 --fusion weighted --alpha "$a" --fusion-depth 30
  done
  check_fusion d.vdb -- 120 --fusion weighted --alpha 0.6
  # the data has what the reference must get right: hits in one list only,
  # lists shorter than the depth, and equal fused scores
  [ "$(jq -s '[.[].lexical_ranks[] | select(. == null)] | length' h.jsonl)" -gt 0 ]
  [ "$(jq -s '[.[].vector_ranks[] | select(. == null)] | length' h.jsonl)" -gt 0 ]
  vdb-query -x d.vdb -k 10 --fusion-depth 20 q.jsonl >h.jsonl
  [ "$(jq -s '[.[] | .scores | (length - (unique | length))] | add' h.jsonl)" -gt 0 ]
}

@test "hybrid search works with every index type" {
  make_data
  for t in hnsw ivf ivfpq lsh; do
    case $t in ivf*) o=(--nlist 4) ;; *) o=() ;; esac
    [ $t = ivfpq ] && o+=(--pq-m 2)
    vdb-build -q --lexical -T $t "${o[@]}" -o $t.vdb docs.jsonl
    check_fusion $t.vdb -- 10 --fusion-depth 30
    check_fusion $t.vdb -- 10 --fusion weighted --alpha 0.4
  done
}

@test "every line echoes the query record's id as query_id, right after query" {
  make_data
  vdb-build -q --lexical -o d.vdb docs.jsonl
  for f in q qv ql; do
    vdb-query -x d.vdb -k 3 $f.jsonl >out.jsonl
    diff <(jq -c '.id' $f.jsonl) <(jq -c '.query_id' out.jsonl)
    # the field order: query, query_id, ids
    [ "$(jq -c 'keys_unsorted[:3]' out.jsonl | sort -u)" = '["query","query_id","ids"]' ]
  done
  grep -q '"query_id": 1,' out.jsonl
  grep -q '"query_id": "q0",' out.jsonl
  # records without ids, and fvecs queries, have none
  jq -c 'del(.id)' q.jsonl | vdb-query -x d.vdb -k 3 >noid.jsonl
  [ "$(jq -s 'map(has("query_id")) | any' noid.jsonl)" = false ]
  fvecs qf.fvecs 4 1 2 3 0
  [ "$(vdb-query -x d.vdb -k 3 qf.fvecs | jq 'has("query_id")')" = false ]
}

@test "a file of vector, lexical and hybrid queries is answered in order, each by its kind" {
  make_data
  vdb-build -q --lexical -o d.vdb docs.jsonl
  # records 0..23 from qv, ql and q in turn
  paste -d '\n' qv.jsonl ql.jsonl q.jsonl | head -n 24 >mixed.jsonl
  vdb-query -x d.vdb -k 5 --batch 4 mixed.jsonl >out.jsonl
  [ "$(jq -c .query out.jsonl | paste -sd,)" = "$(seq -s, 0 23)" ]
  [ "$(jq -r 'if has("lexical_ranks") then "h" elif has("scores") then "l" else "v" end' \
        out.jsonl | paste -sd '')" = vlhvlhvlhvlhvlhvlhvlhvlh ]
  # each line is the one its record gets among records of its own kind (but
  # for the query number)
  for f in qv ql q; do
    head -n 8 $f.jsonl | vdb-query -x d.vdb -k 5 | jq -c 'del(.query)' >$f.out
  done
  diff <(paste -d '\n' qv.out ql.out q.out) <(jq -c 'del(.query)' out.jsonl)
  # lexical lines: BM25 scores, larger first
  [ "$(jq -s '[.[] | select(has("scores") and (has("lexical_ranks") | not)) | .scores |
        . == (sort | reverse)] | all' out.jsonl)" = true ]
}

@test "hybrid output as TSV (a column each) and ivecs (ids)" {
  make_data
  jq -c 'del(.id)' docs.jsonl >noid.jsonl
  vdb-build -q --lexical -o d.vdb noid.jsonl
  vdb-query -x d.vdb -k 6 --fusion-depth 6 q.jsonl >h.jsonl
  vdb-query -x d.vdb -k 6 --fusion-depth 6 -O tsv q.jsonl >h.tsv
  jq -r '.query as $q | range(.ids | length) as $i |
    [$q, $i + 1, .ids[$i], .scores[$i], .lexical_scores[$i], .lexical_ranks[$i],
     .vector_distances[$i], .vector_ranks[$i]] | map(if . == null then "" else tostring end) | @tsv' \
    h.jsonl | diff - h.tsv
  vdb-query -x d.vdb -k 6 --fusion-depth 6 -O ivecs q.jsonl >h.ivecs
  [ "$(perl -e 'local $/; my $b = <STDIN>; my @o; while (length $b) { my $n = unpack("l<", $b);
        push @o, join(",", unpack("l<$n", substr($b, 4))); $b = substr($b, 4 + 4 * $n); }
        print join("\n", @o), "\n"' <h.ivecs)" = "$(jq -r '.ids | join(",")' h.jsonl)" ]
}

@test "filters and deletions apply to both lists of a hybrid query" {
  make_data
  vdb-build -q --lexical -o d.vdb docs.jsonl
  check_fusion d.vdb -- 10 --filter 'n >= 100' --fusion-depth 25
  [ "$(jq -s '[.[].ids[]] | length' h.jsonl)" -gt 100 ]
  # every hit passes: its metadata from --include
  vdb-query -x d.vdb -k 10 --filter 'n >= 100' --include metadata q.jsonl >hm.jsonl
  [ "$(jq -s '[.[].metadata[].n >= 100] | all' hm.jsonl)" = true ]
  # delete the records that the unfiltered hybrid answers put first
  vdb-query -x d.vdb -k 3 q.jsonl | jq -c '.ids[]' | sort -u | jq -r 'tostring' >gone.txt
  vdb-build -q --delete -x d.vdb gone.txt
  check_fusion d.vdb -- 10 --fusion weighted --alpha 0.5
  [ "$(jq -s '[.[].ids[] | tostring] | unique' h.jsonl | jq -r '.[]' | sort | comm -12 - <(sort gone.txt) | wc -l)" = 0 ]
}

# shards2: d.jsonl split by id into s0.vdb and s1.vdb (lexical)
shards2() {
  local i
  for i in 0 1; do vdb-build -q --lexical --shard $i/2 -o s$i.vdb docs.jsonl; done
}

@test "a set answers hybrid queries from the set's lists; --merge of lexical lines orders by score" {
  make_data
  shards2
  check_fusion s0.vdb s1.vdb -- 10
  check_fusion s0.vdb s1.vdb -- 10 --fusion weighted --alpha 0.3 --fusion-depth 40
  # lexical lines of the shards merge by score, larger first, ties to the smaller id
  for i in 0 1; do vdb-query -x s$i.vdb -k 8 ql.jsonl >l$i.jsonl; done
  vdb-query --merge -k 8 l0.jsonl l1.jsonl >lm.jsonl
  /usr/bin/python3 -c '
import json, sys
sys.path.insert(0, sys.argv[1])
def key(i): return (0, i, "") if isinstance(i, int) else (1, 0, json.dumps(i))
a = [json.loads(l) for l in open("l0.jsonl")]; b = [json.loads(l) for l in open("l1.jsonl")]
m = [json.loads(l) for l in open("lm.jsonl")]
for x, y, z in zip(a, b, m):
    want = sorted(zip(x["ids"] + y["ids"], x["scores"] + y["scores"]), key=lambda p: (-p[1], key(p[0])))[:8]
    assert [p[0] for p in want] == z["ids"], (want, z)
    assert [p[1] for p in want] == z["scores"]
    assert z["query_id"] == x["query_id"]
' "$BATS_TEST_DIRNAME"
}

@test "--merge of shards' hybrid lines (--candidates) fuses the union of their lists" {
  make_data
  shards2
  for depth in 15 100; do
    for f in "--fusion rrf" "--fusion weighted --alpha 0.7"; do
      # shellcheck disable=SC2086
      for i in 0 1; do
        vdb-query -x s$i.vdb -k 10 --fusion-depth $depth $f --candidates q.jsonl >c$i.jsonl
        vdb-query -x s$i.vdb -k $depth qv.jsonl >v$i.jsonl
        vdb-query -x s$i.vdb -k $depth ql.jsonl >l$i.jsonl
      done
      vdb-query --merge -k 10 c1.jsonl c0.jsonl >m.jsonl
      set -- $f
      $REF merge "$2" "${4:-0.5}" 60 $depth 10 v0.jsonl l0.jsonl v1.jsonl l1.jsonl >want.jsonl
      $REF check want.jsonl m.jsonl
      diff <(jq -c .query_id m.jsonl) <(jq -c .id q.jsonl)
      # the vector list is the set's: every hit's vector rank and distance are its
      # place in the set's vector-only answer
      # shellcheck disable=SC2086
      vdb-query -x s0.vdb -x s1.vdb -k $depth qv.jsonl >vset.jsonl
      [ "$(jq -n --slurpfile m m.jsonl --slurpfile v vset.jsonl '[range($m | length) as $q |
          $m[$q] as $h | range($h.ids | length) as $i | select($h.vector_ranks[$i] != null) |
          $v[$q].ids[$h.vector_ranks[$i] - 1] == $h.ids[$i] and
          $v[$q].distances[$h.vector_ranks[$i] - 1] == $h.vector_distances[$i]] | all')" = true ]
    done
  done
  # a candidates line lists both lists whole and the fusion
  [ "$(head -1 c0.jsonl | jq -c '.fusion')" = '{"method":"weighted","alpha":0.7,"rrf_k":60,"depth":100}' ]
  # hybrid lines without candidates, or fused differently, do not merge
  vdb-query -x s0.vdb -k 10 q.jsonl >p0.jsonl
  vdb-query -x s1.vdb -k 10 q.jsonl >p1.jsonl
  run -65 vdb-query --merge -k 10 p0.jsonl p1.jsonl
  assert_output --partial 'p0.jsonl: line 1: a hybrid line without its candidates: query the shards with --candidates'
  vdb-query -x s1.vdb -k 10 --candidates --rrf-k 5 q.jsonl >p1.jsonl
  run -65 vdb-query --merge -k 10 c0.jsonl p1.jsonl
  assert_output --partial 'p1.jsonl: line 1: "fusion" differs'
  run -65 vdb-query --merge -k 10 c0.jsonl l1.jsonl
  assert_output --partial 'a lexical line, but c0.jsonl: line 1 is a hybrid line'
}

@test "shards searched apart with --stats-from score as one index, and merge into the set's answer" {
  make_data
  for i in 0 1 2; do vdb-build -q --lexical --shard $i/3 -o s$i.vdb docs.jsonl; done
  vdb-build -q --lexical -o all.vdb docs.jsonl
  # lexical: each shard scores with the set's statistics, so the merged lines are the
  # unsharded index's answer (the same scores; the same ids above the k-th score, whose
  # ties an index breaks by row and a merge by id)
  for i in 0 1 2; do vdb-query -x s$i.vdb --stats-from 's*.vdb' -k 8 ql.jsonl >l$i.jsonl; done
  vdb-query --merge -k 8 l0.jsonl l1.jsonl l2.jsonl >lm.jsonl
  vdb-query -x all.vdb -k 8 ql.jsonl >lall.jsonl
  /usr/bin/python3 -c '
import json
m = [json.loads(l) for l in open("lm.jsonl")]; a = [json.loads(l) for l in open("lall.jsonl")]
assert len(m) == len(a) == 24
for x, y in zip(m, a):
    assert x["scores"] == y["scores"], (x, y)
    cut = x["scores"][-1] if x["scores"] else None
    above = lambda r: sorted(json.dumps(i) for i, s in zip(r["ids"], r["scores"]) if s > cut)
    assert above(x) == above(y), (x, y)
'
  # and without --stats-from a shard scores with its own statistics: not the same
  for i in 0 1 2; do vdb-query -x s$i.vdb -k 8 ql.jsonl >o$i.jsonl; done
  vdb-query --merge -k 8 o0.jsonl o1.jsonl o2.jsonl >om.jsonl
  run -1 cmp -s om.jsonl lall.jsonl
  # hybrid and lexical lines of shards searched apart merge into the set search's
  # lines, byte for byte, for both fusions
  for f in "--fusion rrf --rrf-k 20" "--fusion weighted --alpha 0.3 --fusion-depth 30"; do
    # shellcheck disable=SC2086
    for i in 0 1 2; do
      vdb-query -x s$i.vdb --stats-from s0.vdb --stats-from s1.vdb --stats-from s2.vdb \
        -k 10 $f --candidates q.jsonl ql.jsonl >c$i.jsonl
    done
    vdb-query --merge -k 10 c2.jsonl c0.jsonl c1.jsonl >m.jsonl
    # shellcheck disable=SC2086
    vdb-query -x 's*.vdb' -k 10 $f q.jsonl ql.jsonl >set.jsonl
    [ "$(wc -l <set.jsonl)" -eq 48 ]
    cmp m.jsonl set.jsonl
  done
  # the set must hold the searched index
  run -64 vdb-query -x all.vdb --stats-from 's*.vdb' -k 8 ql.jsonl
  assert_output --partial 'all.vdb is not one of its 3 indexes'
  run -64 vdb-query --merge --stats-from s0.vdb m.jsonl
}

@test "bad input: a text query without a lexical index, bad fusion options, bad texts" {
  make_data
  vdb-build -q -o plain.vdb docs.jsonl
  vdb-build -q --lexical -o d.vdb docs.jsonl
  run -64 vdb-query -x plain.vdb -k 3 ql.jsonl
  assert_output --partial 'ql.jsonl: record 0 is a text query'
  assert_output --partial 'plain.vdb has no lexical index: build it with vdb-build --lexical'
  # a record with a vector and a text is a vector query there, as before
  run -0 vdb-query -x plain.vdb -k 3 q.jsonl
  [ "$(printf '%s\n' "$output" | jq -s 'map(has("distances")) | all')" = true ]
  for bad in "--alpha 1.5" "--alpha -0.1" "--alpha x" "--rrf-k 0" "--rrf-k -1" "--fusion RRF" \
             "--fusion-depth 0" "--fusion-depth 100001"; do
    # shellcheck disable=SC2086
    run -64 vdb-query -x d.vdb $bad q.jsonl
  done
  run -64 vdb-query -x d.vdb --alpha 2 q.jsonl
  assert_output --partial '--alpha'
  # non-UTF-8 text, and an empty one: bad data naming the record
  { head -1 ql.jsonl; printf '{"id": "bad", "text": "caf\xe9"}\n'; } >bad.jsonl
  run -65 vdb-query -x d.vdb bad.jsonl
  assert_output --partial 'bad.jsonl: line 2 (record 1)'
  { head -2 q.jsonl; echo '{"id": "e", "text": ""}'; } >empty.jsonl
  run -65 vdb-query -x d.vdb empty.jsonl
  assert_output --partial 'empty.jsonl: line 3 (record 2): "text" is empty'
  { head -2 q.jsonl; echo '{"id": "w", "vector": [1, 2, 3, 0], "text": " \t "}'; } >blank.jsonl
  run -65 vdb-query -x d.vdb blank.jsonl
  assert_output --partial 'blank.jsonl: record 2: the text is empty'
  # a record with neither is refused as before
  run -65 vdb-query -x d.vdb <<<'{"id": "none"}'
  assert_output --partial '"vector" is missing'
  # builds still refuse records without vectors
  run -65 vdb-build -q -o x.vdb ql.jsonl
  assert_output --partial '"vector" is missing'
}
