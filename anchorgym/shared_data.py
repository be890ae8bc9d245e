"""The shared benchmark data folder a source checkout keeps beside itself (``../shared/data``).

Envs look there last, after the user's own folders and the user cache. Outside a
source checkout (a wheel in ``site-packages``) there is no such folder, so it is
neither searched nor named in error messages, unless ``$ANCHORGYM_SHARED_DATA``
points at one.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

SHARED_DATA_ENV = "ANCHORGYM_SHARED_DATA"
PACKAGE_ROOT = Path(__file__).resolve().parent
_PROJECT_NAME = re.compile(r'^name\s*=\s*"anchorgym"\s*$', re.MULTILINE)


def source_checkout() -> Path | None:
    """Return the repository root when anchorgym runs from a source checkout, else None.

    A checkout is recognised by anchorgym's own ``pyproject.toml`` beside the package.
    """
    root = PACKAGE_ROOT.parent
    pyproject = root / "pyproject.toml"
    try:
        text = pyproject.read_text(encoding="utf-8")
    except OSError:
        return None
    return root if _PROJECT_NAME.search(text) else None


def shared_data_dir() -> Path | None:
    """Return ``$ANCHORGYM_SHARED_DATA``, else ``../shared/data`` beside a source checkout, else None."""
    if os.environ.get(SHARED_DATA_ENV):
        return Path(os.environ[SHARED_DATA_ENV]).expanduser()
    root = source_checkout()
    return root.parent / "shared" / "data" if root is not None else None


def shared_data_candidates(*parts: str) -> list[Path]:
    """Return ``[shared_data_dir() / parts...]``, or ``[]`` where there is no shared data folder."""
    base = shared_data_dir()
    return [base.joinpath(*parts)] if base is not None else []
