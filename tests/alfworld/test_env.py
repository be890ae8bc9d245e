"""The ALFWorld env on the real engine: walkthroughs, admissibility, experts, groups and anchors."""

from __future__ import annotations

import pytest

from anchorgym.envs.alfworld import data
from anchorgym.envs.alfworld.env import instruction_of
from anchorgym.envs.vector import make_vec

pytestmark = pytest.mark.slow


def play(env, commands):
    """Step through ``commands``; return the per-step (obs, reward, terminated, truncated, info)."""
    return [env.step(command) for command in commands]


def test_walkthrough_wins_one_unseen_game_of_each_type(make_env, unseen_by_type):
    env = make_env(split="valid_unseen")
    assert sorted(unseen_by_type) == sorted(data.TASK_TYPES)
    for task_type, task_id in unseen_by_type.items():
        obs, info = env.reset(options={"task_id": task_id})
        assert info["task_type"] == task_type
        assert obs.startswith("-= Welcome to TextWorld, ALFRED! =-")
        assert info["instruction"] and obs.endswith(info["instruction"])
        steps = play(env, env.walkthrough())
        for _, _, _, _, step_info in steps:
            assert step_info["action_valid"]
        *_, (obs, reward, terminated, truncated, last) = steps
        assert (reward, terminated, truncated, last["won"], last["score"]) == (1.0, True, False, True, 1.0)
        assert [s[1] for s in steps[:-1]] == [0.0] * (len(steps) - 1)


def test_walkthrough_wins_a_spread_of_unseen_games(make_env):
    """CI's subset of the full check (all 134 games run in benchmarks/bench_alfworld.py): every 10th game."""
    env = make_env(split="valid_unseen")
    subset = env.task_ids()[::10]
    assert len(subset) == 14
    lost = []
    for task_id in subset:
        env.reset(options={"task_id": task_id})
        *_, (_, reward, terminated, truncated, info) = play(env, env.walkthrough())
        if not (info["won"] and reward == 1.0 and terminated and not truncated):
            lost.append(task_id)
    assert lost == []


def test_episodes_truncate_at_50_steps_by_default(make_env, unseen_by_type):
    env = make_env(split="valid_unseen")
    env.reset(options={"task_id": unseen_by_type["pick_two_obj_and_place"]})
    steps = play(env, ["look"] * 50)
    assert [s[3] for s in steps] == [False] * 49 + [True]
    assert steps[-1][4]["step"] == 50 and not steps[-1][2]


def test_invalid_actions_are_noops_never_sent_to_the_engine(make_env, unseen_by_type):
    env = make_env(split="valid_unseen", max_steps=3)
    obs0, info0 = env.reset(options={"task_id": unseen_by_type["pick_and_place_simple"]})
    admissible = info0["admissible_actions"]
    assert admissible == sorted(admissible) and "look" in admissible and "inventory" in admissible
    assert any(a.startswith("go to ") for a in admissible)
    for bad in ("fly to the moon", "go to nowhere 9", ""):
        obs, reward, terminated, truncated, info = env.step(bad)
        assert (obs, reward, terminated, info["action_valid"]) == (obs0, 0.0, False, False)
        assert info["anchor"] == info0["anchor"] and info["admissible_actions"] == admissible
    assert truncated and info["step"] == 3  # invalid steps count toward max_steps


def test_padded_admissible_action_is_valid(make_env, unseen_by_type):
    env = make_env(split="valid_unseen")
    _, info = env.reset(options={"task_id": unseen_by_type["pick_and_place_simple"]})
    obs, _, _, _, step = env.step("  inventory \n")
    assert step["action_valid"] and obs == "You are not carrying anything."


def test_instruction_and_unknown_task():
    assert instruction_of("intro\n\nYour task is to: put some pencil on shelf.") == "put some pencil on shelf."


def test_unknown_task_id_suggests(make_env, unseen_by_type):
    env = make_env(split="valid_unseen")
    task_id = unseen_by_type["pick_and_place_simple"]
    with pytest.raises(KeyError, match="Did you mean"):
        env.reset(options={"task_id": task_id[:-1]})


@pytest.mark.parametrize("expert", ["handcoded", "planner"])
def test_expert_wins_sample_of_train_games(make_env, expert):
    env = make_env(split="train", expert=expert)
    tasks = env.task_ids()
    sample = [tasks[i] for i in (0, 1000, 2000)] if expert == "handcoded" else [tasks[500], tasks[3000]]
    for task_id in sample:
        env.reset(options={"task_id": task_id})
        terminated = truncated = False
        while not (terminated or truncated):
            _, _, terminated, truncated, info = env.step(env.expert_action())
        assert info["won"], f"{expert} expert lost {task_id}"


def test_group_members_play_the_same_game(alfworld_dir, make_env):
    vec = make_vec("anchorgym/ALFWorld-v0", num_tasks=2, group_size=2, split="valid_unseen", data_dir=alfworld_dir)
    try:
        obs, infos = vec.reset(seed=3)
        assert infos["task_id"][0] == infos["task_id"][1] != infos["task_id"][2] == infos["task_id"][3]
        assert obs[0] == obs[1] and obs[2] == obs[3] and obs[0] != obs[2]
        assert infos["anchor"][0] == infos["anchor"][1]
        first = [infos["admissible_actions"][i][0] for i in range(4)]
        obs, _, _, _, infos = vec.step([first[0], "look", first[2], first[3]])
        assert infos["anchor"][0] != infos["anchor"][1]  # members now diverge
        assert obs[2] == obs[3] and infos["anchor"][2] == infos["anchor"][3]
    finally:
        vec.close()


def test_state_anchor_differs_where_the_text_aliases(make_env, unseen_by_type):
    """'look' reads the same before and after taking an object; only the state anchor tells them apart."""
    task_id = unseen_by_type["pick_and_place_simple"]
    results = {}
    for anchor_fn in ("state", "observation"):
        env = make_env(split="valid_unseen", anchor_fn=anchor_fn)
        env.reset(options={"task_id": task_id})
        walk = env.walkthrough()
        take = next(i for i, command in enumerate(walk) if command.startswith("take "))
        before = play(env, walk[:take] + ["look"])[-1]
        env.reset(options={"task_id": task_id})
        after = play(env, walk[: take + 1] + ["look"])[-1]
        results[anchor_fn] = (before, after)
    (before, after), (before_text, after_text) = results["state"], results["observation"]
    assert before[0] == after[0] == before_text[0] == after_text[0]  # identical text...
    assert before_text[4]["anchor"] == after_text[4]["anchor"]  # ...which the text anchor aliases
    assert before[4]["anchor"] != after[4]["anchor"]  # ...but the states differ: the agent holds the object


def test_state_anchor_equal_for_equal_states(make_env, unseen_by_type):
    env = make_env(split="valid_unseen")
    other = make_env(split="valid_unseen")
    task_id = unseen_by_type["pick_cool_then_place_in_recep"]
    _, start = env.reset(options={"task_id": task_id})
    other.reset(options={"task_id": task_id})
    looked = play(env, ["inventory", "look"])
    assert [info["anchor"] for *_, info in looked] == [start["anchor"]] * 2  # no state change, new text
    walk = env.walkthrough()
    mine = play(env, walk[:3])
    theirs = play(other, ["look"] + walk[:3])  # a different history reaching the same states
    assert [i["anchor"] for *_, i in mine] == [i["anchor"] for *_, i in theirs[1:]]
    assert len({i["anchor"] for *_, i in mine}) == 3
