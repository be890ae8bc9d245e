"""Every ``serve`` command refuses a busy port with one clear line, before loading anything slow."""

from __future__ import annotations

import socket

import pytest

from anchorgym.cli import main
from anchorgym.errors import ConfigError
from anchorgym.ports import check_port_free

SERVE_COMMANDS = [
    ["serve", "tiny"],
    ["leaderboard", "serve", "--db", "sqlite:///unused.db"],
    ["retrieval", "serve", "--dataset", "synthetic"],
    ["webshop", "serve"],
]


@pytest.fixture
def busy_port():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        yield busy.getsockname()[1]


def test_a_busy_port_is_a_config_error(busy_port):
    with pytest.raises(ConfigError, match=rf"^Cannot serve on 127.0.0.1:{busy_port} \(Address already in use\)\. "):
        check_port_free("127.0.0.1", busy_port)


def test_a_free_port_passes():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    check_port_free("127.0.0.1", port)


@pytest.mark.parametrize("command", SERVE_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_serve_commands_refuse_a_busy_port(command, busy_port, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the leaderboard must not create its database before failing
    assert main([*command, "--port", str(busy_port)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: Cannot serve on 127.0.0.1:{busy_port} (Address already in use). "
        "Pass another --port, or --port 0 for a free one."
    )
    assert not (tmp_path / "unused.db").exists()
