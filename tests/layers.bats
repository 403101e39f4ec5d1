#!/usr/bin/env bats
# layers.bats — no back-arrows between the library's layers (issue 21):
# the distance kernels do not depend on the quantizer, the quantizer not on
# the index container, the result writers and the merges not on each other,
# and functions live in the file their name says. Checked twice: on the
# sources' #include closure and on the built objects' symbols (nm), which
# an include hidden in another header cannot fool.
load helpers

L=$VDB_SRCDIR/lib

# includes FILE: the local headers FILE includes, directly or through others
includes() {
  local todo=("$1") seen=" " f h
  while [ ${#todo[@]} -gt 0 ]; do
    f=${todo[0]}; todo=("${todo[@]:1}")
    for h in $(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$L/$f"); do
      [ -f "$L/$h" ] || continue
      case $seen in *" $h "*) continue ;; esac
      seen="$seen$h "; todo+=("$h")
    done
  done
  echo "$seen"
}

# objdir: the built library's objects (skip when there is no build here)
objdir() {
  O=$VDB_BIN/../lib
  ls "$O"/libvdb_la-*.o >/dev/null 2>&1 || skip "no built objects in $O"
}

# uses A B: object lib/A.c references a symbol that lib/B.c defines
uses() {
  comm -12 <(nm -u "$O/libvdb_la-$1.o" | awk '{print $NF}' | sort -u) \
           <(nm --defined-only -g "$O/libvdb_la-$2.o" | awk '{print $NF}' | sort -u) | grep -q .
}

# defined_in SYMBOL FILE: lib/FILE.c is where SYMBOL is defined
defined_in() {
  local o
  o=$(nm -A --defined-only -g "$O"/libvdb_la-*.o | awk -v s="$1" '$NF == s {print $1}')
  echo "$1: $o"
  [ "${o%%:*}" = "$O/libvdb_la-$2.o" ]
}

@test "the distance kernels include nothing of the quantizer" {
  for f in distance.c distance_scalar.c distance_avx2.c; do
    run includes "$f"
    refute_output --partial " quantize.h "
    refute_output --partial " kmeans.h "
  done
}

@test "the quantizer includes nothing of the index container" {
  run includes quantize.c
  refute_output --partial " index_internal.h "
  run includes quantize.h
  refute_output --partial " index_internal.h "
}

@test "the result writers and the merges: one direction only" {
  run includes output.c
  refute_output --partial " fusion.h "
  objdir
  run -1 uses output merge
  run -0 uses merge output
}

@test "the kernels, quantizer and writers use no symbol of the layer above" {
  objdir
  run -1 uses distance_scalar quantize
  run -1 uses quantize index
  for t in flat hnsw ivf lsh; do
    run -1 uses quantize "index_$t"
  done
}

@test "functions live in the file their name says" {
  objdir
  run -0 defined_in vdb_index_row_vector index_row
  run -0 defined_in vdb_splitmix64 random
  run -0 defined_in vdb_gaussian random
  run -0 defined_in vdb_id_integer id
  run -0 defined_in vdb_sections_json file_info
}

# refs SYMBOL: the library objects (lib/NAME.c as NAME) that call SYMBOL
refs() {
  nm -A -u "$O"/libvdb_la-*.o | awk -v s="$1" '$NF == s {print $1}' |
    sed 's|.*/libvdb_la-||; s|\.o:.*||' | sort -u | tr '\n' ' '
}

@test "one atomic writer: only atomic.c makes outputs and syncs them; none reads the umask" {
  objdir
  # outputs are created 0666 less the umask by the kernel (O_CREAT), so no
  # library call reads or sets the process-wide umask
  run refs umask
  assert_output ""
  run refs fsync
  assert_output "atomic file "
  run refs fchmod
  assert_output ""
  # prom.c and sweep_report.c replace their files through it
  run -0 uses prom atomic
  run -0 uses sweep_report atomic
  run -0 uses file atomic
}

@test "one hash (XXH3) and one splitmix64 in the library" {
  # FNV-1a's primes, 64- and 32-bit
  run grep -rlE '1099511628211|16777619u?\b' "$L"
  assert_output ""
  # splitmix64's mix constants only where the generator is
  run grep -rl 'bf58476d1ce4e5b9' "$L"
  assert_output "$L/random.h"
}

@test "defaults are named constants, not numbers in the init functions" {
  for f in vdb_build_opts_init vdb_search_opts_init; do
    run sh -c "sed -n '/^void $f(/,/^}/p' '$L/index.c' | grep -E '= *[0-9]'"
    assert_output ""
  done
  run grep -nE 'seed = [0-9]' "$L/quantize.c"
  assert_output ""
}

@test "vdb-build's functions are under 100 lines each" {
  # a function: from a line at column 0 ending in ')' followed by '{' to '}'
  run awk '/^[a-z].*\)$/ {name = $0; start = NR}
           /^}/ && start {if (NR - start > 100) print name ": " NR - start " lines"; start = 0}' \
      "$VDB_SRCDIR/cmd/vdb-build.c"
  assert_output ""
}

@test "one bounded heap: topk.h's; only hnsw's search loop keeps its own queue" {
  run grep -lE '^static .*(heap_push|heap_pop|heap_up|sift)' "$L"/*.c
  assert_output "$L/hnsw.c"
}
