#!/usr/bin/env bats
# vdb-query --metrics FILE: the run's figures in the Prometheus text format,
# written atomically at exit, on a failure too. The references: the number
# of query lines given, the result ids printed (jq), the records passing a
# filter (jq over the input).
load helpers

PY=/usr/bin/python3

# gen N DIM SEED: JSONL records with a category
gen() {
  $PY - "$@" <<'EOF'
import json, sys
import numpy as np
n, d, seed = map(int, sys.argv[1:4])
X = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
for i, x in enumerate(X):
    print(json.dumps({"id": "r%d" % i, "vector": [float(v) for v in x],
                      "metadata": {"cat": "c%d" % (i % 4), "n": i}}))
EOF
}

# sample FILE NAME [LABELS]: the value of NAME's sample (with LABELS inside
# its braces, e.g. le="0.1"), exactly one such line
sample() {
  local pat="^$2\\{index=\"[^\"]*\"${3:+,$3}\\} "
  [ "$(grep -cE "$pat" "$1")" -eq 1 ] || { echo "no single sample $2 $3 in $1" >&2; return 1; }
  grep -E "$pat" "$1" | awk '{ print $NF }'
}

# histogram_ok FILE COUNT: the latency histogram's buckets are the seed's,
# cumulative (never falling), +Inf equal to _count equal to COUNT
histogram_ok() {
  $PY - "$@" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
count = float(sys.argv[2])
assert "# TYPE vdb_query_latency_seconds histogram" in text, "no histogram TYPE line"
b = re.findall(r'^vdb_query_latency_seconds_bucket\{index="[^"]*",le="([^"]+)"\} (\S+)$', text, re.M)
les = [x[0] for x in b]
assert les == ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "+Inf"], les
vals = [float(x[1]) for x in b]
assert all(x <= y for x, y in zip(vals, vals[1:])), vals
assert vals[-1] == count, (vals, count)
c = re.search(r'^vdb_query_latency_seconds_count\{[^}]*\} (\S+)$', text, re.M)
assert float(c.group(1)) == count
s = re.search(r'^vdb_query_latency_seconds_sum\{[^}]*\} (\S+)$', text, re.M)
assert float(s.group(1)) >= 0
print("ok")
EOF
}

@test "--metrics: queries, results and the latency histogram agree with the queries given" {
  gen 300 8 1 >base.jsonl
  gen 37 8 2 | jq -c '{vector}' >q.jsonl
  vdb-build -q -T hnsw --M 8 -o h.vdb base.jsonl
  run -0 vdb-query -x h.vdb -k 5 -b 10 --metrics q.prom q.jsonl
  echo "$output" >r.jsonl
  cat q.prom
  [ "$(sample q.prom vdb_query_queries_total)" = 37 ]
  [ "$(sample q.prom vdb_query_results_total)" = "$(jq '.ids | length' r.jsonl | awk '{ s += $1 } END { print s }')" ]
  [ "$(sample q.prom vdb_query_results_total)" = 185 ]
  [ "$(sample q.prom vdb_query_errors_total)" = 0 ]
  [ "$(sample q.prom vdb_query_success)" = 1 ]
  [ "$(sample q.prom vdb_query_exit_status)" = 0 ]
  run -0 histogram_ok q.prom 37
  grep -q '^vdb_query_queries_total{index="h.vdb"} 37$' q.prom
  # no filter: no selectivity; no temporary left beside it
  run -1 grep -q selectivity q.prom
  [ "$(ls | grep -c 'q.prom.tmp')" -eq 0 ]
}

@test "--metrics with --filter: selectivity is the live records passing it over the live records" {
  gen 200 6 3 >base.jsonl
  gen 9 6 4 | jq -c '{vector}' >q.jsonl
  vdb-build -q -o f.vdb base.jsonl
  printf '%s\n' r1 r2 r5 r9 r13 >del.txt
  vdb-build -q --delete -x f.vdb del.txt
  run -0 vdb-query -x f.vdb -k 3 --filter 'cat == "c1" && n < 120' --metrics m.prom q.jsonl
  kept=$(jq -c 'select(.metadata.cat == "c1" and .metadata.n < 120) | .id' base.jsonl | grep -cvE '"r(1|2|5|9|13)"')
  want=$(awk -v k="$kept" 'BEGIN { printf "%.6f", k / 195 }')
  got=$(sample m.prom vdb_query_filter_selectivity)
  near "$got" "$want" 1e-6
  [ "$(sample m.prom vdb_query_queries_total)" = 9 ]
  grep -q '^# TYPE vdb_query_filter_selectivity gauge$' m.prom
}

@test "--metrics: a failed run writes its figures so far, one error and the exit status" {
  gen 100 4 5 >base.jsonl
  gen 25 4 6 | jq -c '{vector}' >q.jsonl
  # record 15 is broken: the first batch of 10 is answered, then 65
  sed -i '15s/.*/{"vector": [1, 2]}/' q.jsonl
  vdb-build -q -o f.vdb base.jsonl
  run -65 --separate-stderr vdb-query -x f.vdb -b 10 --metrics m.prom q.jsonl
  answered=${#lines[@]}
  cat m.prom
  [ "$(sample m.prom vdb_query_success)" = 0 ]
  [ "$(sample m.prom vdb_query_exit_status)" = 65 ]
  [ "$(sample m.prom vdb_query_errors_total)" = 1 ]
  [ "$(sample m.prom vdb_query_queries_total)" = "$answered" ]
  run -0 histogram_ok m.prom "$answered"
  grep -q '^vdb_query_last_failure_timestamp_seconds' m.prom
  # a later success keeps the failure's time and adds its own
  sed -i '15d' q.jsonl
  run -0 vdb-query -x f.vdb --metrics m.prom q.jsonl
  [ "$(sample m.prom vdb_query_queries_total)" = 24 ]
  grep -q '^vdb_query_last_failure_timestamp_seconds' m.prom
  grep -q '^vdb_query_last_success_timestamp_seconds' m.prom
}

@test "--metrics over several indexes; refused where nothing is searched" {
  gen 60 4 7 >base.jsonl
  gen 4 4 8 | jq -c '{vector}' >q.jsonl
  vdb-build -q --shard 0/2 -o s0.vdb base.jsonl
  vdb-build -q --shard 1/2 -o s1.vdb base.jsonl
  run -0 vdb-query -x s0.vdb -x s1.vdb -k 4 --metrics m.prom q.jsonl
  [ "$(sample m.prom vdb_query_queries_total)" = 4 ]
  [ "$(sample m.prom vdb_query_results_total)" = 16 ]
  grep -q '{index="s0.vdb,s1.vdb"}' m.prom
  run -64 vdb-query -x s0.vdb --dump --metrics m.prom
  run -64 vdb-query -x s0.vdb --verify --metrics m.prom
  run -64 vdb-query --merge --metrics m.prom q.jsonl
  # a target that cannot take the file: refused before any search (73)
  mkdir d.prom
  run -73 vdb-query -x s0.vdb --metrics d.prom q.jsonl
  [ -z "$(echo "$output" | grep ids)" ]
}
