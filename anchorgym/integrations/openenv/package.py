"""``anchorgym env package ENV_ID OUT_DIR``: an OpenEnv package (``openenv.yaml``, server, Dockerfile) for one env.

The folder it writes is what OpenEnv's tools expect of an environment package:

* ``openenv.yaml``: the manifest ``openenv validate`` and ``openenv push`` read (name, version, the FastAPI app,
  the port, and the ``validation:`` block, whose ``declared_tools`` are the server's MCP tools);
* ``pyproject.toml``: the ``server`` script (``server.app:main``) and the dependency on ``anchorgym[openenv,EXTRA]``,
  taken from the wheel in ``wheels/`` by ``uv`` (so ``uv run server`` in the folder, and OpenEnv's
  ``from_env(..., use_docker=False, project_path=FOLDER)``, serve it without anchorgym on an index);
* ``server/app.py``: the app, :func:`~anchorgym.integrations.openenv.server.build_app` of the env with the
  package's split, step limit and arguments; ``python -m server.app`` (or ``uv run server``) serves it;
* ``Dockerfile``: ``python:3.11-slim`` that installs anchorgym from the wheel in ``wheels/`` (with the env's
  extra) and the env's data from ``data.tar.gz``, so the image needs no anchorgym download and no data
  download at run time; with ``--offline`` every dependency's wheel is in ``wheels/`` too and the image
  builds with ``pip install --no-index``. The web UI (OpenEnv's ``/web``) is on;
* ``README.md``: how to build, run, validate and publish it.

The env name in OpenEnv's routes is URL-safe (:func:`~anchorgym.integrations.openenv.server.openenv_name`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from anchorgym import __version__
from anchorgym.envs.registry import env_info
from anchorgym.errors import ConfigError, unknown
from anchorgym.integrations.openenv.mcp import TOOL_NAMES
from anchorgym.integrations.openenv.server import openenv_name

PORT = 8000
DATA_DIR = "/data"
"""Where the Dockerfile unpacks the data archive (the env's ``data_dir``)."""


def write_package(
    env_id: str,
    out_dir: str | Path,
    split: str | None = None,
    env_kwargs: dict[str, Any] | None = None,
    wheel: str | Path | None = None,
    data_dir: str | Path | None = None,
    max_sessions: int = 64,
    reward_range: tuple[float, float] = (-100.0, 100.0),
    offline: bool = False,
) -> Path:
    """Write the OpenEnv package of ``env_id`` into ``out_dir`` (which must be empty or absent).

    Args:
        env_id: registered anchorgym env id.
        out_dir: the package folder to create.
        split: the task split the server plays (default: the env's first).
        env_kwargs: env constructor arguments (``max_steps``...); ``data_dir`` is set by the package.
        wheel: the anchorgym wheel to install in the image (default: built from this source tree).
        data_dir: the env's data folder, packed into ``data.tar.gz`` (default: none; envs that need data need it).
        max_sessions: concurrent sessions the server takes.
        reward_range: the per-step reward bounds declared to ``openenv validate``.
        offline: also put every dependency's wheel in ``wheels/`` so the image builds without an index.

    Returns:
        The package folder.

    Raises:
        ConfigError: ``out_dir`` is not empty, the wheel or data folder is missing, or no wheel can be built.
        UnknownNameError: unknown env id or split.
    """
    info = env_info(env_id)
    split = split or info.splits[0]
    if split not in info.splits:
        raise unknown(f"split of {env_id}", split, info.splits)
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} is not empty; give a new folder for the package.")
    kwargs = dict(env_kwargs or {})
    if data_dir is not None:
        if not Path(data_dir).is_dir():
            raise ConfigError(f"--data-dir {data_dir} is not a folder; give the env's data folder.")
        kwargs["data_dir"] = DATA_DIR
    extras = ",".join(e for e in ("openenv", info.extra) if e)
    staging = Path(tempfile.mkdtemp(prefix=".anchorgym-package-", dir=out.parent if out.parent.exists() else None))
    try:
        (staging / "server").mkdir()
        (staging / "wheels").mkdir()
        wheel_name = _wheel(wheel, staging / "wheels")
        if offline:
            _dependency_wheels(staging / "wheels" / wheel_name, extras, staging / "wheels")
        if data_dir is not None:
            with tarfile.open(staging / "data.tar.gz", "w:gz") as archive:
                archive.add(str(data_dir), arcname=".")
        name = openenv_name(env_id)
        files = {
            "openenv.yaml": _manifest(name, env_id, reward_range),
            "pyproject.toml": _pyproject(name, extras, wheel_name),
            "server/__init__.py": "",
            "server/app.py": _app(env_id, split, kwargs, max_sessions),
            "Dockerfile": _dockerfile(wheel_name, extras, data_dir is not None, offline),
            ".dockerignore": "__pycache__\n*.pyc\n.venv\n",
            "README.md": _readme(name, env_id, split),
        }
        for path, text in files.items():
            (staging / path).write_text(text, encoding="utf-8")
        out.mkdir(parents=True, exist_ok=True)
        for item in staging.iterdir():  # the folder appears whole, or not at all
            item.rename(out / item.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def _wheel(wheel: str | Path | None, folder: Path) -> str:
    """Copy the given wheel, or build one from this source tree, into ``folder``; return its file name."""
    if wheel is not None:
        path = Path(wheel)
        if not (path.is_file() and path.name.startswith("anchorgym-") and path.suffix == ".whl"):
            raise ConfigError(f"--wheel {wheel} is not an anchorgym wheel file (anchorgym-VERSION-...whl).")
        shutil.copy2(path, folder / path.name)
        return path.name
    source = Path(__file__).resolve().parents[3]
    if not (source / "pyproject.toml").is_file():
        raise ConfigError(
            "anchorgym is not installed from a source tree, so no wheel can be built here. Pass --wheel "
            "anchorgym-VERSION-py3-none-any.whl (pip download anchorgym --no-deps)."
        )
    with tempfile.TemporaryDirectory(prefix="anchorgym-wheel-") as tree:  # never write build/ into the source
        for name in ("pyproject.toml", "README.md", "LICENSE"):
            if (source / name).is_file():
                shutil.copy2(source / name, Path(tree) / name)
        shutil.copytree(source / "anchorgym", Path(tree) / "anchorgym", ignore=shutil.ignore_patterns("__pycache__"))
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q"]
        command += ["--disable-pip-version-check", "-w", str(folder)]
        done = subprocess.run([*command, tree], capture_output=True, text=True)
    built = sorted(folder.glob("anchorgym-*.whl"))
    if done.returncode != 0 or not built:
        raise ConfigError(f"Building the anchorgym wheel failed: {done.stderr.strip()[-500:]}. Pass --wheel instead.")
    return built[0].name


def _dependency_wheels(wheel: Path, extras: str, folder: Path) -> None:
    """Put the wheels of every dependency of ``wheel[extras]`` into ``folder`` (for ``--offline`` images)."""
    command = [sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", "-d", str(folder)]
    command += ["--python-version", "3.11", "--platform", "manylinux2014_x86_64", f"{wheel}[{extras}]"]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise ConfigError(f"Downloading the dependencies' wheels failed: {done.stderr.strip()[-500:]}")


def _manifest(name: str, env_id: str, reward_range: tuple[float, float]) -> str:
    low, high = (float(v) for v in reward_range)
    if not low < high:
        raise ConfigError(f"--reward-range needs LOW < HIGH, got {low} {high}.")
    return f"""\
# OpenEnv package of the anchorgym env {env_id}, written by `anchorgym env package`.
spec_version: 1
name: {name}
version: {__version__}
type: space
runtime: fastapi
app: server.app:app
port: {PORT}
validation:
  reward:
    range: [{low}, {high}]
    oracle_tolerance: 0.0
    floor_margin: 0.1
  resources:
    cpu: 1.0
    memory_mb: 2048
    disk_mb: 4096
    episode_timeout_s: 600.0
  capabilities:
    verifier:
      kind: reward_channel
    declared_tools: [{", ".join(TOOL_NAMES)}]
  types:
    tags: [anchorgym, text]
"""


def package_data_dir(package: Path, image_data_dir: str) -> str:
    """The env's data folder for a package's server.

    In the image the Dockerfile has unpacked ``data.tar.gz`` into ``image_data_dir`` and left no archive in the
    package. Served from the package folder itself (``uv run server``, OpenEnv's ``UVProvider``), the archive is
    there: it is unpacked once into ``data/`` beside it (whole or not at all) and that folder is the data.
    """
    archive = package / "data.tar.gz"
    if not archive.is_file():
        return image_data_dir
    target = package / "data"
    if not target.is_dir():
        staging = Path(tempfile.mkdtemp(prefix=".data-", dir=package))
        with tarfile.open(archive) as tar:
            tar.extractall(staging, filter="data")
        try:
            staging.rename(target)
        except OSError:  # another server of this package unpacked it first
            shutil.rmtree(staging, ignore_errors=True)
    return str(target)


def _pyproject(name: str, extras: str, wheel: str) -> str:
    return f"""\
[build-system]
requires = ["setuptools>=45", "wheel"]
build-backend = "setuptools.build_meta"

[project]
name = "{name.replace("__", "-").lower()}-openenv"
version = "{__version__}"
description = "OpenEnv server of an anchorgym environment"
requires-python = ">=3.10"
dependencies = ["openenv>=0.10", "anchorgym[{extras}]=={__version__}"]

[project.scripts]
server = "server.app:main"

[tool.setuptools]
packages = ["server"]

# uv (`uv run server`, OpenEnv's from_env(..., use_docker=False)) installs anchorgym from this package's wheel
[tool.uv.sources]
anchorgym = {{ path = "wheels/{wheel}" }}
"""


def _app(env_id: str, split: str, env_kwargs: dict[str, Any], max_sessions: int) -> str:
    return f'''\
"""OpenEnv server of the anchorgym env {env_id} (split {split}), written by `anchorgym env package`.

Run it with ``python -m server.app [--host H] [--port P]`` or ``uvicorn server.app:app``.
$MAX_SESSIONS and $IDLE_TIMEOUT_S (seconds) override the session limits.
"""

import json
import os
from pathlib import Path

from anchorgym.integrations.openenv.package import package_data_dir
from anchorgym.integrations.openenv.server import build_app

ENV_ID = {env_id!r}
SPLIT = {split!r}
ENV_KWARGS = json.loads({json.dumps(env_kwargs)!r})
if "data_dir" in ENV_KWARGS:  # the image's data folder, or this folder's data.tar.gz unpacked (uv run)
    ENV_KWARGS["data_dir"] = package_data_dir(Path(__file__).resolve().parents[1], ENV_KWARGS["data_dir"])
IDLE_TIMEOUT_S = float(os.environ["IDLE_TIMEOUT_S"]) if os.environ.get("IDLE_TIMEOUT_S") else None

app = build_app(ENV_ID, SPLIT, int(os.environ.get("MAX_SESSIONS", "{max_sessions}")), IDLE_TIMEOUT_S, ENV_KWARGS)


def main() -> None:
    """Serve the app (the package's ``server`` script)."""
    import argparse

    import uvicorn

    parser = argparse.ArgumentParser(description=f"Serve {{ENV_ID}} over OpenEnv.")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default={PORT})
    args = parser.parse_args()
    uvicorn.run(app, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
'''


def _dockerfile(wheel: str, extras: str, data: bool, offline: bool) -> str:
    index = "--no-index " if offline else ""
    lines = [
        "# The OpenEnv server of one anchorgym env: anchorgym from the wheel in wheels/, the data from data.tar.gz.",
        "FROM python:3.11-slim",
        "WORKDIR /app/env",
        "COPY wheels/ /app/wheels/",
        f'RUN pip install --no-cache-dir {index}--find-links /app/wheels "/app/wheels/{wheel}[{extras}]"',
    ]
    if data:
        lines += [
            "COPY data.tar.gz /app/data.tar.gz",
            f"RUN mkdir -p {DATA_DIR} && tar -xzf /app/data.tar.gz -C {DATA_DIR} && rm /app/data.tar.gz",
        ]
    lines += [
        "COPY openenv.yaml pyproject.toml README.md /app/env/",
        "COPY server/ /app/env/server/",
        "ENV ENABLE_WEB_INTERFACE=true PYTHONUNBUFFERED=1",
        f"EXPOSE {PORT}",
        f"HEALTHCHECK CMD python -c \"import urllib.request; urllib.request.urlopen('http://localhost:{PORT}/health')\"",
        f'CMD ["python", "-m", "server.app", "--host", "0.0.0.0", "--port", "{PORT}"]',
    ]
    return "\n".join(lines) + "\n"


def _readme(name: str, env_id: str, split: str) -> str:
    return f"""\
---
title: {name}
sdk: docker
app_port: {PORT}
tags: [openenv, anchorgym]
---
# {env_id} over OpenEnv

The anchorgym env `{env_id}` (split `{split}`) as an OpenEnv environment, written by `anchorgym env package`.

    openenv validate .                       # the package
    docker build -t {name.lower()} .
    docker run -p {PORT}:{PORT} {name.lower()}
    openenv validate --url http://127.0.0.1:{PORT}   # the running server
    openenv push                             # publish to a Hugging Face Space

Without Docker: `uv run server` in this folder (uv installs anchorgym from `wheels/`), or from Python
`GenericEnvClient.from_env("{name.lower()}", use_docker=False, project_path="PATH/TO/THIS/FOLDER")`.

From Python: `GenericEnvClient.from_docker_image("{name.lower()}")`, or anchorgym's clients with
`url="http://127.0.0.1:{PORT}"`. The web UI is at `/web`. MCP clients (OpenEnv's `MCPToolClient`, or any
client over streamable HTTP at `/mcp`) play it with the tools `start_episode(task_id, seed)` and `act(action)`.
"""
