"""Small real envs for the policy tests: reach a target number by adding steps."""

from __future__ import annotations

from anchorgym.envs.core import AnchorEnv, Transition
from anchorgym.envs.registry import EnvInfo, register
from anchorgym.policies.prompting import PromptTemplate, register_template

COUNTER_ID = "anchorgym-test/Counter-v0"
OPEN_COUNTER_ID = "anchorgym-test/OpenCounter-v0"
MOVES = {"add 1": 1, "add 3": 3, "sub 1": -1}


class CounterEnv(AnchorEnv):
    """Start at 0; reach the target (the task id) with 'add 1', 'add 3' or 'sub 1'."""

    default_max_steps = 20

    def task_ids(self) -> list[str]:
        return ["4", "7", "10", "2"]

    def _load_task(self, task_id: str) -> str:
        self.value, self.target = 0, int(task_id)
        return f"The counter shows {self.value}."

    def _apply(self, action: str) -> Transition:
        self.value += MOVES[action]
        self.won = self.value == self.target
        return Transition(f"The counter shows {self.value}.", reward=float(self.won), terminated=self.won)

    def anchor_state(self) -> tuple[int, int]:
        return (self.value, self.target)

    def admissible_actions(self) -> list[str] | None:
        return list(MOVES)

    @property
    def instruction(self) -> str:
        return f"Make the counter show {self.target}."

    def expert_action(self) -> str:
        gap = self.target - self.value
        return "add 3" if gap >= 3 else "add 1" if gap > 0 else "sub 1"


class OpenCounterEnv(CounterEnv):
    """The same task with an open action space ('add N' for any integer N)."""

    def admissible_actions(self) -> list[str] | None:
        return None

    def parse_action(self, action: str) -> str | None:
        verb, _, number = action.strip().partition(" ")
        return action.strip() if verb == "add" and number.lstrip("-").isdigit() else None

    def _apply(self, action: str) -> Transition:
        self.value += int(action.split()[1])
        self.won = self.value == self.target
        return Transition(f"The counter shows {self.value}.", reward=float(self.won), terminated=self.won)

    def random_action(self) -> str:
        return f"add {int(self.np_random.integers(-2, 4))}"

    def expert_action(self) -> str:
        return f"add {self.target - self.value}"


TEMPLATE = PromptTemplate(
    name="counter",
    version="1",
    system="You operate a counter. Think in <think>...</think>, answer in <action>...</action>.",
    first_step="{instruction}\n{observation}\nActions:\n{admissible_actions}",
    later_steps="{instruction}\nRecent steps:\n{history}\nNow: {observation}\nActions:\n{admissible_actions}",
)


def register_toy_envs() -> None:
    """Register both toy envs and their prompt template (idempotent)."""
    for env_id, cls in ((COUNTER_ID, "CounterEnv"), (OPEN_COUNTER_ID, "OpenCounterEnv")):
        register(EnvInfo(id=env_id, entry_point=f"policies_toyenv:{cls}", splits=("train",), max_steps=20))
        register_template(env_id, TEMPLATE)
