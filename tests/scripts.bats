#!/usr/bin/env bats
# The README's demo runs and shows real results.
load helpers

@test "scripts/demo builds an index from bundled data and answers queries" {
  run --separate-stderr env PATH="$VDB_BIN:$PATH" VDB_DEMO_DIR="$T" "$VDB_SRCDIR/scripts/demo"
  assert_success
  [[ "$output" == *"recall@10: 1.0000"* ]]
  [[ "$output" == *'"ids": ["'* ]]
}
