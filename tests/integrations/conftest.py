"""Fixtures for the integration tests: real OpenEnv servers of anchorgym envs on 127.0.0.1."""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # integrations_envs (the crashing test env) imports by name

from chat_server import chat_server  # noqa: E402


@contextlib.contextmanager
def openenv_server(env_id: str, split: str | None = None, **kwargs) -> Iterator[str]:
    """Serve ``env_id`` with OpenEnv's server (uvicorn, a real socket) in a thread; yield its http URL."""
    from anchorgym.integrations.openenv.server import bind, build_app, uvicorn_server

    app = build_app(env_id, split, **kwargs)
    sock = bind("127.0.0.1", 0)
    server = uvicorn_server(app)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    started = threading.Event()
    while not server.started and thread.is_alive():
        started.wait(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join()
        sock.close()


@pytest.fixture(scope="session")
def serve():
    """The :func:`openenv_server` context manager (skips without the openenv extra)."""
    pytest.importorskip("openenv", reason="needs the openenv extra: pip install 'anchorgym[openenv]'")
    return openenv_server


@pytest.fixture(scope="session")
def webshop_dir(shared_file) -> Path:
    return shared_file("webshop", "products_1k.json").parent


@pytest.fixture(scope="session")
def alfworld_ready(alfworld_dir) -> Path:
    for module in ("alfworld", "textworld", "fast_downward"):
        pytest.importorskip(module, reason="needs the alfworld extra: pip install 'anchorgym[alfworld]'")
    return alfworld_dir


@pytest.fixture
def answering_server(request) -> Iterator[str]:
    """A :func:`chat_server` answering every chat completion with ``<action>ACTION</action>``.

    ACTION is ``crash`` unless the test parametrizes this fixture indirectly with another action.
    """
    with chat_server(f"<action>{getattr(request, 'param', 'crash')}</action>") as url:
        yield url
