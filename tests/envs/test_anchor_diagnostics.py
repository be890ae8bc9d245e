"""Anchor diagnostics: aliasing and splitting of observation-text anchors against true-state anchors."""

from __future__ import annotations

import json

import pytest

from anchorgym.cli import main
from anchorgym.envs.anchor_diagnostics import AnchorDiagnostics, diagnose


def test_identical_partitions_give_zero():
    result = diagnose([0, 0, 0, 1, 1], ["a", "a", "b", "a", "a"], ["x", "x", "y", "z", "z"])
    assert result == AnchorDiagnostics(steps=5, grouped_steps=4, aliased_steps=0, states=3, split_states=0)
    assert (result.aliasing, result.splitting) == (0.0, 0.0)


def test_aliasing_counts_every_step_of_a_text_group_that_mixes_states():
    # group 0: text "x" holds states a, a, b (3 steps aliased); text "y" holds a single step (not grouped)
    result = diagnose([0, 0, 0, 0], ["a", "a", "b", "c"], ["x", "x", "x", "y"])
    assert (result.grouped_steps, result.aliased_steps, result.aliasing) == (3, 3, 1.0)


def test_splitting_counts_states_seen_under_several_texts():
    # state a is shown as "x" and as "y"; b only as "z": 1 of 2 states split
    result = diagnose([0, 0, 0], ["a", "a", "b"], ["x", "y", "z"])
    assert (result.states, result.split_states, result.splitting) == (2, 1, 0.5)


def test_groups_are_counted_apart():
    # the same state and text in two episode groups are two states, and never one text group
    result = diagnose([0, 1], ["a", "b"], ["x", "x"])
    assert (result.grouped_steps, result.aliased_steps, result.states) == (0, 0, 2)


def test_empty_batch_is_all_zero():
    assert diagnose([], [], []).to_json() == {
        "steps": 0,
        "grouped_steps": 0,
        "aliased_steps": 0,
        "states": 0,
        "split_states": 0,
        "aliasing": 0.0,
        "splitting": 0.0,
    }


def test_sokoban_text_is_its_state(capsys):
    # the room text shows the player and every box: text and state partition the steps alike
    code = main(["anchors", "diagnose", "anchorgym/Sokoban-v1", "--tasks", "3", "--group-size", "4", "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["steps"] > 0 and result["grouped_steps"] > 0
    assert (result["aliasing"], result["splitting"]) == (0.0, 0.0)


def test_the_command_prints_both_shares(capsys):
    assert main(["anchors", "diagnose", "anchorgym/Sokoban-v1", "--tasks", "2", "--group-size", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("anchorgym/Sokoban-v1: 2 groups x 2 episodes, ")
    assert out[1].startswith("aliasing    0.0%  (0 of the ")
    assert out[2].startswith("splitting   0.0%  (0 of ")


@pytest.mark.parametrize("option", ["--tasks", "--group-size", "--max-steps"])
def test_a_count_below_one_is_one_line(option, capsys):
    assert main(["anchors", "diagnose", "anchorgym/Sokoban-v1", option, "0"]) == 2
    assert capsys.readouterr().err == f"error: {option} must be >= 1, got 0.\n"


@pytest.mark.slow
def test_alfworld_text_aliases_and_splits_states(alfworld_dir, monkeypatch, capsys):
    pytest.importorskip("alfworld", reason="needs the alfworld extra: pip install 'anchorgym[alfworld]'")
    monkeypatch.setenv("ALFWORLD_DATA", str(alfworld_dir))
    args = ["anchors", "diagnose", "anchorgym/ALFWorld-v0", "--tasks", "2", "--group-size", "4"]
    assert main([*args, "--max-steps", "15", "--split", "valid_seen", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    # random walks revisit "Nothing happens." and arrival texts that read alike whatever the agent holds
    assert 0 < result["steps"] <= 2 * 4 * 15
    assert result["aliasing"] > 0.2 and result["splitting"] > 0.05
