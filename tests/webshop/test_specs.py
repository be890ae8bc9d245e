"""The WebShop benchmark specs: @v2 plays WebShop-v1, @v1 still resolves to WebShop-v0, and the two never compare."""

from __future__ import annotations

import json

import pytest

from anchorgym.errors import ResultError
from anchorgym.harness.compare import compare
from anchorgym.harness.runner import evaluate
from anchorgym.harness.specs import load_benchmark


@pytest.mark.parametrize("split", ["test", "smoke"])
def test_v2_plays_webshop_v1_and_v1_still_resolves(split):
    old, new = load_benchmark(f"webshop-1k/{split}@v1"), load_benchmark(f"webshop-1k/{split}@v2")
    assert (old.env_id, new.env_id) == ("anchorgym/WebShop-v0", "anchorgym/WebShop-v1")
    assert old.env_kwargs == new.env_kwargs == {"search": "bm25s"}
    assert old.content_hash() != new.content_hash()


def test_results_of_v1_are_refused_against_v2(webshop_dir, tmp_path):
    v1, v2 = tmp_path / "v1", tmp_path / "v2"
    evaluate("webshop-1k/smoke@v1", "expert", out=v1, progress=False)
    evaluate("webshop-1k/smoke@v2", "expert", out=v2, progress=False)
    scores = [json.loads(line)["score"] for line in (v2 / "episodes.jsonl").read_text().splitlines()]
    assert scores == [1.0] * 8  # smoke goals 0-7 hold no pair-quirk colour
    with pytest.raises(ResultError, match=r"^Cannot compare .*\(webshop-1k/smoke@v1, benchmark spec sha256:"):
        compare([v1, v2])
    assert compare([v2, v2]).startswith("webshop-1k/smoke@v2 (spec sha256:")
