#!/usr/bin/env bats
# What an index type can do lives in its ops table: vdb-eval types prints
# it, vdb(7) documents it, and builds, queries, sweeps and checks obey it
# (each metric, storage and --refine the table gives is built, every other
# is refused; each type's search setting is an option everywhere, with its
# range). lsh's --probes reaches the README's recall in vdb-eval sweep and
# check; ivfpq's --info counts its per-list tables.
load helpers

# the table of vdb(7)'s INDEX TYPES example: the lines after `vdb-eval types`
man_table() {
  sed -n '/^\.SH INDEX TYPES/,/^\.SH INDEX FILES/p' "$VDB_SRCDIR/man/vdb.7" |
    sed -n '/^vdb\\-eval types$/,/^\.EE/p' | sed '1d;$d' | sed 's/\\-/-/g'
}

# a small float input (JSONL, 260 records: ivfpq trains on 256) and a binary one (64 bits)
small_inputs() {
  head -n 260 "$D/words1k.jsonl" >f.jsonl
  perl -e 'srand(7); for my $i (0..259) {
             printf qq({"bits": "%s"}\n), join "", map { sprintf "%02x", int(rand(256)) } 1..8 }' \
    >b.jsonl
}

@test "vdb-eval types prints vdb(7)'s table, and --info the index's row of it" {
  man_table >man.txt
  [ "$(wc -l <man.txt)" -eq 6 ] # the heading and five types
  vdb-eval types >types.txt
  diff man.txt types.txt
  # --json: a line per type, the same facts
  vdb-eval types --json >types.jsonl
  [ "$(jq -s length types.jsonl)" -eq 5 ]
  diff <(awk 'NR > 1 { print $1 }' man.txt) <(jq -r .type types.jsonl)
  small_inputs
  for t in flat hnsw ivf ivfpq lsh; do
    vdb-build -q --no-recall-curve -T $t -m l2 -o $t.vdb f.jsonl
    diff <(vdb-query -x $t.vdb --info | jq -c .capabilities) <(jq -c "select(.type == \"$t\")" types.jsonl)
  done
}

@test "each metric, storage and --refine of vdb(7)'s table builds; every other is refused (64)" {
  man_table | awk 'NR > 1' >rows.txt
  [ "$(wc -l <rows.txt)" -eq 5 ]
  small_inputs
  vdb-eval types --json >types.jsonl
  while read -r type rest; do
    metrics=$(jq -r --arg t "$type" 'select(.type == $t) | .metrics | join(" ")' types.jsonl)
    storages=$(jq -r --arg t "$type" 'select(.type == $t) | .storage | join(" ")' types.jsonl)
    refine=$(jq -r --arg t "$type" 'select(.type == $t) | .refine' types.jsonl)
    # the table's columns are the same as the JSON's
    [[ "$rest" == "$metrics "* ]]
    [[ "$rest" == *" $storages "* ]]
    [[ "$rest" == *" $refine "* ]]
    for m in l2 ip cosine hamming; do
      in=f.jsonl
      [ $m = hamming ] && in=b.jsonl
      run vdb-build -q --no-recall-curve -T $type -m $m -o x.vdb $in
      echo "$type $m: $status $output"
      if [[ " $metrics " == *" $m "* ]]; then
        [ "$status" -eq 0 ]
        [ "$(vdb-query -x x.vdb --info | jq -r .metric)" = $m ]
      else
        [ "$status" -eq 64 ] || [ "$status" -eq 65 ]
        [[ "$output" == *"does not support metric $m"* ]]
      fi
    done
    for s in f32 fp16 sq8; do
      run vdb-build -q --no-recall-curve -T $type --storage $s -o x.vdb f.jsonl
      echo "$type --storage $s: $status $output"
      if [[ " $storages " == *" $s "* ]]; then
        [ "$status" -eq 0 ]
        # (f32: the type's own rows: float32, or ivfpq's pq codes)
        [ $s = f32 ] || [ "$(vdb-query -x x.vdb --info | jq -r .storage)" = $s ]
      else
        [ "$status" -eq 64 ]
        [[ "$output" == *"--storage applies to"* ]]
      fi
    done
    # --refine: always, with a compressed storage only, or never
    run vdb-build -q --no-recall-curve -T $type --refine 2 -o x.vdb f.jsonl
    echo "$type --refine: $status $output"
    if [ "$refine" = always ]; then [ "$status" -eq 0 ]; else [ "$status" -eq 64 ]; fi
    if [ "$refine" = never ]; then [[ "$output" == *"--refine does not apply to $type"* ]]; fi
    run vdb-build -q --no-recall-curve -T $type --storage sq8 --refine 2 -o x.vdb f.jsonl
    echo "$type --storage sq8 --refine: $status $output"
    if [ "$refine" = compressed ]; then [ "$status" -eq 0 ]; else [ "$status" -eq 64 ]; fi
  done <rows.txt
}

@test "an option of other types is refused naming the types that take it" {
  small_inputs
  run -64 vdb-build -T hnsw --nlist 8 -o x.vdb f.jsonl
  [[ "$output" == *"--nlist applies to ivf and ivfpq indexes, not hnsw"* ]]
  run -64 vdb-build -T ivf --pq-m 4 -o x.vdb f.jsonl
  [[ "$output" == *"--pq-m and --pq-bits apply to ivfpq indexes, not ivf"* ]]
  run -64 vdb-build -T flat --lsh-tables 4 -o x.vdb f.jsonl
  [[ "$output" == *"--lsh-tables and --lsh-bits apply to lsh indexes, not flat"* ]]
  [ ! -e x.vdb ]
}

@test "each type's search setting is an option of vdb-query, sweep and check, in its range" {
  small_inputs
  vdb-build -q -T flat -m l2 -o flat.vdb f.jsonl
  head -n 20 f.jsonl >q.jsonl
  vdb-query -x flat.vdb -k 10 -O ivecs q.jsonl >gt.ivecs
  vdb-eval types --json | jq -r 'select(.knob) | "\(.type) \(.knob.name) \(.knob.max)"' >knobs.txt
  [ "$(wc -l <knobs.txt)" -eq 4 ] # hnsw ef, ivf and ivfpq nprobe, lsh probes
  while read -r type knob max; do
    vdb-build -q --no-recall-curve -T $type -m l2 -o x.vdb f.jsonl
    vdb-query -x x.vdb -k 3 --$knob $max q.jsonl >/dev/null
    run -64 vdb-query -x x.vdb -k 3 --$knob $((max + 1)) q.jsonl
    # a query record's own setting, in the same range
    head -n 1 q.jsonl | jq -c --arg k $knob --argjson v $((max + 1)) '. + {($k): $v}' >bad.jsonl
    run -65 vdb-query -x x.vdb -k 3 bad.jsonl
    [[ "$output" == *"\"$knob\" is $((max + 1)), out of range"* ]]
    # sweep: a row per value, the value in the setting and in its own column
    vdb-eval sweep -x x.vdb --queries q.jsonl --gt gt.ivecs --$knob 1,2 --runs 1 \
      --format csv >s.csv
    [ "$(awk 'END { print NR }' s.csv)" -eq 3 ]
    col=$(head -1 s.csv | tr , '\n' | grep -nx "$knob" | cut -d: -f1)
    [ -n "$col" ]
    [ "$(awk -F, -v c=$col 'NR > 1 { printf "%s ", $c }' s.csv)" = "1 2 " ]
    [ "$(awk -F, 'NR > 1 { printf "%s ", $13 }' s.csv)" = "$knob=1 $knob=2 " ]
    # check: one value, used (the largest: the flat answer, but for ivfpq's codes)
    min=0.99
    [ $type != ivfpq ] || min=0.3
    vdb-eval check -x x.vdb --queries q.jsonl --gt gt.ivecs --$knob $max --runs 1 \
      --min-recall $min
    run -64 vdb-eval check -x x.vdb --queries q.jsonl --gt gt.ivecs --$knob 1,2
    run -64 vdb-eval sweep -x x.vdb --queries q.jsonl --gt gt.ivecs --$knob $((max + 1))
  done <knobs.txt
  # a setting no index of the sweep takes is named with the types that do
  run -0 --separate-stderr vdb-eval sweep -x flat.vdb --queries q.jsonl --gt gt.ivecs \
    --probes 4 --runs 1
  [[ "$stderr" == *"--probes applies to none of the indexes (it is for lsh)"* ]]
}

@test "lsh: vdb-eval sweep --probes and check --probes reach the README's recall on WordNet" {
  need_shared
  W=$S/wordnet-fasttext
  # README: "WordNet cosine: recall@10 0.93 with 8 tables of 12 bits and 64 probes"
  promise=$(grep -o 'WordNet cosine: recall@10 [0-9.]* with 8 tables of 12 bits and 64 probes' \
    "$VDB_SRCDIR/README.md" | awk '{ print $4 }')
  [ -n "$promise" ]
  vdb-build -q -T lsh -m cosine --lsh-tables 8 --lsh-bits 12 -o w.vdb "$W/wn100_base.fvecs"
  vdb-eval sweep -x w.vdb --queries "$W/wn100_query.fvecs" --gt "$W/wn100_groundtruth_cosine.ivecs" \
    --probes 1,64 --runs 1 --format json >s.json
  [ "$(jq -s length s.json)" -eq 2 ]
  r1=$(jq -s '.[0].recall' s.json)
  r64=$(jq -s '.[1].recall' s.json)
  [ "$(jq -s '.[1].probes' s.json)" -eq 64 ]
  echo "probes 1: $r1, probes 64: $r64 (README: $promise)"
  ge "$r64" "$(awk -v p="$promise" 'BEGIN { print p - 0.005 }')" # 0.93 as printed, rounded
  ge 0.49 "$r1" # probes 1 stays far below (measured 0.18)
  # the same recall as vdb-query --probes 64 against the ground truth
  r=$(recall10 w.vdb "$W/wn100_query.fvecs" "$W/wn100_groundtruth_cosine.ivecs" --probes 64)
  near "$r" "$r64" 0.0001
  vdb-eval check -x w.vdb --queries "$W/wn100_query.fvecs" --gt "$W/wn100_groundtruth_cosine.ivecs" \
    --probes 64 --runs 1 --min-recall 0.92
  run -1 vdb-eval check -x w.vdb --queries "$W/wn100_query.fvecs" \
    --gt "$W/wn100_groundtruth_cosine.ivecs" --probes 1 --runs 1 --min-recall 0.92
}

@test "ivfpq --info bytes_per_vector counts its per-list tables" {
  vdb-build -q -T ivfpq -m l2 --nlist 16 --pq-m 8 -o pq.vdb "$D/sift2k_base.fvecs"
  info=$(vdb-query -x pq.vdb --info)
  [ "$(jq .nlist <<<"$info")" -eq 16 ]
  [ "$(jq .quantizer.m <<<"$info")" -eq 8 ]
  # per row: its row number (4) and code (8), and its share of the per-list
  # tables: 16 lists x 8 sub-quantizers x 256 floats, over 2000 rows
  want=$(awk 'BEGIN { print 4 + 8 + 16 * 8 * 256 * 4 / 2000 }')
  near "$(jq .bytes_per_vector <<<"$info")" "$want" 0.01
  # the tables are made when opening, not kept in the file (no PQPL section)
  [ -z "$(jq '.sections[] | select(.kind == "PQPL")' <<<"$info")" ]
  # with --refine, the float32 vectors too
  vdb-build -q -T ivfpq -m l2 --nlist 16 --pq-m 8 --refine 2 -o pqr.vdb "$D/sift2k_base.fvecs"
  want=$(awk 'BEGIN { print 4 + 8 + 128 * 4 + 16 * 8 * 256 * 4 / 2000 }')
  near "$(vdb-query -x pqr.vdb --info | jq .bytes_per_vector)" "$want" 0.01
}

@test "generic code names no index type and no search setting: a type is its own file" {
  cd "$VDB_SRCDIR"
  # ops tables are compared nowhere; each is named only by its own file and the registration line
  run -1 grep -nE '&vdb_(flat|hnsw|ivf|ivfpq|lsh)_ops|ops (==|!=)' lib/*.c cmd/*.c
  run -0 grep -c 'TYPES(X)' lib/index_types.c
  # no generic file compares a type's name or a setting's name
  run -1 grep -nE 'str(n?)cmp\([^;]*"(flat|hnsw|ivf|ivfpq|lsh|ef|nprobe|probes)"' lib/*.c cmd/*.c
}
