"""GRPO-family training: advantage estimators, losses and the training loop.

Entry points: :func:`train` with a :class:`TrainConfig` (``anchorgym train CONFIG.yaml``
on the command line) and :func:`anchorgym.training.advantages.compute`. Heavy
dependencies (torch, transformers, peft) are imported only when they are used.
"""

from __future__ import annotations

from typing import Any

__all__ = ["TrainConfig", "train"]


def __getattr__(name: str) -> Any:
    """Import :func:`train` and :class:`TrainConfig` on first use (they pull in torch)."""
    if name == "train":
        from anchorgym.training.trainer import train

        return train
    if name == "TrainConfig":
        from anchorgym.training.config import TrainConfig

        return TrainConfig
    raise AttributeError(f"module 'anchorgym.training' has no attribute {name!r}")
