#!/usr/bin/env bats
# vdb-eval qrels: nDCG@k, MRR@k, recall@k and precision@k of vdb-query
# results against TREC relevance judgments, checked against values worked by
# hand and against an independent Python implementation of trec_eval's
# definitions; and vdb-eval fusion, the sweep over fusion settings.
load helpers

PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

# The judgments and results worked by hand below (k = 3).
hand_case() {
  cat >qrels.txt <<'Q'
q1 0 d1 2
q1 0 d2 1
q1	0	d3	0
q1 0 d9 1

7 0 10 1
7 0 11 3
q3 0 x 0
q4 0 y 1
Q
  cat >run.jsonl <<'R'
{"query": 0, "query_id": "q1", "ids": ["d3", "d1", "d5", "d2"], "distances": [0.1, 0.2, 0.3, 0.4]}
{"query": 7, "ids": [11, 4], "distances": [0.1, 0.2]}
{"query": 2, "query_id": "q3", "ids": ["x"], "distances": [0.1]}
{"query": 3, "query_id": "zz", "ids": ["d1"], "distances": [0.1]}
R
}

# By hand, k = 3, log2(3) = 1.5849625:
#  q1: d3 (0), d1 (2), d5 (unjudged); d2 (1) is at rank 4, past k; d9 (1)
#      never comes. DCG = 2/log2(3) = 1.2618595; IDCG = 2 + 1/log2(3) +
#      1/log2(4) = 3.1309298; nDCG = 0.4030303; MRR = 1/2; recall = 1/3 (of
#      d1, d2, d9); precision = 1/3.
#  7 (by its "query" number; ids given as integers): 11 (3), 4; DCG = 3,
#      IDCG = 3 + 1/log2(3) = 3.6309298, nDCG = 0.8262347; MRR = 1;
#      recall = 1/2; precision = 1/3 (two results, still divided by k).
#  q3: no relevant document: not counted. zz: not judged: ignored.
#  q4: judged, no result line: 0 everywhere.
#  means over q1, 7, q4: nDCG 1.2292650/3 = 0.4097550, MRR 1.5/3 = 0.5,
#  recall (5/6)/3 = 0.2777778, precision (2/3)/3 = 0.2222222.
@test "qrels: the metrics of a small case, worked by hand" {
  hand_case
  run --separate-stderr vdb-eval qrels -k 3 qrels.txt run.jsonl
  assert_success
  assert_output "ndcg@3: 0.4098
mrr@3: 0.5000
recall@3: 0.2778
precision@3: 0.2222"
  [[ "$stderr" == *"1 of the 3 judged queries have no results"* ]]
  # stdin, and every query with its own values
  run --separate-stderr vdb-eval qrels -k 3 --per-query --json qrels.txt <run.jsonl
  assert_success
  assert_line --index 0 '{"query_id":"q1","answered":true,"ndcg":0.40303,"mrr":0.5,"recall":0.333333,"precision":0.333333}'
  assert_line --index 1 '{"query_id":"7","answered":true,"ndcg":0.826235,"mrr":1.0,"recall":0.5,"precision":0.333333}'
  assert_line --index 2 '{"query_id":"q4","answered":false,"ndcg":0.0,"mrr":0.0,"recall":0.0,"precision":0.0}'
  assert_line --index 3 '{"k":3,"queries":3,"answered":2,"ndcg":0.409755,"mrr":0.5,"recall":0.277778,"precision":0.222222}'
  [ "${#lines[@]}" -eq 4 ]
}

@test "qrels: k cuts every metric; an integer query_id matches its QID" {
  hand_case
  # k = 1: q1's first is not relevant; 7's is; nDCG@1 of 7 = 3/3
  run vdb-eval -q qrels -k 1 qrels.txt run.jsonl
  assert_success
  assert_output "ndcg@1: 0.3333
mrr@1: 0.3333
recall@1: 0.1667
precision@1: 0.3333"
  # k = 4 takes d2 in: q1 DCG = 2/log2(3) + 1/log2(5) = 1.6925362, IDCG =
  # 3.1309298 (3 relevant), nDCG = 0.5405858; recall 2/3; precision 2/4
  # 7: nDCG 0.8262347, recall 1/2, precision 1/4
  # means: nDCG 1.3668204/3 = 0.4556068, recall (7/6)/3, precision (3/4)/3
  printf '%s\n' '{"query": 0, "query_id": "q1", "ids": ["d3", "d1", "d5", "d2"]}' \
    '{"query": 1, "query_id": 7, "ids": ["11", "4"]}' >run4.jsonl
  run vdb-eval -q qrels -k 4 --json qrels.txt run4.jsonl
  assert_success
  assert_output '{"k":4,"queries":3,"answered":2,"ndcg":0.455607,"mrr":0.5,"recall":0.388889,"precision":0.25}'
}

# ref.py QRELS RUN K: trec_eval's definitions, written from its documentation
# (ndcg_cut, P, recall, recip_rank cut at k), one JSON line per query with a
# relevant document (in first-appearance order), then the means (-c: a query
# without results scores 0).
write_ref() {
  cat >ref.py <<'PY'
import json, math, sys
qrels, run, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
rel, order = {}, []
for line in open(qrels):
    f = line.split()
    if not f:
        continue
    if f[0] not in rel:
        rel[f[0]] = {}
        order.append(f[0])
    rel[f[0]][f[2]] = int(f[3])
lists = {}
for line in open(run):
    o = json.loads(line)
    q = o["query_id"] if "query_id" in o else o["query"]
    lists[str(q)] = [str(d) for d in o["ids"]]
out = []
for q in order:
    judged = rel[q]
    nrel = sum(1 for g in judged.values() if g > 0)
    if nrel == 0:
        continue
    docs = lists.get(q, [])[:k]
    gains = [max(judged.get(d, 0), 0) for d in docs]
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains))
    ideal = sorted((g for g in judged.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    hits = sum(1 for g in gains if g > 0)
    first = next((i for i, g in enumerate(gains) if g > 0), None)
    out.append({"query_id": q, "ndcg": dcg / idcg, "mrr": 0 if first is None else 1 / (first + 1),
                "recall": hits / nrel, "precision": hits / k})
for o in out:
    print(json.dumps(o))
n = len(out)
print(json.dumps({m: sum(o[m] for o in out) / n for m in ("ndcg", "mrr", "recall", "precision")}))
PY
}

# compare.py REF OURS: the same queries, each metric within 1e-6 (ours is
# rounded to 6 decimals).
write_compare() {
  cat >compare.py <<'PY'
import json, sys
ref = [json.loads(l) for l in open(sys.argv[1])]
ours = [json.loads(l) for l in open(sys.argv[2])]
assert len(ref) == len(ours), (len(ref), len(ours))
for a, b in zip(ref, ours):
    if "query_id" in a:
        assert a["query_id"] == b["query_id"], (a, b)
    for m in ("ndcg", "mrr", "recall", "precision"):
        assert abs(a[m] - b[m]) <= 1.5e-6, (m, a, b)
print("ok", len(ref))
PY
}

@test "qrels: a random case equals an independent implementation of trec_eval's definitions" {
  write_ref
  write_compare
  # 60 queries over 80 documents: graded judgments (-1..3, some queries
  # without a relevant one), lists of 0..25 ids (integers and strings),
  # queries named by query_id (string or integer) or by number, some without
  # results, some results for unjudged queries
  "$PY" - <<'PY'
import json, random
random.seed(7)
with open("qrels.txt", "w") as q, open("run.jsonl", "w") as r:
    for i in range(60):
        qid = str(i) if i % 3 == 0 else "t%d" % i
        for d in random.sample(range(80), random.randint(1, 20)):
            q.write("%s 0 %d %d\n" % (qid, d, random.choice([-1, 0, 0, 1, 1, 2, 3])))
        if i % 7 == 3:
            continue
        ids = [d if random.random() < 0.5 else str(d) for d in random.sample(range(80), random.randint(0, 25))]
        line = {"query": i, "ids": ids}
        if i % 3 or random.random() < 0.5:
            line["query_id"] = qid if i % 3 else int(qid)
        r.write(json.dumps(line) + "\n")
    r.write(json.dumps({"query": 99, "query_id": "nope", "ids": [1, 2]}) + "\n")
PY
  "$PY" ref.py qrels.txt run.jsonl 10 >ref.jsonl
  vdb-eval -q qrels -k 10 --per-query --json qrels.txt run.jsonl >ours.jsonl
  run "$PY" compare.py ref.jsonl ours.jsonl
  assert_success
  assert_output --regexp '^ok [0-9]+$'
  [ "${output#ok }" -gt 40 ]
  # and the plain output says the same means
  read -r nd mr re pr < <(tail -1 ref.jsonl | "$PY" -c 'import json,sys; o=json.load(sys.stdin); print(*("%.4f" % o[m] for m in ("ndcg","mrr","recall","precision")))')
  run vdb-eval -q qrels -k 10 qrels.txt run.jsonl
  assert_output "ndcg@10: $nd
mrr@10: $mr
recall@10: $re
precision@10: $pr"
}

@test "qrels: bad judgments are refused with the file and line (65), missing files 66" {
  hand_case
  refused() { # CONTENT MESSAGE: judgments CONTENT (printf format) are refused
    printf "$1" >bad.txt
    run vdb-eval qrels -k 3 bad.txt run.jsonl
    assert_failure 65
    assert_output --partial "bad.txt$2"
  }
  refused 'q1 0 d1 1\nq1 0 d2\n' ": line 2: 3 fields, expected 4"
  refused 'q1 0 d1 1 extra\n' ": line 1: 5 fields"
  refused 'q1 0 d1 1\n\nq1 0 d2 x\n' ": line 3: REL 'x' is not an integer"
  refused 'q1 0 d1 1\n\nq1 0 d2 1.5\n' ": line 3: REL '1.5' is not an integer"
  refused 'q1 0 d1 1\n\nq1 0 d2 2a\n' ": line 3: REL '2a' is not an integer"
  refused 'q1 0 d1 99999999999\n' ": line 1: REL 99999999999 is out of range"
  refused 'q1 0 d1 1\nq1 0 d1 2\n' ": line 2: document d1 is judged twice for query q1 (also at line 1)"
  refused 'q1 0 d1 0\n' " judges no document relevant"
  refused '' ": no judgments"
  refused "q1 0 $(printf 'd%.0s' {1..4097}) 1\\n" ": line 1: field 3 holds 4097 bytes"
  run vdb-eval qrels -k 3 missing.txt run.jsonl
  assert_failure 66
  assert_output --partial "missing.txt: cannot open"
  run vdb-eval qrels -k 3 qrels.txt missing.jsonl
  assert_failure 66
  assert_output --partial "missing.jsonl: cannot open"
  run vdb-eval qrels -k 3 qrels.txt .
  assert_failure 66
  run vdb-eval qrels qrels.txt run.jsonl
  assert_failure 64
  assert_output --partial "qrels needs -k K"
  run vdb-eval qrels -k 3
  assert_failure 64
}

@test "qrels: results that are not vdb-query JSONL are refused with the line (65)" {
  hand_case
  bad() { # LINE2 MESSAGE
    printf '%s\n%s\n' '{"query": 0, "ids": [1]}' "$1" >bad.jsonl
    run vdb-eval qrels -k 3 qrels.txt bad.jsonl
    assert_failure 65
    assert_output --partial "bad.jsonl: line 2: $2"
  }
  bad 'not json' "malformed JSON"
  bad '[1, 2]' "not a JSON object"
  bad '{"ids": [1]}' 'no "query_id" or "query"'
  bad '{"query": 1}' 'no "ids" array'
  bad '{"query": 1, "ids": 3}' 'no "ids" array'
  bad '{"query": 1, "ids": [1, null]}' "ids[1] is not a string or an integer"
  bad '{"query": 1, "ids": [1, 2.5]}' "ids[1] is not a string or an integer"
  bad '{"query_id": [1], "ids": [1]}' '"query_id" is not a string or an integer'
  bad '{"query": "1", "ids": [1]}' '"query" is not a query number'
  bad '{"query": 0, "ids": [2]}' "query 0 is answered twice (also at bad.jsonl: line 1)"
  bad '{"query": 1, "query_id": "0", "ids": [2]}' "query 0 is answered twice"
  bad '{"query": 1, "ids": [2, "2"]}' "document 2 is twice in one ranked list"
  : >none.jsonl
  run vdb-eval qrels -k 3 qrels.txt none.jsonl
  assert_failure 65
  assert_output --partial "none.jsonl: no results"
  # results that answer no judged query: a warning, zeros
  printf '%s\n' '{"query": 0, "ids": [1]}' >other.jsonl
  run --separate-stderr vdb-eval qrels -k 3 qrels.txt other.jsonl
  assert_success
  [[ "$stderr" == *"no result line answers a query of qrels.txt"* ]]
  assert_line --index 0 "ndcg@3: 0.0000"
}

# ----- vdb-eval fusion -----

# A corpus whose documents have a text and a vector, judged queries with
# both: 300 documents over 40 words and 8 dimensions; a query's relevant
# documents are those holding all its words (REL 2) and its 5 nearest by
# cosine (REL 1), so that each side finds some of them.
fusion_case() {
  "$PY" - <<'PY'
import json, math, random
random.seed(11)
words = ["amber", "basin", "cedar", "delta", "ember", "fjord", "grove", "heath", "inlet",
         "jetty", "knoll", "lagoon", "marsh", "nook", "oasis", "prairie", "quarry", "ridge",
         "summit", "tundra", "upland", "valley", "wharf", "yard", "zenith", "brook", "cliff",
         "dune", "estuary", "forest", "glacier", "harbor", "island", "jungle", "kelp", "lake",
         "meadow", "north", "ocean", "pond"]
def vec():
    return [round(random.gauss(0, 1), 4) for _ in range(8)]
def cos(a, b):
    return sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))
docs = []
with open("docs.jsonl", "w") as f:
    for i in range(300):
        text = " ".join(random.choice(words[:10] if random.random() < 0.5 else words) for _ in range(random.randint(4, 10)))
        d = {"id": "d%d" % i, "text": text, "vector": vec()}
        docs.append(d)
        f.write(json.dumps(d) + "\n")
with open("q.jsonl", "w") as f, open("qrels.txt", "w") as q:
    for i in range(25):
        qw = random.sample(words[:20], random.randint(1, 2))
        v = vec()
        rec = {"id": "q%d" % i, "text": " ".join(qw), "vector": v}
        f.write(json.dumps(rec) + "\n")
        rel = {}
        for d in sorted(docs, key=lambda d: -cos(v, d["vector"]))[:5]:
            rel[d["id"]] = 1
        for d in docs:
            if all(w in d["text"].split() for w in qw):
                rel[d["id"]] = 2
        rel.setdefault("d%d" % i, 0)
        for d, g in rel.items():
            q.write("q%d 0 %s %d\n" % (i, d, g))
PY
  vdb-build -q --lexical -m cosine -o ix.vdb docs.jsonl
  jq -c 'del(.vector)' q.jsonl >q_text.jsonl
  jq -c 'del(.text)' q.jsonl >q_vec.jsonl
}

# The metrics of vdb-query's results with OPTIONS over QUERIES, as vdb-eval
# qrels prints them (JSON).
query_metrics() { # QUERIES OPTIONS...
  local qf=$1; shift
  vdb-query -x ix.vdb -k 10 "$@" "$qf" | vdb-eval -q qrels -k 10 --json qrels.txt
}

@test "fusion: each row equals vdb-query with the same settings piped into vdb-eval qrels" {
  fusion_case
  run --separate-stderr vdb-eval fusion -x ix.vdb --queries q.jsonl --qrels qrels.txt -k 10 \
    --alpha 0,0.3,1 --rrf-k 20,60 --format csv
  assert_success
  printf '%s\n' "$output" >sweep.csv
  [ "$(head -1 sweep.csv)" = "mode,alpha,rrf_k,k,queries,answered,ndcg,mrr,recall,precision,qps" ]
  [ "$(cut -d, -f1-3 sweep.csv | tail -n +2 | tr '\n' ' ')" = \
    "bm25,, vectors,, rrf,,20 rrf,,60 weighted,0, weighted,0.3, weighted,1, " ]
  {
    query_metrics q_text.jsonl
    query_metrics q_vec.jsonl
    query_metrics q.jsonl --fusion rrf --rrf-k 20
    query_metrics q.jsonl --fusion rrf --rrf-k 60
    query_metrics q.jsonl --fusion weighted --alpha 0
    query_metrics q.jsonl --fusion weighted --alpha 0.3
    query_metrics q.jsonl --fusion weighted --alpha 1
  } >expected.jsonl
  run "$PY" - <<'PY'
import csv, json
rows = list(csv.DictReader(open("sweep.csv")))
want = [json.loads(l) for l in open("expected.jsonl")]
assert len(rows) == len(want) == 7, (len(rows), len(want))
for r, w in zip(rows, want):
    assert int(r["queries"]) == w["queries"] == 25 and int(r["answered"]) == 25, (r, w)
    for m in ("ndcg", "mrr", "recall", "precision"):
        assert abs(float(r[m]) - w[m]) < 1e-9 + 5e-7, (m, r, w)
    assert float(r["qps"]) > 0
# the sides differ, so the comparison means something
assert len({r["ndcg"] for r in rows}) >= 3, rows
print("ok")
PY
  assert_output "ok"
}

@test "fusion: the table and JSON reports, and the default settings" {
  fusion_case
  run vdb-eval fusion -x ix.vdb --queries q.jsonl --qrels qrels.txt
  assert_success
  assert_line --index 0 --regexp '^setting +ndcg@10 +mrr@10 +recall@10 +precision@10 +qps$'
  assert_line --index 1 --regexp '^bm25 +0\.[0-9]{4} +0\.[0-9]{4} +0\.[0-9]{4} +0\.[0-9]{4} +[0-9]+$'
  assert_line --index 3 --regexp '^rrf k=60 '
  assert_line --index 4 --regexp '^weighted alpha=0 '
  assert_line --index 14 --regexp '^weighted alpha=1 '
  [ "${#lines[@]}" -eq 15 ]
  run vdb-eval fusion -x ix.vdb --queries q.jsonl --qrels qrels.txt -k 5 --alpha 0.5 --format json
  assert_success
  [ "${#lines[@]}" -eq 4 ]
  [ "$(jq -r '[.mode, .alpha, .rrf_k, .k] | map(tostring) | join(" ")' <<<"${lines[3]}")" = "weighted 0.5 null 5" ]
  [ "$(jq -r '[.mode, .alpha, .rrf_k] | map(tostring) | join(" ")' <<<"${lines[2]}")" = "rrf null 60" ]
  # and it equals qrels at k 5
  want=$(vdb-query -x ix.vdb -k 5 --fusion weighted --alpha 0.5 q.jsonl |
         vdb-eval -q qrels -k 5 --json qrels.txt | jq -c '[.ndcg, .mrr, .recall, .precision]')
  [ "$(jq -c '[.ndcg, .mrr, .recall, .precision]' <<<"${lines[3]}")" = "$want" ]
}

@test "fusion: --plot draws nDCG against alpha" {
  command -v gnuplot >/dev/null || skip "gnuplot is not installed (Debian: gnuplot-nox)"
  fusion_case
  run vdb-eval fusion -x ix.vdb --queries q.jsonl --qrels qrels.txt --alpha 0,0.5,1 \
    --rrf-k 20,60 --plot fusion.svg
  assert_success
  [ -s fusion.svg ]
  grep -q "nDCG@10" fusion.svg
  grep -q "rrf k=20" fusion.svg
  grep -q "bm25 alone" fusion.svg
  vdb-eval -q fusion -x ix.vdb --queries q.jsonl --qrels qrels.txt --alpha 0,1 --plot fusion.png >/dev/null
  [ "$(head -c 4 fusion.png | od -An -c | tr -d ' ')" = '211PNG' ]
}

@test "fusion: bad input and usage" {
  fusion_case
  vdb-build -q -m cosine -o plain.vdb docs.jsonl
  run vdb-eval fusion -x plain.vdb --queries q.jsonl --qrels qrels.txt
  assert_failure 64
  assert_output --partial "plain.vdb has no lexical index"
  run vdb-eval fusion -x ix.vdb --queries q_vec.jsonl --qrels qrels.txt
  assert_failure 65
  assert_output --partial "q_vec.jsonl: record 0 has no \"text\""
  run vdb-eval fusion -x ix.vdb --queries q.jsonl --qrels missing.txt
  assert_failure 66
  run vdb-eval fusion -x ix.vdb --queries q.jsonl
  assert_failure 64
  assert_output --partial "--qrels"
  run vdb-eval fusion -x ix.vdb --qrels qrels.txt
  assert_failure 64
  run vdb-eval fusion --queries q.jsonl --qrels qrels.txt
  assert_failure 64
  run vdb-eval fusion -x ix.vdb --queries q.jsonl --qrels qrels.txt --alpha 0,1.5
  assert_failure 64
  assert_output --partial "--alpha"
  run vdb-eval fusion -x ix.vdb --queries q.jsonl --qrels qrels.txt --rrf-k 0
  assert_failure 64
  assert_output --partial "--rrf-k"
  run vdb-eval fusion -x ix.vdb --queries q.jsonl --qrels qrels.txt --plot out.txt
  assert_failure 64
}
