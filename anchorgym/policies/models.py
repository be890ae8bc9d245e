"""Resolve a model name to a local directory: aliases for built-in models, else a path.

Aliases (``hf:smollm2``, ``hf:tiny``) build or convert their model into the
user cache on first use; a path must be an existing local directory, since
models are never downloaded at run time.
"""

from __future__ import annotations

from pathlib import Path

from anchorgym.errors import ConfigError, suggest

MODEL_ALIASES: dict[str, str] = {
    "smollm2": "anchorgym.policies.gguf:smollm2_dir",
    "smollm2-135m-instruct": "anchorgym.policies.gguf:smollm2_dir",
    "tiny": "anchorgym.policies.tiny:build_tiny_model",
}
"""Alias -> ``"module:function"`` returning the model directory."""


def resolve_model(name: str) -> Path:
    """Return the local model directory for an alias or a path.

    Raises:
        ConfigError: ``name`` is neither an alias nor an existing model directory.
    """
    if name in MODEL_ALIASES:
        from anchorgym.envs.registry import load_entry_point

        return Path(load_entry_point(MODEL_ALIASES[name])())
    path = Path(name).expanduser()
    if (path / "config.json").is_file():
        return path
    cached = None if path.exists() else hub_cache_snapshot(name)
    if cached is not None:
        return cached
    what = "has no config.json" if path.is_dir() else "does not exist"
    raise ConfigError(
        f"Model {name!r} {what}: give a local directory saved with save_pretrained, a hub id already in the "
        f"local Hugging Face cache, or an alias ({', '.join(sorted(MODEL_ALIASES))}).{suggest(name, MODEL_ALIASES)} "
        "Models are never downloaded at run time."
    )


def hub_cache_snapshot(repo_id: str) -> Path | None:
    """Return the local Hugging Face cache snapshot of ``repo_id`` (``org/name``), or None; never downloads."""
    if repo_id.count("/") != 1 or repo_id.startswith(("/", ".", "~")):
        return None
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        return None
    try:
        return Path(snapshot_download(repo_id=repo_id, local_files_only=True))
    except Exception:  # noqa: BLE001 - any failure means "not in the local cache"
        return None
