"""One output folder, one run: the run lock, what a resume adopts, unusable --out folders and bad counts."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from anchorgym.errors import ConfigError, ResultError
from anchorgym.harness import lock as lock_module
from anchorgym.harness import records
from anchorgym.harness.lock import RunLock
from anchorgym.harness.runner import evaluate

SMOKE = "sokoban-6x6-1box/smoke@v1"
REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}
KEY = lambda r: (r["seed"], r["task_index"], r["episode"])  # noqa: E731
HOLD = (
    "import sys; from pathlib import Path; from anchorgym.harness.lock import RunLock; "
    "RunLock(Path(sys.argv[1])).acquire(); print('locked', flush=True); sys.stdin.read()"
)


def _run(out, **kwargs):
    return evaluate(SMOKE, "random", out=out, seeds=[0, 1, 2], batch_size=3, progress=False, **kwargs)


def _eval_args(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "anchorgym.cli", "eval", SMOKE, "--policy", "random", "--seeds", "0,1,2",
            "--batch-size", "3", "--out", str(out), "--no-progress", *extra]  # fmt: skip


def _one_line_error(done: subprocess.CompletedProcess) -> str:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), (done.returncode, done.stderr)
    return lines[0]


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    return out, _run(out)


def _copy_run(full_dir: Path, target: Path, lines: list[str]) -> Path:
    target.mkdir(exist_ok=True)
    shutil.copy(full_dir / "run.json", target / "run.json")
    (target / "episodes.jsonl").write_text("".join(lines))
    return target


# ---------------------------------------------------------------------------------------------- the lock


def test_a_second_writer_is_refused_naming_the_holders_pid_and_a_dead_holder_blocks_nothing(tmp_path, full_run):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=ENV)  # fmt: skip
    assert holder.stdout.readline() == "locked\n"
    with pytest.raises(ResultError) as caught:
        _run(tmp_path)
    assert str(caught.value) == (
        f"{tmp_path} is locked by a running evaluation (pid {holder.pid}). Wait for it to finish (or stop it), "
        "then pass --resume to continue it; or choose another --out."
    )
    assert not (tmp_path / "run.json").exists() and not (tmp_path / "episodes.jsonl").exists()
    holder.send_signal(signal.SIGKILL)
    assert holder.wait(timeout=60) == -signal.SIGKILL
    assert (tmp_path / "run.lock").read_text() == f"{holder.pid}\n"  # the stale lock file stays ...
    assert _run(tmp_path)["metrics"] == full_run[1]["metrics"]  # ... and blocks nothing: the kernel freed the lock
    assert not (tmp_path / "run.lock").exists()  # a run that ends deletes its lock file


def test_a_finished_run_leaves_no_lock_file(full_run):
    full_dir, _ = full_run
    assert (full_dir / "result.json").is_file() and not (full_dir / "run.lock").exists()


def test_a_lock_file_deleted_under_a_waiting_opener_is_not_shared(tmp_path):
    first = RunLock(tmp_path)
    first.acquire()
    stale = os.open(tmp_path / "run.lock", os.O_RDWR)  # a second run opened the file just before the first ended
    first.release()
    assert not (tmp_path / "run.lock").exists()
    fcntl.flock(stale, fcntl.LOCK_EX | fcntl.LOCK_NB)  # ... and then locked it: a lock on a deleted file
    second, opened = RunLock(tmp_path), []
    real_open = second._open_and_lock

    def racing_open() -> int:  # the second run's first open is the stale one, as in the race
        opened.append(stale if not opened else real_open())
        return opened[-1]

    second._open_and_lock = racing_open
    second.acquire()
    assert len(opened) == 2 and second.fd == opened[1]  # it noticed, and locked the file now at the path
    assert lock_module._is_at(second.fd, tmp_path / "run.lock") and second.holder() == os.getpid()
    with pytest.raises(ResultError, match="is locked by a running evaluation"):
        RunLock(tmp_path).acquire()  # a third run is refused: one lock, one holder
    second.release()


def test_the_cli_names_the_pid_holding_the_folder(tmp_path):
    with RunLock(tmp_path):
        line = _one_line_error(subprocess.run(_eval_args(tmp_path), capture_output=True, text=True, env=ENV))
        line_resume = _one_line_error(
            subprocess.run(_eval_args(tmp_path, "--resume"), capture_output=True, text=True, env=ENV)
        )
    assert (
        line
        == line_resume
        == f"error: {tmp_path} is locked by a running evaluation (pid {os.getpid()}). "
        + ("Wait for it to finish (or stop it), then pass --resume to continue it; or choose another --out.")
    )


def test_two_runs_started_together_exactly_one_wins(tmp_path, full_run):
    full_dir, _ = full_run
    out = tmp_path / "out"
    runs = [subprocess.Popen(_eval_args(out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
            for _ in range(2)]  # fmt: skip
    done = [(proc, *proc.communicate(timeout=300)) for proc in runs]
    winners = [proc for proc, _, _ in done if proc.returncode == 0]
    losers = [(proc, err) for proc, _, err in done if proc.returncode != 0]
    assert len(winners) == 1 and len(losers) == 1, [(p.returncode, err) for p, _, err in done]
    loser, stderr = losers[0]
    assert loser.returncode == 2 and len(stderr.strip().splitlines()) == 1, stderr
    # started before the winner finished: the lock names it; after: the folder holds its finished run
    assert f"is locked by a running evaluation (pid {winners[0].pid})" in stderr or "already holds an evaluation" in (
        stderr
    )
    lines = (out / "episodes.jsonl").read_text().splitlines()
    assert len(lines) == 24 and len({KEY(json.loads(line)) for line in lines}) == 24
    mine = sorted(records.read_episodes(out / "episodes.jsonl"), key=KEY)
    assert mine == sorted(records.read_episodes(full_dir / "episodes.jsonl"), key=KEY)


# ------------------------------------------------------------------------------------ what a resume adopts


def test_resume_needs_run_json_beside_episodes(tmp_path, full_run):
    full_dir, _ = full_run
    shutil.copy(full_dir / "episodes.jsonl", tmp_path / "episodes.jsonl")
    with pytest.raises(ResultError) as caught:
        _run(tmp_path, resume=True)
    assert str(caught.value) == (
        f"Cannot resume {tmp_path}: it holds episodes.jsonl but no run.json, so nothing says which run wrote those "
        "episodes. Move episodes.jsonl away, or choose another --out."
    )
    assert not (tmp_path / "result.json").exists() and not (tmp_path / "run.json").exists()


def test_resume_into_an_empty_folder_starts_the_run(tmp_path, full_run):
    assert _run(tmp_path / "new", resume=True)["metrics"] == full_run[1]["metrics"]


def _edited(line: str, **changes) -> str:
    return json.dumps({**json.loads(line), **changes}) + "\n"


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (lambda ls: ls[:5] + [_edited(ls[5], task_id="1000000042")] + ls[6:],
         "line 6 does not belong to this run: it played task '1000000042' where the plan has '{task}'"),
        (lambda ls: ls[:5] + [_edited(ls[5], env_seed=12345)] + ls[6:],
         "line 6 does not belong to this run: its env seed 12345 is not the planned {env_seed}"),
        (lambda ls: ls[:5] + [_edited(ls[5], seed=9)] + ls[6:],
         "line 6 does not belong to this run: episode (9, {task_index}, 0) (seed, task index, episode) is not in "
         "this run's plan"),
        (lambda ls: ls[:5] + [_edited(ls[5], spec_hash="sha256:" + "0" * 64)] + ls[6:],
         "line 6 does not belong to this run: it was played on benchmark spec sha256:000000000000, not this run's "
         "{spec_hash}"),
        (lambda ls: ls[:8] + [ls[5]],
         "line 9 does not belong to this run: it repeats episode ({seed}, {task_index}, 0) of line 6"),
        (lambda ls: ls[:8] + ['{"foo":1}\n'],
         "line 9 does not match the episode schema at (top level): "),
    ],
    ids=["other-task", "other-env-seed", "unplanned-seed", "other-spec", "duplicate", "not-an-episode"],
)  # fmt: skip
def test_resume_refuses_records_that_do_not_belong(tmp_path, full_run, edit, problem):
    full_dir, full = full_run
    lines = (full_dir / "episodes.jsonl").read_text().splitlines(keepends=True)
    _copy_run(full_dir, tmp_path, edit(lines))
    before = (tmp_path / "episodes.jsonl").read_bytes()
    with pytest.raises(ResultError) as caught:
        _run(tmp_path, resume=True)
    sixth = json.loads(lines[5])
    fields = {**sixth, "task": sixth["task_id"], "spec_hash": full["benchmark"]["spec_hash"][:19]}
    assert str(caught.value).startswith(f"{tmp_path / 'episodes.jsonl'} {problem.format(**fields)}")
    assert (tmp_path / "episodes.jsonl").read_bytes() == before  # nothing dropped, nothing adopted
    assert not (tmp_path / "result.json").exists()


def test_a_complete_but_corrupt_last_line_is_an_error_not_repaired(tmp_path, full_run):
    full_dir, _ = full_run
    lines = (full_dir / "episodes.jsonl").read_text().splitlines(keepends=True)
    _copy_run(full_dir, tmp_path, lines[:7] + ['{"seed": 0, "task_index": 4\n'])
    before = (tmp_path / "episodes.jsonl").read_bytes()
    with pytest.raises(ResultError, match=r"episodes.jsonl line 8 is corrupt \(.*\); remove or fix it, then resume."):
        _run(tmp_path, resume=True)
    assert (tmp_path / "episodes.jsonl").read_bytes() == before


def test_only_a_cut_off_last_line_is_repaired(tmp_path, full_run):
    full_dir, full = full_run
    lines = (full_dir / "episodes.jsonl").read_text().splitlines(keepends=True)
    _copy_run(full_dir, tmp_path, lines[:7] + [lines[7][:-1]])  # the whole record but its newline: still cut off
    assert _run(tmp_path, resume=True)["metrics"] == full["metrics"]
    assert sorted(records.read_episodes(tmp_path / "episodes.jsonl"), key=KEY) == sorted(
        records.read_episodes(full_dir / "episodes.jsonl"), key=KEY
    )


# ------------------------------------------------------------------------- unusable folders and bad counts


def test_out_is_a_file(tmp_path):
    target = tmp_path / "results.txt"
    target.write_text("not a folder")
    line = _one_line_error(subprocess.run(_eval_args(target), capture_output=True, text=True, env=ENV))
    assert line == f"error: --out {target} is a file, not a directory. Choose a directory for the results."
    below = target / "run"
    line = _one_line_error(subprocess.run(_eval_args(below), capture_output=True, text=True, env=ENV))
    assert line == f"error: Cannot write results to {below} (Not a directory). Choose a writable --out."


@pytest.fixture()
def read_only_dir(tmp_path):
    """A folder nobody can write into: mode 0555, and immutable when the tests run as root (who ignores modes)."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    immutable = False
    if os.access(folder, os.W_OK) and shutil.which("chattr"):
        immutable = subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0
    if os.access(folder, os.W_OK) and not immutable:
        pytest.skip("running as root without chattr: no folder here is read-only")
    yield folder
    if immutable:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    folder.chmod(0o755)


def test_out_is_read_only(read_only_dir):
    for out in (read_only_dir, read_only_dir / "run"):
        line = _one_line_error(subprocess.run(_eval_args(out), capture_output=True, text=True, env=ENV))
        assert line.startswith(f"error: Cannot write results to {out} (")
        assert line.endswith("). Choose a writable --out.") and ("ermission denied" in line or "not permitted" in line)


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--batch-size", "0", "--batch-size must be >= 1, got 0. Leave it out for min(16, episodes per seed)."),
        ("--num-workers", "0", "--num-workers must be >= 1, got 0. Leave it out for one per CPU."),
        ("--num-workers", "-2", "--num-workers must be >= 1, got -2. Leave it out for one per CPU."),
    ],
)
def test_counts_below_one_are_errors(tmp_path, flag, value, message):
    done = subprocess.run(_eval_args(tmp_path, flag, value), capture_output=True, text=True, env=ENV)
    assert _one_line_error(done) == f"error: {message}"
    assert list(tmp_path.iterdir()) == []  # refused before anything was written


def test_retry_errored_needs_resume(tmp_path):
    with pytest.raises(ConfigError, match="--retry-errored plays the errored episodes of an earlier run again"):
        _run(tmp_path, retry_errored=True)
