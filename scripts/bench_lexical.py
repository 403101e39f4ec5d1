"""Lexical search: `vdb-query` BM25 (a JSONL query file of texts) against SQLite FTS5's bm25()
on the same corpus, the same OR queries, one thread, in the same run.

Corpus: the WordNet gloss corpus (one document a line, 117,659 lines), each document a JSONL
record with an integer id (its line number: FTS5's rowid), its text and a 2-d vector (vdb-build
needs one; the lexical index does not use it). Queries: --queries (1,000) of 2-5 distinct words
(2-5 uniformly) of a line drawn at random (seeded), as words are tokens to both tokenisers
(runs of letters and digits), so that FTS5's `"a" OR "b"` and vdb's disjunctive `a b` are the
same query.

vdb: `vdb-build --lexical --language none -T flat` (no stemming, no stop words: FTS5's
unicode61 tokenizer, remove_diacritics 0, does neither) and `vdb-query -t 1 -k 10 -v`, timed by
its own search seconds (reading the queries and writing the results excluded); its wall time,
process start to exit, is shown too. FTS5: `SELECT rowid, bm25(docs) FROM docs WHERE docs MATCH
? ORDER BY bm25(docs) LIMIT 10` in this Python process, one query after another, timed around
the loop. Build: FTS5 inserts in one transaction then 'optimize' (its b-trees merged into one,
as a read-mostly index would be); vdb-build on one thread and on all. Sizes: the whole files,
and the index alone: FTS5's tables without the stored text (docs_content), from dbstat, against
the bytes of the sections a vdb index built with --lexical has beyond the same index without it.

Agreement: the share of queries whose top-10 ids are equal up to tied scores (the scores equal
rank by rank within 1e-5 relative, and every id scoring above the 10th score in one list is in
the other); identical id lists are counted too.

    bench_lexical.py --data DIR [--runs N] [--queries N] [--seed S] [--quick]
"""
import argparse, gzip, json, os, random, re, sqlite3, sys, tempfile, time
from bench_common import Run, machine, search_seconds

WORD = re.compile(r"[^\W_]+")  # a token as both tokenisers see ASCII text: letters and digits


def vdb(name):
    return os.path.join(os.environ["VDB_BIN"], name)


def make_queries(lines, n, seed):
    """n OR queries: 2-5 distinct words of a random line (a line with fewer words gives all)."""
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        words = list(dict.fromkeys(WORD.findall(lines[rng.randrange(len(lines))].lower())))
        if len(words) < 2:
            continue
        out.append(rng.sample(words, min(len(words), rng.randint(2, 5))))
    return out


def fts5_build(path, lines):
    """The FTS5 database at path; its build seconds."""
    if os.path.exists(path):
        os.remove(path)
    t0 = time.perf_counter()
    db = sqlite3.connect(path)
    db.execute("CREATE VIRTUAL TABLE docs USING fts5(text, tokenize='unicode61 remove_diacritics 0')")
    with db:
        db.executemany("INSERT INTO docs(rowid, text) VALUES (?, ?)", enumerate(lines))
    with db:
        db.execute("INSERT INTO docs(docs) VALUES ('optimize')")
    db.close()
    return time.perf_counter() - t0


def fts5_index_bytes(path):
    """Bytes of the FTS5 tables but the stored text (docs_content)."""
    db = sqlite3.connect(path)
    db.execute("CREATE VIRTUAL TABLE temp.stat USING dbstat")
    rows = db.execute("SELECT name, SUM(pgsize) FROM temp.stat GROUP BY name").fetchall()
    db.close()
    return sum(b for name, b in rows if name.startswith("docs_") and name != "docs_content")


def fts5_search(path, queries, k=10):
    """Seconds for all queries, and each query's (rowids, scores) with scores made positive."""
    db = sqlite3.connect(path)
    sql = "SELECT rowid, bm25(docs) FROM docs WHERE docs MATCH ? ORDER BY bm25(docs) LIMIT ?"
    texts = [" OR ".join(f'"{w}"' for w in q) for q in queries]
    db.execute(sql, (texts[0], k)).fetchall()  # the file in the page cache, as vdb's is
    t0 = time.perf_counter()
    res = [db.execute(sql, (t, k)).fetchall() for t in texts]
    secs = time.perf_counter() - t0
    db.close()
    return secs, [([r for r, _ in hits], [-s for _, s in hits]) for hits in res]


def read_vdb_results(path, nq):
    res = [None] * nq
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            ids = [i for i in r["ids"] if i is not None and i != -1]
            res[r["query"]] = (ids, r.get("scores", [])[:len(ids)])
    return res


def agree(a, b, tol=1e-5):
    """Whether two top-k lists (ids, scores) are equal up to tied scores."""
    (ia, sa), (ib, sb) = a, b
    if len(ia) != len(ib):
        return False
    if any(abs(x - y) > tol * max(1.0, abs(x)) for x, y in zip(sa, sb)):
        return False
    if not ia:
        return True
    edge = min(sa[-1], sb[-1]) + tol * max(1.0, abs(sa[-1]))
    above_a = {i for i, s in zip(ia, sa) if s > edge}
    above_b = {i for i, s in zip(ib, sb) if s > edge}
    return above_a <= set(ib) and above_b <= set(ia)


def vdb_search(ix, qf, res):
    """(search seconds, wall seconds) of one vdb-query over the JSONL query file."""
    r = Run([vdb("vdb-query"), "-x", ix, "-k", "10", "-t", "1", "-v", qf], stdout_path=res).check()
    s = search_seconds(r.err)
    if s is None:
        sys.exit(f"bench: no search seconds in vdb-query -v's output:\n{r.err}")
    return s, r.wall


def sections(path):
    info = json.loads(Run([vdb("vdb-query"), "--info", "-x", path]).check().out)
    return {s["kind"]: s["length"] for s in info["sections"]}, info


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=19)
    ap.add_argument("--quick", action="store_true", help="the first 20,000 lines only")
    a = ap.parse_args()
    sys.stdout.reconfigure(line_buffering=True)
    gz = os.path.join(a.data, "wordnet-fasttext", "wordnet_gloss_corpus.txt.gz")
    if not os.path.exists(gz):
        sys.exit(f"bench: {gz} is missing (see ../shared/data/README.md)")
    with gzip.open(gz, "rt", encoding="utf-8") as f:
        lines = f.read().splitlines()
    if a.quick:
        lines = lines[:20000]
    cpu, simd = machine()
    threads = os.cpu_count()
    queries = make_queries(lines, a.queries, a.seed)
    with tempfile.TemporaryDirectory() as tmp:
        recs, qf = os.path.join(tmp, "docs.jsonl"), os.path.join(tmp, "queries.jsonl")
        with open(recs, "w") as f:
            for i, t in enumerate(lines):
                f.write(json.dumps({"id": i, "text": t, "vector": [1.0, 0.0]}) + "\n")
        with open(qf, "w") as f:
            for i, q in enumerate(queries):
                f.write(json.dumps({"id": i, "text": " ".join(q)}) + "\n")
        db, ix, plain = (os.path.join(tmp, n) for n in ("fts5.db", "lex.vdb", "plain.vdb"))
        base = [vdb("vdb-build"), "-T", "flat", "-m", "l2"]
        lex = base + ["--lexical", "--language", "none"]

        print(f"# lexical search: {len(lines)} documents of the WordNet gloss corpus, "
              f"{len(queries)} OR queries of 2-5 words (seed {a.seed}), top 10, BM25 k1 1.2 b 0.75")
        print(f"# CPU: {cpu} ({simd}); {threads} threads; best of {a.runs}, systems alternating; "
              f"SQLite {sqlite3.sqlite_version}")

        # build: best of runs, alternating
        bt = {"fts5": [], "vdb1": [], "vdbN": []}
        vb = {"vdb1": [], "vdbN": []}
        for _ in range(a.runs):
            bt["fts5"].append(fts5_build(db, lines))
            for key, t in (("vdb1", 1), ("vdbN", threads)):
                if os.path.exists(ix):
                    os.remove(ix)
                r = Run(lex + ["-t", str(t), "-o", ix, recs]).check()
                bt[key].append(r.wall)
                m = re.search(r"\bbuild ([0-9.]+) s", r.err)
                vb[key].append(float(m.group(1)) if m else float("nan"))
        Run(base + ["-t", "1", "-o", plain, recs]).check()
        lex_secs, info = sections(ix)
        plain_secs, _ = sections(plain)
        lex_bytes = sum(v for k, v in lex_secs.items() if k not in plain_secs)
        lex_kinds = ", ".join(f"{k} {v:,}" for k, v in lex_secs.items() if k not in plain_secs)
        fts_index = fts5_index_bytes(db)

        # search: best of runs, alternating
        fts_t, vdb_t, vdb_wall = [], [], []
        res = os.path.join(tmp, "results.jsonl")
        for _ in range(a.runs):
            secs, fts_res = fts5_search(db, queries)
            fts_t.append(secs)
            s, wall = vdb_search(ix, qf, res)
            vdb_t.append(s)
            vdb_wall.append(wall)
        vdb_res = read_vdb_results(res, len(queries))
        n = len(queries)
        fq, vq = n / min(fts_t), n / min(vdb_t)
        print("\n## search, one thread: queries/s")
        print(f"{'system':44} {'queries/s':>10} {'vs FTS5':>8}")
        print(f"{'SQLite FTS5 bm25() (in-process loop)':44} {fq:10.0f} {1.0:8.2f}")
        print(f"{'vdb-query -t 1 (its search seconds)':44} {vq:10.0f} {vq / fq:8.2f}")
        vw = n / min(vdb_wall)
        print(f"{'vdb-query -t 1 (wall: start to exit)':44} {vw:10.0f} {vw / fq:8.2f}")
        print(f"aim: vdb >= 50x FTS5: {'met' if vq / fq >= 50 else 'NOT met'} ({vq / fq:.1f}x)")

        ok = sum(agree(f, v) for f, v in zip(fts_res, vdb_res))
        same = sum(f[0] == v[0] for f, v in zip(fts_res, vdb_res))
        print("\n## top-10 agreement with FTS5")
        print(f"equal up to tied scores: {ok}/{n} ({ok / n:.1%}); identical id lists: {same}/{n} ({same / n:.1%})")
        bad = [i for i, (f, v) in enumerate(zip(fts_res, vdb_res)) if not agree(f, v)]
        for i in bad[:3]:
            print(f"  query {i} {queries[i]}:\n    fts5 {fts_res[i]}\n    vdb  {vdb_res[i]}")

        print("\n## build (best of runs) and size")
        print(f"{'system':44} {'seconds':>8} {'file MB':>9} {'index MB':>9}")
        print(f"{'SQLite FTS5 (insert + optimize)':44} {min(bt['fts5']):8.2f} "
              f"{os.path.getsize(db) / 1e6:9.2f} {fts_index / 1e6:9.2f}")
        for key, t in (("vdb1", 1), ("vdbN", threads)):
            print(f"{f'vdb-build --lexical -t {t} (wall; build {min(vb[key]):.2f} s)':44} "
                  f"{min(bt[key]):8.2f} {os.path.getsize(ix) / 1e6:9.2f} {lex_bytes / 1e6:9.2f}")
        print(f"vdb lexical sections: {lex_kinds or 'none found'}; the same index without --lexical: "
              f"{os.path.getsize(plain) / 1e6:.2f} MB")
        extra = {k: v for k, v in info.items() if re.search(r"lex|vocab|posting|avg", k, re.I)}
        if extra:
            print(f"vdb --info: {json.dumps(extra)}")
        print("(FTS5's file holds the text too (docs_content); vdb's holds the text, ids and the "
              "2-d vectors; 'index MB' is the lexical index alone in each)")


if __name__ == "__main__":
    main()
