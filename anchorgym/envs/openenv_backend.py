"""The ``openenv`` backend: sub-envs that live on OpenEnv servers, on this machine or others.

::

    envs = anchorgym.make_vec("anchorgym/Sokoban-v1", num_tasks=8, split="test", backend="openenv",
                              backend_options={"urls": ["http://gpu-box-1:8000", "http://gpu-box-2:8000"]})

Each sub-env is one OpenEnv session (one WebSocket connection to ``URL/ws``) on a server
started with ``anchorgym env serve ENV_ID`` (or anyone's server running it, e.g. a Hugging
Face Space). The envs are split over the URLs in contiguous slices, as the process backend
splits them over workers, and every batched ``reset``/``step`` sends all its messages at once
from one event loop thread, so N remote envs step concurrently.

The server decides how its envs are built; at start-up the backend checks, through each
server's ``state``, that it plays this ``env_id`` and split with the same ``max_steps`` and
constructor arguments (local paths such as ``data_dir`` are the server's business), and
says how to start a matching server when it does not.

Failures follow the other backends: a session whose env crashed, whose server went away or
that did not answer in time yields an :class:`~anchorgym.envs.backends.EnvFailure` for its env
only, and is connected again at its next reset. A reset whose session is gone (the server's
``--idle-timeout`` closed it, the server restarted) opens a new session and resets there,
transparently, up to ``retries`` times. A reset that the server refuses for a caller's
mistake (a bad task id) raises that message as a :class:`~anchorgym.errors.ConfigError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Coroutine, Sequence
from typing import Any

from anchorgym.envs.backends import BACKENDS, CLOSE_TIMEOUT_S, Backend, EnvFailure
from anchorgym.errors import ConfigError, WorkerError, missing_extra

SESSION_ENDED = "This session has ended:"
"""How the anchorgym server's error for a session whose env crashed (or was closed) begins."""
SERVER_SIDE_KWARGS = ("data_dir",)
"""Constructor arguments that name the client's local files: the server has its own."""
MAX_MESSAGE_BYTES = 1 << 28  # a train split's task ids can be tens of MB


def ws_url(url: str) -> str:
    """Return the WebSocket session URL of an OpenEnv server given its http(s) or ws(s) base URL.

    >>> ws_url("http://127.0.0.1:8000/"), ws_url("https://x.hf.space"), ws_url("ws://h:1/ws")
    ('ws://127.0.0.1:8000/ws', 'wss://x.hf.space/ws', 'ws://h:1/ws')
    """
    base = url.strip().rstrip("/")
    for http, ws in (("https://", "wss://"), ("http://", "ws://")):
        if base.startswith(http):
            base = ws + base[len(http) :]
    if not base.startswith(("ws://", "wss://")):
        raise ConfigError(f"OpenEnv server URLs start with http://, https://, ws:// or wss://, got {url!r}.")
    return base if base.endswith("/ws") else base + "/ws"


def _describe(error: BaseException) -> str:
    """Describe an error in one clause: its message (and a server's error code), without a final period."""
    code = f" ({error.code})" if isinstance(error, RemoteError) and error.code else ""
    return f"{str(error).rstrip('.')}{code}"


class RemoteError(Exception):
    """The server answered a message with an error frame."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class OpenEnvBackend(Backend):
    """Sub-envs hosted as sessions on OpenEnv servers (see the module docs).

    Args:
        env_id: registered env id; each server must serve it.
        env_kwargs: the arguments the envs should have (checked against each server's).
        num_envs: envs in all (sessions opened).
        num_workers: ignored: there is one host per URL.
        urls: the servers' base URLs (``http://host:port``); envs are split over them.
        connect_timeout_s: give up connecting to a server after this long.
        message_timeout_s: an env whose server has not answered after this long fails (its episode ends).
        retries: a reset whose session is gone (the server's idle timeout, a restart) opens a new session and
            tries again, this many times at most.
    """

    def __init__(
        self,
        env_id: str,
        env_kwargs: dict[str, Any],
        num_envs: int,
        num_workers: int,
        urls: Sequence[str] | str = (),
        connect_timeout_s: float = 30.0,
        message_timeout_s: float = 600.0,
        retries: int = 2,
    ) -> None:
        urls = [urls] if isinstance(urls, str) else list(urls)
        if not urls:
            raise ConfigError(
                "The openenv backend needs the servers that host the envs: "
                'backend_options={"urls": ["http://HOST:PORT", ...]}. Start one with: anchorgym env serve ENV_ID'
            )
        try:
            from websockets.asyncio.client import connect
            from websockets.exceptions import ConnectionClosed
        except ImportError as error:
            raise missing_extra("websockets", "openenv") from error
        super().__init__(env_id, env_kwargs, num_envs, len(urls))
        self._connect, self._closed = connect, ConnectionClosed
        self.urls = [ws_url(url) for url in urls[: len(self.slices)]]
        self.env_kwargs = dict(env_kwargs)
        self.connect_timeout_s, self.message_timeout_s = connect_timeout_s, message_timeout_s
        self.retries = max(0, int(retries))
        self.sockets: list[Any] = [None] * num_envs
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="openenv-backend", daemon=True)
        self.thread.start()
        try:
            self._await(self._open(range(num_envs)))
            states = self._await(self._states(range(num_envs)))
            for worker in range(len(self.slices)):
                self._check_server(worker, states[self.slices[worker].start])
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------ sessions
    def _await(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def url_of(self, index: int) -> str:
        """Return the session URL that hosts env ``index``."""
        return self.urls[int(self.owner[index])]

    async def _open(self, indices: Sequence[int]) -> None:
        """Open a session for each env; raise a WorkerError naming the first server that cannot be reached."""
        results = await asyncio.gather(*(self._reconnect(i) for i in indices), return_exceptions=True)
        for index, result in zip(indices, results, strict=True):
            if isinstance(result, BaseException):
                raise WorkerError(
                    f"Cannot open a session on the OpenEnv server at {self.url_of(index)} ({result}). "
                    f"Start one with: anchorgym env serve {self.env_id} --port PORT, and pass its URL."
                ) from result

    async def _states(self, indices: Sequence[int]) -> list[dict[str, Any]]:
        """Ask every session for its state; raise a WorkerError naming a server that refused a session."""
        states = await asyncio.gather(*(self._ask(i, {"type": "state"}) for i in indices), return_exceptions=True)
        for index, state in zip(indices, states, strict=True):
            if isinstance(state, BaseException):
                raise WorkerError(
                    f"The OpenEnv server at {self.url_of(index)} refused session {index}: {_describe(state)}. "
                    "Serve more sessions (anchorgym env serve --max-sessions N) or pass more URLs."
                ) from state
        return states

    async def _reconnect(self, index: int) -> None:
        await self._drop(index)
        self.sockets[index] = await self._connect(
            self.url_of(index), open_timeout=self.connect_timeout_s, max_size=MAX_MESSAGE_BYTES, proxy=None
        )

    async def _drop(self, index: int) -> None:
        socket, self.sockets[index] = self.sockets[index], None
        if socket is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(socket.close(), CLOSE_TIMEOUT_S)

    async def _ask(self, index: int, message: dict[str, Any]) -> dict[str, Any]:
        """Send one message on env ``index``'s session and return the reply's data (raise on an error reply)."""
        socket = self.sockets[index]
        if socket is None:
            raise ConnectionError("its session is closed")
        try:
            await socket.send(json.dumps(message))
        except self._closed:  # a refused session (at capacity) sends its error frame, then closes: read it
            pass
        reply = json.loads(await asyncio.wait_for(socket.recv(), self.message_timeout_s))
        if reply.get("type") == "error":
            data = reply.get("data", {})
            raise RemoteError(str(data.get("message", "unknown error")), str(data.get("code", "")))
        return reply.get("data", {})

    def _check_server(self, worker: int, state: dict[str, Any]) -> None:
        """Raise a ConfigError when the server at ``worker``'s URL does not play these envs."""
        split = self.env_kwargs.get("split")
        wanted = {k: v for k, v in self.env_kwargs.items() if k not in ("split", *SERVER_SIDE_KWARGS)}
        served = dict(state.get("env_kwargs", {}))
        served["max_steps"] = state.get("max_steps")
        wanted.setdefault("max_steps", self.info.max_steps)
        differ = {k: v for k, v in wanted.items() if json.loads(json.dumps(v)) != served.get(k)}
        if state.get("env_id") == self.env_id and state.get("split") == split and not differ:
            return
        args = " ".join(f"--env-arg {k}={json.dumps(v)}" for k, v in differ.items() if k != "max_steps")
        steps = f" --max-steps {wanted['max_steps']}" if "max_steps" in differ else ""
        raise ConfigError(
            f"The OpenEnv server at {self.urls[worker]} serves {state.get('env_id')} (split {state.get('split')}, "
            f"max_steps {state.get('max_steps')}, arguments {state.get('env_kwargs', {})}); these envs need "
            f"{self.env_id} (split {split}, {', '.join(f'{k}={v!r}' for k, v in wanted.items())}). Serve it with: "
            f"anchorgym env serve {self.env_id} --split {split}{steps} {args}".rstrip()
        )

    # ------------------------------------------------------------ commands
    async def _reset_one(self, index: int, seed: int | None, options: dict | None) -> Any:
        extra = sorted(set(options or {}) - {"task_id"})
        if extra:
            error = ConfigError(f"The openenv backend passes only options['task_id'] to reset, got {', '.join(extra)}.")
            return EnvFailure(f"ConfigError: {error}", user_error=error)
        data = {
            key: value
            for key, value in (("seed", seed), ("task_id", (options or {}).get("task_id")))
            if value is not None
        }
        for attempt in range(self.retries + 1):
            try:
                if self.sockets[index] is None:
                    await self._reconnect(index)
                reply = await self._ask(index, {"type": "reset", "data": data})
                break
            except RemoteError as error:
                if not str(error).startswith(SESSION_ENDED) and error.code == "EXECUTION_ERROR":
                    return EnvFailure(f"ConfigError: {error}", user_error=ConfigError(str(error)))
                last: Exception = error  # the session is gone (idle timeout, crash, capacity): open a new one
            except asyncio.TimeoutError as error:  # a server that did not answer in time is not asked again
                return await self._failed(index, error)
            except Exception as error:  # the connection closed (a restarted server): open a new one
                last = error
            await self._drop(index)
            if attempt == self.retries:
                return await self._failed(index, last)
        observation = reply["observation"]
        return observation["text"], observation["info"]

    async def _step_one(self, index: int, action: str) -> Any:
        try:
            reply = await self._ask(index, {"type": "step", "data": {"text": action}})
        except Exception as error:  # per-env isolation, as in the other backends
            return await self._failed(index, error)
        observation = reply["observation"]
        reward = float(reply.get("reward") or 0.0)
        return observation["text"], reward, observation["terminated"], observation["truncated"], observation["info"]

    async def _query_one(self, index: int, name: str, args: tuple) -> Any:
        if args:
            error = ConfigError(f"The openenv backend reads env attributes without arguments; {name} got {args!r}.")
            return EnvFailure(f"ConfigError: {error}", user_error=error)
        try:
            reply = await self._ask(index, {"type": "step", "data": {"query": name}})
        except RemoteError as error:
            return EnvFailure(f"RemoteError: {error}")
        except Exception as error:
            return await self._failed(index, error)
        return reply["observation"]["result"]

    async def _failed(self, index: int, error: Exception) -> EnvFailure:
        """Close env ``index``'s session (it reconnects at its next reset) and describe why it failed."""
        await self._drop(index)
        if isinstance(error, asyncio.TimeoutError):
            return EnvFailure(f"WorkerError: no reply from {self.url_of(index)} within {self.message_timeout_s:g} s")
        if isinstance(error, RemoteError):
            return EnvFailure(f"WorkerError: {error}")
        return EnvFailure(f"WorkerError: the session at {self.url_of(index)} failed: {type(error).__name__}: {error}")

    def _dispatch(self, method: str, requests: dict[int, list], unpack: bool = False) -> dict[int, Any]:
        return self._await(self._dispatch_async(method, requests, unpack))

    async def _dispatch_async(self, method: str, requests: dict[int, list], unpack: bool) -> dict[int, Any]:
        jobs: dict[int, list[Coroutine[Any, Any, Any]]] = {}
        for worker, payload in requests.items():
            start = self.slices[worker].start
            if unpack:
                ((name, indices, args),) = payload
                jobs[worker] = [self._query_one(start + i, name, args) for i in indices]
            elif method == "reset":
                jobs[worker] = [self._reset_one(start + i, seed, options) for i, seed, options in payload]
            else:
                jobs[worker] = [self._step_one(start + i, action) for i, action in payload]
        flat = await asyncio.gather(*(job for worker_jobs in jobs.values() for job in worker_jobs))
        replies, at = {}, 0
        for worker, worker_jobs in jobs.items():
            replies[worker] = list(flat[at : at + len(worker_jobs)])
            at += len(worker_jobs)
        return replies

    def _restart(self, workers: Sequence[int]) -> None:
        self._await(self._open([i for w in workers for i in self.slices[w]]))

    def close(self) -> None:
        """Close every session and the event loop thread; never hangs."""
        if self.thread.is_alive():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._close_all(), self.loop).result(CLOSE_TIMEOUT_S * 2)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(CLOSE_TIMEOUT_S)

    async def _close_all(self) -> None:
        async def close_one(index: int) -> None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.sockets[index].send(json.dumps({"type": "close"})), CLOSE_TIMEOUT_S)
            await self._drop(index)

        await asyncio.gather(*(close_one(i) for i in range(len(self.sockets)) if self.sockets[i] is not None))


BACKENDS["openenv"] = OpenEnvBackend
