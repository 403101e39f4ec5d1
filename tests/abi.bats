#!/usr/bin/env bats
# The public ABI: libvdb.so exports exactly the functions lib/vdb.h declares
# (the version script lib/libvdb.map), nothing of the library's inside, and
# the static archive defines no global symbol outside the vdb_ namespace.
# The truth is gcc's own parse of the header and nm's view of the built
# libraries, not anything vdb says about itself.
load helpers

LIBS=$VDB_BIN/../lib/.libs

setup() {
  T=$(mktemp -d "${BATS_TMPDIR:-/tmp}/vdb-test.XXXXXX")
  cd "$T" || return 1
  [ -f "$LIBS/libvdb.so" ] || skip "no libvdb.so in the build tree ($LIBS)"
  command -v gcc >/dev/null || skip "gcc is absent (its -aux-info parses vdb.h)"
}

# The functions vdb.h declares, one a line, sorted: gcc -aux-info writes a
# prototype for each function the header declares, tagged with file and line.
declared() {
  gcc -aux-info aux.txt -fsyntax-only -x c "$VDB_SRCDIR/lib/vdb.h" || return 1
  grep -E '^/\* [^ ]*vdb\.h:[0-9]+:' aux.txt | grep -v ' static ' |
    sed -E 's/ *\(.*//; s/.*[ *]//' | sort -u
}

# The dynamic symbols libvdb.so defines, without their version.
exported() {
  nm -D --defined-only "$LIBS/libvdb.so" | awk '$2 != "A" { print $3 }' | sed 's/@.*//' | sort -u
}

@test "libvdb.so exports exactly the functions vdb.h declares" {
  declared >declared.txt
  exported >exported.txt
  # gcc parsed a header of two hundred functions, not an empty one
  [ "$(wc -l <declared.txt)" -gt 150 ]
  run diff declared.txt exported.txt
  assert_success
}

@test "every exported symbol is a function of version VDB_0: no table, no data" {
  run -0 nm -D --defined-only "$LIBS/libvdb.so"
  refute_output --regexp ' [^TA] '
  # each function carries the version node of lib/libvdb.map
  [ "$(grep -c ' T ' <<<"$output")" -eq "$(grep -c ' T .*@@VDB_0$' <<<"$output")" ]
  [ "$(grep -c ' T ' <<<"$output")" -gt 150 ]
}

@test "a program links libvdb.so through vdb.h alone; an internal function does not link" {
  cat >pub.c <<'EOF'
#include <stdio.h>
#include "vdb.h"
int main(void)
{
	vdb_metric m;
	if (vdb_metric_parse("cosine", &m) != VDB_OK)
		return 1;
	printf("%s %s\n", vdb_metric_name(m), vdb_strerror(VDB_EINVAL) ? "ok" : "no");
	return 0;
}
EOF
  # the compiler and sanitizers the library was built with (a sanitized
  # libvdb.so needs its runtime in the program)
  mk=$VDB_BIN/../Makefile cc=gcc san=
  if [ -f "$mk" ]; then
    cc=$(sed -n 's/^CC = //p' "$mk")
    san=$(sed -n 's/^VDB_CFLAGS = //p' "$mk" | grep -o -- '-fsanitize=[^ ]*' | grep -v fuzzer || true)
  fi
  run -0 $cc $san -Wall -Wextra -Werror -std=c11 -I"$VDB_SRCDIR/lib" pub.c -o pub -L"$LIBS" -lvdb
  LD_LIBRARY_PATH=$LIBS run -0 ./pub
  assert_output "cosine ok"
  # the installed header is valid C++ too (its extern "C" block)
  run -0 g++ -fsyntax-only -x c++ "$VDB_SRCDIR/lib/vdb.h"
  # vdb_malloc is the library's own (vdb_internal.h): not part of the ABI
  cat >priv.c <<'EOF'
#include <stddef.h>
void *vdb_malloc(size_t n, const char *what);
int main(void) { return vdb_malloc(1, "x") == NULL; }
EOF
  run -1 $cc $san -I"$VDB_SRCDIR/lib" priv.c -o priv -L"$LIBS" -lvdb
  # GNU ld's words, or lld's
  assert_output --regexp "undefined (reference to .vdb_malloc'|symbol: vdb_malloc)"
}

@test "libvdb.a defines no global symbol outside the vdb_ namespace" {
  [ -f "$LIBS/libvdb.a" ] || skip "no static libvdb.a (configured --disable-static)"
  # strong globals (weak ones are the inline C++ functions and EH references
  # of libfasttext's headers, under their own mangled names; ASan gives each
  # global variable an ODR indicator named after it)
  nm -A --defined-only "$LIBS/libvdb.a" | awk '$2 ~ /^[A-Z]$/' >globals.txt
  # the archive holds the library, not nothing
  [ "$(grep -c ' T vdb_' globals.txt)" -gt 300 ]
  run -1 grep -Ev ' ([TDBRCGS] vdb_|[WV] (_Z|DW\.ref\.)|B __odr_asan(\.|_gen_)vdb_)' globals.txt
  assert_output ""
}

@test "the commands call the library only through vdb.h" {
  # they link libvdb.a, which keeps every internal function: nothing but
  # this check stops a command from calling one (and so from working
  # against the installed libvdb.so)
  objs=("$VDB_BIN"/*.o)
  [ -f "${objs[0]}" ] || skip "no command objects in $VDB_BIN"
  [ "${#objs[@]}" -ge 5 ]
  declared >declared.txt
  nm -u "${objs[@]}" | awk '$2 ~ /^vdb_/ { print $2 }' | sort -u >used.txt
  [ "$(wc -l <used.txt)" -gt 100 ]
  run comm -23 used.txt declared.txt
  assert_output ""
}

# The names of the index types' build parameters and search settings, one a
# line, from `vdb-eval types --json` (each type's "params" and "knob").
type_names() {
  vdb-eval types --json | jq -r '(.params // [] | .[].name), (.knob // empty | .name)' | sort -u
}

# The member names of every struct body in vdb.h, one a line: comments and
# strings dropped, each { ... } after `struct` matched by its braces, its
# declarators' names taken from each `;`-ended declaration.
struct_members() {
  /usr/bin/python3 - "$VDB_SRCDIR/lib/vdb.h" <<'PY'
import re, sys
s = open(sys.argv[1]).read()
s = re.sub(r'/\*.*?\*/|//[^\n]*|"(\\.|[^"\\])*"', ' ', s, flags=re.S)
s = re.sub(r'^\s*#.*$', ' ', s, flags=re.M)
for m in re.finditer(r'\bstruct\s*\w*\s*\{', s):
    depth, i = 1, m.end()
    while depth:
        depth += {'{': 1, '}': -1}.get(s[i], 0)
        i += 1
    body = s[m.end():i - 1]
    name = re.match(r'\s*(\w+)', s[i:])
    # vdb-quantize's parameters (its pq_m) are the quantizer's, no index type's
    if name and name.group(1) == 'vdb_quant_params':
        continue
    body = re.sub(r'\([^()]*\)', '()', body)          # parameter lists
    for decl in body.split(';'):
        decl = re.sub(r'\[[^\]]*\]', '', decl.split('=')[0])
        for part in decl.split(','):
            names = re.findall(r'[A-Za-z_]\w*', part)
            if names:
                print(names[-1])
PY
}

@test "no public struct of vdb.h names an index type's build parameter or search setting" {
  type_names >names.txt
  # hnsw's M and ef_construction, ivf's nlist, ivfpq's pq_m, lsh's tables
  # and bits, and the three search settings: the types declare them
  [ "$(wc -l <names.txt)" -ge 9 ]
  run -0 grep -Fx M names.txt
  run -0 grep -Fx nprobe names.txt
  struct_members | sort -u >members.txt
  # the parse found the option structs' members (seed, k, filter)
  run -0 grep -Fx seed members.txt
  run -0 grep -Fx filter members.txt
  [ "$(wc -l <members.txt)" -gt 100 ]
  run comm -12 names.txt members.txt
  assert_output ""
}

@test "each type's build parameters, set by name, build what they say: --info and brute-force answers" {
  random_fvecs base.fvecs 300 16 7
  random_fvecs q.fvecs 5 16 8
  brute base.fvecs q.fvecs 10 l2 >want.txt
  # a value other than the default for each parameter, where --info shows it,
  # and each type's setting that searches all of such an index
  declare -A value=([M]=6 [ef_construction]=40 [nlist]=12 [pq_m]=4 [pq_bits]=4 [lsh_tables]=3 [lsh_bits]=6)
  declare -A shown=([M]=.M [ef_construction]=.ef_construction [nlist]=.nlist [pq_m]=.quantizer.m [pq_bits]=.quantizer.bits
                    [lsh_tables]=.tables [lsh_bits]=.bits)
  declare -A all=([hnsw]="--ef 300" [ivf]="--nprobe 12" [ivfpq]="--nprobe 12" [lsh]="--probes 64")
  vdb-eval types --json >types.jsonl
  mapfile -t types < <(jq -r '.type' types.jsonl)
  [ "${#types[@]}" -ge 5 ]
  n=0
  for type in "${types[@]}"; do
    opts=() checks=()
    mapfile -t params < <(jq -r --arg t "$type" 'select(.type == $t) | .params[] |
                                                 "\(.name) \(.option)"' types.jsonl)
    for p in "${params[@]}"; do
      name=${p% *} option=${p#* }
      [ -n "${value[$name]:-}" ] || { echo "no test value for $type's $name" >&2; return 1; }
      opts+=("$option" "${value[$name]}")
      checks+=("$name")
      n=$((n + 1))
    done
    [ "$type" = ivfpq ] && opts+=(--refine 30) # re-rank all 300 rows: exact
    run -0 vdb-build -q -t 1 --type "$type" "${opts[@]}" -o "$type.vdb" base.fvecs
    for name in "${checks[@]}"; do
      got=$(vdb-query -x "$type.vdb" --info | jq "${shown[$name]}")
      [ "$got" = "${value[$name]}" ] || { echo "$type $name: --info $got, given ${value[$name]}" >&2; return 1; }
    done
    # shellcheck disable=SC2086
    vdb-query -x "$type.vdb" -k 10 ${all[$type]:-} q.fvecs | ids_of >got.txt
    run diff want.txt got.txt
    assert_success
  done
  # every parameter of the five types was set (nlist for ivf and ivfpq)
  [ "$n" -eq 8 ]
}
