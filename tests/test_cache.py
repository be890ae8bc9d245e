from pathlib import Path

from anchorgym.cache import cache_root
from anchorgym.envs.alfworld.data import cache_dir as alfworld_cache
from anchorgym.envs.appworld.venv import venv_dir
from anchorgym.envs.toolqa.data import cache_dir as toolqa_cache
from anchorgym.envs.webshop.data import cache_dir as webshop_cache
from anchorgym.policies.cache import model_cache_dir


def test_cache_root_precedence(tmp_path, monkeypatch):
    monkeypatch.delenv("ANCHORGYM_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root() == tmp_path / "home" / ".cache" / "anchorgym"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "anchorgym"
    monkeypatch.setenv("ANCHORGYM_CACHE_DIR", str(tmp_path / "mine"))
    assert cache_root() == tmp_path / "mine"


def test_every_cache_lives_under_the_one_root(tmp_path, monkeypatch):
    monkeypatch.setenv("ANCHORGYM_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("ANCHORGYM_APPWORLD_VENV", raising=False)
    folders = [alfworld_cache(), toolqa_cache(), webshop_cache(), venv_dir(), model_cache_dir("m")]
    assert [Path(f).relative_to(tmp_path).parts for f in folders] == [
        ("alfworld",),
        ("toolqa",),
        ("webshop",),
        ("appworld-venv",),
        ("models", "m"),
    ]
