#!/usr/bin/env bats
# Injected failures (tests/faults/faults.c, an LD_PRELOAD shim): every write,
# pwrite, fsync, rename, mmap and allocation vdb's code makes in a small
# build is made to fail in turn. Each run exits 70, 73 or 74 with one error
# message; the index it was replacing is left byte-identical (or, when only
# the final directory sync failed, the new index is complete); no temporary
# file is left behind. And kill -9 at any moment never leaves a broken index.
load helpers

setup_file() {
  local so=$BATS_FILE_TMPDIR/faults.so
  # the shim cannot go before a sanitizer runtime, which must load first
  if ldd "$VDB_BIN/vdb-build" 2>/dev/null | grep -q 'libasan\|libubsan'; then
    return 0
  fi
  ${CC:-cc} -shared -fPIC -O1 -o "$so" "$VDB_SRCDIR/tests/faults/faults.c" -ldl || return 1
}

need_shim() {
  SHIM=$BATS_FILE_TMPDIR/faults.so
  [ -f "$SHIM" ] || skip "no fault shim under a sanitizer build"
}

# walk KIND... -- COMMAND...: count the calls COMMAND makes, then fail each
# in turn and check the outcome against ix.vdb's copy in old.vdb and, for a
# run that still succeeds, against the clean result in want.vdb
walk() {
  local kinds=() runs=0
  while [ "$1" != -- ]; do kinds+=("$1"); shift; done
  shift
  rm -f counts
  cp old.vdb ix.vdb
  env LD_PRELOAD="$SHIM" VDB_FAULT_COUNT=counts "$@"
  for kind in "${kinds[@]}"; do
    n=$(awk -v k="$kind" '$1 == k { print $2 }' counts)
    [ "${n:-0}" -gt 0 ] || { echo "no $kind calls counted"; return 1; }
    for i in $(seq 1 "$n"); do
      cp old.vdb ix.vdb
      run env LD_PRELOAD="$SHIM" VDB_FAULT="$kind:$i" "$@"
      runs=$((runs + 1))
      local what="$kind $i of $n: status $status: $output"
      if [ "$status" -eq 0 ]; then
        # the failure was absorbed: the result is the clean one
        cmp ix.vdb want.vdb || { echo "$what: succeeded with another index"; return 1; }
        continue
      fi
      case $status in 70|73|74) ;; *) echo "$what: unexpected status"; return 1 ;; esac
      [[ "${lines[0]}" == *"error: "* ]] || { echo "$what: no error message"; return 1; }
      [ "${#lines[@]}" -eq 1 ] || { echo "$what: more than one line"; return 1; }
      if ! cmp -s ix.vdb old.vdb; then
        # only a failure after the rename may leave the new index, whole
        cmp ix.vdb want.vdb || { echo "$what: index damaged"; return 1; }
      fi
      if ls | grep -q '\.tmp\.'; then echo "$what: temporary file left: $(ls)"; return 1; fi
    done
  done
  echo "$runs injected failures"
}

@test "a build over an existing index: every write, fsync, rename and allocation fails in turn" {
  need_shim
  head -c $((300 * 516)) "$D/sift2k_base.fvecs" >a.fvecs
  vdb-build -q -T flat -o old.vdb a.fvecs
  vdb-build -q -t 1 -T hnsw -o want.vdb a.fvecs
  walk write pwrite fsync rename malloc -- vdb-build -q -t 1 -T hnsw -o ix.vdb a.fvecs
}

@test "an append: every write, fsync, rename, mmap and allocation fails in turn" {
  need_shim
  head -c $((300 * 516)) "$D/sift2k_base.fvecs" >a.fvecs
  tail -c $((100 * 516)) "$D/sift2k_base.fvecs" >b.fvecs
  vdb-build -q -t 1 -T hnsw -o old.vdb a.fvecs
  cp old.vdb want.vdb
  vdb-build -q -t 1 --append -o want.vdb b.fvecs
  walk write pwrite fsync rename mmap malloc -- vdb-build -q -t 1 --append -o ix.vdb b.fvecs
}

@test "vdb-quantize train over an existing quantizer: every write, fsync, rename, allocation" {
  need_shim
  vdb-quantize train --kind sq8 -o old.vdb "$D/sift_query20.fvecs"
  vdb-quantize train --kind sq8 -o want.vdb "$D/sift2k_base.fvecs"
  walk write pwrite fsync rename malloc -- vdb-quantize train --kind sq8 -o ix.vdb "$D/sift2k_base.fvecs"
}

@test "a delete, an upsert and a compaction: every write, fsync, rename, mmap and allocation fails in turn" {
  need_shim
  head -c $((300 * 516)) "$D/sift2k_base.fvecs" >a.fvecs
  seq 0 3 299 >del.txt
  # delete: from an index without deletions
  vdb-build -q -t 1 -T hnsw -o old.vdb a.fvecs
  cp old.vdb want.vdb
  vdb-build -q -t 1 --delete -x want.vdb del.txt
  walk write pwrite fsync rename mmap malloc -- vdb-build -q -t 1 --delete -x ix.vdb del.txt
  # compaction of that (flat: hnsw's has its own tests)
  vdb-build -q -t 1 -o old.vdb a.fvecs
  vdb-build -q -t 1 --delete -x old.vdb del.txt
  cp old.vdb want.vdb
  vdb-build -q -t 1 --compact -x want.vdb
  walk write pwrite fsync rename mmap malloc -- vdb-build -q -t 1 --compact -x ix.vdb
  # upsert into an index with ids and deletions
  jq -c '{id, vector}' "$D/words1k.jsonl" | head -200 >w.jsonl
  jq -c '{id, vector: (.vector | map(. * 2))}' w.jsonl | head -20 >u.jsonl
  vdb-build -q -t 1 -T hnsw -o old.vdb w.jsonl
  jq -r .id w.jsonl | tail -5 | vdb-build -q --delete -x old.vdb
  cp old.vdb want.vdb
  vdb-build -q -t 1 --upsert -x want.vdb u.jsonl
  walk write pwrite fsync rename mmap malloc -- vdb-build -q -t 1 --upsert -x ix.vdb u.jsonl
}

@test "kill -9 at 20 moments of a build never leaves a broken index; the next build removes its temporary files" {
  for i in 1 2 3 4 5 6 7 8 9 10; do cat "$D/sift2k_base.fvecs"; done >big.fvecs
  head -c $((300 * 516)) "$D/sift2k_base.fvecs" >a.fvecs
  vdb-build -q -o ix.vdb a.fvecs
  cp ix.vdb old.vdb
  start=$(date +%s%N)
  vdb-build -q -T hnsw -o timing.vdb big.fvecs
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  echo "a whole build takes $ms ms"
  replaced=0
  for t in $(seq 1 20); do
    vdb-build -q -T hnsw -o ix.vdb big.fvecs &
    pid=$!
    # spread over the build, and a little past its end
    sleep "$(awk -v t="$t" -v ms="$ms" 'BEGIN { srand(t); printf "%.3f", rand() * ms * 1.2 / 1000 }')"
    kill -9 $pid 2>/dev/null || true
    wait $pid || true
    # the old index, or the new one whole
    if ! cmp -s ix.vdb old.vdb; then
      vdb-query -x ix.vdb --verify
      [ "$(vdb-query -x ix.vdb --info | jq .count)" = 20000 ]
      cp ix.vdb old.vdb
      replaced=$((replaced + 1))
    fi
  done
  echo "$replaced of 20 kills came after the new index was in place"
  left=$(ls | grep -c '^ix\.vdb\.tmp\.' || true)
  echo "$left temporary files left by killed builds"
  # and one killed for certain between writing its file and renaming it
  if [ -n "${SHIM:-}" ] || { SHIM=$BATS_FILE_TMPDIR/faults.so; [ -f "$SHIM" ]; }; then
    env LD_PRELOAD="$SHIM" VDB_FAULT=rename:1:hang vdb-build -q -o ix.vdb a.fvecs &
    pid=$!
    for i in $(seq 100); do ls | grep -q '^ix\.vdb\.tmp\.' && break; sleep 0.1; done
    sleep 0.2
    kill -9 $pid
    wait $pid || true
    cmp ix.vdb old.vdb
    left=$(ls | grep -c '^ix\.vdb\.tmp\.' || true)
    [ "$left" -ge 1 ]
  fi
  run vdb-build -o ix.vdb a.fvecs
  assert_success
  if [ "$left" -gt 0 ]; then
    assert_line --partial "removed $left temporary file"
  fi
  [ "$(ls | grep -c '\.tmp\.' || true)" = 0 ]
}
