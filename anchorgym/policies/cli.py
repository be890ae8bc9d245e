"""``anchorgym serve``: serve a local model over an OpenAI-compatible HTTP API."""

from __future__ import annotations

import argparse
import importlib.util
from typing import Any

SERVE_NEEDS = ("torch", "transformers", "flask")
"""What ``anchorgym serve`` imports, all in the ``hf`` extra (flask brings werkzeug)."""


def register(subparsers: Any) -> None:
    """Add the ``serve`` subcommand."""
    parser = subparsers.add_parser(
        "serve",
        help="serve a local HF model as an OpenAI-compatible chat-completions API",
        description="Serve a local model (a save_pretrained directory, or an alias: smollm2, tiny) at "
        "http://HOST:PORT/v1; use it with the policy spec openai:http://HOST:PORT/v1?model=NAME.",
    )
    parser.add_argument("model", metavar="PATH", help="model directory or alias (smollm2, tiny)")
    parser.add_argument("--port", type=int, default=8000, help="TCP port (0: pick a free one; default 8000)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--name", default=None, help="model name clients use (default: the PATH argument)")
    parser.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    parser.add_argument("--dtype", default=None, help="torch dtype name (default float32 on CPU, bfloat16 on GPU)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    parser.add_argument(
        "--max-batch", type=int, default=8, help="most concurrent requests generated together (1: per-request seeds)"
    )
    parser.set_defaults(handler=serve_command)


def serve_command(args: argparse.Namespace) -> int:
    """Load the model and serve it until interrupted.

    Raises:
        DependencyError: the ``hf`` extra is not installed (one line saying how to install it).
    """
    check_serve_dependencies()
    from werkzeug.serving import make_server

    from anchorgym.policies.hf_engine import HFEngine
    from anchorgym.policies.models import resolve_model
    from anchorgym.policies.server import create_app
    from anchorgym.ports import check_port_free

    check_port_free(args.host, args.port)  # before the model loads
    name = args.name or args.model
    engine = HFEngine(resolve_model(args.model), device=args.device, dtype=args.dtype, threads=args.threads)
    server = make_server(args.host, args.port, create_app(engine, name, max_batch=args.max_batch), threaded=True)
    # one line that scripts (and tests) can wait for; the port is the real one when --port 0
    print(f"Serving {name!r} at http://{args.host}:{server.server_port}/v1", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


def check_serve_dependencies() -> None:
    """Raise a one-line :class:`~anchorgym.errors.DependencyError` unless all of :data:`SERVE_NEEDS` import."""
    from anchorgym.errors import missing_extra

    for module in SERVE_NEEDS:
        if importlib.util.find_spec(module) is None:
            raise missing_extra(module, "hf")
