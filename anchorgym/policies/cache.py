"""Where built or converted models are cached, and atomic directory publishing."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from anchorgym.cache import cache_root

READY_MARKER = ".anchorgym-ready"


def model_cache_dir(name: str) -> Path:
    """Return the cache directory for model ``name`` (not created)."""
    return cache_root() / "models" / name


def is_ready(path: Path) -> bool:
    """Return whether ``path`` holds a completely written model directory."""
    return (path / READY_MARKER).is_file()


def publish_dir(path: Path, write: Callable[[Path], None]) -> Path:
    """Build a directory with ``write(tmp_dir)`` and move it to ``path`` atomically.

    A concurrent builder that loses the race keeps the winner's directory, so
    readers never see a half-written model.
    """
    if is_ready(path):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}-", dir=path.parent))
    try:
        write(tmp)
        (tmp / READY_MARKER).write_text("ok\n")
        if path.exists() and not is_ready(path):
            shutil.rmtree(path)  # left over from an interrupted older build
        os.replace(tmp, path)
    except OSError:
        if not is_ready(path):
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path
