"""Text in: vdb-text against the fastText CLI on the same model and texts, and chunking speed.

Embedding: texts/s of `vdb-text embed --model M.bin` (one thread and all) against
`fasttext print-sentence-vectors M.bin` (one thread: the CLI has no other mode) over the lines of
the WordNet gloss corpus, the model trained here with Debian's `fasttext skipgram`; both read the
same texts from a file and write to /dev/null, model loading included. Also `--exec` running the
fastText CLI as the external embedder, to show what the batching costs.

Chunking: MB/s of `vdb-text chunk` over the corpus as JSONL documents (one a line) and as one
plain text file, beside the disk's own sequential read speed (dd with O_DIRECT).

    bench_text.py --data DIR [--runs N] [--quick]
"""
import argparse, json, os, subprocess, sys, tempfile
from bench_common import Run, machine


def vdb(name):
    return os.path.join(os.environ["VDB_BIN"], name)


def best(runs, cmds):
    """Each command's best wall time over runs, the commands alternating."""
    times = {k: [] for k in cmds}
    for _ in range(runs):
        for k, cmd in cmds.items():
            times[k].append(Run(cmd).check().wall)
    return {k: min(v) for k, v in times.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="the first 20,000 lines only")
    a = ap.parse_args()
    gz = os.path.join(a.data, "wordnet-fasttext", "wordnet_gloss_corpus.txt.gz")
    if not os.path.exists(gz):
        sys.exit(f"bench: {gz} is missing (see ../shared/data/README.md)")
    threads = os.cpu_count()
    cpu, simd = machine()
    with tempfile.TemporaryDirectory() as tmp:
        corpus = os.path.join(tmp, "corpus.txt")
        lines = subprocess.run(["zcat", gz], check=True, capture_output=True).stdout.decode().splitlines()
        if a.quick:
            lines = lines[:20000]
        with open(corpus, "w") as f:
            f.write("\n".join(lines) + "\n")
        texts = os.path.join(tmp, "texts.jsonl")
        with open(texts, "w") as f:
            for i, t in enumerate(lines):
                f.write(json.dumps({"id": i, "text": t}) + "\n")
        model = os.path.join(tmp, "m")
        Run(["fasttext", "skipgram", "-input", corpus, "-output", model, "-dim", "100", "-epoch", "1",
             "-minCount", "2", "-bucket", "200000", "-thread", str(threads), "-verbose", "0"]).check()
        model += ".bin"
        n, mb = len(lines), os.path.getsize(corpus) / 1e6
        print(f"# vdb-text, {n} texts ({mb:.1f} MB) of the WordNet gloss corpus, fastText skipgram dim 100")
        print(f"# CPU: {cpu} ({simd}); {threads} threads; best of {a.runs}, systems alternating")

        cli = f"fasttext print-sentence-vectors {model} < {corpus} > /dev/null"
        t = best(a.runs, {
            "fasttext CLI": ["sh", "-c", cli],
            "vdb 1 thread": [vdb("vdb-text"), "embed", "-t", "1", "--model", model, texts],
            f"vdb {threads} threads": [vdb("vdb-text"), "embed", "-t", str(threads), "--model", model, texts],
            "vdb --exec fasttext CLI": [vdb("vdb-text"), "embed", "--exec",
                                        f"fasttext print-sentence-vectors {model}", texts],
        })
        print("\n## embedding: texts/s (model load included)")
        print(f"{'system':28} {'texts/s':>10} {'vs CLI':>7}")
        for k, v in t.items():
            print(f"{k:28} {n / v:10.0f} {t['fasttext CLI'] / v:7.2f}")

        docs = os.path.join(tmp, "docs.jsonl")
        os.rename(texts, docs)
        t = best(a.runs, {
            "jsonl --words 200 --overlap 40": [vdb("vdb-text"), "chunk", "--words", "200", "--overlap", "40", docs],
            "plain --words 200 --overlap 40": [vdb("vdb-text"), "chunk", "--words", "200", "--overlap", "40", corpus],
            "plain --sentences 5": [vdb("vdb-text"), "chunk", "--sentences", "5", corpus],
            "plain --paragraphs": [vdb("vdb-text"), "chunk", "--paragraphs", corpus],
        })
        dd = Run(["dd", f"if={corpus}", "of=/dev/null", "bs=1M", "iflag=direct"])
        print("\n## chunking: MB/s of input (output to /dev/null)")
        for k, v in t.items():
            size = os.path.getsize(docs if k.startswith("jsonl") else corpus) / 1e6
            print(f"{k:32} {size / v:8.0f} MB/s")
        if dd.rc == 0:
            print(f"{'disk read (dd, O_DIRECT)':32} {mb / dd.wall:8.0f} MB/s")


if __name__ == "__main__":
    main()
