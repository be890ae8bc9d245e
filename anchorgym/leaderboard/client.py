"""Submit a result directory to a leaderboard server."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx

from anchorgym.errors import ConfigError, EndpointError, ResultError

TOKEN_ENV_VAR = "ANCHORGYM_LEADERBOARD_TOKEN"


def submit(result_dir: str | Path, server: str, token: str | None = None, timeout_s: float = 120.0) -> dict[str, Any]:
    """Upload ``result.json`` and ``episodes.jsonl`` from ``result_dir``; return the created entry.

    Args:
        result_dir: a folder written by ``anchorgym eval``.
        server: the leaderboard's base URL, e.g. ``http://127.0.0.1:8000``.
        token: bearer token (default: ``$ANCHORGYM_LEADERBOARD_TOKEN``).
        timeout_s: request timeout.

    Raises:
        ResultError: the folder lacks a result file.
        ConfigError: no token was given.
        EndpointError: the server refused the submission or could not be reached.
    """
    folder = Path(result_dir)
    files = {name: folder / name for name in ("result.json", "episodes.jsonl")}
    missing = [str(path) for path in files.values() if not path.is_file()]
    if missing:
        raise ResultError(f"{', '.join(missing)} not found: pass a folder written by 'anchorgym eval'.")
    token = token or os.environ.get(TOKEN_ENV_VAR)
    if not token:
        raise ConfigError(f"No leaderboard token: set {TOKEN_ENV_VAR} (the admin issues tokens).")
    url = server.rstrip("/") + "/api/submissions"
    with files["result.json"].open("rb") as result, files["episodes.jsonl"].open("rb") as episodes:
        try:
            response = httpx.post(
                url,
                headers={"Authorization": f"Bearer {token}"},
                files={"result": ("result.json", result), "episodes": ("episodes.jsonl", episodes)},
                timeout=timeout_s,
            )
        except httpx.HTTPError as error:
            raise EndpointError(f"Could not reach the leaderboard at {url}: {error}") from error
    if response.status_code not in (200, 201):
        raise EndpointError(f"The leaderboard refused the submission ({response.status_code}): {_reason(response)}")
    entry = response.json()
    entry["url"] = f"{server.rstrip('/')}/entries/{entry['id']}"
    return entry


def _reason(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error", response.text))
    except ValueError:
        return response.text[:500]
