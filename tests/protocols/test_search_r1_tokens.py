"""A model policy's prompt tokens on Search-R1's protocol equal the ids Search-R1's rollout feeds its model.

Search-R1 (``search_r1/llm_agent/generation.py``) tokenizes the chat prompt once (``add_generation_prompt``)
and then appends, turn after turn, the ids of the model's cut turn and of what it was shown
(``_update_rolling_state``): one growing assistant message, never a new turn. The recorded episodes of
``data/search_r1_cases.json`` (its ``response`` is Search-R1's own text) are played through the harness
with recorded turns; every prompt's ids under the tiny Qwen2 tokenizer must equal Search-R1's.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from anchorgym.envs.toolqa.protocol import INVALID_ACTION_MESSAGE, cut_turn
from anchorgym.envs.vector import make_vec
from anchorgym.harness.rollout import rollout
from anchorgym.policies.chat import ChatPolicy, Completion, chat_prompt_ids

DATA = Path(__file__).parent / "data"
CASES = json.loads((DATA / "search_r1_cases.json").read_text(encoding="utf-8"))
MULTI_TURN = [case["case"] for case in CASES["cases"] if len(case["turns"]) > 1]


class Recorded(ChatPolicy):
    """A chat back-end that answers with recorded model turns, in order, and keeps its prompts."""

    def __init__(self, turns: list[str]) -> None:
        super().__init__(history_length=4)
        self.turns, self.prompts = list(turns), []

    def complete(self, prompts: list) -> list[Completion]:
        self.prompts.extend(prompts)
        return [Completion(self.turns.pop(0)) for _ in prompts]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    from transformers import AutoTokenizer

    from anchorgym.policies.tiny import build_tiny_model

    return AutoTokenizer.from_pretrained(build_tiny_model(tmp_path_factory.mktemp("tiny") / "model"))


def search_r1_pieces(case: dict) -> list[str]:
    """Search-R1's response split as its rollout appends it: each cut turn, then what the model was shown."""
    response, pieces, start = case["response"], [], 0
    invalid, closing = f"\n{INVALID_ACTION_MESSAGE}\n", "</information>\n\n"
    for turn in case["turns"]:
        cut = cut_turn(turn)
        assert response.startswith(cut, start)
        pieces.append(cut)
        start += len(cut)
        if response.startswith("\n\n<information>", start):
            end = response.index(closing, start) + len(closing)
        elif response.startswith(invalid, start):
            end = start + len(invalid)
        else:
            continue  # the answer turn: nothing is appended after it
        pieces.append(response[start:end])
        start = end
    assert "".join(pieces) == response
    return pieces


@pytest.mark.parametrize("name", MULTI_TURN)
def test_prompt_ids_equal_search_r1s_rolling_ids(name, tokenizer, tmp_path, monkeypatch):
    monkeypatch.setenv("ANCHORGYM_CACHE_DIR", str(tmp_path / "cache"))
    case = next(c for c in CASES["cases"] if c["case"] == name)
    envs = make_vec("anchorgym/ToolQA-v2", 1, dataset=str(DATA / "search_r1"), split="dev", topk=CASES["topk"])
    policy = Recorded(case["turns"])
    rollout(envs, policy, history_length=4, task_ids=[case["task_id"]])
    chat = [{"role": "user", "content": case["prompt"]}]
    text = tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
    rolling = tokenizer(text, add_special_tokens=False).input_ids  # verl's RLHFDataset prompt
    pieces = search_r1_pieces(case)
    assert len(policy.prompts) == len(case["turns"])
    for step, messages in enumerate(policy.prompts):
        shown = pieces[: 2 * step]  # every earlier turn and its observation
        expected = rolling + [i for piece in shown for i in tokenizer(piece, add_special_tokens=False).input_ids]
        assert chat_prompt_ids(tokenizer, messages) == expected, f"step {step}"


def test_a_new_turn_prompt_still_opens_the_assistants_turn(tokenizer):
    messages = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
    ids = chat_prompt_ids(tokenizer, messages)
    assert (
        tokenizer.decode(ids)
        == "<|im_start|>system\ns<|im_end|>\n<|im_start|>user\nu<|im_end|>\n<|im_start|>assistant\n"
    )
