"""Evaluation harness: versioned benchmark specs, the shared rollout loop, resumable runs and reports.

``evaluate(benchmark, policy)`` runs a benchmark and writes self-describing results;
``rollout(envs, policy)`` is the episode loop that evaluation and training share.
Names load lazily so ``import anchorgym.harness`` stays light.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "rollout": "anchorgym.harness.rollout",
    "Episode": "anchorgym.harness.rollout",
    "StepRecord": "anchorgym.harness.rollout",
    "evaluate": "anchorgym.harness.runner",
    "BenchmarkSpec": "anchorgym.harness.specs",
    "load_benchmark": "anchorgym.harness.specs",
    "list_benchmarks": "anchorgym.harness.specs",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    """Import public names on first use."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'anchorgym.harness' has no attribute {name!r}")
