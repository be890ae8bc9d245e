"""Fixtures for the policy tests: toy envs importable by entry point, and a tiny model."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from policies_toyenv import register_toy_envs  # noqa: E402

register_toy_envs()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-init Qwen2 with a locally trained tokenizer, saved to a temp dir."""
    from anchorgym.policies.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")
