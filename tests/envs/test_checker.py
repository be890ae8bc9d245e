"""check_env over every registered env whose requirements and data are present, and on broken envs."""

from __future__ import annotations

import pytest

import anchorgym
from anchorgym.envs.checker import check_env
from anchorgym.envs.registry import env_info
from anchorgym.envs.sokoban.env import SokobanEnv
from anchorgym.errors import ConfigError, DataNotFoundError, DependencyError


def registered_ids() -> list[str]:
    return [info.id for info in anchorgym.list_envs()]


# Data fixtures of envs whose data lives outside the default location during tests.
DATA_FIXTURES = {"anchorgym/ALFWorld-v0": "alfworld_dir", "anchorgym/ALFWorld-verl-agent-v0": "alfworld_dir"}


def make_any_split(env_id: str, **kwargs):
    """Make ``env_id`` on its first split whose data is present; skip the test when none is."""
    info = env_info(env_id)
    missing = info.missing_requirements()
    if missing:
        pytest.skip(f"{env_id} needs {missing} (pip install 'anchorgym[{info.extra}]')")
    reasons = []
    for split in info.splits:
        try:
            return anchorgym.make(env_id, split=split, **kwargs)
        except (DataNotFoundError, DependencyError, ConfigError) as error:  # e.g. a split whose data is absent
            reasons.append(f"{split}: {error}")
    pytest.skip(f"{env_id}: no split can be made here ({' | '.join(reasons)})")


@pytest.mark.parametrize("env_id", registered_ids())
def test_check_env_on_every_registered_env(env_id, request):
    fixture = DATA_FIXTURES.get(env_id)
    env = make_any_split(env_id, **({"data_dir": request.getfixturevalue(fixture)} if fixture else {}))
    try:
        check_env(env)
    finally:
        env.close()


class MovesOnGarbage(SokobanEnv):
    """Broken: treats every unparseable action as 'up'."""

    def parse_action(self, action: str) -> str | None:
        return super().parse_action(action) or "up"


class RandomAnchor(SokobanEnv):
    """Broken: its anchor state changes on every call."""

    calls = 0

    def anchor_state(self) -> dict:
        self.calls += 1
        return {"n": self.calls}


class NoScore(SokobanEnv):
    """Broken: drops a standard info key."""

    def _info(self, action_valid: bool, extra: dict) -> dict:
        info = super()._info(action_valid, extra)
        del info["score"]
        return info


class ChangesOnInvalid(SokobanEnv):
    """Broken: an invalid action plays the expert's move (which always changes the state)."""

    def step(self, action: str) -> tuple:
        if self.parse_action(action) is None:
            obs, reward, terminated, truncated, info = super().step(self.expert_action())
            return obs, reward, terminated, truncated, {**info, "action_valid": False}
        return super().step(action)


@pytest.mark.parametrize(
    ("env_cls", "message"),
    [
        (MovesOnGarbage, "accepted every one"),
        (RandomAnchor, "anchor changes"),
        (NoScore, "lacks the standard keys \\['score'\\]"),
    ],
)
def test_check_env_catches_broken_envs(env_cls, message):
    with pytest.raises(AssertionError, match=message):
        check_env(env_cls(split="test"), gymnasium_checks=False)


def test_check_env_catches_an_invalid_action_that_changes_the_state():
    with pytest.raises(AssertionError, match="changed the observation"):
        check_env(ChangesOnInvalid(split="test"), gymnasium_checks=False)
