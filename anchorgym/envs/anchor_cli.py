"""``anchorgym anchors diagnose ENV_ID``: how text anchors alias and split an env's true states.

Plays groups of random episodes (every member of a group on the same task and seed, as GiGPO's
rollouts) with state anchors, then compares each step's state anchor with the anchor verl-agent would
give it, its observation text (see :mod:`anchorgym.envs.anchor_diagnostics`).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from anchorgym.errors import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``anchors diagnose``."""
    anchors = subparsers.add_parser("anchors", help="inspect anchor states (diagnose: text vs state anchors)")
    commands = anchors.add_subparsers(dest="anchors_command", metavar="COMMAND", required=True)
    diagnose = commands.add_parser(
        "diagnose",
        help="share of steps whose observation-text group mixes true states (aliasing) and of states shown "
        "under several texts (splitting), over random group rollouts",
    )
    diagnose.add_argument("env_id", help="registered env id, e.g. anchorgym/ALFWorld-v0")
    diagnose.add_argument("--tasks", type=int, default=6, help="episode groups (distinct tasks; default 6)")
    diagnose.add_argument("--group-size", type=int, default=8, help="episodes per group (default 8, GiGPO's)")
    diagnose.add_argument("--split", default="train", help="env split to draw tasks from (default train)")
    diagnose.add_argument("--max-steps", type=int, default=None, help="cap on steps per episode")
    diagnose.add_argument("--seed", type=int, default=0, help="seeds tasks and the random policy (default 0)")
    diagnose.add_argument("--policy", default="random", help="policy spec to play with (default random)")
    diagnose.add_argument("--backend", default="sync", help="vector backend: sync, process or ray (default sync)")
    diagnose.add_argument("--env-arg", action="append", default=[], metavar="KEY=VALUE", help="env kwarg (JSON)")
    diagnose.add_argument("--json", action="store_true", help="print the counts and shares as JSON")
    diagnose.set_defaults(handler=diagnose_command)


def diagnose_command(args: argparse.Namespace) -> int:
    """Run the rollouts and print aliasing and splitting."""
    from anchorgym.envs.anchor_diagnostics import diagnose_episodes

    for name in ("tasks", "group_size"):
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}.")
    if args.max_steps is not None and args.max_steps < 1:
        raise ConfigError(f"--max-steps must be >= 1, got {args.max_steps}.")
    episodes = play_groups(args)
    result = diagnose_episodes(episodes)
    if args.json:
        print(json.dumps({"env_id": args.env_id, **result.to_json()}, indent=2))
        return 0
    print(f"{args.env_id}: {args.tasks} groups x {args.group_size} episodes, {result.steps} steps ({args.policy})")
    print(
        f"aliasing  {result.aliasing:6.1%}  ({result.aliased_steps} of the {result.grouped_steps} steps in text "
        "step groups share theirs with another true state)"
    )
    print(
        f"splitting {result.splitting:6.1%}  ({result.split_states} of {result.states} true states appear under "
        "more than one text)"
    )
    return 0


def play_groups(args: argparse.Namespace) -> list[Any]:
    """Play ``args.tasks`` groups of ``args.group_size`` episodes with state anchors."""
    from anchorgym.envs.vector import make_vec
    from anchorgym.harness.cli import parse_options
    from anchorgym.harness.rollout import rollout
    from anchorgym.policies.registry import make_policy

    kwargs = parse_options(args.env_arg)
    kwargs.pop("anchor_fn", None)  # the comparison needs the true state
    policy = make_policy(args.policy)
    envs = make_vec(
        args.env_id, args.tasks, args.group_size, seed=args.seed, split=args.split, backend=args.backend, **kwargs
    )
    try:
        return rollout(envs, policy, history_length=0, max_steps=args.max_steps, seed=args.seed)
    finally:
        envs.close()
