"""The README's vector-API block runs as pasted: as a script without a main guard, and piped to ``python -``."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from anchorgym.envs.backends import _guarded

README = Path(__file__).resolve().parents[2] / "README.md"


def quickstart() -> str:
    """The first python block under the README's "The vector API" heading."""
    section = README.read_text().split("## The vector API", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def check_output(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stderr
    anchors, won = result.stdout.strip().split(") (")
    anchors = re.findall(r"'([0-9a-f]{32})'", anchors)
    assert len(anchors) == 8 and all(anchors[i] == anchors[i + 1] for i in range(0, 8, 2))  # groups of 2
    assert won == "False, False, True, True, False, False, False, False)"  # group 1 wins: not masked away


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_quickstart_runs_as_an_unguarded_script(tmp_path):
    script = tmp_path / "quickstart.py"
    script.write_text(quickstart())
    run = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=240)
    check_output(run)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_quickstart_runs_piped_to_python(tmp_path):
    run = subprocess.run(
        [sys.executable, "-"], input=quickstart(), cwd=tmp_path, capture_output=True, text=True, timeout=240
    )
    check_output(run)


def test_main_guard_detection(tmp_path):
    script = tmp_path / "script.py"
    script.write_text('import os\nx = 1\nif __name__ == "__main__":\n    y = 2\n    z = 3\nw = 4\n')
    assert [_guarded(str(script), line) for line in range(1, 7)] == [False, False, True, True, True, False]
    assert _guarded(str(tmp_path / "missing.py"), 1)  # cannot tell: multiprocessing's own behaviour
