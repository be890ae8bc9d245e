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
    envs.add_argument(
        "--all", action="store_true", help="also list legacy versions in the table (kept for old results)"
    )
    envs.set_defaults(handler=list_command)

    play = subparsers.add_parser("play", help="play an environment in the terminal (actions from stdin)")
    play.add_argument("env_id", help="registered env id, e.g. anchorgym/Sokoban-v0")
    play.add_argument("--seed", type=int, default=0, help="reset seed (picks the task)")
    play.add_argument("--split", default=None, help="task split (default: the env's first split)")
    play.add_argument("--task-id", default=None, help="play this task id instead of a seeded draw")
    play.add_argument("--max-steps", type=int, default=None, help="episode length limit")
    play.set_defaults(handler=play_command)

    data = subparsers.add_parser(
        "data",
        help="install a data set an environment needs",
        description="Install a data set into the user cache. Data sets: " + _data_sets_text(),
    )
    data.add_argument("name", help="data set name: " + _data_sets_text())
    data.add_argument("--from", dest="source", default=None, help="local archive or folder to install from")
    data.add_argument("--data-dir", default=None, help="install here instead of the user cache")
    data.set_defaults(handler=data_command)

    from anchorgym.integrations.openenv.cli import add_env_parser  # `anchorgym env serve` (imports nothing heavy)

    add_env_parser(subparsers)


def list_command(args: argparse.Namespace) -> int:
    """Print the registered envs as a table sized to the terminal, or as JSON with ``--json``.

    The table leaves out legacy versions (an id whose name is also registered with a higher ``-vN``)
    unless ``--all`` is given, and says how many it hid; the JSON lists every env with ``current``.
    """
    import json

    from anchorgym.envs.registry import list_envs

    infos = list_envs()
    current = current_ids([info.id for info in infos])
    if args.json:
        print(json.dumps([env_row(info, info.id in current) for info in infos], indent=2))
        return 0
    rows = [env_row(info, info.id in current) for info in infos if args.all or info.id in current]
    _print_table(rows)
    hidden = len(infos) - len(rows)
    if hidden:
        print(f"{hidden} legacy version{'s' if hidden > 1 else ''} hidden (kept for old results): anchorgym envs --all")
    return 0


def version_key(env_id: str) -> tuple[str, int]:
    """Split ``ns/Name-vN`` into ``("ns/Name", N)`` (version -1 when the id has no ``-vN``).

    >>> version_key("anchorgym/Sokoban-v1"), version_key("mine/Thing")
    (('anchorgym/Sokoban', 1), ('mine/Thing', -1))
    """
    name, sep, version = env_id.rpartition("-v")
    return (name, int(version)) if sep and version.isdigit() else (env_id, -1)


def current_ids(env_ids: list[str]) -> set[str]:
    """Return the ids that are the highest version of their name (the others are legacy).

    >>> sorted(current_ids(["a/S-v0", "a/S-v1", "a/S-x-v0", "a/T-v0"]))
    ['a/S-v1', 'a/S-x-v0', 'a/T-v0']
    """
    latest: dict[str, tuple[int, str]] = {}
    for env_id in env_ids:
        name, version = version_key(env_id)
        latest[name] = max(latest.get(name, (version, env_id)), (version, env_id))
    return {env_id for _, env_id in latest.values()}


def env_row(info: Any, current: bool = True) -> dict[str, Any]:
    """Describe one env for ``anchorgym envs``: its registry entry, whether it is current, what is installed."""
    missing = info.missing_requirements()
    status = info.data_status()
    return {
        "id": info.id,
        "current": current,
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
    """Print the rows as a table, then what to do for each env that is not ready.

    Ids are never cut or wrapped. The splits column wraps between splits; on a narrow terminal the
    steps column is left out first (``--json`` has everything), and where even that does not fit the
    table is printed wider than the terminal rather than cutting an id. The description column is
    shown from :data:`DESCRIPTION_MIN_WIDTH` columns on.
    """
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    cells = [_cells(row) for row in rows]
    widths = {name: max([len(name), *(len(row[name]) for row in cells)]) for name in _COLUMNS}
    widths["splits"] = max([len("splits"), *(len(split) + 1 for row in rows for split in row["splits"])])
    columns = [name for name in _COLUMNS if name != "steps" or sum(widths.values()) + 2 * 5 <= console.width]
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for name in columns:
        table.add_column(name, no_wrap=name != "splits", min_width=widths[name])
    wide = console.width >= DESCRIPTION_MIN_WIDTH
    if wide:
        table.add_column("description")
    for row, row_cells in zip(rows, cells, strict=True):
        table.add_row(*(row_cells[name] for name in columns), *([row["description"]] if wide else []))
    needed = sum(widths[name] for name in columns) + 2 * (len(columns) - 1)
    Console(highlight=False, width=max(console.width, needed)).print(table)
    for row in rows:
        for note in _fixes(row):
            console.print(f"{row['id']}: {note}", markup=False, soft_wrap=True)  # commands stay pasteable


_COLUMNS = ("id", "splits", "steps", "extra", "ready")


def _cells(row: dict[str, Any]) -> dict[str, str]:
    """The table's cells of one row; ``ready`` says what is missing (the notes below the table say how to fix it)."""
    missing = [part for part, ok in (("deps", row["dependencies"]["installed"]), ("data", _data_ok(row))) if not ok]
    return {
        "id": row["id"] + ("" if row.get("current", True) else " (legacy)"),
        "splits": ", ".join(row["splits"]),
        "steps": str(row["max_steps"]),
        "extra": row["extra"] or "-",
        "ready": f"no ({', '.join(missing)})" if missing else "yes",
    }


def _data_ok(row: dict[str, Any]) -> bool:
    return row["data"]["state"] != "not installed"


def _fixes(row: dict[str, Any]) -> list[str]:
    """Return what to do for each part of an env that is not installed."""
    notes = []
    if row["dependencies"]["fix"]:
        missing = ", ".join(row["dependencies"]["missing"])
        notes.append(f"dependencies missing ({missing}); install them with: {row['dependencies']['fix']}")
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


def _data_sets_text() -> str:
    """The data sets ``anchorgym data`` installs, for its help (read from the registry, nothing is imported)."""
    from anchorgym.envs.registry import list_envs

    names = sorted({info.data for info in list_envs() if info.data and info.data_installer})
    return ", ".join(names) if names else "(none registered)"
