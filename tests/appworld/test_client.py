"""The worker protocol and process handling, with the worker run by the main venv's Python.

``server.py`` imports appworld only when a world is opened, so greeting, ping,
error replies, crashes and memory recycling can be checked without AppWorld.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from anchorgym.envs.appworld.client import WorldWorker
from anchorgym.errors import WorkerError


@pytest.fixture
def worker():
    w = WorldWorker(Path(sys.executable), request_timeout_s=30, max_rss_bytes=1 << 40)
    yield w
    w.close()


def test_ping_reports_the_worker_process(worker):
    reply = worker.request("ping")
    assert reply["pid"] == worker.pid and reply["rss"] > 0


def test_errors_in_a_request_come_back_without_killing_the_worker(worker):
    pid = worker.request("ping")["pid"]
    with pytest.raises(WorkerError, match="AppWorld worker failed on 'execute': RuntimeError: no world is open"):
        worker.request("execute", code="print(1)")
    with pytest.raises(WorkerError, match="failed on 'nope': AttributeError"):
        worker.request("nope")
    assert worker.request("ping")["pid"] == pid


def test_a_killed_worker_is_reported_and_replaced(worker):
    pid = worker.request("ping")["pid"]
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(WorkerError, match=r"AppWorld worker exited \(code -9\) during 'ping'"):
        worker.request("ping")
    assert worker.request("ping")["pid"] not in (pid, None)


def test_worker_is_recycled_when_its_memory_grows_past_the_limit(worker):
    pid = worker.request("ping")["pid"]
    assert worker.recycle_if_large() is False
    worker.max_rss_bytes = 1
    assert worker.recycle_if_large() is True and worker.pid is None and worker.restarts == 1
    assert worker.request("ping")["pid"] != pid
