"""Your own envs and policies on the command line: ``--import MODULE`` and installed entry points.

The env module, its benchmark spec, the policy module and the commands are taken from the READMEs
exactly as written, so the documented steps are what is tested. Entry points are real: a
``.dist-info`` folder with ``entry_points.txt`` on ``PYTHONPATH``, read by ``importlib.metadata``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ENVS_README = REPO / "anchorgym" / "envs" / "README.md"
POLICIES_README = REPO / "anchorgym" / "policies" / "README.md"
ANCHORGYM = Path(sys.executable).with_name("anchorgym")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def section(path: Path, heading: str) -> str:
    """Return the text of the Markdown section whose heading line is ``heading``, up to the next heading."""
    text = path.read_text(encoding="utf-8")
    start = text.index(f"\n{heading}\n") + len(heading) + 2
    level = heading.split(" ")[0]
    prose = FENCE.sub(lambda m: " " * len(m.group(0)), text[start:])  # a "# comment" in code is no heading
    following = [m.start() for m in re.finditer(rf"^#{{1,{len(level)}}} ", prose, re.MULTILINE)]
    return text[start : start + following[0]] if following else text[start:]


def blocks(text: str, language: str) -> list[str]:
    """Return the fenced code blocks of ``language`` in ``text``."""
    return [body for lang, body in FENCE.findall(text) if lang == language]


ENV_SECTION = section(ENVS_README, "## Your own env: `--import` and entry points")
POLICY_SECTION = section(POLICIES_README, "### A named back-end: `--import` and entry points")


def documented_files() -> dict[str, str]:
    """The files the READMEs tell the user to save, by name."""
    (env_module,) = blocks(ENV_SECTION, "python")
    (spec,) = blocks(ENV_SECTION, "json")
    (policy_module,) = blocks(POLICY_SECTION, "python")
    assert env_module.startswith("# my_coin.py") and policy_module.startswith("# my_policy.py")
    return {"my_coin.py": env_module, "coin.json": spec, "my_policy.py": policy_module}


def commands(text: str) -> list[str]:
    """The command lines of the ``bash`` blocks of ``text``."""
    return [line for block in blocks(text, "bash") for line in block.splitlines() if line.strip()]


@pytest.fixture
def workdir(tmp_path):
    """A folder holding the documented files, as a user would have saved them."""
    for name, text in documented_files().items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for an ``anchorgym`` subprocess, without any inherited ANCHORGYM_IMPORT."""
    env = {k: v for k, v in os.environ.items() if k not in ("ANCHORGYM_IMPORT", "PYTHONPATH")}
    return {**env, **extra}


def run(line: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """Run a documented ``anchorgym ...`` line with this venv's ``anchorgym`` script."""
    argv = shlex.split(line)
    assert argv[0] == "anchorgym", line
    return subprocess.run(
        [str(ANCHORGYM), *argv[1:]], cwd=cwd, env=clean_env(**env), capture_output=True, text=True, timeout=300
    )


def success_rate(folder: Path, policy: str) -> float:
    result = json.loads((folder / "runs" / "eval" / "coin_test_v1" / policy / "result.json").read_text())
    assert result["metrics"]["episodes"] == 4
    return result["metrics"]["success_rate"]["mean"]


def test_the_env_module_runs_as_a_script(workdir):
    out = subprocess.run(
        [sys.executable, "my_coin.py"], cwd=workdir, env=clean_env(), capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("('It shows tails.', 1.0, True, False, {'anchor': ")


def test_the_policy_module_runs_as_a_script(workdir):
    out = subprocess.run(
        [sys.executable, "my_policy.py"], cwd=workdir, env=clean_env(), capture_output=True, text=True, check=True
    )
    assert out.stdout == "['heads']\n"


def test_the_documented_env_commands_run_as_pasted(workdir):
    lines = commands(ENV_SECTION)
    assert lines == [
        "anchorgym --import my_coin envs",
        "anchorgym --import my_coin eval coin.json --policy expert",
        "anchorgym eval coin.json --policy random --import my_coin --backend process --num-workers 2",
    ]
    results = [run(line, workdir) for line in lines]
    for line, result in zip(lines, results, strict=True):
        assert result.returncode == 0, f"{line}: {result.stderr}"
    assert any(row.split()[:2] == ["mine/Coin-v0", "test"] for row in results[0].stdout.splitlines())
    assert success_rate(workdir, "expert") == 1.0
    result = json.loads((workdir / "runs/eval/coin_test_v1/random/result.json").read_text())
    assert result["run"]["backend"] == "ProcessBackend"  # the spawned workers imported my_coin too


def test_the_documented_policy_command_runs_as_pasted(workdir):
    (line,) = commands(POLICY_SECTION)
    result = run(line, workdir)
    assert result.returncode == 0, result.stderr
    assert success_rate(workdir, "first") == 0.5  # "heads" wins tasks 0 and 2 of 4


def test_without_the_module_the_env_is_unknown(workdir):
    result = run("anchorgym eval coin.json --policy expert", workdir)
    assert result.returncode == 2
    assert result.stderr.startswith("error: Unknown environment 'mine/Coin-v0'.")
    assert (
        result.stderr.count("\n") == 1 and "Register your own with --import MODULE or an entry point." in result.stderr
    )


def test_a_missing_import_is_a_one_line_error(workdir):
    result = run("anchorgym --import no_such_module envs", workdir)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "error: Cannot import module 'no_such_module' named by --import or $ANCHORGYM_IMPORT: no module "
        "'no_such_module' on the path. Check the name, then run from the folder holding it or add that "
        "folder to PYTHONPATH.\n"
    )


def test_an_import_that_raises_names_the_file_and_line(workdir):
    (workdir / "bad_module.py").write_text("x = 1\ny = 1 / 0\n")
    result = run("anchorgym envs --import bad_module", workdir)
    assert result.returncode == 2
    assert result.stderr == (
        f"error: Importing module 'bad_module' failed: ZeroDivisionError: division by zero "
        f"(at {workdir / 'bad_module.py'}:2).\n"
    )


def test_anchorgym_import_variable_is_read(workdir):
    result = run("anchorgym eval coin.json --policy first", workdir, ANCHORGYM_IMPORT="my_coin, my_policy")
    assert result.returncode == 0, result.stderr
    assert success_rate(workdir, "first") == 0.5


def install_distribution(site: Path, name: str, entry_points: str) -> None:
    """Install a distribution the way pip leaves it: a ``NAME-VERSION.dist-info`` folder with its metadata."""
    info = site / f"{name.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(entry_points)


@pytest.fixture
def site(tmp_path, workdir):
    """A site folder with the documented modules installed as a distribution with entry points."""
    folder = tmp_path / "site"
    folder.mkdir()
    for name in ("my_coin.py", "my_policy.py"):
        shutil.move(workdir / name, folder / name)
    (folder / "coin_hooks.py").write_text("def register_policies():\n    import my_policy  # noqa: F401\n")
    entry_points = "[anchorgym.envs]\ncoin = my_coin\n\n[anchorgym.policies]\nfirst = coin_hooks:register_policies\n"
    install_distribution(folder, "coin-plugins", entry_points)
    return folder


def test_installed_entry_points_register_envs_and_policies(site, workdir):
    listing = run("anchorgym envs --json", workdir, PYTHONPATH=str(site))
    assert listing.returncode == 0, listing.stderr
    coin = next(row for row in json.loads(listing.stdout) if row["id"] == "mine/Coin-v0")
    assert (coin["entry_point"], coin["splits"], coin["ready"]) == ("my_coin:CoinEnv", ["test"], True)
    result = run("anchorgym eval coin.json --policy first", workdir, PYTHONPATH=str(site))
    assert result.returncode == 0, result.stderr
    assert success_rate(workdir, "first") == 0.5


def test_a_broken_entry_point_is_skipped_and_named(site, workdir):
    install_distribution(site, "broken-plugin", "[anchorgym.envs]\nbroken = no_such_plugin_module\n")
    (site / "my_coin.py").unlink()  # the coin entry point breaks too
    warning = (
        "anchorgym: plugin 'broken' (no_such_plugin_module) of broken-plugin 0.1 in group anchorgym.envs failed "
        "to load: ModuleNotFoundError: No module named 'no_such_plugin_module'"
    )
    listing = run("anchorgym envs", workdir, PYTHONPATH=str(site))
    assert listing.returncode == 0 and "anchorgym/Sokoban-v1" in listing.stdout
    assert warning in listing.stderr
    result = run("anchorgym eval coin.json --policy expert", workdir, PYTHONPATH=str(site))
    assert result.returncode == 2
    error = result.stderr.splitlines()[-1]
    assert error.startswith("error: Unknown environment 'mine/Coin-v0'.")
    assert "Note: plugin '" in error  # both failures follow, in the order the distributions were found
    assert (
        "plugin 'coin' (my_coin) of coin-plugins 0.1 in group anchorgym.envs failed to load: "
        "ModuleNotFoundError: No module named 'my_coin'. Fix or uninstall the distribution that provides it."
    ) in error
    assert warning[len("anchorgym: ") :] in error
