"""The report: Jinja2 templates, SVG charts laid out by hand-checkable arithmetic, no plotting library needed."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap

import pytest

from anchorgym.harness import charts
from anchorgym.harness.report import html_report
from anchorgym.harness.runner import evaluate

SMOKE = "sokoban-6x6-1box/smoke@v1"


def _episode(length: int, won: bool) -> dict:
    return {"length": length, "won": won}


def test_nice_step():
    assert [charts.nice_step(span, 5) for span in (0, 3, 5, 6, 11, 24, 26, 249, 251, 3000)] == [
        1, 1, 1, 2, 5, 5, 10, 50, 100, 1000,
    ]  # fmt: skip


def test_task_type_bars_by_hand():
    per_type = {
        "a": {"episodes": 8, "success_rate": {"mean": 0.5, "ci95": [0.25, 0.75]}},
        "b": {"episodes": 4, "success_rate": {"mean": 1.0, "ci95": [0.8, 1.2]}},  # the t-interval is not drawn
        "c": {"episodes": 2, "success_rate": {"mean": 0.0, "ci95": None}},  # one seed: Wilson still has a width
    }
    chart = charts.task_type_bars(per_type)
    # 3 types: 56 + 3 * 96 + 16 = 360 px; slots of 96 px, bars of 60 px centred in them; plot from y=220 (0) to 40
    assert (chart["width"], chart["height"]) == (360, 300)
    a, b, c = chart["bars"]
    assert (a["x"], a["y"], a["w"], a["h"]) == (74.0, 130.0, 60.0, 90.0)
    # whiskers: Wilson 95% of 4/8 = [0.215216, 0.784784], 4/4 = [0.510109, 1], 0/2 = [0, 0.65762]; y = 220 - 180 p
    assert a["whisker"] == [181.3, 78.7] and a["label_y"] == 58.7
    assert (a["value"], a["episodes"]) == ("50.0%", "(n=8)")
    assert (b["x"], b["y"], b["h"], b["whisker"]) == (170.0, 40.0, 180.0, [128.2, 40.0])
    assert (c["y"], c["h"], c["whisker"], c["value"]) == (220.0, 0.0, [220.0, 101.6], "0.0%")
    assert chart["ticks"] == [(220.0, "0%"), (175.0, "25%"), (130.0, "50%"), (85.0, "75%"), (40.0, "100%")]


def test_long_task_type_names_fit_inside_the_chart():
    names = ["pick_cool_then_place_in_recep", "pick_two_obj_and_place", "look_at_obj_in_light"]
    chart = charts.task_type_bars({n: {"episodes": 4, "success_rate": {"mean": 0.5}} for n in names})
    reach_x, reach_y = charts._label_extent(names)  # 29 characters of 6.6 px turned by 30 degrees: 165.8 x 95.7 px
    assert (round(reach_x, 1), round(reach_y, 1)) == (165.8, 95.7)
    last = chart["bars"][-1]
    assert chart["width"] >= last["x"] + last["w"] / 2 + reach_x  # the last name ends inside the image
    assert chart["height"] >= chart["bottom"] + 14 + reach_y  # and no name runs below it
    assert (chart["width"], chart["height"]) == (469.8, 342)  # was 360 x 300: the names ran out of the image


def test_steps_histogram_by_hand():
    episodes = [_episode(1, True), _episode(2, True), _episode(2, False), _episode(4, False)]
    chart = charts.steps_histogram(episodes, max_steps=4)
    # 4 steps: columns of min(32, 420 / 4) = 32 px from x=56; the count axis runs to 2 (the highest column)
    assert [(col["x"], col["count_won"], col["count_lost"]) for col in chart["columns"]] == [
        (56.0, 1, 0), (88.0, 1, 1), (120.0, 0, 0), (152.0, 0, 1),
    ]  # fmt: skip
    assert chart["columns"][1]["won"] == (130.0, 90.0) and chart["columns"][1]["lost"] == (40.0, 90.0)
    assert chart["count_ticks"] == [(220.0, 0), (130.0, 1), (40.0, 2)]
    # won within k steps: 1/4 after 1 step, 2/4 from 2 steps on
    assert (
        chart["line"] == "56.0,175.0 88.0,175.0 88.0,130.0 120.0,130.0 120.0,130.0 152.0,130.0 152.0,130.0 184.0,130.0"
    )
    assert chart["x_ticks"] == [(72.0, 1), (104.0, 2), (136.0, 3), (168.0, 4)]


def test_report_without_matplotlib(tmp_path):
    """A bare install has no matplotlib: the report must not need it (it failed with ModuleNotFoundError)."""
    out = tmp_path / "run"
    evaluate(SMOKE, "random", out=out, progress=False)
    script = textwrap.dedent(f"""
        import sys
        sys.modules["matplotlib"] = None  # as on a bare install: importing it raises ModuleNotFoundError
        from anchorgym.cli import main
        sys.exit(main(["report", {str(out)!r}]))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    page = (out / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") == 2 and "<script" not in page
    texts = re.findall(r"<text[^>]*>(.*?)</text>", page)
    assert {"Success per task type (Wilson 95% CI)", "Success vs steps", "steps taken"} <= set(texts)


@pytest.mark.parametrize("field", ["observation", "text"])
def test_report_escapes_step_text(tmp_path, field):
    step = {"step": 0, "observation": "obs", "text": "out", "action": "a", "reward": 0.0, "action_valid": True}
    step[field] = "<script>alert(1)</script>"
    episode = {"seed": 0, "task_id": "t<1>", "won": False, "length": 1, "steps": [step], "final_observation": "&"}
    out = tmp_path / "run"
    evaluate(SMOKE, "random", out=out, progress=False)
    result = json.loads((out / "result.json").read_text())
    page = html_report(result, [episode | {"task_index": 0, "episode": 0}], [episode])
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "task t&lt;1&gt;" in page and "<pre>&amp;</pre>" in page
