"""The protocol benchmark specs: they resolve, carry their framework's sampling settings, and run end to end."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from anchorgym.cli import build_parser
from anchorgym.harness.cli import generation_from_args
from anchorgym.harness.runner import evaluate
from anchorgym.harness.specs import BenchmarkSpec, load_benchmark
from anchorgym.policies.protocols.verl_agent import project_sokoban

VERL_AGENT = {"temperature": 0.4, "top_p": 1.0, "max_new_tokens": 512}
SPECS = {
    "alfworld-verl-agent/valid_unseen@v1": ("anchorgym/ALFWorld-verl-agent-v0", "alfworld/valid_unseen@v1"),
    "alfworld-verl-agent/valid_seen@v1": ("anchorgym/ALFWorld-verl-agent-v0", "alfworld/valid_seen@v1"),
    "sokoban-6x6-1box-verl-agent/test@v1": ("anchorgym/Sokoban-verl-agent-v0", "sokoban-6x6-1box/test@v2"),
}


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ANCHORGYM_CACHE_DIR", str(tmp_path / "cache"))


@pytest.mark.parametrize("benchmark", sorted(SPECS))
def test_verl_agent_specs_play_the_published_tasks_at_temperature_0_4(benchmark):
    spec = load_benchmark(benchmark)
    env_id, ours = SPECS[benchmark]
    assert spec.env_id == env_id and spec.source.endswith("protocols.json")
    assert spec.generation == VERL_AGENT
    assert spec.default_generation().temperature == 0.4
    base = load_benchmark(ours)  # the same tasks, steps and history as our own benchmark of that env
    assert (spec.tasks, spec.max_steps, spec.history_length) == (base.tasks, base.max_steps, base.history_length)


def test_cli_sampling_options_override_the_spec_one_by_one():
    spec = load_benchmark("sokoban-6x6-1box-verl-agent/test@v1")
    args = build_parser().parse_args(["eval", spec.id, "--policy", "hf:tiny", "--max-new-tokens", "64"])
    generation = generation_from_args(args, spec.generation)
    assert (generation.temperature, generation.top_p, generation.max_new_tokens) == (0.4, 1.0, 64)
    args = build_parser().parse_args(["eval", spec.id, "--policy", "hf:tiny"])
    assert generation_from_args(args, spec.generation) is None  # the runner then uses spec.default_generation()


def test_sokoban_protocol_spec_end_to_end_with_the_expert(tmp_path):
    result = evaluate("sokoban-6x6-1box-verl-agent/test@v1", "expert", seeds=[0], out=tmp_path, progress=False)
    assert result["metrics"]["episodes"] == 100 and result["metrics"]["success_rate"]["mean"] == 1.0
    assert result["prompt_template"]["name"] == "sokoban-verl-agent"


def test_sokoban_protocol_with_a_model_policy(tmp_path):
    """A model plays the protocol spec: sampled at the spec's 0.4, every step sends the projection of its text."""
    spec = load_benchmark("sokoban-6x6-1box-verl-agent/test@v1")
    short = {**spec.generation, "max_new_tokens": 16}  # the tiny random model never stops: keep its turns short
    raw = {**spec.raw, "tasks": spec.tasks[:2], "max_steps": 3, "generation": short}
    result = evaluate(BenchmarkSpec.from_json(raw, spec.source), "hf:tiny", seeds=[0], out=tmp_path, progress=False)
    assert result["policy"]["generation"] == {**short, "seed": 0}
    steps = [json.loads(line)["steps"] for line in (tmp_path / "episodes.jsonl").read_text().splitlines()]
    assert sum(map(len, steps)) == 6
    for step in (s for episode in steps for s in episode):
        projected = project_sokoban(step["text"])
        assert (step["action"], step["parsed"]) == (projected.action, projected.parsed)


def test_spec_without_generation_keeps_its_hash():
    """Specs released before ``generation`` existed hash as before (the field is only in the raw entry when set)."""
    spec = load_benchmark("sokoban-6x6-1box/test@v2")
    assert "generation" not in spec.raw and spec.generation == {} and spec.default_generation() is None
    assert replace(spec).content_hash() == spec.content_hash()


@pytest.mark.parametrize(
    ("benchmark", "ours"),
    [
        ("hotpot-sample-search-r1/dev@v1", "hotpot-sample/dev@v2"),
        ("hotpot-sample-wiki-search-r1/dev@v1", "hotpot-sample-wiki/dev@v2"),
        ("toolqa-synthetic-search-r1/test@v1", "toolqa-synthetic/test@v2"),
        ("toolqa-synthetic-search-r1/smoke@v1", "toolqa-synthetic/smoke@v2"),
    ],
)
def test_search_r1_specs_are_greedy_on_toolqa_v2(benchmark, ours):
    spec, base = load_benchmark(benchmark), load_benchmark(ours)
    assert spec.env_id == "anchorgym/ToolQA-v2" and spec.prompt_template == {"name": "toolqa-search-r1", "version": "1"}
    assert spec.generation == {"temperature": 0.0, "top_p": 1.0, "max_new_tokens": 500}  # Search-R1's validation
    assert (spec.tasks, spec.split, spec.max_steps) == (base.tasks, base.split, base.max_steps)


def test_search_r1_spec_end_to_end_with_the_expert(tmp_path):
    result = evaluate("toolqa-synthetic-search-r1/smoke@v1", "expert", out=tmp_path, progress=False)
    assert result["metrics"]["episodes"] == 9 and result["metrics"]["success_rate"]["mean"] == 1.0


RELEASED = {
    "alfworld-verl-agent/valid_seen@v1": "sha256:c12272f11b4cd487a6849313bb2ba240b7c26c3b09d10a5861100872311c03d1",
    "alfworld-verl-agent/valid_unseen@v1": "sha256:822fbc8795b0d50baa589eeb00b43773a6015880976a735cbaef14f93c9d6f5d",
    "hotpot-sample-search-r1/dev@v1": "sha256:e1d8bd7a1d783c1638c4627befc50718bbccbc552586ad521fc7f3fb306f2b79",
    "hotpot-sample-wiki-search-r1/dev@v1": "sha256:43277f89439bdc5d647cefc04985331c008db8d866217b1c00c87eab7d8e5e73",
    "sokoban-6x6-1box-verl-agent/test@v1": "sha256:9fe30227a50861c6186014a226cc06dee4c37482ee7b7d46dd09c3538377e284",
    "toolqa-synthetic-search-r1/smoke@v1": "sha256:b29f8d19b44e9b8980675796009fe08505925a66c24799b01d98b0bb1abf448a",
    "toolqa-synthetic-search-r1/test@v1": "sha256:3b6020c85dcbf58fc313f5105ab0c4d7cdb8ea2808a97b628d4acdbbc35c33fd",
    "webshop-1k-verl-agent/smoke@v1": "sha256:865038d1673596dd7e99fb7934ca0fb94f9a3772fbb8885fa3cac511e471645a",
    "webshop-1k-verl-agent/test@v1": "sha256:1e9c3929ef949ae803ebe9781fdac00fe218c5244c34b602303e0fabf8d72155",
}
"""Content hashes of the released protocol specs: a change needs a new @vN, never an edit."""


def test_released_protocol_specs_keep_their_hashes():
    from anchorgym.harness.specs import list_benchmarks

    found = {s.id: s.content_hash() for s in list_benchmarks() if s.source.endswith("protocols.json")}
    assert {k: found[k] for k in RELEASED} == RELEASED
