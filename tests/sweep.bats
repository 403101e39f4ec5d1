#!/usr/bin/env bats
# vdb-eval sweep: recall and speed over search settings, as a table, CSV,
# JSON and a gnuplot plot. Recall is checked against the vdb-query |
# vdb-eval recall pipeline; speeds only for their invariants (timings are
# machine- and load-dependent, so no figure is asserted).
load helpers

# the documented columns, in order (man vdb-eval, CSV AND JSON COLUMNS)
COLS=time,index,type,metric,count,dim,bytes,params,k,queries,threads,runs,setting,ef,nprobe,probes,recall_at_1,recall,recall_at_100,qps,qps_all,p50_ms,p95_ms,p99_ms,max_ms

# a small, single-thread (so reproducible) hnsw graph whose recall still
# moves with ef, and the exact index beside it
small_indexes() {
  vdb-build -q -t 1 -T hnsw --M 4 --ef-construction 16 -o h.vdb "$D/sift2k_base.fvecs"
  vdb-build -q -o f.vdb "$D/sift2k_base.fvecs"
}
Q=(--queries "$D/sift_query20.fvecs" --gt "$D/sift2k_gt100_l2.ivecs")

# field NAME of the CSV row whose setting is SETTING and index INDEX
csv_get() { # FILE INDEX SETTING NAME
  awk -F, -v ix="$2" -v set="$3" -v name="$4" '
    NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
    $2 == ix && $13 == set { print $col[name] }' "$1"
}

# recall@KE, as vdb-eval recall --json prints it (6 decimals), of vdb-query's
# results at k = QK
pipeline_recall() { # INDEX QUERIES GT QK KE [query options...]
  local ix=$1 q=$2 gt=$3 qk=$4 ke=$5; shift 5
  vdb-query -x "$ix" -k "$qk" -O ivecs "$@" "$q" >r.ivecs
  vdb-eval recall --json -k "$ke" "$gt" r.ivecs | sed 's/.*"recall": \([0-9.]*\).*/\1/'
}

@test "sweep's recall@1, @10 and @100 are the pipeline's at every ef (l2, fvecs)" {
  small_indexes
  vdb-eval sweep -x h.vdb -x f.vdb "${Q[@]}" -k 10 --ef 8,16,64 --runs 1 --format csv >s.csv
  [ "$(wc -l <s.csv)" -eq 5 ] # the header, 3 settings of h.vdb, 1 row of f.vdb
  below=0
  for ef in 8 16 64; do
    r=$(csv_get s.csv h.vdb ef=$ef recall)
    [ "$r" = "$(pipeline_recall h.vdb "$D/sift_query20.fvecs" "$D/sift2k_gt100_l2.ivecs" 10 10 --ef $ef)" ]
    # recall@1: the first of the same k results
    [ "$(csv_get s.csv h.vdb ef=$ef recall_at_1)" = \
      "$(pipeline_recall h.vdb "$D/sift_query20.fvecs" "$D/sift2k_gt100_l2.ivecs" 10 1 --ef $ef)" ]
    # recall@100: what asking for 100 results at this ef gives
    [ "$(csv_get s.csv h.vdb ef=$ef recall_at_100)" = \
      "$(pipeline_recall h.vdb "$D/sift_query20.fvecs" "$D/sift2k_gt100_l2.ivecs" 100 100 --ef $ef)" ]
    if awk -v r="$r" 'BEGIN { exit !(r < 1) }'; then below=1; fi
  done
  [ "$below" = 1 ] # some setting misses neighbours: the comparison was not 1 = 1 only
  [ "$(csv_get s.csv f.vdb '' recall)" = 1.000000 ]
  [ "$(csv_get s.csv f.vdb '' recall_at_100)" = 1.000000 ]
}

@test "sweep's recall is the pipeline's for cosine on JSONL queries with string ids" {
  vdb-build -q -t 1 -T hnsw -m cosine --M 4 --ef-construction 16 -o w.vdb "$D/words1k.jsonl"
  vdb-eval sweep -x w.vdb --queries "$D/words_query20.jsonl" --gt "$D/words1k_gt100_cosine.ivecs" \
    --ef 12,48 --runs 1 --format csv >s.csv
  for ef in 12 48; do
    [ "$(csv_get s.csv w.vdb ef=$ef recall)" = \
      "$(pipeline_recall w.vdb "$D/words_query20.jsonl" "$D/words1k_gt100_cosine.ivecs" 10 10 --ef $ef)" ]
  done
  [ "$(csv_get s.csv w.vdb ef=12 metric)" = cosine ]
}

@test "siftsmall: recall never decreases as ef grows" {
  need_shared
  # one build thread: the graph, and so this curve, is the same on every run;
  # M 4 keeps recall well below 1 at small ef, so every step is a real test
  vdb-build -q -t 1 -T hnsw --M 4 --ef-construction 32 -o s.vdb "$S/siftsmall/siftsmall_base.fvecs"
  vdb-eval sweep -x s.vdb --queries "$S/siftsmall/siftsmall_query.fvecs" \
    --gt "$S/siftsmall/siftsmall_groundtruth.ivecs" --ef 10,12,16,20,24,32,40,48,64,80,128,160,256 \
    --runs 1 --format json >s.json
  [ "$(wc -l <s.json)" -eq 13 ]
  jq -s -e '[.[].ef] == [10,12,16,20,24,32,40,48,64,80,128,160,256]' s.json >/dev/null
  # non-decreasing at every step, and a real climb from the first to the last
  jq -s -e '[.[].recall] as $r | [range(1; $r | length) | $r[. - 1] <= $r[.]] | all' s.json >/dev/null
  jq -s -e '(.[0].recall < 0.85) and (.[-1].recall >= 0.99)' s.json >/dev/null
}

@test "latency percentiles are ordered and speeds are consistent with them" {
  small_indexes
  vdb-eval sweep -t 2 -x h.vdb -x f.vdb "${Q[@]}" --ef 16,64 --runs 2 --format json >s.json
  [ "$(wc -l <s.json)" -eq 3 ]
  jq -s -e 'all(.[]; .p50_ms > 0 and .p50_ms <= .p95_ms and .p95_ms <= .p99_ms and
                     .p99_ms <= .max_ms and .qps > 0 and .qps_all > 0)' s.json >/dev/null
  # one-thread q/s is queries over the summed latencies: never below 1/max
  jq -s -e 'all(.[]; .qps * .max_ms / 1000 >= 0.999)' s.json >/dev/null
  jq -s -e 'all(.[]; .threads == 2 and .runs == 2 and .queries == 20 and .k == 10)' s.json >/dev/null
}

@test "CSV and JSON have the documented columns and agree" {
  small_indexes
  vdb-eval groundtruth -k 10 "$D/sift2k_base.fvecs" "$D/sift_query20.fvecs" >gt10.ivecs
  vdb-eval sweep -x h.vdb,f.vdb --queries "$D/sift_query20.fvecs" --gt gt10.ivecs --ef 8,32 \
    --runs 1 --format csv >s.csv
  vdb-eval sweep -x h.vdb,f.vdb --queries "$D/sift_query20.fvecs" --gt gt10.ivecs --ef 8,32 \
    --runs 1 --format json >s.json
  [ "$(head -1 s.csv)" = "$COLS" ]
  [ "$(awk -F, 'NR > 1 { print NF }' s.csv | sort -u)" = 25 ]
  jq -s -e --arg cols "$COLS" 'length == 3 and all(.[]; keys_unsorted == ($cols | split(",")))' \
    s.json >/dev/null
  # the header's facts: type, metric, sizes, file bytes and build parameters
  jq -s -e '.[0] | .type == "hnsw" and .metric == "l2" and .count == 2000 and .dim == 128 and
            .params.M == 4 and .params.ef_construction == 16 and .ef == 8 and .nprobe == null and
            .setting == "ef=8"' s.json >/dev/null
  [ "$(jq -s '.[0].bytes' s.json)" = "$(stat -c %s h.vdb)" ]
  jq -s -e '.[2] | .type == "flat" and .setting == "" and .ef == null' s.json >/dev/null
  # hnsw's default walks codes and re-ranks 10k (vdb-build.1)
  [ "$(csv_get s.csv h.vdb ef=8 params)" = "M=4 ef_construction=16 walk=codes refine=10 seed=42" ]
  # a ground truth of 10 per query has no recall@100
  jq -s -e 'all(.[]; .recall_at_100 == null)' s.json >/dev/null
  [ "$(csv_get s.csv h.vdb ef=8 recall_at_100)" = "" ]
  # recall is deterministic: both formats report the same
  diff <(awk -F, 'NR > 1 { print $18 }' s.csv) <(jq -r '.recall | . * 1e6 | round' s.json |
    awk '{ printf "%.6f\n", $1 / 1e6 }')
}

@test "the table is aligned, one row per setting; settings that do not apply are ignored" {
  small_indexes
  cp h.vdb a-longer-name.vdb
  run --separate-stderr vdb-eval sweep -x a-longer-name.vdb -x f.vdb "${Q[@]}" --ef 8,16 \
    --nprobe 4 --runs 1
  assert_success
  [ "${#lines[@]}" -eq 4 ] # heads, 2 settings of the hnsw index, 1 row of flat
  [[ "${lines[0]}" == index* ]]
  # every line has its type column where the heads have it
  col=$(awk 'NR == 1 { print index($0, "type") }' <<<"$output")
  [ "$(awk -v c="$col" 'NR > 1 { print substr($0, c, 4) }' <<<"$output" | sort -u | tr '\n' ' ')" = "flat hnsw " ]
  [[ "${lines[3]}" == "f.vdb "*" flat "*" - "* ]]
  [[ "$stderr" == *"--nprobe applies to none of the indexes"* ]]
  # an index type that takes none of the lists: one row, at its default
  run --separate-stderr vdb-eval sweep -x f.vdb "${Q[@]}" --ef 8,16 --runs 1 --format csv
  assert_success
  [ "${#lines[@]}" -eq 2 ]
  [[ "$stderr" == *"--ef applies to none"* ]]
}

@test "a YAML sweep file: lists of indexes and settings; the command line wins" {
  small_indexes
  cat >nightly.yaml <<EOF
index: [h.vdb, f.vdb]
queries: $D/sift_query20.fvecs
gt: $D/sift2k_gt100_l2.ivecs
k: 10
ef: [8, 16, 32]
runs: 1
format: csv
EOF
  vdb-eval sweep -c nightly.yaml >all.csv
  [ "$(cut -d, -f2,13 all.csv | tail -n +2 | tr '\n' ' ')" = "h.vdb,ef=8 h.vdb,ef=16 h.vdb,ef=32 f.vdb, " ]
  vdb-eval sweep -c nightly.yaml -x h.vdb --ef 64 --format json >one.json
  [ "$(jq -r '"\(.index) \(.setting)"' one.json)" = "h.vdb ef=64" ]
  # keys that are not options are named with their line
  printf 'index: h.vdb\nefs: [1, 2]\n' >bad.yaml
  run vdb-eval sweep -c bad.yaml
  assert_failure 64
  assert_output --partial "bad.yaml: line 2"
}

@test "CSV appended to a history file gets one header; --header overrides" {
  small_indexes
  for night in 1 2; do
    vdb-eval sweep -x h.vdb "${Q[@]}" --ef 8,16 --runs 1 --format csv >>history.csv
  done
  [ "$(grep -c '^time,' history.csv)" -eq 1 ]
  [ "$(wc -l <history.csv)" -eq 5 ]
  vdb-eval sweep -x h.vdb "${Q[@]}" --runs 1 --format csv --header always >>history.csv
  [ "$(grep -c '^time,' history.csv)" -eq 2 ]
  vdb-eval sweep -x h.vdb "${Q[@]}" --runs 1 --format csv --header never >new.csv
  [ "$(wc -l <new.csv)" -eq 1 ]
  [ "$(grep -c '^time,' new.csv)" -eq 0 ]
}

@test "--plot draws recall against q/s as SVG and PNG, with reference curves" {
  command -v gnuplot >/dev/null || skip "gnuplot is not installed (Debian: gnuplot-nox)"
  small_indexes
  # the reference format: system,setting,recall,qps (+ ignored columns; threads != 1 dropped)
  cat >ref.csv <<'EOF'
system,setting,recall,qps,threads,note
hnswlib,ef=16,0.80,250000,1,
hnswlib,ef=64,0.98,90000,1,"a, quoted note"
hnswlib,ef=64,0.98,170000,2,
"faiss hnsw",ef=64,0.97,40000,1,
EOF
  run vdb-eval sweep -x h.vdb -x f.vdb "${Q[@]}" --ef 8,16,64 --runs 1 --plot curve.svg \
    --reference ref.csv --format csv
  assert_success
  [ -s curve.svg ]
  grep -q '<svg' curve.svg
  for title in h.vdb f.vdb hnswlib 'faiss hnsw'; do grep -q "$title" curve.svg; done
  vdb-eval sweep -x h.vdb "${Q[@]}" --ef 8,64 --runs 1 --plot curve.PNG >/dev/null
  [ "$(head -c 4 curve.PNG | od -An -c | tr -d ' ')" = '211PNG' ]
  # nothing left beside them
  [ "$(ls | grep -c tmp)" = 0 ]
}

@test "--plot without gnuplot: status 69 and a message, before any measuring" {
  small_indexes
  run --separate-stderr env PATH=/nonexistent "$VDB_BIN/vdb-eval" sweep -x h.vdb "${Q[@]}" \
    --plot curve.svg
  [ "$status" -eq 69 ]
  [[ "$stderr" == *"gnuplot is not installed"*"gnuplot-nox"* ]]
  [ -z "$output" ]
  [ ! -e curve.svg ]
}

@test "bad options and inputs have their documented statuses" {
  small_indexes
  run vdb-eval sweep "${Q[@]}"
  assert_failure 64
  assert_output --partial "sweep needs an index"
  run vdb-eval sweep -x h.vdb --queries "$D/sift_query20.fvecs"
  assert_failure 64
  run vdb-eval sweep -x h.vdb "${Q[@]}" --ef 8,,16
  assert_failure 64
  run vdb-eval sweep -x h.vdb "${Q[@]}" --format xml
  assert_failure 64
  run vdb-eval sweep -x h.vdb "${Q[@]}" --plot curve.pdf
  assert_failure 64
  run vdb-eval sweep -x h.vdb "${Q[@]}" --reference ref.csv
  assert_failure 64
  run vdb-eval sweep -x missing.vdb "${Q[@]}"
  assert_failure 66
  # ground truth too shallow for k, or for another query set; another dimension
  run vdb-eval sweep -x h.vdb "${Q[@]}" -k 200
  assert_failure 65
  assert_output --partial "fewer than k = 200"
  vdb-eval groundtruth -k 10 "$D/sift2k_base.fvecs" "$D/sift_query20.fvecs" | head -c 440 >gt10.ivecs
  run vdb-eval sweep -x h.vdb --queries "$D/sift_query20.fvecs" --gt gt10.ivecs
  assert_failure 65
  assert_output --partial "10 rows but there are 20 queries"
  run vdb-eval sweep -x h.vdb --queries "$D/words_query20.jsonl" --gt "$D/words1k_gt100_l2.ivecs"
  assert_failure 65
  assert_output --partial "h.vdb has dimension 128 but the queries have 100"
  if command -v gnuplot >/dev/null; then
    run vdb-eval sweep -x h.vdb "${Q[@]}" --plot no/such/dir/curve.svg
    assert_failure 73
    run vdb-eval sweep -x h.vdb "${Q[@]}" --plot curve.svg --reference missing.csv
    assert_failure 66
    printf 'system,recall,qps\nx,0.5,10\n' >ref.csv
    run vdb-eval sweep -x h.vdb "${Q[@]}" --plot curve.svg --reference ref.csv
    assert_failure 65
    assert_output --partial "ref.csv: line 1: the header must name"
    printf 'system,setting,recall,qps\nx,a,0.5,fast\n' >ref.csv
    run vdb-eval sweep -x h.vdb "${Q[@]}" --plot curve.svg --reference ref.csv
    assert_failure 65
    assert_output --partial "ref.csv: line 2: qps 'fast'"
  fi
}
