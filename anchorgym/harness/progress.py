"""Progress of an evaluation: a live bar in a terminal, a few summary lines in a log.

In a terminal a tqdm bar shows episodes done, the live success rate, the ETA and,
while a batch is stepping, its step, the envs still running and, for model policies,
the tokens generated per second. When stderr is not a terminal (a log file, a pipe, a
CI job) the bar is off and :class:`Progress` writes one line at the start and one per
tenth of the episodes, and between them a step line at most every
:data:`STEP_LOG_SECONDS` (a model on a CPU can take minutes per batch: the log shows
it is working, at how many tokens/s).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from typing import IO, Any

LOG_LINES = 10  # summary lines outside a terminal, one per tenth of the run
STEP_LOG_SECONDS = 30.0  # outside a terminal, at most one step line this often


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
        self,
        total: int,
        done: Sequence[dict[str, Any]],
        label: str,
        enabled: bool,
        stream: IO[str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total, self.label, self.stream, self.clock = total, label, stream or sys.stderr, clock
        self.wins = sum(bool(r["won"]) for r in done)
        self.errors = sum(bool(r.get("error")) for r in done)
        self.count, self.steps = len(done), 0
        self.all_steps, self.tokens, self.started = 0, 0, clock()
        self._last_step_line = self.started
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

    def step(self, active: int, _finished: int, outputs: Sequence[Any] = ()) -> None:
        """Count one batched step and the tokens its policy outputs generated; show them.

        Args:
            active: envs still playing after the step.
            _finished: episodes of the batch finished so far.
            outputs: the step's :class:`~anchorgym.policies.base.PolicyOutput` s (their ``tokens_out``).
        """
        self.steps += 1
        self.all_steps += 1
        self.tokens += sum(output.tokens_out or 0 for output in outputs)
        if self.bar is not None:
            self._show(active)
        elif self.logging and self.clock() - self._last_step_line >= STEP_LOG_SECONDS:
            self._last_step_line = self.clock()
            parts = [f"{self.label}: {self.count}/{self.total} episodes", f"batch step {self.steps} ({active} running)"]
            parts += [f"{self.all_steps} steps", *self._rate()]
            print(", ".join(parts), file=self.stream, flush=True)

    def _rate(self) -> list[str]:
        """``"N tokens/s"`` over the run so far, when the policy reported tokens (model policies)."""
        elapsed = self.clock() - self.started
        return [f"{self.tokens / elapsed:.1f} tokens/s"] if self.tokens and elapsed > 0 else []

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
                if self._rate():
                    shown["tok/s"] = self._rate()[0].split()[0]
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
