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

Failures are per env, alike in every backend. An env that raises inside
``reset`` or ``step`` yields an :class:`EnvFailure` in its place while every
other env's result comes back normally; a worker (process or actor) that dies
yields an :class:`EnvFailure` for each env it was asked to run, and is restarted,
with fresh envs, at the next reset that covers any of its envs. Only errors that
signal a caller's mistake in ``reset`` (:data:`USER_ERRORS`: a bad task id, a
missing data set) are raised, once every host has answered.

Time limits (``process`` and ``ray``): ``reset_timeout_s`` and ``step_timeout_s`` bound one batched
``reset`` or ``step`` of a worker. A worker past its limit (a hung env, a stopped process) is killed;
its envs get an :class:`EnvFailure` whose message starts with ``EnvTimeout`` and names the limit, and
it restarts at the next reset like any dead worker, so the run goes on.
"""

from __future__ import annotations

import ast
import contextlib
import logging
import multiprocessing as mp
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

import numpy as np

from anchorgym.envs.registry import EnvInfo, env_info, make, register
from anchorgym.errors import (
    AnchorGymError,
    ConfigError,
    DataNotFoundError,
    DependencyError,
    EnvTimeout,
    UnknownNameError,
    WorkerError,
    missing_extra,
)

CLOSE_TIMEOUT_S = 5.0
POLL_INTERVAL_S = 1.0
MIB = 2**20
USER_ERRORS = (ConfigError, UnknownNameError, DataNotFoundError, DependencyError)
"""Errors that signal the caller's mistake: raised by ``reset`` (once every host answered), never per env."""
MAIN_GUARD_HINT = (
    ' If a script creates the vector env, guard its entry point with `if __name__ == "__main__":` '
    "(worker processes are spawned and re-import the main module)."
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EnvFailure:
    """Stands in for the result of an env that raised, or whose worker died.

    Attributes:
        message: ``"<ExceptionType>: <message>"``.
        details: the traceback where the env raised ("" for a dead worker).
        user_error: the error itself when it is one of :data:`USER_ERRORS`, else None.
    """

    message: str
    details: str = ""
    user_error: AnchorGymError | None = None

    @classmethod
    def of(cls, error: Exception) -> EnvFailure:
        """Describe ``error``, raised just now (its traceback is taken from the current exception)."""
        user_error = error if isinstance(error, USER_ERRORS) else None
        return cls(f"{type(error).__name__}: {error}", traceback.format_exc(), user_error)


def _attempt(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Return ``function(*args, **kwargs)``, or an :class:`EnvFailure` when it raises."""
    try:
        return function(*args, **kwargs)
    except Exception as error:  # per-env isolation: the caller decides what a failure means
        return EnvFailure.of(error)


def _read(env: Any, name: str, args: tuple) -> Any:
    attr = getattr(env, name)
    return attr(*args) if callable(attr) else attr


class EnvHost:
    """A list of envs that executes batched commands on them, one result or :class:`EnvFailure` per env.

    Args:
        env_id: registered env id.
        env_kwargs: constructor arguments shared by all the envs.
        count: how many envs to host.
        info: the env's registration, registered here when this process does not know ``env_id``
            (an env registered by the user's code in the parent process).
    """

    def __init__(self, env_id: str, env_kwargs: dict[str, Any], count: int, info: EnvInfo | None = None) -> None:
        if info is not None:
            try:
                env_info(env_id)
            except UnknownNameError:
                register(info)
        self.envs = [make(env_id, **env_kwargs) for _ in range(count)]

    def reset(self, requests: Sequence[tuple[int, int | None, dict | None]]) -> list[Any]:
        """Reset ``(local_index, seed, options)`` for each request."""
        return [_attempt(self.envs[i].reset, seed=seed, options=options) for i, seed, options in requests]

    def step(self, requests: Sequence[tuple[int, str]]) -> list[Any]:
        """Step ``(local_index, action)`` for each request."""
        return [_attempt(self.envs[i].step, action) for i, action in requests]

    def call(self, name: str, indices: Sequence[int], args: tuple = ()) -> list[Any]:
        """Call method ``name`` (or read attribute ``name``) on the envs at ``indices``."""
        return [_attempt(_read, self.envs[i], name, args) for i in indices]

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

    Subclasses implement :meth:`_dispatch` (send one command to several hosts and gather their
    replies; a host that died replies with the :class:`WorkerError` saying so, and is listed in
    :attr:`dead`) and :meth:`_restart` (replace dead hosts with fresh ones).
    """

    def __init__(self, env_id: str, env_kwargs: dict[str, Any], num_envs: int, num_workers: int) -> None:
        self.env_id = env_id
        self.info = env_info(env_id)
        self.slices = split_evenly(num_envs, max(1, min(num_workers, num_envs)))
        self.owner = np.concatenate([np.full(len(s), w) for w, s in enumerate(self.slices)])
        self.task_ids: list[str] = [""] * num_envs  # kept current by the vector env, for error messages
        self.dead: dict[int, WorkerError] = {}  # hosts that died, until the next reset restarts them
        self.restarts = [0] * len(self.slices)  # restarts of each host after it died
        self.timeouts: dict[str, float] = {}  # method -> seconds a worker may take (process and ray backends)

    def set_timeouts(self, reset_timeout_s: float | None, step_timeout_s: float | None) -> None:
        """Bound one batched ``reset`` / ``step`` of a worker (None: no limit).

        Raises:
            ConfigError: a limit that is not a positive number of seconds.
        """
        for name, value in (("reset_timeout_s", reset_timeout_s), ("step_timeout_s", step_timeout_s)):
            if value is not None and not (isinstance(value, (int, float)) and value > 0):
                raise ConfigError(f"{name} must be a positive number of seconds, got {value!r}.")
        limits = {"reset": reset_timeout_s, "step": step_timeout_s}
        self.timeouts = {method: float(limit) for method, limit in limits.items() if limit is not None}

    def deadline(self, method: str) -> float | None:
        """Return the ``time.monotonic()`` by which a worker must answer ``method`` now sent, or None."""
        limit = self.timeouts.get(method)
        return None if limit is None else time.monotonic() + limit

    def timeout_error(self, worker: int, what: str, method: str) -> EnvTimeout:
        """Describe a worker killed for running past ``method``'s limit (``what``: "Worker process 0 (pid 12)")."""
        return EnvTimeout(
            f"{what} hosting {self.envs_of(worker)} did not finish {method} within {self.timeouts[method]:g} s "
            f"(timeout, {method}_timeout_s) and was killed. Its episodes end here; it restarts at the next reset."
        )

    def envs_of(self, worker: int) -> str:
        """Describe the envs (and their current tasks) that ``worker`` hosts."""
        envs = self.slices[worker]
        tasks = sorted({self.task_ids[i] for i in envs if self.task_ids[i]})
        shown = f", tasks {', '.join(tasks[:5])}{' ...' if len(tasks) > 5 else ''}" if tasks else ""
        return f"envs {envs.start}-{envs.stop - 1} of {self.env_id}{shown}"

    def run(self, method: str, per_env: dict[int, tuple]) -> dict[int, Any]:
        """Run ``method`` on the envs keyed in ``per_env`` (global index -> args), batched per host.

        Returns:
            Global index -> the env's result, or an :class:`EnvFailure` for an env that raised or
            whose host died. A reset first restarts every dead host that hosts one of its envs.
        """
        if not per_env:
            return {}
        if method == "reset":
            self._respawn(per_env)
        batches: dict[int, list[int]] = {}
        for index in per_env:
            batches.setdefault(int(self.owner[index]), []).append(index)
        requests = {
            worker: [(index - self.slices[worker].start, *per_env[index]) for index in indices]
            for worker, indices in batches.items()
        }
        replies = self._dispatch(method, requests)
        results: dict[int, Any] = {}
        for worker, indices in batches.items():
            reply = replies[worker]
            if isinstance(reply, WorkerError):
                reply = [EnvFailure(f"{type(reply).__name__}: {reply}")] * len(indices)
            results.update(zip(indices, reply, strict=True))
        return results

    def call(self, name: str, indices: Sequence[int], args: tuple = ()) -> list[Any]:
        """Call ``name`` on the envs at global ``indices``; results come back in that order.

        Raises:
            WorkerError: an env raised (the message names it and its error) or its host died.
            AnchorGymError: an env raised one of :data:`USER_ERRORS` (raised as it is).
        """
        if not indices:
            return []
        by_worker: dict[int, list[int]] = {}
        for index in indices:
            by_worker.setdefault(int(self.owner[index]), []).append(index)
        requests = {w: [(name, [i - self.slices[w].start for i in idx], args)] for w, idx in by_worker.items()}
        replies = self._dispatch("call", requests, unpack=True)
        found = {}
        for worker, idx in by_worker.items():
            if isinstance(replies[worker], WorkerError):
                raise replies[worker]
            found.update(zip(idx, replies[worker], strict=True))
        for index in indices:
            if isinstance(found[index], EnvFailure):
                raise self._call_error(index, name, found[index])
        return [found[i] for i in indices]

    def _call_error(self, index: int, name: str, failure: EnvFailure) -> AnchorGymError:
        if failure.user_error is not None:
            return failure.user_error
        task = f" (task {self.task_ids[index]})" if self.task_ids[index] else ""
        logger.warning("env %d of %s raised in %s:\n%s", index, self.env_id, name, failure.details)
        return WorkerError(f"Env {index} of {self.env_id}{task} raised in {name}: {failure.message}")

    def _respawn(self, resetting: dict[int, tuple]) -> None:
        """Restart every dead host that hosts an env about to be reset."""
        workers = [w for w in sorted(self.dead) if any(i in resetting for i in self.slices[w])]
        if not workers:
            return
        for worker in workers:
            logger.warning("restarting worker %d: %s", worker, self.dead.pop(worker))
            self.restarts[worker] += 1
        self._restart(workers)

    def _dispatch(self, method: str, requests: dict[int, list], unpack: bool = False) -> dict[int, Any]:
        raise NotImplementedError

    def _restart(self, workers: Sequence[int]) -> None:
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


def _worker_main(conn: Connection, env_id: str, env_kwargs: dict[str, Any], count: int, info: EnvInfo) -> None:
    """Build one :class:`EnvHost` and serve batched commands for it over a pipe until told to close.

    The worker ignores SIGINT: Ctrl-C reaches the whole process group, and the parent alone reports it
    (then closes its workers); SIGTERM and SIGKILL still end a worker.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        host = EnvHost(env_id, env_kwargs, count, info)
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


def main_reimport_is_safe() -> bool:
    """Whether spawned workers can re-import ``__main__`` (as ``spawn`` does to find the user's definitions).

    Not when there is no file to import (``python -``, ``python -c``, a REPL) and not when this is
    called from the main module's top-level code outside an ``if __name__ == "__main__":`` block
    (re-importing it would build the vector env again in every worker).
    """
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if getattr(getattr(main, "__spec__", None), "name", None) is None and not (path and os.path.isfile(path)):
        return False
    frame = sys._getframe()
    while frame is not None and not (frame.f_code.co_name == "<module>" and frame.f_globals is vars(main)):
        frame = frame.f_back
    return frame is None or not path or _guarded(path, frame.f_lineno)


def _guarded(path: str, line: int) -> bool:
    """Whether ``line`` of the module at ``path`` lies inside an ``if __name__ == "__main__":`` block."""
    try:
        with open(path, encoding="utf-8") as source:
            tree = ast.parse(source.read())
    except (OSError, SyntaxError, ValueError):
        return True  # cannot tell: keep multiprocessing's own behaviour
    for node in tree.body:
        if isinstance(node, ast.If) and node.lineno <= line <= (node.end_lineno or node.lineno):
            names = {getattr(n, "id", None) for n in ast.walk(node.test)}
            values = {getattr(n, "value", None) for n in ast.walk(node.test)}
            if "__name__" in names and "__main__" in values:
                return True
    return False


@contextlib.contextmanager
def _main_hidden(hide: bool) -> Iterator[None]:
    """While starting processes, hide ``__main__``'s file and spec so that spawned workers skip importing it."""
    main = sys.modules["__main__"]
    saved = {key: vars(main)[key] for key in ("__file__", "__spec__") if hide and key in vars(main)}
    if "__file__" in saved:
        del main.__file__
    if "__spec__" in saved:
        main.__spec__ = None
    try:
        yield
    finally:
        vars(main).update(saved)


class ProcessBackend(Backend):
    """A pool of worker processes, each hosting a slice of the envs.

    A worker that dies (killed, out of memory, a crash in native code) ends the episodes of the
    envs it was asked to run (:class:`EnvFailure`); the other workers carry on, and the dead one is
    started again, with fresh envs, at the next reset that covers any of its envs.

    Workers are spawned; they re-import the main module only where that is safe (see
    :func:`main_reimport_is_safe`), so a script, ``python -`` or a notebook needs no main guard.

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
        reset_timeout_s: seconds a worker may take for one batched reset (None: no limit); past it the
            worker is killed and its envs fail with an ``EnvTimeout`` (see the module docs).
        step_timeout_s: the same for one batched step.
    """

    def __init__(
        self,
        env_id: str,
        env_kwargs: dict[str, Any],
        num_envs: int,
        num_workers: int,
        start_method: str = "spawn",
        max_worker_rss_mb: float | None = None,
        reset_timeout_s: float | None = None,
        step_timeout_s: float | None = None,
    ) -> None:
        super().__init__(env_id, env_kwargs, num_envs, num_workers)
        self.set_timeouts(reset_timeout_s, step_timeout_s)
        if max_worker_rss_mb is not None:
            if not max_worker_rss_mb > 0:
                raise ConfigError(f"max_worker_rss_mb must be a positive number of MiB, got {max_worker_rss_mb!r}.")
            rss_mb(os.getpid())  # fail now, not at the first reset, where RSS cannot be read
        self.context = mp.get_context(start_method)
        self.env_kwargs = env_kwargs
        self.max_worker_rss_mb = max_worker_rss_mb
        self.reimport_main = start_method == "fork" or main_reimport_is_safe()
        workers = len(self.slices)
        self.conns: list[Connection | None] = [None] * workers
        self.procs: list[Any] = [None] * workers
        self.pids = [0] * workers
        self.recycles = [0] * workers  # restarts of each worker for memory
        try:
            self._start(range(workers), "start")
        except BaseException:
            self.close()
            raise

    def _start(self, workers: Sequence[int], method: str) -> None:
        """Start the processes of ``workers`` together, then wait until each has built its envs.

        Raises:
            WorkerError: at ``start``, a worker died or failed while building its envs. At ``restart`` such
                a worker is marked dead instead (its envs fail until a later reset starts it).
        """
        with _main_hidden(not self.reimport_main):
            for worker in workers:
                parent, child = self.context.Pipe()
                args = (child, self.env_id, self.env_kwargs, len(self.slices[worker]), self.info)
                proc = self.context.Process(target=_worker_main, args=args, daemon=True)
                proc.start()
                child.close()
                self.conns[worker], self.procs[worker] = parent, proc
        failures = {}
        for worker in workers:  # read every worker's answer, so none is left in a pipe
            try:
                self.pids[worker] = self._receive(worker, method)
            except WorkerError as error:
                failures[worker] = error
        if failures and method == "start":
            raise next(iter(failures.values()))
        for worker, error in failures.items():  # a restart: its envs fail, the next reset tries again
            self.dead[worker] = WorkerError(f"{error} Its episodes end here; it restarts at the next reset.")

    def _restart(self, workers: Sequence[int]) -> None:
        self._stop(workers)
        self._start(workers, "restart")

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
        if method == "reset" and self.max_worker_rss_mb is not None:
            self._recycle(per_env)
        return super().run(method, per_env)

    def _recycle(self, resetting: dict[int, tuple]) -> None:
        """Restart every live worker past the memory limit all of whose envs are about to be reset."""
        sizes = self.worker_rss_mb()
        grown = [
            w
            for w, envs in enumerate(self.slices)
            if w not in self.dead and sizes[w] > self.max_worker_rss_mb and all(i in resetting for i in envs)
        ]
        if not grown:
            return
        for worker in grown:
            logger.info("recycling worker %d (%.0f MiB > %s MiB)", worker, sizes[worker], self.max_worker_rss_mb)
            self.recycles[worker] += 1
        self._restart(grown)

    def _dispatch(self, method: str, requests: dict[int, list], unpack: bool = False) -> dict[int, Any]:
        replies: dict[int, Any] = {w: self.dead[w] for w in requests if w in self.dead}
        sent = []
        for worker, payload in requests.items():
            if worker in replies:
                continue
            try:
                self.conns[worker].send((method, payload[0] if unpack else payload, unpack))
                sent.append(worker)
            except (BrokenPipeError, OSError):
                replies[worker] = self._died(worker, method)
        failure, deadline = None, self.deadline(method)
        for worker in sent:  # read every reply before raising, so no stale reply stays in a pipe
            try:
                replies[worker] = self._receive(worker, method, deadline)
            except WorkerError as error:
                if worker not in self.dead:
                    failure = failure or error
                replies[worker] = error
            except AnchorGymError as error:
                failure = failure or error
        if failure is not None:
            raise failure
        return replies

    def _receive(self, worker: int, method: str, deadline: float | None = None) -> Any:
        """Wait for ``worker``'s reply; past ``deadline`` (``time.monotonic()``) kill it and raise EnvTimeout."""
        conn = self.conns[worker]
        while not wait([conn], timeout=_poll_interval(deadline)):
            if not self.procs[worker].is_alive():
                raise self._died(worker, method)
            if deadline is not None and time.monotonic() >= deadline:
                raise self._timed_out(worker, method)
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
        """Describe worker ``worker``'s death; past start-up, mark it dead until the next reset restarts it."""
        proc = self.procs[worker]
        proc.join(CLOSE_TIMEOUT_S)  # reap it, so its exit code is known
        how = _exit_reason(proc.exitcode)
        doing = {"start": "starting", "restart": "restarting", "reset": "resetting", "step": "stepping"}
        message = f"Worker process {worker} (pid {proc.pid}) hosting {self.envs_of(worker)} died ({how})"
        message += f" while {doing.get(method, 'serving ' + method)}."
        if method in ("start", "restart"):
            # spawn's re-import of an unguarded main module makes the child fail with exit code 1; a worker
            # killed by a signal (the OOM killer, a kill) says nothing about the main module
            hint = MAIN_GUARD_HINT if self.reimport_main and proc.exitcode == 1 else ""
            return WorkerError(message + hint)
        self.dead[worker] = WorkerError(message + " Its episodes end here; it restarts at the next reset.")
        return self.dead[worker]

    def _timed_out(self, worker: int, method: str) -> EnvTimeout:
        """Kill ``worker`` (SIGKILL also ends a stopped process), mark it dead and describe why."""
        proc = self.procs[worker]
        proc.kill()
        proc.join(CLOSE_TIMEOUT_S)
        self.dead[worker] = self.timeout_error(worker, f"Worker process {worker} (pid {proc.pid})", method)
        logger.warning("%s", self.dead[worker])
        return self.dead[worker]

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


def _poll_interval(deadline: float | None) -> float:
    """Seconds to wait for a reply before checking the worker again: at most until ``deadline``."""
    if deadline is None:
        return POLL_INTERVAL_S
    return max(0.0, min(POLL_INTERVAL_S, deadline - time.monotonic()))


def _exit_reason(code: int | None) -> str:
    """Describe a process exit code: ``SIGKILL`` for -9, ``exit code 3`` for 3.

    >>> _exit_reason(-9), _exit_reason(3)
    ('SIGKILL', 'exit code 3')
    """
    if code is None:
        return "still running"
    if code < 0:
        try:
            return signal.Signals(-code).name
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


class RayBackend(Backend):
    """Ray actors, each an :class:`EnvHost` (``actor_per_env=True``: one actor per env).

    Connects to the cluster at ``address`` (else ``$RAY_ADDRESS``, Ray's own convention), or starts a
    private local instance when neither is set; an already initialised Ray is used as it is. When this
    backend starts Ray, the env's module travels to the workers in the job's runtime environment
    (``py_modules``) when it is not part of an installed package (a local plugin module or package), so
    the workers need no ``PYTHONPATH``. Actors are placed on live nodes only. An actor whose node is lost ends only
    the episodes of its envs (errored, like any dead worker) and is started again on a live node at the
    next reset that covers its envs; an actor that cannot be started then is retried at the next reset.

    Args:
        env_id: registered env id.
        env_kwargs: constructor arguments shared by all the envs.
        num_envs: envs in all.
        num_workers: actors (at most ``num_envs``).
        actor_per_env: one actor per env (the verl-agent design) instead of ``num_workers``.
        reset_timeout_s: seconds an actor may take for one batched reset (None: no limit); past it the
            actor is killed and its envs fail with an ``EnvTimeout``.
        step_timeout_s: the same for one batched step.
        address: the Ray cluster to connect to (``ray://host:10001`` or ``host:6379``); None: ``$RAY_ADDRESS``,
            else a private local instance.
    """

    def __init__(
        self,
        env_id: str,
        env_kwargs: dict[str, Any],
        num_envs: int,
        num_workers: int,
        actor_per_env: bool = False,
        reset_timeout_s: float | None = None,
        step_timeout_s: float | None = None,
        address: str | None = None,
    ) -> None:
        try:
            import ray
        except ImportError as error:
            raise missing_extra("ray", "ray") from error
        super().__init__(env_id, env_kwargs, num_envs, num_envs if actor_per_env else num_workers)
        self.set_timeouts(reset_timeout_s, step_timeout_s)
        self.shipped = modules_to_ship(self.info.entry_point)
        if not ray.is_initialized():
            # No dashboard and no log forwarding: both slow start-up and are the usual cause of hangs.
            # Local modules can only be uploaded for the whole job (Ray refuses paths in an actor's runtime_env).
            runtime_env = {"py_modules": self.shipped} if self.shipped else None
            ray.init(
                address=address,
                runtime_env=runtime_env,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
            )
        self.ray = ray
        self.env_kwargs = env_kwargs
        self.actor_cls = ray.remote(num_cpus=0)(EnvHost)
        self.actors: list[Any] = [None] * len(self.slices)
        self.pids = [0] * len(self.slices)
        self.nodes = [""] * len(self.slices)  # the node id each actor runs on
        workers = range(len(self.slices))
        try:
            failures = self._place(workers, "start", {worker: set() for worker in workers})
        except BaseException:
            self.close()
            raise
        if failures:
            self.close()  # the actors that did start
            raise next(iter(failures.values()))

    def _actor(self, worker: int, node_id: str | None = None) -> Any:
        """Create ``worker``'s actor: on ``node_id`` when given, else where Ray's scheduler puts it."""
        strategy: Any = "DEFAULT"
        if node_id is not None:
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

            # hard: Ray's soft affinity may place it elsewhere (e.g. beside the others, on one node); should the
            # node be lost before the actor starts, the start fails and _place tries another node
            strategy = NodeAffinitySchedulingStrategy(node_id=node_id, soft=False)
        cls = self.actor_cls.options(scheduling_strategy=strategy)
        return cls.remote(self.env_id, self.env_kwargs, len(self.slices[worker]), self.info)

    def _started(self, worker: int, method: str) -> tuple[int, str]:
        """Wait until ``worker``'s actor built its envs; return its pid and node id.

        Raises:
            WorkerError: the actor died while starting (at ``start``: the run cannot begin).
            AnchorGymError: an env constructor raised one of anchorgym's errors (bad kwargs, missing data).
        """
        try:
            pid, node = self.ray.get(self.actors[worker].__ray_call__.remote(_actor_place))
            return int(pid), str(node)
        except (self.ray.exceptions.RayActorError, self.ray.exceptions.ActorUnschedulableError) as error:
            cause = _actor_cause(error)
            if isinstance(cause, AnchorGymError):
                raise cause from error
            reason = " ".join(str(cause or error).split())[:600]
            hint = ""
            if isinstance(cause, ImportError) and self.shipped:
                hint = (
                    f" Ray was started before this vector env, so {self.shipped[0]} was not shipped to its "
                    f"workers: start Ray with ray.init(runtime_env={{'py_modules': {self.shipped!r}}}), or let "
                    "anchorgym start it."
                )
            raise WorkerError(
                f"Ray actor {worker} hosting {self.envs_of(worker)} died while {method}ing: {reason}{hint}"
            ) from error

    def live_nodes(self) -> list[str]:
        """Return the ids of the cluster's live nodes that can host actors."""
        return [node["NodeID"] for node in self.ray.nodes() if node.get("Alive")]

    def _place(self, workers: Sequence[int], method: str, avoid: dict[int, set[str]]) -> dict[int, WorkerError]:
        """Start ``workers``' actors round-robin over the live nodes not in ``avoid``; return those that failed.

        Ray may still count a node it lost a moment ago as alive (until it misses enough heartbeats), so an
        actor that dies while starting is tried again on another node, up to :data:`RAY_START_TRIES` times.
        """
        pending: list[int] = list(workers)
        failures: dict[int, WorkerError] = {}
        for attempt in range(RAY_START_TRIES):
            nodes, targets = self.live_nodes(), {}
            for number, worker in enumerate(pending):
                if self.actors[worker] is not None:
                    with contextlib.suppress(Exception):  # it is dead already
                        self.ray.kill(self.actors[worker])
                usable = [n for n in nodes if n not in avoid[worker]] or nodes
                targets[worker] = usable[number % len(usable)] if usable else None
                self.actors[worker] = self._actor(worker, targets[worker])
            failures = {}
            for worker in pending:
                try:
                    self.pids[worker], self.nodes[worker] = self._started(worker, method)
                except WorkerError as error:
                    logger.warning("%s (attempt %d of %d)", error, attempt + 1, RAY_START_TRIES)
                    avoid[worker].add(targets[worker] or "")
                    failures[worker] = error
            pending = list(failures)
            if not pending:
                break
        return failures

    def _restart(self, workers: Sequence[int]) -> None:
        """Start ``workers`` again on live nodes, first avoiding the nodes their actors were lost on."""
        failures = self._place(workers, "restart", {worker: {self.nodes[worker]} for worker in workers})
        for worker, error in failures.items():  # its envs fail; the next reset tries again
            self.dead[worker] = WorkerError(f"{error} Its episodes end here; it restarts at the next reset.")

    def _dispatch(self, method: str, requests: dict[int, list], unpack: bool = False) -> dict[int, Any]:
        replies: dict[int, Any] = {w: self.dead[w] for w in requests if w in self.dead}
        refs = {
            worker: getattr(self.actors[worker], method).remote(*(payload[0] if unpack else (payload,)))
            for worker, payload in requests.items()
            if worker not in replies
        }
        deadline = self.deadline(method)
        for worker, ref in refs.items():
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                replies[worker] = self.ray.get(ref, timeout=timeout)
            except self.ray.exceptions.GetTimeoutError:
                with contextlib.suppress(Exception):
                    self.ray.kill(self.actors[worker])
                self.dead[worker] = replies[worker] = self.timeout_error(worker, f"Ray actor {worker}", method)
                logger.warning("%s", self.dead[worker])
            except self.ray.exceptions.RayActorError:
                self.dead[worker] = WorkerError(
                    f"Ray actor {worker} hosting {self.envs_of(worker)} stopped during {method} (its process or "
                    "its node was lost). Its episodes end here; it restarts at the next reset, on a live node."
                )
                replies[worker] = self.dead[worker]
        return replies

    def close(self) -> None:
        """Kill every actor (an already-dead one is skipped)."""
        for actor in self.actors:
            if actor is None:
                continue
            try:
                self.ray.kill(actor)
            except Exception:  # an already-dead actor is fine to ignore when closing
                pass


RAY_START_TRIES = 3


def _actor_place(host: EnvHost) -> tuple[int, str]:
    """Run inside an actor: its pid and the id of the node it runs on."""
    import ray

    return host.pid(), ray.get_runtime_context().get_node_id()


def _actor_cause(error: Exception) -> BaseException | None:
    """Return the exception an actor's constructor raised, when Ray reports one."""
    cause = getattr(error, "cause", None)
    return getattr(cause, "cause", cause) if cause is not None else None


def modules_to_ship(entry_point: str) -> list[str]:
    """Return the path of the module Ray workers need to import ``entry_point`` when no installed package has it.

    anchorgym's own envs and envs of installed packages (under ``site-packages``) need nothing; an env
    defined in a local module or package (a plugin next to the user's script) ships that top-level
    module's file or package's folder (Ray's ``py_modules``), so the workers need no ``PYTHONPATH``.
    An env defined in ``__main__`` is not shipped.
    """
    import importlib
    from pathlib import Path

    top = entry_point.split(":")[0].split(".")[0]
    if top in ("anchorgym", "__main__"):
        return []
    try:
        module = importlib.import_module(top)
    except ImportError:
        return []
    path = getattr(module, "__file__", None)
    if not path or {"site-packages", "dist-packages"} & set(Path(path).parts):
        return []
    package_dirs = list(getattr(module, "__path__", []))
    return [str(package_dirs[0]) if len(package_dirs) == 1 else str(path)]  # a package's folder, or one file


BACKENDS = {"sync": SyncBackend, "process": ProcessBackend, "ray": RayBackend}

import anchorgym.envs.openenv_backend  # noqa: E402,F401 - adds BACKENDS["openenv"] (it subclasses Backend)
