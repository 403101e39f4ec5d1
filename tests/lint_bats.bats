#!/usr/bin/env bats
# scripts/lint-bats rejects the checks bats never makes, and the tests pass it.
load helpers

LINT=$VDB_SRCDIR/scripts/lint-bats

# fixture NAME: t.bats, a copy of tests/data/lint/NAME.txt (kept out of this
# file: bats would run its tests, and its unchecked lines are the point)
fixture() { cp "$D/lint/$1.txt" t.bats; }

@test "lint-bats: a negation before a test's last line is rejected, with its file and line" {
  fixture negation
  run -1 "$LINT" t.bats
  [ "${#lines[@]}" -eq 2 ]
  [[ "${lines[0]}" == "t.bats:3: '! cmd' is not checked here"* ]]
  [[ "${lines[1]}" == "t.bats:8: '! cmd' is not checked here"* ]]
}

@test "lint-bats: bats really ignores such a negation, and run ! does not" {
  fixture bats_ignores
  run -1 bats --tap t.bats
  [ "${lines[1]}" = "ok 1 negated" ]
  [ "${lines[2]}" = "not ok 2 run" ]
}

@test "lint-bats: chains of tests, negated cmp, diff, grep and negations over <(...) are rejected anywhere" {
  fixture chains
  run -1 "$LINT" t.bats
  [ "${#lines[@]}" -eq 6 ]
  chain="'[ a ] &""& [ b ]'" # spelled apart, so this file holds no chain itself
  [[ "${lines[0]}" == "t.bats:2: $chain"* ]]
  [[ "${lines[1]}" == "t.bats:3: $chain"* ]]
  [[ "${lines[2]}" == "t.bats:4: a negated command reading <(...)"* ]]
  [[ "${lines[3]}" == "t.bats:5: cmp exits 1 for a difference"*"run -1 cmp" ]]
  [[ "${lines[4]}" == "t.bats:6: diff exits 1"* ]]
  [[ "${lines[5]}" == "t.bats:7: grep exits 1"* ]]
}

@test "lint-bats: a negated cmp passes when a file is missing, run -1 cmp does not" {
  fixture missing_file
  run -1 bats --tap t.bats
  [ "${lines[1]}" = "ok 1 negated" ]
  [ "${lines[2]}" = "not ok 2 status 1" ]
}

@test "lint-bats: conditions, negated tests, quoted text and here-documents pass" {
  fixture allowed
  run -0 "$LINT" t.bats
  [ -z "$output" ]
}

@test "lint-bats: every test file of vdb passes" {
  run -0 "$LINT" "$VDB_SRCDIR"/tests/*.bats
  [ -z "$output" ]
}
