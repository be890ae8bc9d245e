"""anchorgym: batched text environments with anchor hooks, evaluation, training and a leaderboard.

Each area contributes its own subcommands from a ``cli`` module exposing
``register(subparsers)``; modules import heavy dependencies only inside their
handlers, so ``anchorgym --help`` stays fast. A handler returns an exit code
(or None for 0). Errors a user can cause (:class:`~anchorgym.errors.AnchorGymError`)
are printed as one line without a traceback, with exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import pkgutil
import sys
from collections.abc import Sequence

from anchorgym import __version__
from anchorgym.errors import AnchorGymError

CLI_MODULES = (
    "anchorgym.envs.cli",
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
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _cli_modules():
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 0
    try:
        return int(args.handler(args) or 0)
    except AnchorGymError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
