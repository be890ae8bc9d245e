"""A gymnasium-style env that plays on an OpenEnv server and survives the loss of its session.

:class:`RemoteEnv` is what the TRL and verifiers integrations play through when given a
server URL (``anchorgym env serve``). It speaks OpenEnv's WebSocket protocol (``/ws``)
with a deadline on every call, so no call waits forever on a server that went away, and
it forgives a lost session:

* a session the server ended (its idle timeout, a restart, a dropped connection, no reply
  in time) is opened again, at most ``retries`` times in a row, then a
  :class:`~anchorgym.errors.WorkerError` says why;
* a ``reset`` on a lost session simply runs on the new one;
* a ``step`` on a lost session *resumes*: the new session is reset to the episode's task
  and seed, the episode's actions so far are replayed, and the replay must reach the same
  state (the same anchor) before the step is taken. anchorgym envs are deterministic
  given ``(task_id, seed)``, so the caller sees the episode it was playing.

A caller's mistake (a bad seed or task id) is raised as a :class:`~anchorgym.errors.ConfigError`
with the server's message; it costs no reconnection.
"""

from __future__ import annotations

import json
from typing import Any

from anchorgym.envs.openenv_backend import MAX_MESSAGE_BYTES, SESSION_ENDED, ws_url
from anchorgym.errors import ConfigError, WorkerError, missing_extra

LOST_CODES = ("CAPACITY_REACHED", "SESSION_ERROR", "FACTORY_ERROR")
"""OpenEnv error codes after which the server closes the connection: the session is lost, not the request bad."""


class SessionLost(Exception):
    """The session is gone (ended by the server, connection closed, or no reply in time)."""


class RemoteEnv:
    """``reset``/``step`` on one OpenEnv session of an anchorgym server, reconnecting when the session is lost.

    Args:
        url: the server's base URL (``http://HOST:PORT``, ``https://...``, or its ``ws://.../ws``).
        connect_timeout_s: give up opening a connection after this long.
        message_timeout_s: give up waiting for one reply after this long (the session counts as lost).
        retries: how many times in a row a lost session is opened again before the call fails.
    """

    def __init__(
        self, url: str, connect_timeout_s: float = 30.0, message_timeout_s: float = 300.0, retries: int = 2
    ) -> None:
        try:
            from websockets.exceptions import WebSocketException
            from websockets.sync.client import connect
        except ImportError as error:
            raise missing_extra("websockets", "openenv") from error
        if retries < 0 or connect_timeout_s <= 0 or message_timeout_s <= 0:
            raise ConfigError(
                f"RemoteEnv needs retries >= 0 and positive timeouts, got {retries}, {connect_timeout_s}, "
                f"{message_timeout_s}."
            )
        self.url = ws_url(url)
        self._connect, self._ws_error = connect, WebSocketException
        self.connect_timeout_s, self.message_timeout_s, self.retries = connect_timeout_s, message_timeout_s, retries
        self.reconnects = 0
        """How many times a lost session was opened again (0 while the first session lasts)."""
        self._socket: Any = None
        self._opened = False
        self._reset_data: dict[str, Any] | None = None
        self._actions: list[str] = []
        self._anchor: str | None = None

    # ------------------------------------------------------------ gymnasium API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        """Start an episode on ``options["task_id"]`` (or a task drawn with ``seed``); return ``(obs, info)``."""
        extra = sorted(set(options or {}) - {"task_id"})
        if extra:
            raise ConfigError(f"A remote env's reset takes only options['task_id'], got {', '.join(extra)}.")
        task_id = (options or {}).get("task_id")
        data = {key: value for key, value in (("seed", seed), ("task_id", task_id)) if value is not None}
        reply = self._with_retries(lambda: self._ask({"type": "reset", "data": data}))
        observation = reply["observation"]
        self._reset_data, self._actions = data, []
        self._anchor = observation["info"].get("anchor")
        return observation["text"], observation["info"]

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """Take ``action``; return ``(obs, reward, terminated, truncated, info)``, resuming a lost session first."""
        if self._reset_data is None:
            raise ConfigError("Call reset() before step().")
        reply = self._with_retries(lambda: self._ask({"type": "step", "data": {"text": action}}), resume=True)
        observation = reply["observation"]
        self._actions.append(action)
        self._anchor = observation["info"].get("anchor")
        reward = float(reply.get("reward") or 0.0)
        return observation["text"], reward, observation["terminated"], observation["truncated"], observation["info"]

    def query(self, name: str) -> Any:
        """Read one of the session env's attributes (``task_ids``, ``expert_action``... see ``QUERIES``)."""
        return self._with_retries(lambda: self._ask({"type": "step", "data": {"query": name}}), resume=True)[
            "observation"
        ]["result"]

    def state(self) -> dict[str, Any]:
        """Return the session's state (env id, split, task, anchor, and why it ended, if it did)."""
        return self._with_retries(lambda: self._ask({"type": "state"}))

    def close(self) -> None:
        """Close the session (tell the server, then drop the connection); never raises."""
        if self._socket is not None:
            try:
                self._socket.send(json.dumps({"type": "close"}))
            except Exception:  # the server may already be gone; closing must not fail
                pass
        self._drop()

    # ------------------------------------------------------------ sessions
    def _with_retries(self, call: Any, resume: bool = False) -> dict[str, Any]:
        """Run ``call`` on the session; when it is lost, open a new one (resuming the episode) and try again."""
        last: Exception | None = None
        for _attempt in range(self.retries + 1):
            try:
                if self._socket is None:
                    self._open()
                    if resume and self._reset_data is not None:
                        self._replay()
                return call()
            except SessionLost as error:
                last = error
                self._drop()
        raise WorkerError(
            f"The OpenEnv session at {self.url} was lost {self.retries + 1} time(s) in a row; the last time: {last}."
        )

    def _open(self) -> None:
        try:
            self._socket = self._connect(
                self.url, open_timeout=self.connect_timeout_s, max_size=MAX_MESSAGE_BYTES, proxy=None
            )
        except (OSError, TimeoutError, self._ws_error) as error:
            raise SessionLost(f"cannot connect: {type(error).__name__}: {error}") from error
        if self._opened:
            self.reconnects += 1
        self._opened = True

    def _replay(self) -> None:
        """Bring the new session to where the lost one was: reset to the episode's task and seed, replay its actions."""
        reply = self._ask({"type": "reset", "data": self._reset_data})
        for action in self._actions:
            reply = self._ask({"type": "step", "data": {"text": action}})
        anchor = reply["observation"]["info"].get("anchor")
        if anchor != self._anchor:
            raise WorkerError(
                f"Cannot resume the episode on a new session at {self.url}: replaying its {len(self._actions)} "
                "action(s) reached another state (the server's env is not the one the episode started on)."
            )

    def _ask(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send one message and return the reply's data; raise SessionLost or ConfigError for an error reply."""
        try:
            self._socket.send(json.dumps(message))
            reply = json.loads(self._socket.recv(timeout=self.message_timeout_s))
        except TimeoutError as error:
            raise SessionLost(f"no reply within {self.message_timeout_s:g} s") from error
        except (OSError, self._ws_error) as error:
            raise SessionLost(f"the connection closed: {type(error).__name__}: {error}") from error
        if reply.get("type") != "error":
            return reply.get("data", {})
        data = reply.get("data", {})
        text, code = str(data.get("message", "unknown error")), str(data.get("code", ""))
        if text.startswith(SESSION_ENDED) or code in LOST_CODES:
            raise SessionLost(f"{text.rstrip('.')} ({code})" if code else text)
        raise ConfigError(text if code == "EXECUTION_ERROR" else f"{text} ({code}): {data.get('errors', '')}".rstrip())

    def _drop(self) -> None:
        socket, self._socket = self._socket, None
        if socket is not None:
            try:
                socket.close()
            except Exception:  # a broken connection may fail to close cleanly; it is dropped all the same
                pass

    def __enter__(self) -> RemoteEnv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
