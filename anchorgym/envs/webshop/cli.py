"""``anchorgym webshop serve``: the WebShop site on 127.0.0.1."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``webshop`` command group."""
    parser = subparsers.add_parser("webshop", help="WebShop: serve the shopping site")
    commands = parser.add_subparsers(dest="webshop_command", metavar="COMMAND")
    serve = commands.add_parser("serve", help="serve the WebShop site on 127.0.0.1")
    serve.add_argument("--port", type=int, default=3000, help="port on 127.0.0.1 (0: a free port)")
    serve.add_argument("--data-dir", default=None, help="WebShop data folder (default: $WEBSHOP_DATA or the cache)")
    serve.add_argument(
        "--search",
        default="lucene-compat",
        choices=("lucene-compat", "lucene", "bm25s"),
        help="search back end: lucene-compat (default: WebShop's Lucene ranking in Python), lucene (pyserini) or bm25s",
    )
    serve.add_argument("--hide-attributes", action="store_true", help="hide the Attributes button, as the text env")
    serve.add_argument("--seed", type=int, default=None, help="seed for the goals drawn for new sessions")
    serve.set_defaults(handler=_serve)
    parser.set_defaults(handler=lambda args: parser.print_help())


def _serve(args: argparse.Namespace) -> int:
    from werkzeug.serving import make_server

    from anchorgym.envs.webshop.engine import WebShopEngine
    from anchorgym.envs.webshop.site import create_app
    from anchorgym.errors import ConfigError
    from anchorgym.ports import check_port_free

    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port must be 0-65535, got {args.port}.")
    check_port_free("127.0.0.1", args.port)  # before the engine loads
    engine = WebShopEngine(args.data_dir, args.search, show_attributes=not args.hide_attributes)
    server = make_server("127.0.0.1", args.port, create_app(engine, seed=args.seed), threaded=True)
    print(f"WebShop: {len(engine.goals)} goals over {len(engine.data.products)} products from {engine.data.source}")
    print(f"Serving on http://127.0.0.1:{server.server_port}/ (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0
