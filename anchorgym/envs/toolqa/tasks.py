"""A tool-QA task (one question) and a data set (tasks of one split plus the corpus they search)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from anchorgym.envs.toolqa.corpus import Passage


@dataclass(frozen=True)
class Task:
    """One question.

    Attributes:
        id: unique within its split.
        question: the question text.
        answers: gold answers; exact match against any one wins.
        task_type: the family, e.g. ``"2-hop"`` or HotpotQA's ``"bridge"``.
        supporting: ids of the passages that hold the evidence (empty when unknown).
        meta: data-set specific facts an expert may use (synthetic: start entity and relation chain).
    """

    id: str
    question: str
    answers: tuple[str, ...]
    task_type: str = "qa"
    supporting: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass
class ToolQAData:
    """The tasks of one split and the corpus (None when only a retrieval server holds it)."""

    name: str
    split: str
    tasks: list[Task]
    passages: list[Passage] | None

    def __post_init__(self) -> None:
        self.by_id = {task.id: task for task in self.tasks}

    def content_hash(self, part: str) -> str:
        """sha256 of the canonical JSON of ``"tasks"`` (id, question, answers) or ``"corpus"`` (cached)."""
        cache = self.__dict__.setdefault("_hashes", {})
        if part not in cache:
            if part == "tasks":
                rows = [[t.id, t.question, list(t.answers)] for t in self.tasks]
            else:
                rows = [[p.id, p.contents] for p in self.passages or []]
            text = json.dumps(rows, ensure_ascii=False, separators=(",", ":"))
            cache[part] = hashlib.sha256(text.encode("utf-8")).hexdigest()
        return cache[part]
