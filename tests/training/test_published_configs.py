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
    configs = {p.name for p in (ROOT / "configs").glob("*.yaml")}
    published = {name for name in configs if name != "sokoban-tiny-cpu.yaml" and "-state" not in name}
    assert published == set(FIXTURE["published"]) == set(SCRIPTS["scripts"])


# --------------------------------------------------------------- settings against verl-agent's scripts
SCRIPTS = json.loads((Path(__file__).parent / "fixtures" / "verl_agent_scripts.json").read_text())

# verl-agent key -> how our config states it. Keys that do not change results (GPU counts, micro-batch sizes,
# which only split the same gradient, logging, checkpoint cadence) are not compared.
OURS = {
    "algorithm.adv_estimator": lambda c: c.estimator,
    "algorithm.gigpo.mode": lambda c: c.estimator_options["mode"],
    "algorithm.gigpo.step_advantage_w": lambda c: c.estimator_options.get("omega", 1.0),
    "algorithm.hgpo.mode": lambda c: c.estimator_options["mode"],
    "algorithm.hgpo.length_weight_alpha": lambda c: c.estimator_options["alpha"],
    "algorithm.hgpo.base_group": lambda c: c.estimator_options["episode"] != "none",
    "algorithm.gamma": lambda c: c.gamma,
    "data.train_batch_size": lambda c: c.num_tasks,
    "env.rollout.n": lambda c: c.group_size,
    "env.max_steps": lambda c: c.max_steps,
    "env.history_length": lambda c: c.history_length,
    "data.max_prompt_length": lambda c: c.max_prompt_length,
    "data.max_response_length": lambda c: c.max_new_tokens,
    "data.truncation": lambda c: c.prompt_truncation,
    "actor_rollout_ref.actor.optim.lr": lambda c: c.learning_rate,
    "actor_rollout_ref.actor.optim.lr_warmup_steps_ratio": lambda c: c.lr_warmup_ratio,
    "actor_rollout_ref.actor.optim.weight_decay": lambda c: c.weight_decay,
    "actor_rollout_ref.actor.ppo_mini_batch_size": lambda c: c.mini_batch_size,
    "actor_rollout_ref.actor.ppo_epochs": lambda c: c.ppo_epochs,
    "actor_rollout_ref.actor.shuffle": lambda c: c.shuffle_mini_batches,
    "actor_rollout_ref.actor.grad_clip": lambda c: c.max_grad_norm,
    "actor_rollout_ref.actor.clip_ratio_low": lambda c: c.clip_eps,
    "actor_rollout_ref.actor.clip_ratio_high": lambda c: c.clip_eps,
    "actor_rollout_ref.actor.clip_ratio_c": lambda c: c.clip_ratio_c,
    "actor_rollout_ref.actor.loss_agg_mode": lambda c: c.loss_aggregation,
    "actor_rollout_ref.actor.entropy_coeff": lambda c: c.entropy_coef,
    "actor_rollout_ref.actor.kl_loss_coef": lambda c: c.kl_coef,
    "actor_rollout_ref.actor.kl_loss_type": lambda c: {"k3": "low_var_kl", "k2": "mse", "k1": "kl"}[c.kl_estimator],
    "actor_rollout_ref.actor.invalid_action_penalty_coef": lambda c: c.invalid_action_penalty,
    "actor_rollout_ref.rollout.temperature": lambda c: c.temperature,
    "actor_rollout_ref.rollout.val_kwargs.temperature": lambda c: c.eval_temperature,
    "actor_rollout_ref.rollout.val_kwargs.do_sample": lambda c: c.eval_temperature > 0,
    "trainer.test_freq": lambda c: c.eval_every,
    "trainer.total_epochs": lambda c: c.iterations,
    "trainer.save_freq": lambda c: c.save_every,
    "trainer.val_before_train": lambda c: c.eval_before_train,
    "agent_system.environments.env_manager.anchor": lambda c: {"observation": "text_obs"}.get(c.anchor, c.anchor),
}
NOT_FROM_SCRIPTS = {"script"}  # bookkeeping keys of the fixture
# Where a published config departs from its script on purpose, with the reason (also in training/README.md).
KNOWN_DIFFERENCES = {
    # verl-agent saves nothing (save_freq -1); a checkpoint every 10 iterations changes no result
    ("alfworld.yaml", "trainer.save_freq"): 10,
    ("webshop.yaml", "trainer.save_freq"): 10,
    ("sokoban.yaml", "trainer.save_freq"): 10,
    # the script trains one epoch over Search-R1's NQ+HotpotQA set (~660 iterations of 256 questions) and
    # validates/saves every 50; our synthetic questions take 100 iterations, validated and saved every 10
    ("toolqa.yaml", "trainer.total_epochs"): 100,
    ("toolqa.yaml", "trainer.test_freq"): 10,
    ("toolqa.yaml", "trainer.save_freq"): 10,
}


def script_settings(name: str) -> dict:
    """The script's settings over verl-agent's defaults."""
    settings = {**SCRIPTS["defaults"], **SCRIPTS["scripts"][name]}
    return {key: value for key, value in settings.items() if key not in NOT_FROM_SCRIPTS}


@pytest.mark.parametrize("name", sorted(SCRIPTS["scripts"]))
def test_published_config_has_every_setting_of_verl_agents_script(name):
    config = TrainConfig.from_yaml(ROOT / "configs" / name)
    different = {
        key: (expected, OURS[key](config))
        for key, expected in script_settings(name).items()
        if key in OURS and OURS[key](config) != pytest.approx(expected)
    }
    known = {key: ours for (config_name, key), ours in KNOWN_DIFFERENCES.items() if config_name == name}
    assert {key: ours for key, (_, ours) in different.items()} == known


def test_every_script_setting_is_compared():
    keys = {key for name in SCRIPTS["scripts"] for key in script_settings(name)}
    assert keys - set(OURS) == set()


@pytest.mark.parametrize("name", ["alfworld.yaml", "webshop.yaml", "alfworld-hgpo.yaml", "webshop-hgpo.yaml"])
def test_state_anchor_variant_differs_only_in_its_anchor(name):
    state_name = name.replace(".yaml", "-state.yaml") if "hgpo" in name else name.replace(".yaml", "-gigpo-state.yaml")
    published = TrainConfig.from_yaml(ROOT / "configs" / name).to_dict()
    variant = TrainConfig.from_yaml(ROOT / "configs" / state_name).to_dict()
    assert (published.pop("anchor"), variant.pop("anchor")) == ("observation", "state")
    assert published.pop("output_dir") + "-state" == variant.pop("output_dir")
    assert published == variant
