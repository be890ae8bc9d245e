"""``anchorgym envs``, ``play`` (with piped stdin) and ``data``."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import anchorgym
from anchorgym.cli import main
from anchorgym.envs.cli import play_episode
from anchorgym.envs.registry import _REGISTRY, EnvInfo


def test_envs_lists_sokoban(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # test envs registered by other tests widen the columns; keep cells unwrapped
    assert main(["envs"]) == 0
    out = capsys.readouterr().out
    assert "anchorgym/Sokoban-v1" in out and "train, test" in out and "15" in out


@pytest.fixture
def no_data(tmp_path, monkeypatch):
    """Point every data lookup at empty folders."""
    for name in ("ANCHORGYM_CACHE_DIR", "ALFWORLD_DATA", "WEBSHOP_DATA", "ANCHORGYM_SHARED_DATA"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))
    monkeypatch.setenv("ANCHORGYM_APPWORLD_VENV", str(tmp_path / "appworld-venv"))
    monkeypatch.delenv("APPWORLD_ROOT", raising=False)
    return tmp_path


def _rows(capsys) -> dict:
    assert main(["envs", "--json"]) == 0
    return {row["id"]: row for row in json.loads(capsys.readouterr().out)}


def test_envs_json_describes_each_env(capsys):
    sokoban = _rows(capsys)["anchorgym/Sokoban-v0"]
    assert sokoban == {
        "id": "anchorgym/Sokoban-v0",
        "current": False,
        "splits": ["train", "test"],
        "max_steps": 15,
        "extra": None,
        "description": anchorgym.envs.env_info("anchorgym/Sokoban-v0").description,
        "entry_point": "anchorgym.envs.sokoban.env:SokobanEnv",
        "dependencies": {"installed": True, "missing": [], "fix": None},
        "data": {"name": None, "state": "not needed", "detail": ""},
        "ready": True,
    }


def test_envs_says_whether_data_is_installed(no_data, capsys):
    rows = _rows(capsys)
    alfworld, appworld = rows["anchorgym/ALFWorld-v0"]["data"], rows["anchorgym/AppWorld-v0"]["data"]
    assert alfworld["name"] == "alfworld" and alfworld["state"] == "not installed"
    assert alfworld["detail"].startswith(f"ALFWorld games not found at {no_data / 'alfworld_data' / 'json_2.1.1'}")
    assert appworld["state"] == "not installed" and not rows["anchorgym/AppWorld-v0"]["ready"]
    assert appworld["detail"].startswith(f"The AppWorld venv is not built at {no_data / 'appworld-venv'}.")
    assert rows["anchorgym/ToolQA-v0"]["data"]["state"] == "optional"
    webshop = rows["anchorgym/WebShop-v1"]["data"]
    assert webshop["state"] == "not installed" and webshop["detail"].startswith("WebShop data not found (looked in ")


def test_appworld_reads_not_installed_exactly_when_make_raises(no_data, capsys):
    from anchorgym.errors import DependencyError

    with pytest.raises(DependencyError, match="The AppWorld venv is not built"):
        anchorgym.make("anchorgym/AppWorld-v0", split="offline")
    assert main(["envs"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.strip().startswith("anchorgym/AppWorld-v0"))
    assert row.split()[-2:] == ["no", "(data)"]
    assert f"anchorgym/AppWorld-v0: The AppWorld venv is not built at {no_data / 'appworld-venv'}." in out


def test_envs_data_installed_from_a_real_folder(shared_file, monkeypatch, capsys):
    folder = shared_file("webshop")
    monkeypatch.setenv("WEBSHOP_DATA", str(folder))
    rows = _rows(capsys)
    for env_id in ("anchorgym/WebShop-v0", "anchorgym/WebShop-v1"):
        assert rows[env_id]["data"] == {"name": "webshop", "state": "installed", "detail": str(folder)}


@pytest.mark.parametrize("columns", [72, 80, 100, 120, 180])
def test_envs_table_fits_the_terminal_width(columns, monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", str(columns))
    assert main(["envs"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert "…" not in out  # no id (nor anything else) is cut with an ellipsis
    from anchorgym.envs.cli import current_ids

    builtin = current_ids([info.id for info in anchorgym.list_envs() if info.id.startswith("anchorgym/")])
    assert {"anchorgym/ALFWorld-v0", "anchorgym/Sokoban-v1"} <= builtin
    for env_id in sorted(builtin):
        assert any(line.split()[:1] == [env_id] for line in lines), env_id  # whole, on one line
    assert all(len(line) <= columns for line in lines[:3])  # the built-in ids fit: the table is no wider
    assert ("description" in lines[1]) == (columns >= 140)


def test_envs_hides_legacy_versions_unless_all(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "120")
    assert main(["envs"]) == 0
    out = capsys.readouterr().out
    ids = [line.split()[0] for line in out.splitlines() if line.strip().startswith("anchorgym/")]
    assert "anchorgym/Sokoban-v1" in ids and "anchorgym/Sokoban-v0" not in ids and "anchorgym/WebShop-v0" not in ids
    assert "legacy versions hidden (kept for old results): anchorgym envs --all" in out
    assert main(["envs", "--all"]) == 0
    out = capsys.readouterr().out
    assert any(line.split()[:2] == ["anchorgym/Sokoban-v0", "(legacy)"] for line in out.splitlines())
    assert "hidden" not in out
    rows = _rows(capsys)  # the JSON lists every env and says which is current
    assert (rows["anchorgym/Sokoban-v0"]["current"], rows["anchorgym/Sokoban-v1"]["current"]) == (False, True)


def test_current_ids_pick_the_highest_version_of_each_name():
    from anchorgym.envs.cli import current_ids

    ids = ["a/Env-v0", "a/Env-v2", "a/Env-v10", "a/Env-extra-v0", "b/Other"]
    assert current_ids(ids) == {"a/Env-v10", "a/Env-extra-v0", "b/Other"}


def test_data_help_lists_the_data_sets(capsys):
    with pytest.raises(SystemExit):
        main(["data", "--help"])
    out = " ".join(capsys.readouterr().out.split()).replace("- ", "-")  # argparse wraps after a hyphen
    assert "Data sets: alfworld, appworld, hotpot-sample, webshop" in out


def test_play_reads_actions_from_piped_stdin():
    env = anchorgym.make("anchorgym/Sokoban-v0", split="test")
    obs, info = env.reset(options={"task_id": "1000000000"})
    probe = anchorgym.make("anchorgym/Sokoban-v0", split="test")
    probe.reset(options={"task_id": "1000000000"})
    plan = []
    while not probe.won:
        plan.append(probe.expert_action())
        probe.step(plan[-1])
    out = io.StringIO()
    play_episode(env, obs, info, io.StringIO("hop\n:expert\n" + "\n".join(plan) + "\n"), out)
    text = out.getvalue()
    assert "invalid action: no-op" in text and f"Expert: {plan[0]}" in text
    assert f"Episode WON after {len(plan) + 1} steps, score 1.00." in text
    assert info["anchor"] in text


def test_play_command_end_to_end_with_a_pipe():
    result = subprocess.run(
        [sys.executable, "-m", "anchorgym.cli", "play", "anchorgym/Sokoban-v0", "--split", "test", "--seed", "2"],
        input="up\nleft\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.count("reward -0.10") + result.stdout.count("reward +0.90") >= 1
    assert result.stdout.rstrip().endswith("Stopped.")


def test_play_unknown_env_is_one_line_error(capsys):
    assert main(["play", "anchorgym/Sokobn-v0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Unknown environment 'anchorgym/Sokobn-v0'. Did you mean 'anchorgym/Sokoban-v0'?")


def test_data_unknown_name_lists_known_names(capsys):
    assert main(["data", "nosuchdata"]) == 2
    assert "Unknown data set 'nosuchdata'" in capsys.readouterr().err


@pytest.fixture
def toy_data_env():
    """Register a throwaway env whose data installer copies a file, then unregister it."""
    info = EnvInfo(
        id="anchorgym/ToyData-v0",
        entry_point="anchorgym.envs.sokoban.env:SokobanEnv",
        splits=("test",),
        max_steps=15,
        data="toydata",
        data_installer=f"{__name__}:install_toy",
    )
    _REGISTRY[info.id] = info
    yield info
    del _REGISTRY[info.id]


def install_toy(source, target):
    from pathlib import Path

    Path(target).mkdir(parents=True, exist_ok=True)
    (Path(target) / "copied.txt").write_text(Path(source).read_text())
    return Path(target)


def test_data_dispatches_to_the_installer(toy_data_env, tmp_path, capsys):
    source = tmp_path / "src.txt"
    source.write_text("payload")
    assert main(["data", "toydata", "--from", str(source), "--data-dir", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "copied.txt").read_text() == "payload"
    assert f"Installed toydata data into {tmp_path / 'out'}" in capsys.readouterr().out


OUTSIDE_CHECKOUT = """
import json
import anchorgym
from anchorgym.envs.toolqa.data import hotpot_candidates
from anchorgym.envs.webshop.data import locate
from anchorgym.errors import DataNotFoundError
from anchorgym.shared_data import shared_data_dir

try:
    locate()
except DataNotFoundError as error:
    message = str(error)
print(json.dumps([anchorgym.__file__, str(shared_data_dir()), message, [str(p) for p in hotpot_candidates(None)]]))
"""


def test_data_messages_name_no_shared_folder_outside_a_source_checkout(tmp_path):
    site = tmp_path / "lib" / "python3.11" / "site-packages"
    shutil.copytree(Path(anchorgym.__file__).parent, site / "anchorgym", ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in os.environ.items() if k not in ("ANCHORGYM_SHARED_DATA", "WEBSHOP_DATA")}
    env.update(PYTHONPATH=str(site), ANCHORGYM_CACHE_DIR=str(tmp_path / "cache"))
    outside = [sys.executable, "-c", OUTSIDE_CHECKOUT]  # run from tmp_path: the checkout is not on the path
    out = subprocess.run(outside, cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    module, shared, message, candidates = json.loads(out.stdout)
    assert module == str(site / "anchorgym" / "__init__.py") and shared == "None"
    assert message.startswith(f"WebShop data not found (looked in {tmp_path / 'cache' / 'webshop'} for products_")
    assert "shared" not in message
    assert candidates == [str(tmp_path / "cache" / "toolqa" / "hotpotqa_dev_distractor_sample.json")]
    env["ANCHORGYM_SHARED_DATA"] = str(tmp_path / "mine")  # named on purpose: searched and named
    out = subprocess.run(outside, cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert (
        f"looked in {tmp_path / 'cache' / 'webshop'}, {tmp_path / 'mine' / 'webshop'} for" in json.loads(out.stdout)[2]
    )


def test_a_source_checkout_keeps_its_shared_folder(monkeypatch):
    from anchorgym.shared_data import shared_data_dir, source_checkout

    monkeypatch.delenv("ANCHORGYM_SHARED_DATA", raising=False)
    repo = Path(__file__).resolve().parents[2]
    assert source_checkout() == repo and shared_data_dir() == repo.parent / "shared" / "data"
