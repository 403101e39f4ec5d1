#!/usr/bin/env bats
# Every example in the man pages runs and succeeds, and prints what the page
# shows.
load helpers

# examples PAGE: the shell lines between .EX and .EE that start with a
# command, one a line as "COMMAND<TAB>OUTPUT": the lines the page shows under
# it (up to the next command or .EE), joined by \x1f; the roff escapes \-, \e
# and \(dq as they print
examples() {
  awk '/^\.EX/ { ex = 1; next }
       /^\.EE/ { if (cmd != "") print cmd "\t" out; ex = 0; cmd = ""; next }
       !ex { next }
       /^(vdb-|cat |echo |printf |jq )/ { if (cmd != "") print cmd "\t" out; cmd = $0; out = ""; next }
       cmd != "" && NF { out = out (out == "" ? "" : "\037") $0 }' "$VDB_SRCDIR/man/$1" |
    sed 's/\\-/-/g; s/\\(dq/"/g; s/\\e/\\/g'
}

prepare() {
  cp "$D/sift2k_base.fvecs" base.fvecs
  cp "$D/sift_query20.fvecs" queries.fvecs
  cp "$D/words1k.jsonl" docs.jsonl
  cp "$D/words_query20.jsonl" queries.jsonl
  head -n 100 "$D/words1k.jsonl" | sed "s/\"id\":\"/\"id\":\"more-/" >more.jsonl
  printf '{"id": "a", "bits": "0f3a"}\n{"id": "b", "bits": "ff00"}\n{"id": "c", "bits": "0f3b"}\n' \
    >hashes.jsonl
  # an upsert of 20 records, and ids to delete in both forms
  head -n 20 "$D/words1k.jsonl" | jq -c '.vector |= map(. * 2)' >changed.jsonl
  sed -n '30,39p' "$D/words1k.jsonl" | jq -r .id >gone.txt
  sed -n '40,49p' "$D/words1k.jsonl" >gone.jsonl
  head -c $((1000 * 516)) base.fvecs >part1.fvecs
  tail -c $((1000 * 516)) base.fvecs >part2.fvecs
  vdb-build -o base.vdb base.fvecs
  vdb-build -m cosine -o docs.vdb docs.jsonl
  # products: the words with a category and a price
  jq -c '. + {metadata: {category: (if (.id | length) % 2 == 0 then "Software" else "Books" end),
    price: ((.id | length) * 20)}}' docs.jsonl >products.jsonl
  vdb-build -q -T hnsw -m cosine -o products.vdb products.jsonl
  # text: plain and JSONL documents, a small fastText model (gloss.bin and gloss.vec), chunks, questions
  mkdir docs
  cp "$D/text_plain.txt" docs/a.txt
  printf 'Another document.\n' >docs/b.txt
  cp "$D/text_sample.jsonl" documents.jsonl
  fasttext skipgram -input "$D/embed_gloss_sample.txt" -output gloss -dim 16 -epoch 1 -minCount 1 \
    -bucket 10000 -thread 1 -verbose 0
  vdb-text chunk documents.jsonl >chunks.jsonl
  printf '{"id": "q1", "text": "a large cat"}\n{"id": "q2", "text": "a keyboard instrument"}\n' >questions.jsonl
}

@test "the man pages render without warnings" {
  command -v groff >/dev/null || skip "groff is not installed"
  for p in vdb-build.1 vdb-query.1 vdb-eval.1 vdb-quantize.1 vdb-text.1 vdb.7; do
    run bash -c "LC_ALL=C.UTF-8 groff -man -Tutf8 -ww '$VDB_SRCDIR/man/$p' 2>&1 >/dev/null"
    assert_success
    assert_output ""
  done
}

@test "every example in the man pages runs, and prints the output the page shows" {
  prepare
  n=0 shown=0
  for p in vdb-build.1 vdb-query.1 vdb-eval.1 vdb-quantize.1 vdb-text.1 vdb.7; do
    while IFS=$'\t' read -r line want; do
      # the shard example reproduces the split with xxhsum (Debian xxhash)
      [[ "$line" != *xxhsum* ]] || command -v xxhsum >/dev/null || continue
      run --separate-stderr bash -o pipefail -c "$line"
      [ "$status" -eq 0 ] || { echo "$p: $line: $output $stderr"; false; }
      n=$((n + 1))
      [ -n "$want" ] || continue
      # what the terminal shows: standard output, or for a command that
      # writes none (as --verify), its message on stderr
      [ -n "$output" ] || output=$stderr
      [ "$output" = "${want//$'\037'/$'\n'}" ] ||
        { printf '%s: %s\nprints:\n%s\nthe page shows:\n%s\n' "$p" "$line" "$output" "$want"; false; }
      shown=$((shown + 1))
    done < <(examples $p)
  done
  [ "$n" -ge 20 ]
  [ "$shown" -ge 6 ]
}

@test "JSON shown in the man pages keeps its quotes when rendered" {
  command -v groff >/dev/null || skip "groff is not installed"
  for p in vdb-build.1 vdb-query.1 vdb-eval.1 vdb-quantize.1 vdb-text.1 vdb.7; do
    # roff takes " as its argument quotes: .B {"k": 10, "queries": ...} loses
    # every quote but the first, and shows {"k": 10, queries : ...
    run -1 bash -c "LC_ALL=C.UTF-8 groff -man -Tutf8 -rLL=300n '$VDB_SRCDIR/man/$p' 2>/dev/null | col -b |
      grep -E '\{\"[a-z_]+\": [^}]*, [a-z_]+ : '"
  done
}

@test "every exit status a command's --help lists is in its man page and in vdb(7)" {
  for c in vdb-build vdb-query vdb-eval vdb-quantize vdb-text; do
    codes=$($c --help | sed -n '/^Exit status:/,/See /p' | grep -oE '(^|[ ,:])[0-9]{1,3} ' | tr -dc '0-9\n ')
    [ -n "$codes" ]
    for n in $codes; do
      for page in $c.1 vdb.7; do
        sed -n '/^\.SH EXIT STATUS/,/^\.SH /p' "$VDB_SRCDIR/man/$page" | grep -qx "\.B $n" ||
          { echo "$c --help lists exit status $n; $page's EXIT STATUS does not"; false; }
      done
    done
  done
}

@test "every long option of --help is documented in the command's man page" {
  for c in vdb-build vdb-query vdb-eval vdb-quantize "vdb-text chunk" "vdb-text embed" "vdb-text tokens"; do
    opts=$($c --help | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u)
    [ -n "$opts" ]
    page=${c% *}.1
    for o in $opts; do
      # roff writes each - of an option as \-
      grep -qF -- "${o//-/\\-}" "$VDB_SRCDIR/man/$page" || { echo "$c: $o is not in $page"; false; }
    done
  done
}
