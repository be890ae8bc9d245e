"""`anchorgym env package`: an OpenEnv package that `openenv validate` accepts, whose server validates too."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("openenv", reason="needs the openenv extra: pip install 'anchorgym[openenv]'")

SOKOBAN = "anchorgym/Sokoban-v1"
OPENENV = str(Path(sys.executable).with_name("openenv"))


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> Path:
    """The package of Sokoban-v1 (split test), written by the CLI with a wheel built from this source tree."""
    out = tmp_path_factory.mktemp("pkg") / "sokoban"
    command = [sys.executable, "-m", "anchorgym.cli", "env", "package", SOKOBAN, str(out), "--split", "test"]
    done = subprocess.run([*command, "--max-steps", "20"], capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout == f"Wrote the OpenEnv package of {SOKOBAN} to {out}. Check it with: openenv validate {out}\n"
    return out


def test_openenv_validate_accepts_the_package(package):
    """`openenv validate` on the project said "unrecognized package"; a generated package passes it."""
    import yaml

    assert sorted(p.name for p in package.iterdir()) == [
        ".dockerignore",
        "Dockerfile",
        "README.md",
        "openenv.yaml",
        "pyproject.toml",
        "server",
        "wheels",
    ]
    manifest = yaml.safe_load((package / "openenv.yaml").read_text())
    assert (manifest["name"], manifest["app"], manifest["port"]) == ("anchorgym__Sokoban-v1", "server.app:app", 8000)
    assert manifest["validation"]["capabilities"]["declared_tools"] == ["start_episode", "act"]  # the MCP tools
    assert [w.name for w in (package / "wheels").iterdir()][0].startswith("anchorgym-")
    done = subprocess.run([OPENENV, "validate", str(package), "--skip-build"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS  static.manifest" in done.stdout and "FAIL" not in done.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_packaged_server_passes_openenv_runtime_validation_and_serves_its_web_ui(package):
    import requests

    port = _free_port()
    env = {**os.environ, "ENABLE_WEB_INTERFACE": "true", "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "server.app", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(command, cwd=package, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if requests.get(f"{url}/health", timeout=5).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.5)
        done = subprocess.run([OPENENV, "validate", "--url", url, "--timeout", "60"], capture_output=True, text=True)
        assert done.returncode == 0 and "Verdict: PASS" in done.stdout, done.stdout + done.stderr
        assert requests.get(f"{url}/web/", timeout=60).status_code == 200  # OpenEnv's web UI
        state = requests.get(f"{url}/state", timeout=60).json()
        assert (state["env_id"], state["split"], state["max_steps"]) == (SOKOBAN, "test", 20)
        listed = requests.post(f"{url}/mcp", json={"jsonrpc": "2.0", "method": "tools/list", "id": 1}, timeout=60)
        assert [tool["name"] for tool in listed.json()["result"]["tools"]] == ["start_episode", "act"]
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def test_a_non_empty_folder_is_a_one_line_error(tmp_path):
    (tmp_path / "keep.txt").write_text("x")
    command = [sys.executable, "-m", "anchorgym.cli", "env", "package", SOKOBAN, str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True)
    assert (done.returncode, done.stderr) == (
        2,
        f"error: {tmp_path} is not empty; give a new folder for the package.\n",
    )


def _docker_daemon() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=60).returncode == 0


@pytest.mark.slow
def test_the_package_builds_as_a_docker_image(package):
    if not _docker_daemon():
        pytest.skip("needs a Docker daemon (docker info fails or docker is not installed)")
    done = subprocess.run(["docker", "build", "-t", "anchorgym-sokoban-test", str(package)], capture_output=True)
    assert done.returncode == 0, done.stderr[-3000:]


def test_openenv_from_env_serves_the_package_folder_with_uv(package, tmp_path_factory, monkeypatch):
    """OpenEnv's ``from_env(..., use_docker=False, project_path=...)`` runs the package with ``uv run``: uv takes
    anchorgym from the package's wheel (no index has it), and the episode equals the in-process one."""
    from openenv.core import GenericEnvClient

    from anchorgym.envs.registry import make

    uv = Path(sys.executable).with_name("uv")
    if not uv.is_file():
        pytest.skip("needs uv (the dev extra)")
    monkeypatch.setenv("PATH", f"{uv.parent}{os.pathsep}{os.environ['PATH']}")  # UVProvider runs `uv` from PATH
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path_factory.mktemp("uv-cache")))
    env = make(SOKOBAN, split="test", max_steps=20)
    obs, _ = env.reset(seed=7)
    expected = [(obs, None, False)]
    actions = []
    for _ in range(6):
        actions.append(env.expert_action())
        obs, reward, terminated, truncated, _ = env.step(actions[-1])
        expected.append((obs, reward, terminated or truncated))
        if terminated or truncated:
            break
    client = GenericEnvClient.from_env("anchorgym/sokoban-v1", use_docker=False, project_path=str(package)).sync()
    with client:
        result = client.reset(seed=7)
        played = [(result.observation["text"], None, result.done)]
        for action in actions:
            result = client.step({"text": action})
            played.append((result.observation["text"], result.reward, result.done))
    assert played == expected


def test_a_package_folder_unpacks_its_data_archive_once(tmp_path):
    """Served from its folder (uv run), a package reads its data from data.tar.gz unpacked beside it; in the
    image (no archive left in the package) it reads the image's data folder."""
    import tarfile

    from anchorgym.integrations.openenv.package import package_data_dir

    source = tmp_path / "source"
    source.mkdir()
    (source / "products.json").write_text("[]")
    package = tmp_path / "package"
    package.mkdir()
    assert package_data_dir(package, "/data") == "/data"
    with tarfile.open(package / "data.tar.gz", "w:gz") as archive:
        archive.add(str(source), arcname=".")
    assert package_data_dir(package, "/data") == str(package / "data")
    assert (package / "data" / "products.json").read_text() == "[]"
    (package / "data" / "products.json").write_text("[1]")  # a second start keeps the unpacked folder
    assert package_data_dir(package, "/data") == str(package / "data")
    assert (package / "data" / "products.json").read_text() == "[1]"
    assert sorted(p.name for p in package.iterdir()) == ["data", "data.tar.gz"]
