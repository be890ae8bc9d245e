"""The tool-QA benchmark specs: @v1 kept as released, @v2 under Search-R1's turn rules, never compared."""

import pytest

from anchorgym.errors import ResultError
from anchorgym.harness.compare import compare
from anchorgym.harness.runner import evaluate
from anchorgym.harness.specs import list_benchmarks, load_benchmark

RELEASED_V1 = {
    "toolqa-synthetic/test@v1": "sha256:4791dda3fe139a0831520d259e17c7b0a9de8f581e539d534da024eac5f88626",
    "toolqa-synthetic/smoke@v1": "sha256:de726e52f00d45072235bd429586c092cb8516515014337175c6c0dd60b9867d",
    "toolqa-synthetic-4hop/test@v1": "sha256:ffadd1a2bdc604f4c41fc05932d0f081adac7539b0e9f9ca97abfaa5b7fe32bb",
    "hotpot-sample/dev@v1": "sha256:cb941ce7c8905db08711263eaa742530d069b5bb2026e0dc804adb9a98bbe1fe",
    "hotpot-sample-wiki/dev@v1": "sha256:bfbba977a50993033d39e486a02b63dd1671e0d5c5ec470b09f09f02c5cf566c",
}


@pytest.mark.parametrize(("benchmark_id", "spec_hash"), sorted(RELEASED_V1.items()))
def test_released_v1_specs_resolve_unchanged(benchmark_id, spec_hash):
    spec = load_benchmark(benchmark_id)
    assert spec.content_hash() == spec_hash
    assert "protocol" not in spec.env_kwargs  # the env's default, "legacy": the rules the results were made with


@pytest.mark.parametrize("benchmark_id", sorted(RELEASED_V1))
def test_v2_is_v1_under_search_r1_rules_with_five_turns(benchmark_id):
    v1, v2 = load_benchmark(benchmark_id), load_benchmark(benchmark_id.replace("@v1", "@v2"))
    assert v2.env_kwargs == {**v1.env_kwargs, "protocol": "search-r1"}
    assert (v1.env_id, v2.env_id) == ("anchorgym/ToolQA-v0", "anchorgym/ToolQA-v1")
    assert (v2.tasks, v2.split, v2.seeds) == (v1.tasks, v1.split, v1.seeds)
    assert (v1.prompt_template, v2.prompt_template) == (
        {"name": "toolqa", "version": "1"},
        {"name": "toolqa", "version": "2"},
    )
    assert (v2.max_steps, v2.history_length) == (5, 4)  # Search-R1's max_turns=4 plus its answer-only turn


def test_every_tool_qa_family_has_a_v2():
    v0 = {spec.id for spec in list_benchmarks() if spec.env_id == "anchorgym/ToolQA-v0"}
    v1 = {spec.id for spec in list_benchmarks() if spec.env_id == "anchorgym/ToolQA-v1"}
    assert (v0, v1) == (set(RELEASED_V1), {i.replace("@v1", "@v2") for i in RELEASED_V1})


@pytest.fixture(scope="module")
def smoke_runs(tmp_path_factory):
    """The expert on both smoke versions: ``{version: (result folder, result)}``."""
    root = tmp_path_factory.mktemp("smoke")
    return {
        v: (root / v, evaluate(f"toolqa-synthetic/smoke@{v}", "expert", out=root / v, progress=False))
        for v in ("v1", "v2")
    }


def test_expert_wins_both_smoke_versions(smoke_runs):
    for _, result in smoke_runs.values():
        assert result["metrics"]["success_rate"]["mean"] == 1.0 and result["metrics"]["episodes"] == 9
        assert result["metrics"]["invalid_action_rate"]["mean"] == 0.0


def test_compare_refuses_v1_results_against_v2(smoke_runs, tmp_path):
    (v1, _), (v2, result) = smoke_runs["v1"], smoke_runs["v2"]
    with pytest.raises(ResultError, match=r"their benchmark specs and prompt templates differ"):
        compare([v1, v2])
    again = evaluate("toolqa-synthetic/smoke@v2", "expert", out=tmp_path / "again", progress=False)
    assert again["metrics"] == result["metrics"]
    assert "toolqa-synthetic/smoke@v2" in compare([v2, tmp_path / "again"])
