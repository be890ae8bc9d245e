"""MCP tools of a served anchorgym env, the way OpenEnv's MCP contract (its RFC 003) wants them.

OpenEnv's contract: an environment that has an ``mcp_server`` (FastMCP) and an ``mcp_client`` answers
``tools/list`` and ``tools/call`` as JSON-RPC on ``POST /mcp`` (a session picked with ``params.session_id``,
made with ``openenv/session/create``), on the ``/mcp`` WebSocket and in ``{"type": "mcp"}`` frames on
``/ws``; and in the step loop, ``ListToolsAction`` / ``CallToolAction`` are actions whose observation
carries the tools or the tool's result. Tool names ``reset``, ``step``, ``state`` and ``close`` are
reserved. Every session of ``anchorgym env serve`` has two tools:

* ``start_episode(task_id=None, seed=None)``: reset the session's env (the in-process ``env.reset``);
* ``act(action)``: one ``env.step(action)``.

Both return ``{"text", "reward", "done", "terminated", "truncated", "info"}``: the same values as the
in-process call (``info`` holds the anchor and, where the env has them, the ``admissible_actions``). A bad
argument is an error result and the session stays usable.

Plain MCP clients (the ``mcp`` / ``fastmcp`` packages over streamable HTTP) connect to the same ``/mcp``
URL: :class:`StreamableMCP` answers MCP's ``initialize`` handshake with a new OpenEnv session (its id is the
``Mcp-Session-Id``, so ``--max-sessions`` and the idle timeout apply) and hands every other request to
OpenEnv's own ``/mcp`` in that session.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from openenv.core.env_server.mcp_environment import get_server_tools
from openenv.core.env_server.mcp_types import (
    RESERVED_TOOL_NAMES,
    CallToolAction,
    CallToolObservation,
    ListToolsAction,
    ListToolsObservation,
    Tool,
    ToolError,
    ToolErrorType,
)
from openenv.core.env_server.types import Action
from pydantic import ConfigDict, ValidationError, validate_call

from anchorgym import __version__
from anchorgym.errors import AnchorGymError, ConfigError, unknown
from anchorgym.integrations.openenv.asgi import read_body, replay, reply
from anchorgym.integrations.openenv.types import AnchorAction, AnchorObservation

if TYPE_CHECKING:
    from anchorgym.integrations.openenv.server import AnchorOpenEnv

TOOL_NAMES = ("start_episode", "act")
"""The MCP tools of every served env."""
assert not set(TOOL_NAMES) & RESERVED_TOOL_NAMES  # OpenEnv refuses tools named reset, step, state or close


MCP_ACTIONS: dict[str, type[Action]] = {"list_tools": ListToolsAction, "call_tool": CallToolAction}


class ToolAwareAction(AnchorAction):
    """The server's action class: an :class:`AnchorAction`, or one of OpenEnv's MCP actions by its ``type``.

    OpenEnv's server reads ``{"type": "list_tools"}`` and ``{"type": "call_tool", ...}`` step payloads as MCP
    actions only when the env's action class is OpenEnv's base ``Action``; this class reads them for ours.
    """

    model_config = ConfigDict(title="AnchorAction")

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> Any:
        """Validate ``obj`` as the MCP action its ``type`` names, or else as an :class:`AnchorAction`."""
        if isinstance(obj, dict) and obj.get("type") in MCP_ACTIONS:
            return MCP_ACTIONS[obj["type"]].model_validate(obj, *args, **kwargs)
        return super().model_validate(obj, *args, **kwargs)


def tool_result(obs: AnchorObservation) -> dict[str, Any]:
    """The result of a tool: the fields of the observation the session's reset or step returned."""
    return {
        "text": obs.text,
        "reward": obs.reward,
        "done": obs.done,
        "terminated": obs.terminated,
        "truncated": obs.truncated,
        "info": obs.info,
    }


class SessionTools:
    """The MCP tools of one OpenEnv session (:class:`~anchorgym.integrations.openenv.server.AnchorOpenEnv`).

    Args:
        session: the session whose env the tools play.
    """

    def __init__(self, session: AnchorOpenEnv) -> None:
        from fastmcp import Client, FastMCP

        self.session = session
        env = session.env_id
        self.functions: dict[str, Callable[..., dict[str, Any]]] = {
            "start_episode": validate_call(self.start_episode),
            "act": validate_call(self.act),
        }
        self.descriptions = {
            "start_episode": f"Start a new episode of {env} (split {session.split}): on task_id when given, else on "
            "a task drawn with seed. Returns the first observation (text) and info (the task's instruction, anchor "
            "and, where the env has them, admissible_actions).",
            "act": f"Take one action in the {env} episode, exactly as the task describes actions (e.g. one of "
            "info.admissible_actions). Returns the next observation text, the reward, done/terminated/truncated "
            "and info (anchor, won, score, action_valid, admissible_actions...).",
        }
        self.server = FastMCP(
            name=env.replace("/", "__"),
            instructions=f"anchorgym env {env}: call start_episode, then act until done is true.",
        )
        for name in TOOL_NAMES:
            self.server.tool(self._async_tool(name), name=name, description=self.descriptions[name])
        self.client = Client(self.server)

    def start_episode(self, task_id: str | int | None = None, seed: int | None = None) -> dict[str, Any]:
        """Reset the session's env (on ``task_id``, or on a task drawn with ``seed``); return the first observation."""
        return tool_result(self.session.reset(seed=seed, task_id=task_id))

    def act(self, action: str) -> dict[str, Any]:
        """Step the session's env with ``action``; return the transition."""
        from anchorgym.integrations.openenv.server import ResetNeededError

        try:
            return tool_result(self.session.step(AnchorAction(text=action)))
        except ResetNeededError as error:
            raise ResetNeededError("No episode is running: call start_episode first.") from error

    def _async_tool(self, name: str) -> Callable[..., Any]:
        """``name`` as a coroutine (FastMCP runs it on the server's event loop): the env call runs in a thread."""
        function = getattr(self, name)

        async def tool(**arguments: Any) -> dict[str, Any]:
            from fastmcp.exceptions import ToolError as FastMCPToolError

            try:
                return await asyncio.to_thread(function, **arguments)
            except AnchorGymError as error:  # the caller's mistake or the session's end: its message, no traceback
                raise FastMCPToolError(str(error)) from error

        tool.__name__, tool.__doc__ = name, function.__doc__
        tool.__signature__ = inspect.signature(function)  # type: ignore[attr-defined]  # FastMCP's input schema
        tool.__annotations__ = dict(inspect.get_annotations(function, eval_str=True))
        return tool

    # ---------------------------------------------------------------- the step loop (ListToolsAction, CallToolAction)
    def list_observation(self) -> ListToolsObservation:
        """The tools, as OpenEnv's ``ListToolsAction`` returns them."""
        served = get_server_tools(self.server)  # OpenEnv's helper: FastMCP 2 and 3 list their tools differently
        tools = [
            Tool(name=name, description=self.descriptions[name], input_schema=served[name].parameters)
            for name in TOOL_NAMES
        ]
        return ListToolsObservation(tools=tools)

    def call_observation(self, action: CallToolAction) -> CallToolObservation:
        """Run one ``CallToolAction`` on the calling thread; the observation's reward and done are the step's."""
        name = action.tool_name
        if name not in self.functions:
            message = str(unknown("tool", name, TOOL_NAMES))
            return self._error(name, ToolErrorType.TOOL_NOT_FOUND, message)
        try:
            result = self.functions[name](**action.arguments)
        except ValidationError as error:
            return self._error(name, ToolErrorType.INVALID_ARGS, f"Invalid arguments for tool {name!r}: {error}")
        except ConfigError as error:
            return self._error(name, ToolErrorType.INVALID_ARGS, str(error))
        except AnchorGymError as error:
            return self._error(name, ToolErrorType.EXECUTION_ERROR, str(error))
        return CallToolObservation(tool_name=name, result=result, reward=result["reward"], done=result["done"])

    @staticmethod
    def _error(name: str, kind: ToolErrorType, message: str) -> CallToolObservation:
        return CallToolObservation(tool_name=name, error=ToolError(error_type=kind, message=message))

    @asynccontextmanager
    async def mcp_session(self) -> Any:
        """Hold the in-process MCP client open (OpenEnv enters this for the lifetime of a session)."""
        async with self.client:
            yield self.client


# ------------------------------------------------------------------------------------------------ plain MCP clients
PROTOCOL_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
"""MCP protocol versions whose tools/list and tools/call this endpoint speaks (the same in all of them)."""
SESSION_HEADER = "mcp-session-id"


class StreamableMCP:
    """ASGI middleware: MCP's streamable HTTP transport on ``/mcp``, on top of OpenEnv's JSON-RPC ``/mcp``.

    OpenEnv's ``POST /mcp`` answers ``tools/list`` and ``tools/call`` but not MCP's ``initialize`` handshake,
    and it keeps a session only when ``params.session_id`` names one. For a request that is part of MCP's
    handshake or carries an ``Mcp-Session-Id`` header, this middleware: answers ``initialize`` with a new
    OpenEnv session (``openenv/session/create``, so the session limit applies) whose id is the
    ``Mcp-Session-Id``; answers notifications with 202 and ``ping`` with ``{}``; passes ``tools/*`` to OpenEnv
    in that session and returns MCP's result shape (``structuredContent``, ``isError``; a tool's failure is an
    ``isError`` result with its message); ends the session on ``DELETE``; answers 404 for a session that is
    gone (MCP clients then start a new one). Every other request goes to OpenEnv unchanged.

    Add it with ``app.add_middleware(StreamableMCP, name=...)``.

    Args:
        app: the next ASGI app (OpenEnv's routes).
        name: the server name given to MCP clients.
    """

    def __init__(self, app: Any, name: str) -> None:
        self.app, self.name = app, name

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        """Serve one ASGI connection: an MCP client's request on ``/mcp`` here, everything else by OpenEnv."""
        if scope["type"] != "http" or scope["path"].rstrip("/") != "/mcp":
            return await self.app(scope, receive, send)
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        session_id = headers.get(SESSION_HEADER)
        method = scope["method"]
        if method == "GET" and session_id is not None:
            return await reply(send, 405, None)  # no server-initiated stream; MCP clients expect 405 here
        if method == "DELETE" and session_id is not None:
            close = {"method": "openenv/session/close", "params": {"session_id": session_id}}
            answer = await self._openenv(scope, close)
            return await reply(send, 404 if "error" in answer else 200, None)
        if method != "POST":
            return await self.app(scope, receive, send)
        body = await read_body(receive)
        try:
            message = json.loads(body)
        except ValueError:
            message = None
        mcp_request = isinstance(message, dict) and (session_id is not None or message.get("method") == "initialize")
        if not mcp_request:
            return await self.app(scope, replay(body, receive), send)
        assert isinstance(message, dict)
        request_id, rpc_method = message.get("id"), message.get("method")
        if rpc_method == "initialize":
            return await self._initialize(scope, send, message)
        if "id" not in message:  # a notification (notifications/initialized...) or a response: nothing to answer
            return await reply(send, 202, None)
        if rpc_method == "ping":
            return await reply(send, 200, {"jsonrpc": "2.0", "id": request_id, "result": {}})
        params = message.get("params") if isinstance(message.get("params"), dict) else {}
        answer = await self._openenv(scope, {**message, "params": {**params, "session_id": session_id}})
        error = answer.get("error") or {}
        if str(error.get("message", "")).startswith("Unknown session_id"):
            return await reply(send, 404, answer)
        if rpc_method == "tools/call":
            answer = {"jsonrpc": "2.0", "id": request_id, "result": _call_result(answer)}
        elif rpc_method == "tools/list" and "result" in answer:
            answer["result"] = {"tools": [_tool(tool) for tool in answer["result"].get("tools", [])]}
        return await reply(send, 200, answer)

    async def _initialize(self, scope: dict[str, Any], send: Callable[..., Any], message: dict[str, Any]) -> None:
        """Open an OpenEnv session for a new MCP client; its id is the client's ``Mcp-Session-Id``."""
        request_id = message.get("id")
        answer = await self._openenv(scope, {"method": "openenv/session/create", "id": request_id})
        if "error" in answer:  # e.g. the server is at --max-sessions
            return await reply(send, 200, {"jsonrpc": "2.0", "id": request_id, "error": answer["error"]})
        params = message.get("params") if isinstance(message.get("params"), dict) else {}
        asked = params.get("protocolVersion")
        result = {
            "protocolVersion": asked if asked in PROTOCOL_VERSIONS else PROTOCOL_VERSIONS[-1],
            "capabilities": {"tools": {"listChanged": False}},
            "serverInfo": {"name": self.name, "version": __version__},
            "instructions": "Call start_episode, then act until done is true.",
        }
        session = str(answer["result"]["session_id"])
        await reply(send, 200, {"jsonrpc": "2.0", "id": request_id, "result": result}, {SESSION_HEADER: session})

    async def _openenv(self, scope: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
        """Send one JSON-RPC request to OpenEnv's own ``POST /mcp``; return its JSON answer."""
        body = json.dumps({"jsonrpc": "2.0", "id": request.get("id"), **request}).encode()
        inner = {**scope, "method": "POST", "headers": [(b"content-type", b"application/json")]}
        status, chunks = 500, []

        async def collect(event: dict[str, Any]) -> None:
            nonlocal status
            if event["type"] == "http.response.start":
                status = event["status"]
            elif event["type"] == "http.response.body":
                chunks.append(event.get("body", b""))

        await self.app(inner, replay(body), collect)
        try:
            answer = json.loads(b"".join(chunks))
        except ValueError:
            answer = None
        if status != 200 or not isinstance(answer, dict):
            message = f"OpenEnv's /mcp answered HTTP {status}"
            return {"jsonrpc": "2.0", "id": request.get("id"), "error": {"code": -32603, "message": message}}
        return answer


def _call_result(answer: dict[str, Any]) -> dict[str, Any]:
    """MCP's ``CallToolResult`` from OpenEnv's answer to ``tools/call`` (a failure is an ``isError`` result)."""
    if "error" in answer:
        message = str((answer.get("error") or {}).get("message", "the tool failed"))
        return {"content": [{"type": "text", "text": message}], "isError": True}
    result = answer.get("result") or {}
    content = [{"type": "text", "text": item.get("text", "")} for item in result.get("content") or []]
    call = {"content": content, "isError": bool(result.get("is_error", False))}
    if result.get("structured_content") is not None:
        call["structuredContent"] = result["structured_content"]
    return call


def _tool(tool: dict[str, Any]) -> dict[str, Any]:
    """A tool of OpenEnv's ``tools/list`` in MCP's shape (its set fields only)."""
    keys = ("name", "title", "description", "inputSchema", "outputSchema", "annotations")
    return {key: tool[key] for key in keys if tool.get(key) is not None}
