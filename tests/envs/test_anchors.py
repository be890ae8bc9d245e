"""Anchors: digests stable across processes, built-in and custom anchor functions."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import anchorgym
from anchorgym.envs.anchors import canonical_bytes, digest, normalize_text
from anchorgym.errors import UnknownNameError

ENV_ID = "anchorgym/Sokoban-v0"
ACTIONS = ["up", "left", "down", "right", "down", "left", "bogus", "up"]

TRAJECTORY_SCRIPT = """
import json, sys, anchorgym
env = anchorgym.make("anchorgym/Sokoban-v0", split="test")
_, info = env.reset(seed=7)
anchors = [info["anchor"]]
for action in json.loads(sys.argv[1]):
    anchors.append(env.step(action)[4]["anchor"])
print(json.dumps(anchors))
"""


def trajectory_anchors() -> list[str]:
    env = anchorgym.make(ENV_ID, split="test")
    _, info = env.reset(seed=7)
    return [info["anchor"]] + [env.step(action)[4]["anchor"] for action in ACTIONS]


@pytest.mark.parametrize("hash_seed", ["1", "12345"])
def test_anchors_are_identical_in_another_process(hash_seed):
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    out = subprocess.run(
        [sys.executable, "-c", TRAJECTORY_SCRIPT, json.dumps(ACTIONS)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert json.loads(out.stdout) == trajectory_anchors()


def test_anchor_is_the_digest_of_player_and_sorted_boxes():
    env = anchorgym.make(ENV_ID, split="test")
    _, info = env.reset(seed=7)
    state = {"player": list(env.player), "boxes": sorted(list(b) for b in env.boxes)}
    assert info["anchor"] == digest(canonical_bytes(state))


def test_canonical_bytes_ignore_set_and_key_order():
    assert canonical_bytes({"b": {3, 1, 2}, "a": (1,)}) == canonical_bytes({"a": [1], "b": {2, 1, 3}})
    assert digest("hello") == "46fb7408d4f285228f4af516ea25851b"  # blake2b-128, fixed forever


def test_observation_anchor_functions():
    exact = anchorgym.make(ENV_ID, split="test", anchor_fn="observation")
    obs, info = exact.reset(seed=7)
    assert info["anchor"] == digest(obs)
    folded = anchorgym.make(ENV_ID, split="test", anchor_fn="normalized_observation")
    _, info = folded.reset(seed=7)
    assert info["anchor"] == digest(normalize_text(obs))


def test_normalize_text_strips_step_counters_and_folds_case():
    assert normalize_text("Step 3/50:  You SEE a Mug.") == normalize_text("step 4 of 50: you see a mug.")


def test_state_anchor_ignores_the_step_count_but_observation_text_can_differ():
    env = anchorgym.make(ENV_ID, split="test")
    _, start = env.reset(seed=7)
    for action in ["bogus", "bogus"]:
        _, _, _, _, info = env.step(action)
        assert info["anchor"] == start["anchor"]


def test_custom_anchor_function():
    env = anchorgym.make(ENV_ID, split="test", anchor_fn=lambda e: f"player={e.player}")
    _, info = env.reset(seed=7)
    assert info["anchor"] == digest(f"player={env.player}")


def test_unknown_anchor_function_name():
    with pytest.raises(UnknownNameError, match="Did you mean 'observation'"):
        anchorgym.make(ENV_ID, anchor_fn="observatoin")
