import pytest

import anchorgym
from anchorgym.envs.core import STANDARD_INFO_KEYS
from anchorgym.envs.toolqa.corpus import format_information
from anchorgym.envs.toolqa.retrieval import build_index

ENV_ID = "anchorgym/ToolQA-v0"


@pytest.fixture(scope="module")
def env():
    return anchorgym.make(ENV_ID, split="test")


def first_task(env, hops):
    return next(t for t in env.data.tasks if t.task_type == f"{hops}-hop")


def test_registered_with_defaults(env):
    info = anchorgym.envs.env_info(ENV_ID)
    assert info.max_steps == 4 and info.kwargs == {"dataset": "synthetic"}
    assert env.max_steps == 4 and env.topk == 3 and env.split == "test"
    assert anchorgym.make(ENV_ID).split == "train"


def test_reset_observes_the_question(env):
    task = first_task(env, 2)
    obs, info = env.reset(options={"task_id": task.id})
    assert obs == task.question == info["instruction"]
    assert set(STANDARD_INFO_KEYS) <= set(info)
    assert info["admissible_actions"] is None and info["task_type"] == "2-hop"
    assert info["won"] is False and info["score"] == 0.0 and info["step"] == 0


def test_search_observes_top_k_passages_in_search_r1_format(env, synthetic_test):
    task = first_task(env, 2)
    env.reset(options={"task_id": task.id})
    query = task.meta["start"]
    obs, reward, terminated, truncated, info = env.step(f"<think>look it up</think><search> {query} </search>")
    hits = build_index("bm25", synthetic_test.passages).search([query], 3)[0]
    assert obs == format_information([hit.passage for hit in hits])
    assert obs.startswith(f'<information>Doc 1(Title: "{query}") ')
    assert obs.count("\nDoc ") == 2 and obs.endswith(".</information>")  # Search-R1 strips the block
    assert info["retrieved_ids"] == [hit.passage.id for hit in hits]
    assert info["retrieved_ids"][0] == task.supporting[0]
    assert (reward, terminated, truncated, info["action_valid"]) == (0.0, False, False, True)


@pytest.mark.parametrize("action", ["Paris", "<search></search>", "<search>unclosed", "<answer>  </answer>", ""])
def test_invalid_actions_are_no_ops(env, action):
    task = first_task(env, 1)
    obs0, info0 = env.reset(options={"task_id": task.id})
    obs, reward, terminated, truncated, info = env.step(action)
    assert (obs, reward, terminated, truncated) == (obs0, 0.0, False, False)
    assert info["action_valid"] is False and info["anchor"] == info0["anchor"] and info["step"] == 1


def test_correct_answer_wins_after_normalisation(env):
    task = first_task(env, 1)
    env.reset(options={"task_id": task.id})
    answer = task.answers[0]
    obs, reward, terminated, truncated, info = env.step(f"<answer> The {answer.upper()}! </answer>")
    assert (reward, terminated, truncated) == (1.0, True, False)
    assert info["won"] is True and info["score"] == 1.0 and info["answer"] == f"The {answer.upper()}!"


def test_partial_answer_scores_token_f1(env):
    task = next(t for t in env.data.tasks if len(t.answers[0].split()) == 2)  # e.g. "Gathosoux Mills"
    env.reset(options={"task_id": task.id})
    first_word = task.answers[0].split()[0]
    _, reward, terminated, _, info = env.step(f"<answer>{first_word}</answer>")
    assert reward == 0.0 and terminated and info["won"] is False
    assert info["score"] == pytest.approx(2 / 3)  # P = 1, R = 1/2


def test_last_tag_wins_and_episode_truncates_after_four_turns(env):
    task = first_task(env, 3)
    env.reset(options={"task_id": task.id})
    for turn in range(1, 5):
        _, reward, terminated, truncated, info = env.step(f"<answer>draft</answer> <search>query {turn}</search>")
        assert info["action_valid"] and not terminated and reward == 0.0
    assert truncated is True and info["won"] is False and info["score"] == 0.0


def test_anchor_is_question_plus_order_free_set_of_passages(env):
    task = first_task(env, 2)
    queries = [task.meta["start"], "mayor", "headquartered"]

    def anchors(order):
        env.reset(options={"task_id": task.id})
        return [env.step(f"<search>{q}</search>")[4]["anchor"] for q in order]

    forward, backward = anchors(queries), anchors(queries[::-1])
    assert forward[-1] == backward[-1]  # same passages, different order
    assert forward[0] != backward[0]
    env.reset(options={"task_id": task.id})
    env.step(f"<search>{queries[0]}</search>")
    # the same name in other words retrieves the same passages: same anchor
    assert env.step(f"<search>{queries[0].upper()}?</search>")[4]["anchor"] == forward[0]
    other = first_task(env, 1)
    assert env.reset(options={"task_id": other.id})[1]["anchor"] != env.reset(options={"task_id": task.id})[1]["anchor"]


def test_http_and_in_process_episodes_are_identical(server, env, play):
    remote = anchorgym.make(ENV_ID, split="test", retriever=server.url)
    scripts = [[], ["<search>born in the city of</search>"], ["nonsense", "<search>capital</search>"]]
    task_ids = env.task_ids()[:24]
    for i, task_id in enumerate(task_ids):
        script = scripts[i % len(scripts)]
        assert play(remote, task_id, script) == play(env, task_id, script)
    remote.close()


def test_unknown_names_are_helpful():
    from anchorgym.errors import UnknownNameError

    with pytest.raises(UnknownNameError, match=r"Unknown tool-QA dataset 'synthetc'. Did you mean 'synthetic'\?"):
        anchorgym.make(ENV_ID, dataset="synthetc")
    with pytest.raises(UnknownNameError, match=r"Unknown synthetic split 'dev'.* Known: test, train."):
        anchorgym.make(ENV_ID, split="dev")
    with pytest.raises(UnknownNameError, match=r"Unknown index kind 'bm52'. Did you mean 'bm25'\?"):
        anchorgym.make(ENV_ID, split="test", retriever="bm52")


def test_vector_env_with_expert(env):
    envs = anchorgym.make_vec(ENV_ID, num_tasks=3, group_size=2, split="test", seed=1)
    obs, infos = envs.reset(seed=1)
    assert len(obs) == 6 and obs[0] == obs[1]
    total = [0.0] * 6
    for _ in range(4):
        active = [i for i in range(6) if envs.active[i]]
        if not active:
            break
        actions = ["<answer>x</answer>"] * 6
        for i, action in zip(active, envs.call_at(active, "expert_action"), strict=True):
            actions[i] = action
        obs, rewards, terminated, truncated, infos = envs.step(actions)
        total = [t + r for t, r in zip(total, rewards.tolist(), strict=True)]
    assert not envs.active.any() and total == [1.0] * 6
    envs.close()


def test_dataset_hashes_and_benchmark_specs(env):
    from anchorgym.harness.specs import list_benchmarks

    hashes = env.dataset_hashes()
    assert hashes == anchorgym.make(ENV_ID, split="test").dataset_hashes()
    assert set(hashes) == {"toolqa/synthetic/test/tasks", "toolqa/synthetic/test/corpus"}
    assert hashes != anchorgym.make(ENV_ID, split="test", synthetic={"seed": 1}).dataset_hashes()
    specs = [spec for spec in list_benchmarks() if spec.env_spec()["id"] == ENV_ID]
    assert {spec.id for spec in specs} >= {"toolqa-synthetic/test@v1", "toolqa-synthetic-4hop/test@v1"}
    for spec in specs:
        kwargs = spec.env_spec()["kwargs"]
        if kwargs["dataset"] == "synthetic":
            made = anchorgym.make(ENV_ID, split=spec.split, max_steps=spec.max_steps, **kwargs)
            assert spec.resolve_tasks(made.task_ids())  # every listed task exists


def test_passes_the_env_checker(env):
    from anchorgym.envs.checker import check_env

    check_env(env)


def test_cli_export_writes_a_search_r1_data_set(tmp_path, synthetic_test, env, play):
    from anchorgym.cli import main
    from anchorgym.envs.toolqa.corpus import read_corpus

    out, questions = tmp_path / "corpus.jsonl", tmp_path / "test.jsonl"
    command = ["retrieval", "export", "--dataset", "synthetic", "--split", "test", "--out", str(out)]
    assert main([*command, "--questions", str(questions)]) == 0
    assert read_corpus(out) == synthetic_test.passages
    # the export is a Search-R1 data set: playing it by path gives the same episodes
    by_path = anchorgym.make(ENV_ID, dataset=str(tmp_path), split="test")
    assert by_path.task_ids() == env.task_ids()
    for task_id in env.task_ids()[:5]:
        for mine, theirs in zip(
            play(by_path, task_id, ["<search>mayor</search>"])[:2],
            play(env, task_id, ["<search>mayor</search>"])[:2],
            strict=True,
        ):
            assert (mine[0], mine[-1]["anchor"]) == (theirs[0], theirs[-1]["anchor"])
    assert main(["retrieval", "export", "--dataset", "synthetic", "--synthetic", "{bad", "--out", str(out)]) == 2
    assert main(["retrieval", "serve", "--corpus", str(out), "--dataset", "synthetic"]) == 2


def test_stop_word_search_observes_corpus_order_passages(env, synthetic_test):
    task = first_task(env, 1)
    env.reset(options={"task_id": task.id})
    obs, reward, terminated, truncated, info = env.step("<search>what is the</search>")  # no word left to match
    assert obs == format_information(synthetic_test.passages[:3])
    assert info["retrieved_ids"] == [p.id for p in synthetic_test.passages[:3]] and info["action_valid"]
    assert (reward, terminated, truncated) == (0.0, False, False)
