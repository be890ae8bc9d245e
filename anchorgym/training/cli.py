"""``anchorgym train CONFIG.yaml``: run GRPO-family training from a YAML config."""

from __future__ import annotations

import argparse
from typing import Any

from anchorgym.errors import ConfigError


def register(subparsers: Any) -> None:
    """Add the ``train`` subcommand."""
    parser = subparsers.add_parser("train", help="train a policy with GRPO/RLOO/MC-GRPO/GiGPO/HGPO")
    parser.add_argument("config", nargs="?", help="YAML config (see configs/ and --fields)")
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in output_dir")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field (YAML value), e.g. --set iterations=5; repeatable",
    )
    parser.add_argument("--fields", action="store_true", help="list every config field and exit")
    parser.set_defaults(handler=run)


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """Parse ``KEY=VALUE`` strings; values are read as YAML (numbers, booleans, lists).

    >>> parse_overrides(["iterations=5", "estimator=grpo", "task_ids=[1, 2]"])
    {'iterations': 5, 'estimator': 'grpo', 'task_ids': [1, 2]}
    """
    import yaml

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}.")
        out[key.strip()] = yaml.safe_load(value)
    return out


def run(args: argparse.Namespace) -> int:
    """Handle ``anchorgym train``."""
    from anchorgym.training.config import TrainConfig

    if args.fields:
        print(TrainConfig.describe())
        return 0
    if not args.config:
        raise ConfigError("anchorgym train needs a CONFIG.yaml (see configs/ in the repository, or --fields).")
    raw = TrainConfig.from_yaml(args.config).to_dict()
    raw.update(parse_overrides(args.overrides))
    config = TrainConfig.from_dict(raw)
    from anchorgym.training.trainer import train

    out = train(config, resume=args.resume)
    print(f"run written to {out} (metrics.csv, checkpoints/)")
    return 0
