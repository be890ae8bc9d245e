"""Own policies under `anchorgym eval`: episode starts, the full history, plain-str outputs, crashes; quiet logs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from anchorgym.errors import PolicyError
from anchorgym.harness import records
from anchorgym.harness.runner import evaluate
from anchorgym.policies.base import AgentInput, EpisodeStart, Policy, PolicyOutput

SMOKE = "sokoban-6x6-1box/smoke@v1"
REPO = Path(__file__).resolve().parents[2]
SMOKE_TASKS = [str(1000000000 + i) for i in range(8)]


class Memory(Policy):
    """Keeps its own step count per sub-env, cleared at each episode start; plays a fixed cycle of moves."""

    spec = "memory"
    MOVES = ("up", "left", "down", "right")

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.starts: list[list[EpisodeStart]] = []
        self.seen: list[AgentInput] = []

    def on_episode_start(self, starts):
        self.starts.append(list(starts))
        for start in starts:
            self.counts[start.env_index] = 0

    def act(self, inputs):
        self.seen.extend(inputs)
        moves = []
        for agent_input in inputs:
            moves.append(self.MOVES[self.counts[agent_input.env_index] % 4])
            self.counts[agent_input.env_index] += 1
        return moves  # plain strings: taken as text and action


def test_policies_hear_episode_starts_and_see_the_whole_episode(tmp_path):
    policy = Memory()
    result = evaluate(SMOKE, policy, out=tmp_path, batch_size=3, progress=False)
    assert [[(s.env_index, s.task_id) for s in starts] for starts in policy.starts] == [
        [(0, SMOKE_TASKS[0]), (1, SMOKE_TASKS[1]), (2, SMOKE_TASKS[2])],
        [(0, SMOKE_TASKS[3]), (1, SMOKE_TASKS[4]), (2, SMOKE_TASKS[5])],
        [(0, SMOKE_TASKS[6]), (1, SMOKE_TASKS[7])],  # the last batch's padding plays no episode
    ]
    assert all(s.observation and s.instruction and s.task_type == "sokoban-6x6-1box" for b in policy.starts for s in b)
    for agent_input in policy.seen:
        assert len(agent_input.full_history) == agent_input.step  # every step of the episode so far
        assert agent_input.history == agent_input.full_history[-2:]  # the spec's window (history_length 2)
        assert agent_input.new_episode == (agent_input.step == 0)
        assert agent_input.task_id in SMOKE_TASKS
    longest = max(policy.seen, key=lambda x: x.step)
    assert longest.step >= 5 and [a for _, a in longest.full_history] == [Memory.MOVES[i % 4] for i in
                                                                          range(longest.step)]  # fmt: skip
    episodes = records.read_episodes(tmp_path / "episodes.jsonl")
    assert len(episodes) == 8 and result["metrics"]["episodes"] == 8
    for episode in episodes:  # the memory was cleared at every start: each episode plays the cycle from its start
        assert [s["action"] for s in episode["steps"]] == [Memory.MOVES[i % 4] for i in range(episode["length"])]
        assert all(s["text"] == s["action"] and s["parsed"] for s in episode["steps"])


class Returns(Policy):
    def __init__(self, value) -> None:
        self.value = value

    def act(self, inputs):
        return self.value(inputs)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (lambda inputs: "up",
         "Policy Returns returned str 'up'; act() must return a list with one PolicyOutput (or str) per input "
         "(3 inputs)."),
        (lambda inputs: [{"action": "up"}] * len(inputs),
         "Policy Returns returned dict {'action': 'up'} as output 0; act() must return a list with one PolicyOutput "
         "(or str) per input (3 inputs)."),
        (lambda inputs: [PolicyOutput("up", "up")],
         "Policy Returns returned 1 outputs for 3 inputs; act() must return a list with one PolicyOutput (or str) "
         "per input (3 inputs)."),
    ],
    ids=["one-str", "dicts", "too-few"],
)  # fmt: skip
def test_wrong_outputs_are_a_policy_error_naming_the_expected_type(tmp_path, value, message):
    with pytest.raises(PolicyError) as caught:
        evaluate(SMOKE, Returns(value), out=tmp_path, batch_size=3, progress=False)
    assert str(caught.value) == message


CRASHY = '''
from pathlib import Path

from anchorgym.policies.base import Policy


class Crashy(Policy):
    """Plays 'up'; raises at step 2 of task 1000000004 while the file `flag` exists."""

    def __init__(self, generation, flag):
        self.generation, self.flag = generation, Path(flag)

    def act(self, inputs):
        for x in inputs:
            if x.task_id == "1000000004" and x.step == 2 and self.flag.exists():
                return [1 / 0]
        return ["up" for _ in inputs]


def make(generation, flag):
    return Crashy(generation, flag)
'''


def test_a_policy_crash_is_one_line_saying_where_and_resume_continues(tmp_path):
    (tmp_path / "crashy.py").write_text(CRASHY)
    flag = tmp_path / "crash"
    flag.write_text("crash while this exists")
    args = [sys.executable, "-m", "anchorgym.cli", "eval", SMOKE, "--policy", "crashy:make", "--policy-option",
            f"flag={flag}", "--batch-size", "3", "--out", "run", "--no-progress"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 2 and done.stderr.splitlines() == [
        "error: Policy crashy:make raised ZeroDivisionError: division by zero in act() at step 2 (tasks 1000000003, "
        "1000000004, 1000000005) in batch 1 of seed 0. Fix the policy, then rerun the same command with --resume: "
        "the episodes already recorded are kept."
    ], done.stderr
    kept = records.read_episodes(tmp_path / "run" / "episodes.jsonl")
    assert sorted(r["task_id"] for r in kept) == SMOKE_TASKS[:3]  # batch 0 finished before the crash
    flag.unlink()
    resumed = subprocess.run([*args, "--resume"], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["run"]["episodes_resumed"] == 3 and result["metrics"]["episodes"] == 8


def test_progress_outside_a_terminal_is_a_few_lines(tmp_path):
    args = [sys.executable, "-m", "anchorgym.cli", "eval", SMOKE, "--policy", "expert", "--batch-size", "3"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([*args, "--out", str(tmp_path / "a")], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stderr
    counts = [int(m) for m in re.findall(rf"^{re.escape(SMOKE)}: (\d)/8 episodes", done.stderr, re.M)]
    assert counts == [0, 1, 2, 3, 4, 5, 6, 7, 8] and len(done.stderr.splitlines()) == 9  # one per tenth reached
    assert done.stderr.splitlines()[-1] == f"{SMOKE}: 8/8 episodes, success 100.0%"
    quiet = subprocess.run([*args, "--out", str(tmp_path / "b"), "--no-progress"], capture_output=True, text=True,
                           env=env, timeout=300)  # fmt: skip
    assert quiet.returncode == 0 and quiet.stderr == ""
