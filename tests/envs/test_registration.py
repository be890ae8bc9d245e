"""Registration: ``import anchorgym`` registers every built-in id with gymnasium; ``register`` keeps both in step."""

from __future__ import annotations

import json
import os
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


def test_gymnasium_max_episode_steps_is_honoured_and_in_the_spec():
    env = gym.make("anchorgym/Sokoban-v1", split="test", max_episode_steps=50)
    assert env.spec.max_episode_steps == 50 and env.unwrapped.max_steps == 50
    env.reset(seed=0)
    steps, truncated = 0, False
    while not truncated:
        _, _, terminated, truncated, info = env.step("not a move")  # invalid: a no-op, never wins
        steps += 1
        assert not terminated
    assert (steps, info["step"]) == (50, 50)
    default = gym.make("anchorgym/Sokoban-v1", split="test")
    assert default.spec.max_episode_steps == env_info("anchorgym/Sokoban-v1").max_steps == default.unwrapped.max_steps
    unlimited = gym.make("anchorgym/Sokoban-v1", split="test", max_episode_steps=-1)  # gymnasium: no TimeLimit
    assert unlimited.unwrapped.max_steps == env_info("anchorgym/Sokoban-v1").max_steps


def test_action_space_sample_is_an_admissible_action():
    env = gym.make("anchorgym/Sokoban-v1", split="test")
    env.action_space.seed(0)
    before = env.action_space.sample()  # before reset the env lists no actions: a random string
    assert isinstance(before, str)
    _, info = env.reset(seed=0)
    samples = {env.action_space.sample() for _ in range(40)}
    assert samples == set(info["admissible_actions"]) == {"up", "down", "left", "right"}
    assert env.metadata["render_fps"] == 4


def test_copies_of_the_action_space_drop_the_live_env():
    import pickle

    env = gym.make("anchorgym/Sokoban-v1", split="test")
    copied = pickle.loads(pickle.dumps(env.unwrapped.action_space))
    assert copied == env.unwrapped.action_space and copied.admissible is None


PLUGIN_MODULE = """
from anchorgym.envs.registry import EnvInfo, register

register(EnvInfo("plug/Boxes-v0", "anchorgym.envs.sokoban.env:SokobanEnv", ("test",), 9))
"""

GYM_MAKE_PLUGIN = """
import json
import anchorgym, gymnasium
env = gymnasium.make("plug/Boxes-v0", split="test")
obs, info = env.reset(seed=0)
print(json.dumps([env.spec.id, env.spec.max_episode_steps, info["task_id"]]))
"""


def test_gymnasium_make_finds_an_installed_plugin_env_after_import_anchorgym(tmp_path):
    (tmp_path / "plug_boxes.py").write_text(PLUGIN_MODULE)
    info = tmp_path / "plug_boxes-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: plug-boxes\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[anchorgym.envs]\nboxes = plug_boxes\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", GYM_MAKE_PLUGIN], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr  # was gymnasium.error.NamespaceNotFound: Namespace plug not found
    spec_id, max_steps, task_id = json.loads(out.stdout)
    assert (spec_id, max_steps) == ("plug/Boxes-v0", 9) and task_id
