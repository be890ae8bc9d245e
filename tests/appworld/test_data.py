"""Task sources: clear errors for a missing real data set, unknown sources and splits."""

from __future__ import annotations

import pytest

from anchorgym.envs.appworld.data import install_data, load_source, real_root
from anchorgym.errors import ConfigError, DataNotFoundError, UnknownNameError


def test_real_source_without_appworld_root_says_how_to_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("APPWORLD_ROOT", str(tmp_path))
    assert real_root() is None
    with pytest.raises(DataNotFoundError, match="set APPWORLD_ROOT to the folder holding data/"):
        load_source("real")


def test_real_source_reads_appworld_splits(monkeypatch, tmp_path):
    (tmp_path / "data" / "tasks").mkdir(parents=True)
    (tmp_path / "data" / "datasets").mkdir()
    (tmp_path / "data" / "datasets" / "dev.txt").write_text("50e1ac9_1\n50e1ac9_2\n\n")
    monkeypatch.setenv("APPWORLD_ROOT", str(tmp_path))
    source = load_source("auto", "dev")
    assert (source.kind, source.split, source.task_ids) == ("real", "dev", ("50e1ac9_1", "50e1ac9_2"))
    with pytest.raises(UnknownNameError, match="Unknown AppWorld split 'deb'. Did you mean 'dev'?"):
        load_source("real", "deb")


def test_unknown_source_suggests_a_name():
    with pytest.raises(UnknownNameError, match="Did you mean 'generated'"):
        load_source("generatd")


def test_installer_rejects_a_folder_without_appworld_data(tmp_path):
    with pytest.raises(DataNotFoundError, match="holds no data/tasks"):
        install_data(str(tmp_path))


def test_dataset_hashes_cover_the_split_file(monkeypatch, tmp_path):
    import hashlib

    from anchorgym.envs.appworld.data import dataset_hashes

    (tmp_path / "data" / "tasks").mkdir(parents=True)
    (tmp_path / "data" / "datasets").mkdir()
    (tmp_path / "data" / "datasets" / "train.txt").write_text("a_1\n")
    monkeypatch.setenv("APPWORLD_ROOT", str(tmp_path))
    expected = hashlib.sha256(b"a_1\n").hexdigest()
    assert dataset_hashes(load_source("real")) == {"appworld/train.txt": expected}


def test_real_split_without_appworld_data_says_how_to_get_it(appworld_ready, monkeypatch):
    monkeypatch.delenv("APPWORLD_ROOT", raising=False)
    with pytest.raises(ConfigError, match="one split, 'offline'; got 'dev'. Set APPWORLD_ROOT to AppWorld's data"):
        load_source("auto", "dev")
    source = load_source("auto")
    assert (source.kind, source.split, len(source.task_ids)) == ("generated", "offline", 24)


def test_generation_progress_is_a_line_per_tenth_outside_a_terminal(tmp_path, capsys):
    """The generator's progress lines become ours: in a log, a line per tenth, not a redrawn bar per task."""
    import sys

    from anchorgym.envs.appworld import data

    script = (
        "import sys\n"
        "print('generator output')\n"
        "for done in range(1, 21):\n"
        f"    print('{data.PROGRESS_PREFIX} generate', done, 20, file=sys.stderr)\n"
    )
    data._run_with_progress([sys.executable, "-c", script], tmp_path)
    lines = capsys.readouterr().err.splitlines()
    assert lines == [f"AppWorld tasks: generate: {tenth}0% ({2 * tenth} of 20 tasks)" for tenth in range(1, 11)]
