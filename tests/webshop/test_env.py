from __future__ import annotations

import pytest

from anchorgym.envs.core import STANDARD_INFO_KEYS
from anchorgym.errors import ConfigError, UnknownNameError


def play_expert(env, task_id):
    obs, info = env.reset(options={"task_id": task_id})
    rewards, done = [], False
    while not done:
        obs, reward, terminated, truncated, info = env.step(env.expert_action())
        rewards.append(reward)
        done = terminated or truncated
    return rewards, terminated, info


def test_registered_with_splits_and_limits(env):
    assert env.max_steps == 15
    assert list(env.task_ids()[:3]) == ["0", "1", "2"] and len(env.task_ids()) == 500


def test_reset_observation_and_info(env):
    obs, info = env.reset(options={"task_id": "0"})
    assert obs == f"WebShop [SEP] Instruction: [SEP] {env.goal['instruction_text']} [SEP] Search"
    assert set(STANDARD_INFO_KEYS) <= set(info)
    assert info["available_actions"] == {"has_search_bar": True, "clickables": ["search"]}  # WebShop's dict
    assert info["admissible_actions"] == ["search[<your query>]"]
    assert info["task_type"] == env.goal["category"] and info["instruction"] == env.goal["instruction_text"]


@pytest.mark.parametrize("task_id", ["0", "1", "42", "499"])
def test_expert_buys_the_target_with_score_one(env, task_id):
    rewards, terminated, info = play_expert(env, task_id)
    assert terminated and rewards[-1] == 1.0 and sum(rewards[:-1]) == 0.0
    assert info["won"] and info["score"] == 1.0 and info["reward_parts"]["r_type"] == 1.0


def test_wrong_purchase_is_scored_and_not_won(env):
    env.reset(options={"task_id": "0"})
    obs, *_ = env.step("search[wireless headphones]")
    first = env.page.clickables[2]  # first product on the page
    env.step(f"click[{first}]")
    obs, reward, terminated, truncated, info = env.step("click[buy now]")
    assert terminated and reward == info["score"] == info["reward_parts"]["score"] and not info["won"]
    assert reward < 1.0 and obs.startswith("Thank you for shopping with us! [SEP] Your code: [SEP] None")


def test_invalid_actions_are_no_ops_with_reasons(env):
    obs0, _ = env.reset(options={"task_id": "0"})
    obs, reward, terminated, truncated, info = env.step("search[]")
    assert (obs, reward, terminated, info["action_valid"]) == (obs0, 0.0, False, False)
    assert info["invalid_reason"] == "search[] needs a query, e.g. search[red ceramic mug]."
    obs, *_, info = env.step("click[nonexistent]")
    assert obs == obs0 and not info["action_valid"]
    assert info["invalid_reason"] == "'nonexistent' is not clickable on this page. Clickable: (nothing)."
    env.step("search[pillow]")
    *_, info = env.step("click[nxt >]")
    assert info["invalid_reason"].startswith("'nxt >' is not clickable on this page. Did you mean 'next >'?")
    *_, info = env.step("click[next  >]")  # WebShop matches the name exactly
    assert info["invalid_reason"].startswith("'next  >' is not clickable on this page. Did you mean 'next >'?")
    *_, info = env.step("buy the pillow")
    assert info["invalid_reason"] == "Actions are search[query] or click[element], got 'buy the pillow'."
    *_, info = env.step("CLICK[Next >]")
    assert info["action_valid"] and info["invalid_reason"] == "" and info["step"] == 7


def test_truncated_after_15_steps(env):
    env.reset(options={"task_id": "3"})
    for step in range(1, 16):
        *_, terminated, truncated, info = env.step("click[nowhere]")
        assert truncated == (step == 15) and not terminated


def test_anchor_follows_page_state_not_text(env):
    env.reset(options={"task_id": "0"})
    start = env.anchor()
    env.step("search[Pillow   Cover]")
    results = env.anchor()
    env.step("click[next >]")
    env.step("click[< prev]")
    assert env.anchor() == results != start
    assert env.anchor_state() == {
        "goal": "0", "kind": "results", "query": "pillow cover", "page": 1, "asin": "", "options": [], "sub_page": "",
    }  # fmt: skip
    env.step("click[back to search]")
    assert env.anchor() == start
    env.reset(options={"task_id": "1"})
    assert env.anchor() != start  # another goal


def test_same_actions_same_observations_and_anchors(env):
    actions = ["search[decorative pillows]", "click[next >]", "click[back to search]", "search[mug]"]
    runs = []
    for _ in range(2):
        env.reset(options={"task_id": "5"})
        runs.append([(o, info["anchor"]) for o, _, _, _, info in map(env.step, actions)])
    assert runs[0] == runs[1]


def test_bad_task_split_and_mode(env, webshop_dir):
    from anchorgym.envs.registry import make

    with pytest.raises(ConfigError, match="WebShop task ids are goal indices 0-6909, got '7000'"):
        env.reset(options={"task_id": "7000"})
    with pytest.raises(UnknownNameError, match="Unknown WebShop split 'tset'. Did you mean 'test'?"):
        make("anchorgym/WebShop-v1", split="tset", data_dir=str(webshop_dir))
    with pytest.raises(UnknownNameError, match="Unknown WebShop mode 'browsr'. Did you mean 'browser'?"):
        make("anchorgym/WebShop-v1", mode="browsr", data_dir=str(webshop_dir))
    with pytest.raises(UnknownNameError, match="Unknown WebShop search back end 'bm25'"):
        make("anchorgym/WebShop-v1", search="bm25", data_dir=str(webshop_dir))


def test_vector_env_runs_expert(webshop_dir):
    from anchorgym.envs.vector import make_vec

    vec = make_vec("anchorgym/WebShop-v1", num_tasks=2, group_size=2, backend="sync", split="test",
                   data_dir=str(webshop_dir))  # fmt: skip
    try:
        obs, infos = vec.reset(options={"task_ids": ["0", "1"]})
        anchors = list(infos["anchor"])
        assert anchors[0] == anchors[1] != anchors[2] == anchors[3]
        actions = vec.call_at(range(4), "expert_action")
        assert actions[0] == actions[1] == f"search[{vec.call_at([0], 'goal')[0]['instruction_text'].lower()}]"
    finally:
        vec.close()


def test_browser_mode_names_a_missing_driver(webshop_dir, monkeypatch):
    from anchorgym.envs.registry import make
    from anchorgym.errors import DependencyError

    monkeypatch.setenv("CHROMEDRIVER", "/nonexistent/chromedriver")
    with pytest.raises(DependencyError, match="not found: chromedriver at /nonexistent/chromedriver"):
        make("anchorgym/WebShop-v1", split="test", data_dir=str(webshop_dir), mode="browser")
