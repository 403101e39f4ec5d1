#!/usr/bin/env bats
# Input formats and bad input: one clear message naming input and record,
# a documented exit status, and no index written.
load helpers

@test "fvecs, bvecs and JSONL inputs give the same index answers" {
  fvecs a.fvecs 3  0 0 0  1 0 0  0 2 0  5 5 5
  perl -e 'for my $v ([0,0,0],[1,0,0],[0,2,0],[5,5,5]) { print pack("l<", 3), pack("C*", @$v) }' >a.bvecs
  printf '{"vector": [0,0,0]}\n{"vector": [1,0,0]}\n\n{"vector": [0,2,0]}\n{"vector": [5,5,5]}\n' >a.jsonl
  fvecs q.fvecs 3  0.9 0.1 0
  for f in a.fvecs a.bvecs a.jsonl; do
    run vdb-build -o "$f.vdb" "$f"
    assert_success
    run vdb-query -x "$f.vdb" -k 4 q.fvecs
    assert_success
    assert_equal "$(ids_of <<<"$output")" "1 0 2 3"
  done
}

@test "format is detected on stdin: JSONL by its first byte, else fvecs" {
  printf '  {"id": "a", "vector": [1, 2]}\n{"id": "b", "vector": [3, 4]}\n' | vdb-build -o j.vdb
  run vdb-query -x j.vdb --info
  assert_output --partial '"count":2'
  assert_output --partial '"ids":true'
  fvecs v.fvecs 2  1 2  3 4  5 6
  vdb-build -o f.vdb <v.fvecs
  run vdb-query -x f.vdb --info
  assert_output --partial '"count":3'
}

@test "--format overrides detection" {
  fvecs v.fvecs 2  1 2  3 4
  cp v.fvecs v.dat
  run vdb-build -f fvecs -o a.vdb v.dat
  assert_success
  run vdb-build -f jsonl -o b.vdb v.fvecs
  assert_failure 65
  run vdb-build -f yaml -o b.vdb v.fvecs
  assert_failure 64
}

@test "a truncated fvecs record names the input and the record (65)" {
  fvecs v.fvecs 4  1 2 3 4  5 6 7 8  9 10 11 12
  head -c 50 v.fvecs >t.fvecs
  run --separate-stderr vdb-build -o t.vdb t.fvecs
  assert_failure 65
  [[ "$stderr" == "vdb-build: error: t.fvecs: record 2: "*truncated* ]]
  [ ! -e t.vdb ]
  [ -z "$(ls | grep tmp)" ]
}

@test "a dimension that changes between records is an error naming the record" {
  fvecs a.fvecs 4 1 2 3 4
  fvecs b.fvecs 3 1 2 3
  cat a.fvecs b.fvecs >m.fvecs
  run vdb-build -o m.vdb m.fvecs
  assert_failure 65
  assert_output --partial "m.fvecs: record 1"
  assert_output --partial "dimension"
}

@test "a second input of another dimension names that input" {
  fvecs a.fvecs 4  1 2 3 4
  fvecs b.fvecs 3  1 2 3
  run vdb-build -o ab.vdb a.fvecs b.fvecs
  assert_failure 65
  assert_output --partial "b.fvecs: record 0"
}

@test "NaN and infinite values are refused with the record and position" {
  fvecs n.fvecs 3  1 2 3  4 nan 6
  run vdb-build -o n.vdb n.fvecs
  assert_failure 65
  assert_output --partial "n.fvecs: record 1"
  assert_output --partial "NaN"
  fvecs i.fvecs 2  inf 1
  run vdb-build -o i.vdb i.fvecs
  assert_failure 65
  assert_output --partial "record 0"
  printf '{"vector": [1, 1e39]}\n' >big.jsonl
  run vdb-build -o big.vdb big.jsonl
  assert_failure 65
  assert_output --partial "line 1"
}

@test "malformed JSONL names the input, line and record" {
  printf '{"vector": [1, 2]}\n\n{"vector": [1, 2}\n' >bad.jsonl
  run vdb-build -o b.vdb bad.jsonl
  assert_failure 65
  assert_output --partial "bad.jsonl: line 3"
  assert_output --partial "record 1"
  printf '{"vector": [1, "x"]}\n' >s.jsonl
  run vdb-build -o b.vdb s.jsonl
  assert_failure 65
  assert_output --partial "vector[1]"
  printf '{"id": 1, "vec": [1]}\n' >nv.jsonl
  run vdb-build -o b.vdb nv.jsonl
  assert_failure 65
  assert_output --partial "vector"
  printf '{"id": [1], "vector": [1]}\n' >bi.jsonl
  run vdb-build -o b.vdb bi.jsonl
  assert_failure 65
  printf '{"vector": [1, 2], "metadata": 5}\n' >bm.jsonl
  run vdb-build -o b.vdb bm.jsonl
  assert_failure 65
  assert_output --partial "metadata"
  [ ! -e b.vdb ]
}

@test "empty input, dimension 0 and a huge dimension are refused" {
  : >empty.fvecs
  run vdb-build -o e.vdb empty.fvecs
  assert_failure 65
  assert_output --partial "empty.fvecs"
  run vdb-build -o e.vdb </dev/null
  assert_failure 65
  assert_output --partial "stdin"
  perl -e 'print pack("l<", 0)' >z.fvecs
  run vdb-build -o e.vdb z.fvecs
  assert_failure 65
  assert_output --partial "dimension 0"
  perl -e 'print pack("l<", 70000), "\0" x 280000' >h.fvecs
  run vdb-build -o e.vdb h.fvecs
  assert_failure 65
  assert_output --partial "65536"
  printf '{"vector": []}\n' >ej.jsonl
  run vdb-build -o e.vdb ej.jsonl
  assert_failure 65
  [ ! -e e.vdb ]
}

@test "a missing input file is 66 and names the file" {
  run vdb-build -o x.vdb nosuch.fvecs
  assert_failure 66
  assert_output --partial "nosuch.fvecs"
  run vdb-query -x nosuch.vdb
  assert_failure 66
  assert_output --partial "nosuch.vdb"
}

@test "an input that is a directory is 66 and names it, in every reader of records" {
  mkdir dir.fvecs
  run -66 vdb-build -o x.vdb dir.fvecs
  assert_output --partial "dir.fvecs: cannot open: a directory"
  vdb-build -q -o s.vdb "$D/sift_query20.fvecs"
  run -66 vdb-query -x s.vdb dir.fvecs
  assert_output --partial "dir.fvecs: cannot open: a directory"
  run -66 vdb-eval groundtruth -m l2 -k 1 dir.fvecs "$D/sift_query20.fvecs"
  assert_output --partial "dir.fvecs: cannot open: a directory"
}

@test "queries of the wrong dimension name the query input and record" {
  vdb-build -o s.vdb "$D/sift2k_base.fvecs"
  fvecs q.fvecs 3  1 2 3
  run vdb-query -x s.vdb q.fvecs
  assert_failure 65
  assert_output --partial "q.fvecs: record 0"
  assert_output --partial "128"
}
