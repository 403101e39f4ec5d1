#!/usr/bin/env bats
# Cron-ready batch indexing: config files, the build lock, --quiet and the
# summary line, vdb-eval check, Prometheus metrics files.
load helpers

# a YAML config error: status 64, and the message names file, line and key
config_error() { # FILE LINE KEY
  run --separate-stderr vdb-build -c "$1" -o ix.vdb "$D/sift_query20.fvecs"
  assert_failure 64
  [[ "$stderr" == *"$1: line $2: "*"$3"* ]] || { echo "$stderr"; false; }
  [ ! -e ix.vdb ]
}

@test "a YAML-driven build equals the same build from options, byte for byte" {
  cat >build.yaml <<YAML
type: hnsw
metric: cosine
M: 8
ef-construction: 40
seed: 7
threads: 1
output: yaml.vdb
input:
  - $D/words1k.jsonl
  - "-"
YAML
  vdb-build -q -c build.yaml <"$D/words_query20.jsonl"
  vdb-build -q -T hnsw -m cosine --M 8 --ef-construction 40 --seed 7 -t 1 -o opts.vdb \
    "$D/words1k.jsonl" - <"$D/words_query20.jsonl"
  cmp yaml.vdb opts.vdb
  [ "$(vdb-query -x yaml.vdb --info | jq .count)" = 1020 ]
  # a different seed gives another graph: the comparison can tell them apart
  vdb-build -q -c build.yaml --seed 8 -o seed8.vdb <"$D/words_query20.jsonl"
  ! cmp -s yaml.vdb seed8.vdb
}

@test "command-line options and operands win over the config file" {
  printf 'metric: ip\noutput: cfg.vdb\ninput: [%s]\n' "$D/sift2k_base.fvecs" >c.yaml
  vdb-build -q -c c.yaml
  [ "$(vdb-query -x cfg.vdb --info | jq -r '.metric + " " + (.count|tostring)')" = "ip 2000" ]
  vdb-build -q -c c.yaml -m l2 -o cli.vdb "$D/sift_query20.fvecs"
  [ "$(vdb-query -x cli.vdb --info | jq -r '.metric + " " + (.count|tostring)')" = "l2 20" ]
  [ "$(vdb-query -x cfg.vdb --info | jq .count)" = 2000 ]
}

@test "config errors name the file, the line and the key, with status 64" {
  printf 'metric: l2\n\nbogus: 1\n' >unknown.yaml
  config_error unknown.yaml 3 bogus
  printf 'type: hnsw\nM: many\n' >type.yaml
  config_error type.yaml 2 M
  printf 'type: hnsw\nM: 9999\n' >range.yaml
  config_error range.yaml 2 M
  printf '# threads\nthreads: 0\n' >threads.yaml
  config_error threads.yaml 2 threads
  printf 'append: 3\n' >flag.yaml
  config_error flag.yaml 1 append
  printf 'metric:\n  l2: 1\n' >nested.yaml
  config_error nested.yaml 1 metric
  printf 'type: flat\nmetric: [l2\n' >syntax.yaml
  run --separate-stderr vdb-build -c syntax.yaml -o ix.vdb "$D/sift_query20.fvecs"
  assert_failure 64
  [[ "$stderr" == *"syntax.yaml: line "[23]": "* ]]
  [ ! -e ix.vdb ]
}

# start_holder INDEX: a vdb-build of INDEX that holds its lock while it waits
# for input on the fifo in.fifo (fd 8 keeps the fifo open); HOLDER is its pid
start_holder() {
  rm -f in.fifo && mkfifo in.fifo
  vdb-build -q -o "$1" in.fifo 3>&- &
  HOLDER=$!
  exec 8>in.fifo
  # the lock file names the holder once it has the lock
  for _ in $(seq 100); do grep -q "pid $HOLDER " "$1.lock" 2>/dev/null && return; sleep 0.05; done
  false
}

# feed_holder FILE: give the holder its input and wait for it
feed_holder() {
  cat "$1" >&8
  exec 8>&-
  wait "$HOLDER"
}

@test "a second build of a locked index exits 75 naming the holder; the index stays valid" {
  vdb-build -q -o ix.vdb "$D/sift_query20.fvecs"
  cp ix.vdb before.vdb
  start_holder ix.vdb
  run --separate-stderr vdb-build -o ix.vdb "$D/sift2k_base.fvecs"
  assert_failure 75
  [[ "$stderr" == *"ix.vdb.lock"*"pid $HOLDER on host $(hostname)"* ]] || { echo "$stderr"; false; }
  cmp ix.vdb before.vdb
  # appends wait for the lock too: they must not start from the old index
  run vdb-build --append -o ix.vdb "$D/sift_query20.fvecs"
  assert_failure 75
  cmp ix.vdb before.vdb
  vdb-query -x ix.vdb --verify
  feed_holder "$D/sift2k_base.fvecs"
  [ "$(vdb-query -x ix.vdb --info | jq .count)" = 2000 ]
  # released: the next build takes the lock without waiting
  vdb-build -q -o ix.vdb "$D/sift_query20.fvecs"
}

@test "--wait waits for the holder and then builds" {
  start_holder ix.vdb
  vdb-build -q --wait 30 --append -o ix.vdb "$D/sift_query20.fvecs" 3>&- 8>&- &
  waiter=$!
  sleep 0.3
  kill -0 "$waiter" # still waiting
  feed_holder "$D/sift2k_base.fvecs"
  wait "$waiter"
  # the append started from the holder's index
  [ "$(vdb-query -x ix.vdb --info | jq .count)" = 2020 ]
  # a wait that runs out is 75 too
  start_holder ix.vdb
  run vdb-build --wait 0.2 -o ix.vdb "$D/sift_query20.fvecs"
  assert_failure 75
  feed_holder "$D/sift_query20.fvecs"
}

@test "a query started before a rebuild answers from the index it opened" {
  vdb-build -q -o ix.vdb "$D/sift2k_base.fvecs"
  vdb-query -x ix.vdb -O ivecs "$D/sift_query20.fvecs" >old.ivecs
  rm -f q.fifo && mkfifo q.fifo
  vdb-query -x ix.vdb -O ivecs q.fifo >during.ivecs &
  reader=$!
  exec 9>q.fifo
  # the reader has mapped the index once its maps show it
  for _ in $(seq 100); do grep -q "/ix.vdb$" /proc/$reader/maps 2>/dev/null && break; sleep 0.05; done
  grep -q "/ix.vdb$" /proc/$reader/maps
  # replace the index with one of other vectors, while the reader holds the old one
  vdb-build -q -o ix.vdb "$D/sift_query20.fvecs"
  vdb-query -x ix.vdb -O ivecs "$D/sift_query20.fvecs" >new.ivecs
  ! cmp -s old.ivecs new.ivecs
  cat "$D/sift_query20.fvecs" >&9
  exec 9>&-
  wait "$reader"
  cmp during.ivecs old.ivecs
}

@test "--quiet: a successful build prints nothing; errors still reach stderr" {
  run --separate-stderr vdb-build --quiet -o q.vdb "$D/sift2k_base.fvecs"
  assert_success
  [ -z "$output" ] && [ -z "$stderr" ]
  [ "$(vdb-query -x q.vdb --info | jq .count)" = 2000 ]
  run --separate-stderr vdb-build -q --append -o q.vdb "$D/sift_query20.fvecs"
  assert_success
  [ -z "$output" ] && [ -z "$stderr" ]
  fvecs bad.fvecs 2  1 2 3
  run --separate-stderr vdb-build --quiet -o b.vdb bad.fvecs
  assert_failure 65
  [ -z "$output" ]
  [[ "$stderr" == "vdb-build: error: bad.fvecs"* ]]
}

@test "without --quiet a build prints exactly one summary line on stderr" {
  run --separate-stderr vdb-build -T hnsw --M 8 -o s.vdb "$D/sift2k_base.fvecs"
  assert_success
  [ -z "$output" ]
  [ "$(printf '%s\n' "$stderr" | wc -l)" = 1 ]
  bytes=$(stat -c %s s.vdb)
  [[ "$stderr" =~ ^vdb-build:\ s\.vdb:\ 2000\ vectors,\ dim\ 128,\ hnsw,\ l2,\ $bytes\ bytes,\ build\ [0-9.]+\ s,\ total\ [0-9.]+\ s$ ]] ||
    { echo "$stderr"; false; }
  run --separate-stderr vdb-build --append -o s.vdb "$D/sift_query20.fvecs"
  [ "$(printf '%s\n' "$stderr" | wc -l)" = 1 ]
  [[ "$stderr" == *"20 vectors added (2020 in all), dim 128, hnsw"* ]]
}
