"""The env's side of the world worker: a subprocess in the AppWorld venv, spoken to in JSON lines.

One :class:`WorldWorker` per env, reused across episodes (opening a task
closes the previous world). Every request has a deadline: a worker that does
not answer in time is killed and the request raises :class:`WorkerError`, as
does a worker that dies; the env then ends only that episode, and the next
request starts a fresh worker. :meth:`WorldWorker.recycle_if_large` restarts a
worker whose memory grew past its limit, between episodes.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from anchorgym.errors import WorkerError

SERVER = Path(__file__).resolve().parent / "worker" / "server.py"
START_TIMEOUT_S = 180.0  # importing appworld and loading a task's databases, on a busy machine
STDERR_TAIL_CHARS = 1500


class WorldWorker:
    """A world worker process.

    Args:
        python: the AppWorld venv's Python.
        request_timeout_s: deadline for an ``execute``/``evaluate`` reply.
        max_rss_bytes: :meth:`recycle_if_large` restarts the worker above this.
        memory_cap_bytes: the worker's address-space limit (0: none); an allocation past it fails
            inside the world with ``MemoryError`` instead of exhausting the machine.
    """

    def __init__(self, python: Path, request_timeout_s: float, max_rss_bytes: int, memory_cap_bytes: int = 0) -> None:
        self.python = python
        self.request_timeout_s = request_timeout_s
        self.max_rss_bytes = max_rss_bytes
        self.memory_cap_bytes = memory_cap_bytes
        self.process: subprocess.Popen | None = None
        self.last_rss = 0
        self.restarts = 0
        self._buffer = b""
        self._workdir = tempfile.mkdtemp(prefix="anchorgym-appworld-worker-")  # AppWorld's cwd (.env lookups)
        self._log = open(os.path.join(self._workdir, "worker.log"), "w+b")  # noqa: SIM115 - lives with the worker

    @property
    def pid(self) -> int | None:
        """The worker's process id, or None when it is not running."""
        return self.process.pid if self.process is not None else None

    def request(self, op: str, timeout_s: float | None = None, **fields: Any) -> dict[str, Any]:
        """Send one request and return the reply's fields.

        Raises:
            WorkerError: the worker died, did not answer within the deadline
                (it is then killed), or reported an error.
        """
        if self.process is not None and self.process.poll() is not None:
            raise self._died(op)  # died since the last request (its world is lost); the next one restarts
        self._ensure_started()
        line = json.dumps({"op": op, **fields}) + "\n"
        try:
            self.process.stdin.write(line.encode())
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            raise self._died(op) from None
        reply = self._read_reply(op, timeout_s or self.request_timeout_s)
        if not reply.pop("ok", False):
            raise WorkerError(f"AppWorld worker failed on {op!r}: {reply.get('error', 'no message')}")
        self.last_rss = int(reply.get("rss", self.last_rss))
        return reply

    def recycle_if_large(self) -> bool:
        """Restart the worker when its last reported memory exceeds the limit; return whether it did."""
        if self.process is None or self.last_rss <= self.max_rss_bytes:
            return False
        self.close()
        self.restarts += 1
        return True

    def close(self) -> None:
        """Stop the worker process at once.

        Its world lives in memory with nothing to save, and a worker left to exit on EOF takes
        seconds (closing AppWorld, tearing IPython down): a vector backend gives a host of many
        envs only seconds to close them all, and recycling should not wait either.
        """
        if self.process is None:
            return
        process, self.process = self.process, None
        self._buffer = b""
        process.kill()
        process.wait()
        for pipe in (process.stdin, process.stdout):
            try:
                pipe.close()
            except OSError:  # unflushed input to a dead process
                pass

    def __del__(self) -> None:
        try:
            self.close()
            self._log.close()
            shutil.rmtree(self._workdir, ignore_errors=True)
        except Exception:  # noqa: BLE001 - interpreter shutdown may have torn modules down already
            pass

    def _ensure_started(self) -> None:
        if self.process is not None:
            return
        self._log.seek(0)
        self._log.truncate()
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"}
        self.process = subprocess.Popen(
            [str(self.python), str(SERVER), "--memory-cap-bytes", str(self.memory_cap_bytes)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            cwd=self._workdir,
            env=env,
        )
        self._buffer = b""
        self._read_reply("start", START_TIMEOUT_S)  # the worker greets once it is up

    def _read_reply(self, op: str, timeout_s: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    self.close()
                    raise WorkerError(
                        f"AppWorld worker did not answer {op!r} within {timeout_s:.0f}s; it was killed "
                        "(code that hangs and ignores AppWorld's own timeout does this)."
                    )
                chunk = os.read(self.process.stdout.fileno(), 1 << 16)
                if not chunk:
                    raise self._died(op)
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return json.loads(line)

    def _died(self, op: str) -> WorkerError:
        code = self.process.wait() if self.process is not None else None
        self.close()  # reaped already: this only releases its pipes
        tail = Path(self._log.name).read_text(errors="replace")[-STDERR_TAIL_CHARS:].strip()
        return WorkerError(f"AppWorld worker exited (code {code}) during {op!r}. Its last output:\n{tail}")
