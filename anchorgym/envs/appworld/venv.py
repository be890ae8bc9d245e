"""The isolated AppWorld virtual environment.

``appworld`` pins pydantic<2 and other old versions, so it never enters the
main venv: it lives in its own venv (``$ANCHORGYM_APPWORLD_VENV``, default
``~/.cache/anchorgym/appworld-venv``), which :func:`ensure_venv` creates with
pip (pinned to the tested package set in ``constraints.txt``) and ``appworld
install`` (that unpacks the app code shipped, encrypted, inside the wheel; it
needs no network). Worker processes run its Python.

Building is safe to repeat and to race: one build at a time holds a file lock,
the venv counts as ready only once a stamp naming the requirement and the
constraints is written last, and a build of ours that was interrupted is wiped
and started again (a venv the user made is installed into, never wiped).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from anchorgym.cache import cache_root
from anchorgym.errors import DependencyError

APPWORLD_REQUIREMENT = "appworld==0.1.3.post1"
CONSTRAINTS = Path(__file__).resolve().parent / "constraints.txt"
READY_STAMP = ".anchorgym-ready"
BUILD_MARK = ".anchorgym-building"  # written when we create the venv, so a half-built one is known as ours


def cache_dir() -> Path:
    """Return anchorgym's cache folder (see :func:`anchorgym.cache.cache_root`)."""
    return cache_root()


def venv_dir() -> Path:
    """Return where the AppWorld venv lives."""
    return Path(os.environ.get("ANCHORGYM_APPWORLD_VENV", cache_dir() / "appworld-venv"))


def ready_stamp() -> str:
    """Return what the ready stamp of a venv built from the current requirement and constraints holds."""
    digest = hashlib.sha256(CONSTRAINTS.read_bytes()).hexdigest()[:12]
    return f"{APPWORLD_REQUIREMENT} constraints={digest}"


def venv_python() -> Path | None:
    """Return the AppWorld venv's Python when the venv is fully built, else None."""
    directory = venv_dir()
    stamp = directory / READY_STAMP
    python = directory / "bin" / "python"
    if stamp.exists() and stamp.read_text().strip() == ready_stamp() and python.exists():
        return python
    return None


def require_python() -> Path:
    """Return the AppWorld venv's Python or raise a helpful :class:`DependencyError`."""
    python = venv_python()
    if python is None:
        raise DependencyError(
            f"The AppWorld venv is not built at {venv_dir()}. Build it with: anchorgym data appworld "
            "(or make appworld-venv); it needs pip access to PyPI once."
        )
    return python


def _base_python() -> str:
    """Return a Python >= 3.11 (appworld's minimum) to create the venv with."""
    if sys.version_info >= (3, 11):
        return sys.executable
    for name in ("python3.12", "python3.11", "python3.13"):
        if shutil.which(name):
            return str(shutil.which(name))
    raise DependencyError("AppWorld needs Python >= 3.11 and none was found on PATH. Install python3.11.")


def _run(command: list[str], what: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise DependencyError(f"Could not {what} (exit {result.returncode}): {' | '.join(tail)}")


def ensure_venv(quiet: bool = False) -> Path:
    """Build the AppWorld venv if needed (idempotent, one build at a time); return its Python.

    Raises:
        DependencyError: pip could not install appworld (e.g. no access to PyPI).
    """
    python = venv_python()
    if python is not None:
        return python
    directory = venv_dir()
    directory.parent.mkdir(parents=True, exist_ok=True)
    with open(directory.with_name(directory.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a concurrent build (make test beside anchorgym data) waits here
        python = venv_python()  # the other build may have finished it
        if python is None:
            python = _build(directory, quiet)
    return python


def _build(directory: Path, quiet: bool) -> Path:
    say = (lambda _message: None) if quiet else (lambda message: print(message, file=sys.stderr))
    say(f"Building the AppWorld venv at {directory} ...")
    python = directory / "bin" / "python"
    ours = (directory / BUILD_MARK).exists()
    if not python.exists() and not ours and directory.is_dir() and any(directory.iterdir()):
        raise DependencyError(
            f"{directory} is not empty and holds no venv (no bin/python), so anchorgym will not build over it. "
            "Delete it, or set ANCHORGYM_APPWORLD_VENV to a new folder."
        )
    if not python.exists() or ours:  # absent, or our own interrupted build: start afresh
        _run([_base_python(), "-m", "venv", "--clear", str(directory)], f"create a venv at {directory}")
        (directory / BUILD_MARK).touch()
    (directory / READY_STAMP).unlink(missing_ok=True)
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    _run([*pip, APPWORLD_REQUIREMENT, "-c", str(CONSTRAINTS)], f"pip install {APPWORLD_REQUIREMENT} into {directory}")
    _run([str(directory / "bin" / "appworld"), "install"], "unpack AppWorld's app code (appworld install)")
    (directory / READY_STAMP).write_text(ready_stamp() + "\n")
    (directory / BUILD_MARK).unlink(missing_ok=True)
    say("AppWorld venv ready.")
    return python
