"""A real Sokoban env that fails on purpose: the env side of the per-env error contract, for the harness tests.

``FaultySokoban`` plays the real Sokoban rooms; for the tasks in ``fail_tasks`` it raises inside
``step`` once ``fail_at`` steps were taken (``fail_at=0``: inside ``reset``), but only while the file
``flag`` exists, so a test can make the failure go away and replay the errored episodes. With
``hang=True`` it stops its own process (SIGSTOP) there instead of raising: a hung worker.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

from anchorgym.envs.registry import EnvInfo, list_envs, register
from anchorgym.envs.sokoban.env import SokobanEnv

FAULTY_ID = "anchorgym-test/FaultySokoban-v0"
HERE_TASKS = ["1000000000", "1000000001", "1000000002", "1000000003"]


class EnvFault(RuntimeError):
    """What the faulty env raises."""


class FaultySokoban(SokobanEnv):
    """Sokoban whose ``fail_tasks`` raise after ``fail_at`` steps while ``flag`` exists."""

    def __init__(
        self, fail_tasks: list[str] = (), fail_at: int = 1, flag: str = "", hang: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.fail_tasks, self.fail_at, self.flag, self.hang = set(fail_tasks), int(fail_at), flag, hang

    def _fail(self, message: str) -> None:
        if self.hang:
            Path(f"{self.flag}.hung").write_text(str(os.getpid()))  # tells a test the hang has begun
            os.kill(os.getpid(), signal.SIGSTOP)  # hung for good: only a SIGKILL (or SIGCONT) ends it
        raise EnvFault(message)

    def _failing(self, task_id: str) -> bool:
        return task_id in self.fail_tasks and bool(self.flag) and Path(self.flag).exists()

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict]:
        task_id = str((options or {}).get("task_id", ""))
        if self.fail_at == 0 and self._failing(task_id):
            self._fail(f"reset of task {task_id} failed on purpose")
        return super().reset(seed=seed, options=options)

    def step(self, action: str) -> tuple[str, float, bool, bool, dict]:
        """Raise instead of taking step ``fail_at`` (0-based) of a failing task."""
        if self.steps >= self.fail_at and self._failing(self.task_id):
            self._fail(f"step {self.steps} of task {self.task_id} failed on purpose")
        return super().step(action)


def register_faulty_env() -> None:
    """Register ``FAULTY_ID`` (once per process) with Sokoban's prompt template (for model policies)."""
    if FAULTY_ID not in list_envs():
        register(EnvInfo(id=FAULTY_ID, entry_point=f"{__name__}:FaultySokoban", splits=("test",), max_steps=15))
        from anchorgym.envs.sokoban.prompts import SOKOBAN_TEMPLATE
        from anchorgym.policies.prompting import register_template

        register_template(FAULTY_ID, SOKOBAN_TEMPLATE)


def write_spec(
    path: Path,
    fail_tasks: list[str],
    fail_at: int,
    flag: Path,
    bench: str = "faulty/test@v1",
    episodes_per_task: int = 1,
    max_steps: int = 15,
    hang: bool = False,
    timeouts: dict[str, float] | None = None,
) -> Path:
    """Write a benchmark spec file over the first four Sokoban test rooms with the faulty env; return it."""
    benchmark = {
        "id": bench, "env": {"id": FAULTY_ID, "kwargs": {"fail_tasks": fail_tasks, "fail_at": fail_at,
                                                           "flag": str(flag), **({"hang": True} if hang else {})}},
        **({"timeouts": timeouts} if timeouts else {}),
        "split": "test", "tasks": HERE_TASKS, "episodes_per_task": episodes_per_task, "max_steps": max_steps,
        "history_length": 2,
        "prompt_template": {"name": "sokoban", "version": "1"}, "metrics": {"success": "won", "score": "score"},
        "seeds": [0],
    }  # fmt: skip
    path.write_text(json.dumps({"format": "anchorgym-benchmarks/1", "benchmarks": [benchmark]}))
    return path
