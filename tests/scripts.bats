#!/usr/bin/env bats
# The README's demo runs and shows real results.
load helpers

@test "scripts/demo builds an index from bundled data and answers queries" {
  run --separate-stderr env PATH="$VDB_BIN:$PATH" VDB_DEMO_DIR="$T" "$VDB_SRCDIR/scripts/demo"
  assert_success
  [[ "$output" == *"recall@10: 1.0000"* ]]
  [[ "$output" == *'"ids": ["'* ]]
  # text in: the walk-through's first context block, three passages with their sources
  [[ "$output" == *"### Question q1: "* ]]
  [ "$(grep -cE '^\[[1-3]\] wn-[0-9]+#[0-9]+ \(source wn-[0-9]+, bytes [0-9]+-[0-9]+, cosine distance ' <<<"$output")" -eq 3 ]
  # where the commands are, and how to run them by name or install them
  bin=$(command -v vdb-build); bin=${bin%/vdb-build}
  [ "${lines[-2]}" = "The commands are in $bin: export PATH=\"$bin:\$PATH\" to run them by name," ]
  [[ "${lines[-1]}" == "or install them "*"make -C "*"/build install" ]]
}
