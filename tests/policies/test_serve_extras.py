"""``anchorgym serve`` needs exactly the ``hf`` extra: a missing module is one line naming it (issue #28)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[2]
WITHOUT = "import sys; sys.modules[{name!r}] = None; from anchorgym.cli import main; sys.exit(main({argv!r}))"


@pytest.mark.parametrize("module", ["torch", "flask", "transformers"])
def test_serve_without_a_module_of_the_hf_extra_is_one_line(module, tmp_path):
    code = WITHOUT.format(name=module, argv=["serve", "tiny", "--port", "0"])
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 2
    assert done.stderr == (
        f"error: The optional dependency {module!r} is not installed. Install it with: pip install 'anchorgym[hf]'\n"
    )  # was a 24-line traceback (torch) or No module named 'werkzeug' after installing [hf]


def test_the_hf_extra_holds_what_serve_imports():
    from anchorgym.policies.cli import SERVE_NEEDS

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    names = {req.split(">")[0].split("=")[0].split("[")[0].strip().lower() for req in extras["hf"]}
    assert set(SERVE_NEEDS) <= names
    assert "anchorgym[hf]" in extras["train"]  # train's commands load models the same way
