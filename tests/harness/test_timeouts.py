"""Step and reset time limits: a hung worker (SIGSTOPped) ends only its episodes; the run finishes.

The env stops its own worker process at a fixed step of one task (``harness_faultyenv`` with
``hang=True``), so no test waits on a sleep: the hang is certain and its place is exact. The limits
are generous for a Sokoban step (microseconds) so a loaded machine cannot trip them elsewhere.
"""

from __future__ import annotations

import json

import pytest
from harness_faultyenv import HERE_TASKS, write_spec

from anchorgym.errors import ConfigError
from anchorgym.harness import records
from anchorgym.harness.runner import evaluate

HUNG = HERE_TASKS[1]
LIMIT_S = 8.0


def _spec(tmp_path, fail_at, timeouts=None):
    flag = tmp_path / "hang-now"
    flag.write_text("")
    return str(write_spec(tmp_path / "spec.json", [HUNG], fail_at, flag, hang=True, timeouts=timeouts))


@pytest.mark.parametrize("fail_at, method", [(1, "step"), (0, "reset")])
def test_a_hung_worker_gives_an_errored_episode_and_a_finished_run(tmp_path, fail_at, method):
    limits = {"step_s": LIMIT_S} if method == "step" else {"reset_s": LIMIT_S}
    out = tmp_path / "out"
    result = evaluate(_spec(tmp_path, fail_at, limits), "expert", out=out, batch_size=4, num_workers=2, progress=False)
    assert result["run"]["backend"] == "ProcessBackend" and result["metrics"]["errored"] == 2
    # 4 envs on 2 workers: the hung worker hosts tasks 0 and 1, both end; tasks 2 and 3 finish normally
    assert [(e["task_id"], e["error"].split(":")[0]) for e in result["errors"]] == [
        (HERE_TASKS[0], "EnvTimeout"),
        (HERE_TASKS[1], "EnvTimeout"),
    ]
    reason = result["errors"][1]["error"]
    assert f"did not finish {method} within 8 s (timeout, {method}_timeout_s) and was killed" in reason
    played = {r["task_id"]: r for r in records.read_episodes(out / records.EPISODES_FILE)}
    assert played[HERE_TASKS[2]]["won"] and played[HERE_TASKS[3]]["won"]  # the expert solves the others
    assert len(played[HUNG]["steps"]) == fail_at  # the steps before the hang are kept


def test_the_command_line_overrides_the_specs_limit_and_the_run_goes_on(tmp_path):
    spec = _spec(tmp_path, 1, {"step_s": 3600.0})  # an hour: the override must be the one that acts
    out = tmp_path / "out"
    result = evaluate(spec, "expert", out=out, batch_size=4, num_workers=2, progress=False, step_timeout_s=LIMIT_S)
    assert {e["task_id"] for e in result["errors"]} == {HERE_TASKS[0], HUNG}
    assert "within 8 s" in result["errors"][0]["error"]
    (tmp_path / "hang-now").unlink()  # the env is fixed: --resume --retry-errored plays them again
    again = evaluate(spec, "expert", out=out, batch_size=4, num_workers=2, progress=False, resume=True,
                     retry_errored=True)  # fmt: skip
    assert "errors" not in again and again["metrics"]["success_rate"]["mean"] == 1.0
    assert len(records.read_episodes(out / records.EPISODES_FILE)) == 4


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"step_timeout_s": 0}, r"^--step-timeout-s must be a positive number of seconds, got 0\.$"),
        ({"reset_timeout_s": -1.0}, r"^--reset-timeout-s must be a positive number of seconds, got -1\.0\.$"),
        ({"step_timeout_s": 5, "backend": "sync"}, r"^Time limits \(step_s\) need env workers to kill: use"),
    ],
)
def test_bad_limits_are_refused(tmp_path, kwargs, message):
    spec = write_spec(tmp_path / "spec.json", [], 1, tmp_path / "never")
    with pytest.raises(ConfigError, match=message):
        evaluate(str(spec), "expert", out=tmp_path / "out", progress=False, **kwargs)
    assert json.loads(spec.read_text())["benchmarks"][0].get("timeouts") is None
