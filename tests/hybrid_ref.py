#!/usr/bin/python3
"""hybrid_ref.py — an independent reference for vdb-query's fusion (tests/hybrid.bats).

  hybrid_ref.py fuse METHOD ALPHA RRF_K DEPTH K VECTOR.jsonl LEXICAL.jsonl
      the hybrid lines expected from the vector-only and lexical-only result
      lines of the same queries (line i of each answers query i)
  hybrid_ref.py merge METHOD ALPHA RRF_K DEPTH K V0.jsonl L0.jsonl V1.jsonl L1.jsonl ...
      the same from each shard's lists: the union of the shards' vector lists
      (the DEPTH smallest distances) and of their lexical lists (the DEPTH
      largest scores), fused
  hybrid_ref.py check EXPECTED.jsonl ACTUAL.jsonl
      equal ids and ranks, scores equal as float32 (within 1e-6 relative)

Fusion as documented in vdb-query(1): RRF 1/(C + rank) per list (vector term
first), weighted alpha * (max - d)/(max - min) + (1 - alpha) * (s - min)/(max - min),
a list of equal values scaling to 1; in double, from the values as float32; hits
ordered by score, larger first, then integer ids by value before string ids by
their JSON text.
"""
import json, struct, sys


def f32(x):
    return struct.unpack('f', struct.pack('f', x))[0]


def idkey(i):
    if isinstance(i, int):
        return (0, i, b'')
    return (1, 0, json.dumps(i, ensure_ascii=False, separators=(',', ':')).encode())


def lines(path):
    return [json.loads(l) for l in open(path) if l.strip()]


def scale(vals, smaller_better):
    lo, hi = min(vals), max(vals)
    if not hi > lo:
        return lambda v: 1.0
    if smaller_better:
        return lambda v: (hi - v) / (hi - lo)
    return lambda v: (v - lo) / (hi - lo)


def fuse(method, alpha, c, k, vec, lex):
    """vec: [(id, distance)] best first; lex: [(id, score)] best first."""
    hits = {}
    for r, (i, d) in enumerate(vec, 1):
        hits.setdefault(json.dumps(i), {'id': i})['v'] = (r, f32(d))
    for r, (i, s) in enumerate(lex, 1):
        hits.setdefault(json.dumps(i), {'id': i})['l'] = (r, f32(s))
    vs = scale([f32(d) for _, d in vec], True) if vec else None
    ls = scale([f32(s) for _, s in lex], False) if lex else None
    out = []
    for h in hits.values():
        sv = sl = 0.0
        if method == 'rrf':
            if 'v' in h:
                sv = 1 / (c + h['v'][0])
            if 'l' in h:
                sl = 1 / (c + h['l'][0])
        else:
            if 'v' in h:
                sv = alpha * vs(h['v'][1])
            if 'l' in h:
                sl = (1 - alpha) * ls(h['l'][1])
        h['score'] = sv + sl
        out.append(h)
    out.sort(key=lambda h: (-h['score'], idkey(h['id'])))
    out = out[:k]
    return {
        'ids': [h['id'] for h in out],
        'scores': [h['score'] for h in out],
        'lexical_scores': [h['l'][1] if 'l' in h else None for h in out],
        'lexical_ranks': [h['l'][0] if 'l' in h else None for h in out],
        'vector_distances': [h['v'][1] if 'v' in h else None for h in out],
        'vector_ranks': [h['v'][0] if 'v' in h else None for h in out],
    }


def pairs(line, values):
    return list(zip(line['ids'], line[values]))


def main():
    cmd = sys.argv[1]
    if cmd == 'check':
        exp, act = lines(sys.argv[2]), lines(sys.argv[3])
        assert len(exp) == len(act), f'{len(exp)} expected lines, {len(act)} actual'
        for q, (e, a) in enumerate(zip(exp, act)):
            for key in ('ids', 'lexical_ranks', 'vector_ranks'):
                assert e[key] == a[key], f'query {q}: {key}: expected {e[key]}, got {a[key]}'
            for key in ('scores', 'lexical_scores', 'vector_distances'):
                for x, y in zip(e[key], a[key]):
                    assert (x is None) == (y is None), f'query {q}: {key}: {e[key]} vs {a[key]}'
                    if x is not None:
                        assert abs(f32(x) - y) <= 1e-6 * max(1.0, abs(x)), \
                            f'query {q}: {key}: expected {e[key]}, got {a[key]}'
        return
    method, alpha, c, depth, k = sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), \
        int(sys.argv[5]), int(sys.argv[6])
    files = [lines(p) for p in sys.argv[7:]]
    for q in range(len(files[0])):
        vec, lex = [], []
        for s in range(0, len(files), 2):
            vec += pairs(files[s][q], 'distances')
            lex += pairs(files[s + 1][q], 'scores')
        if cmd == 'merge':
            vec = sorted(vec, key=lambda p: (f32(p[1]), idkey(p[0])))[:depth]
            lex = sorted(lex, key=lambda p: (-f32(p[1]), idkey(p[0])))[:depth]
        print(json.dumps(fuse(method, alpha, c, k, vec[:depth], lex[:depth])))


main()
