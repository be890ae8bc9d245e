"""``anchorgym envs``, ``play`` (with piped stdin) and ``data``."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

import anchorgym
from anchorgym.cli import main
from anchorgym.envs.cli import play_episode
from anchorgym.envs.registry import _REGISTRY, EnvInfo


def test_envs_lists_sokoban(capsys):
    assert main(["envs"]) == 0
    out = capsys.readouterr().out
    assert "anchorgym/Sokoban-v0" in out and "train, test" in out and "15" in out


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
    assert main(["play", "anchorgym/Sokoban-v9"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Unknown environment 'anchorgym/Sokoban-v9'. Did you mean 'anchorgym/Sokoban-v0'?")


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
