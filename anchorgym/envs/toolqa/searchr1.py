"""Import a user's Search-R1 / FlashRAG-format questions (JSONL, JSON or parquet) plus corpus."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from anchorgym.envs.toolqa.corpus import read_corpus
from anchorgym.envs.toolqa.tasks import Task, ToolQAData
from anchorgym.errors import ConfigError, DataNotFoundError, missing_extra

QUESTION_SUFFIXES = (".jsonl", ".parquet", ".json")


def load_search_r1(path: Path, split: str, corpus: str | None, need_corpus: bool = True) -> ToolQAData:
    """Load questions from ``path`` (a file, or a folder with ``<split>.<jsonl|parquet|json>``) and the corpus."""
    questions = path if path.is_file() else _split_file(path, split)
    tasks = [_task(row, i, questions) for i, row in enumerate(read_rows(questions))]
    if not tasks:
        raise ConfigError(f"{questions} holds no questions.")
    corpus_path = Path(corpus) if corpus else questions.parent / "corpus.jsonl"
    if not corpus_path.is_file() and not need_corpus:
        return ToolQAData(str(path), split, tasks, None)
    if not corpus_path.is_file():
        raise DataNotFoundError(
            f"No corpus for {questions}: {corpus_path} does not exist. Pass corpus=PATH (JSONL with id and "
            "contents), or point the env at a retrieval server with retriever='http://host:port/retrieve'."
        )
    return ToolQAData(str(path), split, tasks, read_corpus(corpus_path))


def _split_file(folder: Path, split: str) -> Path:
    for suffix in QUESTION_SUFFIXES:
        if (folder / f"{split}{suffix}").is_file():
            return folder / f"{split}{suffix}"
    found = sorted(p.name for p in folder.glob("*") if p.suffix in QUESTION_SUFFIXES and p.stem != "corpus")
    raise DataNotFoundError(
        f"No questions for split {split!r} in {folder}: expected {split}.jsonl or {split}.parquet. "
        f"Found: {', '.join(found) or 'nothing'}."
    )


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a JSONL, JSON (a list) or parquet file."""
    if path.suffix == ".parquet":
        try:
            import pandas as pd

            return pd.read_parquet(path).to_dict(orient="records")
        except ImportError as error:
            raise missing_extra("pyarrow", "toolqa") from error
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".json":
            return list(json.loads(text))
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path} is not valid JSON ({error}).") from error


def _task(row: dict[str, Any], index: int, path: Path) -> Task:
    answers = row.get("golden_answers")
    if answers is None:
        answers = ((row.get("reward_model") or {}).get("ground_truth") or {}).get("target")
    if not isinstance(row.get("question"), str) or answers is None:
        raise ConfigError(
            f"{path} row {index} lacks 'question' or 'golden_answers' (keys: {sorted(row)}). "
            "Each row needs a question string and a list of gold answers."
        )
    answers = [answers] if isinstance(answers, str) else list(answers)
    extra = row.get("extra_info") or {}
    task_id = row.get("id", extra.get("index", index))
    return Task(str(task_id), row["question"], tuple(map(str, answers)), str(row.get("data_source", "qa")))


def write_questions(tasks: Sequence[Task], path: str | Path) -> Path:
    """Write tasks as FlashRAG/Search-R1 JSONL rows ``{"id", "question", "golden_answers"}``, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        for task in tasks:
            row = {"id": task.id, "question": task.question, "golden_answers": list(task.answers)}
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return path
