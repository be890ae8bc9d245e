"""ALFWorld test fixtures: the games installed once into a cache reused across runs."""

from __future__ import annotations

import pytest

from anchorgym.envs.alfworld import data


@pytest.fixture(scope="session")
def make_env(alfworld_dir):
    """Factory for ALFWorld envs on the test data; closes them at the end of the session."""
    for module in ("alfworld", "textworld", "fast_downward"):
        pytest.importorskip(module, reason="needs the alfworld extra: pip install 'anchorgym[alfworld]'")
    from anchorgym.envs.registry import make

    made = []

    def factory(**kwargs):
        env = make("anchorgym/ALFWorld-v0", data_dir=alfworld_dir, **kwargs)
        made.append(env)
        return env

    yield factory
    for env in made:
        env.close()


@pytest.fixture(scope="session")
def unseen_by_type(alfworld_dir) -> dict[str, str]:
    """The first valid_unseen task id of each of the six task types."""
    found: dict[str, str] = {}
    for task_id in data.list_games(alfworld_dir / data.RELEASE, "valid_unseen"):
        found.setdefault(data.task_info_from_folder(task_id)["task_type"], task_id)
    return found
