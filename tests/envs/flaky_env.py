"""A Sokoban env that fails on purpose, for the vector env's failure-isolation tests.

Imported by name (``flaky_env:FlakyEnv``) in worker processes: the tests put this folder on
``sys.path``, which spawned workers inherit, and register the id in the parent, which the
backends hand to their workers.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from anchorgym.envs.registry import EnvInfo
from anchorgym.envs.sokoban.env import SokobanEnv

FLAKY_ID = "anchorgym-test/FlakySokoban-v0"
INFO = EnvInfo(id=FLAKY_ID, entry_point="flaky_env:FlakyEnv", splits=("train", "test"), max_steps=15)


class FlakyEnv(SokobanEnv):
    """Sokoban that, on task ``task``, raises at step ``raise_at_step`` or in ``reset``, or exits in ``reset``.

    Args:
        task: the task id the failures apply to ("" for none).
        raise_at_step: raise ``RuntimeError`` when this step of ``task`` is taken (0: never).
        raise_on_reset: raise ``RuntimeError`` when ``task`` is reset.
        exit_on_reset: end the hosting process with ``os._exit(3)`` when ``task`` is reset.
        kill_on_init: SIGKILL the hosting process while the env is built (a worker killed during start-up).
        **kwargs: passed to :class:`SokobanEnv`.
    """

    def __init__(
        self,
        task: str = "",
        raise_at_step: int = 0,
        raise_on_reset: bool = False,
        exit_on_reset: bool = False,
        kill_on_init: bool = False,
        **kwargs: Any,
    ) -> None:
        if kill_on_init:
            os.kill(os.getpid(), signal.SIGKILL)
        super().__init__(**kwargs)
        self.fail_task, self.raise_at_step = task, raise_at_step
        self.raise_on_reset, self.exit_on_reset = raise_on_reset, exit_on_reset

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[str, dict]:
        """Reset, failing as configured when the task is ``task``."""
        if (options or {}).get("task_id") == self.fail_task:
            if self.exit_on_reset:
                os._exit(3)
            if self.raise_on_reset:
                raise RuntimeError(f"flaky env: reset of task {self.fail_task}")
        return super().reset(seed=seed, options=options)

    def step(self, action: str) -> tuple[str, float, bool, bool, dict]:
        """Step, raising as configured at step ``raise_at_step`` of ``task``."""
        if self.task_id == self.fail_task and self.steps + 1 == self.raise_at_step:
            self.steps += 1  # the failing step counts, as an engine that raised midway would leave it
            raise RuntimeError(f"flaky env: step {self.steps} of task {self.task_id}")
        return super().step(action)
