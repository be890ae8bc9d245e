"""``anchorgym leaderboard serve|token|rerun`` and ``anchorgym submit``."""

from __future__ import annotations

import argparse

DEFAULT_DB = "sqlite:///leaderboard.db"
DEFAULT_PORT = 8080  # not 8000: that is `anchorgym serve`'s (the model server's) default
TOKEN_ACTIONS = ("create", "list", "revoke", "rotate")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the leaderboard commands."""
    board = subparsers.add_parser("leaderboard", help="run a leaderboard server or manage its tokens")
    actions = board.add_subparsers(dest="leaderboard_command", metavar="ACTION", required=True)
    _add_serve(actions)

    token = actions.add_parser(
        "token",
        help="manage submission tokens (admin)",
        description="token NAME | token create NAME: issue a token; token list; token revoke NAME; token rotate NAME",
    )
    token.add_argument("words", nargs="+", metavar="[ACTION] NAME", help="create (default), list, revoke or rotate")
    token.add_argument("--db", default=DEFAULT_DB)
    token.set_defaults(handler=_token)

    rerun = actions.add_parser("rerun", help="re-evaluate a sample of an entry's episodes with its policy (admin)")
    rerun.add_argument("entry", type=int, help="entry number")
    rerun.add_argument("--db", default=DEFAULT_DB)
    rerun.add_argument("--storage", default="leaderboard-files", help="folder for episodes files")
    rerun.add_argument(
        "--sample",
        type=int,
        default=None,
        help="(task, seed) pairs of an exact re-run (default 8); for a sampling policy the size comes from the "
        "power analysis and --sample caps it",
    )
    rerun.add_argument(
        "--effect-size", type=float, default=0.2, help="smallest inflated success rate to catch (default 0.2)"
    )
    rerun.add_argument("--alpha", type=float, default=0.01, help="false-reject rate of an honest entry (default 0.01)")
    rerun.add_argument("--beta", type=float, default=0.05, help="false-accept rate at the effect size (default 0.05)")
    rerun.add_argument("--seed", type=int, default=None, help="seed of the sample (default: random)")
    rerun.add_argument(
        "--allow-policy",
        action="append",
        default=[],
        metavar="SPEC",
        help="also allow this model policy spec (hf:..., openai:..., vllm:...); expert and random are always allowed",
    )
    rerun.set_defaults(handler=_rerun)

    submit = subparsers.add_parser(
        "submit",
        help="upload an eval result folder to a leaderboard",
        description="Upload result.json and episodes.jsonl of an 'anchorgym eval' folder. The bearer token is read "
        "from the ANCHORGYM_LEADERBOARD_TOKEN environment variable (the leaderboard's admin issues it). Only "
        "built-in benchmarks can be submitted.",
    )
    submit.add_argument("result_dir")
    submit.add_argument("--server", required=True, help="leaderboard base URL, e.g. http://127.0.0.1:8080")
    submit.set_defaults(handler=_submit)


def _add_serve(actions: argparse._SubParsersAction) -> None:
    serve = actions.add_parser("serve", help="serve the leaderboard (API and web pages) with waitress")
    serve.add_argument("--db", default=DEFAULT_DB, help=f"SQLAlchemy URL (default {DEFAULT_DB})")
    serve.add_argument("--storage", default="leaderboard-files", help="folder for episodes files")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: a free one, printed)"
    )
    serve.add_argument("--no-replay", action="store_true", help="skip background replay verification")
    serve.add_argument("--replay-workers", type=int, default=2, help="replays run at once (default 2)")
    serve.add_argument("--replay-budget", type=float, default=900.0, help="seconds one replay may take (default 900)")
    serve.add_argument(
        "--missing-data",
        choices=("refuse", "self-report"),
        default="refuse",
        help="a submission for a benchmark whose replay data this server lacks: refuse it with 422 (default) "
        "or accept it unranked as self-reported",
    )
    serve.add_argument(
        "--rerun-tier",
        action="store_true",
        help="rank the re-run verified tier on the landing board (you re-run entries with 'leaderboard rerun'); "
        "default: the replay verified tier",
    )
    serve.add_argument(
        "--storage-quota-mb", type=int, default=512, help="MiB of episodes one token may store (default 512)"
    )
    serve.add_argument("--threads", type=int, default=8, help="request threads (default 8)")
    serve.add_argument("--timeout", type=int, default=30, help="seconds a silent connection is kept (default 30)")
    serve.add_argument(
        "--header-timeout", type=float, default=10.0, help="seconds a request's headers may take (default 10)"
    )
    serve.add_argument(
        "--body-timeout",
        type=float,
        default=30.0,
        help="seconds a body may take, plus its length at 64 KiB/s (default 30)",
    )
    serve.add_argument("--per-ip", type=int, default=32, help="connections one client address may hold (default 32)")
    serve.add_argument("--connection-limit", type=int, default=200, help="open connections in all (default 200)")
    serve.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    from anchorgym.leaderboard.server import create_app, upload_refusal
    from anchorgym.leaderboard.serving import Deadlines, make_server
    from anchorgym.leaderboard.storage import safe_url
    from anchorgym.ports import check_port_free

    check_port_free(args.host, args.port)
    app = create_app(
        args.db,
        args.storage,
        replay=not args.no_replay,
        replay_workers=args.replay_workers,
        replay_budget_s=args.replay_budget,
        missing_data=args.missing_data,
        storage_quota=args.storage_quota_mb * 1024 * 1024,
        rerun_tier=args.rerun_tier,
    )
    limits = app.extensions["anchorgym"]["limits"]
    server = make_server(
        app,
        Deadlines(header_timeout=args.header_timeout, body_timeout=args.body_timeout, per_ip=args.per_ip),
        upload_refusal(app),
        host=args.host,
        port=args.port,
        threads=args.threads,
        channel_timeout=args.timeout,  # a connection silent this long is closed
        max_request_header_size=64 * 1024,
        max_request_body_size=limits.max_body_bytes,
        connection_limit=args.connection_limit,
        expose_tracebacks=False,
        ident="anchorgym",
    )
    port = server.effective_port  # the one bound, also for --port 0
    print(f"leaderboard on http://{args.host}:{port}/ (database {safe_url(args.db)})", flush=True)
    server.run()
    return 0


def _token(args: argparse.Namespace) -> int:
    from anchorgym.errors import ConfigError
    from anchorgym.leaderboard.storage import create_token, list_tokens, open_database, revoke_token, rotate_token

    words = args.words if args.words[0] in TOKEN_ACTIONS else ["create", *args.words]
    action, names = words[0], words[1:]
    if len(names) != (0 if action == "list" else 1):
        raise ConfigError(f"Usage: anchorgym leaderboard token {'list' if action == 'list' else action + ' NAME'}.")
    sessions = open_database(args.db)
    if action == "list":
        for row in list_tokens(sessions):
            state = f"revoked {row['revoked']}" if row["revoked"] else "active"
            print(f"{row['name']}\tcreated {row['created']}\t{state}\t{row['entries']} entries")
    elif action == "revoke":
        revoke_token(sessions, names[0])
        print(f"revoked the token of {names[0]}")
    else:
        print((create_token if action == "create" else rotate_token)(sessions, names[0]))
    return 0


def _rerun(args: argparse.Namespace) -> int:
    from anchorgym.leaderboard.rerun import rerun_entry
    from anchorgym.leaderboard.storage import open_database

    status, detail = rerun_entry(
        open_database(args.db),
        args.storage,
        args.entry,
        args.sample,
        allowed=args.allow_policy,
        seed=args.seed,
        effect=args.effect_size,
        alpha=args.alpha,
        beta=args.beta,
    )
    print(f"entry {args.entry}: re-run {status}: {detail}")
    return 0 if status == "verified" else 1


def _submit(args: argparse.Namespace) -> int:
    from anchorgym.leaderboard.client import submit

    entry = submit(args.result_dir, args.server)
    note = " (already submitted: the earlier entry)" if entry.get("duplicate") else ""
    print(f"accepted as entry {entry['id']}{note} (status: {entry['status']}): {entry['url']}")
    return 0
