"""A check that a server's port is free, run before it loads anything slow.

werkzeug prints its own message and calls ``sys.exit`` on a busy port; every
``anchorgym ... serve`` command checks first so the user gets one clear line.
"""

from __future__ import annotations

import socket

from anchorgym.errors import ConfigError


def check_port_free(host: str, port: int) -> None:
    """Raise :class:`~anchorgym.errors.ConfigError` when ``host:port`` cannot be bound (port 0 always can).

    >>> check_port_free("127.0.0.1", 0)
    """
    if port == 0:
        return
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind: TIME_WAIT is no clash
        try:
            probe.bind((host, port))
        except OSError as error:
            raise ConfigError(
                f"Cannot serve on {host}:{port} ({error.strerror}). Pass another --port, or --port 0 for a free one."
            ) from error
