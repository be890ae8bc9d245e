"""Registration: ``import anchorgym`` registers every built-in id with gymnasium; ``register`` keeps both in step."""

from __future__ import annotations

import json
import subprocess
import sys

import gymnasium as gym
import pytest

from anchorgym.envs.registry import _REGISTRY, EnvInfo, env_info, register

BUILTIN_IDS = [
    "anchorgym/ALFWorld-v0",
    "anchorgym/AppWorld-v0",
    "anchorgym/Sokoban-v0",
    "anchorgym/ToolQA-v0",
    "anchorgym/WebShop-v0",
]

GYM_MAKE_AFTER_IMPORT = """
import json, sys
import anchorgym
import gymnasium
registered = sorted(i for i in gymnasium.registry if i.startswith("anchorgym/"))
env = gymnasium.make("anchorgym/Sokoban-v0", split="test")
obs, info = env.reset(seed=0)
print(json.dumps({"registered": registered, "obs": obs, "anchor": info["anchor"], "spec": env.spec.id}))
"""


def test_gymnasium_make_works_right_after_import_anchorgym():
    out = subprocess.run([sys.executable, "-c", GYM_MAKE_AFTER_IMPORT], capture_output=True, text=True, check=True)
    got = json.loads(out.stdout)
    assert set(BUILTIN_IDS) <= set(got["registered"])
    assert got["spec"] == "anchorgym/Sokoban-v0"
    import anchorgym

    same = anchorgym.make("anchorgym/Sokoban-v0", split="test")
    obs, info = same.reset(seed=0)
    assert (got["obs"], got["anchor"]) == (obs, info["anchor"])


def test_gymnasium_entry_points_match_the_anchorgym_registry():
    for env_id in BUILTIN_IDS:
        assert gym.registry[env_id].entry_point == env_info(env_id).entry_point


@pytest.fixture
def scratch_id():
    """An id registered by the test, removed from both registries afterwards."""
    env_id = "scratch/Reg-v0"
    yield env_id
    _REGISTRY.pop(env_id, None)
    gym.registry.pop(env_id, None)


def test_registering_again_replaces_the_gymnasium_entry_too(scratch_id):
    first = EnvInfo(scratch_id, "anchorgym.envs.sokoban.env:SokobanEnv", ("test",), 15)
    register(first)
    assert gym.registry[scratch_id].entry_point == first.entry_point
    second = EnvInfo(scratch_id, "anchorgym.envs.sokoban.env:SokobanEnv", ("test",), 15, kwargs={"dim_room": [7, 7]})
    register(second)
    assert env_info(scratch_id) is second
    assert gym.registry[scratch_id].kwargs == {"dim_room": [7, 7]}
    env = gym.make(scratch_id, split="test")
    assert env.unwrapped.generator_args[0] == (7, 7)
