"""Benchmark claims: one line per claim with its verdict, and an exit status that a deterministic miss fails.

A claim is either

* **deterministic** (memory, equality, counts): the same code gives the same answer on any machine, so a
  miss is a regression: the line says ``FAIL`` and the script exits 1, which stops ``make bench``;
* **timing** (a ratio of wall-clock measurements on a shared machine): the line gives the median over the
  repeats and their spread, says ``PASS`` or ``FAIL``, and a miss is reported but does not fail the run
  (load from other processes moves it; the spread shows by how much).

A ``--tiny`` run checks nothing: its numbers only show that the script works.

    claims = Claims(tiny=args.tiny)
    claims.check("CHECK", "identical_outputs", identical, "True", identical)
    claims.timing("RATIO", "batched_vs_serial", [3.1, 2.9, 3.4], 3.0)
    claims.exit()
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Sequence


class Claims:
    """Prints benchmark claims with verdicts and remembers the deterministic misses."""

    def __init__(self, tiny: bool = False) -> None:
        self.tiny = tiny
        self.failed: list[str] = []

    def _verdict(self, passed: bool) -> str:
        return "(tiny run: not checked)" if self.tiny else "PASS" if passed else "FAIL"

    def check(self, kind: str, name: str, shown: object, target: str, passed: bool) -> None:
        """A deterministic claim: ``KIND name shown (target ...) PASS|FAIL``; a miss fails the run."""
        print(f"{kind} {name} {shown} (target {target}) {self._verdict(passed)}", flush=True)
        if not passed and not self.tiny:
            self.failed.append(name)

    def timing(self, kind: str, name: str, values: Sequence[float], minimum: float, note: str = "") -> None:
        """A timing ratio that should be at least ``minimum``: median, spread, verdict; a miss is reported only."""
        middle = statistics.median(values)
        spread = f"median of {len(values)}, {min(values):.1f}-{max(values):.1f}" if len(values) > 1 else "1 run"
        extra = f"; {note}" if note else ""
        verdict = self._verdict(middle >= minimum)
        if verdict == "FAIL":
            verdict += " (timing on a shared machine: reported, not fatal)"
        print(f"{kind} {name} {middle:.1f}x (target >= {minimum:g}x; {spread}{extra}) {verdict}", flush=True)

    def info(self, kind: str, name: str, shown: object, note: str = "no target") -> None:
        """A measured figure with no target (no verdict)."""
        print(f"{kind} {name} {shown} ({note})", flush=True)

    def exit(self) -> None:
        """Exit 1 when a deterministic claim failed (``make bench`` then stops), else return."""
        if self.failed:
            print(f"FAILED deterministic claims: {', '.join(self.failed)}", file=sys.stderr, flush=True)
            sys.exit(1)
