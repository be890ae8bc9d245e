"""Entry point that runs :func:`suite_generate.main` and exits at once.

After verifying, the process holds hundreds of AppWorld in-memory databases; a
normal interpreter exit tears them down one by one, which took over 30 minutes
on a 2-core machine. Everything is written and flushed before ``os._exit``.
Kept apart from ``suite_generate.py`` because it does not change what is
generated (the suite's folder name is a digest of the generating sources).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from suite_generate import main

    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
