"""The shared episode loop on the real Sokoban env."""

from __future__ import annotations

import pytest

from anchorgym.envs.vector import make_vec
from anchorgym.errors import ConfigError
from anchorgym.harness.rollout import rollout
from anchorgym.policies.base import AgentInput, Policy, PolicyOutput
from anchorgym.policies.registry import make_policy

SOKOBAN = "anchorgym/Sokoban-v0"
TASKS = ["1000000000", "1000000001", "1000000002"]


class Recorder(Policy):
    """Plays fixed text each step and keeps every input it saw; reports fake token ids for bookkeeping."""

    def __init__(self, text: str) -> None:
        self.text, self.inputs = text, []

    def act(self, inputs):
        self.inputs.extend(inputs)
        return [PolicyOutput(text=self.text, action=self.text, parsed=self.text in ("up", "down", "left", "right"),
                             prompt_token_ids=[1, 2, 3], response_token_ids=[4], logprobs=[-0.5])
                for _ in inputs]  # fmt: skip


@pytest.fixture()
def envs():
    vec = make_vec(SOKOBAN, num_tasks=3, split="test")
    yield vec
    vec.close()


def test_expert_rollout_records_anchor_of_state_acted_from(envs):
    finished = []
    episodes = rollout(envs, make_policy("expert"), task_ids=TASKS, seeds=[1, 2, 3], on_episode=finished.append)
    assert [e.task_id for e in episodes] == TASKS and len(finished) == 3
    for episode in episodes:
        assert episode.won and episode.score == 1.0 and episode.terminated and not episode.truncated
        assert episode.steps[-1].reward > 9  # +10 for solving
        assert episode.episode_return == pytest.approx(sum(s.reward for s in episode.steps))
        assert [s.step for s in episode.steps] == list(range(episode.length))
        # each step's anchor is the state it acted from: the first equals the reset anchor, all differ after a push
        anchors = [s.anchor for s in episode.steps]
        assert len(set(anchors)) == len(anchors)
        assert episode.steps[1].observation != episode.steps[0].observation
    first_anchor = envs.reset(options={"task_ids": TASKS, "seeds": [1, 2, 3]})[1]["anchor"][0]
    assert episodes[0].steps[0].anchor == first_anchor


def test_invalid_text_is_recorded_and_history_is_capped(envs):
    policy = Recorder("jump")
    episodes = rollout(envs, policy, task_ids=TASKS, history_length=2, skip=[2])
    assert len(episodes) == 2  # the skipped sub-env plays nothing
    for episode in episodes:
        assert episode.length == 15 and episode.truncated and not episode.won
        assert not any(s.action_valid or s.parsed for s in episode.steps)
        assert episode.episode_return == pytest.approx(-1.5)  # -0.1 per no-op step
        assert episode.steps[0].tokens_in == 3 and episode.steps[0].logprobs == [-0.5]
        assert len({s.anchor for s in episode.steps}) == 1  # invalid actions never change the state
    seen = [x for x in policy.inputs if x.env_index == 0]
    assert [len(x.history) for x in seen[:4]] == [0, 1, 2, 2]
    assert seen[3].history[-1] == (seen[2].observation, "jump") and seen[3].step == 3
    assert isinstance(seen[0], AgentInput) and seen[0].admissible_actions == ["up", "down", "left", "right"]
    assert "Sokoban" in seen[0].instruction and seen[0].env_id == SOKOBAN


def test_rollout_step_cap_truncates(envs):
    episodes = rollout(envs, Recorder("up"), task_ids=TASKS, max_steps=4)
    assert [e.length for e in episodes] == [4, 4, 4]
    assert all(e.truncated and not e.terminated for e in episodes)
    with pytest.raises(ConfigError, match="history_length must be >= 0"):
        rollout(envs, Recorder("up"), history_length=-1)
