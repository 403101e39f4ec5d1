#!/usr/bin/env bats
# Diversity (vdb-query --mmr LAMBDA --fetch-k N) and paging (--offset N).
# MMR is checked against an independent numpy implementation of LangChain's
# maximal_marginal_relevance (its candidates from a numpy brute force, not
# from vdb), and against a 4-point example worked by hand; --offset against
# jq slices of the plain ranking of k + N.
load helpers

# data N DIM SEED: base.jsonl (integer ids = rows, metadata c = row % 3) and
# q.jsonl (8 queries), float32 values written so that they read back exactly
data() {
  /usr/bin/python3 - "$@" <<'EOF'
import json, sys
import numpy as np
n, d, seed = map(int, sys.argv[1:4])
rng = np.random.default_rng(seed)
x = rng.standard_normal((n, d)).astype(np.float32)
q = rng.standard_normal((8, d)).astype(np.float32)
with open("base.jsonl", "w") as f:
    for i, v in enumerate(x):
        f.write(json.dumps({"id": i, "vector": [float(t) for t in v], "metadata": {"c": i % 3}}) + "\n")
with open("q.jsonl", "w") as f:
    for v in q:
        f.write(json.dumps({"vector": [float(t) for t in v]}) + "\n")
EOF
}

# reference METRIC K FETCH LAMBDA [SKIP_C]: per query the MMR ids as a JSON
# array: candidates the FETCH nearest by METRIC (numpy brute force, records
# with c == SKIP_C left out), then LangChain's maximal_marginal_relevance
# (cosine similarity, NaN -> 0, first pick the most similar, strict '>')
reference() {
  /usr/bin/python3 - "$@" <<'EOF'
import json, sys
import numpy as np
metric, k, fetch, lam = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
skip = int(sys.argv[5]) if len(sys.argv) > 5 else None
recs = [json.loads(l) for l in open("base.jsonl")]
recs = [r for r in recs if skip is None or r["metadata"]["c"] != skip]
ids = np.array([r["id"] for r in recs])
x = np.array([r["vector"] for r in recs], dtype=np.float32).astype(np.float64)

def cos(a, b):
    an = np.linalg.norm(a, axis=1, keepdims=True)
    bn = np.linalg.norm(b, axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = (a @ b.T) / (an * bn.T)
    s[np.isnan(s) | np.isinf(s)] = 0.0
    return s

def mmr(qv, emb, lam, k):
    sq = cos(qv[None, :], emb)[0]
    idxs = [int(np.argmax(sq))]
    while len(idxs) < min(k, len(emb)):
        best, add = -np.inf, -1
        ss = cos(emb, emb[idxs])
        for i, s in enumerate(sq):
            if i in idxs:
                continue
            score = lam * s - (1 - lam) * ss[i].max()
            if score > best:
                best, add = score, i
        idxs.append(add)
    return idxs

for l in open("q.jsonl"):
    qv = np.array(json.loads(l)["vector"], dtype=np.float32).astype(np.float64)
    if metric == "l2":
        dist = np.linalg.norm(x - qv, axis=1)
    elif metric == "ip":
        dist = -(x @ qv)
    else:
        dist = 1 - cos(qv[None, :], x)[0]
    order = sorted(range(len(x)), key=lambda i: (dist[i], ids[i]))[:fetch]
    pick = mmr(qv, x[order], lam, k)
    print(json.dumps([int(ids[order[p]]) for p in pick], separators=(",", ":")))
EOF
}

@test "--mmr equals a numpy reference of LangChain's MMR (flat, ivf probing every list, 2 shards; l2, ip, cosine; with a filter)" {
  data 60 6 11
  for m in l2 ip cosine; do
    vdb-build -q -m $m -o $m.vdb base.jsonl
    vdb-build -q -m $m -T ivf --nlist 4 -o $m-ivf.vdb base.jsonl
    vdb-build -q -m $m --shard 0/2 -o $m-s0.vdb base.jsonl
    vdb-build -q -m $m --shard 1/2 -o $m-s1.vdb base.jsonl
    for lam in 0 0.3 0.5 0.75 1; do
      reference $m 5 15 $lam >want
      vdb-query -x $m.vdb -k 5 --mmr $lam --fetch-k 15 q.jsonl | jq -c .ids >got
      diff want got
      vdb-query -x $m-ivf.vdb --nprobe 4 -k 5 --mmr $lam --fetch-k 15 q.jsonl | jq -c .ids >got
      diff want got
      vdb-query -x $m-s0.vdb -x $m-s1.vdb -k 5 --mmr $lam --fetch-k 15 q.jsonl | jq -c .ids >got
      diff want got
      reference $m 4 12 $lam 1 >want
      vdb-query -x $m.vdb -k 4 --mmr $lam --fetch-k 12 --filter 'c != 1' q.jsonl | jq -c .ids >got
      diff want got
    done
    # the default fetch is max(20, 4k)
    reference $m 3 20 0.5 >want
    vdb-query -x $m.vdb -k 3 --mmr 0.5 q.jsonl | jq -c .ids >got
    diff want got
  done
}

@test "--mmr on a 4-point example worked by hand (cosine, q = (1, 0))" {
  # a = (0.96, 0.28), b = (0.8, 0.6), c = (0.6, -0.8), d = (0, 1), all of norm 1:
  #   sim(q,.): a 0.96, b 0.8, c 0.6, d 0      (plain order a b c d)
  #   sim(a,b) = 0.768 + 0.168 = 0.936, sim(a,c) = 0.576 - 0.224 = 0.352,
  #   sim(a,d) = 0.28, sim(b,c) = 0.48 - 0.48 = 0, sim(b,d) = 0.6, sim(c,d) = -0.8
  # lambda 0.5: first a (most similar to q); then
  #   b: 0.5*0.8 - 0.5*0.936 = -0.068, c: 0.5*0.6 - 0.5*0.352 = 0.124,
  #   d: 0.5*0 - 0.5*0.28 = -0.14                                  -> c
  #   b: max(0.936, 0) -> -0.068, d: max(0.28, -0.8) -> -0.14         -> b, then d
  # lambda 0: first a; then -max sim to the picks:
  #   b -0.936, c -0.352, d -0.28                                   -> d
  #   b: -max(0.936, 0.6) = -0.936, c: -max(0.352, -0.8) = -0.352    -> c, then b
  printf '%s\n' '{"id": "a", "vector": [0.96, 0.28]}' '{"id": "b", "vector": [0.8, 0.6]}' \
    '{"id": "c", "vector": [0.6, -0.8]}' '{"id": "d", "vector": [0, 1]}' >p.jsonl
  vdb-build -q -m cosine -o p.vdb p.jsonl
  echo '{"vector": [1, 0]}' >q.jsonl
  run -0 vdb-query -x p.vdb -k 4 q.jsonl
  [ "$(jq -c .ids <<<"$output")" = '["a","b","c","d"]' ]
  run -0 vdb-query -x p.vdb -k 4 --mmr 0.5 q.jsonl
  [ "$(jq -c .ids <<<"$output")" = '["a","c","b","d"]' ]
  # each with its own distance to the query (1 - sim)
  [ "$(jq -c '[.distances[] * 1000 | round]' <<<"$output")" = '[40,400,200,1000]' ]
  run -0 vdb-query -x p.vdb -k 3 --mmr 0 q.jsonl
  [ "$(jq -c .ids <<<"$output")" = '["a","d","c"]' ]
}

@test "--mmr 1 is the plain top k (cosine; l2 on unit vectors), on one index and on shards" {
  data 80 8 5
  vdb-build -q -m cosine -o c.vdb base.jsonl
  vdb-build -q -m cosine --shard 0/2 -o s0.vdb base.jsonl
  vdb-build -q -m cosine --shard 1/2 -o s1.vdb base.jsonl
  vdb-query -x c.vdb -k 10 q.jsonl | jq -c .ids >plain
  vdb-query -x c.vdb -k 10 --mmr 1 --fetch-k 40 q.jsonl | jq -c .ids >got
  diff plain got
  vdb-query -x s0.vdb -x s1.vdb -k 10 --mmr 1 q.jsonl | jq -c .ids >got
  diff plain got
  # unit vectors: cosine and l2 rank alike
  jq -c '.vector |= (. as $v | ([$v[] | . * .] | add | sqrt) as $n | map(. / $n))' base.jsonl >u.jsonl
  vdb-build -q -m l2 -o u.vdb u.jsonl
  vdb-query -x u.vdb -k 10 q.jsonl | jq -c .ids >plain
  vdb-query -x u.vdb -k 10 --mmr 1 q.jsonl | jq -c .ids >got
  diff plain got
  # lambda below 1 changes the order somewhere (else the test proves nothing)
  vdb-query -x u.vdb -k 10 --mmr 0.3 q.jsonl | jq -c .ids >got
  run -1 diff -q plain got
}

@test "--mmr on every type (cosine): k distinct ids of the fetched candidates, the nearest first" {
  data 300 8 3
  for t in "flat" "hnsw" "ivf --nlist 8" "ivfpq --nlist 4 --pq-m 4" "lsh --lsh-bits 6"; do
    vdb-build -q -m cosine -T $t -o t.vdb base.jsonl
    vdb-build -q --delete -x t.vdb <(seq 0 5 60 | jq -c '{id: .}')
    vdb-query -x t.vdb -k 30 q.jsonl | jq -c .ids >cand
    vdb-query -x t.vdb -k 6 --mmr 0.4 --fetch-k 30 q.jsonl | jq -c .ids >got
    [ "$(wc -l <got)" = 8 ]
    while read -r c && read -r g <&3; do
      jq -n -e --argjson c "$c" --argjson g "$g" '($g | length) == 6 and
        ($g | unique | length) == 6 and ($g - $c | length) == 0 and $g[0] == $c[0]' >/dev/null
    done <cand 3<got
  done
}

@test "--offset N gives ranks N..N+k-1 of the plain ranking: every type, filters, deletions, shards" {
  data 600 8 9
  for t in "flat" "hnsw --M 4" "ivf --nlist 16" "ivfpq --nlist 4 --pq-m 4" "lsh --lsh-bits 8"; do
    vdb-build -q -T $t -o t.vdb base.jsonl
    vdb-build -q -T $t --shard 0/2 -o s0.vdb base.jsonl
    vdb-build -q -T $t --shard 1/2 -o s1.vdb base.jsonl
    cp t.vdb d.vdb
    vdb-build -q --delete -x d.vdb <(seq 0 3 90 | jq -c '{id: .}')
    for ix in "-x t.vdb" "-x d.vdb" "-x s0.vdb -x s1.vdb"; do
      for f in "" "c == 2"; do
        fa=(); [ -z "$f" ] || fa=(--filter "$f")
        vdb-query $ix -k 12 "${fa[@]}" q.jsonl | jq -c '{ids: .ids[7:], distances: .distances[7:]}' >want
        vdb-query $ix -k 5 --offset 7 "${fa[@]}" q.jsonl | jq -c '{ids, distances}' >got
        diff want got
      done
    done
  done
}

@test "--offset past the end gives the remaining results, possibly none; ivecs rows stay k wide" {
  data 30 4 2
  vdb-build -q -o b.vdb base.jsonl
  vdb-query -x b.vdb -k 30 q.jsonl | jq -c '.ids[27:]' >want
  vdb-query -x b.vdb -k 5 --offset 27 q.jsonl | jq -c .ids >got
  diff want got
  [ "$(jq -c 'length' got | sort -u)" = 3 ]
  run -0 vdb-query -x b.vdb -k 5 --offset 30 q.jsonl
  [ "$(jq -c .ids <<<"$output" | sort -u)" = '[]' ]
  [ "$(wc -l <<<"$output")" = 8 ]
  run -0 vdb-query -x b.vdb -k 5 --offset 99995 q.jsonl
  [ "$(jq -c .ids <<<"$output" | sort -u)" = '[]' ]
  vdb-query -x b.vdb -k 5 --offset 27 -O ivecs q.jsonl >o.ivecs
  /usr/bin/python3 -c '
import json, numpy as np
a = np.fromfile("o.ivecs", dtype="<i4").reshape(-1, 6)
want = [json.loads(l) for l in open("want")]
assert (a[:, 0] == 5).all(), a
for row, w in zip(a, want):
    assert list(row[1:]) == w + [-1] * (5 - len(w)), (row, w)
assert len(a) == 8'
}

@test "--mmr, --fetch-k and --offset refuse bad values (64)" {
  data 30 4 2
  vdb-build -q -o b.vdb base.jsonl
  for v in -0.1 1.5 nan NaN inf abc ''; do
    run -64 vdb-query -x b.vdb --mmr "$v" q.jsonl
    [[ "$output" == *"--mmr"* ]]
  done
  run -64 vdb-query -x b.vdb -k 5 --mmr 0.5 --fetch-k 4 q.jsonl
  [[ "$output" == *"--fetch-k 4 is below k 5"* ]]
  run -64 vdb-query -x b.vdb --fetch-k 40 q.jsonl
  [[ "$output" == *"--mmr"* ]]
  for v in -1 abc 1.5 ''; do
    run -64 vdb-query -x b.vdb --offset "$v" q.jsonl
    [[ "$output" == *"--offset"* ]]
  done
  run -64 vdb-query -x b.vdb -k 10 --offset 99991 q.jsonl
  [[ "$output" == *"VDB_MAX_K"* ]]
  vdb-query -x b.vdb -k 5 q.jsonl >r.jsonl
  run -64 vdb-query --merge --offset 2 r.jsonl
  [[ "$output" == *"--merge takes neither --offset nor --mmr"* ]]
  # the options from a configuration file, as on the command line
  printf 'index: b.vdb\nk: 3\noffset: 2\n' >c.yaml
  vdb-query -x b.vdb -k 5 q.jsonl | jq -c '.ids[2:]' >want
  vdb-query -c c.yaml q.jsonl | jq -c .ids >got
  diff want got
  printf 'mmr: 1.5\n' >bad.yaml
  run -64 vdb-query -x b.vdb -c bad.yaml q.jsonl
  # bit codes have no cosine: refused
  printf '{"bits": "%02x"}\n' 1 2 3 4 5 >h.jsonl
  vdb-build -q -m hamming -o h.vdb h.jsonl
  run -64 vdb-query -x h.vdb -k 2 --mmr 0.5 h.jsonl
  [[ "$output" == *"hamming"* ]]
  # --offset pages hamming indexes as any other
  run -0 vdb-query -x h.vdb -k 2 --offset 3 h.jsonl
  # text queries have no vectors; hybrid ones are fused: refused
  printf '%s\n' '{"vector": [1, 0], "text": "red apple"}' '{"vector": [0, 1], "text": "green pear"}' >t.jsonl
  vdb-build -q --lexical -o t.vdb t.jsonl
  echo '{"text": "apple"}' >tq.jsonl
  run -64 vdb-query -x t.vdb --mmr 0.5 tq.jsonl
  [[ "$output" == *"record 0 is a text query: --mmr needs query vectors"* ]]
  run -64 vdb-query -x t.vdb --mmr 0.5 --text apple
  [[ "$output" == *"--text"* ]]
  echo '{"text": "apple", "vector": [1, 0]}' >hq.jsonl
  run -64 vdb-query -x t.vdb --offset 1 hq.jsonl
  [[ "$output" == *"record 0 is a hybrid query"* ]]
}

@test "--offset pages BM25 queries too (--text and JSONL text records), on one index and on shards" {
  jq -c '{id, vector, text: ("w" + (.id | tostring) + " " + ([range(.id % 7 + 1)] | map("apple") | join(" ")) + " " + (if .id % 3 == 0 then "pear" else "plum" end))}' \
    <(data 60 4 4; cat base.jsonl) >t.jsonl
  vdb-build -q --lexical -o t.vdb t.jsonl
  vdb-build -q --lexical --shard 0/2 -o s0.vdb t.jsonl
  vdb-build -q --lexical --shard 1/2 -o s1.vdb t.jsonl
  printf '%s\n' '{"text": "apple pear"}' '{"text": "plum"}' '{"text": "apple"}' >tq.jsonl
  for ix in "-x t.vdb" "-x s0.vdb -x s1.vdb"; do
    vdb-query $ix -k 20 tq.jsonl | jq -c '{ids: .ids[6:], scores: .scores[6:]}' >want
    vdb-query $ix -k 14 --offset 6 tq.jsonl | jq -c '{ids, scores}' >got
    diff want got
    vdb-query $ix -k 20 --text 'apple pear' | jq -c '.ids[15:]' >want
    vdb-query $ix -k 5 --offset 15 --text 'apple pear' | jq -c .ids >got
    diff want got
  done
}
