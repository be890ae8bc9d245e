"""Check that an environment honours gymnasium's API and anchorgym's contract.

:func:`check_env` runs gymnasium's own checker on the env, then checks what
anchorgym adds (see :mod:`anchorgym.envs.core`): the standard ``info`` keys and
their types after ``reset`` and ``step``, ``reset(seed)`` determinism, a stable
anchor, and that an invalid action is a no-op with ``action_valid=False``.

>>> import anchorgym
>>> check_env(anchorgym.make("anchorgym/Sokoban-v0", split="test"))
"""

from __future__ import annotations

import re
import warnings
from typing import Any

from anchorgym.envs.core import STANDARD_INFO_KEYS, AnchorEnv

INVALID_ACTIONS = ("", "\u2400 certainly not an action \u2400")
_HEX = re.compile(r"^[0-9a-f]{8,}$")
_TYPES: dict[str, tuple[type, ...]] = {
    "anchor": (str,),
    "won": (bool,),
    "score": (float,),
    "action_valid": (bool,),
    "admissible_actions": (list, type(None)),
    "instruction": (str,),
    "task_id": (str,),
    "task_type": (str,),
    "step": (int,),
}


def check_env(env: AnchorEnv, seed: int = 0, gymnasium_checks: bool = True) -> None:
    """Raise AssertionError naming the first broken rule of the contract.

    Args:
        env: an unwrapped anchorgym env.
        seed: the reset seed used by the checks.
        gymnasium_checks: also run :func:`gymnasium.utils.env_checker.check_env`.
    """
    assert isinstance(env, AnchorEnv), f"expected an AnchorEnv, got {type(env).__name__}"
    if gymnasium_checks:
        from gymnasium.utils.env_checker import check_env as gym_check_env

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # gymnasium warns about spaces it cannot sample meaningfully
            gym_check_env(env, skip_render_check=True, skip_close_check=True)
    check_reset_determinism(env, seed)
    check_invalid_action_is_noop(env, seed)


def check_info(info: dict[str, Any], where: str) -> None:
    """Check the standard info keys and their types."""
    missing = [key for key in STANDARD_INFO_KEYS if key not in info]
    assert not missing, f"info after {where} lacks the standard keys {missing}"
    for key, types in _TYPES.items():
        assert isinstance(info[key], types), f"info[{key!r}] after {where} is {type(info[key]).__name__}, not {types}"
    assert _HEX.match(info["anchor"]), f"info['anchor'] after {where} is not a hex digest: {info['anchor']!r}"
    assert 0.0 <= info["score"] <= 1.0, f"info['score'] after {where} is {info['score']}, outside [0, 1]"
    actions = info["admissible_actions"]
    assert actions is None or all(isinstance(a, str) for a in actions), f"admissible_actions after {where} not str"


def check_reset_determinism(env: AnchorEnv, seed: int) -> None:
    """Two resets with the same seed give the same observation, task and anchor; the anchor is stable."""
    first_obs, first = env.reset(seed=seed)
    check_info(first, f"reset(seed={seed})")
    assert first["action_valid"] is True, "info['action_valid'] must be True after reset"
    assert env.anchor() == env.anchor() == first["anchor"], "the anchor changes without any step"
    obs, info = env.reset(seed=seed)
    assert obs == first_obs, f"reset(seed={seed}) twice gave different observations"
    assert (info["task_id"], info["anchor"]) == (first["task_id"], first["anchor"]), (
        f"reset(seed={seed}) twice gave different tasks or anchors"
    )
    _, again = env.reset(options={"task_id": first["task_id"]})
    assert again["anchor"] == first["anchor"], "reset(options={'task_id': ...}) starts from another state"


def check_invalid_action_is_noop(env: AnchorEnv, seed: int) -> None:
    """An invalid action leaves observation and anchor unchanged and reports ``action_valid=False``.

    An env that sets ``invalid_action_observation`` shows that fixed text instead of the previous observation.
    """
    for action in INVALID_ACTIONS:
        before_obs, before = env.reset(seed=seed)
        obs, reward, terminated, _, info = env.step(action)
        check_info(info, f"step({action!r})")
        if info["action_valid"]:
            continue  # this env accepts the text; try the next candidate
        expected = before_obs if env.invalid_action_observation is None else env.invalid_action_observation
        assert obs == expected, f"invalid action {action!r} changed the observation"
        assert info["anchor"] == before["anchor"], f"invalid action {action!r} changed the anchor"
        assert not terminated, f"invalid action {action!r} ended the episode"
        assert reward == env.invalid_action_reward, (
            f"invalid action {action!r} earned {reward}, not invalid_action_reward={env.invalid_action_reward}"
        )
        assert info["step"] == 1, f"invalid action {action!r} must count as a step, info['step']={info['step']}"
        return
    raise AssertionError(f"the env accepted every one of {INVALID_ACTIONS!r} as a valid action")
