r"""Search-R1's whole-text scoring: the trajectory text it scores, and the answer it reads from it.

Search-R1 (``search_r1/llm_agent/generation.py``, ``verl/utils/reward_score/qa_em.py``) scores the
decoded prompt plus the whole response: every turn (cut after its first ``</search>``, else its
first ``</answer>``), each search's ``\n\n<information>...</information>\n\n``, each invalid
turn's ``\nMy previous action is invalid. ...\n``; the answer-only last turn's observation is not
appended. ``extract_solution`` reads the *last* ``<answer>...</answer>`` of that text and only when
there are at least two (the prompt itself holds two: ``<answer> and </answer>`` and
``<answer> Beijing </answer>``). So an earlier unclosed ``<answer>`` swallows the final answer, a
retrieved passage holding ``<answer>X</answer>`` can be scored, and an episode that never answers
is scored on the prompt's example, ``Beijing``.

Its data step (``scripts/data_process/nq_search.py``) strips each question and appends ``?`` when
it does not end with one.
"""

from __future__ import annotations

import re

from anchorgym.envs.toolqa.protocol import INVALID_ACTION_MESSAGE, cut_turn

_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)


def search_r1_question(question: str) -> str:
    """Search-R1's data step: strip, and end with ``?``.

    >>> search_r1_question(" who wrote Hamlet "), search_r1_question("Is it?")
    ('who wrote Hamlet?', 'Is it?')
    """
    question = question.strip()
    return question if question.endswith("?") else question + "?"


def transcript_answer(text: str) -> str | None:
    """The answer ``extract_solution`` reads: the last of at least two ``<answer>`` blocks, stripped.

    >>> transcript_answer("<answer> and </answer> <answer> Beijing </answer> <answer>Paris</answer>")
    'Paris'
    >>> transcript_answer("<answer>Paris</answer>") is None
    True
    """
    matches = _ANSWER.findall(text)
    return matches[-1].strip() if len(matches) > 1 else None


def turn_text(turn: str, observation: str, valid: bool, last_turn: bool) -> str:
    """What one turn adds to the scored text: the cut turn, then what the model was shown.

    Args:
        turn: the model's whole turn.
        observation: the env's observation after it (``<information>...</information>``, the
            invalid-action message, or the answer's).
        valid: the turn held a search or an answer.
        last_turn: Search-R1's answer-only turn (its observation is never appended), or an answer.
    """
    if last_turn:
        return cut_turn(turn)
    if not valid:
        return f"{cut_turn(turn)}\n{INVALID_ACTION_MESSAGE}\n"
    return f"{cut_turn(turn)}\n\n{observation}\n\n"
