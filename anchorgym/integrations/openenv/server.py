"""Serve any registered anchorgym env in the OpenEnv protocol (``anchorgym env serve``).

Built on OpenEnv's own server (:func:`openenv.core.env_server.http_server.create_app`):
``/ws`` is the session endpoint (one session, and one env instance, per WebSocket
connection), ``/reset``, ``/step``, ``/state``, ``/schema``, ``/metadata`` and ``/health``
are OpenEnv's HTTP routes.

* ``reset`` takes ``seed`` and ``task_id``, so every member of a GRPO group can start
  from the same initial state; any other argument is refused with its name.
* Every observation carries the text, the reward, ``done`` / ``terminated`` /
  ``truncated`` and the standard info keys, the anchor included (see :mod:`.types`).
* Sessions are bounded: at most ``max_sessions`` at once (OpenEnv refuses the next
  with ``CAPACITY_REACHED``) and, with ``idle_timeout_s``, a session idle that long is
  closed by OpenEnv's reaper.
* A crash in one session ends only that session: when its env raises, the session
  answers that message, and every later one, with the reason; the other sessions and
  the server carry on. A caller's mistake (a bad task id, a step before reset) is
  answered with its message and leaves the session usable.
"""

from __future__ import annotations

import functools
import logging
import socket
import time
from collections.abc import Callable
from typing import Any

import gymnasium as gym
from openenv.core.env_server.http_server import create_app
from openenv.core.env_server.interfaces import Environment
from openenv.core.env_server.types import ConcurrencyConfig, EnvironmentMetadata

from anchorgym import __version__
from anchorgym.envs.backends import USER_ERRORS
from anchorgym.envs.registry import env_info, make
from anchorgym.errors import ConfigError, WorkerError, unknown
from anchorgym.integrations.openenv.types import QUERIES, AnchorAction, AnchorObservation, AnchorState, jsonable

logger = logging.getLogger(__name__)

DEFAULT_MAX_SESSIONS = 64
RESET_ARGUMENTS = ("seed", "episode_id", "task_id")


class AnchorOpenEnv(Environment[AnchorAction, AnchorObservation, AnchorState]):
    """One OpenEnv session: an anchorgym env of ``env_id`` playing ``split``.

    Args:
        env_id: registered anchorgym env id.
        split: the task split the session plays.
        env_kwargs: further constructor arguments of the env (``max_steps``, ``data_dir``...).
        idle_timeout_s: the server's idle timeout, named in the reason of a session it closed.
    """

    SUPPORTS_CONCURRENT_SESSIONS = True  # each session owns its env; nothing is shared between them

    def __init__(
        self, env_id: str, split: str, env_kwargs: dict[str, Any] | None = None, idle_timeout_s: float | None = None
    ) -> None:
        super().__init__()
        self.env_id, self.split = env_id, split
        self.env_kwargs = dict(env_kwargs or {})
        self.env = make(env_id, split=split, **self.env_kwargs)
        self.idle_timeout_s = idle_timeout_s
        self.episode_id: str | None = None
        self.ended: str | None = None
        self.last_active = time.monotonic()

    def reset(
        self, seed: int | None = None, episode_id: str | None = None, task_id: str | None = None, **kwargs: Any
    ) -> AnchorObservation:
        """Start an episode on ``task_id``, or on a task drawn with ``seed`` (as ``env.reset`` does)."""
        self._check_usable()
        if kwargs:
            raise ConfigError(
                f"reset got unknown argument(s) {', '.join(sorted(kwargs))}; it takes {', '.join(RESET_ARGUMENTS)}."
            )
        options = None if task_id is None else {"task_id": str(task_id)}
        obs, info = self._guard("reset", self.env.reset, seed=seed, options=options)
        self.episode_id = episode_id
        return AnchorObservation(text=obs, info=jsonable(info))

    def step(self, action: AnchorAction, timeout_s: float | None = None, **kwargs: Any) -> AnchorObservation:
        """Step the env with ``action.text``, or read ``action.query`` from it."""
        self._check_usable()
        if action.query is not None:
            return AnchorObservation(result=self._query(action.query))
        obs, reward, terminated, truncated, info = self._guard("step", self.env.step, action.text)
        return AnchorObservation(
            text=obs,
            reward=float(reward),
            done=bool(terminated or truncated),
            terminated=bool(terminated),
            truncated=bool(truncated),
            info=jsonable(info),
        )

    @property
    def state(self) -> AnchorState:
        """Which env the session plays and where its episode stands."""
        started = bool(self.env.task_id) and self.ended is None
        return AnchorState(
            episode_id=self.episode_id,
            step_count=self.env.steps,
            env_id=self.env_id,
            split=self.split,
            max_steps=self.env.max_steps,
            env_kwargs=jsonable(self.env_kwargs),
            task_id=self.env.task_id,
            anchor=self.env.anchor() if started else "",
            ended=self.ended,
        )

    def get_metadata(self) -> EnvironmentMetadata:
        """Name the env (its anchorgym id) and describe it."""
        info = env_info(self.env_id)
        return EnvironmentMetadata(
            name=self.env_id,
            description=f"{info.description} (anchorgym env, split {self.split})".strip(),
            version=__version__,
        )

    def close(self) -> None:
        """Close the env (OpenEnv calls this at disconnect, at shutdown and when it reaps an idle session)."""
        if self.ended is None:
            idle = time.monotonic() - self.last_active
            if self.idle_timeout_s is not None and idle >= self.idle_timeout_s:
                self.ended = (
                    f"the session was idle for {idle:.0f} s (the server's idle timeout is {self.idle_timeout_s:g} s)"
                )
            else:
                self.ended = "the session was closed"
        self.env.close()

    def _check_usable(self) -> None:
        if self.ended is not None:
            raise WorkerError(f"This session has ended: {self.ended}. Connect again to start a new session.")
        self.last_active = time.monotonic()

    def _guard(self, method: str, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call the env; a crash ends the session (the reason is kept), a caller's mistake does not."""
        try:
            return function(*args, **kwargs)
        except USER_ERRORS:
            raise
        except gym.error.ResetNeeded as error:
            raise ConfigError(f"{error} (send a reset message first).") from error
        except Exception as error:  # isolation: only this session ends, with its reason
            logger.exception("session of %s (task %s) crashed in %s", self.env_id, self.env.task_id, method)
            self.ended = f"its env raised in {method}: {type(error).__name__}: {error}"
            self.env.close()
            raise WorkerError(f"This session has ended: {self.ended}. Connect again to start a new session.") from error

    def _query(self, name: str) -> Any:
        if name not in QUERIES:
            raise unknown("query", name, QUERIES)
        value = self._guard(f"query {name}", lambda: getattr(self.env, name))
        if callable(value):
            value = self._guard(f"query {name}", value)
        return jsonable(list(value) if name == "task_ids" else value)


class SerialAnchorOpenEnv(AnchorOpenEnv):
    """A session whose env calls run on the one thread shared by every session (OpenEnv's single-thread executor).

    The default: env engines need not be thread-safe (textworld's PDDL parser, behind ALFWorld, is not:
    two sessions loading games at once corrupt it), so sessions take turns, one env call at a time.
    """

    REQUIRES_SINGLE_THREAD_EXECUTOR = True


def build_app(
    env_id: str,
    split: str | None = None,
    max_sessions: int = DEFAULT_MAX_SESSIONS,
    idle_timeout_s: float | None = None,
    env_kwargs: dict[str, Any] | None = None,
    threaded: bool = False,
) -> Any:
    """Build the OpenEnv FastAPI app serving ``env_id``; one env is made first, so a missing data set fails here.

    Args:
        env_id: registered anchorgym env id (built-in or from a plugin).
        split: task split (default: the env's first).
        max_sessions: concurrent sessions (WebSocket connections) at most.
        idle_timeout_s: close a session idle this long (None: never).
        env_kwargs: further env constructor arguments.
        threaded: run each session's env calls on its own thread (only for thread-safe envs); by default
            every env call runs on one shared thread (see :class:`SerialAnchorOpenEnv`).

    Returns:
        The FastAPI application (serve it with uvicorn).

    Raises:
        UnknownNameError: unknown env id or split.
        ConfigError: ``max_sessions`` below 1 or ``idle_timeout_s`` not positive.
    """
    info = env_info(env_id)
    split = split or info.splits[0]
    if split not in info.splits:
        raise unknown(f"split of {env_id}", split, info.splits)
    if max_sessions < 1:
        raise ConfigError(f"--max-sessions must be at least 1, got {max_sessions}.")
    if idle_timeout_s is not None and not idle_timeout_s > 0:
        raise ConfigError(f"--idle-timeout must be a positive number of seconds, got {idle_timeout_s}.")
    session_cls = AnchorOpenEnv if threaded else SerialAnchorOpenEnv
    factory = functools.partial(session_cls, env_id, split, dict(env_kwargs or {}), idle_timeout_s)
    factory().close()  # fail now, with the env's own message, rather than at the first connection
    config = ConcurrencyConfig(max_concurrent_envs=max_sessions, session_timeout=idle_timeout_s)
    return create_app(
        factory, AnchorAction, AnchorObservation, env_name=env_id, concurrency_config=config, state_cls=AnchorState
    )


def bind(host: str, port: int) -> socket.socket:
    """Bind a listening socket on ``host:port`` (port 0: a free one) or say which port to pick instead."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise ConfigError(
            f"Cannot serve on {host}:{port} ({error.strerror}). Pass another --port, or --port 0 for a free one."
        ) from error
    sock.listen(2048)
    return sock


def uvicorn_server(app: Any, log_level: str = "warning") -> Any:
    """Return a :class:`uvicorn.Server` for ``app`` (run it with ``server.run(sockets=[bind(...)])``)."""
    import uvicorn

    return uvicorn.Server(uvicorn.Config(app, log_level=log_level, ws="auto", lifespan="on"))
