"""The environment registry: one :func:`register` call per environment.

Each env subpackage of :mod:`anchorgym.envs` calls :func:`register` in its
``__init__`` with a string entry point, so listing envs imports nothing heavy;
the entry point is imported only when the env is made. Every id is also
registered with gymnasium: ``import anchorgym`` registers the built-in ids, so
``gymnasium.make("anchorgym/Sokoban-v0")`` works right after it. Third-party
envs register through the ``anchorgym.envs`` entry point group or
``--import MODULE`` (see :mod:`anchorgym.plugins`); they load when envs are
first listed or looked up.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import gymnasium as gym

from anchorgym import plugins
from anchorgym.errors import AnchorGymError, missing_extra, unknown


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
        data_check: ``"module:function"`` called with no arguments: returns where the data the
            env needs is and raises an :class:`~anchorgym.errors.AnchorGymError` saying how to
            install it when it is missing (None: the env needs no data, or ``data`` is optional).
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
    data_check: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)

    def missing_requirements(self) -> list[str]:
        """Return the required modules that cannot be imported here."""
        return [name for name in self.requires if importlib.util.find_spec(name) is None]

    def data_status(self) -> DataStatus:
        """Return whether the env's data is installed, by running its ``data_check``."""
        if self.data_check is None:
            if self.data is None:
                return DataStatus("not needed")
            return DataStatus("optional", f"install it with: anchorgym data {self.data}")
        try:
            location = load_entry_point(self.data_check)()
        except AnchorGymError as error:
            return DataStatus("not installed", str(error))
        return DataStatus("installed", str(location))

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-able dict (benchmark specs store it)."""
        return asdict(self)


@dataclass(frozen=True)
class DataStatus:
    """Whether an env's data is in place.

    Attributes:
        state: ``"installed"``, ``"not installed"``, ``"not needed"`` or ``"optional"``.
        detail: where the data is, or what is missing and how to install it.
    """

    state: str
    detail: str = ""

    @property
    def ready(self) -> bool:
        """True unless the env needs data that is not installed."""
        return self.state != "not installed"


_REGISTRY: dict[str, EnvInfo] = {}
_loaded = False


class MatchTimeLimit(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Gives the env the step limit of gymnasium's ``TimeLimit`` (``gymnasium.make(..., max_episode_steps=N)``).

    An :class:`~anchorgym.envs.core.AnchorEnv` truncates its episodes itself at ``max_steps`` (its
    prompts and experts know the limit). ``gymnasium.make`` adds its ``TimeLimit`` wrapper after making
    the env, so this wrapper, registered as the id's additional wrapper, runs after it and sets the
    env's ``max_steps`` to the ``TimeLimit``'s: both then end the episode at the same step.
    ``max_episode_steps=-1`` (no ``TimeLimit``) leaves the env's own limit.
    """

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.Wrapper.__init__(self, env)
        inner: Any = env
        while isinstance(inner, gym.Wrapper):
            if isinstance(inner, gym.wrappers.TimeLimit):
                self.unwrapped.max_steps = int(inner._max_episode_steps)  # type: ignore[attr-defined]
                break
            inner = inner.env


_MATCH_TIME_LIMIT = gym.envs.registration.WrapperSpec(
    name="MatchTimeLimit", entry_point=f"{__name__}:MatchTimeLimit", kwargs={}
)


def register(info: EnvInfo) -> None:
    """Register an environment with anchorgym and with gymnasium (registering an id again replaces it).

    Gymnasium's spec has ``max_episode_steps=info.max_steps``; ``gymnasium.make(id, max_episode_steps=N)``
    plays episodes of ``N`` steps (see :class:`MatchTimeLimit`).
    """
    _REGISTRY[info.id] = info
    current = gym.registry.get(info.id)
    wanted = (info.entry_point, dict(info.kwargs), info.max_steps)
    if current is None or (current.entry_point, current.kwargs, current.max_episode_steps) != wanted:
        gym.registry.pop(info.id, None)
        gym.register(
            id=info.id,
            entry_point=info.entry_point,
            max_episode_steps=info.max_steps,
            kwargs=dict(info.kwargs),
            additional_wrappers=(_MATCH_TIME_LIMIT,),
        )


def load_builtin() -> None:
    """Import every env subpackage once so its ``register`` calls run (``import anchorgym`` does this)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    import anchorgym.envs as package

    for module in pkgutil.iter_modules(package.__path__):
        if module.ispkg:
            importlib.import_module(f"anchorgym.envs.{module.name}")


def _load_all() -> None:
    """Register the built-in envs, the ``anchorgym.envs`` entry points and the ``$ANCHORGYM_IMPORT`` modules."""
    load_builtin()
    plugins.load(plugins.ENV_GROUP)


def env_info(env_id: str) -> EnvInfo:
    """Return the :class:`EnvInfo` of ``env_id`` or raise a helpful error."""
    _load_all()
    if env_id not in _REGISTRY:
        hint = "List them with: anchorgym envs. Register your own with --import MODULE or an entry point."
        note = plugins.failure_note(plugins.ENV_GROUP)
        raise unknown("environment", env_id, _REGISTRY, f"{hint} {note}".strip())
    return _REGISTRY[env_id]


def list_envs() -> list[EnvInfo]:
    """Return every registered environment, sorted by id."""
    _load_all()
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
