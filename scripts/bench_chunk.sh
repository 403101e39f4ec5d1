#!/usr/bin/env bash
# scripts/bench_chunk.sh — vdb-text chunk's throughput in MB/s of input on the
# WordNet gloss corpus (../shared/data/wordnet-fasttext, 117,659 lines, 11 MB):
# as one plain text file, as JSONL with one document a line (short records:
# jansson's parsing dominates) and as JSONL of 1,000 lines a document; JSONL
# on one thread and on all cores.
#   scripts/bench_chunk.sh [--runs N]   (vdb-text from ./build/cmd or $VDB_BIN)
# A benchmark, not a test: each figure is the best of --runs (default 3).
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
bin=${VDB_BIN:-$src/build/cmd}
runs=3
[ "${1:-}" = --runs ] && runs=$2
corpus=${VDB_SHARED_DATA:-$src/../shared/data}/wordnet-fasttext/wordnet_gloss_corpus.txt.gz
[ -f "$corpus" ] || { echo "bench_chunk: $corpus is missing" >&2; exit 66; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gzip -dc "$corpus" >"$tmp/gloss.txt"
python3 - "$tmp" <<'PY'
import json, sys
d = sys.argv[1]
lines = open(d + "/gloss.txt", encoding="utf-8").read().split("\n")
with open(d + "/lines.jsonl", "w") as f:
    for i, l in enumerate(lines):
        if l: f.write(json.dumps({"id": i, "text": l}) + "\n")
with open(d + "/docs.jsonl", "w") as f:
    for i in range(0, len(lines), 1000):
        f.write(json.dumps({"id": i // 1000, "text": "\n".join(lines[i:i + 1000])}) + "\n")
PY
# best MB/s of $runs runs: the rate vdb-text chunk -v reports (its own timing)
best() {
  local b=0 r
  for _ in $(seq "$runs"); do
    r=$("$bin/vdb-text" chunk -v "$@" 2>&1 >/dev/null | sed -n 's/.*(\([0-9]*\) MB\/s)$/\1/p')
    [ "${r:-0}" -gt "$b" ] && b=$r
  done
  echo "$b"
}
# a plain document is chunked by one thread; JSONL records on -t threads
n=$(nproc)
printf '%-44s %10s %10s\n' "input, mode" "MB/s -t 1" "-t $n"
for mode in "--words 200 --overlap 40" "--sentences 5" "--paragraphs"; do
  printf '%-44s %10s %10s\n' "plain 11 MB, $mode" "$(best $mode "$tmp/gloss.txt")" -
  for f in "117,659 lines:lines" "118 documents:docs"; do
    printf '%-44s %10s %10s\n' "JSONL ${f%:*}, $mode" "$(best -t 1 $mode "$tmp/${f#*:}.jsonl")" \
      "$(best -t "$n" $mode "$tmp/${f#*:}.jsonl")"
  done
done
echo "(on $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $n cores)"
