#!/usr/bin/env bats
# Pipe hygiene: results only on stdout, quiet end on a closed pipe,
# streaming answers, write errors reported.
load helpers

@test "vdb-query | head -1 ends quietly with status 0 or 141" {
  vdb-build -o s.vdb "$D/sift2k_base.fvecs"
  for i in 1 2 3 4 5 6 7 8; do cat "$D/sift_query20.fvecs"; done >q160.fvecs
  run bash -c "set -o pipefail; vdb-query -x s.vdb -b 4 -k 10 q160.fvecs 2>err | head -1"
  [ "$status" = 0 ] || [ "$status" = 141 ]
  [ "$(wc -l <<<"$output")" = 1 ]
  [ ! -s err ]
  # and when SIGPIPE is ignored, EPIPE must end it just as quietly
  run bash -c "trap '' PIPE; set -o pipefail; vdb-query -x s.vdb -b 4 q160.fvecs 2>err | head -1"
  [ "$status" = 0 ] || [ "$status" = 141 ]
  [ ! -s err ]
}

@test "queries are answered while stdin is still open (streaming batches)" {
  vdb-build -o s.vdb "$D/sift2k_base.fvecs"
  mkfifo qin
  vdb-query -x s.vdb -b 1 -k 3 <qin >out &
  pid=$!
  exec 7>qin
  head -c 516 "$D/sift_query20.fvecs" >&7
  for i in $(seq 50); do [ -s out ] && break; sleep 0.1; done
  lines=$(wc -l <out)
  exec 7>&-
  wait $pid
  [ "$lines" = 1 ]
}

@test "nothing but results on stdout; diagnostics on stderr" {
  vdb-build -o s.vdb "$D/sift2k_base.fvecs"
  run --separate-stderr vdb-query -x s.vdb "$D/sift_query20.fvecs"
  [ -z "$stderr" ]
  [ "$(jq -c 'keys' <<<"$output" | sort -u)" = '["distances","ids","query"]' ]
  # a build's one summary line goes to stderr; stdout stays empty
  run --separate-stderr vdb-build -o t.vdb "$D/sift2k_base.fvecs"
  [ -z "$output" ]
  [[ "$stderr" == "vdb-build: t.vdb: 2000 vectors"* ]]
}

@test "progress goes to stderr only with --progress when stderr is not a terminal" {
  run --separate-stderr vdb-build --progress -o t.vdb "$D/sift2k_base.fvecs"
  assert_success
  [ -z "$output" ]
  [[ "$stderr" == *"reading"* ]]
  run --separate-stderr vdb-build --progress -q -o t.vdb "$D/sift2k_base.fvecs"
  [ -z "$stderr" ]
  run --separate-stderr vdb-build -v -o t.vdb "$D/sift2k_base.fvecs"
  [[ "$stderr" == *"2000 vectors, dim 128, flat, l2"* ]]
}

@test "a write error on stdout is an I/O error (74)" {
  vdb-build -o s.vdb "$D/sift2k_base.fvecs"
  [ -w /dev/full ] || skip "no /dev/full"
  run bash -c "vdb-query -x s.vdb '$D/sift_query20.fvecs' >/dev/full"
  assert_failure 74
  assert_output --partial "No space left"
  run bash -c "vdb-eval groundtruth -k 5 '$D/sift2k_base.fvecs' '$D/sift_query20.fvecs' >/dev/full"
  assert_failure 74
}
