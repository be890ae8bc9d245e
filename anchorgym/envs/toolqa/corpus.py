r"""Corpus passages in Search-R1's JSONL format and the ``<information>`` block the agent sees.

Each line of a corpus file is ``{"id": "...", "contents": "\"Title\"\ntext"}``:
the first line of ``contents`` is the title, the rest is the passage text.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from anchorgym.errors import ConfigError, DataNotFoundError


@dataclass(frozen=True)
class Passage:
    """One retrievable passage."""

    id: str
    contents: str

    @property
    def title(self) -> str:
        """The first line of ``contents`` (Search-R1 keeps its quotes)."""
        return self.contents.split("\n", 1)[0]

    @property
    def text(self) -> str:
        """Everything after the title line."""
        return self.contents.split("\n", 1)[1] if "\n" in self.contents else ""

    def to_json(self) -> dict[str, str]:
        """Return the ``{"id", "contents"}`` document of the retrieval API."""
        return {"id": self.id, "contents": self.contents}


def make_contents(title: str, text: str) -> str:
    r"""Build Search-R1 ``contents`` from a title and a text.

    >>> make_contents("Ed Wood", "Ed Wood was a filmmaker.")
    '"Ed Wood"\nEd Wood was a filmmaker.'
    """
    return f'"{title}"\n{text}'


def plain_title(passage_title: str) -> str:
    """Strip the quotes Search-R1 puts around titles.

    >>> plain_title('"Ed Wood"')
    'Ed Wood'
    """
    if len(passage_title) >= 2 and passage_title[0] == passage_title[-1] == '"':
        return passage_title[1:-1]
    return passage_title


def format_information(passages: Sequence[Passage]) -> str:
    r"""Render retrieved passages as Search-R1 does: ``Doc i(Title: ...) text`` lines in ``<information>``.

    Byte for byte what Search-R1's rollout shows the model (one line per passage, the block stripped),
    so models trained there read the same text here.

    >>> format_information([Passage("1", '"Ed Wood"\nA filmmaker.'), Passage("2", '"Plan 9"\nA film.')])
    '<information>Doc 1(Title: "Ed Wood") A filmmaker.\nDoc 2(Title: "Plan 9") A film.</information>'
    """
    lines = "".join(f"Doc {i}(Title: {p.title}) {p.text}\n" for i, p in enumerate(passages, start=1))
    return f"<information>{lines.strip()}</information>"


def read_corpus(path: str | Path) -> list[Passage]:
    """Read a Search-R1 JSONL corpus.

    Raises:
        DataNotFoundError: the file does not exist.
        ConfigError: a line is not JSON or lacks ``id``/``contents``.
    """
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"Corpus file {path} not found. Pass a JSONL file with 'id' and 'contents' per line.")
    passages = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                passages.append(_parse_line(line, path, number))
    if not passages:
        raise ConfigError(f"Corpus file {path} holds no passages.")
    return passages


def _parse_line(line: str, path: Path, number: int) -> Passage:
    try:
        row = json.loads(line)
        return Passage(str(row["id"]), str(row["contents"]))
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ConfigError(
            f"{path}:{number} is not a corpus row ({error}). Each line must be JSON with 'id' and 'contents'."
        ) from error


def write_corpus(passages: Iterable[Passage], path: str | Path) -> Path:
    """Write passages as JSONL atomically (temp file, then ``os.replace``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        for passage in passages:
            out.write(json.dumps(passage.to_json(), ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return path
