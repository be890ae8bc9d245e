"""``anchorgym train CONFIG.yaml``: run GRPO-family training from a YAML config."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from anchorgym.errors import ConfigError


def register(subparsers: Any) -> None:
    """Add the ``train`` subcommand."""
    parser = subparsers.add_parser("train", help="train a policy with GRPO/RLOO/MC-GRPO/GiGPO/HGPO")
    parser.add_argument(
        "config", nargs="?", help="YAML config: a path, or the name of a bundled config such as sokoban (see --fields)"
    )
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


def bundled_configs() -> list[str]:
    """Names of the configs shipped in the package (``anchorgym/configs``, the repository's ``configs/``).

    >>> "sokoban-tiny-cpu" in bundled_configs()
    True
    """
    from importlib.resources import files

    folder = files("anchorgym") / "configs"
    return sorted(item.name[: -len(".yaml")] for item in folder.iterdir() if item.name.endswith(".yaml"))


def resolve_config(name: str) -> Path:
    """Return the config file ``name``: an existing path, else the bundled config of that name.

    ``configs/sokoban.yaml``, ``sokoban.yaml`` and ``sokoban`` all find the bundled ``sokoban`` config
    when no such file exists here, so the documented commands work from an installed wheel too.

    Raises:
        ConfigError: neither a file nor a bundled config.
    """
    from importlib.resources import files

    path = Path(name)
    if path.is_file():
        return path
    stem = path.name[: -len(".yaml")] if path.name.endswith(".yaml") else path.name
    if stem in bundled_configs():
        return Path(str(files("anchorgym") / "configs" / f"{stem}.yaml"))
    raise ConfigError(
        f"Config file {name!r} does not exist and is not a bundled config; give a path or one of: "
        f"{', '.join(bundled_configs())}."
    )


def run(args: argparse.Namespace) -> int:
    """Handle ``anchorgym train``."""
    from anchorgym.training.config import TrainConfig

    if args.fields:
        print(TrainConfig.describe())
        return 0
    if not args.config:
        raise ConfigError(
            f"anchorgym train needs a CONFIG.yaml: a path or a bundled config ({', '.join(bundled_configs())}); "
            "see --fields for every field."
        )
    raw = TrainConfig.from_yaml(resolve_config(args.config)).to_dict()
    raw.update(parse_overrides(args.overrides))
    config = TrainConfig.from_dict(raw)
    from anchorgym.training.trainer import train

    out = train(config, resume=args.resume)
    print(f"run written to {out} (metrics.csv, checkpoints/)")
    return 0
