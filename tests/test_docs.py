"""Documented code runs as written: every Python block of the READMEs and docs pages, and the cheap CLI lines.

Each fenced ``python`` block of ``README.md``, ``anchorgym/**/README.md`` and ``docs/**/*.md`` is saved
unchanged into an empty folder and run as a script in a fresh interpreter. The blocks of ``README.md``
are also piped to ``python -``, as a user pasting the quickstart into a terminal would. A block whose
first line is a comment naming a file (``# my_coin.py: ...``) is saved under that name.

An HTML comment on the line before a block says what it needs, sparingly:

* ``<!-- docs: needs alfworld -->``: the ALFWorld games (the tests' unpacked copy, through
  ``$ALFWORLD_DATA``); skipped where the shared archive is absent, like every test that needs data.
* ``<!-- docs: server anchorgym ... --port N -->``: the block talks to a server: that command is started
  first (in the block's folder) and the block runs once port N on 127.0.0.1 accepts connections.
* ``<!-- docs: skip REASON -->``: not run, with the reason shown.

In ``bash`` blocks, the lines that run ``anchorgym envs``, ``benchmarks``, ``compare``, ``report``, and
``eval`` of a Sokoban benchmark with the ``expert`` or ``random`` policy run in order, in one folder per
file (other lines serve, train, download or hold placeholders). A failure names the file and line.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^```(\w*)\s*$")
MARKER = re.compile(r"^<!-- docs: (needs|skip|server) ?(.*?) -->$")
FILE_NAME = re.compile(r"^# (\w+\.py)\b")
CHEAP = {"envs", "benchmarks", "compare", "report", "eval"}


@dataclass(frozen=True)
class Block:
    """One fenced code block."""

    path: Path
    line: int  # of its first code line, 1-based
    language: str
    code: str
    marker: tuple[str, str] | None  # ("needs" | "skip" | "server", argument)

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def documents() -> list[Path]:
    """The Markdown files whose code must run."""
    pages = [ROOT / "README.md", *sorted((ROOT / "anchorgym").rglob("README.md"))]
    return pages + sorted((ROOT / "docs").rglob("*.md"))


def blocks(path: Path) -> list[Block]:
    """Return the top-level fenced blocks of one Markdown file, with the marker before each."""
    found, lines, index = [], path.read_text().splitlines(), 0
    previous = ""
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            previous = lines[index].strip() or previous
            index += 1
            continue
        end = next((j for j in range(index + 1, len(lines)) if lines[j].rstrip() == "```"), len(lines))
        marker = MARKER.match(previous)
        code = "\n".join(lines[index + 1 : end]) + "\n"
        found.append(Block(path, index + 2, opening.group(1), code, marker.groups() if marker else None))
        index, previous = end + 1, ""
    return found


def all_blocks(language: str) -> list[Block]:
    return [b for path in documents() for b in blocks(path) if b.language == language]


PYTHON_BLOCKS = all_blocks("python")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSTARTUP")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("ANCHORGYM_SHARED_DATA", str(ROOT.parent / "shared" / "data"))
    return env


def _check(done: subprocess.CompletedProcess, where: str, how: str) -> None:
    if done.returncode != 0:
        pytest.fail(f"{where}: the block failed {how} (exit {done.returncode}):\n{done.stdout[-2000:]}\n"
                    f"{done.stderr[-4000:]}", pytrace=False)  # fmt: skip


def _prepare(block: Block, request: pytest.FixtureRequest) -> dict[str, str]:
    env = _env()
    if block.marker and block.marker[0] == "skip":
        pytest.skip(f"{block.where}: {block.marker[1]}")
    if block.marker and block.marker[0] == "needs":
        if block.marker[1] != "alfworld":
            raise ValueError(f"{block.where}: unknown need {block.marker[1]!r} (known: alfworld)")
        env["ALFWORLD_DATA"] = str(request.getfixturevalue("alfworld_dir"))
    return env


@contextlib.contextmanager
def _server(block: Block, folder: Path, env: dict[str, str]) -> Iterator[None]:
    """Run the block's ``server`` command, if it has one, until the block is done."""
    if not (block.marker and block.marker[0] == "server"):
        yield
        return
    args = shlex.split(block.marker[1])
    port = int(args[args.index("--port") + 1])
    log = (folder / "server.log").open("w")
    server = subprocess.Popen(args, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_for_port(port, server, folder / "server.log", block.where)
        yield
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()


def _wait_for_port(port: int, server: subprocess.Popen, log: Path, where: str) -> None:
    """Wait until 127.0.0.1:port accepts connections; fail if the server exits first (no time limit of ours)."""
    while True:
        if server.poll() is not None:
            pytest.fail(f"{where}: the server of the block exited ({server.returncode}):\n{log.read_text()[-3000:]}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=0.2)  # a pause that also notices the server exiting


@pytest.mark.slow
@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=[b.where for b in PYTHON_BLOCKS])
def test_python_block_runs_as_a_script(block: Block, tmp_path: Path, request: pytest.FixtureRequest):
    env = _prepare(block, request)
    named = FILE_NAME.match(block.code)
    script = tmp_path / (named.group(1) if named else "block.py")
    script.write_text(block.code)
    with _server(block, tmp_path, env):
        done = subprocess.run([sys.executable, script.name], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=600)  # fmt: skip
    _check(done, block.where, f"as `python {script.name}`")


README_BLOCKS = [b for b in PYTHON_BLOCKS if b.path == ROOT / "README.md"]


@pytest.mark.slow
@pytest.mark.parametrize("block", README_BLOCKS, ids=[b.where for b in README_BLOCKS])
def test_readme_block_runs_piped_to_python(block: Block, tmp_path: Path, request: pytest.FixtureRequest):
    env = _prepare(block, request)
    done = subprocess.run([sys.executable, "-"], input=block.code, cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    _check(done, block.where, "piped to `python -`")


def cheap_command(line: str) -> list[str] | None:
    """Return the arguments of a documented ``anchorgym`` line that is cheap to run, else None.

    >>> cheap_command("anchorgym report runs/random   # report.md")
    ['anchorgym', 'report', 'runs/random']
    >>> cheap_command("anchorgym eval alfworld/valid_unseen@v1 --policy expert") is None
    True
    """
    if not line.startswith("anchorgym ") or "..." in line or line.rstrip().endswith("\\"):
        return None
    args = shlex.split(line, comments=True)
    if args[1] not in CHEAP or "[" in line:
        return None
    if args[1] == "eval":
        policy = args[args.index("--policy") + 1] if "--policy" in args else None
        if not args[2].startswith("sokoban-") or policy not in ("expert", "random"):
            return None
    return args


BASH_FILES = sorted({b.path for b in all_blocks("bash") if any(map(cheap_command, b.code.splitlines()))})


@pytest.mark.slow
@pytest.mark.parametrize("path", BASH_FILES, ids=[str(p.relative_to(ROOT)) for p in BASH_FILES])
def test_documented_commands_run(path: Path, tmp_path: Path):
    ran = 0
    for block in (b for b in blocks(path) if b.language == "bash"):
        for offset, line in enumerate(block.code.splitlines()):
            args = cheap_command(line)
            if args is None:
                continue
            done = subprocess.run(args, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=600)
            _check(done, f"{block.path.relative_to(ROOT)}:{block.line + offset}", f"as `{line.split('  #')[0]}`")
            ran += 1
    assert ran > 0


def test_the_collector_reads_markers_lines_and_file_names(tmp_path: Path):
    page = tmp_path / "page.md"
    page.write_text(
        "Intro\n\n<!-- docs: needs alfworld -->\n```python\n# my_env.py: an env\nx = 1\n```\n\n"
        "```bash\nanchorgym envs\n```\n<!-- docs: skip needs a GPU -->\n\n```python\ny = 2\n```\n"
    )
    found = blocks(page)
    assert [(b.line, b.language, b.marker) for b in found] == [
        (5, "python", ("needs", "alfworld")), (10, "bash", None), (15, "python", ("skip", "needs a GPU")),
    ]  # fmt: skip
    assert found[0].code == "# my_env.py: an env\nx = 1\n" and FILE_NAME.match(found[0].code).group(1) == "my_env.py"
    assert len(PYTHON_BLOCKS) >= 10 and README_BLOCKS  # the collector sees the real READMEs


@pytest.mark.slow
def test_docs_site_builds_strict(tmp_path: Path):
    """`make docs`: mkdocs --strict fails on any warning (a broken link, a missing page, a bad docstring)."""
    mkdocs = Path(sys.executable).with_name("mkdocs")
    env = _env() | {"NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    site = tmp_path / "site"
    for env_name in ("sokoban", "alfworld", "webshop", "toolqa", "appworld"):
        readme = (ROOT / "anchorgym" / "envs" / env_name / "README.md").read_text()
        title = readme.splitlines()[0].lstrip("# ").strip()
        page = (site / "environments" / env_name / "index.html").read_text()
        assert title.split("`")[0].strip() in page, env_name  # the README itself, included, not a copy
    cli_page = (site / "cli" / "index.html").read_text()
    from anchorgym.cli import build_parser

    for action in build_parser()._subparsers._group_actions:
        for name in action.choices:
            assert f"anchorgym {name}" in cli_page, name  # every subcommand, from the parser
    assert "docs/hooks" not in {p.parent.name for p in site.rglob("*.py")}
    assert "t_critical" in (site / "api" / "index.html").read_text()  # mkdocstrings rendered the API


def _hook():
    import importlib.util

    spec = importlib.util.spec_from_file_location("anchorgym_docs", ROOT / "docs" / "hooks" / "anchorgym_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_hook_includes_a_section_and_rewrites_links():
    hook = _hook()
    text = (
        "# Title\n\nintro\n\n## One\n\nsee [the contract](../README.md#anchors) and [a file](data.py)\n"
        "```python\n# not a heading\n```\n### Sub\n\nx\n\n## Two\n\ny\n"
    )
    assert hook._section(text, "One", "p.md") == (
        "## One\n\nsee [the contract](../README.md#anchors) and [a file](data.py)\n"
        "```python\n# not a heading\n```\n### Sub\n\nx\n\n"
    )
    hook._pages.clear()
    hook._pages["anchorgym/envs/README.md"] = "environments/index.md"
    line = "see [the contract](../README.md#anchors), [`data.py`](data.py), [web](https://example.org) [x](#y)\n"
    assert hook._rewrite_links(line, "anchorgym/envs/sokoban/README.md", "environments/sokoban.md") == (
        "see [the contract](index.md#anchors), `data.py`, [web](https://example.org) [x](#y)\n"
    )
    assert hook._rewrite_links("[the changelog](CHANGELOG.md)", "README.md", "index.md") == (
        "the changelog (`CHANGELOG.md`)\n"
    )
    with pytest.raises(ValueError, match="p.md has no heading 'Three'"):
        hook._section(text, "Three", "p.md")


def test_rst_docstrings_become_markdown():
    import importlib.util

    spec = importlib.util.spec_from_file_location("rst_docstrings", ROOT / "docs" / "hooks" / "rst_docstrings.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = (
        "Keys, see :mod:`.anchors`::\n\n"
        "==================== =====\nkey                  meaning\n==================== =====\n"
        "``anchor``           a digest\n``admissible_actions`` list[str] or None\n==================== =====\n"
    )
    assert module.rst_to_markdown(text) == (
        "Keys, see `anchors`:\n\n| key | meaning |\n|---|---|\n| `anchor` | a digest |\n"
        "| `admissible_actions` | list[str] or None |"
    )


@pytest.mark.slow
@pytest.mark.parametrize("block", README_BLOCKS, ids=[b.where for b in README_BLOCKS])
def test_readme_block_runs_in_a_jupyter_kernel(block: Block, tmp_path: Path, request: pytest.FixtureRequest):
    """Pasted into a notebook cell: the kernel's __main__ is no importable file (spawned workers must cope)."""
    from jupyter_client.manager import start_new_kernel

    env = _prepare(block, request)
    manager, client = start_new_kernel(kernel_name="python3", cwd=str(tmp_path), env=env)
    errors: list[str] = []

    def keep_errors(message: dict) -> None:
        if message["msg_type"] == "error":
            errors.append("\n".join(message["content"]["traceback"]))

    try:
        reply = client.execute_interactive(block.code, timeout=600, output_hook=keep_errors)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    assert reply["content"]["status"] == "ok", f"{block.where}: the block failed in a Jupyter kernel:\n{errors}"


CURRENT_VERSION_PAGES = [
    "README.md",
    "docs/quickstart.md",
    "docs/own-env.md",
    "docs/own-policy.md",
    "docs/evaluation.md",
    "docs/index.md",
    "anchorgym/envs/README.md",
    "anchorgym/harness/README.md",
]
"""The pages a new user starts from: they name the current env and benchmark versions (issue #28)."""
VERSIONED_ID = re.compile(r"\b[\w.-]+/[\w.-]+(?:-v\d+|@v\d+)\b")


def _legacy_ids() -> set[str]:
    from anchorgym.envs.cli import current_ids
    from anchorgym.envs.registry import list_envs
    from anchorgym.harness.specs import list_benchmarks

    envs = [info.id for info in list_envs()]
    benchmarks = {spec.id.replace("@v", "-v"): spec.id for spec in list_benchmarks()}
    current = current_ids(envs) | {benchmarks[i] for i in current_ids(list(benchmarks))}
    return (set(envs) | set(benchmarks.values())) - current


@pytest.mark.parametrize("page", CURRENT_VERSION_PAGES)
def test_starting_pages_use_current_versions(page: str):
    legacy = _legacy_ids()
    assert {"anchorgym/Sokoban-v0", "sokoban-6x6-1box/test@v1"} <= legacy
    for number, line in enumerate((ROOT / page).read_text(encoding="utf-8").splitlines(), start=1):
        named = set(VERSIONED_ID.findall(line)) & legacy
        assert not named or "legacy" in line, f"{page}:{number} names legacy {sorted(named)} without saying so"


def test_the_versions_page_is_in_the_nav():
    assert "  - Versions: versions.md" in (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    text = (ROOT / "docs" / "versions.md").read_text(encoding="utf-8")
    assert "`sokoban-6x6-1box/test@v2` runs `anchorgym/Sokoban-v1`" in text
