"""Hybrid search quality: BM25 alone, vectors alone, and their fusions on a labelled WordNet task.

Task: WordNet 3.0's synsets (Debian's wordnet-base: /usr/share/wordnet/data.{noun,verb,adj,adv}).
Documents: every synset's gloss (its definition and examples, without the synset's own words),
id POS letter + offset (n00001740), lowercased with punctuation but ' and - made spaces, as the
gloss corpus of ../shared/data is. Queries: the words of --queries (1,000) synsets drawn at random
(seeded) from those whose gloss has two words or more, underscores as spaces ("physical entity");
the one relevant document of a query is its own synset's gloss (qrels: `QID 0 DOCID 1`). Query
ids are their numbers (0..), so results map to judgments by "query_id" or by "query" alike.

Vectors: word vectors of a fastText skipgram model trained here (Debian's fasttext; dim 100,
10 epochs, no subword n-grams, every word kept) on the synsets' words and glosses as the gloss
corpus of ../shared/data has them, except that the queries' synsets give their gloss alone: the
embedder learns which words define which from the other 116k synsets, as a dictionary-trained
model would, but never sees a test pair. (The wn100 vectors of ../shared/data were trained on the
whole gloss corpus, answers included, and know 26.6k words: 27% of the queries have none of them;
a model trained on the glosses alone, with subword n-grams, reached nDCG@10 0.02 where this one
reaches 0.09; 50 dimensions, 5 epochs and a window of 15 words did worse than 100, 10 and 5.)
A text's vector is the mean of its words' unit vectors (`vdb-text embed --model X.vec`, for
documents and queries alike), the model's file written without 104 English function words
(STOP), so that the mean is of the content words (with them, nDCG@10 0.09 instead of 0.16: the
mean of every gloss leans towards "the", "a" and "of"); a query none of whose words the model knows (a name only its own
synset uses; a word without a vector or with an all-zero one is not known) has no vector: a miss
for vectors alone, and its hybrid query is its text alone. The index is flat (exact) cosine with
`--lexical --language english` (Snowball stemming), and `--language none` as a variant.

Rows: BM25 alone, vectors alone, RRF (--rrf-k 60) and weighted fusion (--alpha: weight of the
vector side) at --alphas, all top 10 from `vdb-query`. nDCG@10 and MRR@10 are computed here
(every query counts; one without its gloss in the top 10 scores 0) and by `vdb-eval qrels -k 10`
(its column is "-" where that command is missing). Reference rows from independent systems:
SQLite FTS5's bm25() (unicode61, and porter for stemming: Porter's stemmer, not Snowball's
english) and RRF and weighted fusion computed here from FTS5's and vdb's vector top 100
(weighted as Weaviate's relativeScoreFusion: each list's scores min-max normalised over the
list, the vector score 1 - cosine distance, a document absent from a list scoring 0 there; ties
to the smaller id, as vdb's). With --language none, vdb's rows and the FTS5 (none) rows must agree.

    bench_hybrid.py --data DIR [--queries N] [--seed S] [--alphas 0.1,0.2,0.3,0.5,0.7] [--dim D]
                    [--epoch E] [--model FILE.vec|FILE.bin] [--keep DIR] [--quick]
"""
import argparse, json, math, os, random, re, shutil, sqlite3, sys, tempfile
from bench_common import Run, machine

WORDNET = "/usr/share/wordnet"
POS = (("noun", "n"), ("verb", "v"), ("adj", "a"), ("adv", "r"))
DEPTH = 100
# English function words, left out of a text's mean vector (not of its BM25 terms)
STOP = set("""a an the of or and in on at to from by for with without into onto over under about as
than then that which who whom whose what when where why how this these those it its he him his she
her they them their you your i we our me my is are was were be been being am has have had having do
does did not no nor but if so all any some each every other such can could may might must shall
should will would also only very more most much many just there here out up down off""".split())


def vdb(name):
    return os.path.join(os.environ["VDB_BIN"], name)


def clean(s):
    """Lowercase; every character but a-z, 0-9, ' and - a space; ' and - trimmed off words."""
    words = re.sub(r"[^a-z0-9'\-]+", " ", s.lower().replace("_", " ")).split()
    return " ".join(w for w in (w.strip("'-") for w in words) if w)


def synsets():
    """(id, words, gloss) of every synset, in the files' order."""
    out = []
    for name, letter in POS:
        with open(os.path.join(WORDNET, f"data.{name}"), encoding="utf-8") as f:
            for line in f:
                if line.startswith("  "):  # the licence
                    continue
                head, gloss = line.rstrip("\n").split(" | ", 1)
                fields = head.split()
                words = [re.sub(r"\((a|p|ip)\)$", "", fields[4 + 2 * i]) for i in range(int(fields[3], 16))]
                out.append((letter + fields[0], words, gloss))
    return out


def write_jsonl(path, recs):
    with open(path, "w") as f:
        for r in recs:
            f.write(json.dumps(r) + "\n")


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def read_results(path, nq, qids=None):
    """Each query's ranked (ids, scores): by "query_id" when echoed, else by "query" (the
    place in qids when the file held only those queries)."""
    res = [([], [])] * nq
    for r in read_jsonl(path):
        q = r.get("query_id", r["query"] if qids is None else qids[r["query"]])
        ids = [i for i in r["ids"] if i is not None]
        res[int(q)] = (ids, (r.get("scores") or r.get("distances") or [])[:len(ids)])
    return res


def per_query_ndcg(res, rel, k=10):
    return [1 / math.log2(ids.index(want) + 2) if want in ids[:k] else 0.0 for (ids, _), want in zip(res, rel)]


def gain_ci(res, base, rel, draws=2000, seed=1):
    """Mean nDCG@10 gain of res over base and its 95% paired bootstrap interval."""
    import numpy as np
    d = np.array(per_query_ndcg(res, rel)) - np.array(per_query_ndcg(base, rel))
    idx = np.random.default_rng(seed).integers(0, len(d), (draws, len(d)))
    lo, hi = np.percentile(d[idx].mean(axis=1), [2.5, 97.5])
    return d.mean(), lo, hi


def metrics(res, rel, k=10):
    """Mean nDCG@k, MRR@k and recall@k over all queries, one relevant document each (gain 1)."""
    ndcg = mrr = found = 0.0
    for (ids, _), want in zip(res, rel):
        if want in ids[:k]:
            r = ids.index(want) + 1
            ndcg += 1 / math.log2(r + 1)
            mrr += 1 / r
            found += 1
    return ndcg / len(rel), mrr / len(rel), found / len(rel)


def vdb_eval(qrels, results, k=10):
    """vdb-eval qrels's ndcg@k and mrr@k, or None when it cannot."""
    r = Run([vdb("vdb-eval"), "qrels", "-k", str(k), qrels, results])
    if r.rc != 0:
        return None
    got = dict(re.findall(r"^(\w+@\d+): ([0-9.eE+-]+)$", r.out, re.M))
    try:
        return float(got[f"ndcg@{k}"]), float(got[f"mrr@{k}"])
    except KeyError:
        return None


def fts5_results(docs, queries, tokenize, k=DEPTH):
    db = sqlite3.connect(":memory:")
    db.execute(f"CREATE VIRTUAL TABLE d USING fts5(text, tokenize='{tokenize}')")
    with db:
        db.executemany("INSERT INTO d(rowid, text) VALUES (?, ?)", ((i, r["text"]) for i, r in enumerate(docs)))
    sql = "SELECT rowid, bm25(d) FROM d WHERE d MATCH ? ORDER BY bm25(d), rowid LIMIT ?"  # ties as vdb
    out = []
    for q in queries:
        terms = re.findall(r"[^\W_]+", q["text"])
        hits = db.execute(sql, (" OR ".join(f'"{t}"' for t in terms), k)).fetchall() if terms else []
        out.append(([docs[i]["id"] for i, _ in hits], [-s for _, s in hits]))
    db.close()
    return out


def rrf(lex, vec, c, k=10):
    """RRF of two lists per query, ties to the smaller id (as vdb breaks them)."""
    out = []
    for (li, _), (vi, _) in zip(lex, vec):
        s = {}
        for ids in (li, vi):
            for r, i in enumerate(ids, 1):
                s[i] = s.get(i, 0.0) + 1 / (c + r)
        top = sorted(s, key=lambda i: (-s[i], i))[:k]
        out.append((top, [s[i] for i in top]))
    return out


def weighted(lex, vec, alpha, k=10):
    def norm(ids, scores):
        if not ids:
            return {}
        lo, hi = min(scores), max(scores)
        return {i: (s - lo) / (hi - lo) if hi > lo else 1.0 for i, s in zip(ids, scores)}
    out = []
    for (li, ls), (vi, vd) in zip(lex, vec):
        nl, nv = norm(li, ls), norm(vi, [1 - d for d in vd])
        s = {i: alpha * nv.get(i, 0.0) + (1 - alpha) * nl.get(i, 0.0) for i in set(nl) | set(nv)}
        top = sorted(s, key=lambda i: (-s[i], i))[:k]
        out.append((top, [s[i] for i in top]))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)  # unused: the task reads Debian's wordnet-base
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=19)
    ap.add_argument("--alphas", default="0.1,0.2,0.3,0.5,0.7")
    ap.add_argument("--dim", type=int, default=100)
    ap.add_argument("--epoch", type=int, default=10)
    ap.add_argument("--model", help="a .vec or .bin embedder (vdb-text embed --model) instead of training one")
    ap.add_argument("--keep", help="keep the work files in this directory")
    ap.add_argument("--runs", type=int, default=1)  # accepted for scripts/bench; quality needs one
    ap.add_argument("--quick", action="store_true", help="200 queries, a 2-epoch model (a smoke test: its vectors find almost nothing)")
    a = ap.parse_args()
    if not os.path.exists(os.path.join(WORDNET, "data.noun")):
        sys.exit(f"bench: {WORDNET}/data.noun is missing (Debian package wordnet-base)")
    if a.quick:
        a.queries, a.epoch = min(a.queries, 200), min(a.epoch, 2)
    alphas = [float(x) for x in a.alphas.split(",") if x]
    cpu, simd = machine()
    threads = os.cpu_count()
    tmp = a.keep or tempfile.mkdtemp()
    os.makedirs(tmp, exist_ok=True)
    try:
        p = lambda n: os.path.join(tmp, n)
        ss = [(sid, words, clean(g)) for sid, words, g in synsets()]
        ss = [s for s in ss if s[2]]
        docs = [{"id": sid, "text": g} for sid, _, g in ss]
        # queries from synsets whose gloss has two words or more: a one-word gloss held out of
        # the embedder's training has no context there, so no vector
        pick = random.Random(a.seed).sample([i for i, s in enumerate(ss) if " " in s[2]], a.queries)
        queries = [{"id": n, "text": clean(" ".join(ss[i][1]))} for n, i in enumerate(pick)]
        rel = [ss[i][0] for i in pick]
        with open(p("qrels"), "w") as f:
            for n, d in enumerate(rel):
                f.write(f"{n} 0 {d} 1\n")
        write_jsonl(p("docs.jsonl"), docs)
        write_jsonl(p("queries.jsonl"), queries)

        model = a.model
        if not model:  # the embedder's training text: see the docstring
            pickset = set(pick)
            with open(p("train.txt"), "w") as f:
                for i, (_, words, g) in enumerate(ss):
                    f.write((g if i in pickset else clean(" ".join(words)) + " " + g) + "\n")
            Run(["fasttext", "skipgram", "-input", p("train.txt"), "-output", p("words"), "-dim", str(a.dim),
                 "-epoch", str(a.epoch), "-minCount", "1", "-minn", "0", "-maxn", "0", "-thread", str(threads),
                 "-verbose", "0"]).check()
            model = p("words.vec")
        # word vectors: the function words dropped from the model, so that a text's mean is of its
        # content words; a text none of whose words the model knows has no vector (vdb-text
        # embed refuses it); a .bin model's subwords give every word one
        known = [True] * len(queries)
        if not model.endswith(".bin"):
            vocab, kept = set(), []
            with open(model, encoding="utf-8", errors="replace") as f:
                for i, line in enumerate(f):
                    w, _, v = line.rstrip("\n").partition(" ")
                    if i == 0 and len(v.split()) == 1 or w in STOP:
                        continue
                    kept.append(line)
                    if any(float(x) != 0 for x in v.split()):
                        vocab.add(w)
            model = p("content_words.vec")
            with open(model, "w", encoding="utf-8") as f:
                f.writelines(kept)
            known = [any(w in vocab for w in q["text"].split()) for q in queries]
            if not all(any(w in vocab for w in d["text"].split()) for d in docs):
                sys.exit("bench: a gloss has no word with a vector: train with more text (see --model)")
        Run([vdb("vdb-text"), "embed", "--model", model, p("docs.jsonl")], stdout_path=p("docs_vec.jsonl")).check()
        write_jsonl(p("queries_known.jsonl"), (q for q, k in zip(queries, known) if k))
        Run([vdb("vdb-text"), "embed", "--model", model, p("queries_known.jsonl")],
            stdout_path=p("queries_known_vec.jsonl")).check()
        qv = {q["id"]: q for q in read_jsonl(p("queries_known_vec.jsonl"))}
        # hybrid queries: text and vector, or the text alone when there is no vector
        write_jsonl(p("queries_vec.jsonl"), (qv.get(q["id"], q) for q in queries))
        write_jsonl(p("q_vec.jsonl"), ({k: v for k, v in q.items() if k != "text"} for q in qv.values()))
        vec_ids = list(qv)

        print(f"# hybrid quality: WordNet 3.0, {len(docs)} glosses as documents, {len(queries)} synsets' "
              f"words as queries (seed {a.seed}), one relevant document each (its gloss)")
        print(f"# vectors: fastText skipgram word vectors (.vec) dim {a.dim}, {a.epoch} epochs, no subwords, "
              "trained on the synsets' words and glosses but the queries' own words" if not a.model
              else f"# vectors: {a.model}")
        print(f"# {len(queries) - len(vec_ids)} queries have no word the model knows: no vector (a miss for "
              "vectors alone; their hybrid query is the text alone)")
        print(f"# CPU: {cpu} ({simd}); {threads} threads; flat cosine index, top 10, fusion depth {DEPTH}")

        rows = []  # (name, results file or None, python results)

        def query(name, index, qfile, *opts, qids=None):
            out = p(re.sub(r"\W+", "_", name) + ".jsonl")
            r = Run([vdb("vdb-query"), "-x", index, "-k", "10", *opts, qfile], stdout_path=out)
            if r.rc != 0:
                print(f"({name}: vdb-query exited with {r.rc}: {r.err.strip().splitlines()[-1] if r.err.strip() else ''})")
                rows.append((name, None, None))
                return None
            res = read_results(out, len(queries), qids)
            rows.append((name, out, res))
            return res

        lexical = {}
        for lang in ("english", "none"):
            ix = p(f"{lang}.vdb")
            r = Run([vdb("vdb-build"), "-q", "-T", "flat", "-m", "cosine", "--lexical", "--language", lang,
                     "-o", ix, p("docs_vec.jsonl")])
            lexical[lang] = ix if r.rc == 0 else None
            if r.rc != 0:
                print(f"(vdb-build --lexical --language {lang}: exited with {r.rc}: "
                      f"{r.err.strip().splitlines()[-1] if r.err.strip() else ''})")
        plain = lexical["english"] or lexical["none"]
        if not plain:
            plain = p("vectors.vdb")
            Run([vdb("vdb-build"), "-q", "-T", "flat", "-m", "cosine", "-o", plain, p("docs_vec.jsonl")]).check()
        query("vectors alone", plain, p("q_vec.jsonl"), qids=vec_ids)
        Run([vdb("vdb-query"), "-x", plain, "-k", str(DEPTH), p("q_vec.jsonl")], stdout_path=p("vec100.jsonl")).check()
        vec100 = read_results(p("vec100.jsonl"), len(queries), vec_ids)
        for lang in ("english", "none"):
            if lexical[lang]:
                query(f"BM25 alone ({lang})", lexical[lang], p("queries.jsonl"))
        for lang in ("english", "none"):
            ix = lexical[lang]
            if not ix:
                continue
            query(f"RRF k 60 ({lang})", ix, p("queries_vec.jsonl"), "--fusion", "rrf", "--rrf-k", "60")
            for al in (alphas if lang == "english" else [0.5]):
                query(f"weighted alpha {al} ({lang})", ix, p("queries_vec.jsonl"), "--fusion", "weighted",
                      "--alpha", str(al))

        ref = []
        for name, tok in (("none", "unicode61 remove_diacritics 0"), ("porter", "porter unicode61 remove_diacritics 0")):
            fts = fts5_results(docs, queries, tok)
            ref.append((f"ref: FTS5 bm25 ({name})", fts))
            ref.append((f"ref: RRF 60 of FTS5 ({name}) + vectors", rrf(fts, vec100, 60)))
            for al in (alphas if name == "porter" else [0.5]):
                ref.append((f"ref: weighted {al} of FTS5 ({name}) + vectors", weighted(fts, vec100, al)))

        print(f"\n{'mode':44} {'nDCG@10':>8} {'MRR@10':>8} {'R@10':>6} {'vdb-eval nDCG':>14} {'vdb-eval MRR':>13}"
              f"  {'nDCG@10 - BM25 (english) [95% CI]':>34}")
        bm25 = next((res for name, _, res in rows if name == "BM25 alone (english)"), None)
        for name, out, res in rows:
            if res is None:
                print(f"{name:44} {'-':>8} {'-':>8} {'-':>6} {'-':>14} {'-':>13}")
                continue
            nd, mr, rc = metrics(res, rel)
            ev = vdb_eval(p("qrels"), out)
            gain = ""
            if bm25 is not None and res is not bm25:
                g, lo, hi = gain_ci(res, bm25, rel)
                gain = f"  {g:+.4f} [{lo:+.4f}, {hi:+.4f}]"
            print(f"{name:44} {nd:8.4f} {mr:8.4f} {rc:6.3f} " + (f"{ev[0]:14.4f} {ev[1]:13.4f}" if ev else f"{'-':>14} {'-':>13}")
                  + gain)
        for name, res in ref:
            nd, mr, rc = metrics(res, rel)
            print(f"{name:44} {nd:8.4f} {mr:8.4f} {rc:6.3f}")
        print("(alpha: weight of the vector side; 'ref:' rows come from SQLite FTS5 and fusion computed "
              "in Python, for comparison; the gain over BM25 is per query, its interval a paired bootstrap)")
    finally:
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
