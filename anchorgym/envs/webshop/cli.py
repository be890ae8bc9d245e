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
    serve.add_argument("--search", default="bm25s", help="search back end: bm25s (default) or lucene")
    serve.add_argument("--hide-attributes", action="store_true", help="hide the Attributes button, as the text env")
    serve.add_argument("--seed", type=int, default=None, help="seed for the goals drawn for new sessions")
    serve.set_defaults(handler=_serve)
    parser.set_defaults(handler=lambda args: parser.print_help())


def _check_port(port: int) -> None:
    """Raise a ConfigError when 127.0.0.1:``port`` cannot be listened on."""
    import socket

    from anchorgym.errors import ConfigError

    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as werkzeug's server does
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            raise ConfigError(f"Cannot listen on 127.0.0.1:{port} ({error.strerror}). Pick another --port.") from error


def _serve(args: argparse.Namespace) -> int:
    from werkzeug.serving import make_server

    from anchorgym.envs.webshop.engine import WebShopEngine
    from anchorgym.envs.webshop.site import create_app
    from anchorgym.errors import ConfigError

    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port must be 0-65535, got {args.port}.")
    _check_port(args.port)  # before the engine loads, and werkzeug would sys.exit on a busy port
    engine = WebShopEngine(args.data_dir, args.search, show_attributes=not args.hide_attributes)
    server = make_server("127.0.0.1", args.port, create_app(engine, seed=args.seed), threaded=True)
    print(f"WebShop: {len(engine.goals)} goals over {len(engine.data.products)} products from {engine.data.source}")
    print(f"Serving on http://127.0.0.1:{server.server_port}/ (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0
