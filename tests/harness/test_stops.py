"""Errors a user can cause mid-run end with one line and the resume command: a full disk, SIGTERM, Ctrl-C.

Each test runs the real CLI in a subprocess. A run that must still be going when the signal arrives is
held by an env that stops its own worker process (``harness_faultyenv`` with ``hang=True``) after
writing a marker file, so the test waits for that file, never for a fixed time.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from harness_faultyenv import HERE_TASKS, write_spec

from anchorgym.cli import main
from anchorgym.harness import records
from anchorgym.harness.rundir import record_key

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).parent
CODE = (
    "import sys; sys.path.insert(0, sys.argv[1]); import harness_faultyenv as f; f.register_faulty_env(); "
    "from anchorgym.cli import main; sys.exit(main(sys.argv[2:]))"
)
WAIT_S = 240.0  # upper bound for a busy machine; the tests return as soon as the condition holds


def _command(*args: str) -> list[str]:
    return [sys.executable, "-c", CODE, str(HERE), *args]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def _sorted_lines(out: Path) -> list[str]:
    lines = (out / records.EPISODES_FILE).read_text().splitlines()
    return sorted(lines, key=lambda line: record_key(json.loads(line)))


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """The reference: the spec with its failure switched off (no flag file), played uninterrupted."""
    folder = tmp_path_factory.mktemp("stops")
    flag = folder / "hang-now"
    spec = write_spec(folder / "spec.json", [HERE_TASKS[1]], 1, flag, episodes_per_task=2, hang=True)
    out = folder / "clean"
    assert main(["eval", str(spec), "--policy", "random", "--out", str(out), "--no-progress"]) == 0
    return spec, flag, _sorted_lines(out)


def _limit_file_size(limit: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_file_size_limit_is_one_line_and_a_resume_completes(clean, tmp_path):
    spec, _, reference = clean
    out = tmp_path / "out"
    args = ["eval", str(spec), "--policy", "random", "--out", str(out), "--batch-size", "3", "--no-progress"]
    done = subprocess.run(
        _command(*args), capture_output=True, text=True, env=_env(), timeout=WAIT_S, preexec_fn=_limit_file_size(30_000)
    )  # fmt: skip: run.json fits, the episodes do not
    assert done.returncode == 2, done.stderr
    resume = f"anchorgym eval {spec} --policy random --out {out} --batch-size 3 --resume"
    assert done.stderr.splitlines() == [
        f"error: Cannot write to {out}: File too large (EFBIG). Free some space (or raise the file-size limit), then "
        "rerun the same command with --resume: the episodes already recorded are kept. The command: " + resume
    ]
    assert 0 < len(records.read_episodes(out / records.EPISODES_FILE)) < len(reference)
    again = subprocess.run(_command(*args, "--resume"), capture_output=True, text=True, env=_env(), timeout=WAIT_S)
    assert again.returncode == 0, again.stderr
    assert _sorted_lines(out) == reference


def _start_and_wait_for_the_hang(spec: Path, flag: Path, out: Path) -> subprocess.Popen:
    flag.write_text("")
    marker = Path(f"{flag}.hung")
    marker.unlink(missing_ok=True)
    args = ["eval", str(spec), "--policy", "random", "--out", str(out), "--num-workers", "2", "--no-progress"]
    run = subprocess.Popen(
        _command(*args), stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=_env(), start_new_session=True
    )  # fmt: skip: its own process group, like a shell job
    deadline = time.monotonic() + WAIT_S
    while not marker.exists() and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)  # polling a condition; no test outcome depends on this interval
    assert marker.exists(), "the env never reached its hang"
    return run


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_the_run_with_one_line_and_a_resume_completes_it(clean, tmp_path, signum, code):
    spec, flag, reference = clean
    out = tmp_path / "out"
    run = _start_and_wait_for_the_hang(spec, flag, out)
    try:
        if signum == signal.SIGINT:
            os.killpg(run.pid, signal.SIGINT)  # Ctrl-C reaches the whole group: the workers ignore it
        else:
            run.send_signal(signal.SIGTERM)
        _, stderr = run.communicate(timeout=WAIT_S)
    finally:
        flag.unlink()
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    name = signal.Signals(signum).name
    assert run.returncode == code, stderr
    assert stderr.splitlines() == [
        f"stopped by {name}: the episodes finished so far are saved in {out}. Continue with: anchorgym eval {spec} "
        f"--policy random --out {out} --num-workers 2 --resume"
    ]
    assert not (out / records.RESULT_FILE).exists()
    again = subprocess.run(_command("eval", str(spec), "--policy", "random", "--out", str(out), "--num-workers", "2",
                                    "--no-progress", "--resume"), capture_output=True, text=True, env=_env(),
                           timeout=WAIT_S)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert _sorted_lines(out) == reference


@pytest.mark.parametrize(
    "option, message",
    [
        (["--max-worker-rss-mb", "0"], "error: --max-worker-rss-mb must be a positive number of MiB, got 0."),
        (["--step-timeout-s", "0"], "error: --step-timeout-s must be a positive number of seconds, got 0.0."),
        (["--reset-timeout-s", "-2"], "error: --reset-timeout-s must be a positive number of seconds, got -2.0."),
        (
            ["--batch-size", "0"],
            "error: --batch-size must be >= 1, got 0. Leave it out for min(16, episodes per seed).",
        ),
        (["--num-workers", "0"], "error: --num-workers must be >= 1, got 0. Leave it out for one per CPU."),
        (["--max-new-tokens", "0"], "error: max_new_tokens must be >= 1, got 0."),
    ],
)
def test_every_option_below_its_minimum_is_an_error(clean, tmp_path, capsys, option, message):
    spec, _, _ = clean
    assert main(["eval", str(spec), "--policy", "random", "--out", str(tmp_path / "o"), *option]) == 2
    assert capsys.readouterr().err.splitlines() == [message]
