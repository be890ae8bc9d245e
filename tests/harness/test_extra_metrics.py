"""Spec-declared extra metrics (``metrics.extra``): recorded per episode, summarised, shown and compared."""

from __future__ import annotations

import json

import pytest

from anchorgym.harness.compare import compare
from anchorgym.harness.metrics import summarize
from anchorgym.harness.runner import evaluate
from anchorgym.harness.specs import load_benchmark

pytest.importorskip("bm25s")


def _record(seed: int, index: int, won: bool, subem: float) -> dict:
    return {
        "seed": seed, "task_index": index, "episode": 0, "task_type": "", "won": won, "score": float(won),
        "length": 2, "return": float(won), "invalid_actions": 0, "parse_failures": 0, "tokens_in": None,
        "tokens_out": None, "metrics": {"subem": subem},
    }  # fmt: skip


def test_extra_metrics_are_means_over_seeds_like_success():
    records = [
        _record(0, 0, True, 1.0),
        _record(0, 1, False, 1.0),
        _record(1, 0, False, 0.0),
        _record(1, 1, False, 1.0),
    ]
    extra = summarize(records)["extra"]
    # seed 0: (1 + 1) / 2 = 1.0; seed 1: (0 + 1) / 2 = 0.5; mean 0.75, sd 0.353553, se 0.25, t(1) = 12.706205
    assert extra == {
        "subem": {"mean": 0.75, "se": 0.25, "ci95": [-2.426551, 3.926551], "n_seeds": 2, "per_seed": [1.0, 0.5]}
    }


def test_records_without_extra_metrics_keep_the_released_summary():
    records = [{k: v for k, v in _record(0, 0, True, 1.0).items() if k != "metrics"}]
    assert "extra" not in summarize(records)


def test_search_r1_benchmarks_report_substring_em_beside_em_and_f1(tmp_path):
    assert load_benchmark("toolqa-synthetic/smoke@v2").extra_metrics == ("subem",)
    assert load_benchmark("toolqa-synthetic/smoke@v1").extra_metrics == ()
    result = evaluate("toolqa-synthetic/smoke@v2", "expert", out=tmp_path / "run", progress=False)
    assert result["metrics"]["extra"]["subem"]["per_seed"] == [1.0]
    records = [json.loads(line) for line in (tmp_path / "run" / "episodes.jsonl").read_text().splitlines()]
    assert [r["metrics"] for r in records] == [{"subem": 1.0}] * 9
    evaluate("toolqa-synthetic/smoke@v2", "expert", out=tmp_path / "again", progress=False)
    table = compare([tmp_path / "run", tmp_path / "again"])
    assert table.splitlines()[2].split("|")[1:-1][-1].strip() == "subem"
    assert table.splitlines()[4].split("|")[1:-1][-1].strip() == "100.0%"
