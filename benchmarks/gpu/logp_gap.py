"""How far the sampler's log-probs sit from the learner's: the case for re-scoring PPO's pi_old.

One rollout of SmolLM2-135M-Instruct on Sokoban (text actions, ``configs/sokoban.yaml``'s
prompt) with the trainer's sampler, then the learner's re-scoring of every step: on a GPU under
bf16 autocast as the trainer runs it, on a CPU emulated by turning bf16 autocast on there. Prints
the gap and what PPO would have seen had the sampler's log-probs been ``pi_old``: the share of
tokens whose ratio ``pi_learner / pi_sampler`` is already outside [0.95, 1.05] and outside the
clip range [0.8, 1.2] before any update. Usage:

    python benchmarks/gpu/logp_gap.py [--device cpu|cuda] [--groups 2] [--group-size 4] [--steps 3]

Writes benchmarks/results/logp_gap.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from anchorgym.harness.rollout import rollout  # noqa: E402
from anchorgym.training.config import TrainConfig  # noqa: E402
from anchorgym.training.trainer import Trainer  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "logp_gap.json"


def measure(args: argparse.Namespace, work: Path) -> dict[str, float]:
    """Roll out once, re-score with the learner under bf16 autocast, return the gap statistics."""
    raw = TrainConfig.from_yaml(ROOT / "configs" / "sokoban.yaml").to_dict()
    raw.update(
        model="smollm2",
        device=args.device,
        num_tasks=args.groups,
        group_size=args.group_size,
        max_steps=args.steps,
        max_new_tokens=args.max_new_tokens,
        output_dir=str(work / "run"),
        eval_every=0,
        progress=False,
        kl_coef=0.0,
    )
    trainer = Trainer(TrainConfig.from_dict(raw))
    try:
        trainer.rollout_policy.reseed(0)
        torch.manual_seed(0)
        episodes = rollout(
            trainer.envs, trainer.rollout_policy, history_length=raw["history_length"], max_steps=args.steps, seed=0
        )
        samples, _ = trainer.make_samples(episodes)
        trainer.learner.autocast = True  # the trainer's GPU setting; on a CPU this emulates it
        rescored, gap = trainer.learner.recompute_old_logprobs(samples, raw["micro_batch_size"])
    finally:
        trainer.close()
    sampler = torch.cat([torch.tensor(s.old_logprobs) for s in samples])
    learner = torch.cat([torch.tensor(s.old_logprobs) for s in rescored])
    ratio = torch.exp(learner - sampler)
    return {
        **gap,
        "tokens": int(len(ratio)),
        "outside_0.95_1.05": float(((ratio < 0.95) | (ratio > 1.05)).float().mean()),
        "outside_clip_0.8_1.2": float(((ratio < 0.8) | (ratio > 1.2)).float().mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--groups", type=int, default=2)
    parser.add_argument("--group-size", type=int, default=4)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        result = {"device": args.device, **measure(args, Path(work))}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=RESULTS.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        json.dump({"schema_version": 1, **result}, handle, indent=2)
    os.replace(tmp, RESULTS)
    print(
        f"GAP sampler_vs_learner_bf16 on {args.device}: mean |dlogp| {result['rollout/logp_gap_mean']:.4f}, "
        f"max {result['rollout/logp_gap_max']:.3f} over {result['tokens']} tokens; ratio outside [0.95, 1.05]: "
        f"{result['outside_0.95_1.05']:.1%}, outside the clip range: {result['outside_clip_0.8_1.2']:.1%}"
    )


if __name__ == "__main__":
    main()
