"""anchorgym's user cache folder: environment data, indexes, the AppWorld venv and converted models."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "ANCHORGYM_CACHE_DIR"


def cache_root() -> Path:
    """Return ``$ANCHORGYM_CACHE_DIR``, else ``$XDG_CACHE_HOME/anchorgym``, else ``~/.cache/anchorgym``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "anchorgym"
