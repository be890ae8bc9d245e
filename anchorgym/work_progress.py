"""Progress of long data work (unpacking, copying, generating): a bar in a terminal, a line per tenth elsewhere.

Outside a terminal (a log file, a pipe, CI) a redrawn bar would fill the log, so the progress is a few plain
lines instead: one each time another tenth of the work is done.
"""

from __future__ import annotations

import sys
from typing import Any


class WorkProgress:
    """How much of a long piece of work is done: a tqdm bar on a terminal, else a line per tenth on stderr.

    Args:
        label: what is being done, e.g. ``"Unpacking json_2.1.1.tar.xz"``.
        total: the amount of work (bytes or items).
        unit: ``"B"`` (shown in MB) or another unit name shown after the counts.
        show_from: smaller work finishes in moments and shows nothing.
    """

    def __init__(self, label: str, total: int, unit: str, show_from: int = 0) -> None:
        self.label, self.total, self.unit, self.done, self.tenth = label, max(total, 1), unit, 0, 0
        self.bar: Any = None
        self.shown = total >= show_from
        if self.shown and sys.stderr.isatty():
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=label, unit=unit, unit_scale=unit == "B", file=sys.stderr)

    def update(self, amount: int) -> None:
        """Count ``amount`` more units done."""
        self.done += amount
        if self.bar is not None:
            self.bar.update(amount)
            return
        tenth = min(self.done * 10 // self.total, 10)
        if self.shown and tenth != self.tenth:
            self.tenth = tenth
            done, total = (self.done / 1e6, self.total / 1e6) if self.unit == "B" else (self.done, self.total)
            unit = "MB" if self.unit == "B" else self.unit
            print(f"{self.label}: {tenth * 10}% ({done:.0f} of {total:.0f} {unit})", file=sys.stderr, flush=True)

    def close(self) -> None:
        """End the bar."""
        if self.bar is not None:
            self.bar.close()
