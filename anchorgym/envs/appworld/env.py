"""``anchorgym/AppWorld-v0``: the real AppWorld engine as a code-acting environment.

Observation: the task instruction, the supervisor's details and the output of
the last code execution. Action: Python inside ``<code>...</code>`` (open action
space; text without a complete ``<code>`` block is an invalid, no-op step).
The episode ends when the code calls ``apis.supervisor.complete_task(...)``;
it is truncated after ``max_steps`` (50) interactions. Then AppWorld's own
evaluator runs: ``won`` is its success, ``score`` = passed tests / total tests,
and the reward is ``float(won)`` on that step.

The world lives in a worker process in the isolated AppWorld venv
(:mod:`.client`); a crashing or hanging execution ends only this episode, with
``info["error"]`` saying what happened, and the next reset starts a new worker.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Sequence
from typing import Any

from anchorgym.envs.appworld.anchor import anchor_apps, anchor_state
from anchorgym.envs.appworld.client import WorldWorker
from anchorgym.envs.appworld.data import SUITE_DEFAULT_VERSION, dataset_hashes, load_source
from anchorgym.envs.appworld.expert import expert_code
from anchorgym.envs.appworld.venv import require_python
from anchorgym.envs.core import AnchorEnv, AnchorFn, Transition
from anchorgym.errors import WorkerError
from anchorgym.policies.prompting import extract_tag

MAX_OUTPUT_CHARS = 6000  # long API dumps are cut so prompts stay bounded
OPEN_TIMEOUT_S = 300.0  # a fresh worker imports appworld and loads the task's databases
EVALUATE_TIMEOUT_S = 120.0
HARD_TIMEOUT_GRACE_S = 15.0  # past AppWorld's own timeout, the worker is killed


class AppWorldEnv(AnchorEnv):
    """AppWorld tasks played through a worker process.

    Args:
        split: ``train``/``dev``/``test_normal``/``test_challenge`` (real data), ``offline``
            (generated tasks) or ``train``/``test`` (the suite); default: the source's first.
        source: ``auto``, ``real``, ``generated`` or ``suite`` (see :mod:`.data`).
        max_steps: interactions before truncation (AppWorld's usual 50).
        anchor_fn: see :class:`~anchorgym.envs.core.AnchorEnv`.
        render_mode: ``"ansi"`` or None.
        code_timeout_s: AppWorld's own per-execution timeout; the worker is
            killed if it has not answered ``HARD_TIMEOUT_GRACE_S`` later.
        max_worker_mb: the worker is restarted between episodes above this RSS.
        worker_memory_cap_mb: the worker's address-space limit (0: none): code that allocates
            past it gets a ``MemoryError`` in its output instead of exhausting the machine.
        suite_variants: with ``source="suite"``, the suite generated with this many variants per
            family (default: the version's full set, 7 for version 1 and 5 after; tests generate 1).
        suite_version: with ``source="suite"``, the suite version: 2 adds Gmail, Splitwise and Amazon families and
            deepens level 3 (``appworld-suite/*@v2``); 3 is 2's with the ``api_docs`` app answering as in
            AppWorld (``appworld-suite/*@v3``); an unversioned suite is version 1, the tasks the released
            ``appworld-suite/*@v1`` specs play.
    """

    open_action_space = True  # actions are code: the harness refuses policies that need admissible actions

    def __init__(
        self,
        split: str | None = None,
        source: str = "auto",
        max_steps: int | None = None,
        anchor_fn: str | AnchorFn | None = None,
        render_mode: str | None = None,
        code_timeout_s: int = 30,
        max_worker_mb: int = 2048,
        worker_memory_cap_mb: int = 8192,
        suite_variants: int | None = None,
        suite_version: int = SUITE_DEFAULT_VERSION,
    ) -> None:
        self.source = load_source(source, split, suite_variants, suite_version)
        super().__init__(self.source.split, max_steps, anchor_fn, render_mode)
        self.code_timeout_s = int(code_timeout_s)
        self.worker = WorldWorker(
            require_python(), code_timeout_s + HARD_TIMEOUT_GRACE_S, max_worker_mb << 20, worker_memory_cap_mb << 20
        )
        self.experiment = f"anchorgym-{uuid.uuid4().hex[:12]}"  # own output folder: group members share tasks
        self._task: dict[str, Any] = {}
        self._db_digest = ""
        self._last_output = ""
        self._score = 0.0
        self.error: str | None = None
        self.evaluation: dict[str, Any] | None = None  # AppWorld's last evaluation of this episode

    # ------------------------------------------------------------ contract
    def task_ids(self) -> Sequence[str]:
        """The split's task ids."""
        return self.source.task_ids

    @property
    def instruction(self) -> str:
        """The current task's instruction."""
        return self._task.get("instruction", "")

    @property
    def task_type(self) -> str:
        """The generated task's app and kind (e.g. ``venmo/payment``), or AppWorld's scenario id."""
        spec = self.source.index.get(self.task_id)
        return f"{spec['app']}/{spec['kind']}" if spec else self.task_id.split("_")[0]

    @property
    def score(self) -> float:
        """Passed tests / total tests of AppWorld's evaluation (0 before it runs)."""
        return self._score

    def admissible_actions(self) -> list[str] | None:
        """Open action space."""
        return None

    def anchor_state(self) -> dict[str, Any]:
        """The task id and the digest of its world's databases (see :mod:`.anchor`)."""
        return anchor_state(self.task_id, self._db_digest)

    def parse_action(self, action: str) -> str | None:
        """Return the code inside the last ``<code>...</code>``, or None."""
        found = extract_tag(action, ["code"])
        return found[1] if found and found[1] else None

    def expert_action(self) -> str:
        """The generator's solution of the current offline task."""
        spec = self.source.index.get(self.task_id)
        if spec is None:
            raise NotImplementedError("AppWorld's own tasks have no expert in anchorgym; use the offline tasks.")
        return expert_code(spec)

    def dataset_hashes(self) -> dict[str, str]:
        """Content hashes of the split's task files (see :func:`.data.dataset_hashes`)."""
        return dataset_hashes(self.source)

    @property
    def worker_pid(self) -> int | None:
        """The process id of this env's world worker (None until a reset starts one, or after a crash)."""
        return self.worker.pid

    def step(self, action: str) -> tuple[str, float, bool, bool, dict]:
        """Apply ``action`` (see :meth:`AnchorEnv.step`); AppWorld grades the world when the episode ends.

        Returns:
            The observation, the reward (``float(won)`` on a completing step, else 0), whether the code
            completed the task (or the world crashed: ``info["error"]``), whether the interaction limit
            cut the episode, and the info dict (``won``/``score`` hold AppWorld's evaluation at the end).
        """
        obs, reward, terminated, truncated, info = super().step(action)
        if truncated and self.evaluation is None:  # the last action held no code: grade the world as left
            try:
                self._evaluate()
            except WorkerError as error:
                self.error = info["error"] = str(error)
                self.worker.close()
            info.update(won=bool(self.won), score=float(self.score))
        return obs, reward, terminated, truncated, info

    # ------------------------------------------------------------ episode
    def _load_task(self, task_id: str) -> str:
        self.worker.recycle_if_large()
        self._score, self.error, self.evaluation = 0.0, None, None
        spec = self.source.index.get(task_id)
        request = {
            "root": str(self.source.root),
            "task_id": task_id,
            "experiment": self.experiment,
            "timeout": self.code_timeout_s,
            "anchor_apps": anchor_apps(spec["app"] if spec else None),
        }
        try:
            reply = self.worker.request("open", timeout_s=OPEN_TIMEOUT_S, **request)
        except WorkerError:  # a worker that died since the last episode: one retry on a fresh one
            self.worker.close()
            reply = self.worker.request("open", timeout_s=OPEN_TIMEOUT_S, **request)
        self._task = reply
        self._db_digest = reply["anchor"]
        self._last_output = "(no code executed yet)"
        return self._render()

    def _apply(self, action: str) -> Transition:
        try:
            reply = self.worker.request("execute", code=action)
        except WorkerError as error:
            return self._fail(error)
        self._db_digest = reply["anchor"]
        self._last_output = reply["output"]
        done = bool(reply["completed"])
        if done or self.steps >= self.max_steps:
            try:
                self._evaluate()
            except WorkerError as error:
                return self._fail(error)
        info = {"task_completed": done}
        return Transition(self._render(), float(self.won) if done else 0.0, done, info)

    def _evaluate(self) -> None:
        result = self.worker.request("evaluate", timeout_s=EVALUATE_TIMEOUT_S)
        self.won = bool(result["success"])
        self._score = result["passes"] / result["num_tests"] if result["num_tests"] else float(self.won)
        self.evaluation = result

    def _fail(self, error: WorkerError) -> Transition:
        """End the episode: the world crashed or hung (the worker is restarted on the next reset)."""
        self.error = str(error)
        self.worker.close()
        self._last_output = f"Execution failed: the AppWorld world crashed or hung and was stopped.\n{error}"
        return Transition(self._render(), 0.0, True, {"error": self.error, "task_completed": False})

    def _render(self) -> str:
        supervisor = self._task.get("supervisor", {})
        output = self._last_output
        if len(output) > MAX_OUTPUT_CHARS:
            output = output[:MAX_OUTPUT_CHARS] + f"\n... [{len(output) - MAX_OUTPUT_CHARS} more characters cut]"
        return (
            f"Task: {self.instruction}\n"
            f"Supervisor: {supervisor.get('first_name', '')} {supervisor.get('last_name', '')} "
            f"(email {supervisor.get('email', '')}, phone {supervisor.get('phone_number', '')}). "
            f"Current date and time: {self._task.get('datetime', '')}.\n\n"
            f"Output of your last code:\n{output}"
        )

    def close(self) -> None:
        """Stop the worker process; drop this env's AppWorld outputs under the generated root."""
        self.worker.close()
        if self.source.kind in ("generated", "suite"):
            shutil.rmtree(self.source.root / "experiments" / "outputs" / self.experiment, ignore_errors=True)
        super().close()
