"""Trivial AppWorld policies, to show that the tasks cannot be passed by shortcuts.

* ``complete_only``: marks the task complete at once, with no answer and no change.
* ``random_api``: calls one API of the suite's apps, drawn at random, per step
  (with no arguments; the pick happens inside the world from AppWorld's own API
  list), for ``RANDOM_API_STEPS`` steps, then completes the task.

Use them as ``--policy anchorgym.envs.appworld.baselines:complete_only`` (or
``:random_api``) with ``anchorgym eval``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from anchorgym.envs.appworld.expert import as_action
from anchorgym.policies.base import AgentInput, GenerationConfig, Policy, PolicyOutput

COMPLETE = "apis.supervisor.complete_task()"
RANDOM_API_APPS = ("phone", "venmo", "simple_note", "file_system", "supervisor")
RANDOM_API_STEPS = 5


class CompleteOnlyPolicy(Policy):
    """Complete every task at once."""

    def __init__(self, generation: GenerationConfig | None = None) -> None:
        self.generation = generation

    def act(self, inputs: Sequence[AgentInput]) -> list[PolicyOutput]:
        """Return the completing action for every input."""
        return [PolicyOutput(text=as_action(COMPLETE), action=as_action(COMPLETE)) for _ in inputs]


class RandomApiPolicy(Policy):
    """Call a random API per step (seeded by the step's seed), then complete the task."""

    def __init__(self, generation: GenerationConfig | None = None, steps: int = RANDOM_API_STEPS) -> None:
        self.generation = generation or GenerationConfig()
        self.rng = np.random.default_rng(self.generation.seed)
        self.steps = int(steps)

    def act(self, inputs: Sequence[AgentInput]) -> list[PolicyOutput]:
        """Return one random API call per input (or the completion once ``steps`` calls are made)."""
        outputs = []
        for agent_input in inputs:
            rng = np.random.default_rng(agent_input.seed) if agent_input.seed is not None else self.rng
            if agent_input.step >= self.steps:
                code = COMPLETE
            else:
                app = RANDOM_API_APPS[int(rng.integers(len(RANDOM_API_APPS)))]
                pick = int(rng.integers(1 << 30))
                code = (
                    f'names = sorted(d["name"] for d in apis.api_docs.show_api_descriptions(app_name="{app}"))\n'
                    f"name = names[{pick} % len(names)]\n"
                    f"print(name, getattr(apis.{app}, name)())"
                )
            outputs.append(PolicyOutput(text=as_action(code), action=as_action(code)))
        return outputs


def complete_only(generation: GenerationConfig | None = None, **_options: object) -> CompleteOnlyPolicy:
    """Factory for ``--policy anchorgym.envs.appworld.baselines:complete_only``."""
    return CompleteOnlyPolicy(generation)


def random_api(generation: GenerationConfig | None = None, steps: int = RANDOM_API_STEPS) -> RandomApiPolicy:
    """Factory for ``--policy anchorgym.envs.appworld.baselines:random_api``."""
    return RandomApiPolicy(generation, steps)
