"""A typed OpenEnv client for an anchorgym server, on OpenEnv's own :class:`~openenv.core.EnvClient`.

>>> from anchorgym.integrations.openenv import AnchorEnvClient  # doctest: +SKIP
>>> with AnchorEnvClient(base_url="http://127.0.0.1:8000").sync() as env:  # doctest: +SKIP
...     result = env.reset(seed=0, task_id="1000008115")
...     result = env.step(AnchorAction(text="up"))
...     result.observation.info["anchor"], result.reward, result.done

:func:`gym_step` turns a step's :class:`~openenv.core.client_types.StepResult` back into
gymnasium's ``(obs, reward, terminated, truncated, info)``.
"""

from __future__ import annotations

from typing import Any

from openenv.core.client_types import StepResult
from openenv.core.env_client import EnvClient

from anchorgym.integrations.openenv.types import AnchorAction, AnchorObservation, AnchorState


class AnchorEnvClient(EnvClient[AnchorAction, AnchorObservation, AnchorState]):
    """OpenEnv client whose actions, observations and state are anchorgym's types."""

    def _step_payload(self, action: AnchorAction) -> dict[str, Any]:
        if isinstance(action, str):  # a bare action text is the common case
            action = AnchorAction(text=action)
        return action.model_dump(exclude_defaults=True) or {"text": ""}

    def _parse_result(self, payload: dict[str, Any]) -> StepResult[AnchorObservation]:
        observation = AnchorObservation(
            **payload.get("observation", {}), reward=payload.get("reward"), done=payload.get("done", False)
        )
        return StepResult(observation=observation, reward=observation.reward, done=observation.done)

    def _parse_state(self, payload: dict[str, Any]) -> AnchorState:
        return AnchorState(**payload)


def gym_reset(result: StepResult[AnchorObservation]) -> tuple[str, dict[str, Any]]:
    """Return ``(obs, info)`` of a reset's result, as ``env.reset`` returns them."""
    return result.observation.text, result.observation.info


def gym_step(result: StepResult[AnchorObservation]) -> tuple[str, float, bool, bool, dict[str, Any]]:
    """Return ``(obs, reward, terminated, truncated, info)`` of a step's result, as ``env.step`` returns them."""
    obs = result.observation
    return obs.text, float(result.reward or 0.0), obs.terminated, obs.truncated, obs.info
