"""The leaderboard's HTTP server: waitress with read deadlines and a per-IP connection limit.

Waitress closes a connection only after it has been *silent* for ``channel_timeout``; a slowloris client that
sends one header line every few seconds is never silent that long and holds its connection (and a slot of
``connection_limit``) for ever. :class:`GuardedServer` adds what waitress lacks:

* a header deadline: a request's headers must be complete ``header_timeout`` seconds after its first byte;
* a body deadline: its body must then arrive within ``body_timeout`` seconds plus its length at
  ``min_body_rate`` bytes per second;
* a per-IP limit: one client address holds at most ``per_ip`` connections (more are closed on accept), so one
  address cannot take every slot of ``connection_limit``;
* an early check of a request's headers (the leaderboard's: the bearer token of an upload): a request it
  refuses is answered 401 as soon as its headers are read, and its body is never read (waitress would
  otherwise buffer the whole body before the app sees the request).

Overdue connections are closed by waitress's maintenance pass, which runs every ``cleanup_interval`` seconds.
Behind a reverse proxy every client has the proxy's address: there, set the limits in the proxy (see
``deploy/nginx/leaderboard.conf``) and raise ``per_ip`` here.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher
from waitress.utilities import Error

from anchorgym.leaderboard.server import SECURITY_HEADERS

EarlyCheck = Callable[[str, str, dict[str, str]], str | None]
"""(method, path, headers) -> why the request is refused (answered 401 before its body is read), or None."""


class Unauthorized(Error):
    """A 401 answered from the headers alone, as the app answers one: ``{"error": reason}``."""

    code = 401
    reason = "Unauthorized"

    def to_response(self, ident: str | None = None) -> tuple[str, list[tuple[str, str]], bytes]:
        """The status line, headers and JSON body."""
        headers = [("Content-Type", "application/json"), *SECURITY_HEADERS.items()]
        return f"{self.code} {self.reason}", headers, json.dumps({"error": self.body}).encode("utf-8")


@dataclass(frozen=True)
class Deadlines:
    """How long a client may take (seconds), and how many connections one address may hold."""

    header_timeout: float = 10.0
    body_timeout: float = 30.0
    min_body_rate: float = 64 * 1024  # bytes per second a body must at least arrive at
    per_ip: int = 32


class DeadlineChannel(HTTPChannel):
    """A waitress channel that knows when its current request must be fully read."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.tracked: Any = None
        self.deadline: float | None = None
        self.headers_seen = False
        self.refused = self.half_close = False
        super().__init__(*args, **kwargs)

    def received(self, data: bytes) -> bool:
        """Read ``data`` (waitress), then set or move the current request's deadline."""
        deadlines: Deadlines = self.server.deadlines
        if self.refused:  # the rest of a refused request's body: never read into memory
            return False
        if self.request is None and data and self.deadline is None:
            self.deadline = time.monotonic() + deadlines.header_timeout  # from the request's first byte
        result = super().received(data)
        request = self.request
        if request is None:  # the request is complete (or none began): nothing to wait for
            self.tracked, self.deadline, self.headers_seen = None, None, False
            return result
        if request is not self.tracked:  # a new request began in this chunk
            self.tracked, self.headers_seen = request, False
            self.deadline = time.monotonic() + deadlines.header_timeout
        if request.headers_finished and not self.headers_seen:
            self.headers_seen = True
            if self._refuse_early(request):
                return result
            length = request.content_length or self.adj.max_request_body_size
            self.deadline = time.monotonic() + deadlines.body_timeout + length / deadlines.min_body_rate
        return result

    def _refuse_early(self, request: Any) -> bool:
        """Answer ``request`` with 401 now when the server's early check refuses it (its body is never read)."""
        check: EarlyCheck | None = self.server.early_check
        if check is None or request.completed or request.error:
            return False
        reason = check(request.command or "", request.path or "", dict(request.headers))
        if reason is None:
            return False
        with self.requests_lock:
            request.error, request.completed = Unauthorized(reason), True
            self.refused, self.request, self.tracked, self.deadline = True, None, None, None
            self.requests.append(request)
            if len(self.requests) == 1:
                self.server.add_task(self)
        return True

    def handle_write(self) -> None:
        """Write (waitress); once a refused request's 401 is out, half-close and drain instead of closing.

        Closing a socket whose client is still sending makes the kernel reset the connection, and the client
        may then never read the 401: so the write side is shut, the rest of the body is read and discarded
        (never stored), and the connection closes at the client's end of file or the body deadline.
        """
        if self.refused and self.close_when_flushed:
            self.close_when_flushed, self.half_close = False, True
        super().handle_write()
        if self.half_close and not self.total_outbufs_len and not self.will_close:
            self.half_close = False
            self.deadline = time.monotonic() + self.server.deadlines.body_timeout
            try:
                self.socket.shutdown(socket.SHUT_WR)
            except OSError:
                self.will_close = True

    def overdue(self, moment: float) -> bool:
        """Whether the request being read has missed its deadline."""
        return self.deadline is not None and moment > self.deadline and not self.requests


class GuardedServer(TcpWSGIServer):
    """Waitress's TCP server with header and body deadlines and a per-IP connection limit."""

    channel_class = DeadlineChannel
    deadlines = Deadlines()
    early_check: EarlyCheck | None = None

    def handle_accept(self) -> None:
        """Accept a connection unless its address already holds ``per_ip`` of them."""
        try:
            accepted = self.accept()
        except OSError:
            return
        if accepted is None:
            return
        conn, addr = accepted
        host = addr[0] if isinstance(addr, tuple) else addr
        held = sum(1 for channel in list(self.active_channels.values()) if channel.addr and channel.addr[0] == host)
        if held >= self.deadlines.per_ip:
            conn.close()  # this address has its share: the others keep theirs
            return
        self.set_socket_options(conn)
        self.channel_class(self, conn, self.fix_addr(addr), self.adj, map=self._map)

    def maintenance(self, now: float) -> None:
        """Close silent connections (waitress) and connections past their read deadline."""
        super().maintenance(now)
        moment = time.monotonic()
        for channel in list(self.active_channels.values()):
            if isinstance(channel, DeadlineChannel) and channel.overdue(moment):
                channel.will_close = True


def make_server(
    app: Any, deadlines: Deadlines, early_check: EarlyCheck | None = None, **adjustments: Any
) -> GuardedServer:
    """Bind a :class:`GuardedServer` for ``app`` (``adjustments`` are waitress's, e.g. ``host``, ``port``)."""
    adjustments.setdefault("cleanup_interval", max(1, int(min(deadlines.header_timeout, 30) // 2)))
    adj = Adjustments(**adjustments)
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(adj.threads)
    server_class = type("Server", (GuardedServer,), {"deadlines": deadlines, "early_check": staticmethod(early_check)})
    return server_class(app, {}, True, None, dispatcher=dispatcher, adj=adj, sockinfo=adj.listen[0])
