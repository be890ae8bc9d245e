"""The speed-ups change no byte of what the player sees: stock and fast engines replayed side by side."""

from __future__ import annotations

import random

import pytest

from anchorgym.envs.alfworld import speedups

pytestmark = pytest.mark.slow


def trace(env, task_id, commands):
    """Everything the player and the trainer see over an episode."""
    obs, info = env.reset(options={"task_id": task_id})
    seen = [(obs, info["admissible_actions"], info["anchor"], info["instruction"])]
    for command in commands:
        obs, reward, terminated, truncated, info = env.step(command)
        seen.append((obs, reward, terminated, info["won"], info["admissible_actions"], info["anchor"]))
    return seen


def wander(env, task_id, steps, seed):
    """A random walk over admissible actions (exercises far more grammar rules than a walkthrough)."""
    rng = random.Random(seed)
    _, info = env.reset(options={"task_id": task_id})
    commands = []
    for _ in range(steps):
        commands.append(rng.choice(info["admissible_actions"]))
        *_, info = env.step(commands[-1])
    return commands


def test_fast_engine_replays_byte_identical(make_env, unseen_by_type):
    stock = make_env(split="valid_unseen", fast=False)
    fast = make_env(split="valid_unseen", fast=True)
    for task_type in ("pick_heat_then_place_in_recep", "look_at_obj_in_light"):
        task_id = unseen_by_type[task_type]
        fast.reset(options={"task_id": task_id})
        for commands in (fast.walkthrough(), wander(fast, task_id, 12, seed=1)):
            expected = trace(stock, task_id, commands)
            assert trace(fast, task_id, commands) == expected
            assert trace(fast, task_id, commands) == expected  # again, on the warm engine


def test_enable_disable_restores_textworld():
    import fast_downward
    import textworld.envs.pddl.textgen as textgen

    speedups.disable()
    original = (textgen._parse_and_convert, fast_downward.pddl2sas)
    speedups.enable()
    assert speedups.is_enabled() and textgen._parse_and_convert is not original[0]
    speedups.disable()
    assert (textgen._parse_and_convert, fast_downward.pddl2sas) == original and not speedups.is_enabled()


def test_translation_disk_cache_round_trips(tmp_path, make_env, unseen_by_type):
    env = make_env(split="valid_unseen")
    env.reset(options={"task_id": unseen_by_type["pick_and_place_simple"]})
    game = env.game.pddl._game_data
    speedups.enable()
    translate = speedups._originals["pddl2sas"]
    first = speedups._memo_pddl2sas(translate, tmp_path)(game["pddl_domain"], game["pddl_problem"])
    assert len(list(tmp_path.rglob("*.pkl.z"))) == 1

    def must_not_run(*args, **kwargs):
        raise AssertionError("translated again despite the disk cache")

    second = speedups._memo_pddl2sas(must_not_run, tmp_path)(game["pddl_domain"], game["pddl_problem"])
    assert second[1] == first[1]  # the SAS text the engine loads
    assert [str(a) for a in second[0].init] == [str(a) for a in first[0].init]
    assert [(o.name, o.type_name) for o in second[0].objects] == [(o.name, o.type_name) for o in first[0].objects]


def loaded_downward_copies() -> int:
    """How many private copies of Fast Downward's library this process has mapped."""
    with open("/proc/self/maps") as maps:
        return len({line.split(None, 5)[5] for line in maps if "libdownward" in line})  # path, maybe "(deleted)"


@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/maps"), reason="needs Linux /proc")
def test_fast_env_keeps_one_engine_across_games(make_env, unseen_by_type):
    """The stock set-up maps a new copy of libdownward per game (never freed); ours reuses one per env."""
    games = list(unseen_by_type.values())[:2]
    for fast, growth in ((True, 1), (False, len(games))):
        env = make_env(split="valid_unseen", fast=fast)
        before = loaded_downward_copies()
        for task_id in games:
            env.reset(options={"task_id": task_id})
        assert loaded_downward_copies() - before == growth
