"""``ToolQA-v0`` with ``protocol="search-r1"``: Search-R1's turn rules in real episodes (synthetic test split, BM25)."""

import pytest

import anchorgym
from anchorgym.envs.toolqa.corpus import format_information
from anchorgym.envs.toolqa.protocol import INVALID_ACTION_MESSAGE
from anchorgym.envs.toolqa.retrieval import build_index

ENV_ID = "anchorgym/ToolQA-v0"


@pytest.fixture(scope="module")
def env():
    return anchorgym.make(ENV_ID, split="test", protocol="search-r1", max_steps=5)


def task_of(env, hops, words=1):
    return next(t for t in env.data.tasks if t.task_type == f"{hops}-hop" and len(t.answers[0].split()) == words)


def test_first_complete_tag_decides_and_the_rest_is_cut(env, synthetic_test):
    task = task_of(env, 1)
    env.reset(options={"task_id": task.id})
    query = task.meta["start"]
    obs, reward, terminated, truncated, info = env.step(f"<search>{query}</search><answer>{task.answers[0]}</answer>")
    hits = build_index("bm25", synthetic_test.passages).search([query], 3)[0]
    assert obs == format_information([hit.passage for hit in hits])
    assert (reward, terminated, truncated, info["action_valid"], info["won"]) == (0.0, False, False, True, False)
    obs, reward, terminated, truncated, info = env.step(f"<answer>{task.answers[0]}</answer><search>x</search>")
    assert (obs, reward, terminated, truncated) == (f"Answer submitted: {task.answers[0]}", 1.0, True, False)
    assert info["won"] is True and info["answer"] == task.answers[0]


def test_tags_are_case_sensitive(env):
    task = task_of(env, 1)
    env.reset(options={"task_id": task.id})
    obs, reward, terminated, truncated, info = env.step(f"<ANSWER>{task.answers[0]}</ANSWER>")
    assert (obs, reward, terminated, truncated) == (INVALID_ACTION_MESSAGE, 0.0, False, False)
    assert info["action_valid"] is False and info["won"] is False and info["step"] == 1


def test_empty_answer_ends_the_episode_with_reward_zero(env):
    task = task_of(env, 2)
    env.reset(options={"task_id": task.id})
    obs, reward, terminated, truncated, info = env.step("<think>no idea</think><answer>  </answer>")
    assert (obs, reward, terminated, truncated) == ("Answer submitted: ", 0.0, True, False)
    assert info["action_valid"] is True and info["answer"] == ""
    assert (info["won"], info["score"], info["em"], info["subem"], info["f1"]) == (False, 0.0, 0.0, 0.0, 0.0)


def test_empty_search_is_a_valid_search(env, synthetic_test):
    task = task_of(env, 1)
    env.reset(options={"task_id": task.id})
    obs, reward, terminated, truncated, info = env.step("<search></search>")
    # a blank query scores 0 everywhere: the first passages in corpus order
    assert obs == format_information(synthetic_test.passages[:3])
    assert info["retrieved_ids"] == [p.id for p in synthetic_test.passages[:3]]
    assert (reward, terminated, truncated, info["action_valid"]) == (0.0, False, False, True)


def test_invalid_turn_observes_search_r1s_message_and_the_episode_goes_on(env):
    task = task_of(env, 1)
    question, info0 = env.reset(options={"task_id": task.id})
    for step in (1, 2):
        obs, reward, terminated, truncated, info = env.step("I think the answer is Paris.")
        assert (obs, reward, terminated, truncated) == (INVALID_ACTION_MESSAGE, 0.0, False, False)
        assert info["action_valid"] is False and info["step"] == step and info["anchor"] == info0["anchor"]
    obs, *_ = env.step(f"<search>{task.meta['start']}</search>")
    assert obs.startswith(f'<information>Doc 1(Title: "{task.meta["start"]}") ')
    assert env.step("<search>unclosed")[0] == INVALID_ACTION_MESSAGE
    assert env.render() == INVALID_ACTION_MESSAGE
    obs, reward, terminated, truncated, info = env.step(f"<answer>{task.answers[0]}</answer>")
    assert (reward, terminated, info["step"]) == (1.0, True, 5)


def test_five_invalid_turns_truncate_with_nothing_won(env):
    task = task_of(env, 3)
    env.reset(options={"task_id": task.id})
    outcomes = [env.step("<Search>x</Search>")[1:4] for _ in range(5)]
    assert outcomes == [(0.0, False, False)] * 4 + [(0.0, False, True)]


def test_subem_is_reported_beside_em_and_f1(env):
    task = task_of(env, 1)
    env.reset(options={"task_id": task.id})
    _, reward, terminated, _, info = env.step(f"<answer>{task.answers[0]} city</answer>")
    assert (reward, terminated, info["won"]) == (0.0, True, False)
    assert (info["em"], info["subem"], info["f1"], info["score"]) == (0.0, 1.0, 2 / 3, 2 / 3)  # F1: P = 1/2, R = 1


def test_reset_reports_zero_answer_metrics(env):
    _, info = env.reset(options={"task_id": task_of(env, 1).id})
    assert (info["em"], info["subem"], info["f1"]) == (0.0, 0.0, 0.0)


def test_expert_wins_every_question_under_search_r1_rules(env, play):
    wins = [play(env, task_id, [])[-1][4]["won"] for task_id in env.task_ids()]
    assert len(wins) == 200 and all(wins)


def test_passes_the_env_checker(env):
    from anchorgym.envs.checker import check_env

    check_env(env)


def test_legacy_is_the_default_and_keeps_v1_rules():
    legacy = anchorgym.make(ENV_ID, split="test")
    assert legacy.protocol == "legacy"
    question, _ = legacy.reset(options={"task_id": legacy.task_ids()[0]})
    assert legacy.step("no tag")[0] == question  # the previous observation again
    assert legacy.step("<answer></answer>")[4]["action_valid"] is False
