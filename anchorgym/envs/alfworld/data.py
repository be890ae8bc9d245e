"""Locating, installing and listing the ALFWorld text games.

The data folder holds ALFWorld's release ``json_2.1.1/<split>/<task-folder>/<trial>/game.tw-pddl``.
With a ``data_dir`` argument, only that folder is used. Otherwise the games are
looked for under ``$ALFWORLD_DATA`` (the variable alfworld itself uses), then in
the user cache (``~/.cache/anchorgym/alfworld``, filled by
``anchorgym data alfworld --from PATH``); the first that holds them wins.

Why not simply prefer ``$ALFWORLD_DATA``: importing ``alfworld`` *sets* it to
alfworld's own default (``~/.cache/alfworld``) when it is unset, so after the
first ALFWorld env of a process the variable no longer says what the user chose.
Looking in every candidate keeps the second env, a vector env's workers and the
leaderboard's replays on the same games as the first.

The release may lack ALFRED's ``traj_data.json``; the two fields the engine and
its handcoded expert read (``task_type``, ``pddl_params``) follow from the task
folder name ``<task_type>-<Object>-<MovableRecep|None>-<ParentTarget>-<scene>``
(see :func:`task_info_from_folder`).
"""

from __future__ import annotations

import hashlib
import lzma
import os
import shutil
import sys
import tarfile
import tempfile
import zlib
from functools import lru_cache
from pathlib import Path
from typing import Any

from anchorgym.cache import cache_root
from anchorgym.errors import ConfigError, DataNotFoundError, unknown
from anchorgym.work_progress import WorkProgress

ENV_VAR = "ALFWORLD_DATA"
RELEASE = "json_2.1.1"
GAME_FILE = "game.tw-pddl"
SPLITS = ("train", "valid_seen", "valid_unseen")
SPLIT_ALIASES = {"eval_in_distribution": "valid_seen", "eval_out_of_distribution": "valid_unseen"}
SPLIT_SIZES = {"train": 3553, "valid_seen": 140, "valid_unseen": 134}
TASK_TYPES = (
    "pick_and_place_simple",
    "look_at_obj_in_light",
    "pick_clean_then_place_in_recep",
    "pick_heat_then_place_in_recep",
    "pick_cool_then_place_in_recep",
    "pick_two_obj_and_place",
)
INSTALL_HINT = "Install it with: anchorgym data alfworld --from PATH/TO/json_2.1.1.tar.xz (or set ALFWORLD_DATA)."


def cache_dir() -> Path:
    """Return the user cache folder for ALFWorld data (``alfworld/`` in :func:`anchorgym.cache.cache_root`)."""
    return cache_root() / "alfworld"


def candidate_roots(data_dir: str | Path | None = None) -> list[Path]:
    """Return the folders that may hold ``json_2.1.1/``, in the order they are tried."""
    if data_dir is not None:
        return [Path(data_dir).expanduser()]
    candidates = [cache_dir()]
    if os.environ.get(ENV_VAR):
        candidates.insert(0, Path(os.environ[ENV_VAR]).expanduser())
    return list(dict.fromkeys(candidates))


def data_root(data_dir: str | Path | None = None) -> Path:
    """Return the folder that holds ``json_2.1.1/``: the first candidate that has the games.

    Where none has them, the first candidate (where an install would go).
    """
    candidates = candidate_roots(data_dir)
    return next((root for root in candidates if _has_games(root / RELEASE)), candidates[0])


def _has_games(release: Path) -> bool:
    return (release / "train").is_dir() or (release / "valid_unseen").is_dir()


def games_root(data_dir: str | Path | None = None) -> Path:
    """Return ``<data root>/json_2.1.1``.

    Raises:
        DataNotFoundError: the games are not installed in any candidate folder.
    """
    candidates = [root / RELEASE for root in candidate_roots(data_dir)]
    found = next((release for release in candidates if _has_games(release)), None)
    if found is None:
        places = " or ".join(str(release) for release in candidates)
        raise DataNotFoundError(f"ALFWorld games not found at {places}. {INSTALL_HINT}")
    return found


def canonical_split(split: str) -> str:
    """Map a split name or alias (``eval_out_of_distribution``...) to its folder name."""
    split = SPLIT_ALIASES.get(split, split)
    if split not in SPLITS:
        raise unknown("ALFWorld split", split, (*SPLITS, *SPLIT_ALIASES))
    return split


@lru_cache(maxsize=16)
def list_games(root: Path, split: str) -> tuple[str, ...]:
    """Return the sorted task ids (``<task-folder>/<trial>``) of ``split`` under ``root``."""
    split_dir = root / canonical_split(split)
    if not split_dir.is_dir():
        raise DataNotFoundError(f"ALFWorld split {split!r} not found at {split_dir}. {INSTALL_HINT}")
    ids = [
        f"{task.name}/{trial.name}"
        for task in os.scandir(split_dir)
        if task.is_dir()
        for trial in os.scandir(task.path)
        if os.path.isfile(os.path.join(trial.path, GAME_FILE))
    ]
    return tuple(sorted(ids))


@lru_cache(maxsize=8)
def split_hash(root: Path, split: str) -> str:
    """Return a content hash of every game file of ``split`` (ids and bytes, in task-id order)."""
    digest = hashlib.blake2b(digest_size=16)
    for task_id in list_games(root, split):
        digest.update(task_id.encode("utf-8") + b"\0")
        digest.update((root / canonical_split(split) / task_id / GAME_FILE).read_bytes())
    return digest.hexdigest()


def task_info_from_folder(folder: str) -> dict[str, Any]:
    """Derive ALFRED's ``task_type`` and ``pddl_params`` from a task folder name.

    For ``look_at_obj_in_light`` the last receptacle is the lamp to toggle;
    a ``...Sliced`` object is the sliced form of the base object.

    >>> info = task_info_from_folder("pick_clean_then_place_in_recep-AppleSliced-None-Fridge-5")
    >>> info["task_type"], info["pddl_params"]["object_target"], info["pddl_params"]["object_sliced"]
    ('pick_clean_then_place_in_recep', 'Apple', True)
    """
    parts = folder.split("/")[0].split("-")
    if len(parts) != 5 or parts[0] not in TASK_TYPES:
        raise ConfigError(
            f"ALFWorld task folder {folder!r} does not match '<task_type>-<Object>-<MovableRecep>-<Target>-<scene>' "
            f"with a task type among {', '.join(TASK_TYPES)}."
        )
    task_type, obj, mrecep, target, _scene = parts
    sliced = obj.endswith("Sliced")
    lamp = task_type == "look_at_obj_in_light"
    params = {
        "object_target": obj[: -len("Sliced")] if sliced else obj,
        "object_sliced": sliced,
        "mrecep_target": "" if mrecep == "None" else mrecep,
        "parent_target": "" if lamp else target,
        "toggle_target": target if lamp else "",
    }
    return {"task_type": task_type, "pddl_params": params}


def install(source: str | Path | None, target: str | Path | None = None) -> Path:
    """Install the games from a ``.tar.xz``/``.tar.gz`` archive or an unpacked folder; idempotent.

    Args:
        source: the archive, a folder holding ``json_2.1.1/`` or the ``json_2.1.1`` folder
            itself; None downloads through alfworld's own ``alfworld-download``.
        target: the data root (default: ``$ALFWORLD_DATA`` or the user cache).

    Returns:
        The ``json_2.1.1`` folder.
    """
    root = data_root(target)
    final = root / RELEASE
    if (final / "valid_unseen").is_dir() and (final / "train").is_dir():
        return final
    if source is None:
        return _download(root)
    source = Path(source).expanduser()
    if not source.exists():
        raise DataNotFoundError(f"{source} does not exist. Pass the json_2.1.1.tar.xz archive or its folder.")
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".alfworld-", dir=root))
    try:
        _unpack(source, staging)
        found = next((p for p in (staging / RELEASE, staging) if (p / "valid_unseen").is_dir()), None)
        if found is None:
            raise DataNotFoundError(f"{source} holds no {RELEASE}/valid_unseen folder; is it ALFWorld's json_2.1.1?")
        os.replace(found, final)  # atomic: readers never see a half-installed release
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final


PROGRESS_FROM = {"B": 20_000_000, "files": 2_000}
"""Smaller installs finish in moments and show no progress (the ALFWorld archive is ~300 MB, 12,000 files)."""


class _CountingReader:
    """A read-only file that reports how far it has been read to a :class:`WorkProgress` (tarfile reads it)."""

    def __init__(self, file: Any, progress: WorkProgress) -> None:
        self.file, self.progress, self.furthest = file, progress, 0

    def read(self, size: int = -1) -> bytes:
        chunk = self.file.read(size)
        position = self.file.tell()
        if position > self.furthest:  # tarfile seeks back to probe the compression: count new bytes only
            self.progress.update(position - self.furthest)
            self.furthest = position
        return chunk

    def __getattr__(self, name: str) -> Any:
        return getattr(self.file, name)  # seek, tell, seekable... as the file has them


def _copy_tree(inner: Path, target: Path) -> None:
    """Copy an unpacked release folder, showing files copied."""
    total = sum(len(files) for _, _, files in os.walk(inner))
    progress = WorkProgress(f"Copying {inner.name}", total, "files", PROGRESS_FROM["files"])

    def copy(source: str, destination: str) -> Any:
        progress.update(1)
        return shutil.copy2(source, destination)

    try:
        shutil.copytree(inner, target, copy_function=copy)
    finally:
        progress.close()


def _unpack(source: Path, staging: Path) -> None:
    if source.is_dir():
        _copy_tree(source / RELEASE if (source / RELEASE).is_dir() else source, staging / RELEASE)
        return
    progress = WorkProgress(f"Unpacking {source.name}", source.stat().st_size, "B", PROGRESS_FROM["B"])
    try:
        with source.open("rb") as raw, tarfile.open(fileobj=_CountingReader(raw, progress)) as archive:
            archive.extractall(staging, filter="data")  # the archive's bytes read so far are the progress
    except (tarfile.TarError, EOFError, lzma.LZMAError, zlib.error) as error:  # truncated or not an archive
        raise DataNotFoundError(
            f"{source} is not a readable .tar.xz/.tar.gz archive (truncated or corrupt: {type(error).__name__}). "
            "Download it again, or pass the unpacked json_2.1.1 folder."
        ) from error
    finally:
        progress.close()


def _downloader() -> str | None:
    """Find ``alfworld-download``: beside this Python first (an unactivated venv), then on ``PATH``."""
    beside = Path(sys.executable).parent / "alfworld-download"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("alfworld-download")


def _download(root: Path) -> Path:
    """Fetch the release with alfworld's own downloader (needs internet)."""
    import subprocess

    exe = _downloader()
    if exe is None:
        raise DataNotFoundError(f"No --from given and alfworld-download is not installed. {INSTALL_HINT}")
    done = subprocess.run([exe, "--data-dir", str(root)], env={**os.environ, ENV_VAR: str(root)})
    if done.returncode != 0:
        raise DataNotFoundError(f"alfworld-download failed (exit {done.returncode}; no internet?). {INSTALL_HINT}")
    return games_root(root)
