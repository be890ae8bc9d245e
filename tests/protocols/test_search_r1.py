"""Search-R1's protocol (``ToolQA-v2``): turn rules, trajectory text and whole-text scoring equal Search-R1's code.

``data/search_r1_cases.json`` holds what Search-R1's own functions gave on recorded turns over the small
data set in ``data/search_r1`` (source and commit in its ``source``): per turn its ``valid_action`` and
action, the response text its rollout builds, the answer ``extract_solution`` reads and
``compute_score_em``'s score. Retrieval is anchorgym's BM25 on both sides (search parity is not tested here).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import anchorgym
from anchorgym.envs.toolqa.prompts import SEARCH_R1_PROTOCOL_TEMPLATE, search_r1_prompt
from anchorgym.envs.toolqa.transcript import search_r1_question, transcript_answer
from anchorgym.envs.vector import make_vec
from anchorgym.harness.rollout import rollout
from anchorgym.policies.chat import ChatPolicy, Completion

DATA = Path(__file__).parent / "data"
CASES = json.loads((DATA / "search_r1_cases.json").read_text(encoding="utf-8"))
NAMES = [case["case"] for case in CASES["cases"]]


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ANCHORGYM_CACHE_DIR", str(tmp_path / "cache"))


def _env():
    return anchorgym.make("anchorgym/ToolQA-v2", dataset=str(DATA / "search_r1"), split="dev", topk=CASES["topk"])


@pytest.mark.parametrize("name", NAMES)
def test_episode_scores_as_search_r1(name):
    case = CASES["cases"][NAMES.index(name)]
    env = _env()
    observation, info = env.reset(options={"task_id": case["task_id"]})
    assert search_r1_prompt(info["instruction"]) == case["prompt"]  # make_prefix, the "?" data step included
    parsed, ended, reward = [], False, 0.0
    for turn in case["turns"]:
        assert not ended
        parsed.append(SEARCH_R1_PROTOCOL_TEMPLATE.project(turn).parsed)
        observation, reward, terminated, truncated, info = env.step(turn)
        ended = terminated or truncated
    assert ended
    assert parsed == [bool(v) for v in case["valids"]]
    assert env.transcript == case["prompt"] + case["response"]
    assert transcript_answer(env.transcript) == case["scored_answer"]
    assert (info["won"], reward) == (bool(case["score"]), float(case["score"]))


def test_the_cases_hold_every_kind():
    by_name = {case["case"]: case for case in CASES["cases"]}
    passage = by_name["a passage holding <answer>gold</answer> scores though the model never answers"]
    assert passage["score"] == 1.0 and all(action != "answer" for action, _ in passage["actions"])
    swallowed = by_name["an unclosed answer in a search turn swallows the final answer"]
    assert swallowed["score"] == 0.0 and swallowed["scored_answer"].startswith("Lyon</think>")
    assert by_name["no answer anywhere: the prompt's example Beijing is scored"]["scored_answer"] == "and"
    assert search_r1_question("  what river flows through Vienna  ") == "what river flows through Vienna?"


def test_the_answer_turn_scores_the_submitted_answer_without_transcript_scoring():
    """ToolQA-v1 (and v0) keep scoring the submitted answer: an answer that a passage would override still counts."""
    env = anchorgym.make("anchorgym/ToolQA-v1", dataset=str(DATA / "search_r1"), split="dev", topk=CASES["topk"])
    env.reset(options={"task_id": "q2"})
    env.step("<think>maybe <answer>Lyon</think><search>Eiffel Tower city</search>")
    _, reward, terminated, _, info = env.step("<answer>Paris</answer>")
    assert terminated and info["won"] and reward == 1.0


class Recorded(ChatPolicy):
    def __init__(self, turns):
        super().__init__(history_length=4)
        self.turns, self.prompts = list(turns), []

    def complete(self, prompts):
        self.prompts.extend(prompts)
        return [Completion(self.turns.pop(0)) for _ in prompts]


def test_a_model_policy_sees_search_r1_text_and_sends_whole_turns():
    """Through the harness rollout: the prompt is make_prefix, later turns carry Search-R1's response text."""
    case = next(c for c in CASES["cases"] if c["case"] == "search, then the right answer")
    envs = make_vec("anchorgym/ToolQA-v2", 1, dataset=str(DATA / "search_r1"), split="dev", topk=CASES["topk"])
    policy = Recorded(case["turns"])
    (episode,) = rollout(envs, policy, history_length=4, task_ids=[case["task_id"]])
    assert policy.prompts[0] == [{"role": "user", "content": case["prompt"]}]
    first_turn = case["response"].split(case["turns"][1])[0]
    user, assistant = {"role": "user", "content": case["prompt"]}, {"role": "assistant", "content": first_turn}
    assert policy.prompts[1] == [user, assistant]
    assert [step.action for step in episode.steps] == case["turns"]
    assert episode.won


def test_bad_scoring_settings_say_what_to_use():
    from anchorgym.errors import ConfigError, UnknownNameError

    data = str(DATA / "search_r1")
    with pytest.raises(ConfigError, match='use it with protocol="search-r1"'):
        anchorgym.make("anchorgym/ToolQA-v0", dataset=data, split="dev", scoring="transcript")
    with pytest.raises(UnknownNameError, match="transcript"):
        anchorgym.make("anchorgym/ToolQA-v2", dataset=data, split="dev", scoring="transcripts")
