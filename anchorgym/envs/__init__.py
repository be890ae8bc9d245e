"""Environments: the text-env contract (:mod:`.core`), anchors, registry and vector envs.

Each subpackage (``sokoban``, ``alfworld``, ``webshop``, ``toolqa``, ``appworld``)
registers its ids in its ``__init__``; see ``anchorgym/envs/README.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from anchorgym.envs.registry import EnvInfo, env_info, list_envs, make, register

if TYPE_CHECKING:
    from anchorgym.envs.vector import AnchorVectorEnv

__all__ = ["EnvInfo", "env_info", "list_envs", "make", "register", "make_vec"]


def make_vec(*args, **kwargs) -> AnchorVectorEnv:  # noqa: ANN002, ANN003 - thin lazy wrapper, see vector.make_vec
    """Create an :class:`~anchorgym.envs.vector.AnchorVectorEnv` (see :func:`anchorgym.envs.vector.make_vec`)."""
    from anchorgym.envs.vector import make_vec as _make_vec

    return _make_vec(*args, **kwargs)
