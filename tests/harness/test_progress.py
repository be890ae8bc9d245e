"""Step-level progress for model policies: steps, episodes and tokens/s between episode lines (issue #28)."""

from __future__ import annotations

import io

from anchorgym.harness import progress as progress_module
from anchorgym.harness.progress import Progress
from anchorgym.harness.rollout import rollout
from anchorgym.policies.base import AgentInput, Policy, PolicyOutput


class Clock:
    """A clock the test moves by hand (nothing depends on real time)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _outputs(tokens: int, count: int) -> list[PolicyOutput]:
    return [PolicyOutput("up", "up", True, [1, 2], list(range(tokens)), [0.0] * tokens) for _ in range(count)]


def test_log_shows_steps_and_tokens_per_second_while_no_episode_finishes():
    stream, clock = io.StringIO(), Clock()
    bar = Progress(8, [], "bench@v1", enabled=True, stream=stream, clock=clock)
    assert stream.getvalue() == "bench@v1: 0/8 episodes\n"
    bar.new_batch()
    clock.now += 10
    bar.step(4, 0, _outputs(8, 4))  # 10 s in: too soon for a step line
    assert stream.getvalue().count("\n") == 1
    clock.now += progress_module.STEP_LOG_SECONDS
    bar.step(4, 0, _outputs(8, 4))  # 64 tokens in 40 s
    assert stream.getvalue().splitlines()[-1] == (
        "bench@v1: 0/8 episodes, batch step 2 (4 running), 2 steps, 1.6 tokens/s"
    )  # was silent until a tenth of the episodes finished (7 minutes of "0/8" on a CPU)
    bar.add(True)
    assert stream.getvalue().splitlines()[-1] == "bench@v1: 1/8 episodes, success 100.0%"


def test_scripted_policies_log_no_token_rate():
    stream, clock = io.StringIO(), Clock()
    bar = Progress(2, [], "b", enabled=True, stream=stream, clock=clock)
    clock.now += progress_module.STEP_LOG_SECONDS
    bar.step(2, 0, [PolicyOutput("up", "up", True, None, None, None)] * 2)
    assert stream.getvalue().splitlines()[-1] == "b: 0/2 episodes, batch step 1 (2 running), 1 steps"


class Up(Policy):
    def act(self, inputs: list[AgentInput]) -> list[PolicyOutput]:
        return _outputs(3, len(inputs))


def test_the_rollout_hands_each_steps_outputs_to_the_progress():
    import anchorgym

    envs = anchorgym.make_vec("anchorgym/Sokoban-v1", num_tasks=2, split="test", backend="sync", max_steps=4)
    seen: list[tuple[int, int, int]] = []
    try:
        rollout(envs, Up(), seeds=[0, 1], on_step=lambda a, f, outputs: seen.append((a, f, len(outputs))))
    finally:
        envs.close()
    assert seen and seen[0][2] == 2 and all(count >= 1 for _, _, count in seen)
