"""Crash-safe result files: atomic JSON writes and an fsync'd, append-only episode log.

``episodes.jsonl`` gets one JSON line per finished episode, written in one
``write`` call, flushed and fsync'd, so a killed run loses at most the episode
being written: a last line without its newline. :func:`read_episodes` drops (and,
when repairing, truncates) that cut-off part only, so a resumed run never reads or
extends a corrupt file; any complete line that is not JSON is an error.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any

from anchorgym.errors import ResultError

EPISODES_FILE = "episodes.jsonl"
RESULT_FILE = "result.json"
RUN_FILE = "run.json"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temp file in the same folder, fsync and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON to ``path`` atomically."""
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def read_json(path: Path) -> dict[str, Any]:
    """Read a JSON result file, raising :class:`ResultError` when it is missing or corrupt."""
    if not path.is_file():
        raise ResultError(f"{path} does not exist. Point to a directory written by `anchorgym eval`.")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ResultError(f"{path} is not valid JSON ({error}); re-run the evaluation.") from error


def read_episodes(path: Path, repair: bool = False) -> list[dict[str, Any]]:
    """Read every complete episode line of ``path`` (missing file: no episodes).

    A complete line ends with a newline; what follows the last newline was cut off by a kill.

    Args:
        path: an ``episodes.jsonl`` file.
        repair: truncate the file after its last complete line (a run killed mid-write),
            so appending continues a valid file.

    Raises:
        ResultError: a complete line is not a JSON object.
    """
    if not path.is_file():
        return []
    data = path.read_bytes()
    lines = data.split(b"\n")[:-1]  # the part after the last newline is never complete
    episodes = [_parse_line(path, number, line) for number, line in enumerate(lines, start=1)]
    good_end = data.rfind(b"\n") + 1
    if repair and good_end < len(data):
        with open(path, "r+b") as handle:
            handle.truncate(good_end)
            os.fsync(handle.fileno())
    return episodes


def _parse_line(path: Path, number: int, line: bytes) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ResultError(f"{path} line {number} is corrupt ({error}); remove or fix it, then resume.") from error
    if not isinstance(record, dict):
        raise ResultError(f"{path} line {number} is not a JSON object; remove or fix it, then resume.")
    return record


def episode_line(record: dict[str, Any]) -> str:
    """Return ``record`` as one compact ``episodes.jsonl`` line (with its newline)."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"


class EpisodeLog:
    """Append-only writer of ``episodes.jsonl``: one line, flush and fsync per episode."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.handle: IO[str] = open(path, "a", encoding="utf-8")

    def append(self, record: dict[str, Any]) -> None:
        """Write one episode record durably."""
        self.handle.write(episode_line(record))
        self.handle.flush()
        os.fsync(self.handle.fileno())

    def close(self) -> None:
        """Close the file."""
        self.handle.close()

    def __enter__(self) -> EpisodeLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
