"""One output folder, one run: an exclusive lock on a result directory.

:class:`RunLock` holds ``fcntl.flock`` on ``<out>/run.lock`` for the whole run and
writes its pid there. A second writer (a second ``anchorgym eval`` or a
``--resume`` of a run still going) fails at once with a one-line error naming the
holder's pid. The kernel drops the lock when its holder dies, however it dies
(SIGKILL included), so a stale lock file left by a dead process never blocks a
later ``--resume``. A run that ends (finished or failed) deletes the file while it
still holds the lock, so a finished result directory holds no ``run.lock``. A process
that opened the file just before it was deleted would then lock a file no longer at
that path, so :meth:`RunLock.acquire` checks, once locked, that its file is still the
one at ``<out>/run.lock`` and starts again if not: two runs never hold "the" lock.
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

from anchorgym.errors import ResultError

LOCK_FILE = "run.lock"


def prepare_out_dir(out: Path) -> None:
    """Create the result directory ``out`` (and its parents), or explain why it cannot be used.

    Raises:
        ResultError: ``out`` is a file, lies under a file, or cannot be created.
    """
    if out.exists() and not out.is_dir():
        raise ResultError(f"--out {out} is a file, not a directory. Choose a directory for the results.")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise unusable(out, error) from error


def unusable(out: Path, error: OSError) -> ResultError:
    """Build the error for a result directory the OS refuses (read-only, no permission, no space...)."""
    reason = error.strerror or type(error).__name__
    return ResultError(f"Cannot write results to {out} ({reason}). Choose a writable --out.")


class RunLock:
    """An exclusive, process-wide lock on a result directory (a context manager).

    Args:
        out: the result directory (must exist).

    Example::

        with RunLock(out):
            ...  # the only writer of out/episodes.jsonl and out/result.json
    """

    def __init__(self, out: Path) -> None:
        self.out = Path(out)
        self.path = self.out / LOCK_FILE
        self.fd: int | None = None

    def acquire(self) -> None:
        """Take the lock without waiting and record this process's pid in the lock file.

        Raises:
            ResultError: another live process holds the lock, or the directory is not writable.
        """
        while self.fd is None:
            fd = self._open_and_lock()
            if _is_at(fd, self.path):
                self.fd = fd
            else:  # the holder finished and deleted the file between our open and our lock: open the new one
                os.close(fd)
        self._write_pid()

    def _open_and_lock(self) -> int:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as error:
            raise unusable(self.out, error) from error
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            os.close(fd)
            if error.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise self._held_error() from None
            raise unusable(self.out, error) from error
        return fd

    def _write_pid(self) -> None:
        assert self.fd is not None
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"{os.getpid()}\n".encode(), 0)
        os.fsync(self.fd)

    def holder(self) -> int | None:
        """Return the pid written in the lock file, or None when it holds none."""
        try:
            text = self.path.read_text(encoding="utf-8").strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None

    def _held_error(self) -> ResultError:
        pid = self.holder()
        who = f"pid {pid}" if pid is not None else "another process"
        return ResultError(
            f"{self.out} is locked by a running evaluation ({who}). Wait for it to finish (or stop it), "
            "then pass --resume to continue it; or choose another --out."
        )

    def release(self) -> None:
        """Delete the lock file and release the lock (the kernel releases it, not the file, when the process dies)."""
        if self.fd is not None:
            try:
                os.unlink(self.path)  # while still locked: see the module docs
            except FileNotFoundError:
                pass
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _is_at(fd: int, path: Path) -> bool:
    """Return whether the open file ``fd`` is the file now at ``path`` (same device and inode)."""
    try:
        here = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (mine.st_dev, mine.st_ino) == (here.st_dev, here.st_ino)
