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
* MCP tools (OpenEnv's RFC 003): ``start_episode`` and ``act`` on ``/mcp`` (JSON-RPC, OpenEnv's
  ``MCPToolClient``, and MCP's streamable HTTP for plain MCP clients) and as ``ListToolsAction`` /
  ``CallToolAction`` in the step loop; see :mod:`.mcp`.
"""

from __future__ import annotations

import functools
import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import gymnasium as gym
from openenv.core.env_server.http_server import create_app
from openenv.core.env_server.interfaces import Environment
from openenv.core.env_server.mcp_types import CallToolAction, ListToolsAction
from openenv.core.env_server.types import ConcurrencyConfig, EnvironmentMetadata

from anchorgym import __version__
from anchorgym.envs.backends import USER_ERRORS
from anchorgym.envs.registry import env_info, make
from anchorgym.errors import AnchorGymError, ConfigError, DataNotFoundError, WorkerError, unknown
from anchorgym.integrations.openenv.asgi import MAX_BODY_BYTES, BodyLimit
from anchorgym.integrations.openenv.mcp import SessionTools, StreamableMCP, ToolAwareAction
from anchorgym.integrations.openenv.types import QUERIES, AnchorAction, AnchorObservation, AnchorState, jsonable

logger = logging.getLogger(__name__)

DEFAULT_MAX_SESSIONS = 64
RESET_ARGUMENTS = ("seed", "episode_id", "task_id", "split", "index")
MAX_SEED = 2**63 - 1


def check_seed(seed: Any) -> int | None:
    """Return ``seed`` when it is an env seed (None or an integer in ``[0, 2**63)``), else raise a ConfigError.

    >>> check_seed(3), check_seed(None)
    (3, None)
    """
    if seed is None or (isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed <= MAX_SEED):
        return seed
    raise ConfigError(f"reset's seed must be an integer from 0 to 2**63-1 (or left out), got {seed!r}.")


def check_task_id(task_id: Any) -> str | None:
    """Return ``task_id`` as the string the env takes (ints are taken too), or raise a ConfigError.

    >>> check_task_id(12), check_task_id("1000000003"), check_task_id(None)
    ('12', '1000000003', None)
    """
    if task_id is None or isinstance(task_id, str):
        return task_id
    if isinstance(task_id, int) and not isinstance(task_id, bool):
        return str(task_id)
    raise ConfigError(f"reset's task_id must be a string (or left out), got {task_id!r}.")


class ResetNeededError(ConfigError):
    """A step or query came before the session's first reset."""


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
        self._tools: SessionTools | None = None
        # One env call at a time: MCP tool calls run on threads of their own, beside the session's executor.
        self._lock = threading.RLock()

    def reset(
        self,
        seed: int | None = None,
        episode_id: str | None = None,
        task_id: str | None = None,
        split: str | None = None,
        index: int | None = None,
        **kwargs: Any,
    ) -> AnchorObservation:
        """Start an episode on ``task_id`` (or Task API ``split`` and ``index``), or on a task drawn with ``seed``."""
        self._check_usable()
        if kwargs:
            raise ConfigError(
                f"reset got unknown argument(s) {', '.join(sorted(kwargs))}; it takes {', '.join(RESET_ARGUMENTS)}."
            )
        seed, task_id = check_seed(seed), check_task_id(task_id)  # a caller's mistake must not end the session
        if index is not None or split is not None:
            if task_id is not None:
                raise ConfigError("reset takes a task_id or a Task API (split, index), not both.")
            task_id = self.get_task(split or self.split, index if index is not None else -1)["task_id"]
        options = None if task_id is None else {"task_id": task_id}
        obs, info = self._guard("reset", self.env.reset, seed=seed, options=options)
        self.episode_id = episode_id
        return AnchorObservation(text=obs, info=jsonable(info))

    def step(self, action: AnchorAction, timeout_s: float | None = None, **kwargs: Any) -> AnchorObservation:
        """Step the env with ``action.text``, or read ``action.query`` from it (or list or call its MCP tools)."""
        if isinstance(action, ListToolsAction):
            return self.tools.list_observation()
        if isinstance(action, CallToolAction):
            return self.tools.call_observation(action)
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

    # ------------------------------------------------------------ MCP (OpenEnv's mcp_server / mcp_client contract)
    @property
    def tools(self) -> SessionTools:
        """The session's MCP tools (made on first use: most one-shot envs, e.g. of the Task API, never need them)."""
        if self._tools is None:
            self._tools = SessionTools(self)
        return self._tools

    @property
    def mcp_server(self) -> Any:
        """The session's FastMCP server (OpenEnv's ``/mcp`` lists and calls its tools)."""
        return self.tools.server

    @property
    def mcp_client(self) -> Any:
        """The in-process FastMCP client of :attr:`mcp_server`."""
        return self.tools.client

    def mcp_session(self) -> Any:
        """Hold the MCP client open (OpenEnv enters this for the lifetime of a session)."""
        return self.tools.mcp_session()

    def get_metadata(self) -> EnvironmentMetadata:
        """Name the env (its anchorgym id) and describe it."""
        info = env_info(self.env_id)
        return EnvironmentMetadata(
            name=self.env_id,
            description=f"{info.description} (anchorgym env, split {self.split})".strip(),
            version=__version__,
        )

    # ------------------------------------------------------------ OpenEnv's Task API (/{name}/splits, ...)
    def list_splits(self) -> list[dict[str, str]]:
        """The split this server plays, as the Task API describes splits."""
        kind = self.split if self.split in ("train", "test") else "validation"
        return [{"name": self.split, "type": kind}]

    def list_tasks(self, split: str) -> list[dict[str, Any]]:
        """Every task of ``split`` (the served one): ``{"task_id", "index", "split"}``."""
        return [self._task(split, index, task) for index, task in enumerate(self._task_ids(split))]

    def num_tasks(self, split: str) -> int:
        """How many tasks ``split`` (the served one) has."""
        return len(self._task_ids(split))

    def get_task(self, split: str, index: int) -> dict[str, Any]:
        """Task ``index`` of ``split``; reset with its ``task_id`` (or with ``split`` and ``index``) to play it."""
        tasks = self._task_ids(split)
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(tasks):
            raise ConfigError(
                f"Task index must be an integer from 0 to {len(tasks) - 1} for split {split}, got {index!r}."
            )
        return self._task(split, index, tasks[index])

    def get_task_range(self, split: str, start: int | None = None, stop: int | None = None) -> list[dict[str, Any]]:
        """Tasks ``[start, stop)`` of ``split`` (Python slice bounds)."""
        tasks = self._task_ids(split)
        offset = range(len(tasks))[start:stop]
        return [self._task(split, index, tasks[index]) for index in offset]

    def _task_ids(self, split: str) -> list[str]:
        if split != self.split:
            raise ConfigError(f"This server plays split {self.split!r}, not {split!r} (anchorgym env serve --split).")
        return [str(task) for task in self.env.task_ids()]

    @staticmethod
    def _task(split: str, index: int, task_id: str) -> dict[str, Any]:
        return {"task_id": task_id, "index": index, "split": split}

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
            with self._lock:
                return function(*args, **kwargs)
        except USER_ERRORS:
            raise
        except gym.error.ResetNeeded as error:
            raise ResetNeededError(f"{error} (send a reset message first).") from error
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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lock = SERIAL_LOCK  # MCP tool calls run beside the shared thread: they take turns with it too


SERIAL_LOCK = threading.RLock()
"""Held by every env call of a :class:`SerialAnchorOpenEnv`."""


def build_app(
    env_id: str,
    split: str | None = None,
    max_sessions: int = DEFAULT_MAX_SESSIONS,
    idle_timeout_s: float | None = None,
    env_kwargs: dict[str, Any] | None = None,
    threaded: bool = False,
    max_body_bytes: int = MAX_BODY_BYTES,
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
        max_body_bytes: an HTTP request body over this many bytes is answered 413 before it is parsed.

    Returns:
        The FastAPI application (serve it with uvicorn).

    Raises:
        UnknownNameError: unknown env id or split.
        ConfigError: ``max_sessions`` or ``max_body_bytes`` below 1, or ``idle_timeout_s`` not positive.
    """
    info = env_info(env_id)
    split = split or info.splits[0]
    if split not in info.splits:
        raise unknown(f"split of {env_id}", split, info.splits)
    if max_sessions < 1:
        raise ConfigError(f"--max-sessions must be at least 1, got {max_sessions}.")
    if idle_timeout_s is not None and not idle_timeout_s > 0:
        raise ConfigError(f"--idle-timeout must be a positive number of seconds, got {idle_timeout_s}.")
    if max_body_bytes < 1:
        raise ConfigError(f"max_body_bytes must be at least 1, got {max_body_bytes}.")
    session_cls = AnchorOpenEnv if threaded else SerialAnchorOpenEnv
    factory = functools.partial(session_cls, env_id, split, dict(env_kwargs or {}), idle_timeout_s)
    factory().close()  # fail now, with the env's own message, rather than at the first connection
    config = ConcurrencyConfig(max_concurrent_envs=max_sessions, session_timeout=idle_timeout_s)
    app = create_app(
        factory,
        ToolAwareAction,  # an AnchorAction, or one of OpenEnv's MCP actions (list_tools, call_tool)
        AnchorObservation,
        env_name=openenv_name(env_id),
        concurrency_config=config,
        state_cls=AnchorState,
    )
    add_error_replies(app)
    app.add_middleware(StreamableMCP, name=openenv_name(env_id))  # plain MCP clients on /mcp
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)  # outermost: bounds every body, /mcp's included
    return app


HTTP_STATUS = (
    (ResetNeededError, 409),
    (DataNotFoundError, 503),
    (WorkerError, 500),
    (AnchorGymError, 400),
)
"""The HTTP status of each error a request can cause (the first that matches); an env's crash stays a 500."""
STATELESS_HINT = (
    " OpenEnv's HTTP /reset and /step keep no session: each request plays a fresh env. Play episodes over the "
    "WebSocket session at /ws (openenv's GenericEnvClient or anchorgym's AnchorEnvClient)."
)


def add_error_replies(app: Any) -> None:
    """Answer a request that fails on the caller's side with a 4xx and its reason (``{"detail": ...}``), not a 500."""
    from fastapi.responses import JSONResponse

    async def reply(request: Any, error: Exception) -> Any:
        status = next(code for kind, code in HTTP_STATUS if isinstance(error, kind))
        hint = STATELESS_HINT if isinstance(error, ResetNeededError) else ""
        return JSONResponse({"detail": f"{error}{hint}"}, status_code=status)

    app.add_exception_handler(AnchorGymError, reply)


def openenv_name(env_id: str) -> str:
    """Return the name OpenEnv's routes use for ``env_id``: URL-safe, since the Task API puts it in the path.

    >>> openenv_name("anchorgym/Sokoban-v1")
    'anchorgym__Sokoban-v1'
    """
    return env_id.replace("/", "__")


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
