"""ALFWorld data: resolution, installation, splits and the traj_data fields derived from folder names."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile

import pytest

from anchorgym.cli import main
from anchorgym.envs.alfworld import data
from anchorgym.errors import DataNotFoundError, UnknownNameError

GAME = "pick_heat_then_place_in_recep-AppleSliced-None-Fridge-5/trial_1"


def test_folder_name_gives_task_type_and_pddl_params():
    assert data.task_info_from_folder("pick_two_obj_and_place-Book-None-Sofa-201/trial_T1") == {
        "task_type": "pick_two_obj_and_place",
        "pddl_params": {
            "object_target": "Book",
            "object_sliced": False,
            "mrecep_target": "",
            "parent_target": "Sofa",
            "toggle_target": "",
        },
    }
    lamp = data.task_info_from_folder("look_at_obj_in_light-AlarmClock-None-DeskLamp-308")
    assert lamp["pddl_params"]["toggle_target"] == "DeskLamp"
    assert lamp["pddl_params"]["parent_target"] == ""
    sliced = data.task_info_from_folder(GAME)["pddl_params"]
    assert (sliced["object_target"], sliced["object_sliced"]) == ("Apple", True)


def test_bad_folder_name_is_a_clear_error():
    with pytest.raises(ValueError, match="does not match '<task_type>-<Object>-<MovableRecep>-<Target>-<scene>'"):
        data.task_info_from_folder("pick_and_place_with_movable_recep-Pen-Bowl-Desk-1")


def test_split_aliases_and_unknown_split():
    assert data.canonical_split("eval_out_of_distribution") == "valid_unseen"
    assert data.canonical_split("eval_in_distribution") == "valid_seen"
    with pytest.raises(UnknownNameError, match="Did you mean 'valid_unseen'"):
        data.canonical_split("valid_unsen")


def test_resolution_order(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("ANCHORGYM_CACHE_DIR", raising=False)
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    assert data.data_root() == tmp_path / "cache" / "anchorgym" / "alfworld"
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "env"))
    assert data.data_root() == tmp_path / "env"
    assert data.data_root(tmp_path / "arg") == tmp_path / "arg"


def test_missing_data_names_the_fixing_command(monkeypatch, tmp_path):
    monkeypatch.setenv("ANCHORGYM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path))
    with pytest.raises(DataNotFoundError) as error:
        data.games_root()
    assert str(error.value) == (
        f"ALFWorld games not found at {tmp_path / 'json_2.1.1'} or {tmp_path / 'cache' / 'alfworld' / 'json_2.1.1'}. "
        "Install it with: anchorgym data alfworld --from PATH/TO/json_2.1.1.tar.xz (or set ALFWORLD_DATA)."
    )


def test_games_in_the_cache_are_found_when_alfworld_set_its_own_default(monkeypatch, tmp_path, alfworld_dir):
    """Importing alfworld sets ALFWORLD_DATA to ~/.cache/alfworld; the cache's games must still be found."""
    monkeypatch.setenv("ANCHORGYM_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "cache" / "alfworld").mkdir(parents=True)
    (tmp_path / "cache" / "alfworld" / "json_2.1.1").symlink_to(alfworld_dir / "json_2.1.1")
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "alfworld-default"))  # as alfworld.info leaves it
    assert data.games_root() == tmp_path / "cache" / "alfworld" / "json_2.1.1"


def test_second_env_in_a_process_finds_the_installed_games(tmp_path, alfworld_dir):
    """The first-hour bug: `data alfworld --from` then two envs in one process (alfworld imported by the first)."""
    pytest.importorskip("alfworld")
    script = (
        "import anchorgym\n"
        "for _ in range(2):\n"
        "    env = anchorgym.make('anchorgym/ALFWorld-v0', split='valid_unseen')\n"
        "    obs, info = env.reset(seed=0)\n"
        "    env.close()\n"
        "print('ok', bool(obs))\n"
    )
    cache = tmp_path / "cache"
    (cache / "alfworld").mkdir(parents=True)
    (cache / "alfworld" / "json_2.1.1").symlink_to(alfworld_dir / "json_2.1.1")
    env = {k: v for k, v in os.environ.items() if k != data.ENV_VAR}
    env.update(ANCHORGYM_CACHE_DIR=str(cache), HOME=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok True"


def test_downloader_is_found_beside_the_interpreter(monkeypatch, tmp_path):
    """In an unactivated venv alfworld-download sits beside sys.executable, not on PATH."""
    exe = tmp_path / "bin" / "alfworld-download"
    exe.parent.mkdir()
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "bin" / "python"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert data._downloader() == str(exe)


def test_make_without_data_is_one_clear_line(monkeypatch, tmp_path, capsys):
    pytest.importorskip("alfworld")
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path))
    monkeypatch.setenv("ANCHORGYM_CACHE_DIR", str(tmp_path / "cache"))  # games in a user cache must not be found
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # and if they were, play must not wait for input
    assert main(["play", "anchorgym/ALFWorld-v0", "--split", "valid_unseen"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "anchorgym data alfworld --from" in err


def _mini_archive(tmp_path, shared_root):
    """A tar.xz holding two real games, in the release layout."""
    archive = tmp_path / "mini.tar.xz"
    with tarfile.open(archive, "w:xz") as tar:
        for split in ("train", "valid_unseen"):
            task_id = data.list_games(shared_root, split)[0]
            tar.add(shared_root / split / task_id, arcname=f"json_2.1.1/{split}/{task_id}")
    return archive


def test_install_from_archive_is_atomic_and_idempotent(tmp_path, alfworld_dir, capsys):
    root = alfworld_dir / data.RELEASE
    archive = _mini_archive(tmp_path, root)
    target = tmp_path / "data"
    assert main(["data", "alfworld", "--from", str(archive), "--data-dir", str(target)]) == 0
    installed = target / data.RELEASE
    assert data.list_games(installed, "valid_unseen") == data.list_games(root, "valid_unseen")[:1]
    assert (installed / "train" / data.list_games(root, "train")[0] / data.GAME_FILE).is_file()
    assert [p.name for p in target.iterdir()] == [data.RELEASE]  # no staging folder left behind
    assert data.install(tmp_path / "does-not-exist", target) == installed  # already there: nothing to do


def test_install_from_missing_source_is_clear(tmp_path):
    with pytest.raises(DataNotFoundError, match="does not exist. Pass the json_2.1.1.tar.xz archive or its folder."):
        data.install(tmp_path / "nope.tar.xz", tmp_path / "target")


@pytest.mark.parametrize("damage", ["not an archive", "truncated"])
def test_install_from_a_damaged_archive_is_one_clear_line(tmp_path, alfworld_dir, capsys, damage):
    archive = tmp_path / "json_2.1.1.tar.xz"
    good = _mini_archive(tmp_path, alfworld_dir / data.RELEASE).read_bytes()
    archive.write_bytes(b"not a tar" if damage == "not an archive" else good[: len(good) // 2])
    target = tmp_path / "data"
    assert main(["data", "alfworld", "--from", str(archive), "--data-dir", str(target)]) == 2
    reason = "ReadError" if damage == "not an archive" else "EOFError"
    assert capsys.readouterr().err == (
        f"error: {archive} is not a readable .tar.xz/.tar.gz archive (truncated or corrupt: {reason}). "
        "Download it again, or pass the unpacked json_2.1.1 folder.\n"
    )
    assert list(target.iterdir()) == []  # nothing half-installed


def test_published_split_sizes(alfworld_dir):
    root = alfworld_dir / data.RELEASE
    assert {split: len(data.list_games(root, split)) for split in data.SPLITS} == data.SPLIT_SIZES


def test_install_shows_progress(tmp_path, alfworld_dir, capsys, monkeypatch):
    archive = _mini_archive(tmp_path, alfworld_dir / data.RELEASE)
    monkeypatch.setitem(data.PROGRESS_FROM, "B", 0)  # the real archive is large enough; this one is tiny
    assert main(["data", "alfworld", "--from", str(archive), "--data-dir", str(tmp_path / "data")]) == 0
    lines = capsys.readouterr().err.splitlines()
    assert lines[-1].startswith("Unpacking mini.tar.xz: 100% (") and lines[-1].endswith(" MB)")
    assert len(lines) >= 2 and all(line.startswith("Unpacking mini.tar.xz: ") for line in lines)
    monkeypatch.setitem(data.PROGRESS_FROM, "files", 0)
    assert (
        main(
            ["data", "alfworld", "--from", str(tmp_path / "data" / data.RELEASE), "--data-dir", str(tmp_path / "copy")]
        )
        == 0
    )
    assert capsys.readouterr().err.splitlines()[-1] == "Copying json_2.1.1: 100% (2 of 2 files)"
