"""``anchorgym retrieval serve|export``: a Search-R1-compatible retrieval server and corpus export."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from anchorgym.errors import ConfigError


def register(subparsers: Any) -> None:
    """Add the ``retrieval`` command group."""
    parser = subparsers.add_parser("retrieval", help="tool-QA retrieval server (Search-R1 API) and corpora")
    commands = parser.add_subparsers(dest="retrieval_command", metavar="SUBCOMMAND", required=True)
    serve = commands.add_parser("serve", help="serve POST /retrieve and GET /health over a corpus")
    _add_source(serve)
    serve.add_argument("--index", choices=("bm25", "dense"), default="bm25", help="retrieval method (default bm25)")
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (0 picks a free one; default 8000)")
    serve.add_argument("--topk", type=int, default=3, help="passages per query when a request gives no topk (3)")
    serve.add_argument(
        "--max-batch",
        type=int,
        default=1024,
        help="most queries of concurrent requests searched in one call (1 searches each request alone; 1024)",
    )
    serve.set_defaults(handler=serve_command)
    export = commands.add_parser("export", help="write a data set's corpus as Search-R1 JSONL")
    _add_source(export)
    export.add_argument("--out", required=True, help="output corpus JSONL path")
    export.add_argument("--questions", help="also write the split's questions (id, question, golden_answers) here")
    export.set_defaults(handler=export_command)


def _add_source(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--corpus", help="corpus JSONL with 'id' and 'contents' per line")
    parser.add_argument("--dataset", help="or a tool-QA data set: synthetic, hotpot-sample")
    parser.add_argument("--split", help="the data set's split (synthetic: train/test; hotpot-sample: dev)")
    parser.add_argument("--synthetic", default="{}", help="synthetic options as JSON, e.g. '{\"max_hops\": 4}'")
    parser.add_argument("--pad-wiki", action="store_true", help="hotpot-sample: add ~10k Wikipedia summaries")


def load_passages(args: argparse.Namespace) -> list:
    """The passages named by ``--corpus`` or ``--dataset``."""
    if bool(args.corpus) == bool(args.dataset):
        raise ConfigError("Pass exactly one of --corpus PATH or --dataset NAME.")
    if args.corpus:
        from anchorgym.envs.toolqa.corpus import read_corpus

        return read_corpus(args.corpus)
    return load_dataset(args).passages


def load_dataset(args: argparse.Namespace) -> Any:
    """The :class:`~anchorgym.envs.toolqa.tasks.ToolQAData` named by ``--dataset`` and ``--split``."""
    from anchorgym.envs.toolqa import data

    try:
        synthetic = json.loads(args.synthetic)
    except json.JSONDecodeError as error:
        raise ConfigError(f"--synthetic must be a JSON object ({error}).") from error
    split = args.split or data.SPLITS.get(args.dataset, ("train",))[0]
    options = {"synthetic": synthetic, "data_dir": None, "corpus": None, "pad_wiki": args.pad_wiki}
    options["need_corpus"] = True
    return data.load(args.dataset, split, json.dumps(options, sort_keys=True))


def serve_command(args: argparse.Namespace) -> int:
    """Build the index and serve until interrupted."""
    from anchorgym.envs.toolqa.retrieval import build_index, check_topk
    from anchorgym.envs.toolqa.server import RetrievalServer
    from anchorgym.ports import check_port_free

    topk = check_topk(args.topk)
    if args.max_batch < 1:
        raise ConfigError(f"--max-batch must be at least 1 (1 searches each request alone), got {args.max_batch}.")
    check_port_free(args.host, args.port)  # before indexing, which can take minutes
    passages = load_passages(args)
    print(f"indexing {len(passages)} passages with {args.index}...", file=sys.stderr, flush=True)
    index = build_index(args.index, passages)
    server = RetrievalServer(index, host=args.host, port=args.port, default_topk=topk, max_batch=args.max_batch)
    print(f"serving {server.url} (GET /health); Ctrl-C stops", flush=True)
    try:
        server.serve_forever()
    finally:
        server.stop()
    return 0


def export_command(args: argparse.Namespace) -> int:
    """Write the corpus atomically."""
    from anchorgym.envs.toolqa.corpus import write_corpus

    passages = load_passages(args)
    path = write_corpus(passages, args.out)
    print(f"wrote {len(passages)} passages to {path}")
    if args.questions:
        if not args.dataset:
            raise ConfigError("--questions needs --dataset (a corpus file holds no questions).")
        from anchorgym.envs.toolqa.searchr1 import write_questions

        tasks = load_dataset(args).tasks
        print(f"wrote {len(tasks)} questions to {write_questions(tasks, args.questions)}")
    return 0
