"""`anchorgym env serve`: episodes through the server equal in-process ones; sessions are bounded and isolated."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

pytest.importorskip("openenv", reason="needs the openenv extra: pip install 'anchorgym[openenv]'")

from expert_episodes import in_process_episode  # noqa: E402
from integrations_envs import CRASHY_ID  # noqa: E402
from openenv.core import GenericEnvClient  # noqa: E402

from anchorgym.envs.registry import make  # noqa: E402
from anchorgym.errors import ConfigError  # noqa: E402
from anchorgym.integrations.openenv import AnchorAction, AnchorEnvClient, gym_reset, gym_step  # noqa: E402
from anchorgym.integrations.openenv.server import build_app  # noqa: E402


def typed_client_episode(url, seed, task_id, actions):
    with AnchorEnvClient(base_url=url).sync() as client:
        result = client.reset(seed=seed, **({"task_id": task_id} if task_id else {}))
        record = [gym_reset(result)]
        for action in actions:
            record.append(gym_step(client.step(AnchorAction(text=action))))
    return record


def generic_client_episode(url, seed, task_id, actions):
    """The same episode through OpenEnv's GenericEnvClient (plain dicts, no anchorgym code on the client)."""
    with GenericEnvClient(base_url=url).sync() as client:
        result = client.reset(seed=seed, **({"task_id": task_id} if task_id else {}))
        record = [(result.observation["text"], result.observation["info"])]
        for action in actions:
            result = client.step({"text": action})
            obs = result.observation
            record.append((obs["text"], result.reward, obs["terminated"], obs["truncated"], obs["info"]))
            assert result.done == (obs["terminated"] or obs["truncated"])
    return record


def assert_same_episodes(url, env, seeds, task_ids=None):
    for seed, task_id in zip(seeds, task_ids or [None] * len(seeds), strict=True):
        actions, expected = in_process_episode(env, seed, task_id)
        assert len(expected) >= 3
        assert typed_client_episode(url, seed, task_id, actions) == expected
        assert generic_client_episode(url, seed, task_id, actions) == expected


def test_sokoban_episodes_through_the_server_equal_in_process_episodes(serve):
    env = make("anchorgym/Sokoban-v1", split="test")
    with serve("anchorgym/Sokoban-v1", "test") as url:
        assert_same_episodes(url, env, seeds=[0, 1, 7])
        assert_same_episodes(url, env, seeds=[5], task_ids=[env.task_ids()[3]])


def test_webshop_episodes_through_the_server_equal_in_process_episodes(serve, webshop_dir):
    env = make("anchorgym/WebShop-v1", split="test", data_dir=str(webshop_dir))
    with serve("anchorgym/WebShop-v1", "test", env_kwargs={"data_dir": str(webshop_dir)}) as url:
        assert_same_episodes(url, env, seeds=[0, 11])
    env.close()


def test_alfworld_episodes_through_the_server_equal_in_process_episodes(serve, alfworld_ready):
    kwargs = {"data_dir": str(alfworld_ready)}
    env = make("anchorgym/ALFWorld-v0", split="valid_unseen", **kwargs)
    with serve("anchorgym/ALFWorld-v0", "valid_unseen", max_sessions=2, env_kwargs=kwargs) as url:
        assert_same_episodes(url, env, seeds=[3])
    env.close()


def test_a_group_resets_to_the_same_state_and_info_carries_the_standard_keys(serve):
    from anchorgym.envs.core import STANDARD_INFO_KEYS

    with serve("anchorgym/Sokoban-v1", "test") as url:
        clients = [AnchorEnvClient(base_url=url).sync() for _ in range(3)]
        try:
            resets = [client.reset(seed=42, task_id="1000000123") for client in clients]
            anchors = {result.observation.info["anchor"] for result in resets}
            assert len(anchors) == 1
            assert all(set(STANDARD_INFO_KEYS) <= set(r.observation.info) for r in resets)
            assert all(r.reward is None and not r.done for r in resets)
            state = clients[0].state()
            assert (state.env_id, state.split, state.task_id, state.step_count) == (
                "anchorgym/Sokoban-v1",
                "test",
                "1000000123",
                0,
            )
            assert state.anchor == anchors.pop() and state.ended is None
            expert = clients[1].step(AnchorAction(query="expert_action")).observation.result
            assert expert in resets[1].observation.info["admissible_actions"]
        finally:
            for client in clients:
                client.close()


def test_caller_mistakes_are_answered_and_the_session_stays_usable(serve):
    with serve("anchorgym/Sokoban-v1", "test") as url, AnchorEnvClient(base_url=url).sync() as client:
        with pytest.raises(RuntimeError, match=r"Call reset\(\) before step\(\)\. \(send a reset message first\)\."):
            client.step(AnchorAction(text="up"))
        with pytest.raises(RuntimeError, match="reset got unknown argument\\(s\\) options; it takes seed, episode_id"):
            client.reset(options={"task_id": "3"})
        with pytest.raises(RuntimeError, match="Sokoban task ids are non-negative integer seeds such as '12', got 'x'"):
            client.reset(task_id="x")
        with pytest.raises(RuntimeError, match=r"Unknown query 'secret'. Did you mean 'score'\? Known: .*task_ids"):
            client.step(AnchorAction(query="secret"))
        result = client.reset(seed=1)
        assert result.observation.info["step"] == 0
        assert client.step(AnchorAction(text="up")).observation.info["step"] == 1


def test_sessions_are_bounded(serve):
    with serve("anchorgym/Sokoban-v1", "test", max_sessions=1) as url:
        first = AnchorEnvClient(base_url=url).sync()
        first.reset(seed=0)
        second = AnchorEnvClient(base_url=url).sync()
        with pytest.raises(RuntimeError, match=r"CAPACITY_REACHED"):
            second.reset(seed=0)
        second.close()
        first.close()
        with AnchorEnvClient(base_url=url).sync() as third:  # the slot is free again
            assert third.reset(seed=0).observation.info["step"] == 0


def test_a_crash_ends_only_its_own_session_with_its_reason(serve):
    import integrations_envs  # noqa: F401 - registers the crashing env

    reason = "its env raised in step: RuntimeError: the engine fell over"
    with serve(CRASHY_ID, "test", max_sessions=2) as url:
        crashing, healthy = AnchorEnvClient(base_url=url).sync(), AnchorEnvClient(base_url=url).sync()
        try:
            crashing.reset(seed=0)
            healthy.reset(seed=0)
            with pytest.raises(RuntimeError, match=f"This session has ended: {reason}. Connect again"):
                crashing.step(AnchorAction(text="crash"))
            with pytest.raises(RuntimeError, match=f"This session has ended: {reason}"):
                crashing.reset(seed=0)
            assert crashing.state().ended == reason
            for _ in range(3):  # the other session plays on
                assert healthy.step(AnchorAction(text="up")).observation.info["action_valid"]
        finally:
            crashing.close()
            healthy.close()


def test_an_idle_session_is_closed_with_its_reason(serve):
    """OpenEnv's reaper closes a session idle past --idle-timeout; it checks every 5 s, so this polls for it."""
    with serve("anchorgym/Sokoban-v1", "test", idle_timeout_s=0.5) as url:
        with AnchorEnvClient(base_url=url).sync() as client:
            client.reset(seed=0)
            deadline = time.monotonic() + 120
            while client.state().ended is None and time.monotonic() < deadline:
                time.sleep(0.5)
            assert client.state().ended.startswith("the session was idle for ")
            with pytest.raises(
                RuntimeError, match="This session has ended: the session was idle for .* idle timeout is 0.5 s"
            ):
                client.step(AnchorAction(text="up"))


def test_bad_server_options_are_one_line_errors():
    from anchorgym.errors import ConfigError, UnknownNameError
    from anchorgym.integrations.openenv.server import build_app

    with pytest.raises(ConfigError, match=r"^--max-sessions must be at least 1, got 0\.$"):
        build_app("anchorgym/Sokoban-v1", max_sessions=0)
    with pytest.raises(ConfigError, match=r"^--idle-timeout must be a positive number of seconds, got 0\.0\.$"):
        build_app("anchorgym/Sokoban-v1", idle_timeout_s=0.0)
    with pytest.raises(UnknownNameError, match=r"Unknown split of anchorgym/Sokoban-v1 'tset'\. Did you mean 'test'\?"):
        build_app("anchorgym/Sokoban-v1", "tset")


def test_env_serve_command_serves_until_stopped(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "anchorgym.cli", "env", "serve", "anchorgym/Sokoban-v1", "--split", "test"]
    proc = subprocess.Popen(
        [*command, "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("Serving anchorgym/Sokoban-v1 over OpenEnv at http://127.0.0.1:"), line
        url = line.split(" at ")[1].split()[0]
        with AnchorEnvClient(base_url=url).sync() as client:
            assert client.reset(seed=0, task_id="1000000005").observation.info["task_id"] == "1000000005"
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    bad = subprocess.run([*command, "--max-sessions", "0", "--port", "0"], capture_output=True, text=True, env=env)
    assert (bad.returncode, bad.stderr) == (2, "error: --max-sessions must be at least 1, got 0.\n")


@pytest.mark.parametrize("seed", [-1, "abc", 1.5, True, 2**64])
def test_a_bad_reset_argument_is_an_error_reply_and_the_session_stays_usable(serve, seed):
    """reset(seed=-1) used to end the session ("This session has ended..."); now it is refused and play goes on."""
    with serve("anchorgym/Sokoban-v1", "test") as url, GenericEnvClient(base_url=url).sync() as client:
        with pytest.raises(RuntimeError, match=r"reset's seed must be an integer from 0 to 2\*\*63-1 \(or left out\)"):
            client.reset(seed=seed)
        with pytest.raises(RuntimeError, match=r"reset's task_id must be a string \(or left out\), got 1\.5"):
            client.reset(task_id=1.5)
        result = client.reset(seed=3, task_id="1000000002")
        assert result.observation["info"]["task_id"] == "1000000002"
        assert client.step({"text": "up"}).observation["info"]["step"] == 1
        assert client.state()["ended"] is None


def test_http_endpoints_answer_bad_requests_with_4xx_and_a_reason(serve):
    """POST /step used to answer 500; every bad request now gets a 4xx whose body says what was wrong."""
    import requests

    with serve("anchorgym/Sokoban-v1", "test") as url:
        step = requests.post(f"{url}/step", json={"action": {"text": "up"}}, timeout=60)
        assert step.status_code == 409
        assert step.json()["detail"].startswith("Call reset() before step(). (send a reset message first). OpenEnv's")
        assert "Play episodes over the WebSocket session at /ws" in step.json()["detail"]
        reset = requests.post(f"{url}/reset", json={"seed": 0, "task_id": "x"}, timeout=60)
        assert reset.status_code == 400 and "Sokoban task ids are non-negative integer" in reset.json()["detail"]
        for bad in ({"seed": -1}, {"seed": "abc"}, {"seed": 1.5}):  # OpenEnv's ResetRequest refuses these
            assert requests.post(f"{url}/reset", json=bad, timeout=60).status_code == 422
        assert requests.post(f"{url}/step", data="{not json", timeout=60).status_code == 422
        assert requests.post(f"{url}/step", json={"action": {"text": 5}}, timeout=60).status_code == 422
        assert requests.post(f"{url}/step", json={}, timeout=60).status_code == 422
        query = requests.post(f"{url}/step", json={"action": {"query": "secret"}}, timeout=60)
        assert query.status_code == 400 and query.json()["detail"].startswith("Unknown query 'secret'.")
        ok = requests.post(f"{url}/reset", json={"seed": 0, "task_id": "1000000001"}, timeout=60)
        assert ok.status_code == 200 and ok.json()["observation"]["info"]["task_id"] == "1000000001"


def test_the_task_api_is_reachable_with_a_url_safe_env_name(serve):
    """The Task API puts the env name in the path; anchorgym/Sokoban-v1 held a '/', so /{name}/splits was a 404."""
    import requests

    env = make("anchorgym/Sokoban-v1", split="test")
    tasks = env.task_ids()
    with serve("anchorgym/Sokoban-v1", "test") as url:
        assert requests.get(f"{url}/list_environments", timeout=60).json() == ["anchorgym__Sokoban-v1"]
        base = f"{url}/anchorgym__Sokoban-v1"
        assert requests.get(f"{base}/splits", timeout=60).json() == [{"name": "test", "type": "test"}]
        assert requests.post(f"{base}/num_tasks", json={"split": "test"}, timeout=60).json() == {
            "num_tasks": len(tasks)
        }
        task = requests.post(f"{base}/task", json={"split": "test", "index": 2}, timeout=60).json()
        assert task == {"task": {"task_id": tasks[2], "index": 2, "split": "test"}}
        window = requests.post(f"{base}/task_range", json={"split": "test", "start": 1, "stop": 3}, timeout=60)
        assert [t["task_id"] for t in window.json()["tasks"]] == list(tasks[1:3])
        wrong = requests.post(f"{base}/num_tasks", json={"split": "train"}, timeout=60)
        assert wrong.status_code == 400 and wrong.json()["detail"].startswith("This server plays split 'test'")
        out = requests.post(f"{base}/task", json={"split": "test", "index": len(tasks)}, timeout=60)
        assert out.status_code == 400
        with GenericEnvClient(base_url=url).sync() as client:  # reset to a Task API (split, index)
            assert client.reset(split="test", index=2, seed=0).observation["info"]["task_id"] == tasks[2]


def _send_head(url: str, path: str, headers: dict[str, str], body: bytes = b"") -> tuple[int, dict]:
    """POST ``headers`` and the first ``body`` bytes only (no more follow), then read the answer."""
    import http.client
    import json
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        connection.putrequest("POST", path)
        for key, value in headers.items():
            connection.putheader(key, value)
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_a_request_body_over_the_limit_is_answered_413_before_it_is_read(serve):
    """A body's size was unbounded (``/mcp`` read it whole); now every HTTP route stops at max_body_bytes."""
    import requests

    limit = "Request body too large: the limit is 1000 bytes. Send a shorter request."
    with serve("anchorgym/Sokoban-v1", "test", max_body_bytes=1000) as url:
        for path in ("/step", "/reset", "/mcp"):  # declared too large: answered without waiting for the body
            head = {"Content-Type": "application/json", "Content-Length": str(10**12)}
            assert _send_head(url, path, head) == (413, {"detail": limit})
        chunked = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
        chunk = b"258\r\n" + b" " * 600 + b"\r\n"  # two chunks of 600 bytes, no end: refused at the second
        assert _send_head(url, "/mcp", chunked, chunk * 2) == (413, {"detail": limit})
        padded = json.dumps({"seed": 0, "task_id": "1000000001"}).encode().ljust(1000)
        ok = requests.post(f"{url}/reset", data=padded, headers={"Content-Type": "application/json"}, timeout=60)
        assert ok.status_code == 200 and ok.json()["observation"]["info"]["task_id"] == "1000000001"
        with AnchorEnvClient(base_url=url).sync() as client:  # /ws is bounded by uvicorn, not by this limit
            assert client.reset(seed=1).observation.info["step"] == 0
            assert client.step(AnchorAction(text="up " + "x" * 2000)).observation.info["step"] == 1
    with pytest.raises(ConfigError, match="max_body_bytes must be at least 1, got 0."):
        build_app("anchorgym/Sokoban-v1", max_body_bytes=0)
