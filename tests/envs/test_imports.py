"""Making envs stays light: no torch, Ray, Flask or env engines are imported."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ["torch", "ray", "flask", "transformers", "alfworld", "textworld", "selenium", "vllm"]

SCRIPT = """
import json, sys
import anchorgym
envs = anchorgym.make_vec("anchorgym/Sokoban-v0", num_tasks=2, group_size=2)
envs.reset(seed=0)
anchorgym.list_envs()
print(json.dumps(sorted(m for m in sys.argv[1:] if m in sys.modules)))
"""


def test_sokoban_and_list_envs_import_nothing_heavy():
    out = subprocess.run([sys.executable, "-c", SCRIPT, *HEAVY], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


IMPORT_ONLY = """
import json, sys
import anchorgym
print(json.dumps(sorted(m for m in sys.argv[1:] if m in sys.modules)))
"""


def test_import_anchorgym_registers_envs_without_importing_anything_heavy():
    out = subprocess.run([sys.executable, "-c", IMPORT_ONLY, *HEAVY], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
