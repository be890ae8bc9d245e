"""A failing episode fails alone: errored episodes are recorded, the run goes on, --retry-errored replays them.

The env side is the real Sokoban env made to raise (``harness_faultyenv``); the vector env turns the
exception into ``infos["error"]`` for that env only (the per-env error contract).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from harness_faultyenv import HERE_TASKS, write_spec

from anchorgym.errors import ResultError
from anchorgym.harness import records
from anchorgym.harness.metrics import summarize
from anchorgym.harness.runner import evaluate
from anchorgym.policies.base import Policy
from anchorgym.policies.registry import make_policy

REPO = Path(__file__).resolve().parents[2]
FAILING = HERE_TASKS[0]  # the expert needs 5 steps for this room: step 2 fails mid-episode
KEY = lambda r: (r["seed"], r["task_index"], r["episode"])  # noqa: E731


def _spec(tmp_path: Path, fail_at: int, flag: bool) -> str:
    marker = tmp_path / "failing"
    if flag:
        marker.write_text("the env fails while this file exists")
    return str(write_spec(tmp_path / "faulty.json", [FAILING], fail_at, marker))


def _episodes(out: Path) -> list[dict]:
    """The records by key, without the spec hash (each test's spec names its own flag file)."""
    episodes = records.read_episodes(out / "episodes.jsonl")
    return sorted(({k: v for k, v in e.items() if k != "spec_hash"} for e in episodes), key=KEY)


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """The same benchmark with the failure switched off: what every healthy episode must equal."""
    tmp = tmp_path_factory.mktemp("clean")
    out = tmp / "out"
    result = evaluate(_spec(tmp, 2, flag=False), "expert", out=out, batch_size=4, progress=False)
    return result, _episodes(out)


def test_a_failing_step_ends_only_its_episode(tmp_path, clean):
    clean_result, clean_episodes = clean
    out = tmp_path / "out"
    result = evaluate(_spec(tmp_path, 2, flag=True), "expert", out=out, batch_size=4, progress=False)
    reason = f"EnvFault: step 2 of task {FAILING} failed on purpose"
    assert result["errors"] == [{"seed": 0, "task_index": 0, "episode": 0, "task_id": FAILING, "error": reason}]
    episodes = _episodes(out)
    failed = episodes[0]
    assert failed["error"] == reason and failed["length"] == 2 and not failed["won"]
    assert failed["steps"] == clean_episodes[0]["steps"][:2]  # the steps before the failure are kept
    assert [e for i, e in enumerate(episodes) if i != 0] == [e for i, e in enumerate(clean_episodes) if i != 0]
    healthy = [e for i, e in enumerate(clean_episodes) if i != 0]
    assert result["metrics"] == {**summarize(healthy), "errored": 1}
    assert result["metrics"]["episodes"] == 3 and result["metrics"]["success_rate"]["mean"] == 1.0
    assert clean_result["metrics"]["episodes"] == 4 and "errors" not in clean_result


def test_resume_keeps_errored_episodes_and_retry_errored_plays_them_again(tmp_path, clean):
    clean_result, clean_episodes = clean
    out = tmp_path / "out"
    spec = _spec(tmp_path, 2, flag=True)
    evaluate(spec, "expert", out=out, batch_size=4, progress=False)
    again = evaluate(spec, "expert", out=out, batch_size=4, progress=False, resume=True)
    assert again["metrics"]["errored"] == 1 and again["run"]["episodes_resumed"] == 4
    (tmp_path / "failing").unlink()  # the fault is gone
    retried = evaluate(spec, "expert", out=out, batch_size=4, progress=False, resume=True, retry_errored=True)
    assert "errors" not in retried and retried["metrics"] == clean_result["metrics"]
    assert retried["run"]["episodes_resumed"] == 3
    assert _episodes(out) == clean_episodes and len(records.read_episodes(out / "episodes.jsonl")) == 4


def test_a_failing_reset_is_an_errored_episode_without_steps(tmp_path, clean):
    out = tmp_path / "out"
    result = evaluate(_spec(tmp_path, 0, flag=True), "expert", out=out, batch_size=4, progress=False)
    failed = _episodes(out)[0]
    assert failed["error"] == f"EnvFault: reset of task {FAILING} failed on purpose"
    assert failed["length"] == 0 and failed["steps"] == [] and not failed["won"] and failed["score"] == 0.0
    assert result["metrics"]["errored"] == 1 and result["metrics"]["episodes"] == 3


def test_every_episode_errored_is_an_error(tmp_path):
    marker = tmp_path / "failing"
    marker.write_text("x")
    spec = write_spec(tmp_path / "all.json", HERE_TASKS, 0, marker)
    with pytest.raises(ResultError, match=r"Every episode of .* errored \(first: EnvFault: reset of task 1000000000"):
        evaluate(str(spec), "expert", out=tmp_path / "out", batch_size=4, progress=False)
    assert not (tmp_path / "out" / "result.json").exists()


@pytest.mark.slow
def test_process_backend_records_the_same_errored_episodes(tmp_path, clean):
    sync_out, process_out = tmp_path / "sync", tmp_path / "process"
    spec = _spec(tmp_path, 2, flag=True)  # the faulty env, registered here, reaches the spawned workers too
    evaluate(spec, "random", out=sync_out, batch_size=4, progress=False)
    evaluate(spec, "random", out=process_out, batch_size=4, progress=False, backend="process", num_workers=2)
    assert _episodes(process_out) == _episodes(sync_out)
    assert sum(bool(e.get("error")) for e in _episodes(sync_out)) == 1


def _cli(*args: str) -> subprocess.CompletedProcess:
    """The real CLI in a subprocess that registered the faulty env first."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import harness_faultyenv as f; f.register_faulty_env(); "
        "from anchorgym.cli import main; sys.exit(main(sys.argv[2:]))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    here = str(Path(__file__).parent)
    return subprocess.run([sys.executable, "-c", code, here, *args], capture_output=True, text=True, env=env,
                          timeout=300)  # fmt: skip


def test_cli_exit_code_and_summary_say_episodes_errored(tmp_path, clean):
    clean_result, _ = clean
    spec, out = _spec(tmp_path, 2, flag=True), tmp_path / "out"
    args = ["eval", spec, "--policy", "expert", "--batch-size", "4", "--out", str(out), "--no-progress"]
    done = _cli(*args)
    assert done.returncode == 3, done.stderr
    assert done.stderr.strip().splitlines()[-1:] == [  # after the vector env's own log line of the failure
        f"warning: 1 of 4 episodes errored (first: task {FAILING}, EnvFault: step 2 of task {FAILING} "
        "failed on purpose); the metrics leave them out. Rerun the same command with --resume --retry-errored to "
        "play them again."
    ]
    assert json.loads((out / "result.json").read_text())["metrics"]["errored"] == 1
    (tmp_path / "failing").unlink()
    retried = _cli(*args, "--resume", "--retry-errored")
    assert retried.returncode == 0, retried.stderr
    assert json.loads((out / "result.json").read_text())["metrics"] == clean_result["metrics"]


class KillsWorker(Policy):
    """The expert, but after choosing the actions of step ``at`` in the first batch it SIGKILLs env worker 1."""

    def __init__(self, at: int) -> None:
        self.expert, self.at, self.killed = make_policy("expert"), at, None

    def bind(self, envs):
        self.envs = envs
        self.expert.bind(envs)

    def act(self, inputs):
        outputs = self.expert.act(inputs)
        if self.killed is None and inputs[0].step == self.at:
            self.killed = self.envs.backend.pids[1]
            os.kill(self.killed, signal.SIGKILL)
            self.envs.backend.procs[1].join()  # dead before the step is sent: no timing involved
        return outputs


@pytest.mark.slow
def test_a_killed_worker_errors_only_its_episodes_and_the_run_goes_on(tmp_path, clean):
    clean_result, clean_episodes = clean
    spec, out = _spec(tmp_path, 2, flag=False), tmp_path / "out"
    policy = KillsWorker(at=1)
    result = evaluate(spec, policy, out=out, batch_size=2, backend="process", num_workers=2, progress=False)
    episodes = _episodes(out)
    errored = [e for e in episodes if e.get("error")]
    assert [e["task_id"] for e in errored] == [HERE_TASKS[1]]  # env 1 of batch 0 lived on worker 1
    assert errored[0]["error"].startswith("WorkerError: ") and f"(pid {policy.killed})" in errored[0]["error"]
    assert errored[0]["length"] == 1 and errored[0]["steps"] == clean_episodes[1]["steps"][:1]
    assert [e for e in episodes if not e.get("error")] == [e for i, e in enumerate(clean_episodes) if i != 1]
    assert result["metrics"]["errored"] == 1 and result["metrics"]["episodes"] == 3  # batch 1 ran on a new worker
    retried = evaluate(spec, KillsWorker(at=-1), out=out, batch_size=2, backend="process", num_workers=2,
                       progress=False, resume=True, retry_errored=True)  # fmt: skip
    assert "errors" not in retried and retried["metrics"] == clean_result["metrics"]
