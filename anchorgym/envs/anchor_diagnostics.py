"""How far observation-text anchors are from true-state anchors.

verl-agent's GiGPO groups the steps of an episode group by the raw observation text; anchorgym's
default anchor is the env's true state. The two disagree in two ways:

* **aliasing**: one text stands for several true states, so a text step group mixes steps that act
  from different states (ALFWorld's "Nothing happens." after any no-op). Reported as the share of the
  steps in text step groups of two or more whose group also holds a step from another true state.
* **splitting**: one true state is shown under several texts (ALFWorld's "You arrive at desk 1..."
  versus the text after examining it), so steps that act from the same state land in different text
  groups. Reported as the share of distinct true states (per episode group) seen under more than one
  text.

Both are 0 when text and state partition the steps alike (Sokoban, where the room is the state).
Step groups never cross episode groups, so both are counted within each episode group.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from anchorgym.envs.anchors import digest


@dataclass(frozen=True)
class AnchorDiagnostics:
    """Aliasing and splitting of text anchors against state anchors over a batch of steps.

    Attributes:
        steps: steps counted.
        grouped_steps: steps whose text step group holds two or more steps.
        aliased_steps: of those, steps whose text group also holds another true state.
        states: distinct (episode group, true state) pairs.
        split_states: of those, states seen under more than one text.
    """

    steps: int
    grouped_steps: int
    aliased_steps: int
    states: int
    split_states: int

    @property
    def aliasing(self) -> float:
        """Share of grouped steps whose text group mixes true states (0 when nothing is grouped)."""
        return self.aliased_steps / self.grouped_steps if self.grouped_steps else 0.0

    @property
    def splitting(self) -> float:
        """Share of true states that appear under more than one text."""
        return self.split_states / self.states if self.states else 0.0

    def metrics(self, prefix: str = "anchors/") -> dict[str, float]:
        """Return the two shares under slash-separated metric keys (``anchors/aliasing``, ``anchors/splitting``)."""
        return {f"{prefix}aliasing": self.aliasing, f"{prefix}splitting": self.splitting}

    def to_json(self) -> dict[str, Any]:
        """Return the counts and both shares as a JSON-able dict."""
        return {**asdict(self), "aliasing": self.aliasing, "splitting": self.splitting}


def text_anchor(observation: str) -> str:
    """Return the anchor verl-agent would give a step: the digest of its observation text.

    >>> text_anchor("Nothing happens.") == text_anchor("Nothing happens.")
    True
    """
    return digest(observation)


def diagnose(groups: Sequence[Any], states: Sequence[str], texts: Sequence[str]) -> AnchorDiagnostics:
    """Compare text anchors with state anchors, one entry per step.

    Args:
        groups: the episode group of each step (step groups never cross them).
        states: the true-state anchor each step acted from.
        texts: the text anchor (or the observation text itself) of each step.

    >>> d = diagnose([0, 0, 0, 0], ["s1", "s2", "s1", "s3"], ["a", "a", "b", "c"])
    >>> d.aliased_steps, d.grouped_steps, d.split_states, d.states
    (2, 2, 1, 3)
    >>> round(d.aliasing, 3), round(d.splitting, 3)
    (1.0, 0.333)
    """
    if not len(groups) == len(states) == len(texts):
        raise ValueError(f"groups, states and texts differ in length: {len(groups)}, {len(states)}, {len(texts)}")
    states_of_text: dict[tuple[Any, str], set[str]] = defaultdict(set)
    size_of_text: dict[tuple[Any, str], int] = defaultdict(int)
    texts_of_state: dict[tuple[Any, str], set[str]] = defaultdict(set)
    for group, state, text in zip(groups, states, texts, strict=True):
        states_of_text[group, text].add(state)
        size_of_text[group, text] += 1
        texts_of_state[group, state].add(text)
    grouped = aliased = 0
    for key, size in size_of_text.items():
        if size >= 2:
            grouped += size
            if len(states_of_text[key]) > 1:
                aliased += size
    split = sum(1 for seen in texts_of_state.values() if len(seen) > 1)
    return AnchorDiagnostics(len(groups), grouped, aliased, len(texts_of_state), split)


def diagnose_episodes(episodes: Sequence[Any]) -> AnchorDiagnostics:
    """Diagnose harness episodes played with state anchors: each step's text anchor is its observation.

    Every :class:`~anchorgym.harness.rollout.StepRecord` carries the anchor of the state it acted from and
    the observation text the policy saw, which is exactly what verl-agent anchors on.
    """
    rows = [(e.group_id, s.anchor, s.observation) for e in episodes for s in e.steps]
    if not rows:
        return AnchorDiagnostics(0, 0, 0, 0, 0)
    groups, states, texts = zip(*rows, strict=True)
    return diagnose(groups, states, texts)
