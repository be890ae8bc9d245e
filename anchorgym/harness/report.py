"""``anchorgym report DIR``: a Markdown summary and a self-contained HTML page for one result.

The HTML page embeds its charts as inline SVG (matplotlib, Agg backend) and
uses no scripts, fonts or stylesheets from the network, so it opens offline.
"""

from __future__ import annotations

import html
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from anchorgym.harness import records
from anchorgym.harness.compare import fmt_estimate, format_table, summary_row
from anchorgym.harness.results import load_result

MAX_TEXT = 1200  # characters of an observation shown in an example trajectory


def _svg(figure: Any) -> str:
    """Serialise a matplotlib figure to an inline ``<svg>`` element and close it."""
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def task_type_chart(result: dict[str, Any]) -> str:
    """Bar chart of success rate per task type, labelled with its value, with 95% CI bars where there are seeds."""
    plt = _pyplot()
    types = result["metrics"]["per_task_type"]
    names = list(types)
    rates = [types[n]["success_rate"] for n in names]
    means = [100 * r["mean"] for r in rates]
    half_widths = [100 * (r["ci95"][1] - r["mean"]) if r["ci95"] else 0.0 for r in rates]
    figure, axes = plt.subplots(figsize=(max(3.6, 1.3 * len(names)), 3.2))
    yerr = half_widths if any(half_widths) else None  # no empty caps for single-seed runs
    bars = axes.bar(range(len(names)), means, yerr=yerr, capsize=4, color="#4c72b0")
    # the value on each bar, so a 0% type is visible and exact numbers need no table lookup
    axes.bar_label(bars, labels=[f"{m:.1f}%\n(n={types[n]['episodes']})" for m, n in zip(means, names, strict=True)],
                   padding=2, fontsize=8)  # fmt: skip
    axes.set_xticks(
        range(len(names)), names, rotation=20 if len(names) > 1 else 0, ha="right" if len(names) > 1 else "center"
    )
    axes.set_ylim(0, 118)
    axes.set_ylabel("success rate (%)")
    axes.set_title("Success per task type (mean over seeds, 95% CI)")
    return _svg(figure)


def steps_histogram(episodes: Sequence[dict[str, Any]], max_steps: int) -> str:
    """Episode lengths by outcome (stacked bars) and the success rate within k steps (line, right axis)."""
    from matplotlib.ticker import MaxNLocator

    plt = _pyplot()
    bins = [x + 0.5 for x in range(max_steps + 1)]
    won = [e["length"] for e in episodes if e["won"]]
    lost = [e["length"] for e in episodes if not e["won"]]
    figure, axes = plt.subplots(figsize=(5.6, 3.2))
    axes.hist([won, lost], bins=bins, stacked=True, color=["#55a868", "#c44e52"], label=["won", "not won"])
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlim(0.5, max_steps + 0.5)
    axes.set_xlabel("steps taken")
    axes.set_ylabel("episodes")
    within = axes.twinx()
    steps = list(range(1, max_steps + 1))
    total = max(len(episodes), 1)
    rates = [100 * sum(n <= k for n in won) / total for k in steps]
    # extended to the right edge of the last bar, so the final value (the success rate) is visible
    within.step([*steps, max_steps + 0.5], [*rates, rates[-1]], where="post", color="#222", label="won within k steps")
    within.set_ylim(0, 105)
    within.set_ylabel("won within k steps (%)")
    handles = axes.get_legend_handles_labels()[0] + within.get_legend_handles_labels()[0]
    axes.legend(handles, [h.get_label() for h in handles], loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=3,
                frameon=False, fontsize=8)  # fmt: skip
    axes.set_title("Success vs steps")
    return _svg(figure)


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
        [name, str(m["episodes"]), fmt_estimate(m["success_rate"]), fmt_estimate(m["score"])]
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


def _trajectory_markdown(episode: dict[str, Any]) -> list[str]:
    outcome = "won" if episode["won"] else "not won"
    lines = [f"### seed {episode['seed']}, task `{episode['task_id']}`: {outcome} in {episode['length']} steps", ""]
    rows = [
        [str(s["step"]), s["action"].replace("|", "/"), f"{s['reward']:g}", str(s["action_valid"])]
        for s in episode["steps"]
    ]
    return lines + [format_table(rows, ("step", "action", "reward", "valid")), ""]


def markdown_report(result: dict[str, Any], examples: Sequence[dict[str, Any]]) -> str:
    """Return the Markdown summary: run facts, the metrics table, per-type table and example actions."""
    lines = [f"# {result['benchmark']['id']}: {result['policy']['spec']}", "", *_header_lines(result), ""]
    lines += ["## Metrics (mean over seeds ± 95% CI half-width)", "", format_table([summary_row(result)]), ""]
    lines += [
        "## Per task type",
        "",
        format_table(_type_rows(result), ("task type", "episodes", "success", "score")),
        "",
    ]
    lines += ["## Example trajectories", "", "See report.html for observations and model outputs.", ""]
    for episode in examples:
        lines += _trajectory_markdown(episode)
    return "\n".join(lines)


STYLE = """
body { font-family: system-ui, sans-serif; max-width: 980px; margin: 2em auto; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
pre { background: #f6f6f6; padding: 0.5em; white-space: pre-wrap; margin: 0; font-size: 0.85em; }
.charts { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-end; }
details { margin: 0.5em 0 1em; } summary { cursor: pointer; } .won { color: #2b7a3d; } .lost { color: #a33; }
"""


def _html_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _trajectory_html(episode: dict[str, Any], open_: bool = False) -> str:
    outcome = '<span class="won">won</span>' if episode["won"] else '<span class="lost">not won</span>'
    rows = [
        [
            str(s["step"]),
            f"<pre>{html.escape(_clip(s['observation']))}</pre>",
            f"<pre>{html.escape(_clip(s['text']))}</pre>",
            html.escape(s["action"]),
            f"{s['reward']:g}",
            "yes" if s["action_valid"] else "no",
        ]
        for s in episode["steps"]
    ]
    title = f"seed {episode['seed']}, task {html.escape(episode['task_id'])}: {outcome} in {episode['length']} steps"
    table = _html_table(("step", "observation", "policy output", "action", "reward", "valid"), rows)
    final = f"<p>Final observation:</p><pre>{html.escape(_clip(episode['final_observation']))}</pre>"
    return f"<details{' open' if open_ else ''}><summary>{title}</summary>{table}{final}</details>"


def html_report(result: dict[str, Any], episodes: Sequence[dict[str, Any]], examples: Sequence[dict[str, Any]]) -> str:
    """Return a self-contained HTML page (inline SVG charts, no external resources)."""
    from anchorgym.harness.compare import COLUMNS

    title = html.escape(f"{result['benchmark']['id']}: {result['policy']['spec']}")
    facts = "".join(f"<li>{html.escape(line[2:]).replace('`', '')}</li>" for line in _header_lines(result))
    summary = _html_table(COLUMNS, [[html.escape(c) for c in summary_row(result)]])
    types = _html_table(
        ("task type", "episodes", "success", "score"), [[html.escape(c) for c in r] for r in _type_rows(result)]
    )
    max_steps = int(result["benchmark"]["spec"]["max_steps"])
    charts = f'<div class="charts">{task_type_chart(result)}{steps_histogram(episodes, max_steps)}</div>'
    trajectories = "".join(_trajectory_html(e, open_=i == 0) for i, e in enumerate(examples))
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{STYLE}</style></head><body><h1>{title}</h1><ul>{facts}</ul>"
        f"<h2>Metrics</h2><p>Mean over seeds of per-seed means, ± half-width of the 95% t-interval.</p>{summary}"
        f"<h2>Per task type</h2>{types}<h2>Charts</h2>{charts}"
        f"<h2>Example trajectories</h2>{trajectories}</body></html>\n"
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
