"""Compare results side by side, refusing results of different benchmark specs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from anchorgym.errors import ResultError
from anchorgym.harness.metrics import success_interval
from anchorgym.harness.results import load_result

COLUMNS = ("policy", "success", "score", "steps", "invalid", "seeds", "episodes")


TITLE_NOTE = "success: Wilson 95% CI over all episodes; others: mean over seeds, 95% t-CI"


def fmt_estimate(estimate: dict[str, Any], percent: bool = True) -> str:
    """Format a mean with its 95% t-interval (the mean alone for a single seed).

    A percentage (a rate or a score in [0, 1]) shows its interval as ``[low, high]`` clipped to
    [0, 100]: over few seeds ``mean ± half-width`` would leave the range. Other values show
    ``mean ± half-width``.

    >>> fmt_estimate({"mean": 0.5, "ci95": [0.4, 0.6]})
    '50.0% [40.0, 60.0]'
    >>> fmt_estimate({"mean": 0.5, "ci95": [-2.68, 3.68]})
    '50.0% [0.0, 100.0]'
    >>> fmt_estimate({"mean": 4.0, "ci95": [3.0, 5.0]}, percent=False), fmt_estimate({"mean": 4.0, "ci95": None}, False)
    ('4.00 ± 1.00', '4.00')
    """
    if not percent:
        text = f"{estimate['mean']:.2f}"
        if estimate.get("ci95"):
            text += f" ± {(estimate['ci95'][1] - estimate['ci95'][0]) / 2:.2f}"
        return text
    text = f"{estimate['mean'] * 100:.1f}%"
    if estimate.get("ci95"):
        low, high = (min(max(bound, 0.0), 1.0) * 100 for bound in estimate["ci95"])
        text += f" [{low:.1f}, {high:.1f}]"
    return text


def fmt_success(rate: dict[str, Any], episodes: int) -> str:
    """Format a success rate with the Wilson 95% interval of its pooled episodes (any number of seeds).

    >>> fmt_success({"mean": 0.5, "ci95": [-2.68, 3.68], "n_seeds": 2}, 16)
    '50.0% [28.0, 72.0]'
    """
    interval = success_interval(rate, episodes)
    if interval is None:
        return fmt_estimate(rate)
    return f"{rate['mean'] * 100:.1f}% [{interval['low'] * 100:.1f}, {interval['high'] * 100:.1f}]"


def extra_names(results: Sequence[dict[str, Any]]) -> list[str]:
    """Return the names of the spec-declared extra metrics (``metrics.extra``) the results carry, sorted."""
    return sorted({name for result in results for name in result["metrics"].get("extra", {})})


def summary_header(results: Sequence[dict[str, Any]]) -> tuple[str, ...]:
    """Return the table header: :data:`COLUMNS`, then one column per extra metric (e.g. tool-QA's ``subem``)."""
    return (*COLUMNS, *extra_names(results))


def summary_row(result: dict[str, Any], label: str | None = None, extras: Sequence[str] = ()) -> list[str]:
    """Return one table row (see :data:`COLUMNS`, then the ``extras`` metrics) for a result."""
    metrics = result["metrics"]
    extra = metrics.get("extra", {})
    return [
        label or result["policy"]["spec"] or result["policy"]["class"],
        fmt_success(metrics["success_rate"], metrics["episodes"]),
        fmt_estimate(metrics["score"]),
        fmt_estimate(metrics["steps"], percent=False),
        fmt_estimate(metrics["invalid_action_rate"]),
        str(len(result["seeds"])),
        str(metrics["episodes"]),
        *(fmt_estimate(extra[name]) if name in extra else "-" for name in extras),
    ]


def format_table(rows: Sequence[Sequence[str]], header: Sequence[str] = COLUMNS) -> str:
    """Render rows as a Markdown table (readable in a terminal too)."""
    table = [list(header), *[list(r) for r in rows]]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = ["| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |" for row in table]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _identity(result: dict[str, Any]) -> dict[str, str]:
    """What must match for two results to be comparable: the spec, its resolved tasks and the prompt text."""
    template = result.get("prompt_template") or {}
    return {
        "benchmark specs": result["benchmark"]["spec_hash"],
        "resolved task lists": result["benchmark"]["task_list_hash"],
        "prompt templates": template.get("hash", "none"),
    }


def check_comparable(results: Sequence[dict[str, Any]], names: Sequence[str]) -> None:
    """Raise :class:`ResultError` unless every result ran the same spec, tasks and prompt template.

    The spec hash covers what the spec file says; a range of tasks also depends on the env's data
    (its resolved list is hashed), and a prompt edited without a version bump changes the template hash.
    """
    first = _identity(results[0])
    for result, name in zip(results[1:], names[1:], strict=True):
        other = _identity(result)
        differ = [part for part in first if first[part] != other[part]]
        if differ:
            what, label = differ[0], differ[0][:-1]
            raise ResultError(
                f"Cannot compare {names[0]} ({results[0]['benchmark']['id']}, {label} {first[what][:19]}) with {name} "
                f"({result['benchmark']['id']}, {label} {other[what][:19]}): their {' and '.join(differ)} differ. "
                "Only results of the same benchmark spec are comparable; re-run one of them on the other's benchmark."
            )


def compare(paths: Sequence[str | Path]) -> str:
    """Load the results at ``paths`` and return the comparison table (Markdown).

    Raises:
        ResultError: fewer than two results, a result is missing or invalid, or their specs differ.
    """
    if len(paths) < 2:
        raise ResultError(f"compare needs at least two result directories, got {len(paths)}.")
    results = [load_result(Path(p)) for p in paths]
    names = [str(p) for p in paths]
    check_comparable(results, names)
    labels = [f"{r['policy']['spec'] or r['policy']['class']} ({name})" for r, name in zip(results, names, strict=True)]
    benchmark = results[0]["benchmark"]
    title = f"{benchmark['id']} (spec {benchmark['spec_hash'][:19]}); {TITLE_NOTE}"
    extras = extra_names(results)
    rows = [summary_row(r, label, extras) for r, label in zip(results, labels, strict=True)]
    return title + "\n\n" + format_table(rows, summary_header(results))
