"""Shared pytest fixtures: where the shared benchmark data lives, and skips for missing hardware."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


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
    """Where the tests keep ALFWorld's unpacked games (``make alfworld-data`` fills it too)."""
    from anchorgym.cache import cache_root

    return Path(os.environ.get("ANCHORGYM_ALFWORLD_TEST_DATA", cache_root() / "test" / "alfworld"))


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
