"""A trivially learnable env for the training tests: walk right along a short corridor."""

from __future__ import annotations

from anchorgym.envs.core import AnchorEnv, Transition
from anchorgym.envs.registry import EnvInfo, register
from anchorgym.policies.prompting import PromptTemplate, register_template

CORRIDOR_ID = "anchorgym-test/Corridor-v0"
LENGTH = 3


class CorridorEnv(AnchorEnv):
    """Start at cell 0; reward 1 on reaching cell 3. 'left' at cell 0 stays put. 5 steps."""

    default_max_steps = 5

    def __init__(self, fail_task: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self.fail_task = fail_task  # raise on the first step of this task (the per-env error path)

    def task_ids(self) -> list[str]:
        return ["a", "b"]

    def _load_task(self, task_id: str) -> str:
        self.cell = 0
        return self._obs()

    def _obs(self) -> str:
        return f"cell {self.cell}"

    def _apply(self, action: str) -> Transition:
        if self.task_id == self.fail_task:
            raise RuntimeError(f"task {self.task_id} fails on purpose")
        self.cell = max(0, self.cell + (1 if action == "right" else -1))
        self.won = self.cell == LENGTH
        return Transition(self._obs(), reward=float(self.won), terminated=self.won)

    def anchor_state(self) -> int:
        return self.cell

    def admissible_actions(self) -> list[str]:
        return ["left", "right"]

    @property
    def instruction(self) -> str:
        return "Reach cell 3."


TEMPLATE = PromptTemplate(
    name="corridor",
    version="1",
    system="Walk.",
    first_step="{instruction} {observation}",
    later_steps="{instruction} {observation}",
)


def register_corridor() -> str:
    """Register the corridor env and its template (idempotent); return its id."""
    register(EnvInfo(id=CORRIDOR_ID, entry_point=f"{__name__}:CorridorEnv", splits=("train",), max_steps=5))
    register_template(CORRIDOR_ID, TEMPLATE)
    return CORRIDOR_ID
