"""The real AppWorld engine behind ``anchorgym/AppWorld-v0``, on the generated offline tasks.

All tests of this module share one env, so one worker process (starting one
imports appworld and IPython: seconds, or a minute on a loaded machine).
"""

from __future__ import annotations

import os
import signal

import pytest

from anchorgym.envs.appworld.expert import expert_code

pytestmark = pytest.mark.slow


def play(env, task_id, action):
    env.reset(options={"task_id": task_id})
    return env.step(action)


def test_offline_tasks_cover_three_apps(env):
    apps = {spec["app"] for spec in env.source.index.values()}
    assert env.source.kind == "generated" and env.split == "offline"
    assert len(env.task_ids()) == 24 and apps == {"venmo", "spotify", "simple_note"}


def test_observation_holds_instruction_supervisor_and_last_output(env):
    obs, info = env.reset(options={"task_id": "venmopay_1"})
    assert obs.startswith(f"Task: {info['instruction']}\nSupervisor: Ada Lovelace (email ada.lovelace@example.com")
    assert obs.endswith("Output of your last code:\n(no code executed yet)")
    obs, *_ = env.step("<code>print(apis.supervisor.show_profile()['last_name'])</code>")
    assert obs.endswith("Output of your last code:\nLovelace\n")


def test_every_offline_task_passes_with_its_expert(env):
    for task_id in env.task_ids():
        env.reset(options={"task_id": task_id})
        _, reward, terminated, truncated, info = env.step(env.expert_action())
        assert (task_id, reward, terminated, truncated) == (task_id, 1.0, True, False)
        assert info["won"] is True and info["score"] == 1.0 and info["task_completed"] is True


@pytest.mark.parametrize(
    ("task_id", "score"),
    [("venmopay_2", 2 / 4), ("spotifyedit_1", 2 / 3), ("notetag_1", 1 / 2), ("spotifynew_1", 1 / 3)],
)
def test_wrong_solution_fails_with_appworld_partial_score(env, task_id, score):
    wrong = expert_code(env.source.index[task_id], wrong=True)
    _, reward, terminated, _, info = play(env, task_id, wrong)
    assert terminated and reward == 0.0
    assert info["won"] is False and info["score"] == pytest.approx(score)


@pytest.fixture
def two_steps(env):
    """Cut episodes after 2 interactions for one test."""
    saved, env.max_steps = env.max_steps, 2
    yield env
    env.max_steps = saved


@pytest.mark.parametrize("last", ["<code>print('still here')</code>", "I am done."])
def test_interaction_limit_truncates_and_appworld_grades_the_world_as_left(two_steps, last):
    env = two_steps
    env.reset(options={"task_id": "spotifyedit_1"})
    solution = env.source.index["spotifyedit_1"]["solution"].replace("apis.supervisor.complete_task()", "")
    _, reward, terminated, truncated, info = env.step(f"<code>{solution}</code>")
    assert (reward, terminated, truncated, info["score"]) == (0.0, False, False, 0.0)
    _, reward, terminated, truncated, info = env.step(last)
    assert (reward, terminated, truncated, info["won"]) == (0.0, False, True, False)
    assert info["score"] == pytest.approx(2 / 3)  # right playlist, nothing else changed; never completed
    assert env.evaluation["failures"] == ["the task is marked complete with status success"]


def test_code_errors_come_back_as_observations_and_leave_the_state(env):
    _, info0 = env.reset(options={"task_id": "venmopay_1"})
    obs, reward, terminated, _, info = env.step("<code>print(1 / 0)</code>")
    assert "ZeroDivisionError: division by zero" in obs and "Output of your last code:" in obs
    assert (reward, terminated, info["action_valid"]) == (0.0, False, True)
    assert info["anchor"] == info0["anchor"]
    obs, *_ = env.step("<code>print(apis.venmo.show_venmo_balance(access_token='nope'))</code>")
    assert "Execution failed" in obs


def test_text_without_code_block_is_an_invalid_no_op(env):
    obs0, info0 = env.reset(options={"task_id": "noteread_2"})
    obs, reward, terminated, _, info = env.step("I will look at my notes.")
    assert (obs, reward, terminated, info["action_valid"]) == (obs0, 0.0, False, False)
    assert info["anchor"] == info0["anchor"] and info["step"] == 1


def test_anchor_follows_database_state_not_history(env):
    _, start = env.reset(options={"task_id": "spotifyedit_1"})
    _, again = env.reset(options={"task_id": "spotifyedit_1"})
    assert start["anchor"] == again["anchor"]
    spec = env.source.index["spotifyedit_1"]
    *_, changed = env.step(expert_code(spec))
    assert changed["anchor"] != start["anchor"]
    _, other = env.reset(options={"task_id": "spotifyedit_2"})
    assert other["anchor"] != start["anchor"]


def test_anchor_returns_when_a_change_is_undone(env):
    _, start = env.reset(options={"task_id": "spotifyedit_1"})
    solution = env.source.index["spotifyedit_1"]["solution"].replace("apis.supervisor.complete_task()", "")
    *_, added = env.step(f"<code>{solution}</code>")
    assert added["anchor"] != start["anchor"]
    undo = "apis.spotify.remove_song_from_playlist(playlist_id=playlist_id, song_id=song_id, access_token=token)"
    *_, undone = env.step(f"<code>{undo}</code>")
    assert undone["anchor"] == start["anchor"] and undone["action_valid"]


def test_appworld_timeout_is_reported_as_an_observation(short_timeout):
    env = short_timeout
    env.reset(options={"task_id": "venmobalance_1"})
    obs, _, terminated, _, info = env.step("<code>\nwhile True:\n    pass\n</code>")
    assert "Execution timed out after 2 seconds." in obs
    assert not terminated and "error" not in info


def test_hanging_code_kills_only_the_worker_and_ends_the_episode(short_timeout):
    env = short_timeout
    env.reset(options={"task_id": "venmobalance_1"})
    hang = "<code>\nwhile True:\n    try:\n        while True:\n            pass\n"
    hang += "    except BaseException:\n        pass\n</code>"
    old_pid = env.worker.pid
    obs, reward, terminated, truncated, info = env.step(hang)
    assert terminated and not truncated and reward == 0.0 and not info["won"]
    assert "did not answer 'execute' within 17s; it was killed" in info["error"]
    assert "crashed or hung" in obs
    _, _, terminated, _, info = play(env, "venmobalance_1", _expert(env, "venmobalance_1"))
    assert info["won"] and env.worker.pid != old_pid


def test_crashed_worker_ends_the_episode_with_a_clear_error(env):
    env.reset(options={"task_id": "notetag_2"})
    os.kill(env.worker.pid, signal.SIGKILL)
    obs, reward, terminated, _, info = env.step("<code>print('hello')</code>")
    assert terminated and reward == 0.0
    assert "AppWorld worker exited (code -9) during 'execute'" in info["error"]
    _, _, _, _, info = play(env, "notetag_2", _expert(env, "notetag_2"))
    assert info["won"] is True


def test_worker_is_reused_and_recycled_between_episodes_when_memory_grows(env):
    play(env, "venmobalance_1", _expert(env, "venmobalance_1"))
    pid, restarts = env.worker_pid, env.worker.restarts
    assert play(env, "noteread_1", _expert(env, "noteread_1"))[4]["won"] and env.worker_pid == pid
    saved, env.worker.max_rss_bytes = env.worker.max_rss_bytes, 1
    try:
        *_, info = play(env, "venmobalance_1", _expert(env, "venmobalance_1"))
    finally:
        env.worker.max_rss_bytes = saved
    assert info["won"] and env.worker_pid != pid and env.worker.restarts == restarts + 1


def test_code_allocating_past_the_memory_cap_gets_a_memory_error(env):
    saved, env.worker.memory_cap_bytes = env.worker.memory_cap_bytes, 2 << 30
    env.worker.close()  # the cap applies from the next worker start
    try:
        env.reset(options={"task_id": "venmobalance_1"})
        pid = env.worker_pid
        obs, _, terminated, _, info = env.step("<code>blob = bytes(3 << 30)\nprint(len(blob))</code>")
        assert "MemoryError" in obs and not terminated and "error" not in info
        _, reward, *_ = env.step(_expert(env, "venmobalance_1"))
        assert reward == 1.0 and env.worker_pid == pid  # the world survived the failed allocation
    finally:
        env.worker.memory_cap_bytes = saved
        env.worker.close()


def _expert(env, task_id):
    return expert_code(env.source.index[task_id])


def test_appworld_shaped_data_under_appworld_root_plays_as_real_tasks(appworld_ready, monkeypatch):
    """The real-data path (APPWORLD_ROOT, all of a task's apps in the anchor) on the generated root."""
    import json
    import shutil

    from anchorgym.envs.appworld.data import INDEX_FILE
    from anchorgym.envs.appworld.env import AppWorldEnv

    monkeypatch.setenv("APPWORLD_ROOT", str(appworld_ready))
    spec = json.loads((appworld_ready / INDEX_FILE).read_text())["tasks"]["venmopay_3"]
    real = AppWorldEnv(split="offline", code_timeout_s=20)
    try:
        assert (real.source.kind, real.source.index) == ("real", {})
        _, start = real.reset(options={"task_id": "venmopay_3"})
        assert start["task_type"] == "venmopay"
        with pytest.raises(NotImplementedError, match="AppWorld's own tasks have no expert in anchorgym"):
            real.expert_action()
        _, reward, terminated, _, info = real.step(expert_code(spec))
        assert (reward, terminated, info["won"], info["score"]) == (1.0, True, True, 1.0)
        assert info["anchor"] != start["anchor"]
    finally:
        real.close()  # AppWorld's outputs of real tasks are the user's to keep; these are a test's
        shutil.rmtree(appworld_ready / "experiments" / "outputs" / real.experiment, ignore_errors=True)
