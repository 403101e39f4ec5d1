#!/usr/bin/python3
"""range_ref.py — an independent reference for range search (tests/range.bats), in numpy.

  range_ref.py gen N DIM CLUSTERS SEED BASE.jsonl QUERIES.jsonl NQ
      clustered float vectors (ids are the record numbers, metadata {"c": i % 3})
      and NQ queries near the data
  range_ref.py codes N BYTES SEED FILE.bvecs
      random binary codes (bvecs)
  range_ref.py truth METRIC BASE QUERIES R [--only-c C] [--drop ID,...] [--cap K]
      every record within distance R of each query (distance <= R), as vdb
      reports distances (l2: Euclidean; ip: -dot; cosine: 1 - cos; hamming:
      differing bits), sorted by (distance, id), as vdb-query JSONL lines;
      --only-c keeps records whose metadata c equals C, --drop leaves ids out,
      --cap keeps each query's first K
  range_ref.py radius METRIC BASE QUERIES MEAN
      a radius (3 significant digits) at which the queries have about MEAN
      results each
  range_ref.py check EXPECTED ACTUAL R
      the same ids in the same order and distances within 1e-4, except that a
      record within 1e-4 of the radius may be on either side of it
  range_ref.py subset EXPECTED ACTUAL R
      every result of ACTUAL is one of EXPECTED's with its distance (within
      1e-4), and ACTUAL's lines are sorted by distance
Computed in float64 from the float32 values, independently of vdb.
"""
import json, struct, sys
import numpy as np

TOL = 1e-4


def read(path):
    """(vectors, ids, metadata) of fvecs, bvecs (uint8 rows) or JSONL."""
    data = open(path, 'rb').read()
    if path.endswith('.jsonl'):
        recs = [json.loads(l) for l in data.decode().splitlines() if l.strip()]
        x = np.array([r['vector'] for r in recs], dtype=np.float32)
        ids = [r.get('id', i) for i, r in enumerate(recs)]
        return x, ids, [r.get('metadata') for r in recs]
    rows, off = [], 0
    binary = path.endswith('.bvecs')
    while off < len(data):
        d = struct.unpack_from('<i', data, off)[0]
        if binary:
            rows.append(np.frombuffer(data, dtype=np.uint8, count=d, offset=off + 4))
            off += 4 + d
        else:
            rows.append(np.frombuffer(data, dtype='<f4', count=d, offset=off + 4))
            off += 4 + 4 * d
    return np.array(rows), list(range(len(rows))), [None] * len(rows)


def distances(metric, x, q):
    if metric == 'hamming':
        bits = np.unpackbits(np.bitwise_xor(q[None, :], x), axis=1)
        return bits.sum(axis=1).astype(np.float64)
    x = x.astype(np.float64)
    q = q.astype(np.float64)
    if metric == 'l2':
        return np.sqrt(((x - q) ** 2).sum(axis=1))
    if metric == 'ip':
        return -(x @ q)
    nx = np.linalg.norm(x, axis=1)
    nx[nx == 0] = 1
    nq = np.linalg.norm(q) or 1
    return 1 - (x @ q) / (nx * nq)


def truth(metric, base, queries, r, only_c=None, drop=(), cap=None):
    x, ids, meta = read(base)
    qs, qids, _ = read(queries)
    keep = [i for i in range(len(ids))
            if str(ids[i]) not in drop and
            (only_c is None or (meta[i] or {}).get('c') == only_c)]
    out = []
    for n, q in enumerate(qs):
        d = distances(metric, x[keep], q)
        hits = sorted((d[j], ids[keep[j]]) for j in range(len(keep)) if d[j] <= r)
        if cap is not None:
            hits = hits[:cap]
        out.append({'query': n, 'ids': [h[1] for h in hits],
                    'distances': [float(h[0]) for h in hits]})
    return out


def main():
    cmd, a = sys.argv[1], sys.argv[2:]
    if cmd == 'gen':
        n, dim, k, seed = int(a[0]), int(a[1]), int(a[2]), int(a[3])
        rng = np.random.default_rng(seed)
        cent = rng.uniform(-1, 1, (k, dim))
        x = (cent[rng.integers(0, k, n)] + rng.normal(0, 0.15, (n, dim))).astype(np.float32)
        with open(a[4], 'w') as f:
            for i, v in enumerate(x):
                f.write(json.dumps({'id': i, 'vector': [float(t) for t in v],
                                    'metadata': {'c': i % 3}}) + '\n')
        nq = int(a[6])
        q = (x[rng.integers(0, n, nq)] + rng.normal(0, 0.05, (nq, dim))).astype(np.float32)
        with open(a[5], 'w') as f:
            for v in q:
                f.write(json.dumps({'vector': [float(t) for t in v]}) + '\n')
    elif cmd == 'codes':
        n, nb, seed = int(a[0]), int(a[1]), int(a[2])
        rng = np.random.default_rng(seed)
        with open(a[3], 'wb') as f:
            for _ in range(n):
                f.write(struct.pack('<i', nb) + rng.integers(0, 256, nb, dtype=np.uint8).tobytes())
    elif cmd == 'truth':
        metric, base, queries, r = a[0], a[1], a[2], float(a[3])
        only_c, drop, cap, rest = None, set(), None, a[4:]
        while rest:
            if rest[0] == '--only-c':
                only_c = int(rest[1])
            elif rest[0] == '--drop':
                drop = set(rest[1].split(','))
            elif rest[0] == '--cap':
                cap = int(rest[1])
            rest = rest[2:]
        for line in truth(metric, base, queries, r, only_c, drop, cap):
            print(json.dumps(line))
    elif cmd == 'radius':
        metric, base, queries, mean = a[0], a[1], a[2], float(a[3])
        x, _, _ = read(base)
        qs, _, _ = read(queries)
        d = np.sort(np.concatenate([distances(metric, x, q) for q in qs]))
        print('%.3g' % d[min(len(d) - 1, int(mean * len(qs)))])
    elif cmd == 'check':
        want = [json.loads(l) for l in open(a[0]) if l.strip()]
        got = [json.loads(l) for l in open(a[1]) if l.strip()]
        r = float(a[2])
        assert len(want) == len(got), 'lines: %d expected, %d got' % (len(want), len(got))
        for w, g in zip(want, got):
            assert w['query'] == g['query'], (w['query'], g['query'])
            near = lambda dd: abs(dd - r) <= TOL
            wk = [(i, d) for i, d in zip(w['ids'], w['distances']) if not near(d)]
            gk = [(i, d) for i, d in zip(g['ids'], g['distances']) if not near(d)]
            assert [i for i, _ in wk] == [i for i, _ in gk], \
                'query %d: ids %s expected, %s got' % (w['query'], w['ids'], g['ids'])
            for (i, dw), (_, dg) in zip(wk, gk):
                assert abs(dw - dg) <= TOL * max(1, abs(dw)), \
                    'query %d id %s: distance %r expected, %r got' % (w['query'], i, dw, dg)
            assert all(d <= r for d in g['distances']), 'query %d: a result beyond %g' % (
                w['query'], r)
        print('ok: %d queries, %d results' % (len(want), sum(len(w['ids']) for w in want)))
    elif cmd == 'subset':
        want = [json.loads(l) for l in open(a[0]) if l.strip()]
        got = [json.loads(l) for l in open(a[1]) if l.strip()]
        r = float(a[2])
        assert len(want) == len(got), 'lines: %d expected, %d got' % (len(want), len(got))
        for w, g in zip(want, got):
            true = dict(zip(w['ids'], w['distances']))
            for i, d in zip(g['ids'], g['distances']):
                assert i in true or abs(d - r) <= TOL, 'query %d: %s is not within %g' % (
                    g['query'], i, r)
                assert i not in true or abs(true[i] - d) <= TOL * max(1, abs(d)), \
                    'query %d id %s: distance %r, truly %r' % (g['query'], i, d, true[i])
            assert g['distances'] == sorted(g['distances']), 'query %d: not sorted' % g['query']
        print('ok: %d queries' % len(want))
    else:
        sys.exit('unknown command ' + cmd)


main()
