#!/usr/bin/env bats
# The command-line contract: help, version, usage errors, config files.
load helpers

@test "every command answers --help on stdout with status 0" {
  for c in vdb-build vdb-query vdb-eval vdb-quantize; do
    run --separate-stderr $c --help
    assert_success
    assert_output --partial "Usage: $c"
    [ -z "$stderr" ]
  done
}

@test "every command prints its version and SIMD level" {
  for c in vdb-build vdb-query vdb-eval vdb-quantize; do
    run $c --version
    assert_success
    assert_output --regexp "^$c [0-9]+\.[0-9]+\.[0-9]+ \(simd (scalar|avx2|avx512|neon)"
  done
}

@test "VDB_SIMD=scalar forces the scalar kernels" {
  VDB_SIMD=scalar run vdb-query --version
  assert_output --partial "simd scalar"
}

@test "an unknown option is a usage error (64) naming the option" {
  run --separate-stderr vdb-build --frobnicate -o x.vdb
  assert_failure 64
  [[ "$stderr" == *"frobnicate"* ]]
  [[ "$stderr" == *"--help"* ]]
  run vdb-query -Z
  assert_failure 64
}

@test "a missing required option or a bad value is a usage error" {
  run vdb-build "$D/sift2k_base.fvecs"
  assert_failure 64
  assert_output --partial "-o"
  run vdb-query "$D/sift_query20.fvecs"
  assert_failure 64
  run vdb-build -o x.vdb -m manhattan "$D/sift2k_base.fvecs"
  assert_failure 64
  assert_output --partial "manhattan"
  run vdb-build -o x.vdb -T nosuch "$D/sift2k_base.fvecs"
  assert_failure 64
  assert_output --partial "nosuch"
  run vdb-query -x x.vdb -k 0
  assert_failure 64
  run vdb-query -x x.vdb -k ten
  assert_failure 64
  run vdb-build -o x.vdb -t 0 "$D/sift2k_base.fvecs"
  assert_failure 64
  [ ! -e x.vdb ]
}

@test "a missing or unknown subcommand, or a subcommand without its arguments, is 64" {
  run vdb-quantize train
  assert_failure 64
  assert_output --partial "-o FILE"
  run vdb-quantize
  assert_failure 64
  run vdb-quantize frob
  assert_failure 64
  run vdb-eval sweep
  assert_failure 64
  run vdb-eval frob
  assert_failure 64
}

@test "a YAML config sets options and the command line wins" {
  printf 'metric: ip\ntype: flat\nthreads: 1\n' >build.yaml
  run vdb-build -c build.yaml -o a.vdb "$D/sift2k_base.fvecs"
  assert_success
  run vdb-query -x a.vdb --info
  assert_output --partial '"metric":"ip"'
  run vdb-build -c build.yaml -m cosine -o b.vdb "$D/sift2k_base.fvecs"
  assert_success
  run vdb-query -x b.vdb --info
  assert_output --partial '"metric":"cosine"'
  printf 'k: 3\n' >q.yaml
  run vdb-query -c q.yaml -x a.vdb "$D/sift_query20.fvecs"
  assert_success
  [ "$(head -1 <<<"$output" | jq '.ids | length')" = 3 ]
}

@test "a config file with an unknown key or bad YAML is a usage error naming the file" {
  printf 'metric: l2\nbogus: 1\n' >bad.yaml
  run vdb-build -c bad.yaml -o a.vdb "$D/sift2k_base.fvecs"
  assert_failure 64
  assert_output --partial "bad.yaml: line 2"
  assert_output --partial "bogus"
  printf 'metric: [l2\n' >broken.yaml
  run vdb-build -c broken.yaml -o a.vdb "$D/sift2k_base.fvecs"
  assert_failure 64
  assert_output --partial "broken.yaml"
  run vdb-build -c missing.yaml -o a.vdb "$D/sift2k_base.fvecs"
  assert_failure 66
  [ ! -e a.vdb ]
}

@test "vdb-query -v reports the search's wall and CPU seconds and the total" {
  random_fvecs base.fvecs 300 16 7
  random_fvecs q.fvecs 5 16 8
  vdb-build -o x.vdb base.fvecs
  run --separate-stderr vdb-query -x x.vdb -k 3 -v q.fvecs
  [ "$status" -eq 0 ]
  re='5 queries, k 3, [0-9]+ threads?: search [0-9.]+ s \([0-9]+ queries/s\), search cpu [0-9.]+ s, total [0-9.]+ s'
  [[ "$stderr" =~ $re ]]
}
