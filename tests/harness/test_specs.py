"""Benchmark specs: every shipped file validates, hashes are stable and sensitive, loading errors are clear."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from anchorgym.envs.registry import env_info
from anchorgym.errors import ConfigError, UnknownNameError
from anchorgym.harness.specs import content_hash, list_benchmarks, load_benchmark, parse_spec_file

SOKOBAN_TEST = "sokoban-6x6-1box/test@v1"
# Pinned: a released spec must never change. If this fails, you edited a released benchmark;
# restore it and add a new @vN entry instead.
SOKOBAN_TEST_HASH = "sha256:54547a7c3c1e3e3b2538fe47a7b298269ee2f92fd8cd70648654c424ddebf606"


def _sokoban_raw() -> dict:
    return json.loads(json.dumps(load_benchmark(SOKOBAN_TEST).raw))


def test_every_shipped_spec_file_validates_and_names_a_registered_env():
    folder = resources.files("anchorgym.harness").joinpath("specs")
    files = [f for f in folder.iterdir() if f.name.endswith(".json")]
    assert any(f.name == "sokoban.json" for f in files)
    for file in files:
        for spec in parse_spec_file(file.read_text("utf-8"), file.name):
            assert env_info(spec.env_id).id == spec.env_id
            assert spec.split in env_info(spec.env_id).splits
    assert SOKOBAN_TEST in {spec.id for spec in list_benchmarks()}


def test_sokoban_test_spec_is_pinned():
    spec = load_benchmark(SOKOBAN_TEST)
    assert spec.content_hash() == SOKOBAN_TEST_HASH
    assert spec.num_tasks == 100 and spec.tasks[0] == "1000000000" and spec.tasks[-1] == "1000000099"
    assert spec.seeds == (0, 1, 2) and spec.max_steps == 15


def test_hash_ignores_key_order_and_whitespace():
    raw = _sokoban_raw()
    reordered = dict(reversed(list(raw.items())))
    text = json.dumps({"format": "anchorgym-benchmarks/1", "benchmarks": [reordered]}, indent=7)
    (spec,) = parse_spec_file(text, "reordered.json")
    assert spec.content_hash() == SOKOBAN_TEST_HASH


@pytest.mark.parametrize(
    "change",
    [
        lambda r: r["tasks"].pop(),
        lambda r: r.update(max_steps=16),
        lambda r: r.update(history_length=3),
        lambda r: r["env"]["kwargs"].update(num_boxes=2),
        lambda r: r["prompt_template"].update(version="2"),
        lambda r: r.update(seeds=[0, 1]),
        lambda r: r.update(description=r["description"] + "!"),
    ],
)
def test_any_change_changes_the_hash(change):
    raw = _sokoban_raw()
    change(raw)
    (spec,) = parse_spec_file(json.dumps({"format": "anchorgym-benchmarks/1", "benchmarks": [raw]}), "x.json")
    assert spec.content_hash() != SOKOBAN_TEST_HASH


def test_content_hash_is_sha256_of_canonical_json():
    assert content_hash({"b": 1, "a": [1, "é"]}) == (
        "sha256:" + __import__("hashlib").sha256('{"a":[1,"é"],"b":1}'.encode()).hexdigest()
    )


def test_unknown_benchmark_suggests_the_closest_id():
    with pytest.raises(UnknownNameError) as error:
        load_benchmark("sokoban-6x6-1box/tset@v1")
    assert f"Did you mean '{SOKOBAN_TEST}'?" in str(error.value)


def test_invalid_spec_file_names_the_problem(tmp_path):
    raw = _sokoban_raw()
    raw["max_steps"] = 0
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"format": "anchorgym-benchmarks/1", "benchmarks": [raw]}))
    with pytest.raises(ConfigError, match=r"bad.json is invalid at benchmarks/0/max_steps: 0 is less than"):
        load_benchmark(str(path))
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="is not valid JSON"):
        load_benchmark(str(path))


def test_spec_from_file_with_fragment(tmp_path):
    first, second = _sokoban_raw(), _sokoban_raw()
    second["id"] = "sokoban-6x6-1box/mine@v1"
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"format": "anchorgym-benchmarks/1", "benchmarks": [first, second]}))
    assert load_benchmark(f"{path}#sokoban-6x6-1box/mine@v1").id == "sokoban-6x6-1box/mine@v1"
    with pytest.raises(ConfigError, match="defines 2 benchmarks; pick one"):
        load_benchmark(str(path))


def test_resolve_tasks_checks_membership_and_ranges():
    spec = load_benchmark(SOKOBAN_TEST)
    assert spec.resolve_tasks([str(1_000_000_000 + i) for i in range(200)]) == list(spec.tasks)
    with pytest.raises(ConfigError, match="100 task\\(s\\) are not in split 'test'"):
        spec.resolve_tasks(["1", "2"])
    raw = _sokoban_raw()
    raw["tasks"] = {"range": [2, 5]}
    (ranged,) = parse_spec_file(json.dumps({"format": "anchorgym-benchmarks/1", "benchmarks": [raw]}), "r.json")
    assert ranged.resolve_tasks(["a", "b", "c", "d", "e", "f"]) == ["c", "d", "e"]
    with pytest.raises(ConfigError, match="asks for tasks 2..5"):
        ranged.resolve_tasks(["a", "b", "c"])
