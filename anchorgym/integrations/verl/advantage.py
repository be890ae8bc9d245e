"""Anchor-aware advantages (GiGPO, HGPO, and every other anchorgym estimator) inside verl's trainer.

verl's registered estimators see token rewards, a response mask and the group ``uid`` only, never
the anchors, so GiGPO's step groups cannot be formed there. The hook takes over verl's
``compute_advantage`` when ``algorithm.adv_estimator=anchorgym``:

1. every row of the batch is one trajectory played by
   :class:`~anchorgym.integrations.verl.agent_loop.AnchorAgentLoop`; its ``uid`` is its episode
   group and its ``extra_fields`` hold one entry per turn (span, pre-step anchor, reward, validity);
2. the turns become step rows ``(group, trajectory, step, reward, anchor)`` and
   :func:`anchorgym.training.advantages.compute` gives one advantage per step, with the invalid-action
   penalty applied as our trainer applies it (:func:`~anchorgym.training.batching.penalised_rewards`);
3. each step's advantage fills its turn's span of model tokens (env tokens keep 0), and verl's losses
   take it from there (``returns`` = ``advantages``, as for verl's GRPO).

Any other ``adv_estimator`` goes to verl's own function unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from anchorgym.errors import ConfigError
from anchorgym.training import advantages as estimators
from anchorgym.training.batching import penalised_rewards

ESTIMATOR_NAME = "anchorgym"  # algorithm.adv_estimator value that selects the hook
_SETTINGS: dict[str, AnchorAdvantageSettings] = {}


@dataclass
class AnchorAdvantageSettings:
    """What the hook computes; the launcher reads it from the top-level ``anchorgym`` config key.

    Attributes:
        estimator: an anchorgym estimator (``gigpo``, ``hgpo``, ``grpo``, ``rloo``, ``mc_grpo``).
        gamma: discount of the step returns; None: the estimator's published default (0.95 for GiGPO/HGPO).
        options: the estimator's options (``mode``, ``stats``, ``omega``, ``history``, ``alpha``...).
        invalid_action_penalty: subtracted for an invalid action (GiGPO: 0.1).
        invalid_action_penalty_mode: ``reward`` (folded into r_t) or ``row`` (verl-agent's; needs ``stats: step``).
    """

    estimator: str = "gigpo"
    gamma: float | None = None
    options: dict[str, Any] = field(default_factory=dict)
    invalid_action_penalty: float = 0.1
    invalid_action_penalty_mode: str = "reward"

    def __post_init__(self) -> None:
        if self.estimator not in estimators.ESTIMATORS:
            raise ConfigError(
                f"anchorgym.estimator must be one of {sorted(estimators.ESTIMATORS)}, got {self.estimator!r}."
            )
        self.options = dict(self.options)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any] | None) -> AnchorAdvantageSettings:
        """Build the settings from a (possibly OmegaConf) mapping, rejecting unknown keys."""
        raw = dict(raw or {})
        known = {"estimator", "gamma", "options", "invalid_action_penalty", "invalid_action_penalty_mode"}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ConfigError(f"Unknown anchorgym settings {unknown}; known: {sorted(known)}.")
        if "options" in raw:
            raw["options"] = {str(k): v for k, v in dict(raw["options"]).items()}
        return cls(**raw)


@dataclass
class StepRows:
    """The batch's turns as step rows, plus where each sits in the response tensor."""

    group: np.ndarray
    traj: np.ndarray
    step: np.ndarray
    reward: np.ndarray
    valid: np.ndarray
    anchor: np.ndarray
    spans: list[tuple[int, int]]


def step_rows(uids: Sequence[Any], extra: Mapping[str, Sequence[Any]]) -> StepRows:
    """Flatten each trajectory's turns (``extra``: the batch's ``anchorgym_*`` columns) into step rows.

    Args:
        uids: verl's ``uid`` of each row (the episode group).
        extra: ``anchorgym_spans``, ``anchorgym_anchors``, ``anchorgym_rewards``, ``anchorgym_valid``, one
            entry per row, each a list with one item per turn.

    Raises:
        ConfigError: a row carries no turns (it was not played by the anchorgym agent loop).
    """
    group, traj, step, reward, valid, anchor, spans = [], [], [], [], [], [], []
    for row, uid in enumerate(uids):
        turns = extra["anchorgym_spans"][row]
        if turns is None or len(turns) == 0:
            raise ConfigError(
                f"Row {row} has no anchorgym turns: algorithm.adv_estimator={ESTIMATOR_NAME} needs every "
                f"trajectory played by the anchorgym agent loop (agent_name 'anchorgym_agent')."
            )
        for t, span in enumerate(turns):
            group.append(str(uid))
            traj.append(row)
            step.append(t)
            reward.append(float(extra["anchorgym_rewards"][row][t]))
            valid.append(bool(extra["anchorgym_valid"][row][t]))
            anchor.append(str(extra["anchorgym_anchors"][row][t]))
            spans.append((int(span[0]), int(span[1])))
    return StepRows(
        np.array(group, dtype=object),
        np.array(traj),
        np.array(step),
        np.array(reward, dtype=np.float64),
        np.array(valid, dtype=bool),
        np.array(anchor, dtype=object),
        spans,
    )


def step_advantages(rows: StepRows, settings: AnchorAdvantageSettings) -> np.ndarray:
    """One advantage per step row, as our trainer computes it (penalty, estimator, options)."""
    rewards, penalties = penalised_rewards(
        rows.reward, rows.valid, settings.invalid_action_penalty, settings.invalid_action_penalty_mode
    )
    return estimators.compute(
        settings.estimator,
        rows.group,
        rows.traj,
        rows.step,
        rewards,
        rows.anchor,
        gamma=settings.gamma,
        penalties=penalties,
        **settings.options,
    )


def spread(values: np.ndarray, rows: StepRows, response_mask: torch.Tensor) -> torch.Tensor:
    """Put each step's value on its turn's span of model tokens: a ``[batch, response_length]`` tensor.

    >>> turns = {"anchorgym_spans": [[[0, 2], [3, 4]]], "anchorgym_rewards": [[0.0, 1.0]],
    ...          "anchorgym_valid": [[True, True]], "anchorgym_anchors": [["a", "b"]]}
    >>> spread(np.array([1.5, -2.0]), step_rows(["g"], turns), torch.tensor([[1, 1, 0, 1, 0]])).tolist()
    [[1.5, 1.5, 0.0, -2.0, 0.0]]
    """
    out = torch.zeros(response_mask.shape, dtype=torch.float32)
    for value, row, (start, end) in zip(values, rows.traj, rows.spans, strict=True):
        out[int(row), start:end] = float(value)
    return out * response_mask.to(out.dtype).cpu()


def anchor_advantages(data: Any, settings: AnchorAdvantageSettings) -> Any:
    """Fill ``data.batch["advantages"]`` and ``["returns"]`` of a verl ``DataProto`` with anchorgym's.

    Returns the same ``DataProto``; its per-step advantages are also kept in
    ``data.meta_info["anchorgym_step_advantages"]`` (in step-row order) for logging and tests.
    """
    mask = data.batch["response_mask"]
    rows = step_rows(data.non_tensor_batch["uid"], data.non_tensor_batch)
    values = step_advantages(rows, settings)
    advantages = spread(values, rows, mask).to(mask.device)
    data.batch["advantages"] = advantages
    data.batch["returns"] = advantages.clone()
    data.meta_info["anchorgym_step_advantages"] = values.tolist()
    return data


def install(settings: AnchorAdvantageSettings) -> None:
    """Route verl's ``compute_advantage`` through the hook for ``adv_estimator=anchorgym`` (idempotent).

    Patches ``verl.trainer.ppo.ray_trainer.compute_advantage``, which ``RayPPOTrainer.fit`` calls,
    in the calling process: the launcher calls it inside verl's task-runner actor.
    """
    from verl.trainer.ppo import ray_trainer

    _SETTINGS["current"] = settings
    if getattr(ray_trainer.compute_advantage, "_anchorgym_original", None) is None:
        original = ray_trainer.compute_advantage

        def compute_advantage(data: Any, adv_estimator: Any, *args: Any, **kwargs: Any) -> Any:
            if str(getattr(adv_estimator, "value", adv_estimator)) != ESTIMATOR_NAME:
                return original(data, adv_estimator, *args, **kwargs)
            return anchor_advantages(data, _SETTINGS["current"])

        compute_advantage._anchorgym_original = original  # type: ignore[attr-defined]
        ray_trainer.compute_advantage = compute_advantage
    _register_estimator_name()


def _register_estimator_name() -> None:
    """Register ``anchorgym`` with verl's estimator registry, so a run without the hook fails clearly."""
    from verl.trainer.ppo import core_algos

    if ESTIMATOR_NAME in core_algos.ADV_ESTIMATOR_REGISTRY:
        return

    @core_algos.register_adv_est(ESTIMATOR_NAME)
    def _needs_the_hook(**_: Any) -> Any:
        raise ConfigError(
            "algorithm.adv_estimator=anchorgym needs anchorgym's hook: launch with "
            "`python -m anchorgym.integrations.verl.main` (it installs the hook in verl's trainer)."
        )
