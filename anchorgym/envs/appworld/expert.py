"""The AppWorld expert: the generator's own solution of each offline task.

AppWorld's real tasks ship their solutions only in the full ground truth of
the train/dev splits, as code for AppWorld's internal harness; the env offers
no expert for them.
"""

from __future__ import annotations

from typing import Any


def as_action(code: str) -> str:
    """Wrap code as an action.

    >>> print(as_action("print(1)"))
    <code>
    print(1)
    </code>
    """
    return f"<code>\n{code.strip()}\n</code>"


def expert_code(spec: dict[str, Any], wrong: bool = False) -> str:
    """Return the expert's (or, with ``wrong``, the generator's deliberately wrong) solution action."""
    return as_action(spec["wrong_solution" if wrong else "solution"])
