"""Batched, grouped text environments for GRPO-family training and evaluation.

:class:`AnchorVectorEnv` runs ``num_tasks * group_size`` sub-envs. Env ``i``
belongs to group ``i // group_size``; all members of a group start from the
same task and seed (the shared initial state GRPO-family estimators compare
within). Observations and actions are ``list[str]``; infos follow gymnasium's
vector convention (``infos[key]`` is an array over envs, ``infos["_" + key]``
masks the envs that reported it) and always carry ``group_id``, ``traj_id``
and ``active``.

Episodes end independently. With ``autoreset=False`` (the default, gymnasium's
``AutoresetMode.DISABLED``) a finished env is not stepped again until the next
:meth:`reset`: its action is ignored, its reward is 0 and its info mask is
False. :attr:`active` says which envs are still running. With ``autoreset=True``
(``AutoresetMode.SAME_STEP``) a finished env is reset inside the same ``step`` on
a new task for its whole group once every member of the group has finished;
``infos["final_obs"]``/``infos["final_info"]`` hold the finished episode.

A sub-env that fails does not stop the others. When it raises inside ``reset``
or ``step``, or the worker hosting it dies, its episode ends there: it reports
``truncated=True``, reward 0 and ``infos["error"][i] = "<ExceptionType>: <message>"``
(mask ``infos["_error"]``), and is inactive (after a failed reset its observation
is ""). Every other env is stepped once and reported as usual. A dead worker is
restarted at the next reset. Only a caller's mistake in ``reset`` (a bad task id,
a missing data set: :data:`~anchorgym.envs.backends.USER_ERRORS`) raises.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv

from anchorgym.envs.backends import BACKENDS, EnvFailure
from anchorgym.envs.core import TextSpace
from anchorgym.envs.registry import env_info
from anchorgym.errors import ConfigError, UnknownNameError, suggest, unknown

SEED_BOUND = 2**31 - 1

logger = logging.getLogger(__name__)


class AnchorVectorEnv(VectorEnv):
    """A :class:`gymnasium.vector.VectorEnv` of grouped anchorgym envs.

    Args:
        env_id: registered env id.
        num_tasks: number of groups (distinct tasks per reset).
        group_size: envs per group, all playing the same task.
        backend: ``"sync"``, ``"process"`` or ``"ray"``.
        num_workers: worker processes or actors (default: CPU count, at most ``num_envs``).
        seed: seeds the task sampler; the same seed gives the same tasks on every backend.
        split: task split the envs play.
        autoreset: reset finished groups inside ``step`` (see module docs).
        backend_options: extra arguments for the backend, e.g. ``{"actor_per_env": True}`` for ``ray``
            or ``{"max_worker_rss_mb": 2048}`` for ``process`` (recycle workers that grow past 2 GiB
            between episodes; see :class:`~anchorgym.envs.backends.ProcessBackend`).
        **env_kwargs: passed to every sub-env.
    """

    def __init__(
        self,
        env_id: str,
        num_tasks: int,
        group_size: int = 1,
        backend: str = "sync",
        num_workers: int | None = None,
        seed: int = 0,
        split: str = "train",
        autoreset: bool = False,
        backend_options: dict[str, Any] | None = None,
        **env_kwargs: Any,
    ) -> None:
        if num_tasks < 1 or group_size < 1:
            raise ConfigError(f"num_tasks and group_size must be >= 1, got {num_tasks} and {group_size}.")
        if backend not in BACKENDS:
            raise unknown("backend", backend, BACKENDS)
        info = env_info(env_id)
        if split not in info.splits:
            raise unknown(f"split of {env_id}", split, info.splits)
        self.env_id, self.num_tasks, self.group_size = env_id, num_tasks, group_size
        self.num_envs = num_tasks * group_size
        self.single_observation_space = self.single_action_space = TextSpace()
        self.observation_space = self.action_space = TextSpace()  # batches are list[str]
        self.metadata = {"autoreset_mode": AutoresetMode.SAME_STEP if autoreset else AutoresetMode.DISABLED}
        self.autoreset = autoreset
        self.group_id = np.arange(self.num_envs) // group_size
        workers = num_workers or min(self.num_envs, _cpu_count())
        options = _backend_options(backend, backend_options or {})
        self.backend = BACKENDS[backend](env_id, {"split": split, **env_kwargs}, self.num_envs, workers, **options)
        self._rng = np.random.default_rng(seed)
        self._all_tasks: Sequence[str] | None = None
        self._episode = -1
        self.traj_id = np.zeros(self.num_envs, dtype=np.int64)
        self.active = np.zeros(self.num_envs, dtype=bool)
        self.task_ids = [""] * self.num_envs
        self.last_obs = [""] * self.num_envs
        self.last_infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]

    # ------------------------------------------------------------------ reset
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[list[str], dict[str, Any]]:
        """Reset every env: group ``g`` plays ``options["task_ids"][g]`` or a sampled task.

        Args:
            seed: reseeds the task sampler (None continues its sequence).
            options: ``{"task_ids": [...]}`` with ``num_tasks`` ids fixes the tasks;
                ``{"seeds": [...]}`` fixes the per-group env seeds.
        """
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        options = options or {}
        tasks = list(options.get("task_ids") or self._sample_tasks(self.num_tasks))
        if len(tasks) != self.num_tasks:
            raise ConfigError(f"reset got {len(tasks)} task_ids; this vector env has num_tasks={self.num_tasks}.")
        seeds = list(options.get("seeds") or self._rng.integers(SEED_BOUND, size=self.num_tasks).tolist())
        results = self._reset_groups(range(self.num_tasks), tasks, seeds)
        return self._gather_reset(results)

    def _sample_tasks(self, count: int) -> list[str]:
        if self._all_tasks is None:
            self._all_tasks = self.backend.call("task_ids", [0])[0]
        total = len(self._all_tasks)
        picks = self._rng.choice(total, size=count, replace=count > total)
        return [str(self._all_tasks[int(i)]) for i in picks]

    def _reset_groups(self, groups: Sequence[int], tasks: Sequence[str], seeds: Sequence[int]) -> dict[int, tuple]:
        self._episode += 1
        per_env = {}
        for group, task, group_seed in zip(groups, tasks, seeds, strict=True):
            for index in range(group * self.group_size, (group + 1) * self.group_size):
                per_env[index] = (int(group_seed), {"task_id": str(task)})
                self.task_ids[index] = str(task)
                self.traj_id[index] = self._episode * self.num_envs + index
                self.active[index] = True
        self.backend.task_ids = self.task_ids
        return self.backend.run("reset", per_env)

    def _gather_reset(self, results: dict[int, Any]) -> tuple[list[str], dict[str, Any]]:
        infos = self._add_resets({}, results)
        return list(self.last_obs), infos

    def _add_resets(self, infos: dict[str, Any], results: dict[int, Any]) -> dict[str, Any]:
        """Record reset results; a failed env is inactive with observation ""; a caller's mistake raises."""
        user_errors = [r.user_error for r in results.values() if isinstance(r, EnvFailure) and r.user_error]
        if user_errors:
            self.active[list(results)] = False
            raise user_errors[0]
        for index, result in sorted(results.items()):
            if isinstance(result, EnvFailure):
                self.active[index] = False
                result = ("", self._failed(index, result, "reset"))
            self.last_obs[index] = result[0]
            infos = self._add_info(infos, self._with_ids(result[1], index), index)
        return infos

    def _failed(self, index: int, failure: EnvFailure, method: str) -> dict[str, Any]:
        """The info of an env whose ``method`` failed (its traceback goes to the log)."""
        logger.warning("env %d (task %s) failed in %s: %s", index, self.task_ids[index], method, failure.message)
        if failure.details:
            logger.debug("%s", failure.details)
        return {"error": failure.message}

    # ------------------------------------------------------------------- step
    def step(self, actions: Sequence[str]) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step every active env with its action; inactive envs ignore theirs."""
        if len(actions) != self.num_envs:
            raise ConfigError(f"step got {len(actions)} actions for {self.num_envs} envs.")
        running = np.flatnonzero(self.active)
        results = self.backend.run("step", {int(i): (actions[i],) for i in running})
        rewards = np.zeros(self.num_envs, dtype=np.float64)
        terminated = np.zeros(self.num_envs, dtype=bool)
        truncated = np.zeros(self.num_envs, dtype=bool)
        infos: dict[str, Any] = {}
        for index, result in sorted(results.items()):
            if isinstance(result, EnvFailure):  # its episode ends here, cut short
                result = (self.last_obs[index], 0.0, False, True, self._failed(index, result, "step"))
            obs, reward, term, trunc, info = result
            self.last_obs[index] = obs
            rewards[index], terminated[index], truncated[index] = reward, term, trunc
            self.active[index] = not (term or trunc)
            infos = self._add_info(infos, self._with_ids(info, index), index)
        if self.autoreset:
            infos = self._autoreset(infos)
        infos["active"] = self.active.copy()
        return list(self.last_obs), rewards, terminated, truncated, infos

    def _autoreset(self, infos: dict[str, Any]) -> dict[str, Any]:
        """Reset every group whose members have all finished; keep their last obs/info as final_*."""
        done_groups = [g for g in range(self.num_tasks) if not self.active[self._members(g)].any()]
        if not done_groups:
            return infos
        finished = np.zeros(self.num_envs, dtype=bool)
        for group in done_groups:
            finished[self._members(group)] = True
        final_obs = np.full(self.num_envs, None, dtype=object)
        final_info: dict[str, Any] = {}
        for index in np.flatnonzero(finished):  # members may have finished on earlier steps
            final_obs[index] = self.last_obs[index]
            final_info = self._add_info(final_info, self.last_infos[index], int(index))
        infos["final_obs"], infos["_final_obs"] = final_obs, finished
        infos["final_info"], infos["_final_info"] = final_info, finished.copy()
        tasks = self._sample_tasks(len(done_groups))
        seeds = self._rng.integers(SEED_BOUND, size=len(done_groups)).tolist()
        return self._add_resets(infos, self._reset_groups(done_groups, tasks, seeds))

    # ---------------------------------------------------------------- helpers
    def _members(self, group: int) -> slice:
        return slice(group * self.group_size, (group + 1) * self.group_size)

    def _with_ids(self, info: dict[str, Any], index: int) -> dict[str, Any]:
        info = {**info, "group_id": int(self.group_id[index]), "traj_id": int(self.traj_id[index])}
        self.last_infos[index] = info
        return info

    def call(self, name: str, *args: Any) -> tuple[Any, ...]:
        """Call method ``name`` (or read attribute ``name``) on every sub-env."""
        return tuple(self.backend.call(name, range(self.num_envs), args))

    def call_at(self, indices: Sequence[int], name: str, *args: Any) -> list[Any]:
        """Call ``name`` on the sub-envs at ``indices`` only (e.g. ``expert_action`` on active envs)."""
        return self.backend.call(name, [int(i) for i in indices], args)

    def get_attr(self, name: str) -> tuple[Any, ...]:
        """Read attribute ``name`` from every sub-env."""
        return self.call(name)

    def close_extras(self, **kwargs: Any) -> None:
        """Shut down the backend's workers; never hangs."""
        self.backend.close()


def _backend_options(backend: str, options: dict[str, Any]) -> dict[str, Any]:
    """Check ``options`` against the keyword arguments ``backend`` accepts beyond the common ones."""
    accepted = {name: _extra_parameters(cls) for name, cls in BACKENDS.items()}
    for option in options:
        if option not in accepted[backend]:
            listed = "; ".join(f"{name}: {', '.join(sorted(opts)) or '(none)'}" for name, opts in accepted.items())
            raise UnknownNameError(
                f"The {backend} backend has no option {option!r}.{suggest(option, accepted[backend])} "
                f"Options by backend: {listed}."
            )
    return options


def _extra_parameters(backend_cls: type) -> set[str]:
    import inspect

    common = {"self", "env_id", "env_kwargs", "num_envs", "num_workers"}
    return set(inspect.signature(backend_cls.__init__).parameters) - common


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def make_vec(
    env_id: str,
    num_tasks: int,
    group_size: int = 1,
    backend: str = "sync",
    num_workers: int | None = None,
    seed: int = 0,
    split: str = "train",
    **kwargs: Any,
) -> AnchorVectorEnv:
    """Create an :class:`AnchorVectorEnv` of ``num_tasks * group_size`` envs (see its docs)."""
    return AnchorVectorEnv(env_id, num_tasks, group_size, backend, num_workers, seed, split, **kwargs)
