"""`anchorgym env serve` exposes the env's actions as MCP tools (OpenEnv's RFC 003 contract).

Three clients play the same episodes as the in-process env: OpenEnv's ``MCPToolClient`` (HTTP ``/mcp`` in an
OpenEnv session), OpenEnv's step loop (``call_tool`` actions over ``/ws``, with the step's reward and done) and a
plain MCP client (``fastmcp.Client`` over MCP's streamable HTTP transport on the same ``/mcp``).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

pytest.importorskip("openenv", reason="needs the openenv extra: pip install 'anchorgym[openenv]'")

import expert_episodes  # noqa: E402
import requests  # noqa: E402
from fastmcp import Client  # noqa: E402
from fastmcp.exceptions import ToolError  # noqa: E402
from openenv.core import GenericEnvClient  # noqa: E402
from openenv.core.mcp_client import MCPToolClient  # noqa: E402

from anchorgym.envs.registry import make  # noqa: E402

ENV_ID = "anchorgym/Sokoban-v1"
TIMEOUT_S = 60.0


def in_process_episode(env, seed, task_id=None, limit=40):
    """The reference episode, its reset shaped as ``start_episode``'s result (no reward, not done)."""
    actions, record = expert_episodes.in_process_episode(env, seed, task_id, limit=limit)
    obs, info = record[0]
    return actions, [(obs, None, False, False, info), *record[1:]]


def transition(result):
    """A tool's result as an in-process transition (done must be terminated or truncated)."""
    assert result["done"] == (result["terminated"] or result["truncated"])
    assert result["info"]["anchor"]
    return result["text"], result["reward"], result["terminated"], result["truncated"], result["info"]


def start_arguments(seed, task_id):
    return {"seed": seed, **({"task_id": task_id} if task_id else {})}


def tool_client_episode(url, seed, task_id, actions):
    """OpenEnv's MCPToolClient: tools/call on HTTP /mcp, in the OpenEnv session the client made."""
    with MCPToolClient(base_url=url, message_timeout_s=TIMEOUT_S).sync() as client:
        record = [transition(client.call_tool("start_episode", **start_arguments(seed, task_id)))]
        record += [transition(client.call_tool("act", action=action)) for action in actions]
    return record


def step_loop_episode(url, seed, task_id, actions):
    """OpenEnv's step loop: call_tool actions over /ws; the step's reward and done are the env's."""
    with GenericEnvClient(base_url=url, message_timeout_s=TIMEOUT_S).sync() as client:
        record = []
        for name, arguments in [("start_episode", start_arguments(seed, task_id))] + [
            ("act", {"action": action}) for action in actions
        ]:
            result = client.step({"type": "call_tool", "tool_name": name, "arguments": arguments})
            assert result.observation["error"] is None
            tool = result.observation["result"]
            assert (result.reward, result.done) == (tool["reward"], tool["done"])
            record.append(transition(tool))
    return record


def plain_client_episode(url, seed, task_id, actions):
    """A plain MCP client (fastmcp over streamable HTTP), no OpenEnv or anchorgym code on its side."""

    async def play():
        async with Client(f"{url}/mcp", timeout=TIMEOUT_S) as client:
            first = await client.call_tool("start_episode", start_arguments(seed, task_id))
            record = [transition(first.structured_content)]
            for action in actions:
                record.append(transition((await client.call_tool("act", {"action": action})).structured_content))
            return record

    return asyncio.run(play())


CLIENTS = [tool_client_episode, step_loop_episode, plain_client_episode]


@pytest.mark.parametrize("threaded", [False, True])
def test_mcp_episodes_equal_in_process_episodes(serve, threaded):
    env = make(ENV_ID, split="test")
    with serve(ENV_ID, "test", threaded=threaded) as url:
        for seed, task_id in [(0, None), (7, None), (5, env.task_ids()[3])]:
            actions, expected = in_process_episode(env, seed, task_id)
            assert len(expected) >= 3 and expert_episodes.INVALID in actions
            for play in CLIENTS:
                assert play(url, seed, task_id, actions) == expected, play.__name__


def test_every_client_lists_the_tools_before_any_episode(serve):
    with serve(ENV_ID, "test") as url:
        with MCPToolClient(base_url=url, message_timeout_s=TIMEOUT_S).sync() as client:
            tools = {tool.name: tool.input_schema for tool in client.list_tools()}
        assert list(tools) == ["start_episode", "act"]
        assert tools["act"]["required"] == ["action"]
        assert tools["act"]["properties"]["action"]["type"] == "string"
        assert set(tools["start_episode"]["properties"]) == {"task_id", "seed"}
        assert "required" not in tools["start_episode"] or tools["start_episode"]["required"] == []

        with GenericEnvClient(base_url=url, message_timeout_s=TIMEOUT_S).sync() as client:
            listed = client.step({"type": "list_tools"}).observation["tools"]
        assert {tool["name"]: tool["input_schema"] for tool in listed} == tools

        async def plain():
            async with Client(f"{url}/mcp", timeout=TIMEOUT_S) as client:
                return {tool.name: tool.inputSchema for tool in await client.list_tools()}

        assert asyncio.run(plain()) == tools
        # OpenEnv's own check (openenv validate --url): POST /mcp answers JSON-RPC
        reply = requests.post(f"{url}/mcp", json={}, timeout=TIMEOUT_S)
        assert reply.status_code == 200 and reply.json()["jsonrpc"] == "2.0"


BAD_CALLS = [
    ("act", {"action": "up"}, "call start_episode first"),  # no episode yet
    ("act", {"action": 3}, "valid string"),
    ("act", {"move": "up"}, "action"),
    ("start_episode", {"seed": -1}, "seed must be an integer from 0 to 2**63-1"),
    ("start_episode", {"seed": "abc"}, "valid integer"),
    ("start_episode", {"task_id": "no-such-task"}, "no-such-task"),
    ("start_episode", {"colour": "red"}, "colour"),
]


def test_bad_arguments_are_error_results_and_the_session_stays_usable(serve):
    env = make(ENV_ID, split="test")
    actions, expected = in_process_episode(env, 0, limit=1)
    with serve(ENV_ID, "test", max_sessions=1) as url:  # one session: every client keeps the one it opened
        with MCPToolClient(base_url=url, message_timeout_s=TIMEOUT_S).sync() as client:
            for name, arguments, message in BAD_CALLS + [("teleport", {}, "teleport")]:
                with pytest.raises(RuntimeError, match="failed") as error:
                    client.call_tool(name, **arguments)
                assert message in str(error.value), (name, arguments)
            played = [transition(client.call_tool("start_episode", seed=0))]
            played.append(transition(client.call_tool("act", action=actions[0])))
        assert played == expected

        with GenericEnvClient(base_url=url, message_timeout_s=TIMEOUT_S).sync() as client:
            for name, arguments, message in BAD_CALLS:
                step = client.step({"type": "call_tool", "tool_name": name, "arguments": arguments})
                error = step.observation["error"]
                assert error is not None and message in error["message"], (name, arguments, error)
            unknown = client.step({"type": "call_tool", "tool_name": "teleport", "arguments": {}}).observation
            assert unknown["error"]["error_type"] == "tool_not_found" and "act" in unknown["error"]["message"]
            first = client.step({"type": "call_tool", "tool_name": "start_episode", "arguments": {"seed": 0}})
            assert transition(first.observation["result"]) == expected[0]

        async def plain():
            async with Client(f"{url}/mcp", timeout=TIMEOUT_S) as client:
                for name, arguments, message in BAD_CALLS + [("teleport", {}, "teleport")]:
                    with pytest.raises(ToolError, match=".") as error:
                        await client.call_tool(name, arguments)
                    assert message in str(error.value), (name, arguments)
                return transition((await client.call_tool("start_episode", {"seed": 0})).structured_content)

        assert asyncio.run(plain()) == expected[0]


def test_mcp_clients_count_against_max_sessions_and_give_their_slot_back(serve):
    with serve(ENV_ID, "test", max_sessions=1) as url:

        async def two_plain_clients():
            async with Client(f"{url}/mcp", timeout=TIMEOUT_S) as first:
                await first.call_tool("start_episode", {"seed": 0})
                with pytest.raises(Exception, match="at capacity") as error:
                    async with Client(f"{url}/mcp", timeout=TIMEOUT_S):
                        pass
                with pytest.raises(RuntimeError, match="at capacity"):
                    with MCPToolClient(base_url=url, message_timeout_s=TIMEOUT_S).sync():
                        pass
                return str(error.value)

        assert "1/1 sessions" in asyncio.run(two_plain_clients())
        # the plain client ended its session when it closed (DELETE /mcp): the slot is free again
        with MCPToolClient(base_url=url, message_timeout_s=TIMEOUT_S).sync() as client:
            assert client.call_tool("start_episode", seed=0)["info"]["anchor"]

        # and the MCPToolClient closed its own: a plain client gets the slot
        async def again():
            async with Client(f"{url}/mcp", timeout=TIMEOUT_S) as client:
                return (await client.call_tool("start_episode", {"seed": 0})).structured_content["done"]

        assert asyncio.run(again()) is False


def test_the_served_mcp_url_plays_and_a_gone_session_is_a_404(tmp_path):
    """`anchorgym env serve` prints the MCP URL; a plain client plays there; an unknown session id gets MCP's 404."""
    import requests

    env = {**os.environ, "ANCHORGYM_CACHE_DIR": str(tmp_path / "cache")}
    command = [sys.executable, "-m", "anchorgym.cli", "env", "serve", ENV_ID, "--split", "test", "--port", "0"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        mcp_url = line.split("MCP: ")[1].rstrip(")\n")
        assert mcp_url.startswith("http://127.0.0.1:") and mcp_url.endswith("/mcp"), line

        async def play():
            async with Client(mcp_url, timeout=TIMEOUT_S) as client:
                await client.call_tool("start_episode", {"task_id": "1000000005", "seed": 0})
                return (await client.call_tool("act", {"action": "up"})).structured_content

        result = asyncio.run(play())
        assert (result["info"]["task_id"], result["info"]["step"]) == ("1000000005", 1)
        listing = {"jsonrpc": "2.0", "method": "tools/list", "id": 1}
        gone = requests.post(mcp_url, json=listing, headers={"Mcp-Session-Id": "no-such-session"}, timeout=TIMEOUT_S)
        assert gone.status_code == 404 and "Unknown session_id: no-such-session" in gone.json()["error"]["message"]
        closed = requests.delete(mcp_url, headers={"Mcp-Session-Id": "no-such-session"}, timeout=TIMEOUT_S)
        assert closed.status_code == 404
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def test_an_idle_mcp_session_is_closed_and_its_slot_comes_back(serve):
    """--idle-timeout closes an MCP client's session as any other: its id then gets a 404, a new client gets in."""
    import time

    import requests

    def initialize(url):
        hello = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}
        request = {"jsonrpc": "2.0", "method": "initialize", "params": hello, "id": 0}
        return requests.post(f"{url}/mcp", json=request, timeout=TIMEOUT_S)

    with serve(ENV_ID, "test", max_sessions=1, idle_timeout_s=1.0) as url:
        opened = initialize(url)
        assert opened.json()["result"]["protocolVersion"] == "2025-06-18"
        session = opened.headers["Mcp-Session-Id"]
        assert "at capacity" in initialize(url).json()["error"]["message"]
        deadline = time.monotonic() + 120  # OpenEnv's reaper looks every 5 s; wait for it, however slow the machine
        while "error" in (again := initialize(url)).json() and time.monotonic() < deadline:
            time.sleep(0.5)  # (asking for a new session does not touch the idle one)
        assert "Mcp-Session-Id" in again.headers, again.text  # the idle session was closed: its slot came back
        listing = {"jsonrpc": "2.0", "method": "tools/list", "id": 1}
        reply = requests.post(f"{url}/mcp", json=listing, headers={"Mcp-Session-Id": session}, timeout=TIMEOUT_S)
        assert reply.status_code == 404 and "Unknown session_id" in reply.json()["error"]["message"]
