"""The isolated AppWorld virtual environment.

``appworld`` pins pydantic<2 and other old versions, so it never enters the
main venv: it lives in its own venv (``$ANCHORGYM_APPWORLD_VENV``, default
``~/.cache/anchorgym/appworld-venv``), which :func:`ensure_venv` creates with
pip and ``appworld install`` (that unpacks the app code shipped, encrypted,
inside the wheel; it needs no network). Worker processes run its Python.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from anchorgym.errors import DependencyError

APPWORLD_REQUIREMENT = "appworld==0.1.3.post1"
READY_STAMP = ".anchorgym-ready"


def cache_dir() -> Path:
    """Return anchorgym's cache folder (``$ANCHORGYM_CACHE`` or ``~/.cache/anchorgym``)."""
    return Path(os.environ.get("ANCHORGYM_CACHE", Path.home() / ".cache" / "anchorgym"))


def venv_dir() -> Path:
    """Return where the AppWorld venv lives."""
    return Path(os.environ.get("ANCHORGYM_APPWORLD_VENV", cache_dir() / "appworld-venv"))


def venv_python() -> Path | None:
    """Return the AppWorld venv's Python when the venv is fully built, else None."""
    directory = venv_dir()
    stamp = directory / READY_STAMP
    python = directory / "bin" / "python"
    if stamp.exists() and stamp.read_text().strip() == APPWORLD_REQUIREMENT and python.exists():
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
    """Build the AppWorld venv if needed (idempotent); return its Python.

    Raises:
        DependencyError: pip could not install appworld (e.g. no access to PyPI).
    """
    python = venv_python()
    if python is not None:
        return python
    directory = venv_dir()
    say = (lambda _message: None) if quiet else (lambda message: print(message, file=sys.stderr))
    say(f"Building the AppWorld venv at {directory} ...")
    if not (directory / "bin" / "python").exists():
        directory.parent.mkdir(parents=True, exist_ok=True)
        _run([_base_python(), "-m", "venv", str(directory)], f"create a venv at {directory}")
    pip = [str(directory / "bin" / "python"), "-m", "pip", "install", "-q"]
    _run([*pip, APPWORLD_REQUIREMENT], f"pip install {APPWORLD_REQUIREMENT} into {directory}")
    _run([str(directory / "bin" / "appworld"), "install"], "unpack AppWorld's app code (appworld install)")
    (directory / READY_STAMP).write_text(APPWORLD_REQUIREMENT + "\n")
    say("AppWorld venv ready.")
    return directory / "bin" / "python"
