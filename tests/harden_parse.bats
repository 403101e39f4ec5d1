#!/usr/bin/env bats
# Hostile nesting and YAML bombs (issue 22, findings 3 and 9). Metadata, filters and config
# files nested or repeated far beyond any use are refused with one message naming the input
# and its record or line (65 for data, 64 for a filter or a config), never a crash; long
# chains of && and || just work. The hostile inputs are generated here; every command runs
# under a timeout and (outside sanitizer builds) a memory limit, so that a vdb without the
# limits fails fast instead of hanging or swapping.
load helpers

# bounded COMMAND...: at most 20 s and 1 GB of address space (none under a sanitizer,
# whose runtime maps terabytes of shadow)
bounded() {
  if ldd "$VDB_BIN/vdb-build" 2>/dev/null | grep -q 'libasan\|libubsan'; then
    timeout 20 "$@"
  else
    (ulimit -v 1000000 && exec timeout 20 "$@")
  fi
}

# records N: N records of dimension 2, ids "r<i>", metadata {"a": i mod 3, "n": i}
records() {
  perl -e 'for my $i (0 .. $ARGV[0] - 1) {
    printf "{\"id\": \"r%d\", \"vector\": [%d, %d], \"metadata\": {\"a\": %d, \"n\": %d}}\n",
      $i, $i % 17, $i % 5, $i % 3, $i }' "$1"
}

# the ids of the records above with a == 1, sorted as strings: the reference
a_is_1() {
  perl -e 'print map { "r$_\n" } grep { $_ % 3 == 1 } 0 .. $ARGV[0] - 1' "$1" | sort
}

# hits [vdb-query OPTIONS...]: every id that the (one) query returns, sorted
hits() {
  printf '{"vector": [0, 0]}\n' >q.jsonl
  vdb-query -x ix.vdb -k 1000 "$@" q.jsonl | jq -r '.ids[]' | sort
}

# deep_meta OPEN CLOSE N: a record whose metadata holds N levels of OPEN ... CLOSE
deep_meta() {
  perl -e 'my ($o, $c, $n) = @ARGV;
    print "{\"id\": \"deep\", \"vector\": [1, 1], \"metadata\": {\"x\": ", $o x $n, "1", $c x $n, "}}\n"' \
    "$1" "$2" "$3"
}

@test "metadata nested 2,020 deep (a 12 KB line) is refused (65) naming the input, line and record" {
  # objects, arrays as deep, and beyond what jansson parses at all (2048 levels): the
  # input, line and record of the third record, and what is wrong
  while IFS='|' read -r name open close depth why; do
    records 2 >$name.jsonl
    deep_meta "$open" "$close" $depth >>$name.jsonl
    run bounded vdb-build -o ix.vdb $name.jsonl
    assert_failure 65
    assert_output --partial "$name.jsonl: line 3 (record 2): $why"
    [ "${#lines[@]}" -eq 1 ]
    [ ! -e ix.vdb ]
  done <<'EOF'
objects|{"a": |}|2020|"metadata" nests deeper than the limit of 64 levels
arrays|[|]|2020|"metadata" nests deeper than the limit of 64 levels
jansson|[|]|3000|JSON nested deeper than 2048 levels
EOF
  [ "$(wc -c <objects.jsonl)" -gt 12000 ]
  # as queries too: a query's metadata goes through the same reader
  records 3 >base.jsonl
  vdb-build -q -o ix.vdb base.jsonl
  deep_meta '{"a": ' '}' 2020 >q.jsonl
  run bounded vdb-query -x ix.vdb q.jsonl
  assert_failure 65
  assert_output --partial 'q.jsonl: line 1 (record 0): "metadata" nests deeper'
}

@test "metadata may nest 64 levels, and a filter on its 64-level path finds it; 65 are refused" {
  records 30 >ok.jsonl
  # the metadata object is level 1: {"x": {"a": ... {"b": 1}}} with 63 objects below it
  perl -e 'print "{\"id\": \"deep\", \"vector\": [1, 1], \"metadata\": {\"x\": ",
    "{\"a\": " x 62, "{\"b\": 1}", "}" x 62, "}}\n"' >>ok.jsonl
  vdb-build -q -o ix.vdb ok.jsonl
  path="x.$(perl -e 'print "a." x 62')b"
  [ "$(hits --filter "$path == 1")" = deep ]
  [ "$(VDB_FILTER_SCAN=1 hits --filter "$path == 1")" = deep ]
  records 30 >over.jsonl
  perl -e 'print "{\"id\": \"deep\", \"vector\": [1, 1], \"metadata\": {\"x\": ",
    "{\"a\": " x 63, "{\"b\": 1}", "}" x 63, "}}\n"' >>over.jsonl
  run bounded vdb-build -o over.vdb over.jsonl
  assert_failure 65
  assert_output --partial 'over.jsonl: line 31 (record 30): "metadata" nests deeper than the limit of 64 levels'
}

@test "a filter of 40,000 '(' or 50,000 '!' is a usage error (64) naming the limit, not a crash" {
  records 30 >r.jsonl
  vdb-build -q -o ix.vdb r.jsonl
  printf '{"vector": [0, 0]}\n' >q.jsonl
  parens=$(perl -e 'print "(" x 40000, "a == 1", ")" x 40000')
  run bounded vdb-query -x ix.vdb --filter "$parens" q.jsonl
  assert_failure 64
  assert_output --partial "--filter: column 65: nested deeper than the limit of 64"
  nots=$(perl -e 'print "!" x 50000, "a == 1"')
  run bounded vdb-query -x ix.vdb --filter "$nots" q.jsonl
  assert_failure 64
  assert_output --partial "--filter: column 65: nested deeper than the limit of 64"
  # from a config file, the same
  printf 'filter: "%s"\n' "$nots" >nots.yaml
  run bounded vdb-query -x ix.vdb -c nots.yaml q.jsonl
  assert_failure 64
  assert_output --partial "nested deeper than the limit of 64"
}

@test "64 levels of '(' and '!' filter as they read; 65 are refused" {
  records 60 >r.jsonl
  vdb-build -q -o ix.vdb r.jsonl
  a_is_1 60 >want
  # 32 '!(' pairs: 64 levels, an even number of negations
  f=$(perl -e 'print "!(" x 32, "a == 1", ")" x 32')
  hits --filter "$f" >got
  cmp got want
  VDB_FILTER_SCAN=1 hits --filter "$f" >got
  cmp got want
  # one more '!' negates it, and is one level too many
  printf '{"vector": [0, 0]}\n' >q.jsonl
  run bounded vdb-query -x ix.vdb --filter "!$f" q.jsonl
  assert_failure 64
  assert_output --partial "--filter: column 65: nested deeper than the limit of 64"
}

@test "100,000 && or || from a YAML config filter correctly, with the payload index and without" {
  records 300 >r.jsonl
  vdb-build -q -o ix.vdb r.jsonl
  a_is_1 300 >want
  perl -e 'print "filter: \"", "n >= 0 && " x 100000, "a == 1\"\n"' >and.yaml
  perl -e 'print "filter: \"", "a == 7 || " x 100000, "a == 1\"\n"' >or.yaml
  printf '{"vector": [0, 0]}\n' >q.jsonl
  for c in and.yaml or.yaml; do
    bounded vdb-query -x ix.vdb -k 1000 -c $c q.jsonl | jq -r '.ids[]' | sort >got
    cmp got want
    VDB_FILTER_SCAN=1 bounded vdb-query -x ix.vdb -k 1000 -c $c q.jsonl | jq -r '.ids[]' | sort >got
    cmp got want
  done
}

@test "a config of 200,000 aliases to a 1 MB scalar is refused (64) naming the file and line" {
  perl -e 'print "output: x.vdb\ninput: &a ", "x" x 1000000, "\ninput: [",
    join(", ", ("*a") x 200000), "]\n"' >bomb.yaml
  run bounded vdb-build -c bomb.yaml
  assert_failure 64
  assert_output --partial "bomb.yaml: line 3: the file is longer than the limit of 1 MiB"
  [ "${#lines[@]}" -eq 1 ]
  # within the file's limit, what the aliases expand to is limited the same
  perl -e 'print "output: x.vdb\ninput: [&a ", "x" x 200000, ", ",
    join(", ", ("*a") x 1000), "]\n"' >expand.yaml
  run bounded vdb-build -c expand.yaml
  assert_failure 64
  assert_output --partial "expand.yaml: line 2: the options expand to more than the limit of 1 MiB"
  [ ! -e x.vdb ]
  # anchors and aliases that a config uses still work
  # (records without ids: the file read twice holds no duplicate id)
  records 5 | jq -c 'del(.id)' >r.jsonl
  printf 'output: x.vdb\ninput: [&f r.jsonl, *f]\n' >ok.yaml
  vdb-build -q -c ok.yaml
  [ "$(vdb-query -x x.vdb --info | jq .count)" = 10 ]
}

@test "90,000 anchors in a config are refused (64) at once, not looked up in quadratic time" {
  perl -e 'print "index: [", join(", ", map { "&a$_ x" } 1 .. 90000), "]\n"' >anchors.yaml
  [ "$(wc -c <anchors.yaml)" -lt 1048576 ]
  run bounded vdb-query -c anchors.yaml -x ix.vdb
  assert_failure 64
  assert_output --partial "anchors.yaml: line 1: more than the limit of 1024 anchors and aliases"
}

@test "100,000 nested '[' or '{' in a config are refused (64) at once, not parsed in quadratic time" {
  perl -e 'print "k: ", "[" x 100000, "\n"' >brackets.yaml
  run bounded vdb-query -c brackets.yaml -x ix.vdb
  assert_failure 64
  assert_output --partial "brackets.yaml: line 1: nested deeper than the limit of 16 levels"
  perl -e 'print "k: ", "{a: " x 100000, "\n"' >braces.yaml
  run bounded vdb-query -c braces.yaml -x ix.vdb
  assert_failure 64
  assert_output --partial "braces.yaml: line 1: nested deeper than the limit of 16 levels"
  # block style: one more level per line
  perl -e 'print "k:\n", map { " " x $_ . "- \n" } 1 .. 200' >block.yaml
  run bounded vdb-query -c block.yaml -x ix.vdb
  assert_failure 64
  assert_output --partial "block.yaml: line 17: nested deeper than the limit of 16 levels"
}
