"""The harness tests' own real envs (``harness_faultyenv``) are importable by entry point, here and in workers."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from harness_faultyenv import register_faulty_env  # noqa: E402

register_faulty_env()
