"""Progress of an evaluation: a live bar in a terminal, a few summary lines in a log.

In a terminal a tqdm bar shows episodes done, the live success rate, the ETA and,
while a batch is stepping, its step. When stderr is not a terminal (a log file, a
pipe, a CI job) the bar is off and :class:`Progress` writes one line at the start
and one per tenth of the episodes instead of a line per update.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import IO, Any

LOG_LINES = 10  # summary lines outside a terminal, one per tenth of the run


class Progress:
    """Episode progress with the live success rate.

    Args:
        total: episodes in the whole run.
        done: records already in the log (a resumed run).
        label: shown before the counts (the benchmark id).
        enabled: False shows nothing at all.
        stream: where to write (default ``sys.stderr``); a bar only when it is a terminal.
    """

    def __init__(
        self, total: int, done: Sequence[dict[str, Any]], label: str, enabled: bool, stream: IO[str] | None = None
    ) -> None:
        self.total, self.label, self.stream = total, label, stream or sys.stderr
        self.wins = sum(bool(r["won"]) for r in done)
        self.errors = sum(bool(r.get("error")) for r in done)
        self.count, self.steps = len(done), 0
        self.bar = self._bar(done) if enabled and self.stream.isatty() else None
        self.logging = enabled and self.bar is None
        self._logged = -1
        self._show()

    def _bar(self, done: Sequence[dict[str, Any]]) -> Any:
        from tqdm.auto import tqdm

        return tqdm(
            total=self.total, initial=len(done), desc=self.label, unit="ep", dynamic_ncols=True, file=self.stream
        )

    def add(self, won: bool, errored: bool = False) -> None:
        """Count one finished episode."""
        self.wins, self.count, self.errors = self.wins + int(won), self.count + 1, self.errors + int(errored)
        if self.bar is not None:
            self.bar.update(1)
        self._show()

    def new_batch(self) -> None:
        """Count steps from zero again: the bar shows the step within the batch being played."""
        self.steps = 0

    def step(self, active: int, _finished: int) -> None:
        """Show that a batch is still stepping (model policies can take minutes per batch)."""
        self.steps += 1
        if self.bar is not None:
            self._show(active)

    def _summary(self) -> dict[str, str]:
        played = self.count - self.errors
        shown = {"success": f"{self.wins / played:.1%}"} if played else {}
        if self.errors:
            shown["errored"] = str(self.errors)
        return shown

    def _show(self, active: int | None = None) -> None:
        if self.bar is not None:
            shown = self._summary()
            if active:
                shown.update(step=str(self.steps), running=str(active))
            self.bar.set_postfix(shown, refresh=active is not None)
        elif self.logging:
            self._log()

    def _log(self) -> None:
        """Write a line at the start, then whenever another tenth of the episodes is done."""
        tenth = self.count * LOG_LINES // self.total if self.total else LOG_LINES
        if tenth == self._logged:
            return
        self._logged = tenth
        parts = [f"{self.label}: {self.count}/{self.total} episodes"]
        parts += [f"{key} {value}" for key, value in self._summary().items()]
        print(", ".join(parts), file=self.stream, flush=True)

    def close(self) -> None:
        """Close the bar (nothing to do for log lines)."""
        if self.bar is not None:
            self.bar.close()
