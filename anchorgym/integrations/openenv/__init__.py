"""anchorgym envs in Meta's OpenEnv protocol: a server (``anchorgym env serve``) and a typed client.

Needs ``pip install 'anchorgym[openenv]'``. See :mod:`.server` for the protocol
details and ``docs/integrations/openenv.md`` for examples.
"""

from __future__ import annotations

from typing import Any

from anchorgym.errors import missing_extra

_LAZY = {
    "AnchorAction": "types",
    "AnchorObservation": "types",
    "AnchorState": "types",
    "AnchorEnvClient": "client",
    "gym_reset": "client",
    "gym_step": "client",
    "AnchorOpenEnv": "server",
    "build_app": "server",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    """Import the public names on first use, with the extra to install when OpenEnv is missing."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    try:
        module = importlib.import_module(f"{__name__}.{_LAZY[name]}")
    except ModuleNotFoundError as error:
        if error.name and error.name.split(".")[0] in ("openenv", "fastapi", "uvicorn", "websockets"):
            raise missing_extra(error.name.split(".")[0], "openenv") from error
        raise
    return getattr(module, name)
