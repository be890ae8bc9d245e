"""The AppWorld venv's bookkeeping: when it counts as built, and what a build refuses to touch."""

from __future__ import annotations

import sys

import pytest

from anchorgym.envs.appworld import venv
from anchorgym.errors import DependencyError


@pytest.fixture
def venv_at(monkeypatch, tmp_path):
    directory = tmp_path / "appworld-venv"
    monkeypatch.setenv("ANCHORGYM_APPWORLD_VENV", str(directory))
    return directory


def _fake_venv(directory, stamp):
    (directory / "bin").mkdir(parents=True)
    (directory / "bin" / "python").symlink_to(sys.executable)
    if stamp is not None:
        (directory / venv.READY_STAMP).write_text(stamp + "\n")


def test_missing_venv_says_how_to_build_it(venv_at):
    assert venv.venv_python() is None
    with pytest.raises(
        DependencyError, match=f"The AppWorld venv is not built at {venv_at}. Build it with: anchorgym data appworld"
    ):
        venv.require_python()


@pytest.mark.parametrize("stamp", [None, "appworld==0.1.3.post1", "appworld==0.1.2 constraints=000000000000"])
def test_a_venv_without_the_current_stamp_is_not_ready(venv_at, stamp):
    _fake_venv(venv_at, stamp)
    assert venv.venv_python() is None


def test_the_stamp_names_the_requirement_and_the_constraints(venv_at):
    _fake_venv(venv_at, venv.ready_stamp())
    assert venv.venv_python() == venv_at / "bin" / "python"
    assert venv.ensure_venv(quiet=True) == venv_at / "bin" / "python"  # built: nothing to do
    assert venv.ready_stamp().startswith("appworld==0.1.3.post1 constraints=")


def test_a_build_never_wipes_a_folder_it_did_not_make(venv_at):
    venv_at.mkdir()
    (venv_at / "notes.txt").write_text("mine")
    with pytest.raises(DependencyError, match="is not empty and holds no venv .* set ANCHORGYM_APPWORLD_VENV"):
        venv.ensure_venv(quiet=True)
    assert (venv_at / "notes.txt").read_text() == "mine"


def test_constraints_pin_the_old_stack_appworld_needs():
    pins = dict(line.split("==") for line in venv.CONSTRAINTS.read_text().splitlines() if "==" in line)
    assert pins["pydantic"].startswith("1.") and pins["SQLAlchemy"].startswith("1.4.")
    assert "appworld" not in pins  # the requirement itself is APPWORLD_REQUIREMENT
