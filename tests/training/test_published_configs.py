"""Each published config gives verl-agent's advantages on recorded step batches.

``fixtures/verl_agent_advantages.json`` holds step batches and the advantages verl-agent's
trainer gives them at each published setting (see ``fixtures/record_verl_agent.py`` for how
they were computed and checked against verl-agent's own functions).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from anchorgym.training.config import TrainConfig
from anchorgym.training.trainer import step_advantages

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "verl_agent_advantages.json").read_text())


def columns(rows: list[dict]) -> dict[str, np.ndarray]:
    """The columns ``episode_columns`` gives the trainer, from recorded rows."""
    return {
        "group": np.array([r["group"] for r in rows]),
        "traj": np.array([r["traj"] for r in rows]),
        "step": np.array([r["step"] for r in rows]),
        "reward": np.array([r["reward"] for r in rows], dtype=np.float64),
        "valid": np.array([r["valid"] for r in rows], dtype=bool),
        "anchor": np.array([r["anchor"] for r in rows], dtype=object),
    }


@pytest.mark.parametrize("name", sorted(FIXTURE["published"]))
def test_published_config_gives_verl_agents_advantages(name):
    config = TrainConfig.from_yaml(ROOT / "configs" / name)
    for rows, expected in zip(FIXTURE["batches"], FIXTURE["advantages"][name], strict=True):
        adv, _ = step_advantages(config, columns(rows))
        assert adv.tolist() == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_the_folded_penalty_is_not_verl_agents():
    """Guard on the fixture: our own default (penalty folded into r_t, trajectory statistics) differs from it."""
    raw = TrainConfig.from_yaml(ROOT / "configs" / "sokoban.yaml").to_dict()
    raw.update(invalid_action_penalty_mode="reward", estimator_options={"mode": "mean_norm"})
    adv, _ = step_advantages(TrainConfig.from_dict(raw), columns(FIXTURE["batches"][0]))
    assert np.abs(adv - np.array(FIXTURE["advantages"]["sokoban.yaml"][0])).max() > 0.05


def test_every_published_config_is_checked():
    published = {p.name for p in (ROOT / "configs").glob("*.yaml") if p.name != "sokoban-tiny-cpu.yaml"}
    assert published == set(FIXTURE["published"])
