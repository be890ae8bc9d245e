"""Fixtures for the AppWorld tests: the isolated venv and the generated offline tasks.

The venv is built with pip on first use (CI has PyPI); where it cannot be built
the engine tests skip with the reason.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def appworld_ready():
    """Build (or find) the AppWorld venv and the offline tasks; skip when impossible here."""
    from anchorgym.envs.appworld.data import ensure_generated
    from anchorgym.envs.appworld.venv import ensure_venv
    from anchorgym.errors import DependencyError

    try:
        ensure_venv(quiet=True)
    except DependencyError as error:
        pytest.skip(f"AppWorld venv cannot be built on this machine: {error}")
    return ensure_generated()


@pytest.fixture(scope="module")
def env(appworld_ready):
    """One AppWorld env (one worker process) shared by a test module."""
    from anchorgym.envs import make

    environment = make(
        "anchorgym/AppWorld-v0", source="generated", code_timeout_s=20
    )  # generous: CI machines can be busy
    yield environment
    environment.close()


@pytest.fixture
def short_timeout(env):
    """Give the env a 2 s AppWorld code timeout (hard deadline 17 s) for one test."""
    from anchorgym.envs.appworld.env import HARD_TIMEOUT_GRACE_S

    saved = env.code_timeout_s, env.worker.request_timeout_s
    env.code_timeout_s, env.worker.request_timeout_s = 2, 2 + HARD_TIMEOUT_GRACE_S
    yield env
    env.code_timeout_s, env.worker.request_timeout_s = saved
