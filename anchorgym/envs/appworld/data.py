"""Where AppWorld tasks come from: the real data (``APPWORLD_ROOT``) or the offline generator.

* ``real``: AppWorld's own data, installed by the user with ``appworld download
  data`` (it needs the internet; its licence forbids redistributing it, so
  anchorgym never copies it). Found at ``$APPWORLD_ROOT/data``; splits
  ``train``, ``dev``, ``test_normal``, ``test_challenge``.
* ``generated``: tasks that :mod:`.worker.generate` writes with the real engine
  into the cache, or under ``$ANCHORGYM_APPWORLD_DATA`` (``anchorgym data
  appworld [--data-dir DIR]``); split ``offline``. The folder name carries a
  digest of the generator's sources, so editing them regenerates.
* ``suite``: the multi-app scenario families that :mod:`.worker.suite_generate`
  writes (levels 1-3); splits ``train`` and ``test`` (held-out families).
  ``suite_version=1`` (what an unversioned ``source="suite"`` plays, as the
  released ``appworld-suite/*@v1`` specs do): phone, Venmo, SimpleNote, files,
  7 variants per family. ``suite_version=2`` (``@v2`` specs) adds Gmail,
  Splitwise and Amazon families and deepens level 3; 5 variants per family.
  ``suite_version=3`` (the newest, ``@v3`` specs) is version 2's world and tasks
  with the ``api_docs`` app filled as in AppWorld (versions 1 and 2 left its
  table empty: ``apis.api_docs.show_app_descriptions()`` found no app).
  ``anchorgym data appworld`` generates and verifies the newest full set.
* ``auto`` (default): ``real`` when ``APPWORLD_ROOT`` holds data, else ``generated``.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from anchorgym.envs.appworld.venv import cache_dir, ensure_venv, require_python
from anchorgym.errors import ConfigError, DataNotFoundError, WorkerError, unknown
from anchorgym.work_progress import WorkProgress

WORKER_DIR = Path(__file__).resolve().parent / "worker"
GENERATOR_SOURCES = ("generate.py", "tasks.py", "world.py")
INDEX_FILE = "anchorgym_tasks.json"
REAL_SPLITS = ("train", "dev", "test_normal", "test_challenge")
OFFLINE_SPLIT = "offline"
PROGRESS_PREFIX = "anchorgym-progress"  # lines the generator prints on stderr
SOURCES = ("auto", "real", "generated", "suite")
SUITE_SOURCES = ("generate.py", "suite_generate.py", "suite_tasks.py", "suite_tasks_v2.py", "suite_world.py")
SUITE_SPLITS = ("train", "test")
SUITE_SEED = 0
SUITE_VERSIONS = (1, 2, 3)
SUITE_VERSION = 3  # the newest: what `anchorgym data appworld` generates and verifies
SUITE_DEFAULT_VERSION = 1  # an unversioned source="suite": the released @v1 specs name no version
SUITE_VARIANTS_BY_VERSION = {1: 7, 2: 5, 3: 5}
SUITE_CALLS_FILE = "anchorgym_api_calls.json"


@dataclass(frozen=True)
class TaskSource:
    """A folder shaped like ``APPWORLD_ROOT`` and the tasks of one split in it.

    Attributes:
        kind: ``"real"`` or ``"generated"``.
        root: the folder holding ``data/``.
        split: the split played.
        task_ids: the split's task ids, in file order.
        index: generated tasks only: task id -> spec (instruction, app, solution...).
    """

    kind: str
    root: Path
    split: str
    task_ids: tuple[str, ...]
    index: dict[str, dict[str, Any]] = field(default_factory=dict)


def real_root() -> Path | None:
    """Return ``$APPWORLD_ROOT`` when it holds AppWorld's data, else None."""
    root = os.environ.get("APPWORLD_ROOT")
    if root and (Path(root) / "data" / "tasks").is_dir():
        return Path(root)
    return None


def generated_root(base: str | Path | None = None) -> Path:
    """Return the folder of the offline tasks for the current generator sources.

    It lies under ``base``, else ``$ANCHORGYM_APPWORLD_DATA``, else the cache.
    """
    digest = hashlib.blake2b(digest_size=6)
    for name in GENERATOR_SOURCES:
        digest.update((WORKER_DIR / name).read_bytes())
    base = Path(base or os.environ.get("ANCHORGYM_APPWORLD_DATA") or cache_dir())
    return base / f"appworld-offline-{digest.hexdigest()}"


def ensure_generated(verify: bool = False, build_venv: bool = False, base: str | Path | None = None) -> Path:
    """Generate the offline tasks unless present; return their root.

    Args:
        verify: also play every task with its expert (must pass) and a wrong
            solution (must fail) through AppWorld's evaluator.
        build_venv: build the AppWorld venv first if it is missing.
        base: the folder to generate under (see :func:`generated_root`).
    """
    root = generated_root(base)
    root.parent.mkdir(parents=True, exist_ok=True)
    if (root / INDEX_FILE).exists() and not verify:
        return root
    python = ensure_venv() if build_venv else require_python()
    command = [str(python), str(WORKER_DIR / "generate.py"), str(root), *(["--verify"] if verify else [])]
    _run_with_progress(command, root.parent)
    return root


def _suite_version(version: int) -> int:
    if version not in SUITE_VERSIONS:
        raise unknown("AppWorld suite version", str(version), [str(v) for v in SUITE_VERSIONS])
    return version


def suite_root(
    base: str | Path | None = None,
    seed: int = SUITE_SEED,
    variants: int | None = None,
    families: str = "",
    version: int = SUITE_DEFAULT_VERSION,
) -> Path:
    """Return the folder of suite ``version`` generated from ``seed`` with ``variants`` per family.

    Its name carries a digest of the generator's sources and the settings, so editing either regenerates.
    """
    version = _suite_version(version)
    variants = SUITE_VARIANTS_BY_VERSION[version] if variants is None else variants
    digest = hashlib.blake2b(digest_size=6)
    for name in SUITE_SOURCES:
        digest.update((WORKER_DIR / name).read_bytes())
    digest.update(f"{seed}:{variants}:{families}:{version}".encode())
    base = Path(base or os.environ.get("ANCHORGYM_APPWORLD_DATA") or cache_dir())
    return base / f"appworld-suite-{digest.hexdigest()}"


def ensure_suite(
    verify: bool = False,
    build_venv: bool = False,
    base: str | Path | None = None,
    seed: int = SUITE_SEED,
    variants: int | None = None,
    families: tuple[str, ...] = (),
    version: int = SUITE_DEFAULT_VERSION,
) -> Path:
    """Generate the suite unless present (and, with ``verify``, check it once); return its root.

    Args:
        verify: play every task with its expert (must pass; its API calls are recorded in
            ``anchorgym_api_calls.json``) and with a policy that only completes the task (must fail).
        build_venv: build the AppWorld venv first if it is missing.
        base: the folder to generate under (see :func:`suite_root`).
        seed: the world's and the variants' seed.
        variants: variants per scenario family (default: the version's, 7 for version 1, 5 for versions 2 and 3).
        families: only these families (default: all); tests use a few to stay fast.
        version: the suite version (1: the released @v1 suite; 2: with Gmail, Splitwise and Amazon; 3: version
            2's with the API docs app filled).
    """
    version = _suite_version(version)
    variants = SUITE_VARIANTS_BY_VERSION[version] if variants is None else variants
    root = suite_root(base, seed, variants, ",".join(families), version)
    root.parent.mkdir(parents=True, exist_ok=True)
    done = (root / INDEX_FILE).exists() and (not verify or (root / SUITE_CALLS_FILE).exists())
    if done:
        return root
    python = ensure_venv() if build_venv else require_python()
    command = [str(python), str(WORKER_DIR / "suite_main.py"), str(root), "--seed", str(seed)]
    command += ["--variants", str(variants), "--families", ",".join(families), "--suite-version", str(version)]
    command += ["--verify"] if verify else []
    _run_with_progress(command, root.parent)
    return root


def _run_with_progress(command: list[str], cwd: Path) -> None:
    """Run the generator, turning its progress lines into ours; raise with its output's tail on failure."""
    stdout = tempfile.TemporaryFile(mode="w+")  # a file, so a chatty stdout can never block the pipe we read
    process = subprocess.Popen(command, cwd=str(cwd), stdout=stdout, stderr=subprocess.PIPE, text=True)
    lines, bars = [], {}
    for line in process.stderr:
        parts = line.split()
        if len(parts) == 4 and parts[0] == PROGRESS_PREFIX:
            phase, done, total = parts[1], int(parts[2]), int(parts[3])
            if phase not in bars:
                bars[phase] = WorkProgress(f"AppWorld tasks: {phase}", total, "tasks")
            bars[phase].update(done - bars[phase].done)
        else:
            lines.append(line.rstrip())
    for bar in bars.values():
        bar.close()
    stdout.seek(0)
    output = stdout.read()
    stdout.close()
    if process.wait() != 0:
        tail = " | ".join([*lines, *output.splitlines()][-6:])
        raise WorkerError(f"AppWorld task generation failed (exit {process.returncode}): {tail}")


def _split_ids(root: Path, split: str) -> tuple[str, ...]:
    path = root / "data" / "datasets" / f"{split}.txt"
    if not path.exists():
        known = sorted(p.stem for p in (root / "data" / "datasets").glob("*.txt"))
        raise unknown("AppWorld split", split, known, f"(no {path})")
    return tuple(line.strip() for line in path.read_text().splitlines() if line.strip())


def load_source(
    source: str = "auto",
    split: str | None = None,
    suite_variants: int | None = None,
    suite_version: int = SUITE_DEFAULT_VERSION,
) -> TaskSource:
    """Resolve ``source`` and ``split`` to a :class:`TaskSource`.

    With ``source="suite"``, ``suite_version`` picks the suite version and ``suite_variants`` the suite
    generated with that many variants per family (default: the version's full set).

    Raises:
        UnknownNameError: unknown source or split.
        DataNotFoundError: ``source="real"`` without AppWorld's data.
    """
    if source not in SOURCES:
        raise unknown("AppWorld task source", source, SOURCES)
    if source == "suite":
        root = ensure_suite(variants=suite_variants, version=suite_version)
        split = split or SUITE_SPLITS[0]
        index = json.loads((root / INDEX_FILE).read_text())["tasks"]
        return TaskSource("suite", root, split, _split_ids(root, split), index)
    root = real_root() if source in ("auto", "real") else None
    if source == "real" and root is None:
        raise DataNotFoundError(
            "AppWorld's data was not found: set APPWORLD_ROOT to the folder holding data/ "
            "(get it with `appworld download data` in the AppWorld venv), or use source='generated'."
        )
    if root is not None:
        split = split or "train"
        return TaskSource("real", root, split, _split_ids(root, split))
    root = ensure_generated()
    split = split or OFFLINE_SPLIT
    if split != OFFLINE_SPLIT:
        raise ConfigError(
            f"The generated AppWorld tasks have one split, {OFFLINE_SPLIT!r}; got {split!r}. "
            "Set APPWORLD_ROOT to AppWorld's data for train/dev/test_normal/test_challenge."
        )
    index = json.loads((root / INDEX_FILE).read_text())["tasks"]
    return TaskSource("generated", root, split, _split_ids(root, split), index)


def check_installed() -> Path:
    """Return the root of the tasks the env plays by default, once ``make`` can run it.

    This is ``anchorgym envs``'s check: it raises what making the env would raise.

    Raises:
        DependencyError: the AppWorld venv is not built.
        DataNotFoundError: neither AppWorld's data (``APPWORLD_ROOT``) nor the offline tasks are there.
    """
    require_python()
    root = real_root()
    if root is not None:
        return root
    root = generated_root()
    if not (root / INDEX_FILE).exists():
        raise DataNotFoundError(f"The offline AppWorld tasks are not generated at {root}. Run: anchorgym data appworld")
    return root


def install_data(source: str | None = None, target: str | None = None, verify: bool = True) -> Path:
    """Installer for ``anchorgym data appworld [--from ROOT] [--data-dir DIR]``.

    Builds the AppWorld venv and generates (and, with ``verify``, checks) the
    offline tasks. AppWorld's own data cannot be fetched by anchorgym; ``source``
    may name a folder holding it, which is checked, never copied.

    Args:
        source: optional path to AppWorld's own data root (``APPWORLD_ROOT``).
        target: folder to generate the offline tasks under (default: the cache).
        verify: play every generated task with its expert and a wrong solution.

    Returns:
        The folder holding the generated tasks.
    """
    if source is not None and not (Path(source) / "data" / "tasks").is_dir():
        raise DataNotFoundError(f"{source} holds no data/tasks: point it at the folder `appworld download data` made.")
    ensure_venv()
    root = ensure_generated(verify=verify, build_venv=True, base=target)
    suite = ensure_suite(verify=verify, build_venv=True, base=target, version=SUITE_VERSION)
    variants = SUITE_VARIANTS_BY_VERSION[SUITE_VERSION]
    print(f"AppWorld suite v{SUITE_VERSION} ({variants} variants per family, splits train/test): {suite}")
    if source is not None:
        print(f"AppWorld data found at {source}: export APPWORLD_ROOT={Path(source).resolve()} to play it.")
    if target is not None:
        print(f"Generated tasks in {root}: export ANCHORGYM_APPWORLD_DATA={Path(target).resolve()} to play them.")
    print(f"AppWorld venv: {require_python()}")
    return root


def dataset_hashes(source: TaskSource) -> dict[str, str]:
    """Content hashes of the files that define ``source``'s tasks (recorded in results).

    Generated tasks: the task index (every instruction, solution and evaluation
    input) and the split file. Real data: the split file (its tasks' folders are
    AppWorld's own, versioned by AppWorld).
    """
    files = [source.root / "data" / "datasets" / f"{source.split}.txt"]
    if source.kind in ("generated", "suite"):
        files.append(source.root / INDEX_FILE)
    return {f"appworld/{path.name}": hashlib.sha256(path.read_bytes()).hexdigest() for path in files}
