#!/usr/bin/env bats
# A newcomer's path: what scripts/demo installs, where the commands are found,
# what vdb.pc says, the SHARDS example, and no INDEX.lock left behind.
load helpers

# builddir: the tree the commands were built in (VDB_BIN is its cmd/)
builddir() { (cd "$VDB_BIN/.." && pwd); }

# stubs: a dpkg-query that finds nothing installed and an id that is not root,
# so that scripts/build names what it would install, and stops
stubs() {
  mkdir -p stub
  printf '#!/bin/sh\nexit 1\n' >stub/dpkg-query
  printf '#!/bin/sh\necho 1000\n' >stub/id
  chmod +x stub/dpkg-query stub/id
}

@test "a build, a failed build and a run that changes nothing leave no INDEX.lock" {
  vdb-build -q -o ix.vdb "$D/sift2k_base.fvecs"
  [ ! -e ix.vdb.lock ]
  fvecs bad.fvecs 2  1 2 3
  run -65 vdb-build -q --append -o ix.vdb bad.fvecs
  [ ! -e ix.vdb.lock ]
  run -65 vdb-build -q -o new.vdb bad.fvecs
  [ ! -e new.vdb.lock ]
  [ ! -e new.vdb ]
  run -0 vdb-build -q --compact -x ix.vdb
  [ ! -e ix.vdb.lock ]
  # a usage error found with the lock held (an unknown id file) too
  run -66 vdb-build -q --delete -x ix.vdb no-such-file
  [ ! -e ix.vdb.lock ]
  [ "$(ls)" = "$(printf 'bad.fvecs\nix.vdb')" ]
}

@test "a lock file left by a killed build is taken, then removed, by the next build" {
  vdb-build -q -o ix.vdb "$D/sift2k_base.fvecs"
  echo "pid 1 on host gone since 2026-01-01T00:00:00Z" >ix.vdb.lock
  vdb-build -q --wait 5 -o ix.vdb "$D/sift_query20.fvecs"
  [ ! -e ix.vdb.lock ]
  [ "$(vdb-query -x ix.vdb --info | jq .count)" = 20 ]
}

@test "16 appends at once, each waiting for the lock: none is lost, and no lock file stays" {
  # a waiter that locked a file its holder had removed would append to the
  # same old index as the next builder: one of the two appends lost
  head -n 200 "$D/words1k.jsonl" >base.jsonl
  for i in $(seq 0 15); do sed -n "$((201 + 10 * i)),$((210 + 10 * i))p" "$D/words1k.jsonl" >p$i.jsonl; done
  for round in 1 2; do
    vdb-build -q -m cosine -o ix.vdb base.jsonl
    pids=()
    for i in $(seq 0 15); do
      vdb-build -q --wait 60 --append -o ix.vdb p$i.jsonl 2>>err & pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p"; done
    [ ! -s err ]
    [ "$(vdb-query -x ix.vdb --info | jq .count)" = 360 ]
    diff <(vdb-query -x ix.vdb --dump | jq -r .id | sort) <(head -n 360 "$D/words1k.jsonl" | jq -r .id | sort)
    [ ! -e ix.vdb.lock ]
  done
}

@test "vdb.pc names pkg-config modules and -l flags, no path of this machine, and links libvdb.a" {
  b=$(builddir)
  [ -f "$b/lib/vdb.pc" ]
  # no -L or -I but the ones under ${libdir} and ${includedir}
  run -1 grep -E -- '-[LI]/|-[LI] /' "$b/lib/vdb.pc"
  grep -q '^Requires.private: .*libxxhash' "$b/lib/vdb.pc"
  req=$(sed -n 's/^Requires.private: *//p' "$b/lib/vdb.pc" | sed -E 's/[<>=!]+ *[^ ]+//g')
  for m in $req; do pkg-config --exists "$m"; done
  # a program linked with the whole static library and what vdb.pc adds: every
  # dependency of every object is named
  [ -f "$b/lib/.libs/libvdb.a" ] || skip "no static libvdb (--disable-static)"
  printf '#include <vdb.h>\n#include <stdio.h>\nint main(void) { puts(vdb_strerror(VDB_OK)); return 0; }\n' >p.c
  libs=$(PKG_CONFIG_PATH=$b/lib pkg-config --static --libs vdb | sed 's/-L[^ ]* //; s/-lvdb//')
  # the sanitizers' runtimes, when the library was built with them
  flags=$(sed -n 's/^VDB_CFLAGS = //p' "$b/Makefile")
  ${CC:-cc} $flags -I"$VDB_SRCDIR/lib" p.c -Wl,--whole-archive "$b/lib/.libs/libvdb.a" \
    -Wl,--no-whole-archive $libs -o p
  run -0 ./p
  [ -n "$output" ]
}

@test "scripts/build --demo and scripts/demo ask for what the demo needs, not the test tools" {
  stubs
  run -1 env PATH="$PWD/stub:$PATH" "$VDB_SRCDIR/scripts/build" --demo
  [[ "$output" == "build: missing Debian packages: "* ]]
  want=$output
  demo=" ${output#build: missing Debian packages: } "
  for p in build-essential pkg-config libopenblas-dev libfasttext-dev libstemmer-dev jq fasttext; do
    [[ "$demo" == *" $p "* ]] || { echo "--demo does not install $p"; false; }
  done
  for p in bats bats-assert gnuplot-nox parallel xxhash sqlite3 libstemmer-tools libopenblas0-openmp; do
    [[ "$demo" != *" $p "* ]] || { echo "--demo installs $p"; false; }
  done
  # scripts/check's build installs them
  run -1 env PATH="$PWD/stub:$PATH" "$VDB_SRCDIR/scripts/build"
  [[ "$output" == *" bats "*" gnuplot-nox parallel "* ]]
  # the demo builds with --demo
  run -1 env -u VDB_BIN PATH="$PWD/stub:$PATH" "$VDB_SRCDIR/scripts/demo"
  [ "$output" = "$want" ]
}

@test "scripts/shard-parallel finds the built commands as scripts/bench-shard does" {
  command -v parallel >/dev/null || skip "GNU parallel is not installed (Debian package parallel)"
  p=/usr/local/bin:/usr/bin:/bin
  run ! env PATH=$p sh -c 'command -v vdb-build'
  head -c $((300 * 516)) "$D/sift2k_base.fvecs" >base.fvecs
  head -c $((5 * 516)) "$D/sift_query20.fvecs" >q.fvecs
  brute base.fvecs q.fvecs 10 l2 >want
  # through VDB_BIN (the test suite's build)
  run --separate-stderr env PATH=$p VDB_BIN="$VDB_BIN" "$VDB_SRCDIR/scripts/shard-parallel" -n 3 \
    -b "-T flat" base.fvecs q.fvecs out1
  assert_success
  diff <(ids_of <<<"$output") want
  # without it, the source tree's build/cmd, where scripts/build puts them
  [ -x "$VDB_SRCDIR/build/cmd/vdb-build" ] || skip "no build in $VDB_SRCDIR/build"
  run --separate-stderr env -u VDB_BIN PATH=$p "$VDB_SRCDIR/scripts/shard-parallel" -n 3 \
    -b "-T flat" base.fvecs q.fvecs out2
  assert_success
  diff <(ids_of <<<"$output") want
}

@test "vdb-build(1) SHARDS: the example's record is in the shard the page names, for vdb and xxhsum" {
  command -v xxhsum >/dev/null || skip "xxhsum is not installed (Debian package xxhash)"
  page=$VDB_SRCDIR/man/vdb-build.1
  # the page: printf %s doc-7 | xxhsum -H3, its output, then "shard S of 4"
  grep -qF 'printf %s doc\-7 | xxhsum \-H3' "$page"
  shown=$(grep -A1 -F 'printf %s doc\-7 | xxhsum \-H3' "$page" | tail -1)
  [ "$shown" = "$(printf %s doc-7 | xxhsum -H3)" ]
  s=$(grep -oE 'shard [0-9]+ of 4' "$page" | head -1 | awk '{print $2}')
  [ -n "$s" ]
  # xxhsum: the hash's last hex digit mod 4
  h=$(printf %s doc-7 | xxhsum -H3 | awk '{print $NF}')
  [ $((16#${h: -1} % 4)) = "$s" ]
  # vdb: doc-7 is in shard s of 4, and in no other
  printf '{"id": "doc-%d", "vector": [%d, 1]}\n' 1 1 2 2 3 3 4 4 5 5 6 6 7 7 8 8 9 9 >in.jsonl
  for i in 0 1 2 3; do
    vdb-build -q --shard $i/4 -o s$i.vdb in.jsonl 2>/dev/null || continue
    if [ $i = "$s" ]; then
      [ "$(vdb-query -x s$i.vdb --get doc-7 | jq -r .id)" = doc-7 ]
    else
      run -0 vdb-query -x s$i.vdb --dump
      [[ "$output" != *'"doc-7"'* ]]
    fi
  done
  [ -f "s$s.vdb" ]
}
