"""The real CLI in subprocesses: SIGKILL mid-run then --resume, one-line errors, compare and report."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from anchorgym.harness.compare import TITLE_NOTE
from anchorgym.harness.runner import evaluate
from anchorgym.policies.prompting import template_for

TEST = "sokoban-6x6-1box/test@v1"
SMOKE = "sokoban-6x6-1box/smoke@v1"
REPO = Path(__file__).resolve().parents[2]


def cli(*args: str, check: bool = False) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "anchorgym.cli", *args], capture_output=True, text=True, env=env,
                          timeout=120)  # fmt: skip
    if check:
        assert done.returncode == 0, done.stderr
    return done


def assert_one_line_error(done: subprocess.CompletedProcess, *fragments: str) -> str:
    assert done.returncode == 2, (done.returncode, done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def _eval_args(out: Path, *extra: str) -> list[str]:
    return ["eval", TEST, "--policy", "random", "--seeds", "0,1", "--batch-size", "5", "--out", str(out),
            "--no-progress", *extra]  # fmt: skip


@pytest.mark.slow
def test_sigkill_then_resume_gives_identical_metrics(tmp_path):
    full, killed = tmp_path / "full", tmp_path / "killed"
    evaluate(TEST, "random", seeds=[0, 1], batch_size=5, out=full, progress=False)  # the uninterrupted reference
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "anchorgym.cli", *_eval_args(killed)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    log, deadline = killed / "episodes.jsonl", time.monotonic() + 60
    while time.monotonic() < deadline and (not log.exists() or log.read_text().count("\n") < 40):
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    written = log.read_text().count("\n")
    assert 40 <= written < 200, "the run finished before it could be killed"
    assert not (killed / "result.json").exists()
    assert_one_line_error(cli(*_eval_args(killed)), "already holds an evaluation. Pass --resume")
    done = cli(*_eval_args(killed, "--resume"), check=True)
    assert "random" in done.stdout and str(killed) in done.stdout
    resumed, reference = (json.loads((d / "result.json").read_text()) for d in (killed, full))
    assert resumed["metrics"] == reference["metrics"]
    assert resumed["run"]["episodes_resumed"] >= 40 and resumed["metrics"]["episodes"] == 200


def test_unknown_benchmark():
    line = assert_one_line_error(cli("eval", "sokoban-6x6-1box/tset@v1", "--policy", "expert"), "Unknown benchmark")
    assert f"Did you mean '{TEST}'?" in line


def test_malformed_policy_spec(tmp_path):
    assert_one_line_error(cli("eval", SMOKE, "--policy", "::nope", "--out", str(tmp_path)), "Malformed policy spec")


def test_bad_seeds():
    assert_one_line_error(cli("eval", SMOKE, "--policy", "random", "--seeds", "a,b"), "--seeds must look like")


def test_worker_memory_limit_needs_the_process_backend(tmp_path):
    args = ("eval", SMOKE, "--policy", "random", "--out", str(tmp_path), "--max-worker-rss-mb")
    assert_one_line_error(cli(*args, "512", "--backend", "sync"), "The sync backend has no option 'max_worker_rss_mb'")
    assert_one_line_error(cli(*args, "-5"), "--max-worker-rss-mb must be a positive number of MiB, got -5.")


def test_unreachable_endpoint(tmp_path):
    if importlib.util.find_spec("anchorgym.policies.openai") is None:
        pytest.skip("the openai policy back-end is not in this checkout yet")
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    spec = f"openai:http://127.0.0.1:{port}/v1?model=m"
    done = cli("eval", SMOKE, "--policy", spec, "--policy-option", "max_retries=0", "--out", str(tmp_path),
               "--no-progress")  # fmt: skip
    assert_one_line_error(done, f"127.0.0.1:{port}", "ConnectError")


def test_missing_data_set(tmp_path):
    template = template_for("anchorgym/ToolQA-v0")
    empty = tmp_path / "no-questions-here"
    empty.mkdir()
    benchmark = {
        "id": "toolqa-mine/test@v1", "env": {"id": "anchorgym/ToolQA-v0", "kwargs": {"dataset": str(empty)}},
        "split": "test", "tasks": ["q0"], "episodes_per_task": 1, "max_steps": 4, "history_length": 2,
        "prompt_template": {"name": template.name, "version": template.version},
        "metrics": {"success": "won", "score": "score"}, "seeds": [0],
    }  # fmt: skip
    spec_file = tmp_path / "mine.json"
    spec_file.write_text(json.dumps({"format": "anchorgym-benchmarks/1", "benchmarks": [benchmark]}))
    done = cli("eval", str(spec_file), "--policy", "random", "--out", str(tmp_path / "out"))
    assert_one_line_error(done, "No questions for split 'test'", str(empty))


def test_appworld_test_normal_without_appworld_data(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "APPWORLD_ROOT"}
    args = [sys.executable, "-m", "anchorgym.cli", "eval", "appworld/test_normal@v2", "--policy", "expert", "--out",
            str(tmp_path)]  # fmt: skip
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
    assert_one_line_error(done, "AppWorld's data was not found: set APPWORLD_ROOT")


def test_compare_report_and_listing(tmp_path):
    expert, random = tmp_path / "expert", tmp_path / "random"
    for policy, out in (("expert", expert), ("random", random)):
        evaluate(SMOKE, policy, out=out, progress=False)
    table = cli("compare", str(expert), str(random), check=True).stdout
    assert SMOKE in table and "| expert (" in table and "100.0%" in table
    other = tmp_path / "other"
    evaluate(SMOKE, "expert", out=other, progress=False)
    spec = json.loads((other / "result.json").read_text())
    spec["benchmark"]["spec_hash"] = "sha256:" + "0" * 64  # as if run on an edited spec
    (other / "result.json").write_text(json.dumps(spec))
    assert_one_line_error(
        cli("compare", str(expert), str(other)), "spec sha256:0000000000", "their benchmark specs differ"
    )
    original = json.loads((expert / "result.json").read_text())
    for part, key, message in (("benchmark", "task_list_hash", "resolved task lists"), ("prompt_template", "hash",
                               "prompt templates")):  # fmt: skip
        edited = json.loads(json.dumps(original))  # the same spec, but other tasks (a range over changed data) ...
        edited[part][key] = "sha256:" + "1" * 64 if part == "benchmark" else "1" * 16  # ... or an edited prompt
        (other / "result.json").write_text(json.dumps(edited))
        assert_one_line_error(cli("compare", str(expert), str(other)), f"their {message} differ")
    cli("report", str(random), check=True)
    page = (random / "report.html").read_text()
    assert page.count("<svg") == 2 and "<script" not in page and 'src="http' not in page
    assert "<details open>" in page and "<details>" in page and "Per task type" in (random / "report.md").read_text()
    rate = json.loads((random / "result.json").read_text())["metrics"]["success_rate"]["mean"]
    labels = re.findall(r"<text[^>]*>(.*?)</text>", page)  # the SVG charts' texts
    assert f"{100 * rate:.1f}%" in labels and "(n=8)" in labels  # the value on the bar
    assert {"Success vs steps", "won within k steps", "steps taken", "episodes"} <= set(labels)
    assert not [t for t in labels if re.fullmatch(r"\d+\.5", t)]  # step ticks are whole numbers
    listing = cli("benchmarks", check=True).stdout
    full = cli("benchmarks", "--all", check=True).stdout
    for name in (
        "alfworld/valid_unseen",
        "webshop-1k/test",
        "hotpot-sample/dev",
        "appworld/test_normal",
        "sokoban-6x6-1box/test",
    ):
        shown = [int(v) for v in re.findall(rf"\| {re.escape(name)}@v(\d+) ", listing)]
        every = [int(v) for v in re.findall(rf"\| {re.escape(name)}@v(\d+)", full)]
        assert shown == [max(every)], name  # only the current version, unless --all
    assert TEST not in listing and f"| {TEST} (legacy) " in full and f"| {SMOKE} (legacy) " in full
    assert "legacy benchmark versions hidden (kept for old results): anchorgym benchmarks --all" in listing


MY_AGENT = '''
from anchorgym.policies.base import Policy, PolicyOutput


class Greedy(Policy):
    """Always pushes in one direction."""

    def __init__(self, generation, move="up"):
        self.generation, self.move = generation, move

    def act(self, inputs):
        return [PolicyOutput(text=f"<action>{self.move}</action>", action=self.move) for _ in inputs]


def make(generation, move="up"):
    return Greedy(generation, move)
'''


def test_own_policy_from_the_working_directory_via_the_anchorgym_script(tmp_path):
    """`anchorgym eval ... --policy my_agent:make` finds my_agent.py in the current folder, like uvicorn does."""
    (tmp_path / "my_agent.py").write_text(MY_AGENT)
    script = Path(sys.executable).with_name("anchorgym")
    args = [str(script), "eval", SMOKE, "--policy", "my_agent:make", "--policy-option", "move=left", "--temperature",
            "0.5", "--top-p", "0.9", "--max-new-tokens", "17", "--out", "run", "--no-progress"]  # fmt: skip
    done = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["policy"] == {
        "spec": "my_agent:make",
        "class": "Greedy",
        "generation": {"temperature": 0.5, "top_p": 0.9, "max_new_tokens": 17, "seed": 0},
    }
    first = json.loads((tmp_path / "run" / "episodes.jsonl").read_text().splitlines()[0])
    assert {s["action"] for s in first["steps"]} == {"left"}
    missing = subprocess.run([*args[:4], "no_such_agent:make"], cwd=tmp_path, capture_output=True, text=True,
                             timeout=120)  # fmt: skip
    assert_one_line_error(missing, "Cannot import module 'no_such_agent' for policy spec 'no_such_agent:make'")


def test_demo_plays_the_current_benchmark_versions():
    from anchorgym.harness.demo import SMOKE_NAME, TEST_NAME, current_version

    assert (current_version(TEST_NAME), current_version(SMOKE_NAME)) == (
        "sokoban-6x6-1box/test@v2",
        "sokoban-6x6-1box/lm-smoke@v2",
    )  # was @v1, which plays the legacy env anchorgym/Sokoban-v0


def test_demo_without_the_lm_prints_the_table_and_where_the_reports_are(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    args = [sys.executable, "-m", "anchorgym.harness.demo", "--out", str(tmp_path / "demo"), "--skip-lm"]
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"sokoban-6x6-1box/test@v2 (spec sha256:2a088f0e3deb); {TITLE_NOTE}" in done.stdout  # the current version
    # 300 of 300 won: the Wilson 95% interval is [300 / (300 + 1.959964^2), 1] = [98.7%, 100%]
    assert "| expert (" in done.stdout and "| 100.0% [98.7, 100.0] |" in done.stdout and "| 300      |" in done.stdout
    assert done.stdout.rstrip().endswith(f"Results and reports (report.md, report.html) are under {tmp_path / 'demo'}")
    for policy in ("expert", "random"):
        assert (tmp_path / "demo" / "test" / policy / "report.html").is_file()
