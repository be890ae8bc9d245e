"""The self-describing ``result.json``: what ran, where, with which versions, and the metrics.

The layout is fixed by ``schemas/result.schema.json`` (``schema_version`` 1);
:func:`validate_result` checks a result against it.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
from datetime import datetime, timezone
from functools import cache
from importlib import metadata, resources
from pathlib import Path
from typing import Any

from anchorgym import __version__
from anchorgym.errors import ResultError

SCHEMA_VERSION = 1
KEY_PACKAGES = (
    "numpy", "gymnasium", "torch", "transformers", "accelerate", "peft", "vllm", "ray",
    "alfworld", "textworld", "bm25s", "selenium", "httpx",
)  # fmt: skip


def utc_now() -> str:
    """Return the current UTC time in ISO 8601 with seconds."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def package_versions() -> dict[str, str]:
    """Return anchorgym's, Python's and the installed key packages' versions (without importing them)."""
    versions = {"anchorgym": __version__, "python": platform.python_version()}
    for name in KEY_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def machine_info() -> dict[str, Any]:
    """Describe the machine: OS, architecture, CPUs, memory and any CUDA device already in use."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python_implementation": platform.python_implementation(),
    }
    try:
        info["memory_gb"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        info["memory_gb"] = None
    torch = sys.modules.get("torch")  # only report CUDA when a model policy already loaded torch
    if torch is not None and torch.cuda.is_available():
        info["cuda_devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return info


def file_sha256(path: Path) -> str:
    """Return ``sha256:<hex>`` of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


@cache
def _validator(name: str) -> Any:
    import jsonschema

    return jsonschema.Draft202012Validator(_schema(name))


def _schema(name: str) -> dict[str, Any]:
    text = resources.files("anchorgym.harness").joinpath(f"schemas/{name}.schema.json").read_text("utf-8")
    return json.loads(text)


def _check(schema: str, data: dict[str, Any], source: str) -> None:
    import jsonschema

    problem = jsonschema.exceptions.best_match(_validator(schema).iter_errors(data))
    if problem is not None:
        where = "/".join(str(p) for p in problem.absolute_path) or "(top level)"
        raise ResultError(f"{source} does not match the {schema} schema at {where}: {problem.message}.")


def validate_result(result: dict[str, Any], source: str = "result") -> None:
    """Check ``result`` against the result JSON Schema (``schemas/result.schema.json``).

    Raises:
        ResultError: the result does not match (the message names the first problem).
    """
    _check("result", result, source)


def validate_episode(record: dict[str, Any], source: str = "episode") -> None:
    """Check one ``episodes.jsonl`` record against ``schemas/episode.schema.json``.

    Raises:
        ResultError: the record does not match (the message names the first problem).
    """
    _check("episode", record, source)


def load_result(path: Path) -> dict[str, Any]:
    """Load and validate ``result.json`` from a file or a result directory.

    Raises:
        ResultError: missing, corrupt, or not an anchorgym result.
    """
    path = Path(path)
    file = path / "result.json" if path.is_dir() else path
    if not file.is_file():
        raise ResultError(f"No result.json at {path}. Run `anchorgym eval` first, or point to its --out directory.")
    try:
        result = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ResultError(f"{file} is not valid JSON ({error}).") from error
    validate_result(result, str(file))
    return result
