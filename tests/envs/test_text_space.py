"""TextSpace holds any Unicode text, also in gymnasium's own vector envs."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest
from gymnasium.spaces.utils import flatten, unflatten

import anchorgym  # noqa: F401 - registers the env ids with gymnasium
from anchorgym.envs.core import MAX_TEXT, TextSpace


def test_any_unicode_text_round_trips_through_flatten():
    space = TextSpace()
    text = "#_O*+ é€ 😀\n\ttab"
    assert space.contains(text) and not space.contains(b"bytes") and not space.contains("x" * (MAX_TEXT + 1))
    codes = flatten(space, text)
    assert codes[:3].tolist() == [ord("#"), ord("_"), ord("O")] and codes[len(text)] == 0x110000
    assert unflatten(space, codes) == text
    assert space == TextSpace() and repr(space) == f"TextSpace(max_length={MAX_TEXT})"
    space.seed(0)
    assert all(space.contains(space.sample()) for _ in range(5))


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_gymnasium_make_vec_carries_sokoban_boards(mode):
    envs = gymnasium.make_vec("anchorgym/Sokoban-v0", num_envs=2, vectorization_mode=mode, split="test")
    single = gymnasium.make("anchorgym/Sokoban-v0", split="test").unwrapped
    obs, _ = envs.reset(seed=[5, 6])
    assert list(obs) == [single.reset(seed=5)[0], single.reset(seed=6)[0]]
    assert "#" in obs[0]
    obs, *_ = envs.step(np.array(["up", "left"], dtype=object))
    expected = single.reset(seed=6)[0] and single.step("left")[0]
    assert obs[1] == expected and isinstance(obs, tuple)
    envs.close()
