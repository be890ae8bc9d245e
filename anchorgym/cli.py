"""anchorgym: batched text environments with anchor hooks, evaluation, training and a leaderboard.

Each area contributes its own subcommands from a ``cli`` module exposing
``register(subparsers)``; modules import heavy dependencies only inside their
handlers, so ``anchorgym --help`` stays fast. A handler returns an exit code
(or None for 0). Errors a user can cause (:class:`~anchorgym.errors.AnchorGymError`)
are printed as one line without a traceback, with exit status 2.

``--import MODULE`` (repeatable, before or after the subcommand) imports your own
module first, so the envs and policy back-ends it registers are seen by every
subcommand (see :mod:`anchorgym.plugins`).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import pkgutil
import sys
from collections.abc import Sequence

from anchorgym import __version__
from anchorgym.errors import AnchorGymError

CLI_MODULES = (
    "anchorgym.envs.cli",
    "anchorgym.envs.anchor_cli",
    "anchorgym.policies.cli",
    "anchorgym.harness.cli",
    "anchorgym.training.cli",
    "anchorgym.leaderboard.cli",
)


def _cli_modules() -> list[str]:
    """Return the area CLI modules plus every env subpackage's own ``cli`` module."""
    import anchorgym.envs as envs

    env_modules = [
        f"anchorgym.envs.{module.name}.cli"
        for module in pkgutil.iter_modules(envs.__path__)
        if module.ispkg and importlib.util.find_spec(f"anchorgym.envs.{module.name}.cli") is not None
    ]
    return [name for name in CLI_MODULES if importlib.util.find_spec(name) is not None] + env_modules


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every area's subcommands."""
    parser = argparse.ArgumentParser(prog="anchorgym", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"anchorgym {__version__}")
    _add_import_option(parser, "imports")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _cli_modules():
        importlib.import_module(name).register(subparsers)
    for subparser in subparsers.choices.values():
        _add_import_option(subparser, "imports_after")  # its own dest: a subparser's default would reset `imports`
    return parser


def _add_import_option(parser: argparse.ArgumentParser, dest: str) -> None:
    parser.add_argument(
        "--import",
        dest=dest,
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE first, so the envs and policies it registers can be used (repeatable; "
        "the working directory is searched; also read from $ANCHORGYM_IMPORT, comma-separated)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the process exit code."""
    from anchorgym import plugins

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 0
    try:
        plugins.import_modules([*args.imports, *getattr(args, "imports_after", [])])
        return int(args.handler(args) or 0)
    except AnchorGymError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `anchorgym envs --json | head`: the reader left; stay quiet
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
