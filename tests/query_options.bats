#!/usr/bin/env bats
# Queries with their own options (vdb-query(1), QUERY RECORDS): a JSONL query
# record's "k", "filter", "ef", "nprobe", "probes" and "exclude" override the
# command line for that query only, and the filter language tests the record
# id. References are independent of vdb: numpy brute force over the records
# (the filter given to it as a Python expression beside vdb's), jq over the
# records for id filters; the per-line knobs of approximate indexes equal the
# same query run alone with the command-line option.
load helpers

PY=/usr/bin/python3

# data N: base.jsonl, N records of 8-d vectors with ids "r<i>" and metadata
# {"c": i%5, "p": (7i)%100, "id": 1000+i}; texts of a few words for the
# lexical tests
data() {
  $PY - "$1" <<'EOF'
import json, random, sys
n = int(sys.argv[1]); random.seed(7)
words = ["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta"]
with open("base.jsonl", "w") as f:
    for i in range(n):
        f.write(json.dumps({"id": "r%d" % i, "vector": [random.uniform(-1, 1) for _ in range(8)],
                            "metadata": {"c": i % 5, "p": (7 * i) % 100, "id": 1000 + i},
                            "text": " ".join(random.choice(words) for _ in range(6))}) + "\n")
EOF
}

# brute BASE QUERIES [K]: exact l2 ids of each query, with its own "k" (else
# K), "exclude" and "_py" (a Python expression over m, the metadata, and
# rid, the record id: the records the query's "filter" keeps)
brute() {
  $PY - "$@" <<'EOF'
import json, sys
import numpy as np
base = [json.loads(l) for l in open(sys.argv[1])]
k0 = int(sys.argv[3]) if len(sys.argv) > 3 else 10
X = np.array([r["vector"] for r in base], dtype=np.float64)
for line in open(sys.argv[2]):
    q = json.loads(line)
    k = q.get("k", k0)
    keep = [i for i, r in enumerate(base)
            if eval(q.get("_py", "True"), {}, {"m": r["metadata"], "rid": r["id"]})
            and r["id"] not in q.get("exclude", [])]
    d = ((X[keep] - np.array(q["vector"])) ** 2).sum(axis=1)
    order = sorted(range(len(keep)), key=lambda j: (d[j], keep[j]))[:k]
    print(json.dumps([base[keep[j]]["id"] for j in order], separators=(",", ":")))
EOF
}

# queries: q.jsonl, 12 queries (ids "q<i>", vectors of records 3i+1, so that
# excluding the query's own record matters) with options on some lines
queries() {
  $PY - <<'EOF'
import json
base = [json.loads(l) for l in open("base.jsonl")]
opts = [{}, {"k": 3}, {"filter": "c == 2", "_py": "m['c'] == 2"},
        {"exclude": ["r10"]}, {}, {"k": 7, "filter": "p < 30 && c != 1",
        "_py": "m['p'] < 30 and m['c'] != 1"}, {"exclude": ["r16", "r0", "nope"], "k": 4},
        {"k": 3}, {"filter": "c == 2", "_py": "m['c'] == 2", "exclude": ["r22"]},
        {"filter": "id in [\"r3\", \"r28\", \"r40\"] || .id == 1099",
         "_py": "rid in ('r3', 'r28', 'r40') or m['id'] == 1099"}, {}, {"k": 1}]
with open("q.jsonl", "w") as f:
    for i, o in enumerate(opts):
        f.write(json.dumps(dict({"id": "q%d" % i, "vector": base[3 * i + 1]["vector"]}, **o)) + "\n")
EOF
}

@test "per-line k, filter and exclude on flat equal numpy brute force, whatever the batch size" {
  data 300
  queries
  vdb-build -q -o f.vdb base.jsonl
  brute base.jsonl q.jsonl 5 >want
  for b in 1 2 5 4096; do
    vdb-query -x f.vdb -k 5 -b $b q.jsonl | jq -c .ids >got
    cmp got want
  done
  # each option changed its line: the lines differ from the command line's answer
  vdb-query -x f.vdb -k 5 q.jsonl | jq -c .ids >got
  jq -c 'del(.k, .filter, .exclude, ._py)' q.jsonl | vdb-query -x f.vdb -k 5 | jq -c .ids >plain
  [ "$(paste -d'|' got plain | awk -F'|' '$1 != $2' | wc -l)" -eq 9 ]
  # the query ids are echoed, in order
  [ "$(vdb-query -x f.vdb -k 5 q.jsonl | jq -r .query_id | tr '\n' ' ')" = \
    "q0 q1 q2 q3 q4 q5 q6 q7 q8 q9 q10 q11 " ]
}

@test "exclude leaves out the query's own record, and k results stay k on flat" {
  data 200
  jq -c '{id, vector, exclude: [.id]}' base.jsonl | head -n 40 >q.jsonl
  vdb-build -q -o f.vdb base.jsonl
  vdb-query -x f.vdb -k 10 q.jsonl >out.jsonl
  brute base.jsonl q.jsonl 10 >want
  jq -c .ids out.jsonl | cmp - want
  [ "$(jq -s '[.[] | select(.query_id as $q | .ids | index($q))] | length' out.jsonl)" = 0 ]
  [ "$(jq -s '[.[].ids | length] | unique' -c out.jsonl)" = "[10]" ]
  # integer ids, and an index without stored ids (the row number is the id)
  jq -c '{id: (.id[1:] | tonumber), vector}' base.jsonl >int.jsonl
  jq -c '{vector}' base.jsonl >noid.jsonl
  vdb-build -q -o i.vdb int.jsonl
  vdb-build -q -o n.vdb noid.jsonl
  for x in i n; do
    jq -c '{vector, exclude: [(.id[1:] | tonumber), 7]}' base.jsonl | head -n 20 |
      vdb-query -x $x.vdb -k 5 >out.jsonl
    [ "$(jq -s '[.[] | .ids[]] | map(select(. == 7)) | length' out.jsonl)" = 0 ]
    [ "$(jq -s '[to_entries[] | select(.key as $k | .value.ids | any(.[]; . == $k))] | length' \
         out.jsonl)" = 0 ]
    [ "$(jq -s '[.[].ids | length] | unique' -c out.jsonl)" = "[5]" ]
  done
}

@test "per-line ef, nprobe and probes equal the same query run alone with --ef, --nprobe, --probes" {
  data 1000
  # one thread: a 2-thread graph this small varies between runs, and with it
  # how many answers ef changes
  vdb-build -q -T hnsw --M 4 --ef-construction 8 -t 1 -o h.vdb base.jsonl
  vdb-build -q -T ivf --nlist 32 -o i.vdb base.jsonl
  vdb-build -q -T lsh --lsh-tables 2 --lsh-bits 8 -o l.vdb base.jsonl
  for spec in h:ef:1:200 i:nprobe:1:32 l:probes:1:64; do
    IFS=: read -r x knob lo hi <<<"$spec"
    # lines alternate: none, knob lo, knob hi, k 3 with knob hi
    jq -c --arg kn "$knob" --argjson lo "$lo" --argjson hi "$hi" \
      'input_line_number as $n | {id, vector} +
       ([{}, {($kn): $lo}, {($kn): $hi}, {($kn): $hi, k: 3}][$n % 4])' base.jsonl |
      head -n 16 >q.jsonl
    for b in 3 4096; do
      vdb-query -x $x.vdb -k 10 -b $b q.jsonl | jq -c 'del(.query)' >got.$b
    done
    cmp got.3 got.4096
    : >want
    while read -r line; do
      a=(-k "$(jq '.k // 10' <<<"$line")")
      v=$(jq -r --arg kn "$knob" '.[$kn] // empty' <<<"$line")
      [ -z "$v" ] || a+=("--$knob" "$v")
      jq -c --arg kn "$knob" 'del(.[$kn], .k)' <<<"$line" | vdb-query -x $x.vdb "${a[@]}" |
        jq -c 'del(.query)' >>want
    done <q.jsonl
    cmp got.3 want
    # the knob changed some answers: they differ from the default's
    jq -c --arg kn "$knob" 'del(.[$kn], .k)' q.jsonl | vdb-query -x $x.vdb -k 10 |
      jq -c 'del(.query)' >plain
    changed=$(paste -d'|' got.3 plain | awk -F'|' '$1 != $2' | wc -l)
    echo "$knob: $changed lines differ from the default"
    [ "$changed" -gt 4 ]
  done
}

@test "per-line options over shards (-x a -x b) equal numpy brute force over the whole set" {
  data 300
  queries
  for i in 0 1 2; do vdb-build -q --shard $i/3 -o s$i.vdb base.jsonl; done
  brute base.jsonl q.jsonl 5 >want
  vdb-query -x s0.vdb -x s1.vdb -x s2.vdb -k 5 -b 4 q.jsonl | jq -c .ids >got
  cmp got want
}

@test "lexical and hybrid queries honour per-line k and filter as the command line's" {
  data 300
  vdb-build -q --lexical -o d.vdb base.jsonl
  $PY - <<'EOF'
import json
base = [json.loads(l) for l in open("base.jsonl")]
opts = [{}, {"k": 2}, {"filter": "c == 3"}, {"k": 4, "filter": "p >= 50"}, {"exclude": ["r5"]}]
with open("q.jsonl", "w") as f:
    for i in range(20):
        r = base[i * 5]
        q = {"id": "q%d" % i, "text": r["text"]}
        if i % 2:
            q["vector"] = r["vector"]
        f.write(json.dumps(dict(q, **opts[i % 5])) + "\n")
EOF
  vdb-query -x d.vdb -k 6 -b 3 q.jsonl | jq -c 'del(.query)' >got
  : >want
  while read -r line; do
    a=(-k "$(jq '.k // 6' <<<"$line")")
    f=$(jq -r '.filter // empty' <<<"$line")
    [ -z "$f" ] || a+=(--filter "$f")
    if [ "$(jq '.exclude // [] | length' <<<"$line")" = 0 ]; then
      jq -c 'del(.k, .filter)' <<<"$line" | vdb-query -x d.vdb "${a[@]}" | jq -c 'del(.query)' >>want
    else # the answer with k + 1, less r5, cut to k
      a[1]=$((a[1] + 1))
      jq -c 'del(.k, .exclude)' <<<"$line" | vdb-query -x d.vdb "${a[@]}" |
        jq -c 'del(.query) | [.ids, (.scores // .distances)] as [$i, $s] |
               ([range($i | length)] | map(select($i[.] != "r5")) | .[:6]) as $keep |
               (if has("scores") then "scores" else "distances" end) as $f |
               .ids = [$keep[] | $i[.]] | .[$f] = [$keep[] | $s[.]]' >>want
    fi
  done <q.jsonl
  # hybrid lines carry per-list ranks that an exclusion does not renumber:
  # compare ids and fused scores
  diff <(jq -c '[.query_id, .ids, .scores]' got) <(jq -c '[.query_id, .ids, .scores]' want)
  [ "$(jq -s '.[1].ids | length' got)" = 2 ]
  [ "$(jq -s '[.[2].ids[] | ltrimstr("r") | tonumber % 5] | unique' -c got)" = "[3]" ]
}

@test "id filters (id ==, !=, in, integer ids, row numbers, .id for metadata) select what jq selects" {
  data 300
  jq -c '{id: (.id[1:] | tonumber), vector, metadata}' base.jsonl >int.jsonl
  jq -c '{vector, metadata}' base.jsonl >noid.jsonl
  vdb-build -q -o s.vdb base.jsonl
  vdb-build -q -o i.vdb int.jsonl
  vdb-build -q -o n.vdb noid.jsonl
  head -n 1 base.jsonl | jq -c '{vector}' >q.jsonl
  # the records' ids as vdb returns them, sorted, with every record asked for
  run_ids() { vdb-query -x "$1" -k 300 --filter "$2" q.jsonl | jq -c '.ids | sort'; }
  while IFS='@' read -r ix filter jqf src; do
    want=$(jq -s -c "[to_entries[] | .key as \$row | .value | select($jqf) |
                      (.id // \$row)] | sort" $src)
    [ "$(run_ids $ix.vdb "$filter")" = "$want" ]
    [ "$(VDB_FILTER_SCAN=1 run_ids $ix.vdb "$filter")" = "$want" ]
    # a per-line filter too
    got=$(jq -c --arg f "$filter" '. + {filter: $f, k: 300}' q.jsonl | vdb-query -x $ix.vdb |
          jq -c '.ids | sort')
    [ "$got" = "$want" ]
  done <<'EOF'
s@id == "r17"@.id == "r17"@base.jsonl
s@id in ["r3", "r250", "nope", 3]@.id == "r3" or .id == "r250"@base.jsonl
s@id != "r3" && c == 1@.id != "r3" and .metadata.c == 1@base.jsonl
s@.id >= 1290 || id == "r0"@.metadata.id >= 1290 or .id == "r0"@base.jsonl
s@!(id in ["r1", "r2"]) && p < 5@(.id == "r1" or .id == "r2" | not) and .metadata.p < 5@base.jsonl
i@id in [1, 2, 299, "3"]@.id == 1 or .id == 2 or .id == 299@int.jsonl
i@id < 4 || id == 100@.id < 4 or .id == 100@int.jsonl
i@id != 5 && c == 0@.id != 5 and .metadata.c == 0@int.jsonl
n@id in [0, 7, 299, 300]@$row == 0 or $row == 7 or $row == 299@noid.jsonl
n@id >= 295@$row >= 295@noid.jsonl
EOF
}

@test "a malformed per-line option is refused (65) naming the input, the line and the option" {
  data 50
  vdb-build -q -o f.vdb base.jsonl
  v=$(head -n 1 base.jsonl | jq -c .vector)
  while IFS='@' read -r opt why; do
    printf '{"vector": %s}\n{"vector": %s, %s}\n' "$v" "$v" "$opt" >bad.jsonl
    run -65 vdb-query -x f.vdb bad.jsonl
    echo "$output"
    [ "${#lines[@]}" -eq 1 ]
    [[ "$output" == *"bad.jsonl: line 2 (record 1): "*"$why"* ]]
  done <<'EOF'
"k": 0@"k" is 0, out of range (1..100000, VDB_MAX_K)
"k": 100001@"k" is 100001, out of range
"k": 2.5@"k" must be an integer
"k": "5"@"k" must be an integer
"ef": 0@"ef" is 0, out of range
"ef": 1048577@"ef" is 1048577, out of range (1..1048576, VDB_MAX_EF)
"nprobe": -1@"nprobe" is -1, out of range
"nprobe": 16777217@VDB_MAX_NPROBE
"probes": 65537@"probes" is 65537, out of range (1..65536, VDB_LSH_MAX_PROBES)
"probes": true@"probes" must be an integer
"filter": "c =="@"filter": column 5: expected a value
"filter": "id in ["@"filter": column
"filter": 3@"filter" must be a string
"exclude": "r1"@"exclude" must be an array of ids
"exclude": [1.5]@"exclude"[0] is not an id
"exclude": [["r1"]]@"exclude"[0] is not an id
EOF
  # over the limit of ids
  $PY -c "import json; print(json.dumps({'vector': $v, 'exclude': list(range(1025))}))" >bad.jsonl
  run -65 vdb-query -x f.vdb bad.jsonl
  [[ "$output" == *"line 1 (record 0): \"exclude\" holds 1025 ids, over the limit of 1024 (VDB_MAX_QUERY_EXCLUDE)"* ]]
  # a build reads such fields as any unknown one: ignored
  jq -c '. + {k: 0, filter: 3, exclude: "x", ef: "no"}' base.jsonl >b2.jsonl
  vdb-build -q -o b2.vdb b2.jsonl
  [ "$(jq -c '{vector}' bad.jsonl | vdb-query -x b2.vdb -k 3 | jq -c .ids)" = \
    "$(jq -c '{vector}' bad.jsonl | vdb-query -x f.vdb -k 3 | jq -c .ids)" ]
}
