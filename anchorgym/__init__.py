"""anchorgym: batched text environments with anchor-state hooks, evaluation and GRPO-family training.

Quick start::

    import anchorgym
    envs = anchorgym.make_vec("anchorgym/Sokoban-v0", num_tasks=4, group_size=2, split="test")
    obs, infos = envs.reset(seed=0)

Importing this package registers the built-in env ids with gymnasium, so
``gymnasium.make("anchorgym/Sokoban-v0")`` works right after ``import anchorgym``.
It stays light: it does not import torch, ray, flask or any environment engine;
those load when an env, policy or trainer needs them. Installed third-party envs
(the ``anchorgym.envs`` entry points, :mod:`anchorgym.plugins`) register here too,
so ``gymnasium.make`` finds their ids as well.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "make": "anchorgym.envs.registry",
    "list_envs": "anchorgym.envs.registry",
    "register": "anchorgym.envs.registry",
    "EnvInfo": "anchorgym.envs.registry",
    "make_vec": "anchorgym.envs.vector",
    "AnchorVectorEnv": "anchorgym.envs.vector",
    "AnchorEnv": "anchorgym.envs.core",
    "Transition": "anchorgym.envs.core",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    """Import public names on first use, keeping ``import anchorgym`` fast."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'anchorgym' has no attribute {name!r}")


def _register_builtin_envs() -> None:
    """Register the built-in and the installed plugins' env ids with anchorgym and gymnasium."""
    from anchorgym import plugins
    from anchorgym.envs.registry import load_builtin

    load_builtin()  # string entry points: nothing heavy
    plugins.load_entry_points(plugins.ENV_GROUP)


_register_builtin_envs()
