"""Sokoban: generator, rewards, action parsing, splits, solver and expert."""

from __future__ import annotations

import gymnasium as gym
import pytest

import anchorgym
from anchorgym.envs.sokoban import data
from anchorgym.envs.sokoban.board import Puzzle
from anchorgym.envs.sokoban.env import SokobanEnv
from anchorgym.envs.sokoban.generator import generate
from anchorgym.envs.sokoban.solver import solve
from anchorgym.errors import ConfigError, UnknownNameError

ENV_ID = "anchorgym/Sokoban-v0"
# Pinned: the same seed must give this exact room on every machine.
GOLDEN_OBS = "######\n##__P#\n##___#\n##___#\n#OX__#\n######"
GOLDEN_ANCHOR = "3ad9dd10479a9cd23e40fc639cfc57a6"


def make_env(**kwargs) -> SokobanEnv:
    return anchorgym.make(ENV_ID, split="test", **kwargs)


def corridor_env(puzzle: Puzzle) -> SokobanEnv:
    """A Sokoban env playing a hand-made puzzle (installed after a normal reset)."""
    env = make_env()
    env.reset(seed=0)
    env.puzzle, env.player, env.boxes = puzzle, puzzle.player, frozenset(puzzle.boxes)
    return env


def room(rows: int, cols: int) -> frozenset[tuple[int, int]]:
    return frozenset((r, c) for r in range(1, rows + 1) for c in range(1, cols + 1))


def test_same_seed_gives_the_pinned_puzzle():
    obs, info = make_env().reset(options={"task_id": "1000000000"})
    assert obs.split("\nLegend")[0] == GOLDEN_OBS
    assert info["anchor"] == GOLDEN_ANCHOR
    assert generate(1000000000) == generate.__wrapped__(1000000000)  # the cache returns what a fresh run builds


def test_generated_puzzles_are_unsolved_and_solvable_within_max_steps():
    for seed in range(300):
        puzzle = generate(seed)
        assert not set(puzzle.boxes) <= set(puzzle.targets)
        plan = solve(puzzle.floor, frozenset(puzzle.targets), puzzle.player, frozenset(puzzle.boxes))
        assert plan is not None and 1 <= len(plan) <= 15


def test_larger_rooms_with_more_boxes():
    env = make_env(dim_room=(8, 8), num_boxes=2, max_steps=40)
    obs, info = env.reset(seed=3)
    grid = obs.split("\nLegend")[0]
    assert grid.count("X") + grid.count("*") == 2 and len(grid.splitlines()) == 8
    assert info["task_type"] == "sokoban-8x8-2box"


def test_rewards_follow_gym_sokoban():
    # Row 1: P A O _ _ ; row 2: _ _ _ B O  (targets at (1,3) and (2,5))
    puzzle = Puzzle(4, 7, room(2, 5), ((1, 3), (2, 5)), ((1, 2), (2, 4)), (1, 1))
    env = corridor_env(puzzle)
    expected = [("right", 0.9), ("right", -1.1), ("down", -0.1), ("right", 0.9), ("up", -0.1), ("jump", -0.1)]
    for action, reward in expected:
        _, got, terminated, truncated, info = env.step(action)
        assert got == pytest.approx(reward), action
        assert not terminated and not truncated
    assert env.anchor_state() == {"player": [2, 4], "boxes": [[1, 4], [2, 5]]}
    assert info["action_valid"] is False


def test_solving_pays_ten_and_terminates():
    env = corridor_env(Puzzle(3, 6, room(1, 4), ((1, 4),), ((1, 3),), (1, 2)))
    _, reward, terminated, truncated, info = env.step("RIGHT")
    assert reward == pytest.approx(10.9)
    assert terminated and not truncated
    assert info["won"] is True and info["score"] == 1.0


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("up", "up"),
        ("Up", "up"),
        ("move LEFT", "left"),
        ("<action>down</action>", "down"),
        ("I will go right, right now", "right"),
        ("up or down", None),
        ("north", None),
        ("upward", None),
        ("", None),
    ],
)
def test_action_parsing(text, parsed):
    assert make_env().parse_action(text) == parsed


def test_invalid_action_is_a_noop_with_the_step_cost():
    env = make_env()
    obs, info = env.reset(seed=1)
    new_obs, reward, terminated, truncated, new_info = env.step("fly away")
    assert (new_obs, new_info["anchor"]) == (obs, info["anchor"])
    assert reward == pytest.approx(-0.1)
    assert new_info["action_valid"] is False and new_info["step"] == 1
    assert not terminated and not truncated


def test_truncated_after_max_steps():
    env = make_env(max_steps=3)
    env.reset(seed=0)
    results = [env.step("nonsense") for _ in range(3)]
    assert [r[3] for r in results] == [False, False, True]


def test_splits_are_disjoint_lazy_seed_ranges():
    train, test = data.SPLITS["train"], data.SPLITS["test"]
    assert len(train) == 1_000_000 and len(test) == 10_000
    assert int(train[-1]) < int(test[0])
    assert "5" in train and "5" not in test and "x" not in train
    assert make_env().task_ids() is test


def test_bad_split_and_task_id_are_clear_errors():
    with pytest.raises(UnknownNameError, match="Did you mean 'test'"):
        anchorgym.make(ENV_ID, split="tset")
    with pytest.raises(ConfigError, match="non-negative integer seeds"):
        make_env().reset(options={"task_id": "abc"})


def test_expert_solves_every_one_of_200_test_seeds():
    env = make_env()
    wins = 0
    for task_id in env.task_ids()[:200]:
        env.reset(options={"task_id": task_id})
        done, info = False, {}
        while not done:
            _, _, terminated, truncated, info = env.step(env.expert_action())
            done = terminated or truncated
        wins += info["won"]
    assert wins == 200


def test_expert_replans_after_a_detour():
    env = make_env()
    env.reset(options={"task_id": "1000000000"})
    optimal = len(solve(env.puzzle.floor, frozenset(env.puzzle.targets), env.player, env.boxes))
    env.step("left")  # a detour from the pinned room's start: player moves away
    done, steps = False, 1
    while not done:
        _, _, done, truncated, info = env.step(env.expert_action())
        steps += 1
        assert not truncated
    assert info["won"] and steps <= optimal + 2


def test_gymnasium_make_works():
    env = gym.make(ENV_ID, split="test")
    obs, info = env.reset(seed=0)
    assert isinstance(obs, str) and info["task_id"] in data.SPLITS["test"]


def test_prompt_template_is_registered():
    from anchorgym.policies.base import AgentInput
    from anchorgym.policies.prompting import extract_tag, template_for

    template = template_for(ENV_ID)
    obs, info = make_env().reset(seed=0)
    messages = template.messages(AgentInput(ENV_ID, info["instruction"], obs, info["admissible_actions"]))
    assert "<action>" in messages[0]["content"] and obs in messages[1]["content"]
    assert extract_tag("<think>left?</think><action>Up</action>", template.action_tags) == ("action", "Up")
