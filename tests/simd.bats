#!/usr/bin/env bats
# VDB_SIMD: a value naming no kernel level, or one this machine cannot run,
# is a usage error (64) with one message naming the value, before any work.
load helpers

# a level vdb knows but this machine does not run: the other architecture's
foreign_level() {
  case $(uname -m) in
    aarch64 | arm64) echo avx2 ;;
    *) echo neon ;;
  esac
}

@test "an unknown VDB_SIMD is a usage error (64) in every command, one line naming the value" {
  for c in vdb-build vdb-query vdb-eval vdb-quantize "vdb-text chunk"; do
    VDB_SIMD=avx1024 run -64 --separate-stderr $c --version
    [ -z "$output" ]
    [ "$stderr" = "$c: error: VDB_SIMD=avx1024: unknown kernel level (known: avx512, avx2, neon, scalar)" ]
  done
}

@test "a level this machine cannot run is a usage error (64) naming it and the levels it runs" {
  f=$(foreign_level)
  VDB_SIMD=$f run -64 --separate-stderr vdb-query --version
  [ -z "$output" ]
  [[ "$stderr" == "vdb-query: error: VDB_SIMD=$f: "*"(this machine runs: "*"scalar)" ]]
  [ "${#stderr_lines[@]}" -eq 1 ]
}

@test "an unknown VDB_SIMD fails a build before it creates or touches the index" {
  vdb-build -q "$D/sift2k_base.fvecs" -o kept.vdb
  sum=$(cksum <kept.vdb)
  files=$(ls -A)
  VDB_SIMD=nonsense run -64 vdb-build -q "$D/sift2k_base.fvecs" -o new.vdb
  [ ! -e new.vdb ]
  VDB_SIMD=nonsense run -64 vdb-build -q "$D/sift2k_base.fvecs" -o kept.vdb
  [ "$(cksum <kept.vdb)" = "$sum" ]
  VDB_SIMD=nonsense run -64 vdb-query -q kept.vdb "$D/sift_query20.fvecs"
  [ "$(ls -A)" = "$files" ]
}

@test "an empty VDB_SIMD means the best level, as unset does" {
  run -0 vdb-query --version
  best=$output
  VDB_SIMD= run -0 vdb-query --version
  [ "$output" = "$best" ]
}

@test "an x86 machine runs avx512 exactly when its CPU has the AVX-512 features the level needs" {
  case $(uname -m) in x86_64 | i?86) ;; *) skip "not x86" ;; esac
  need=(avx512f avx512bw avx512vl avx512dq avx512_vnni avx512_vpopcntdq avx2 fma f16c)
  flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
  has=yes
  for f in "${need[@]}"; do [[ "$flags" == *" $f "* ]] || has=no; done
  if [ "$has" = yes ]; then
    run -0 vdb-query --version
    assert_output --partial "(simd avx512,"
  else
    VDB_SIMD=avx512 run -64 vdb-query --version
    assert_output --partial "this CPU cannot run these kernels"
  fi
}

@test "the best level and scalar are accepted by name and name themselves in --version" {
  run -0 vdb-query --version
  best=$(echo "$output" | sed -n 's/.*(simd \([a-z0-9]*\),.*/\1/p')
  [ -n "$best" ]
  for l in "$best" scalar; do
    VDB_SIMD=$l run -0 vdb-query --version
    assert_output --partial "(simd $l,"
  done
}
