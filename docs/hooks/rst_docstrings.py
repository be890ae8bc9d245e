"""Griffe extension: show anchorgym's reST-flavoured docstrings as Markdown on the API page.

The docstrings follow the Google convention (ruff checks it) with a few reST habits that Python's own
``help()`` reads well: double-backtick literals, Sphinx roles (``:class:`X```), ``::`` before an indented
example and simple ``=====`` tables. mkdocstrings renders Markdown, so each docstring's text is converted
on load; the source keeps its form.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:class|func|meth|mod|attr|data|exc|obj):`~?\.?([^`]+)`")
LITERAL = re.compile(r"``([^`]+)``")
BORDER = re.compile(r"^( *)(=+)( +=+)+ *$")


def rst_to_markdown(text: str) -> str:
    r"""Convert the reST habits of a docstring to Markdown.

    >>> rst_to_markdown("See :class:`~a.B` and ``x = 1``::")
    'See `B` and `x = 1`:'
    >>> print(rst_to_markdown("== =====\nk  v\n== =====\na  one\nbb two\n== ====="))
    | k | v |
    |---|---|
    | a | one |
    | bb | two |
    """
    text = _tables(text)  # first: the columns are aligned on the reST text
    text = ROLE.sub(lambda m: f"`{m.group(1).rsplit('.', 1)[-1]}`", text)
    text = LITERAL.sub(r"`\1`", text)
    return re.sub(r"(\S)::$", r"\1:", text, flags=re.M)


def _cells(line: str, starts: list[int]) -> list[str]:
    """Split a row at the column starts; a cell that runs past its column pushes the cut to the next space."""
    cells, position = [], 0
    for index, start in enumerate(starts):
        cut = len(line) if index + 1 == len(starts) else starts[index + 1]
        while 0 < cut < len(line) and not line[cut - 1].isspace():
            cut += 1
        cells.append(line[max(start, position) : cut].strip().replace("|", "\\|"))
        position = cut
    return cells


def _tables(text: str) -> str:
    """Turn reST simple tables (a border, a header, a border, rows, a border) into Markdown tables."""
    lines, out, index = text.splitlines(), [], 0
    while index < len(lines):
        if not (BORDER.match(lines[index]) and index + 2 < len(lines) and BORDER.match(lines[index + 2])):
            out.append(lines[index])
            index += 1
            continue
        starts = [m.start() for m in re.finditer(r"=+", lines[index])]
        end = next((j for j in range(index + 3, len(lines)) if BORDER.match(lines[j])), len(lines))
        header = _cells(lines[index + 1], starts)
        out += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        out += ["| " + " | ".join(_cells(row, starts)) + " |" for row in lines[index + 3 : end] if row.strip()]
        index = end + 1
    return "\n".join(out)


class RstDocstrings(griffe.Extension):
    """Convert every loaded docstring (see :func:`rst_to_markdown`)."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Rewrite the docstring of each object as it is loaded."""
        if obj.docstring is not None:
            obj.docstring.value = rst_to_markdown(obj.docstring.value)
