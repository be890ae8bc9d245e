"""``anchorgym leaderboard serve|token`` and ``anchorgym submit``."""

from __future__ import annotations

import argparse

DEFAULT_DB = "sqlite:///leaderboard.db"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the leaderboard commands."""
    board = subparsers.add_parser("leaderboard", help="run a leaderboard server or manage its tokens")
    actions = board.add_subparsers(dest="leaderboard_command", metavar="ACTION", required=True)

    serve = actions.add_parser("serve", help="serve the leaderboard (API and web pages) on 127.0.0.1")
    serve.add_argument("--db", default=DEFAULT_DB, help=f"SQLAlchemy URL (default {DEFAULT_DB})")
    serve.add_argument("--storage", default="leaderboard-files", help="folder for episodes files")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--no-replay", action="store_true", help="skip background replay verification")
    serve.set_defaults(handler=_serve)

    token = actions.add_parser("token", help="issue a submission token (admin)")
    token.add_argument("name", help="who the token is for")
    token.add_argument("--db", default=DEFAULT_DB)
    token.set_defaults(handler=_token)

    submit = subparsers.add_parser("submit", help="upload an eval result folder to a leaderboard")
    submit.add_argument("result_dir")
    submit.add_argument("--server", required=True, help="leaderboard base URL")
    submit.set_defaults(handler=_submit)


def _serve(args: argparse.Namespace) -> int:
    from anchorgym.leaderboard.server import create_app
    from anchorgym.leaderboard.storage import safe_url
    from anchorgym.ports import check_port_free

    check_port_free(args.host, args.port)
    app = create_app(args.db, args.storage, replay=not args.no_replay)
    print(f"leaderboard on http://{args.host}:{args.port}/ (database {safe_url(args.db)})", flush=True)
    app.run(host=args.host, port=args.port, threaded=True)
    return 0


def _token(args: argparse.Namespace) -> int:
    from anchorgym.leaderboard.storage import create_token, open_database

    print(create_token(open_database(args.db), args.name))
    return 0


def _submit(args: argparse.Namespace) -> int:
    from anchorgym.leaderboard.client import submit

    entry = submit(args.result_dir, args.server)
    print(f"accepted as entry {entry['id']} (replay verification: {entry['replay_status']}): {entry['url']}")
    return 0
