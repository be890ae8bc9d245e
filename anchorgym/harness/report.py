"""``anchorgym report DIR``: a Markdown summary and a self-contained HTML page for one result.

Both are rendered by Jinja2 templates (``templates/report.md.j2``, ``templates/report.html.j2``). The
HTML page draws its charts as inline SVG (``templates/charts.svg.j2``, laid out by
:mod:`anchorgym.harness.charts`) and uses no scripts, fonts or stylesheets from the network, so it
opens offline and needs no plotting library.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from anchorgym.harness import charts, records
from anchorgym.harness.compare import COLUMNS, fmt_estimate, fmt_success, format_table, summary_row
from anchorgym.harness.results import load_result

MAX_TEXT = 1200  # characters of an observation shown in an example trajectory
TYPE_COLUMNS = ("task type", "episodes", "success", "score")


@cache
def _environment(autoescape: bool) -> Any:
    """The Jinja2 environment over ``templates/`` (HTML-escaping for the page, plain for Markdown)."""
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("anchorgym.harness", "templates"),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    environment.filters["clip"] = _clip
    return environment


def pick_examples(episodes: Sequence[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """Pick up to ``count`` episodes, alternating won and not won, in a fixed order."""
    ordered = sorted(episodes, key=lambda e: (e["seed"], e["task_index"], e["episode"]))
    won = [e for e in ordered if e["won"]]
    lost = [e for e in ordered if not e["won"]]
    picked: list[dict[str, Any]] = []
    while len(picked) < count and (won or lost):
        for pool in (won, lost):
            if pool and len(picked) < count:
                picked.append(pool.pop(0))
    return picked


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + " ..."


def _type_rows(result: dict[str, Any]) -> list[list[str]]:
    return [
        [name, str(m["episodes"]), fmt_success(m["success_rate"], m["episodes"]), fmt_estimate(m["score"])]
        for name, m in result["metrics"]["per_task_type"].items()
    ]


def _generation_text(generation: dict[str, Any] | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in generation.items()) if generation else "n/a"


def _header_lines(result: dict[str, Any]) -> list[str]:
    bench, run = result["benchmark"], result["run"]
    template = result["prompt_template"]
    tokens = result["metrics"]["tokens"]
    lines = [
        f"- benchmark: `{bench['id']}` (spec `{bench['spec_hash']}`), {bench['num_tasks']} tasks",
        f"- policy: `{result['policy']['spec']}` ({result['policy']['class']}); "
        f"generation: {_generation_text(result['policy']['generation'])}",
        f"- prompt template: {template['name']} v{template['version']} (hash `{template['hash']}`)"
        if template
        else "- prompt template: n/a",
        f"- seeds: {result['seeds']}; batch size {run['batch_size']}; {run['started_at']} to {run['finished_at']}",
        f"- anchorgym {result['versions']['anchorgym']}, Python {result['versions']['python']}, "
        f"{result['machine']['platform']}",
    ]
    if tokens:
        lines.append(
            f"- tokens: {tokens['in_total']} in, {tokens['out_total']} out "
            f"({tokens['in_per_step']:.1f} / {tokens['out_per_step']:.1f} per step)"
        )
    return lines


def _action_table(episode: dict[str, Any]) -> str:
    rows = [
        [str(s["step"]), s["action"].replace("|", "/"), f"{s['reward']:g}", str(s["action_valid"])]
        for s in episode["steps"]
    ]
    return format_table(rows, ("step", "action", "reward", "valid"))


def markdown_report(result: dict[str, Any], examples: Sequence[dict[str, Any]]) -> str:
    """Return the Markdown summary: run facts, the metrics table, per-type table and example actions."""
    return (
        _environment(False)
        .get_template("report.md.j2")
        .render(
            title=f"{result['benchmark']['id']}: {result['policy']['spec']}",
            facts=[line[2:] for line in _header_lines(result)],
            summary=format_table([summary_row(result)]),
            types=format_table(_type_rows(result), TYPE_COLUMNS),
            examples=[episode | {"table": _action_table(episode)} for episode in examples],
        )
    )


def html_report(result: dict[str, Any], episodes: Sequence[dict[str, Any]], examples: Sequence[dict[str, Any]]) -> str:
    """Return a self-contained HTML page (inline SVG charts, no external resources)."""
    max_steps = int(result["benchmark"]["spec"]["max_steps"])
    return (
        _environment(True)
        .get_template("report.html.j2")
        .render(
            title=f"{result['benchmark']['id']}: {result['policy']['spec']}",
            facts=[line[2:].replace("`", "") for line in _header_lines(result)],
            summary_header=COLUMNS,
            summary_rows=[summary_row(result)],
            type_header=TYPE_COLUMNS,
            type_rows=_type_rows(result),
            bars=charts.task_type_bars(result["metrics"]["per_task_type"]),
            histogram=charts.steps_histogram(episodes, max_steps),
            examples=examples,
        )
    )


def write_report(result_dir: str | Path, examples: int = 4) -> tuple[Path, Path]:
    """Write ``report.md`` and ``report.html`` into ``result_dir``; return their paths.

    Raises:
        ResultError: no valid result in ``result_dir``.
    """
    folder = Path(result_dir)
    result = load_result(folder)
    episodes = records.read_episodes(folder / result["files"]["episodes"])
    picked = pick_examples(episodes, examples)
    markdown_path, html_path = folder / "report.md", folder / "report.html"
    records.write_text_atomic(markdown_path, markdown_report(result, picked))
    records.write_text_atomic(html_path, html_report(result, episodes, picked))
    return markdown_path, html_path
