"""Trivial AppWorld policies, to show that the tasks cannot be passed by shortcuts.

* ``complete_only``: marks the task complete at once, with no answer and no change.
* ``random_api``: calls one API, drawn at random, per step (with no arguments; the
  pick happens inside the world from its ``api_docs`` app's lists of apps and APIs,
  as an agent would look them up), for ``RANDOM_API_STEPS`` steps, then completes
  the task. Only suite version 3 fills the ``api_docs`` app: in older worlds the
  lookup finds no app and each step's code fails before calling anything.

Use them as ``--policy anchorgym.envs.appworld.baselines:complete_only`` (or
``:random_api``) with ``anchorgym eval``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from anchorgym.envs.appworld.expert import as_action
from anchorgym.policies.base import AgentInput, GenerationConfig, Policy, PolicyOutput

COMPLETE = "apis.supervisor.complete_task()"
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
                app_pick, api_pick = (int(pick) for pick in rng.integers(1 << 30, size=2))
                code = (
                    'apps = sorted(a["name"] for a in apis.api_docs.show_app_descriptions())\n'
                    f"app = apps[{app_pick} % len(apps)]\n"
                    'names = sorted(d["name"] for d in apis.api_docs.show_api_descriptions(app_name=app))\n'
                    f"name = names[{api_pick} % len(names)]\n"
                    "print(app, name, getattr(getattr(apis, app), name)())"
                )
            outputs.append(PolicyOutput(text=as_action(code), action=as_action(code)))
        return outputs


def complete_only(generation: GenerationConfig | None = None, **_options: object) -> CompleteOnlyPolicy:
    """Factory for ``--policy anchorgym.envs.appworld.baselines:complete_only``."""
    return CompleteOnlyPolicy(generation)


def random_api(generation: GenerationConfig | None = None, steps: int = RANDOM_API_STEPS) -> RandomApiPolicy:
    """Factory for ``--policy anchorgym.envs.appworld.baselines:random_api``."""
    return RandomApiPolicy(generation, steps)
