"""Experts that play tool-QA from what retrieval returned.

* Synthetic questions: :func:`chain_expert` searches the current entity's name (a city's name
  with the word "city": organisations borrow city names, so "Klosouhor" alone may rank
  "Klosouhor Bank" first), reads the next entity off the returned passage with the relation's
  sentence pattern, and answers once the chain is walked. It never looks at the gold answer, so
  its 100% win rate shows every question is answerable through the retriever.
* Other data sets: :func:`supporting_expert` searches the titles of the supporting passages,
  then answers the gold answer (an upper bound, not an honest player).
"""

from __future__ import annotations

from collections.abc import Mapping

from anchorgym.envs.toolqa.corpus import Passage, plain_title
from anchorgym.envs.toolqa.tasks import Task
from anchorgym.envs.toolqa.world import CITY, RELATIONS


def search(query: str) -> str:
    """Format a search action."""
    return f"<search>{query}</search>"


def answer(text: str) -> str:
    """Format an answer action."""
    return f"<answer>{text}</answer>"


def entity_query(name: str, kind: str) -> str:
    """The search for one entity's passage: its name, plus "city" for cities.

    >>> entity_query("Klosouhor", "city"), entity_query("Geir Fadix", "person")
    ('Klosouhor city', 'Geir Fadix')
    """
    return f"{name} city" if kind == CITY else name


def chain_expert(task: Task, seen: Mapping[str, Passage]) -> str:
    """Next action for a synthetic question, from the passages retrieved so far."""
    by_title = {plain_title(p.title): p for p in seen.values()}
    current = task.meta["start"]
    for name in task.meta["chain"]:
        passage = by_title.get(current)
        if passage is None:
            return search(entity_query(current, RELATIONS[name].subject))
        match = RELATIONS[name].pattern(current).search(passage.text)
        if match is None:  # the passage does not state the fact: nothing left to read
            return answer("unknown")
        current = match.group(1)
    return answer(current)


def supporting_expert(task: Task, seen: Mapping[str, Passage], corpus: Mapping[str, Passage], turns_left: int) -> str:
    """Search each unseen supporting passage by title while turns remain, then answer the gold answer."""
    missing = [pid for pid in task.supporting if pid not in seen and pid in corpus]
    if missing and turns_left > 1:
        return search(plain_title(corpus[missing[0]].title))
    return answer(task.answers[0])
