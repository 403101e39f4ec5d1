"""Text in: vdb-text against the fastText CLI on the same model and texts, and chunking speed.

Embedding: texts/s of `vdb-text embed --model M.bin` (one thread and all) against
`fasttext print-sentence-vectors M.bin` (one thread: the CLI has no other mode) over the lines of
the WordNet gloss corpus, the model trained here with Debian's `fasttext skipgram`; both read the
same texts from a file and write to /dev/null, model loading included. Also `--exec` running the
fastText CLI as the external embedder, to show what the batching costs.

Chunking: MB/s of `vdb-text chunk` over the corpus as one plain text file and as JSONL (a
document a line, and 1,000 lines a document; one thread and all), by words, sentences and
paragraphs, beside the disk's own sequential read speed (dd with O_DIRECT).

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

        # chunking: the corpus as one plain document, as JSONL of a document a line (short
        # records: jansson's parsing dominates) and of 1,000 lines a document
        lines_jsonl = texts
        docs = os.path.join(tmp, "docs.jsonl")
        with open(docs, "w") as f:
            for i in range(0, n, 1000):
                f.write(json.dumps({"id": i // 1000, "text": "\n".join(lines[i:i + 1000])}) + "\n")
        inputs = {"plain": corpus, f"JSONL {n} lines": lines_jsonl, f"JSONL {(n + 999) // 1000} documents": docs}
        cmds = {}
        for mode in (["--words", "200", "--overlap", "40"], ["--sentences", "5"], ["--paragraphs"]):
            for name, path in inputs.items():
                for t in ([1] if name == "plain" else [1, threads]):
                    cmds[(name, " ".join(mode), t)] = [vdb("vdb-text"), "chunk", "-t", str(t), *mode, path]
        t = best(a.runs, cmds)
        print("\n## chunking: MB/s of input (output to /dev/null)")
        print(f"{'input':24} {'mode':26} {'threads':>7} {'MB/s':>8}")
        for (name, mode, th), v in t.items():
            print(f"{name:24} {mode:26} {th:7} {os.path.getsize(inputs[name]) / 1e6 / v:8.0f}")
        dd = Run(["dd", f"if={corpus}", "of=/dev/null", "bs=1M", "iflag=direct"])
        if dd.rc == 0:
            print(f"{'disk read (dd, O_DIRECT)':58} {mb / dd.wall:8.0f}")

if __name__ == "__main__":
    main()
