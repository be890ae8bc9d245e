"""``anchorgym report RUN_DIR`` on a training run: one chart per logged metric, a band over seeds."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from anchorgym.cli import main
from anchorgym.training.report import band, chart, find_runs, training_report


def write_metrics(folder: Path, rows: list[dict]) -> Path:
    folder.mkdir(parents=True)
    with (folder / "metrics.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(dict.fromkeys(k for r in rows for k in r)))
        writer.writeheader()
        writer.writerows(rows)
    return folder


def rows(success: list[float]) -> list[dict]:
    return [
        {"iteration": i + 1, "rollout/success": s, "loss/kl": 0.01 * i, "rollout/tokens_per_s": 100.0}
        for i, s in enumerate(success)
    ]


def test_one_run_gets_a_chart_per_logged_metric_and_no_band(tmp_path):
    run = write_metrics(tmp_path / "run", rows([0.0, 0.5, 1.0]))
    page = training_report(run).read_text()
    assert page.count("<figure>") == 3  # success, KL, throughput: the metrics this run logged
    assert "training success (last: 1)" in page and "KL to the reference (last: 0.02)" in page
    assert 'class="band"' not in page


def test_a_folder_of_seeds_gets_the_mean_and_a_band(tmp_path):
    write_metrics(tmp_path / "seed0", rows([0.0, 0.5]))
    write_metrics(tmp_path / "seed1", rows([1.0, 0.5]))
    assert find_runs(tmp_path) == [tmp_path / "seed0", tmp_path / "seed1"]
    page = training_report(tmp_path).read_text()
    assert page.count('class="band"') == 3
    assert "2 runs, up to 2 logged rows each" in page


def test_band_spans_the_runs_and_keeps_partial_iterations():
    assert band([{1: 0.0, 2: 0.4}, {1: 1.0}]) == [(1, 0.5, 0.0, 1.0), (2, 0.4, 0.4, 0.4)]


def test_chart_puts_the_first_and_last_iteration_at_the_plot_edges():
    laid = chart("success", [(1, 0.0, 0.0, 0.0), (5, 1.0, 1.0, 1.0)], runs=1)
    first, last = laid["line"].split()
    assert first == f"{laid['left']}.0,{laid['bottom']}.0" and last == f"{laid['right']}.0,{laid['top']}.0"


def test_the_report_command_renders_a_training_run(tmp_path, capsys):
    run = write_metrics(tmp_path / "run", rows([0.2, 0.4]))
    assert main(["report", str(run)]) == 0
    assert capsys.readouterr().out == f"html:   {run / 'training_report.html'}\n"


def test_a_folder_without_runs_is_one_line(tmp_path):
    from anchorgym.errors import ResultError

    with pytest.raises(ResultError, match=r"holds no training run: no metrics.csv there or in its sub-folders"):
        training_report(tmp_path)


@pytest.mark.slow
def test_a_real_run_renders(tmp_path):
    from anchorgym.training.trainer import train

    from .test_trainer_settings import config

    out = train(config(tmp_path, iterations=2))
    page = training_report(out).read_text()
    for title in ("training success", "episode return", "text anchors: aliasing", "learning rate"):
        assert title in page
