"""``anchorgym leaderboard serve`` under abuse (issue #25, 2): slowloris, read deadlines, per-IP limits.

The attack of the issue, scaled down by ten but the same shape: 21 connections (210 there) against a
connection limit of 20 (200), each sending one header line every second (every 10 s there), and the header
deadline is 2 s (10 s by default). Every connection and every wait is bounded.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from anchorgym.leaderboard.storage import open_database, revoke_token

from .conftest import serve_process

ATTACKERS = 21
ATTACK_S = 8.0
SLOW_OPTIONS = ("--no-replay", "--header-timeout", "2", "--connection-limit", "20", "--per-ip", "8")


def _slow_client(host: str, port: int, source: str, stop: threading.Event, closed: list[float]) -> None:
    """Hold a connection sending one header line a second; when the server closes it, note it and reconnect."""
    while not stop.is_set():
        try:
            connection = socket.create_connection((host, port), timeout=5, source_address=(source, 0))
        except OSError:
            stop.wait(0.2)
            continue
        opened = time.monotonic()
        with connection:
            try:
                connection.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
                while not stop.wait(1.0):
                    connection.sendall(b"X-Slow: 1\r\n")  # never the blank line that ends the headers
                    connection.settimeout(0.01)
                    try:
                        if connection.recv(1) == b"":
                            raise ConnectionResetError
                    except TimeoutError:
                        pass
                    connection.settimeout(5)
            except OSError:
                closed.append(time.monotonic() - opened)


def _attack(url: str, source: str) -> tuple[list[float], list[float]]:
    """Run the slow clients from ``source`` while a legitimate client polls ``/``; return both's timings."""
    host, port = url.removeprefix("http://").split(":")
    stop, closed, answers = threading.Event(), [], []
    clients = [
        threading.Thread(target=_slow_client, args=(host, int(port), source, stop, closed), daemon=True)
        for _ in range(ATTACKERS)
    ]
    for client in clients:
        client.start()
    time.sleep(2.0)  # the slow connections are open
    deadline = time.monotonic() + ATTACK_S
    try:
        while time.monotonic() < deadline:
            began = time.monotonic()
            response = httpx.get(url + "/", timeout=10)
            assert response.status_code == 200
            answers.append(time.monotonic() - began)
            time.sleep(0.5)
    finally:
        stop.set()
        for client in clients:
            client.join(10)
    return answers, closed


def test_slowloris_from_another_address_does_not_starve_legitimate_requests(tmp_path):
    with serve_process(tmp_path, *SLOW_OPTIONS) as server:
        answers, closed = _attack(server.url, "127.0.0.2")  # the attacker's address (loopback, not the client's)
    assert len(answers) >= 4 and max(answers) < 5.0, answers  # every legitimate request answered, promptly
    # the slow connections were closed by the server (per-IP limit at once, header deadline after 2 s + a pass)
    assert closed and max(closed) < 6.0, closed


def test_a_slow_header_is_closed_at_its_deadline_though_never_silent(tmp_path):
    with serve_process(tmp_path, *SLOW_OPTIONS) as server:
        host, port = server.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as connection:
            opened = time.monotonic()
            connection.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
            closed_after = None
            while time.monotonic() - opened < 15:  # silent for 0.5 s at most: the 30 s idle timeout never fires
                time.sleep(0.5)
                try:
                    connection.sendall(b"X-Slow: 1\r\n")
                    connection.settimeout(0.01)
                    if connection.recv(1) == b"":
                        closed_after = time.monotonic() - opened
                        break
                except TimeoutError:
                    pass
                except OSError:
                    closed_after = time.monotonic() - opened
                    break
                finally:
                    connection.settimeout(10)
    assert closed_after is not None and 2.0 <= closed_after < 6.0, closed_after


def test_one_address_holds_at_most_its_share_of_connections(tmp_path):
    with serve_process(tmp_path, *SLOW_OPTIONS) as server:
        host, port = server.url.removeprefix("http://").split(":")
        held = [socket.create_connection((host, int(port)), timeout=10, source_address=("127.0.0.3", 0))]
        try:
            for _ in range(11):
                held.append(socket.create_connection((host, int(port)), timeout=10, source_address=("127.0.0.3", 0)))
            refused = 0
            for connection in held:
                connection.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                answer = b""
                try:
                    while b"\r\n" not in answer and (chunk := connection.recv(4096)):
                        answer += chunk
                except OSError:
                    pass
                refused += not answer.startswith(b"HTTP/1.1 200")
            assert refused == 12 - 8  # the limit is 8 per address
        finally:
            for connection in held:
                connection.close()


@pytest.mark.skipif(shutil.which("nginx") is None, reason="needs nginx (apt-get install nginx)")
def test_the_shipped_nginx_config_is_valid(tmp_path):
    config = Path(__file__).parents[2] / "deploy" / "nginx" / "leaderboard.conf"
    wrapper = tmp_path / "nginx.conf"
    wrapper.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  client_body_temp_path {tmp_path};\n  include {config};\n}}\n"
    )
    done = subprocess.run(["nginx", "-t", "-c", str(wrapper), "-p", str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.skipif(shutil.which("nginx") is None, reason="needs nginx (apt-get install nginx)")
def test_slowloris_through_the_shipped_nginx_front(tmp_path):
    """The documented production front: nginx with deploy/nginx/leaderboard.conf (deadlines scaled to 2 s)."""
    config = (Path(__file__).parents[2] / "deploy" / "nginx" / "leaderboard.conf").read_text()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        front_port = probe.getsockname()[1]
    with serve_process(tmp_path, "--no-replay", "--per-ip", "200") as server:
        backend_port = server.url.rsplit(":", 1)[1]
        scaled = (
            config.replace("listen 80;", f"listen 127.0.0.1:{front_port};")
            .replace("server 127.0.0.1:8080;", f"server 127.0.0.1:{backend_port};")
            .replace("client_header_timeout 10s;", "client_header_timeout 2s;")
            .replace("limit_conn leaderboard_conn 32;", "limit_conn leaderboard_conn 8;")
        )
        (tmp_path / "leaderboard.conf").write_text(scaled)
        wrapper = tmp_path / "nginx.conf"
        wrapper.write_text(
            f"daemon off;\npid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
            f"http {{\n  access_log off;\n  client_body_temp_path {tmp_path};\n"
            f"  proxy_temp_path {tmp_path};\n  include {tmp_path}/leaderboard.conf;\n}}\n"
        )
        nginx = subprocess.Popen(["nginx", "-c", str(wrapper), "-p", str(tmp_path)], stderr=subprocess.PIPE)
        try:
            front = f"http://127.0.0.1:{front_port}"
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    if httpx.get(front + "/", timeout=5).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            answers, closed = _attack(front, "127.0.0.2")
        finally:
            nginx.terminate()
            nginx.wait(30)
    assert len(answers) >= 4 and max(answers) < 5.0, answers
    assert closed and max(closed) < 6.0, closed


def test_a_revoked_token_is_answered_before_the_body_is_read(tmp_path):
    """Issue #25: a submission was stored 1 s after its token was revoked (waitress buffers the body first)."""
    with serve_process(tmp_path, "--no-replay") as server:
        revoke_token(open_database(server.db_url), "tester")
        host, port = server.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=30) as connection:
            connection.sendall(
                f"POST /api/submissions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {server.token}\r\n"
                "Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 60000000\r\n\r\n".encode()
            )  # and no body: the answer cannot wait for it
            answer = b""
            while b"\r\n\r\n" not in answer and (chunk := connection.recv(4096)):
                answer += chunk
            head, _, body = answer.partition(b"\r\n\r\n")
            while len(body) < int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0]):
                body += connection.recv(4096)
        assert head.startswith(b"HTTP/1.1 401 Unauthorized") and b"application/json" in head
        assert json.loads(body) == {
            "error": "Missing, unknown or revoked bearer token. Ask the admin for one: anchorgym leaderboard token."
        }
        # a client that sends its whole body at once still reads the answer (the server drains, never resets)
        response = server.submit({"seeds": [0]}, b"x" * 5_000_000)
        assert response.status_code == 401 and response.json()["error"].startswith("Missing, unknown or revoked")
