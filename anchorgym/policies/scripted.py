"""Scripted policies: ``random`` (uniform over admissible actions) and ``expert`` (the env's own expert)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from anchorgym.errors import PolicyError
from anchorgym.policies.base import AgentInput, GenerationConfig, Policy, PolicyOutput, step_rng


def env_class(envs: Any) -> type:
    """Return the env class behind vector env ``envs`` (read from the registry, no env is made)."""
    from anchorgym.envs.registry import env_info, load_entry_point

    return load_entry_point(env_info(envs.env_id).entry_point)


def env_class_has(envs: Any, method: str) -> bool:
    """Return whether the env class behind ``envs`` defines ``method``."""
    return hasattr(env_class(envs), method)


class RandomPolicy(Policy):
    """Pick uniformly among the admissible actions.

    Each input's draw comes from its own step seed (``AgentInput.seed``, see :func:`step_rng`), so an
    episode's actions depend only on its identity and step; inputs without one draw from ``rng``
    (seeded from ``generation.seed``). For an open action space (``admissible_actions is None``) it
    asks the env for one through its ``random_action()`` method, which needs :meth:`bind`; the env
    draws it from its own generator, seeded per episode by ``reset(seed=...)``.

    Args:
        generation: only ``seed`` is used.
    """

    def __init__(self, generation: GenerationConfig | None = None) -> None:
        self.generation = generation or GenerationConfig()
        self.rng = np.random.default_rng(self.generation.seed)
        self.envs: Any = None

    def bind(self, envs: Any) -> None:
        """Keep the vector env, for envs with open action spaces."""
        self.envs = envs

    def act(self, inputs: Sequence[AgentInput]) -> list[PolicyOutput]:
        """Return a uniformly drawn admissible action per input."""
        open_indices = [x.env_index for x in inputs if x.admissible_actions is None]
        drawn = iter(self._env_random_actions(open_indices, inputs) if open_indices else [])
        outputs = []
        for agent_input in inputs:
            actions = agent_input.admissible_actions
            if actions is None:
                action = next(drawn)
            elif not actions:
                raise PolicyError(f"Env {agent_input.env_index} offers no admissible actions to choose from.")
            else:
                action = actions[int(step_rng(agent_input, self.rng).integers(len(actions)))]
            outputs.append(PolicyOutput(text=action, action=action))
        return outputs

    def _env_random_actions(self, indices: list[int], inputs: Sequence[AgentInput]) -> list[str]:
        env_id = inputs[0].env_id
        if self.envs is None or not env_class_has(self.envs, "random_action"):
            raise PolicyError(
                f"The random policy cannot act in {env_id}: its action space is open (no admissible actions) and "
                "the env has no random_action() method, or the policy was not bound to the vector env "
                "(call policy.bind(vec_env) first)."
            )
        return [str(a) for a in self.envs.call_at(indices, "random_action")]


class ExpertPolicy(Policy):
    """Ask each sub-env for its expert's next action (``vec_env.call_at(indices, "expert_action")``).

    Args:
        generation: unused; recorded for completeness.
    """

    def __init__(self, generation: GenerationConfig | None = None) -> None:
        self.generation = generation
        self.envs: Any = None

    def bind(self, envs: Any) -> None:
        """Keep the vector env whose experts will be asked."""
        from anchorgym.envs.core import AnchorEnv

        if getattr(env_class(envs), "expert_action", None) in (None, AnchorEnv.expert_action):
            raise PolicyError(
                f"{envs.env_id} has no expert (its env class does not implement expert_action). "
                "Use another policy, e.g. 'random'."
            )
        self.envs = envs

    def act(self, inputs: Sequence[AgentInput]) -> list[PolicyOutput]:
        """Return each sub-env's expert action."""
        if self.envs is None:
            raise PolicyError("The expert policy must be bound to a vector env first: call policy.bind(vec_env).")
        actions = self.envs.call_at([x.env_index for x in inputs], "expert_action")
        return [PolicyOutput(text=str(a), action=str(a)) for a in actions]
