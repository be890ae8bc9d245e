"""The AppWorld suite: deterministic generation, held-out families, the expert and trivial baselines.

Version 1 (224 tasks, 7 variants per family; the released @v1 specs) is pinned by digest. Version 2
(228 tasks, 5 variants per family, with Gmail, Splitwise and Amazon) is generated and verified in full by
``anchorgym data appworld``; these tests generate the small suites (one variant per family) in a
temporary folder and play a sample of every level of both versions.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from anchorgym.envs.appworld import data

WORKER = Path(data.__file__).resolve().parent / "worker"
SAMPLE = ["birthday_1", "relfile_1", "notepaylog_1"]  # held-out test families: levels 1, 2, 3
SAMPLE_V2 = ["birthday_1", "relgroup_1", "emailsplit_1", "relsplitemail_1", "emailwishlist_1"]  # levels 1, 2, 3
# Version 1 as released (2026-12-07): sha256 of its anchorgym_tasks.json (seed 0, 7 variants; every
# instruction, solution, answer and evaluation input) and of its evaluation.py.
V1_INDEX_SHA256 = "71a2e9f028184f1d0f872eceee7f76267cba0c13ad3d3c0b645a02ed0148a8d8"
V1_EVALUATION_SHA256 = "3866d9e3841d81101a936a9249afc30109e40c62053c996e3b59753c9833ba7a"
SPEC_HASHES = {
    "appworld-suite/test@v1": "sha256:5d121f97756777a4fc8befaaff2b11424797de08a0131584848048e9eeb34dff",
    "appworld-suite/smoke@v1": "sha256:d761556efca1442f1ed41787f51d9a44f76e7be4d020d54ff5bbda5eb5bb9c44",
    "appworld-suite/test@v2": "sha256:be7ff0a962a1a81210625aa07d42375c3ab4838f88ac0119d38f32d426f12a5a",
    "appworld-suite/smoke@v2": "sha256:abe83bfbf37ab4656571bbfe1b7bf40627a32e1b37ea29aaa98302c739a6fca8",
    "appworld-suite/test@v3": "sha256:9d2556f0d1b1606af3d9572e60b141a75cf65856f1f50d932df240a4296858f6",
    "appworld-suite/smoke@v3": "sha256:6b6d7da9e39b39f3a80978933fb9c55dc82b3b2473f0c6528dd4b5c84b730c20",
}
# AppWorld's apps as its api_docs app lists them (show_app_descriptions), in its collection's order.
APPWORLD_APPS = "api_docs,supervisor,amazon,phone,file_system,spotify,venmo,gmail,splitwise,simple_note,todoist"


@pytest.fixture
def suite_modules(monkeypatch):
    """The generator's pure-Python modules (they import nothing from appworld)."""
    monkeypatch.syspath_prepend(str(WORKER))
    import suite_generate
    import suite_tasks
    import suite_world

    return suite_world, suite_tasks, suite_generate


@pytest.mark.parametrize(("version", "variants"), [(1, 7), (2, 5)])
def test_tasks_are_a_pure_function_of_the_seed(suite_modules, version, variants):
    world, tasks, generate = suite_modules

    def index(seed):
        suite = tasks.all_tasks(world.plan_world(seed, version), seed, variants)
        return json.dumps(generate.index_of(suite, seed, variants, version), indent=2, sort_keys=True)

    first, again, other = index(0), index(0), index(1)
    assert first == again and first != other


def test_version_1_regenerates_the_released_suite_byte_for_byte(suite_modules):
    """The @v1 specs keep playing the tasks they were released with, and keep their hashes."""
    import hashlib

    from anchorgym.harness.specs import load_benchmark

    world, tasks, generate = suite_modules
    suite = tasks.all_tasks(world.plan_world(0, 1), 0, 7)
    text = json.dumps(generate.index_of(suite, 0, 7, 1), indent=2, sort_keys=True) + "\n"  # as _write_json writes it
    assert hashlib.sha256(text.encode()).hexdigest() == V1_INDEX_SHA256
    assert {t.evaluation_code for t in suite} == {tasks.EVALUATION}
    assert hashlib.sha256(tasks.EVALUATION.encode()).hexdigest() == V1_EVALUATION_SHA256
    assert {name: load_benchmark(name).content_hash() for name in SPEC_HASHES} == SPEC_HASHES
    assert "suite_version" not in load_benchmark("appworld-suite/test@v1").env_kwargs  # plays the default: 1
    assert data.SUITE_DEFAULT_VERSION == 1 and data.SUITE_VERSION == 3


def test_unknown_suite_version_is_one_clear_error():
    from anchorgym.errors import UnknownNameError

    with pytest.raises(UnknownNameError, match=r"Unknown AppWorld suite version '4'\..* Known: 1, 2, 3\."):
        data.suite_root(version=4)


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


def test_version_2_adds_gmail_splitwise_and_amazon_in_both_splits(suite_modules):
    world, tasks, generate = suite_modules
    import suite_tasks_v2

    suite = tasks.all_tasks(world.plan_world(0, 2), 0, 5)
    assert len(suite) == 228 and len({t.family for t in suite}) == len(suite_tasks_v2.FAMILIES_V2) == 47
    assert sorted(Counter(t.level for t in suite).items()) == [(1, 40), (2, 85), (3, 103)]
    splits = generate.splits(suite, 2)
    family = {t.id: t.family for t in suite}
    train, test = {family[i] for i in splits["train"]}, {family[i] for i in splits["test"]}
    assert (len(splits["train"]), len(splits["test"]), len(train), len(test)) == (161, 67, 33, 14)
    assert (
        not train & test
        and test == set(suite_tasks_v2.TEST_FAMILIES_V2)
        and {t.level for t in suite if t.family in test} == {1, 2, 3}
    )
    for app in ("gmail", "splitwise", "amazon"):
        assert {f for f in train if app in {a for t in suite if t.family == f for a in t.apps}}, app
        assert {f for f in test if app in {a for t in suite if t.family == f for a in t.apps}}, app
    v1 = {t.id: t for t in tasks.all_tasks(world.plan_world(0, 1), 0, 1)}
    assert all(t.evaluation_code == tasks.EVALUATION for t in v1.values())
    v2 = {t.id: t for t in suite}
    assert tasks.REQ_EMAILS in tasks.EVALUATION_V2 and v2["emailsplit_1"].evaluation_code == tasks.EVALUATION_V2
    # the deepened level-3 families read every list, not one: a directory listing or a search, then a loop
    assert "show_directory" in v2["filenote_1"].solution and "show_directory" not in v1["filenote_1"].solution
    assert "for note in found" in v2["notefile_1"].solution


def test_version_3_is_version_2_with_the_api_docs_app_filled(suite_modules):
    """Same world plan, tasks and splits as version 2; only the index's version and the world's API docs differ."""
    world, tasks, generate = suite_modules
    suite = tasks.all_tasks(world.plan_world(0, generate.TASKS_OF_VERSION[3]), 0, 5)
    v2, v3 = (generate.index_of(suite, 0, 5, version) for version in (2, 3))
    assert {**v2, "suite_version": 3} == v3
    assert generate.TASKS_OF_VERSION == {1: 1, 2: 2, 3: 2} and generate.API_DOCS_FROM_VERSION == 3


def test_version_2_emails_and_products_have_look_alikes(suite_modules):
    """Every list, bill or shopping email has a decoy with the same subject from the sender's look-alike (same
    first name); every Amazon product has a look-alike with the same base name."""
    world, _, _ = suite_modules
    plan = world.plan_world(0, 2)
    people = plan["people"]
    real = [e for e in plan["emails"] if e["kind"] in ("list", "bill", "shopping")]
    assert len(real) == 12
    for email in real:
        decoys = [e for e in plan["emails"] if e["kind"] == "decoy" and e["subject"] == email["subject"]]
        assert len(decoys) == 1 and decoys[0]["body"] != email["body"]
        sender, twin = people[email["sender"]], people[decoys[0]["sender"]]
        assert sender["first_name"] == twin["first_name"] and sender["last_name"] != twin["last_name"]
    products = [p["name"] for p in plan["amazon"]["products"]]
    assert len(products) == len(set(products)) == 24  # 12 pairs of look-alikes ("Oat Milk 1L", "Oat Milk 2L")
    assert all(f"{base} {variant}" in products for _, base, variants in world.AMAZON_PRODUCTS for variant in variants)


@pytest.mark.parametrize("version", [1, 2])
def test_every_task_checks_no_other_changes_as_appworld_labels_it(suite_modules, version):
    world, tasks, _ = suite_modules
    for task in tasks.all_tasks(world.plan_world(0, version), 0, 1):
        requirements = task.requirements
        assert requirements[0] == (tasks.REQ_COMPLETE, "no_op_fail")
        assert requirements[-1] == (tasks.REQ_COLLATERAL, "no_op_pass")  # a no-op passes it, as in AppWorld
        assert len(requirements) >= 3


@pytest.fixture(scope="module")
def small_base(appworld_ready, tmp_path_factory):
    """A temporary data folder the env reads; the small suites are generated (not verified) into it."""
    base = tmp_path_factory.mktemp("suite")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ANCHORGYM_APPWORLD_DATA", str(base))
        yield base


@pytest.mark.slow
@pytest.mark.timeout(900)  # builds AppWorld worlds of ~700 records; minutes on a busy 2-core machine
@pytest.mark.parametrize(
    ("version", "families"), [(1, ("senderstext", "billspay")), (2, ("emailsplit", "filenote", "relgroup"))]
)
def test_generation_is_byte_for_byte(appworld_ready, tmp_path, version, families):
    """Two generations of the same seed (a few families, in two folders) write the same bytes."""
    first = data.ensure_suite(base=tmp_path / "a", variants=1, families=families, version=version)
    again = data.ensure_suite(base=tmp_path / "b", variants=1, families=families, version=version)

    def files(root):
        return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file() and "experiments" not in p.parts)

    assert files(first) == files(again)
    written = sorted(f.parent.parent.name for f in files(first) if f.name == "evaluation.py")
    assert written == sorted(f"{family}_1" for family in families)
    assert [str(f) for f in files(first) if (first / f).read_bytes() != (again / f).read_bytes()] == []


@pytest.fixture(scope="module", params=[1, 3], ids=["v1", "v3"])
def vec(small_base, request):
    """A vector env over the held-out sample of one suite version (one env per sampled task).

    Version 3 plays version 2's tasks (see test_version_3_is_version_2_with_the_api_docs_app_filled).
    """
    from anchorgym.envs.vector import make_vec

    sample = SAMPLE if request.param == 1 else SAMPLE_V2
    envs = make_vec(
        "anchorgym/AppWorld-v0", num_tasks=len(sample), backend="sync", split="test", source="suite",
        suite_variants=1, suite_version=request.param, code_timeout_s=60,
    )  # fmt: skip
    envs.sample, envs.version = sample, request.param
    yield envs
    envs.close()


def _play(vec, policy_code, max_steps=8):
    """Play the env's sample with ``policy_code(env_index, step)``; return {task: (won, score)}."""
    results = {}
    vec.reset(options={"task_ids": vec.sample})
    for step in range(max_steps):
        _, _, terminated, truncated, infos = vec.step([policy_code(i, step) for i in range(len(vec.sample))])
        for i, task in enumerate(vec.sample):
            if (terminated[i] or truncated[i]) and task not in results:
                results[task] = (bool(infos["won"][i]), round(float(infos["score"][i]), 3))
        if not vec.active.any():
            break
    return results


@pytest.mark.slow
@pytest.mark.timeout(900)  # builds AppWorld worlds of ~700 records; minutes on a busy 2-core machine
def test_the_expert_solves_every_level_through_the_vector_env(vec):
    experts = {}

    def expert(i, step):
        if step == 0:
            experts[i] = vec.call_at([i], "expert_action")[0]
        return experts[i]

    assert _play(vec, expert) == {task: (True, 1.0) for task in vec.sample}


@pytest.mark.slow
@pytest.mark.timeout(900)  # builds AppWorld worlds of ~700 records; minutes on a busy 2-core machine
def test_the_api_docs_app_answers_from_version_3(vec):
    """AppWorld's agents look APIs up through its api_docs app; versions 1 and 2 left its table empty."""
    from anchorgym.envs.appworld.expert import as_action

    code = (
        'print(",".join(a["name"] for a in apis.api_docs.show_app_descriptions()))\n'
        'print(apis.api_docs.show_api_doc(app_name="phone", api_name="login")["path"])'
    )
    vec.reset(options={"task_ids": vec.sample})
    observations, *_ = vec.step([as_action(code)] + [as_action("pass")] * (len(vec.sample) - 1))
    output = observations[0].split("Output of your last code:\n", 1)[1]
    if vec.version >= 3:
        assert output.strip() == f"{APPWORLD_APPS}\n/phone/auth/token"
    else:
        assert output.startswith("Execution failed.") and output.endswith(
            '{"message":"No APIs with name login found for the phone app. Check the api and app name again."}'
        )


@pytest.mark.slow
@pytest.mark.timeout(900)  # builds AppWorld worlds of ~700 records; minutes on a busy 2-core machine
def test_trivial_policies_fail_every_sampled_task(vec):
    from anchorgym.envs.appworld.baselines import COMPLETE, RandomApiPolicy
    from anchorgym.envs.appworld.expert import as_action
    from anchorgym.policies.base import AgentInput

    done = _play(vec, lambda i, step: as_action(COMPLETE))
    assert not any(won for won, _ in done.values())
    # only "marked complete" and "no other changes" pass: 2 of 3 or 4 tests
    expected = {
        "birthday_1": (False, 0.667), "relfile_1": (False, 0.667), "notepaylog_1": (False, 0.5),
        "relgroup_1": (False, 0.667), "emailsplit_1": (False, 0.667), "relsplitemail_1": (False, 0.5),
        "emailwishlist_1": (False, 0.667),
    }  # fmt: skip
    assert done == {task: expected[task] for task in vec.sample}
    policy = RandomApiPolicy(steps=3)

    def random_api(i, step):
        agent_input = AgentInput(env_id="anchorgym/AppWorld-v0", instruction="", observation="", step=step, seed=i)
        return policy.act([agent_input])[0].action

    done = _play(vec, random_api)
    assert sorted(done) == sorted(vec.sample) and not any(won for won, _ in done.values())


def test_random_is_refused_before_any_env_worker_starts(monkeypatch, tmp_path):
    from anchorgym.errors import PolicyError
    from anchorgym.harness import runner

    def no_envs(*args, **kwargs):
        raise AssertionError("an env was made")

    monkeypatch.setattr(runner, "_make_envs", no_envs)
    with pytest.raises(PolicyError, match=r"^The random policy cannot act in anchorgym/AppWorld-v0: its action space "
                       r"is open .* Use a policy that writes actions: expert, hf:"):  # fmt: skip
        runner.evaluate("appworld-suite/smoke@v1", "random", out=tmp_path / "out", progress=False)
