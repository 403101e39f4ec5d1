#!/usr/bin/env bats
# Every example in the man pages runs and succeeds.
load helpers

# examples PAGE: the shell lines between .EX and .EE that start with a command
examples() {
  sed -n '/^\.EX/,/^\.EE/p' "$VDB_SRCDIR/man/$1" | grep -E '^(vdb-|cat |echo )' | sed 's/\\-/-/g'
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

@test "every example in the man pages runs" {
  prepare
  n=0
  for p in vdb-build.1 vdb-query.1 vdb-eval.1 vdb-quantize.1 vdb-text.1 vdb.7; do
    while IFS= read -r line; do
      run bash -o pipefail -c "$line"
      [ "$status" -eq 0 ] || { echo "$p: $line: $output"; false; }
      n=$((n + 1))
    done < <(examples $p)
  done
  [ "$n" -ge 20 ]
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
