"""Where the sub-envs of a vector env live: in-process, worker processes, or Ray actors.

All three backends run the same :class:`EnvHost` (a list of envs that executes
*batched* commands), so they have the same semantics and give the same results
for the same seed. Only the transport differs:

* ``sync``: one host in this process.
* ``process``: ``num_workers`` processes, each hosting a contiguous slice of the
  envs; one message per worker per batched call (not one process per env).
  ``max_worker_rss_mb`` recycles a worker whose memory grew past a limit, at a
  reset that restarts all of its envs, so no episode is cut and results are
  unchanged (see :class:`ProcessBackend`).
* ``ray``: ``num_workers`` Ray actors, each an :class:`EnvHost` (optionally one
  actor per env, the verl-agent design, for comparison).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import time
import traceback
from collections.abc import Sequence
from multiprocessing.connection import Connection, wait
from typing import Any

import numpy as np

from anchorgym.errors import AnchorGymError, ConfigError, DependencyError, WorkerError, missing_extra

CLOSE_TIMEOUT_S = 5.0
POLL_INTERVAL_S = 1.0
MIB = 2**20

logger = logging.getLogger(__name__)


class EnvHost:
    """A list of envs that executes batched commands on them.

    Args:
        env_id: registered env id.
        env_kwargs: constructor arguments shared by all the envs.
        count: how many envs to host.
    """

    def __init__(self, env_id: str, env_kwargs: dict[str, Any], count: int) -> None:
        from anchorgym.envs.registry import make

        self.envs = [make(env_id, **env_kwargs) for _ in range(count)]

    def reset(self, requests: Sequence[tuple[int, int | None, dict | None]]) -> list[tuple[str, dict]]:
        """Reset ``(local_index, seed, options)`` for each request."""
        return [self.envs[i].reset(seed=seed, options=options) for i, seed, options in requests]

    def step(self, requests: Sequence[tuple[int, str]]) -> list[tuple]:
        """Step ``(local_index, action)`` for each request."""
        return [self.envs[i].step(action) for i, action in requests]

    def call(self, name: str, indices: Sequence[int], args: tuple = ()) -> list[Any]:
        """Call method ``name`` (or read attribute ``name``) on the envs at ``indices``."""
        results = []
        for i in indices:
            attr = getattr(self.envs[i], name)
            results.append(attr(*args) if callable(attr) else attr)
        return results

    def pid(self) -> int:
        """Return the hosting process id (used by tests that kill a worker)."""
        return os.getpid()

    def close(self) -> None:
        """Close every hosted env."""
        for env in self.envs:
            env.close()


def split_evenly(total: int, parts: int) -> list[range]:
    """Split ``range(total)`` into ``parts`` contiguous slices whose sizes differ by at most one.

    >>> split_evenly(5, 2)
    [range(0, 3), range(3, 5)]
    """
    size, extra = divmod(total, parts)
    sizes = [size + 1] * extra + [size] * (parts - extra)
    starts = np.cumsum([0, *sizes])
    return [range(int(a), int(b)) for a, b in zip(starts[:-1], starts[1:], strict=True) if b > a]


class Backend:
    """Routes batched commands to the hosts that own each env.

    Subclasses implement :meth:`_dispatch`: send one command to several hosts
    and gather their replies in order.
    """

    def __init__(self, env_id: str, env_kwargs: dict[str, Any], num_envs: int, num_workers: int) -> None:
        self.env_id = env_id
        self.slices = split_evenly(num_envs, max(1, min(num_workers, num_envs)))
        self.owner = np.concatenate([np.full(len(s), w) for w, s in enumerate(self.slices)])
        self.task_ids: list[str] = [""] * num_envs  # kept current by the vector env, for error messages

    def envs_of(self, worker: int) -> str:
        """Describe the envs (and their current tasks) that ``worker`` hosts."""
        envs = self.slices[worker]
        tasks = sorted({self.task_ids[i] for i in envs if self.task_ids[i]})
        shown = f", tasks {', '.join(tasks[:5])}{' ...' if len(tasks) > 5 else ''}" if tasks else ""
        return f"envs {envs.start}-{envs.stop - 1} of {self.env_id}{shown}"

    def run(self, method: str, per_env: dict[int, tuple]) -> dict[int, Any]:
        """Run ``method`` on the envs keyed in ``per_env`` (global index -> args), batched per host."""
        if not per_env:
            return {}
        batches: dict[int, list[tuple[int, tuple]]] = {}
        for index, args in per_env.items():
            batches.setdefault(int(self.owner[index]), []).append((index, args))
        requests = {
            worker: [(index - self.slices[worker].start, *args) for index, args in items]
            for worker, items in batches.items()
        }
        replies = self._dispatch(method, requests)
        results = {}
        for worker, items in batches.items():
            results.update((index, result) for (index, _), result in zip(items, replies[worker], strict=True))
        return results

    def call(self, name: str, indices: Sequence[int], args: tuple = ()) -> list[Any]:
        """Call ``name`` on the envs at global ``indices``; results come back in that order."""
        if not indices:
            return []
        by_worker: dict[int, list[int]] = {}
        for index in indices:
            by_worker.setdefault(int(self.owner[index]), []).append(index)
        requests = {w: [(name, [i - self.slices[w].start for i in idx], args)] for w, idx in by_worker.items()}
        replies = self._dispatch("call", requests, unpack=True)
        found = {i: r for w, idx in by_worker.items() for i, r in zip(idx, replies[w], strict=True)}
        return [found[i] for i in indices]

    def _dispatch(self, method: str, requests: dict[int, list], unpack: bool = False) -> dict[int, Any]:
        raise NotImplementedError

    def close(self) -> None:
        """Release every host; never hangs."""


class SyncBackend(Backend):
    """All envs in one in-process :class:`EnvHost`."""

    def __init__(self, env_id: str, env_kwargs: dict[str, Any], num_envs: int, num_workers: int = 1) -> None:
        super().__init__(env_id, env_kwargs, num_envs, 1)
        self.host = EnvHost(env_id, env_kwargs, num_envs)

    def _dispatch(self, method: str, requests: dict[int, list], unpack: bool = False) -> dict[int, Any]:
        (payload,) = requests.values()
        return {0: getattr(self.host, method)(*payload[0]) if unpack else getattr(self.host, method)(payload)}

    def close(self) -> None:
        """Close the in-process envs."""
        self.host.close()


def _worker_main(conn: Connection, env_id: str, env_kwargs: dict[str, Any], count: int) -> None:
    """Build one :class:`EnvHost` and serve batched commands for it over a pipe until told to close."""
    try:
        host = EnvHost(env_id, env_kwargs, count)
    except Exception as error:  # report to the parent, which raises it with context
        conn.send(("error", _portable(error)))
        return
    conn.send(("ok", host.pid()))
    while True:
        try:
            method, payload, unpack = conn.recv()
        except (EOFError, KeyboardInterrupt):  # the parent is gone or the user pressed Ctrl-C
            return
        if method == "close":
            host.close()
            conn.send(("ok", None))
            return
        try:
            result = getattr(host, method)(*payload) if unpack else getattr(host, method)(payload)
        except Exception as error:  # the worker stays usable; the parent raises the error
            conn.send(("error", _portable(error)))
            continue
        conn.send(("ok", result))


def _portable(error: Exception) -> AnchorGymError | str:
    """Pass anchorgym's own errors through unchanged; describe any other error with its traceback."""
    if isinstance(error, AnchorGymError):
        return error
    return f"{type(error).__name__}: {error}\n{traceback.format_exc()}"


def rss_mb(pid: int) -> float:
    """Return the resident memory of process ``pid`` in MiB (``/proc`` on Linux, else psutil).

    Raises:
        ProcessLookupError: no such process.
        DependencyError: neither ``/proc`` nor psutil is available.
    """
    try:
        with open(f"/proc/{pid}/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MIB
    except FileNotFoundError:
        if os.path.isdir("/proc/self"):
            raise ProcessLookupError(pid) from None
    try:
        import psutil
    except ImportError as error:
        raise DependencyError(
            "Reading a worker's memory needs /proc (Linux) or psutil. Install it with: pip install psutil"
        ) from error
    try:
        return psutil.Process(pid).memory_info().rss / MIB
    except psutil.NoSuchProcess as error:
        raise ProcessLookupError(pid) from error


class ProcessBackend(Backend):
    """A pool of worker processes, each hosting a slice of the envs.

    Args:
        env_id: registered env id.
        env_kwargs: constructor arguments shared by all the envs.
        num_envs: envs in all.
        num_workers: worker processes (at most ``num_envs``).
        start_method: multiprocessing start method (``spawn`` is safe with threads and native engines).
        max_worker_rss_mb: recycle a worker whose resident memory exceeds this many MiB: it is
            restarted (fresh process, fresh envs) just before a reset that covers every env it hosts,
            so no episode is cut short and, since the vector env seeds every reset, the results are
            the same as without recycling. A reset of only some of its envs (autoreset of one
            group) waits, so recycling needs all of a worker's envs to reset together: a full
            :meth:`reset`, or, with autoreset, one group per worker. None (default) never recycles.
    """

    def __init__(
        self,
        env_id: str,
        env_kwargs: dict[str, Any],
        num_envs: int,
        num_workers: int,
        start_method: str = "spawn",
        max_worker_rss_mb: float | None = None,
    ) -> None:
        super().__init__(env_id, env_kwargs, num_envs, num_workers)
        if max_worker_rss_mb is not None:
            if not max_worker_rss_mb > 0:
                raise ConfigError(f"max_worker_rss_mb must be a positive number of MiB, got {max_worker_rss_mb!r}.")
            rss_mb(os.getpid())  # fail now, not at the first reset, where RSS cannot be read
        self.context = mp.get_context(start_method)
        self.env_kwargs = env_kwargs
        self.max_worker_rss_mb = max_worker_rss_mb
        workers = len(self.slices)
        self.conns: list[Connection | None] = [None] * workers
        self.procs: list[Any] = [None] * workers
        self.pids = [0] * workers
        self.recycles = [0] * workers  # restarts of each worker for memory
        self.dead: WorkerError | None = None  # set once a worker dies: the pool is then unusable
        try:
            self._start(range(workers), "start")
        except BaseException:
            self.close()
            raise

    def _start(self, workers: Sequence[int], method: str) -> None:
        """Start the processes of ``workers`` together, then wait until each has built its envs."""
        for worker in workers:
            parent, child = self.context.Pipe()
            args = (child, self.env_id, self.env_kwargs, len(self.slices[worker]))
            proc = self.context.Process(target=_worker_main, args=args, daemon=True)
            proc.start()
            child.close()
            self.conns[worker], self.procs[worker] = parent, proc
        for worker in workers:
            self.pids[worker] = self._receive(worker, method)

    def worker_rss_mb(self) -> list[float]:
        """Return each worker's resident memory in MiB (0.0 for a worker that is gone)."""
        sizes = []
        for proc in self.procs:
            try:
                sizes.append(rss_mb(proc.pid))
            except ProcessLookupError:
                sizes.append(0.0)
        return sizes

    def run(self, method: str, per_env: dict[int, tuple]) -> dict[int, Any]:
        """Run ``method`` on the envs keyed in ``per_env``; recycle grown workers first on a reset."""
        if method == "reset" and self.max_worker_rss_mb is not None and self.dead is None:
            self._recycle(per_env)
        return super().run(method, per_env)

    def _recycle(self, resetting: dict[int, tuple]) -> None:
        """Restart every worker past the memory limit all of whose envs are about to be reset."""
        sizes = self.worker_rss_mb()
        grown = [
            w
            for w, envs in enumerate(self.slices)
            if sizes[w] > self.max_worker_rss_mb and all(i in resetting for i in envs)
        ]
        if not grown:
            return
        for worker in grown:
            logger.info("recycling worker %d (%.0f MiB > %s MiB)", worker, sizes[worker], self.max_worker_rss_mb)
            self.recycles[worker] += 1
        self._stop(grown)
        self._start(grown, "restart")

    def _dispatch(self, method: str, requests: dict[int, list], unpack: bool = False) -> dict[int, Any]:
        if self.dead is not None:
            raise WorkerError(str(self.dead))
        for worker, payload in requests.items():
            self._send(worker, (method, payload[0] if unpack else payload, unpack))
        replies, failure = {}, None
        for worker in requests:  # read every reply before raising, so no stale reply stays in a pipe
            try:
                replies[worker] = self._receive(worker, method)
            except AnchorGymError as error:
                failure = failure or error
        if failure is not None:
            raise failure
        return replies

    def _send(self, worker: int, message: tuple) -> None:
        try:
            self.conns[worker].send(message)
        except (BrokenPipeError, OSError) as error:
            raise self._died(worker, message[0]) from error

    def _receive(self, worker: int, method: str) -> Any:
        conn = self.conns[worker]
        while not wait([conn], timeout=POLL_INTERVAL_S):
            if not self.procs[worker].is_alive():
                raise self._died(worker, method)
        try:
            status, value = conn.recv()
        except (EOFError, OSError) as error:
            raise self._died(worker, method) from error
        if isinstance(value, AnchorGymError):
            raise value
        if status == "error":
            raise WorkerError(f"Worker {worker} ({self.envs_of(worker)}) failed during {method}: {value}")
        return value

    def _died(self, worker: int, method: str) -> WorkerError:
        code = self.procs[worker].exitcode
        hint = (
            ' If a script creates the vector env, guard its entry point with `if __name__ == "__main__":` '
            "(worker processes are spawned and re-import the main module)."
            if method == "start"
            else " Recreate the vector env to continue."
        )
        self.dead = WorkerError(
            f"Worker process {worker} (pid {self.procs[worker].pid}, exit code {code}) hosting "
            f"{self.envs_of(worker)} died during {method}.{hint}"
        )
        return self.dead

    def _stop(self, workers: Sequence[int]) -> None:
        """Ask live ``workers`` to close, then kill any still running after ``CLOSE_TIMEOUT_S`` in total."""
        started = [w for w in workers if self.procs[w] is not None]
        for worker in started:
            if self.procs[worker].is_alive():
                try:
                    self.conns[worker].send(("close", None, False))
                except (BrokenPipeError, OSError):
                    pass
        deadline = time.monotonic() + CLOSE_TIMEOUT_S
        for worker in started:
            proc = self.procs[worker]
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                proc.kill()
                proc.join(CLOSE_TIMEOUT_S)
            self.conns[worker].close()

    def close(self) -> None:
        """Close every worker; never hangs."""
        self._stop(range(len(self.slices)))


class RayBackend(Backend):
    """Ray actors, each an :class:`EnvHost` (``actor_per_env=True``: one actor per env)."""

    def __init__(
        self, env_id: str, env_kwargs: dict[str, Any], num_envs: int, num_workers: int, actor_per_env: bool = False
    ) -> None:
        try:
            import ray
        except ImportError as error:
            raise missing_extra("ray", "ray") from error
        super().__init__(env_id, env_kwargs, num_envs, num_envs if actor_per_env else num_workers)
        if not ray.is_initialized():
            # No dashboard and no log forwarding: both slow start-up and are the usual cause of hangs.
            ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
        self.ray = ray
        actor_cls = ray.remote(num_cpus=0)(EnvHost)
        self.actors = [actor_cls.remote(env_id, env_kwargs, len(s)) for s in self.slices]
        self.pids = ray.get([actor.pid.remote() for actor in self.actors])

    def _dispatch(self, method: str, requests: dict[int, list], unpack: bool = False) -> dict[int, Any]:
        refs = {
            worker: getattr(self.actors[worker], method).remote(*(payload[0] if unpack else (payload,)))
            for worker, payload in requests.items()
        }
        results = {}
        for worker, ref in refs.items():
            try:
                results[worker] = self.ray.get(ref)
            except self.ray.exceptions.RayActorError as error:
                raise WorkerError(
                    f"Ray actor {worker} hosting {self.envs_of(worker)} died during {method}. "
                    "Recreate the vector env to continue."
                ) from error
        return results

    def close(self) -> None:
        """Kill every actor (an already-dead one is skipped)."""
        for actor in self.actors:
            try:
                self.ray.kill(actor)
            except Exception:  # an already-dead actor is fine to ignore when closing
                pass


BACKENDS = {"sync": SyncBackend, "process": ProcessBackend, "ray": RayBackend}
