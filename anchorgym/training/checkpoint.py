"""Checkpoints: model weights, optimizer and RNG state, written atomically.

Layout: ``<output_dir>/checkpoints/iter_000010/`` holds the model
(``save_pretrained``: the full model, or the LoRA adapter), the tokenizer and
``trainer_state.pt`` (iteration, optimizer state, torch and generator RNG
states, the config). A directory is complete once it has its final name.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from anchorgym.errors import ResultError

STATE_FILE = "trainer_state.pt"
_NAME = re.compile(r"^iter_(\d{6})$")


def checkpoint_dir(output_dir: Path, iteration: int) -> Path:
    """Return the directory of the checkpoint taken after ``iteration`` iterations."""
    return output_dir / "checkpoints" / f"iter_{iteration:06d}"


def latest_checkpoint(output_dir: Path) -> Path | None:
    """Return the newest complete checkpoint under ``output_dir``, or None."""
    root = output_dir / "checkpoints"
    found = (
        [p for p in root.glob("iter_*") if _NAME.match(p.name) and (p / STATE_FILE).is_file()] if root.is_dir() else []
    )
    return max(found, key=lambda p: p.name) if found else None


def save_checkpoint(
    output_dir: Path, iteration: int, model: Any, tokenizer: Any, optimizer: Any, extra: dict[str, Any]
) -> Path:
    """Write a checkpoint for ``iteration`` (completed iterations) atomically; return its directory."""
    target = checkpoint_dir(output_dir, iteration)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        state = {
            "iteration": iteration,
            "optimizer": optimizer.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            **extra,
        }
        torch.save(state, tmp / STATE_FILE)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def load_state(path: Path) -> dict[str, Any]:
    """Load ``trainer_state.pt`` from a checkpoint directory and restore the torch RNG states."""
    file = path / STATE_FILE
    if not file.is_file():
        raise ResultError(f"{path} is not a complete checkpoint (no {STATE_FILE}); pick another or start afresh.")
    state = torch.load(file, weights_only=False, map_location="cpu")
    torch.set_rng_state(state["torch_rng"])
    if state.get("cuda_rng") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    return state
