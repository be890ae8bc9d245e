"""The release: one version, an sdist and a wheel that pass ``twine check``, and the wheel in fresh venvs.

The wheel is built once per session from this checkout (``python -m build --no-isolation``: the build
back-end is already in the dev venv). The slow test installs it with uv into fresh venvs (bare,
``[alfworld]``, ``[webshop]``) and runs what a new user runs first: the README's quickstart,
``anchorgym envs``, a Sokoban evaluation and its report (and, bare, the demo).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib

import anchorgym
from anchorgym.errors import ConfigError
from anchorgym.training.cli import bundled_configs, resolve_config

ROOT = Path(__file__).resolve().parents[1]


def run(args: list[str], **kwargs: object) -> subprocess.CompletedProcess:
    """Run a command; on failure show its output in the assertion."""
    done = subprocess.run(args, capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{' '.join(map(str, args))} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)], timeout=600)
    return out


def _wheel(dist: Path) -> Path:
    (wheel,) = dist.glob("anchorgym-*.whl")
    return wheel


def test_version_is_single_sourced_and_in_the_changelog():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "anchorgym.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", anchorgym.__version__)  # semantic versioning
    releases = re.findall(r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}$", (ROOT / "CHANGELOG.md").read_text(), re.M)
    assert releases[0] == anchorgym.__version__
    assert "## [Unreleased]" in (ROOT / "CHANGELOG.md").read_text()


def test_sdist_and_wheel_pass_twine_check(dist: Path):
    files = sorted(p.name for p in dist.iterdir())
    version = anchorgym.__version__
    assert files == [f"anchorgym-{version}-py3-none-any.whl", f"anchorgym-{version}.tar.gz"]
    done = run([sys.executable, "-m", "twine", "check", "--strict", *map(str, dist.iterdir())], timeout=120)
    assert done.stdout.count("PASSED") == 2


def test_wheel_ships_licence_types_configs_and_templates(dist: Path):
    with zipfile.ZipFile(_wheel(dist)) as wheel:
        names = set(wheel.namelist())
        info = f"anchorgym-{anchorgym.__version__}.dist-info"
        metadata = wheel.read(f"{info}/METADATA").decode()
        licence = wheel.read(f"{info}/licenses/LICENSE").decode()
    assert licence == (ROOT / "LICENSE").read_text() and licence.startswith("MIT License")
    assert "License-Expression: MIT" in metadata and f"Version: {anchorgym.__version__}" in metadata
    assert "anchorgym/py.typed" in names
    configs = {p.name for p in (ROOT / "configs").glob("*.yaml")}
    assert configs and {n.removeprefix("anchorgym/configs/") for n in names if n.startswith("anchorgym/configs/")} == (
        configs
    )
    templates = {"report.html.j2", "report.md.j2", "charts.svg.j2"}
    assert {f"anchorgym/harness/templates/{t}" for t in templates} <= names
    specs = {f"anchorgym/harness/specs/{p.name}" for p in (ROOT / "anchorgym/harness/specs").glob("*.json")}
    assert specs and specs <= names
    assert not [n for n in names if n.startswith(("tests/", "benchmarks/"))]


def test_bundled_configs_are_found_by_name_from_any_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)  # no configs/ here, as for a user of the wheel
    assert bundled_configs() == sorted(p.stem for p in (ROOT / "configs").glob("*.yaml"))
    for name in ("sokoban-tiny-cpu", "sokoban-tiny-cpu.yaml", "configs/sokoban-tiny-cpu.yaml"):
        path = resolve_config(name)
        assert path.read_text() == (ROOT / "configs" / "sokoban-tiny-cpu.yaml").read_text()
    (tmp_path / "mine.yaml").write_text("iterations: 1\n")
    assert resolve_config("mine.yaml") == Path("mine.yaml")
    with pytest.raises(ConfigError, match=r"Config file 'nope' does not exist and is not a bundled config; give a "
                       r"path or one of: alfworld, "):  # fmt: skip
        resolve_config("nope")


def _quickstart() -> str:
    """The README's first Python block, as a user pastes it."""
    return re.search(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)


def _fresh_venv(tmp: Path, name: str, wheel: Path, extra: str | None) -> Path:
    venv = tmp / name
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or "uv"
    run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], timeout=120)
    requirement = f"anchorgym[{extra}] @ {wheel.as_uri()}" if extra else str(wheel)
    run([uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), requirement], timeout=900)
    return venv / "bin"


@pytest.mark.slow
@pytest.mark.parametrize("extra", [None, "alfworld", "webshop"])
def test_the_wheel_in_a_fresh_venv(dist: Path, tmp_path: Path, extra: str | None):
    """Install the wheel alone (plus one extra): quickstart, `anchorgym envs`, an evaluation and its report."""
    bin_ = _fresh_venv(tmp_path, "venv", _wheel(dist), extra)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH"))}
    env["ANCHORGYM_CACHE_DIR"] = str(tmp_path / "cache")  # a new user's empty cache
    work = tmp_path / "work"  # outside the checkout: nothing is imported from the source tree
    work.mkdir()
    python = str(bin_ / "python")
    probe = "import importlib.util as u, anchorgym; print(anchorgym.__file__, [m for m in ('torch', 'matplotlib') "
    probe += "if u.find_spec(m)])"
    where, heavy = run([python, "-c", probe], cwd=work, env=env, timeout=120).stdout.split(" ", 1)
    assert where.startswith(str(tmp_path / "venv"))  # the installed copy, not the checkout
    assert "torch" not in heavy and (extra or heavy.strip() == "[]")  # no torch; a bare install has no matplotlib
    (work / "quickstart.py").write_text(_quickstart())
    run([python, "quickstart.py"], cwd=work, env=env, timeout=300)
    listing = json.loads(run([str(bin_ / "anchorgym"), "envs", "--json"], cwd=work, env=env, timeout=120).stdout)
    deps = {row["id"]: row["dependencies"]["installed"] for row in listing}
    assert deps["anchorgym/Sokoban-v0"] is True and deps["anchorgym/ALFWorld-v0"] is (extra == "alfworld")
    if extra:
        env_id = {"alfworld": "anchorgym/ALFWorld-v0", "webshop": "anchorgym/WebShop-v1"}[extra]
        assert deps[env_id] is True
    run([str(bin_ / "anchorgym"), "envs"], cwd=work, env=env, timeout=120)
    anchorgym_cli = str(bin_ / "anchorgym")
    run([anchorgym_cli, "eval", "sokoban-6x6-1box/smoke@v1", "--policy", "expert", "--out", "run", "--no-progress"],
        cwd=work, env=env, timeout=300)  # fmt: skip
    result = json.loads((work / "run" / "result.json").read_text())
    assert result["metrics"]["success_rate"]["mean"] == 1.0
    run([anchorgym_cli, "report", "run"], cwd=work, env=env, timeout=120)
    assert (work / "run" / "report.html").read_text().count("<svg") == 2
    done = run([anchorgym_cli, "train", "--fields"], cwd=work, env=env, timeout=120)
    assert "estimator" in done.stdout
    if extra is None:  # `make demo`'s evaluations and reports need no extra (the LM part says what it lacks)
        done = run([python, "-m", "anchorgym.harness.demo", "--out", "demo"], cwd=work, env=env, timeout=600)
        assert f"Results and reports (report.md, report.html) are under {work / 'demo'}" in done.stdout
        assert "| expert (demo/test/expert) | 100.0% [98.7, 100.0] |" in done.stdout
        assert (work / "demo" / "test" / "random" / "report.html").is_file()


def _torch_pin() -> list[str]:
    """The dev venv's exact torch (the CPU build) and where pip finds it, so no CUDA build is pulled in."""
    torch = pytest.importorskip("torch")
    links = [f for path in os.environ.get("PIP_FIND_LINKS", "").split() for f in ("--find-links", path)]
    return [*links, f"torch=={torch.__version__}"]


def _venv_with(tmp: Path, wheel: Path, extra: str) -> Path:
    """A fresh venv holding the wheel with ``extra`` (torch pinned to the dev venv's CPU build)."""
    venv = tmp / f"venv-{extra}"
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or "uv"
    run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], timeout=120)
    requirement = f"anchorgym[{extra}] @ {wheel.as_uri()}"
    run([uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), *_torch_pin(), requirement],
        timeout=1800)  # fmt: skip
    return venv / "bin"


def _serve_and_evaluate(bin_: Path, work: Path, env: dict[str, str]) -> None:
    """``anchorgym serve tiny`` in the venv, then ``anchorgym eval`` against it over HTTP."""
    server = subprocess.Popen([str(bin_ / "anchorgym"), "serve", "tiny", "--port", "0", "--threads", "1"], cwd=work,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        line = server.stdout.readline()
        assert line.startswith("Serving 'tiny' at http://127.0.0.1:"), line + server.stderr.read()
        url = line.split(" at ", 1)[1].strip()
        run([str(bin_ / "anchorgym"), "eval", "sokoban-6x6-1box/lm-smoke@v2", "--policy", f"openai:{url}?model=tiny",
             "--max-new-tokens", "8", "--out", "lm", "--no-progress"], cwd=work, env=env, timeout=900)  # fmt: skip
        result = json.loads((work / "lm" / "result.json").read_text())
        assert result["metrics"]["episodes"] == 4 and result["policy"]["spec"].startswith("openai:")
    finally:
        server.terminate()
        server.wait(timeout=60)


@pytest.mark.slow
@pytest.mark.parametrize("extra", ["hf", "train"])
def test_each_documented_extra_runs_its_commands(dist: Path, tmp_path: Path, extra: str):
    """A fresh venv per extra runs that extra's commands: serve (and eval against it) for [hf], train for [train]."""
    bin_ = _venv_with(tmp_path, _wheel(dist), extra)
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["ANCHORGYM_CACHE_DIR"] = str(tmp_path / "cache")  # a new user's empty cache
    _serve_and_evaluate(bin_, work, env)  # [train] holds [hf]: serve works there too
    if extra == "train":
        done = run([str(bin_ / "anchorgym"), "train", "sokoban-tiny-cpu", "--set", "iterations=1", "--set",
                    "output_dir=runs/tiny", "--set", "save_every=1"], cwd=work, env=env, timeout=1200)  # fmt: skip
        assert list((work / "runs" / "tiny" / "checkpoints").glob("iter_*")), done.stdout[-2000:]


@pytest.mark.slow
def test_serve_in_the_bare_wheel_is_one_line(dist: Path, tmp_path: Path):
    bin_ = _fresh_venv(tmp_path, "venv", _wheel(dist), None)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run([str(bin_ / "anchorgym"), "serve", "tiny"], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120)  # fmt: skip
    assert done.returncode == 2 and done.stderr == (
        "error: The optional dependency 'torch' is not installed. Install it with: pip install 'anchorgym[hf]'\n"
    )
