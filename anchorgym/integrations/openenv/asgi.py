"""ASGI plumbing for the OpenEnv server: reading a request body within a limit, replaying it, answering JSON.

:class:`BodyLimit` bounds every HTTP request's body (``/reset``, ``/step``, ``/mcp``, the Task API): a body
over the limit is answered 413 with the limit in its reason, before the app parses any of it. A declared
``Content-Length`` over the limit is refused before a byte is read; a chunked body is read only up to it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

MAX_BODY_BYTES = 16 * 1024 * 1024
"""The default limit: uvicorn's limit on one WebSocket message, so ``/ws`` and HTTP take the same actions."""


class BodyTooLarge(Exception):
    """A request body over the limit (raised by :func:`read_body`)."""


async def read_body(receive: Callable[..., Any], limit: int | None = None) -> bytes:
    """Read a request's whole body from ASGI ``receive``; raise :class:`BodyTooLarge` once it passes ``limit``."""
    chunks, size = [], 0
    while True:
        event = await receive()
        if event["type"] == "http.disconnect":
            return b"".join(chunks)
        chunk = event.get("body", b"")
        size += len(chunk)
        if limit is not None and size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not event.get("more_body", False):
            return b"".join(chunks)


def replay(body: bytes, client: Callable[..., Any] | None = None) -> Callable[..., Any]:
    """An ASGI ``receive`` that hands over ``body`` once, then the ``client``'s next events (its disconnect).

    Without a ``client`` (a request made inside the server) it then waits, as a connected client does.
    """
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        if client is not None:
            return await client()
        await asyncio.Event().wait()  # never
        return {"type": "http.disconnect"}

    return receive


async def reply(send: Callable[..., Any], status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
    """Send a whole response: ``payload`` as JSON (``None``: an empty body) with ``headers``."""
    body = b"" if payload is None else json.dumps(payload).encode()
    raw = [(b"content-type", b"application/json")] if payload is not None else []
    raw += [(key.encode(), value.encode()) for key, value in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """ASGI middleware: refuse an HTTP request whose body is over ``max_bytes`` with 413 and the limit.

    Add it last (outermost) with ``app.add_middleware(BodyLimit, max_bytes=...)``; WebSocket connections
    pass through (uvicorn bounds their messages).

    Args:
        app: the next ASGI app.
        max_bytes: the largest body taken, in bytes.
    """

    def __init__(self, app: Any, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        """Serve one ASGI connection: read an HTTP body within the limit, then hand it to the app."""
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length", b"").decode("latin-1")
        try:
            if declared.isdigit() and int(declared) > self.max_bytes:
                raise BodyTooLarge
            body = await read_body(receive, self.max_bytes)
        except BodyTooLarge:
            detail = f"Request body too large: the limit is {self.max_bytes} bytes. Send a shorter request."
            return await reply(send, 413, {"detail": detail}, {"connection": "close"})
        await self.app(scope, replay(body, receive), send)
