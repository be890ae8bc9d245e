"""The AppWorld suite: deterministic generation, held-out families, the expert and trivial baselines.

The full suite (224 tasks, 7 variants per family) is generated and verified by
``anchorgym data appworld``; these tests generate the small one (one variant per
family, 33 tasks) in a temporary folder and play a sample of every level.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import pytest

from anchorgym.envs.appworld import data

WORKER = Path(data.__file__).resolve().parent / "worker"
SAMPLE = ["birthday_1", "relfile_1", "notepaylog_1"]  # held-out test families: levels 1, 2, 3


@pytest.fixture
def suite_modules(monkeypatch):
    """The generator's pure-Python modules (they import nothing from appworld)."""
    monkeypatch.syspath_prepend(str(WORKER))
    import suite_generate
    import suite_tasks
    import suite_world

    return suite_world, suite_tasks, suite_generate


def test_tasks_are_a_pure_function_of_the_seed(suite_modules):
    world, tasks, _ = suite_modules
    first = json.dumps([asdict(t) for t in tasks.all_tasks(world.plan_world(0), 0, 7)])
    again = json.dumps([asdict(t) for t in tasks.all_tasks(world.plan_world(0), 0, 7)])
    other = json.dumps([asdict(t) for t in tasks.all_tasks(world.plan_world(1), 1, 7)])
    assert first == again and first != other


def test_full_suite_counts_levels_and_held_out_families(suite_modules):
    world, tasks, generate = suite_modules
    suite = tasks.all_tasks(world.plan_world(0), 0, 7)
    assert len(suite) == 224 and len({t.family for t in suite}) == len(tasks.FAMILIES) == 33
    assert sorted(Counter(t.level for t in suite).items()) == [(1, 45), (2, 81), (3, 98)]
    assert all(t.level == len(t.apps) or len(t.apps) > 3 for t in suite)
    splits = generate.splits(suite)
    family = {t.id: t.family for t in suite}
    train, test = {family[i] for i in splits["train"]}, {family[i] for i in splits["test"]}
    assert (len(splits["train"]), len(splits["test"]), len(train), len(test)) == (164, 60, 24, 9)
    assert not train & test and test == set(tasks.TEST_FAMILIES)
    assert {t.level for t in suite if t.family in test} == {1, 2, 3}


def test_every_task_checks_no_other_changes_as_appworld_labels_it(suite_modules):
    _, tasks, _ = suite_modules
    for task in tasks.all_tasks(__import__("suite_world").plan_world(0), 0, 1):
        requirements = task.requirements
        assert requirements[0] == (tasks.REQ_COMPLETE, "no_op_fail")
        assert requirements[-1] == (tasks.REQ_COLLATERAL, "no_op_pass")  # a no-op passes it, as in AppWorld
        assert len(requirements) >= 3


@pytest.fixture(scope="module")
def small_suite(appworld_ready, tmp_path_factory):
    """The one-variant suite, generated (not verified) into a temporary folder the env reads."""
    base = tmp_path_factory.mktemp("suite")
    root = data.ensure_suite(base=base, variants=1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ANCHORGYM_APPWORLD_DATA", str(base))
        yield root


@pytest.mark.slow
@pytest.mark.timeout(900)  # builds AppWorld worlds of ~600 records; minutes on a busy 2-core machine
def test_generation_is_byte_for_byte(appworld_ready, tmp_path):
    """Two generations of the same seed (a few families, in two folders) write the same bytes."""
    families = ("senderstext", "billspay")
    first = data.ensure_suite(base=tmp_path / "a", variants=1, families=families)
    again = data.ensure_suite(base=tmp_path / "b", variants=1, families=families)

    def files(root):
        return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file() and "experiments" not in p.parts)

    assert files(first) == files(again)
    assert sorted(f.parent.parent.name for f in files(first) if f.name == "evaluation.py") == [
        "billspay_1", "senderstext_1"]  # fmt: skip
    assert [str(f) for f in files(first) if (first / f).read_bytes() != (again / f).read_bytes()] == []


@pytest.fixture(scope="module")
def vec(small_suite):
    from anchorgym.envs.vector import make_vec

    envs = make_vec(
        "anchorgym/AppWorld-v0", num_tasks=len(SAMPLE), backend="sync", split="test", source="suite",
        suite_variants=1, code_timeout_s=60,
    )  # fmt: skip
    yield envs
    envs.close()


def _play(vec, policy_code, max_steps=8):
    """Play SAMPLE with ``policy_code(env_index, step)``; return {task: (won, score)}."""
    results = {}
    vec.reset(options={"task_ids": SAMPLE})
    for step in range(max_steps):
        _, _, terminated, truncated, infos = vec.step([policy_code(i, step) for i in range(len(SAMPLE))])
        for i, task in enumerate(SAMPLE):
            if (terminated[i] or truncated[i]) and task not in results:
                results[task] = (bool(infos["won"][i]), round(float(infos["score"][i]), 3))
        if not vec.active.any():
            break
    return results


@pytest.mark.slow
@pytest.mark.timeout(900)  # builds AppWorld worlds of ~600 records; minutes on a busy 2-core machine
def test_the_expert_solves_every_level_through_the_vector_env(vec):
    experts = {}

    def expert(i, step):
        if step == 0:
            experts[i] = vec.call_at([i], "expert_action")[0]
        return experts[i]

    assert _play(vec, expert) == {task: (True, 1.0) for task in SAMPLE}


@pytest.mark.slow
@pytest.mark.timeout(900)  # builds AppWorld worlds of ~600 records; minutes on a busy 2-core machine
def test_trivial_policies_fail_every_sampled_task(vec):
    from anchorgym.envs.appworld.baselines import COMPLETE, RandomApiPolicy
    from anchorgym.envs.appworld.expert import as_action
    from anchorgym.policies.base import AgentInput

    done = _play(vec, lambda i, step: as_action(COMPLETE))
    assert not any(won for won, _ in done.values())
    # only "marked complete" and "no other changes" pass: 2 of 3 or 4 tests
    assert done == {"birthday_1": (False, 0.667), "relfile_1": (False, 0.667), "notepaylog_1": (False, 0.5)}
    policy = RandomApiPolicy(steps=3)

    def random_api(i, step):
        agent_input = AgentInput(env_id="anchorgym/AppWorld-v0", instruction="", observation="", step=step, seed=i)
        return policy.act([agent_input])[0].action

    done = _play(vec, random_api)
    assert sorted(done) == sorted(SAMPLE) and not any(won for won, _ in done.values())


def test_random_is_refused_before_any_env_worker_starts(monkeypatch, tmp_path):
    from anchorgym.errors import PolicyError
    from anchorgym.harness import runner

    def no_envs(*args, **kwargs):
        raise AssertionError("an env was made")

    monkeypatch.setattr(runner, "_make_envs", no_envs)
    with pytest.raises(PolicyError, match=r"^The random policy cannot act in anchorgym/AppWorld-v0: its action space "
                       r"is open .* Use a policy that writes actions: expert, hf:"):  # fmt: skip
        runner.evaluate("appworld-suite/smoke@v1", "random", out=tmp_path / "out", progress=False)
