"""Shared pytest fixtures: where the shared benchmark data lives, hermetic caches and Ray, hardware skips.

Every test runs hermetically (:func:`hermetic`): ``ANCHORGYM_CACHE_DIR`` is a folder of this test
session, never the user's cache, so data a user installed (ALFWorld games, WebShop products) cannot
change a result; ``ALFWORLD_DATA``, ``WEBSHOP_DATA`` and ``APPWORLD_ROOT`` are unset; and
``RAY_ADDRESS=local`` makes every ``ray.init`` (here and in the processes tests start) start a
private local instance instead of joining a cluster it finds on the machine. Content-keyed build
products that the make set-up targets put in the user cache are reused, read by their own paths:
converted models (``models/``), ALFWorld's translation cache (``alfworld-sas/``), and the AppWorld
venv and generated tasks (``$ANCHORGYM_APPWORLD_VENV``, ``$ANCHORGYM_APPWORLD_DATA``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def _user_cache() -> Path:
    from anchorgym.cache import cache_root

    return cache_root()


USER_CACHE = _user_cache()
"""The user's anchorgym cache, read once before any test changes the environment."""
SHARED_BUILDS = ("models", "alfworld-sas")
"""Sub-folders of the user cache holding content-keyed build products that tests may reuse."""
UNSET = ("ALFWORLD_DATA", "WEBSHOP_DATA", "APPWORLD_ROOT")


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This session's anchorgym cache: empty but for links to the user cache's shared build products."""
    folder = tmp_path_factory.mktemp("anchorgym-cache")
    for name in SHARED_BUILDS:
        if (USER_CACHE / name).is_dir():
            (folder / name).symlink_to(USER_CACHE / name, target_is_directory=True)
    return folder


@pytest.fixture(autouse=True)
def hermetic(session_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Isolate every test from the user's cache and data paths and from running Ray clusters."""
    monkeypatch.setenv("ANCHORGYM_CACHE_DIR", str(session_cache))
    for name in UNSET:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RAY_ADDRESS", "local")  # ray.init starts a private instance, never joins a found one
    if "ANCHORGYM_APPWORLD_VENV" not in os.environ:
        monkeypatch.setenv("ANCHORGYM_APPWORLD_VENV", str(USER_CACHE / "appworld-venv"))  # built by make
    if "ANCHORGYM_APPWORLD_DATA" not in os.environ:
        monkeypatch.setenv("ANCHORGYM_APPWORLD_DATA", str(USER_CACHE))  # generated tasks, built by make
    return session_cache


def shared_data_dir() -> Path:
    """Return ``$ANCHORGYM_SHARED_DATA`` or ``../shared/data`` beside the repo."""
    return Path(os.environ.get("ANCHORGYM_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder; skips the test when it is absent."""
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"shared benchmark data not found at {path} (set ANCHORGYM_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def shared_file():
    """Factory: ``shared_file("alfworld", "json_2.1.1.tar.xz")`` returns that path or skips the test."""

    def get(*parts: str) -> Path:
        path = shared_data_dir().joinpath(*parts)
        if not path.exists():
            pytest.skip(f"shared data {'/'.join(parts)} not found at {path} (set ANCHORGYM_SHARED_DATA)")
        return path

    return get


def alfworld_cache_dir() -> Path:
    """Where the tests keep ALFWorld's unpacked games (``make alfworld-data`` fills it too).

    It is outside the data paths anchorgym searches, so the games installed here are used only by the
    tests that ask for them (:func:`alfworld_dir`).
    """
    return Path(os.environ.get("ANCHORGYM_ALFWORLD_TEST_DATA", USER_CACHE / "test" / "alfworld"))


@pytest.fixture(scope="session")
def alfworld_dir(shared_file) -> Path:
    """The ALFWorld data root holding ``json_2.1.1/``, installed from the shared archive on first use."""
    from anchorgym.envs.alfworld import data

    archive = shared_file("alfworld", "json_2.1.1.tar.xz")
    data.install(archive, alfworld_cache_dir())
    return alfworld_cache_dir()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip ``gpu`` tests without CUDA and ``browser`` tests without Chromium."""
    has_browser = bool(shutil.which("chromium") and shutil.which("chromedriver"))
    for item in items:
        if "browser" in item.keywords and not has_browser:
            item.add_marker(pytest.mark.skip(reason="needs chromium and chromedriver (make system-deps)"))
        if "gpu" in item.keywords and not _has_cuda():
            item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU"))


def _has_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()
