"""The environment registry: one :func:`register` call per environment.

Each env subpackage of :mod:`anchorgym.envs` calls :func:`register` in its
``__init__`` with a string entry point, so listing envs imports nothing heavy;
the entry point is imported only when the env is made. Every id is also
registered with gymnasium, so ``gymnasium.make("anchorgym/Sokoban-v0")`` works.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import gymnasium as gym

from anchorgym.errors import missing_extra, unknown


@dataclass(frozen=True)
class EnvInfo:
    """Everything anchorgym knows about a registered environment.

    Attributes:
        id: ``namespace/Name-vN``.
        entry_point: ``"module:Class"`` of the :class:`~anchorgym.envs.core.AnchorEnv`.
        splits: the task splits the env offers.
        max_steps: default episode length limit.
        extra: the pip extra that installs its dependencies (None: core only).
        requires: importable module names the env needs (checked before making it).
        description: one line for ``anchorgym envs``.
        data: name for ``anchorgym data NAME`` (None: the env needs no data set).
        data_installer: ``"module:function"`` that installs the data set.
        kwargs: default constructor keyword arguments.
    """

    id: str
    entry_point: str
    splits: tuple[str, ...]
    max_steps: int
    extra: str | None = None
    requires: tuple[str, ...] = ()
    description: str = ""
    data: str | None = None
    data_installer: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)

    def missing_requirements(self) -> list[str]:
        """Return the required modules that cannot be imported here."""
        return [name for name in self.requires if importlib.util.find_spec(name) is None]

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-able dict (benchmark specs store it)."""
        return asdict(self)


_REGISTRY: dict[str, EnvInfo] = {}
_loaded = False


def register(info: EnvInfo) -> None:
    """Register an environment with anchorgym and with gymnasium."""
    _REGISTRY[info.id] = info
    if info.id not in gym.registry:
        gym.register(id=info.id, entry_point=info.entry_point, max_episode_steps=None, kwargs=dict(info.kwargs))


def _load_builtin() -> None:
    """Import every env subpackage once so its ``register`` calls run."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    import anchorgym.envs as package

    for module in pkgutil.iter_modules(package.__path__):
        if module.ispkg:
            importlib.import_module(f"anchorgym.envs.{module.name}")


def env_info(env_id: str) -> EnvInfo:
    """Return the :class:`EnvInfo` of ``env_id`` or raise a helpful error."""
    _load_builtin()
    if env_id not in _REGISTRY:
        raise unknown("environment", env_id, _REGISTRY, "List them with: anchorgym envs")
    return _REGISTRY[env_id]


def list_envs() -> list[EnvInfo]:
    """Return every registered environment, sorted by id."""
    _load_builtin()
    return [_REGISTRY[key] for key in sorted(_REGISTRY)]


def load_entry_point(entry_point: str) -> Callable[..., Any]:
    """Import ``"module:attr"`` and return the attribute."""
    module_name, _, attr = entry_point.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def make(env_id: str, **kwargs: Any) -> Any:
    """Create one environment.

    Args:
        env_id: a registered id, e.g. ``"anchorgym/Sokoban-v0"``.
        **kwargs: constructor arguments (``split``, ``max_steps``, ``anchor_fn``...).

    Returns:
        The unwrapped :class:`~anchorgym.envs.core.AnchorEnv`.

    Raises:
        UnknownNameError: the id is not registered.
        DependencyError: the env's extra is not installed.
    """
    info = env_info(env_id)
    missing = info.missing_requirements()
    if missing:
        raise missing_extra(missing[0], info.extra or "all")
    env_cls = load_entry_point(info.entry_point)
    env = env_cls(**{"max_steps": info.max_steps, **info.kwargs, **kwargs})
    env.spec_id = env_id
    return env
