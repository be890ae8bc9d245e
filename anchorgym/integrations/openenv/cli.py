"""``anchorgym env serve ENV_ID``: serve an env in the OpenEnv protocol.

This module imports nothing heavy; OpenEnv, FastAPI and uvicorn load in the handler.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from anchorgym.errors import ConfigError, missing_extra

DEFAULT_PORT = 8000


def add_env_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``anchorgym env`` with its ``serve`` subcommand."""
    env = subparsers.add_parser("env", help="serve an environment to other tools (anchorgym env serve ENV_ID)")
    commands = env.add_subparsers(dest="env_command", metavar="COMMAND", required=True)
    serve = commands.add_parser(
        "serve",
        help="serve an env over OpenEnv (HTTP + WebSocket + MCP tools) for TRL, verifiers, remote vector envs, agents",
        description="Serve ENV_ID in Meta's OpenEnv protocol: one session, with its own env, per WebSocket "
        "connection to /ws; reset takes seed and task_id; observations carry the text, reward, done flags and "
        "the standard info keys (anchor included). MCP clients play it with the tools start_episode and act on /mcp.",
    )
    serve.add_argument(
        "env_id", nargs="?", help="registered env id, e.g. anchorgym/Sokoban-v1 (built-in or from a plugin)"
    )
    serve.add_argument(
        "--benchmark",
        default=None,
        help="serve the env exactly as this benchmark plays it (its env id, split, max_steps and arguments), "
        "e.g. sokoban-6x6-1box/test@v2, for `anchorgym eval BENCHMARK --backend openenv --env-url URL`",
    )
    serve.add_argument("--split", default=None, help="task split (default: the env's first split)")
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on (0.0.0.0: every interface)")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (0: a free one; the URL is printed)")
    serve.add_argument("--max-sessions", type=int, default=64, help="concurrent sessions (connections) at most")
    serve.add_argument(
        "--idle-timeout", type=float, default=None, help="close a session idle this many seconds (default: never)"
    )
    serve.add_argument(
        "--threaded",
        action="store_true",
        help="run each session's env on its own thread (only for thread-safe envs; default: one shared thread, "
        "since engines such as ALFWorld's are not thread-safe)",
    )
    serve.add_argument("--max-steps", type=int, default=None, help="episode length limit (default: the env's)")
    serve.add_argument(
        "--env-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="env constructor argument (repeatable; VALUE is JSON when it parses, else a string), "
        "e.g. --env-arg data_dir=/data/webshop",
    )
    serve.add_argument("--log-level", default="warning", help="uvicorn log level (info shows every connection)")
    serve.add_argument(
        "--import",
        dest="serve_imports",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE first, so the envs it registers can be served (repeatable)",
    )
    serve.set_defaults(handler=serve_command)
    add_package_parser(commands)


def add_package_parser(commands: argparse._SubParsersAction) -> None:
    """Add ``anchorgym env package ENV_ID OUT_DIR``."""
    package = commands.add_parser(
        "package",
        help="write an OpenEnv package of an env (openenv.yaml, server, Dockerfile) for openenv validate/push",
        description="Write OUT_DIR: the OpenEnv package of ENV_ID (openenv.yaml, pyproject.toml, server/app.py, a "
        "Dockerfile installing anchorgym from a wheel and the data from an archive, README.md), ready for "
        "`openenv validate OUT_DIR`, `docker build OUT_DIR` and `openenv push`.",
    )
    package.add_argument("env_id", help="registered env id, e.g. anchorgym/Sokoban-v1")
    package.add_argument("out_dir", help="the package folder to create (new or empty)")
    package.add_argument("--split", default=None, help="task split the server plays (default: the env's first)")
    package.add_argument("--max-steps", type=int, default=None, help="episode length limit (default: the env's)")
    package.add_argument(
        "--env-arg", action="append", default=[], metavar="KEY=VALUE", help="env constructor argument (repeatable)"
    )
    package.add_argument("--wheel", default=None, help="the anchorgym wheel to install (default: built from source)")
    package.add_argument("--data-dir", default=None, help="the env's data folder, packed into data.tar.gz")
    package.add_argument("--max-sessions", type=int, default=64, help="concurrent sessions the server takes")
    package.add_argument(
        "--reward-range",
        type=float,
        nargs=2,
        default=(-100.0, 100.0),
        metavar=("LOW", "HIGH"),
        help="per-step reward bounds declared in openenv.yaml",
    )
    package.add_argument(
        "--offline", action="store_true", help="also put every dependency's wheel in wheels/ (pip install --no-index)"
    )
    package.add_argument("--import", dest="serve_imports", action="append", default=[], metavar="MODULE")
    package.set_defaults(handler=package_command)


def package_command(args: argparse.Namespace) -> int:
    """Write the package and say what to do with it."""
    from anchorgym import plugins
    from anchorgym.integrations.openenv.package import write_package

    plugins.import_modules(args.serve_imports)
    env_kwargs = parse_env_args(args.env_arg)
    if args.max_steps is not None:
        env_kwargs["max_steps"] = args.max_steps
    out = write_package(
        args.env_id,
        args.out_dir,
        split=args.split,
        env_kwargs=env_kwargs,
        wheel=args.wheel,
        data_dir=args.data_dir,
        max_sessions=args.max_sessions,
        reward_range=tuple(args.reward_range),
        offline=args.offline,
    )
    print(f"Wrote the OpenEnv package of {args.env_id} to {out}. Check it with: openenv validate {out}")
    return 0


def parse_env_args(pairs: list[str]) -> dict[str, Any]:
    """Parse ``KEY=VALUE`` pairs; values are JSON when they parse as JSON, else strings.

    >>> parse_env_args(["max_steps=20", "data_dir=/data/webshop"])
    {'max_steps': 20, 'data_dir': '/data/webshop'}
    """
    parsed: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--env-arg must look like KEY=VALUE, got {pair!r}.")
        try:
            parsed[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            parsed[key.strip()] = value
    return parsed


def serve_command(args: argparse.Namespace) -> int:
    """Serve the env until interrupted; print the URL once the server listens."""
    from anchorgym import plugins

    plugins.import_modules(args.serve_imports)
    try:
        from anchorgym.integrations.openenv.server import bind, build_app, uvicorn_server
    except ModuleNotFoundError as error:
        raise missing_extra(error.name or "openenv", "openenv") from error
    env_id, split, env_kwargs = _served_env(args)
    sock = bind(args.host, args.port)
    app = build_app(env_id, split, args.max_sessions, args.idle_timeout, env_kwargs, args.threaded)
    server = uvicorn_server(app, args.log_level)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    base = f"{shown}:{port}"
    print(
        f"Serving {env_id} over OpenEnv at http://{base} (sessions: ws://{base}/ws, MCP: http://{base}/mcp)", flush=True
    )
    server.run(sockets=[sock])
    return 0


def _served_env(args: argparse.Namespace) -> tuple[str, str | None, dict[str, Any]]:
    """Return the env id, split and constructor arguments to serve: the benchmark's, then the options'."""
    env_id, split, env_kwargs = args.env_id, args.split, {}
    if args.benchmark:
        from anchorgym.harness.specs import load_benchmark

        spec = load_benchmark(args.benchmark)
        if env_id not in (None, spec.env_id):
            raise ConfigError(f"{args.benchmark} plays {spec.env_id}, not {env_id}; drop ENV_ID or the --benchmark.")
        env_id, split = spec.env_id, split or spec.split
        env_kwargs = {**spec.env_kwargs, "max_steps": spec.max_steps}
    if env_id is None:
        raise ConfigError("Name the env to serve (anchorgym env serve ENV_ID) or a benchmark (--benchmark ID).")
    env_kwargs.update(parse_env_args(args.env_arg))
    if args.max_steps is not None:
        env_kwargs["max_steps"] = args.max_steps
    return env_id, split, env_kwargs
