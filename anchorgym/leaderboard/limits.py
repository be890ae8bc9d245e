"""Bounds on a submission, checked while it is parsed (before any work proportional to a declared count).

:class:`Limits` holds every bound. :func:`strict_loads` parses JSON refusing ``NaN``, ``Infinity``,
numbers that overflow a float (``1e400``), integers too large to be exact in a float (``10**400``) and
strings longer than the limit, each with a :class:`~anchorgym.errors.ResultError` naming the problem.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from anchorgym.errors import ResultError

MAX_MAGNITUDE = 1e12
"""Largest absolute number a submission may hold: far above any reward, score or count, far below overflow."""
MAX_EXACT_INT = 2**53
"""Largest absolute integer a submission may hold (beyond it a float loses integers)."""


@dataclass(frozen=True)
class Limits:
    """What one submission may hold.

    Attributes:
        max_body_bytes: the whole request body (413 beyond).
        max_result_bytes: ``result.json``.
        max_line_bytes: one line of ``episodes.jsonl`` (one episode).
        max_string_chars: any one string (observation, action, instruction...).
        max_seeds: declared seeds.
        max_episodes: episodes in the benchmark (tasks x episodes per task x seeds).
        max_depth: nesting of JSON arrays and objects.
    """

    max_body_bytes: int = 64 * 1024 * 1024
    max_result_bytes: int = 1024 * 1024
    max_line_bytes: int = 8 * 1024 * 1024
    max_string_chars: int = 100_000
    max_seeds: int = 100
    max_episodes: int = 20_000
    max_depth: int = 32


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or abs(value) > MAX_MAGNITUDE:
        raise ResultError(
            f"The number {text[:40]} is out of range: numbers must be finite and within ±{MAX_MAGNITUDE:g}."
        )
    return value


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > 16:
        raise ResultError(f"The integer {text[:40]}... is out of range: integers must be within ±2**53.")
    value = int(text)
    if abs(value) > MAX_EXACT_INT:
        raise ResultError(f"The integer {text} is out of range: integers must be within ±2**53.")
    return value


def _parse_constant(text: str) -> Any:
    raise ResultError(f"{text} is not a JSON number: numbers must be finite.")


def _check_shape(value: Any, limits: Limits, depth: int = 0) -> None:
    """Raise ResultError for a string over ``max_string_chars`` or nesting over ``max_depth``."""
    if isinstance(value, str):
        if len(value) > limits.max_string_chars:
            raise ResultError(
                f"A string of {len(value)} characters ({value[:40]!r}...) exceeds the limit of "
                f"{limits.max_string_chars}: submit the files 'anchorgym eval' wrote."
            )
        return
    if isinstance(value, dict | list):
        if depth >= limits.max_depth:
            raise ResultError(
                f"JSON nested deeper than {limits.max_depth} levels: submit the files 'anchorgym eval' wrote."
            )
        for item in value.values() if isinstance(value, dict) else value:
            _check_shape(item, limits, depth + 1)
        if isinstance(value, dict):
            for key in value:
                _check_shape(key, limits, depth + 1)


def strict_loads(text: str | bytes, limits: Limits, what: str) -> Any:
    """Parse ``text`` as JSON within ``limits``.

    Raises:
        ValueError: not JSON at all (``json.JSONDecodeError``, ``RecursionError`` or a decoding error).
        ResultError: valid JSON holding a non-finite or out-of-range number, a too long string or too deep nesting.
    """
    try:
        value = json.loads(text, parse_float=_parse_float, parse_int=_parse_int, parse_constant=_parse_constant)
    except ResultError as error:
        raise ResultError(f"{what}: {error}") from error
    try:
        _check_shape(value, limits)
    except ResultError as error:
        raise ResultError(f"{what}: {error}") from error
    return value
