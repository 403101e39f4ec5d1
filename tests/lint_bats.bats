#!/usr/bin/env bats
# scripts/lint-bats rejects the checks bats never makes, and the tests pass it.
load helpers

LINT=$VDB_SRCDIR/scripts/lint-bats

# fixture < TEXT: t.bats, with %test for @test (bats would take a line
# that starts with @test here for one of this file's tests)
fixture() { sed 's/^%test/@test/' >t.bats; }

@test "lint-bats: a negation before a test's last line is rejected, with its file and line" {
  fixture <<'EOF'
%test "x" {
  true
  ! false
  # the last line's status is the test's
  ! false
}
f() {
  ! true
  echo
}
EOF
  run -1 "$LINT" t.bats
  [ "${#lines[@]}" -eq 2 ]
  [[ "${lines[0]}" == "t.bats:3: '! cmd' is not checked here"* ]]
  [[ "${lines[1]}" == "t.bats:8: '! cmd' is not checked here"* ]]
}

@test "lint-bats: bats really ignores such a negation, and run ! does not" {
  fixture <<'EOF'
%test "negated" {
  ! true
  true
}
%test "run" {
  run ! true
  true
}
EOF
  run -1 bats --tap t.bats
  [ "${lines[1]}" = "ok 1 negated" ]
  [ "${lines[2]}" = "not ok 2 run" ]
}

@test "lint-bats: chains of tests, negated cmp, diff, grep and negations over <(...) are rejected anywhere" {
  fixture <<'EOF'
%test "x" {
  [ 1 = 1 ] && [ 2 = 2 ]
  [[ a == a ]] && [[ b == b ]]; true
  run ! test a <(false)
  run ! cmp -s a b
  run ! diff a b
  ! grep -q x y
}
EOF
  run -1 "$LINT" t.bats
  [ "${#lines[@]}" -eq 6 ]
  [[ "${lines[0]}" == "t.bats:2: '[ a ] && [ b ]'"* ]]
  [[ "${lines[1]}" == "t.bats:3: '[ a ] && [ b ]'"* ]]
  [[ "${lines[2]}" == "t.bats:4: a negated command reading <(...)"* ]]
  [[ "${lines[3]}" == "t.bats:5: cmp exits 1 for a difference"*"run -1 cmp" ]]
  [[ "${lines[4]}" == "t.bats:6: diff exits 1"* ]]
  [[ "${lines[5]}" == "t.bats:7: grep exits 1"* ]]
}

@test "lint-bats: a negated cmp passes when a file is missing, run -1 cmp does not" {
  fixture <<'EOF'
%test "negated" {
  run ! cmp -s no-such-file t.bats
}
%test "status 1" {
  run -1 cmp -s no-such-file t.bats
}
EOF
  run -1 bats --tap t.bats
  [ "${lines[1]}" = "ok 1 negated" ]
  [ "${lines[2]}" = "not ok 2 status 1" ]
}

@test "lint-bats: conditions, negated tests, quoted text and here-documents pass" {
  fixture <<'EOF'
%test "x" {
  if ! false; then true; fi
  while ! true; do :; done
  [ ! -e nothing ]
  [[ a == a && b == b ]]
  for i in 1 2; do [ $i = 1 ] && [ $i = 2 ] && continue; done
  [ 1 = 1 ] && [ 2 = 2 ] || false
  run -1 cmp -s a b
  if ! cmp -s a b; then :; fi
  run ! false
  perl -e '
    ! 1 ;
    [ 1 ] && [ 2 ] ' # ! false
  cat <<DOC >/dev/null
! false
[ 1 ] && [ 2 ]
DOC
  x=$(cat <<<"a") # a here-string is no here-document
  ! false
}
EOF
  run -0 "$LINT" t.bats
  [ -z "$output" ]
}

@test "lint-bats: every test file of vdb passes" {
  run -0 "$LINT" "$VDB_SRCDIR"/tests/*.bats
  [ -z "$output" ]
}
