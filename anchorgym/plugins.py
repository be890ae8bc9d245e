"""Your own environments and policies: entry points and ``--import`` modules.

A distribution registers envs or policy back-ends with an entry point in the group
``anchorgym.envs`` or ``anchorgym.policies``. The entry point names a module whose
import registers them, or a callable that registers them when called with no
arguments::

    [project.entry-points."anchorgym.envs"]
    coin = "mine.coin:register"

Modules named with ``anchorgym --import MODULE`` (repeatable) or in
``$ANCHORGYM_IMPORT`` (comma-separated) are imported as well; the working
directory is searched last, so ``--import my_env`` finds ``./my_env.py``.
``--import`` exports the variable, so spawned env workers import the same modules.

Env entry points load once per process, when ``anchorgym`` is imported, so
``gymnasium.make("mine/Coin-v0")`` finds a plugin's ids right after ``import anchorgym``
as it finds the built-in ones; policy entry points load the first time a policy
spec is parsed. A broken entry point is logged and
skipped, and named in the error for an unknown id; a module named on purpose
(``--import``) that fails to import is an error.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import traceback
from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from types import ModuleType

from anchorgym.errors import PluginError

ENV_GROUP = "anchorgym.envs"
POLICY_GROUP = "anchorgym.policies"
IMPORT_ENV = "ANCHORGYM_IMPORT"

logger = logging.getLogger(__name__)
_loaded_groups: set[str] = set()
failures: dict[str, str] = {}
"""``"group:name"`` of each entry point that failed to load -> what went wrong."""


def load(group: str) -> None:
    """Load every entry point of ``group`` (once per process), then the ``$ANCHORGYM_IMPORT`` modules."""
    load_entry_points(group)
    import_modules(imports_from_environment(), export=False)


def load_entry_points(group: str) -> None:
    """Load every entry point of ``group``, once per process; a broken one is logged and skipped."""
    if group not in _loaded_groups:
        _loaded_groups.add(group)
        for entry_point in entry_points(group=group):
            _load_entry_point(group, entry_point)


def _load_entry_point(group: str, entry_point: EntryPoint) -> None:
    try:
        target = entry_point.load()
        if callable(target) and not isinstance(target, ModuleType):
            target()
    except Exception as error:  # a broken third-party plugin must not break anchorgym
        dist = getattr(entry_point, "dist", None)
        origin = f" of {dist.name} {dist.version}" if dist is not None else ""
        message = (
            f"plugin {entry_point.name!r} ({entry_point.value}){origin} in group {group} failed to load: "
            f"{_describe(error)}. Fix or uninstall the distribution that provides it."
        )
        failures[f"{group}:{entry_point.name}"] = message
        logger.warning("anchorgym: %s", message)


def failure_note(group: str) -> str:
    """Return a sentence naming the entry points of ``group`` that failed to load ('' when none did)."""
    broken = [message for key, message in failures.items() if key.startswith(f"{group}:")]
    return ("Note: " + " ".join(broken)) if broken else ""


def imports_from_environment() -> list[str]:
    """Return the module names listed in ``$ANCHORGYM_IMPORT`` (comma-separated)."""
    return [name.strip() for name in os.environ.get(IMPORT_ENV, "").split(",") if name.strip()]


def import_modules(names: Iterable[str], export: bool = True) -> None:
    """Import each module in ``names`` (the working directory is searched last).

    Args:
        names: dotted module names.
        export: also add them to ``$ANCHORGYM_IMPORT``, so spawned worker processes import them too.

    Raises:
        PluginError: a module cannot be found, or importing it raised.
    """
    names = list(dict.fromkeys(names))
    for name in names:
        _import(name)
    if export and names:
        os.environ[IMPORT_ENV] = ",".join(dict.fromkeys([*imports_from_environment(), *names]))


def _import(name: str) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.append(os.getcwd())  # the `anchorgym` script does not search the working directory
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name is not None and (name == error.name or name.startswith(error.name + ".")):
            raise PluginError(
                f"Cannot import module {name!r} named by --import or ${IMPORT_ENV}: no module {error.name!r} "
                "on the path. Check the name, then run from the folder holding it or add that folder to PYTHONPATH."
            ) from error
        raise PluginError(f"Importing module {name!r} failed: {_describe(error)}.") from error
    except Exception as error:
        raise PluginError(f"Importing module {name!r} failed: {_describe(error)}.") from error


def _describe(error: BaseException) -> str:
    """Return ``Type: message (at file:line)``, naming the innermost frame outside the import machinery."""
    frames = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if not frame.filename.startswith("<frozen")
        and "importlib" not in Path(frame.filename).parts
        and frame.filename != __file__
    ]
    where = f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    return f"{type(error).__name__}: {error}{where}"
