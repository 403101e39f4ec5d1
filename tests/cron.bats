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
