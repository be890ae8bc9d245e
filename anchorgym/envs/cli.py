r"""``anchorgym envs``, ``anchorgym play`` and ``anchorgym data``.

``play`` reads actions from stdin one per line, so it works both in a
terminal and with piped input (``printf 'up\nleft\n' | anchorgym play ...``).
Type ``:expert`` to see the expert's move, ``:quit`` (or end the input) to stop.

Data installers: an env whose :class:`~anchorgym.envs.registry.EnvInfo` sets
``data="NAME"`` and ``data_installer="module:function"`` is installed by
``anchorgym data NAME``, which calls ``function(source, target)`` with the
``--from`` path and the ``--data-dir`` folder (None when not given); the
function returns the folder the data now lives in.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from anchorgym.errors import unknown

DESCRIPTION_MIN_WIDTH = 140
"""Terminal width from which ``anchorgym envs`` shows the description column."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``envs``, ``play`` and ``data`` subcommands."""
    envs = subparsers.add_parser(
        "envs",
        help="list registered environments, whether their dependencies and data are installed",
        description="List the registered environments (built-in, from plugins and from --import modules), "
        "with whether each one's pip extra and data are installed.",
    )
    envs.add_argument("--json", action="store_true", help="print machine-readable JSON instead of a table")
    envs.set_defaults(handler=list_command)

    play = subparsers.add_parser("play", help="play an environment in the terminal (actions from stdin)")
    play.add_argument("env_id", help="registered env id, e.g. anchorgym/Sokoban-v0")
    play.add_argument("--seed", type=int, default=0, help="reset seed (picks the task)")
    play.add_argument("--split", default=None, help="task split (default: the env's first split)")
    play.add_argument("--task-id", default=None, help="play this task id instead of a seeded draw")
    play.add_argument("--max-steps", type=int, default=None, help="episode length limit")
    play.set_defaults(handler=play_command)

    data = subparsers.add_parser("data", help="install a data set an environment needs")
    data.add_argument("name", help="data set name (see `anchorgym envs --json`, data.name)")
    data.add_argument("--from", dest="source", default=None, help="local archive or folder to install from")
    data.add_argument("--data-dir", default=None, help="install here instead of the user cache")
    data.set_defaults(handler=data_command)

    from anchorgym.integrations.openenv.cli import add_env_parser  # `anchorgym env serve` (imports nothing heavy)

    add_env_parser(subparsers)


def list_command(args: argparse.Namespace) -> int:
    """Print the registered envs as a table sized to the terminal, or as JSON with ``--json``."""
    import json

    from anchorgym.envs.registry import list_envs

    rows = [env_row(info) for info in list_envs()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    _print_table(rows)
    return 0


def env_row(info: Any) -> dict[str, Any]:
    """Describe one env for ``anchorgym envs``: its registry entry and what is installed."""
    missing = info.missing_requirements()
    status = info.data_status()
    return {
        "id": info.id,
        "splits": list(info.splits),
        "max_steps": info.max_steps,
        "extra": info.extra,
        "description": info.description,
        "entry_point": info.entry_point,
        "dependencies": {
            "installed": not missing,
            "missing": missing,
            "fix": f"pip install 'anchorgym[{info.extra or 'all'}]'" if missing else None,
        },
        "data": {"name": info.data, "state": status.state, "detail": status.detail},
        "ready": not missing and status.ready,
    }


def _print_table(rows: list[dict[str, Any]]) -> None:
    """Print the rows as a table as wide as the terminal, then what to do for each env that is not ready.

    The width is the terminal's, else ``$COLUMNS``, else 80. Ids never wrap; the description
    column is shown from :data:`DESCRIPTION_MIN_WIDTH` columns on (``--json`` always has it).
    """
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    wide = console.width >= DESCRIPTION_MIN_WIDTH
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    table.add_column("id", no_wrap=True)
    table.add_column("splits", overflow="fold")  # the one column that wraps when the terminal is narrow
    for name in ("steps", "extra", "deps", "data"):
        table.add_column(name, no_wrap=True)
    if wide:
        table.add_column("description")
    for row in rows:
        deps = row["dependencies"]
        cells = [
            row["id"],
            ", ".join(row["splits"]),
            str(row["max_steps"]),
            row["extra"] or "-",
            "installed" if deps["installed"] else f"missing {', '.join(deps['missing'])}",
            row["data"]["state"],
        ]
        table.add_row(*cells, *([row["description"]] if wide else []))
    console.print(table)
    for row in rows:
        for note in _fixes(row):
            console.print(f"{row['id']}: {note}", markup=False, soft_wrap=True)  # commands stay pasteable


def _fixes(row: dict[str, Any]) -> list[str]:
    """Return what to do for each part of an env that is not installed."""
    notes = []
    if row["dependencies"]["fix"]:
        notes.append(f"dependencies missing; install them with: {row['dependencies']['fix']}")
    if row["data"]["state"] == "not installed":
        notes.append(row["data"]["detail"])
    return notes


def play_command(args: argparse.Namespace) -> int:
    """Play one episode with actions read from stdin."""
    from anchorgym.envs.registry import env_info, make

    info = env_info(args.env_id)
    split = args.split or info.splits[0]
    if split not in info.splits:
        raise unknown(f"split of {args.env_id}", split, info.splits)
    kwargs: dict[str, Any] = {"split": split}
    if args.max_steps is not None:
        kwargs["max_steps"] = args.max_steps
    env = make(args.env_id, **kwargs)
    try:
        options = {"task_id": args.task_id} if args.task_id else None
        obs, step_info = env.reset(seed=args.seed, options=options)
        play_episode(env, obs, step_info, sys.stdin, sys.stdout)
    finally:
        env.close()
    return 0


def play_episode(env: Any, obs: str, info: dict[str, Any], stdin: TextIO, out: TextIO) -> None:
    """Show the state, read an action, step, until the episode ends or the input does."""
    print(f"Task {info['task_id']} ({info['task_type']}): {info['instruction']}", file=out)
    done = False
    while not done:
        _show(obs, info, out)
        line = stdin.readline()
        action = line.strip()
        if not line or action == ":quit":
            print("Stopped.", file=out)
            return
        if action == ":expert":
            print(f"Expert: {env.expert_action()}", file=out)
            continue
        obs, reward, terminated, truncated, info = env.step(action)
        valid = "" if info["action_valid"] else " (invalid action: no-op)"
        print(f"> {action}: reward {reward:+.2f}{valid}", file=out)
        done = terminated or truncated
    _show(obs, info, out)
    outcome = "WON" if info["won"] else ("ended" if terminated else "out of steps")
    print(f"Episode {outcome} after {info['step']} steps, score {info['score']:.2f}.", file=out)


def _show(obs: str, info: dict[str, Any], out: TextIO) -> None:
    actions = info["admissible_actions"]
    listed = ", ".join(actions) if actions is not None else "(any text)"
    print(f"\n{obs}\nstep {info['step']}  anchor {info['anchor']}\nadmissible: {listed}", file=out)
    print("action> ", end="", file=out, flush=True)


def data_command(args: argparse.Namespace) -> int:
    """Run the data installer of the env(s) whose ``data`` is ``args.name``."""
    from anchorgym.envs.registry import list_envs, load_entry_point

    installers = {info.data: info.data_installer for info in list_envs() if info.data and info.data_installer}
    if args.name not in installers:
        raise unknown("data set", args.name, installers, "List them with: anchorgym envs")
    folder = load_entry_point(installers[args.name])(args.source, args.data_dir)
    print(f"Installed {args.name} data into {folder}")
    return 0
