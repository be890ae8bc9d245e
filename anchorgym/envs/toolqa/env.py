"""The tool-QA environment: answer a question by searching a corpus over several turns (Search-R1 protocol).

Actions are free text. ``protocol`` (:mod:`.protocol`) says how a turn becomes an action:
``"search-r1"`` (the ``@v2`` benchmarks) reads the first complete, case-sensitive tag after
Search-R1's cut and answers an invalid turn with Search-R1's fixed message; ``"legacy"`` (the
default, the ``@v1`` benchmarks) reads the last complete tag in any case and makes an invalid
turn a no-op.

* ``<search>q</search>`` retrieves the top-``topk`` passages and observes
  ``<information>Doc 1(Title: "...") text ...</information>``.
* ``<answer>a</answer>`` ends the episode: reward 1.0 and ``won`` when ``a`` matches any gold
  answer exactly after normalisation (:mod:`.metrics`); ``score`` is the best token F1.

Every ``info`` also holds the submitted answer's ``em``, ``subem`` (Search-R1's sub-string exact
match) and ``f1`` (all 0.0 before an answer). ``scoring="transcript"`` (``ToolQA-v2``) scores instead
as Search-R1 does, the last ``<answer>`` of the whole text, prompt and passages included, at the
episode's end (:mod:`.transcript`); ``question_mark`` ends each question with ``?`` as its data step.
The episode is truncated after ``max_steps`` turns (default 4). ``info["retrieved_ids"]`` lists
the passages of the last search; the anchor is the question plus the set of passages seen.
"""

from __future__ import annotations

import json
from typing import Any

from anchorgym.envs.anchors import AnchorFn
from anchorgym.envs.core import AnchorEnv, Transition
from anchorgym.envs.toolqa import data, expert
from anchorgym.envs.toolqa.anchor import anchor_state
from anchorgym.envs.toolqa.corpus import Passage, format_information
from anchorgym.envs.toolqa.metrics import answer_metrics, best_f1, exact_match
from anchorgym.envs.toolqa.protocol import (
    INVALID_ACTION_MESSAGE,
    LEGACY,
    SEARCH_R1,
    canonical,
    check_protocol,
    parse_turn,
    split_canonical,
)
from anchorgym.envs.toolqa.retrieval import DEFAULT_TOPK, Retriever, build_index, check_topk
from anchorgym.envs.toolqa.tasks import Task
from anchorgym.envs.toolqa.transcript import search_r1_question, transcript_answer, turn_text
from anchorgym.errors import ConfigError

_INDEXES: dict[tuple[str, str, str, str], Retriever] = {}  # one index per corpus per process, shared by envs
ANSWER, TRANSCRIPT = "answer", "transcript"
SCORINGS = (ANSWER, TRANSCRIPT)


def is_url(spec: str) -> bool:
    """True when a retriever spec names a server rather than an index kind."""
    return spec.startswith(("http://", "https://"))


class ToolQAEnv(AnchorEnv):
    """Search-augmented multi-turn question answering.

    Args:
        dataset: ``"synthetic"``, ``"hotpot-sample"`` or a path (see :mod:`.data`).
        split: synthetic ``train``/``test``; hotpot-sample ``dev``; a folder's ``<split>`` file.
            None picks the data set's first split.
        retriever: ``"bm25"`` (in-process, default), ``"dense"`` or a server URL
            (``http://127.0.0.1:8000/retrieve``) speaking Search-R1's API.
        topk: passages per search.
        synthetic: options of the synthetic generator (``max_hops``, ``distractor_level``, ``seed``...).
        data_dir: folder holding ``toolqa/`` (hotpot-sample).
        corpus: corpus JSONL for a path data set.
        pad_wiki: add ~10k Wikipedia summaries as distractors (hotpot-sample).
        max_steps: turn limit (default 4).
        protocol: ``"legacy"`` (default, the ``@v1`` benchmarks) or ``"search-r1"`` (see :mod:`.protocol`).
        scoring: ``"answer"`` (default: the submitted answer) or ``"transcript"`` (Search-R1's
            whole-text scoring at the episode's end, :mod:`.transcript`; needs ``protocol="search-r1"``).
        question_mark: end every question with ``?`` (Search-R1's data step).
        anchor_fn: see :class:`~anchorgym.envs.core.AnchorEnv`.
        render_mode: ``"ansi"`` or None.
    """

    default_max_steps = 4

    def __init__(
        self,
        dataset: str = "synthetic",
        split: str | None = None,
        retriever: str = "bm25",
        topk: int = DEFAULT_TOPK,
        synthetic: dict[str, Any] | None = None,
        data_dir: str | None = None,
        corpus: str | None = None,
        pad_wiki: bool = False,
        max_steps: int | None = None,
        protocol: str = LEGACY,
        scoring: str = ANSWER,
        question_mark: bool = False,
        anchor_fn: str | AnchorFn | None = None,
        render_mode: str | None = None,
    ) -> None:
        split = split or data.SPLITS.get(dataset, ("train",))[0]
        super().__init__(split=split, max_steps=max_steps, anchor_fn=anchor_fn, render_mode=render_mode)
        self.protocol = check_protocol(protocol)
        self.scoring, self.question_mark = _check_scoring(scoring, self.protocol), bool(question_mark)
        self.dataset, self.retriever_spec, self.topk = dataset, retriever, check_topk(topk)
        options = {"synthetic": synthetic, "data_dir": data_dir, "corpus": corpus, "pad_wiki": pad_wiki}
        options["need_corpus"] = not is_url(retriever)
        options_json = json.dumps(options, sort_keys=True)
        self.data = data.load(dataset, split, options_json)
        self._check_turns()
        self.retriever = self._make_retriever(options_json)
        self.corpus = {p.id: p for p in self.data.passages or []}
        self.task: Task = self.data.tasks[0]
        self.seen: dict[str, Passage] = {}
        self.answer: str | None = None
        self.question = self.task.question
        self.transcript = ""  # scoring="transcript": the text Search-R1 scores, grown turn by turn

    def _check_turns(self) -> None:
        hops = max((len(task.meta.get("chain", ())) for task in self.data.tasks), default=0)
        if hops + 1 > self.max_steps:
            raise ConfigError(
                f"{hops}-hop questions need {hops + 1} turns (one search per hop, then the answer), "
                f"but max_steps={self.max_steps}. Pass max_steps={hops + 1} or a smaller synthetic max_hops."
            )

    def _make_retriever(self, options_json: str) -> Retriever:
        if is_url(self.retriever_spec):
            from anchorgym.envs.toolqa.client import HttpRetriever

            return HttpRetriever(self.retriever_spec)
        key = (self.dataset, self.split, options_json, self.retriever_spec)
        if key not in _INDEXES:
            _INDEXES[key] = build_index(self.retriever_spec, self.data.passages)
        return _INDEXES[key]

    # ----------------------------------------------------------------- hooks
    def task_ids(self) -> list[str]:
        """Ids of the split's questions, in data-set order."""
        return [task.id for task in self.data.tasks]

    def _load_task(self, task_id: str) -> str:
        if task_id not in self.data.by_id:
            from anchorgym.errors import unknown

            raise unknown(f"{self.dataset} {self.split} task", task_id, self.data.by_id)
        self.task = self.data.by_id[task_id]
        self.seen, self.answer = {}, None
        self.question = search_r1_question(self.task.question) if self.question_mark else self.task.question
        self.transcript = _search_r1_prompt(self.question) if self.scoring == TRANSCRIPT else ""
        return self.question

    def step(self, action: str) -> tuple[str, float, bool, bool, dict]:
        """Play one turn; under ``scoring="transcript"`` the reward and ``won`` come at the episode's end."""
        observation, reward, terminated, truncated, info = super().step(action)
        if self.scoring != TRANSCRIPT:
            return observation, reward, terminated, truncated, info
        ended = terminated or truncated
        self.transcript += turn_text(action, observation, info["action_valid"], ended)
        if not ended:
            return observation, 0.0, terminated, truncated, info
        answer = self.scored_answer
        self.won = answer is not None and exact_match(answer, self.task.answers)
        info.update(won=self.won, score=self.score, **answer_metrics(self.scored_answer, self.task.answers))
        return observation, float(self.won), terminated, truncated, info

    @property
    def scored_answer(self) -> str | None:
        """The answer the benchmark scores: the submitted one, or Search-R1's read of the whole text."""
        if self.scoring == ANSWER:
            return self.answer
        return transcript_answer(self.transcript) if self.steps and self._ended() else None

    def _ended(self) -> bool:
        return self.answer is not None or self.steps >= self.max_steps

    def parse_action(self, action: str) -> str | None:
        """Return ``<search>q</search>`` / ``<answer>a</answer>`` read from the turn under the protocol, or None."""
        found = parse_turn(action, self.protocol)
        return None if found is None else canonical(*found)

    @property
    def invalid_action_observation(self) -> str | None:
        """Search-R1's fixed message under ``protocol="search-r1"``; None (the previous observation) otherwise."""
        return INVALID_ACTION_MESSAGE if self.protocol == SEARCH_R1 else None

    def _apply(self, action: str) -> Transition:
        tag, content = split_canonical(action)
        if tag == "answer":
            self.answer = content
            self.won = exact_match(content, self.task.answers) and self.scoring == ANSWER
            return Transition(f"Answer submitted: {content}", float(self.won), True, {"answer": content})
        hits = self.retriever.search([content], self.topk)[0]
        for hit in hits:
            self.seen.setdefault(hit.passage.id, hit.passage)
        ids = [hit.passage.id for hit in hits]
        return Transition(format_information([hit.passage for hit in hits]), 0.0, False, {"retrieved_ids": ids})

    def anchor_state(self) -> dict[str, object]:
        """The question and the set of passage ids retrieved so far."""
        return anchor_state(self.task.question, self.seen)

    def admissible_actions(self) -> None:
        """Open action space."""
        return None

    @property
    def instruction(self) -> str:
        """The question (ending with ``?`` under ``question_mark``)."""
        return self.question

    @property
    def task_type(self) -> str:
        """``"<n>-hop"`` for synthetic questions, HotpotQA's ``bridge``/``comparison``..."""
        return self.task.task_type

    @property
    def score(self) -> float:
        """Best token F1 of the scored answer (0.0 before answering)."""
        answer = self.scored_answer
        return best_f1(answer, self.task.answers) if answer is not None else 0.0

    def _info(self, action_valid: bool, extra: dict[str, Any]) -> dict[str, Any]:
        """The standard info plus the answer's ``em``, ``subem`` and ``f1`` (0.0 before an answer)."""
        info = super()._info(action_valid, extra)
        info.update(answer_metrics(self.scored_answer, self.task.answers))
        return info

    def expert_action(self) -> str:
        """The expert's next action (:mod:`.expert`)."""
        if "chain" in self.task.meta:
            return expert.chain_expert(self.task, self.seen)
        return expert.supporting_expert(self.task, self.seen, self.corpus, self.max_steps - self.steps)

    def dataset_hashes(self) -> dict[str, str]:
        """Content hashes of the questions and corpus played (recorded in harness results)."""
        hashes = {f"toolqa/{self.dataset}/{self.split}/tasks": self.data.content_hash("tasks")}
        if self.data.passages is not None:
            hashes[f"toolqa/{self.dataset}/{self.split}/corpus"] = self.data.content_hash("corpus")
        else:
            hashes[f"toolqa/{self.dataset}/{self.split}/corpus"] = f"server:{self.retriever_spec}"
        return hashes

    def close(self) -> None:
        """Close the retrieval connection (HTTP retrievers)."""
        if is_url(self.retriever_spec):
            self.retriever.close()


def _check_scoring(scoring: str, protocol: str) -> str:
    if scoring not in SCORINGS:
        from anchorgym.errors import unknown

        raise unknown("tool-QA scoring", scoring, SCORINGS)
    if scoring == TRANSCRIPT and protocol != SEARCH_R1:
        raise ConfigError('scoring="transcript" reads Search-R1\'s whole text; use it with protocol="search-r1".')
    return scoring


def _search_r1_prompt(question: str) -> str:
    from anchorgym.envs.toolqa.prompts import search_r1_prompt

    return search_r1_prompt(question)
