"""anchorgym envs under verifiers 0.4 (``verifiers.v1``): a taskset, its env and its one-call-per-turn harness.

The taskset id is ``anchorgym-verifiers`` (the top-level module :mod:`anchorgym_verifiers`, since
verifiers' plugin loader imports ids as top-level modules)::

    vf-eval anchorgym-verifiers --env.taskset.benchmark sokoban-6x6-1box/lm-smoke@v1 ...

:func:`load_environment` returns the same :class:`AnchorVerifiersEnv` for Python use (``env.serving()``
and ``env.run_slot``, as ``vf-eval`` runs it). Each task is one anchorgym episode (task, env seed);
:meth:`AnchorVerifiersEnv.run` plays it: the env is the run's user, and every model turn gets a
*fresh* prompt (the env's versioned template: system message, then one user message with the
instruction, the current observation, the admissible actions and the last ``history_length`` steps),
exactly as ``anchorgym eval`` builds it. :class:`AnchorHarness` sends that prompt alone as the turn's
one model request (through verifiers' interception, which records it on the trace), instead of a
chat program's growing transcript. The trace's rewards are ``success`` and ``score`` (weighted by the
``reward`` setting), and ``trace.info["anchorgym_steps"]`` holds one ``{"observation", "text",
"action"}`` per step, like ``anchorgym eval``'s records.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import verifiers.v1 as vf
from pydantic import Field
from verifiers.v1.runtimes import ProgramResult

from anchorgym.errors import ConfigError
from anchorgym.integrations.verifiers import common
from anchorgym.integrations.verifiers.common import REWARDS, episode_rows

__all__ = [
    "REWARDS",
    "TASKSET_ID",
    "AnchorEnvFailure",
    "AnchorHarness",
    "AnchorTaskset",
    "AnchorVerifiersEnv",
    "episode_rows",
    "load_environment",
]

TASKSET_ID = "anchorgym-verifiers"
"""The taskset (and harness) id verifiers loads: the top-level module ``anchorgym_verifiers``."""


class AnchorTasksetConfig(vf.TasksetConfig):
    """Which episodes to play: :func:`load_environment`'s arguments (``--env.taskset.*`` on ``vf-eval``)."""

    env: str | None = None
    """Registered anchorgym env id (optional with ``benchmark``; it must then be the spec's)."""
    benchmark: str | None = None
    """A benchmark id (``sokoban-6x6-1box/test@v2``) or ``FILE.json[#ID]``: tasks, split, seeds, limits."""
    seeds: list[int] | None = None
    split: str | None = None
    num_tasks: int | None = None
    task_ids: list[str] | None = None
    episodes_per_task: int | None = None
    max_steps: int | None = None
    history_length: int | None = None
    reward: str = "won"
    repair: bool = False
    env_kwargs: dict[str, Any] = Field(default_factory=dict)
    url: str | None = None
    """Play on this OpenEnv server (``anchorgym env serve``) through RemoteEnv instead of in-process."""
    remote_options: dict[str, Any] = Field(default_factory=dict)

    def episodes(self) -> tuple[str, list[dict[str, Any]], dict[str, Any]]:
        """Resolve into ``(env_id, rows, settings)`` (see :func:`common.resolve_episodes`)."""
        names = ("seeds", "split", "num_tasks", "task_ids", "episodes_per_task", "max_steps", "history_length")
        kwargs: dict[str, Any] = {name: getattr(self, name) for name in names if getattr(self, name) is not None}
        kwargs.update(reward=self.reward, repair=self.repair, url=self.url, remote_options=self.remote_options)
        if self.benchmark is None:
            kwargs.update(self.env_kwargs)
        env_id, rows, settings = common.resolve_episodes(self.env, self.benchmark, **kwargs)
        if self.benchmark is not None and self.env_kwargs:
            settings["env_kwargs"] = {**settings["env_kwargs"], **self.env_kwargs}
        settings = {"split": "test", "max_steps": None, "history_length": 2, **settings}
        common.check_settings(settings["history_length"], settings["max_steps"], settings["reward"])
        if not rows:
            raise ConfigError("The verifiers environment has no episodes to play. Give at least one task.")
        return env_id, rows, settings


class AnchorData(vf.TaskData):
    """One episode: its row (``task_id``, ``env_seed``, ``seed``, ``episode``) and the env settings."""

    info: dict[str, Any]
    env_id: str
    settings: dict[str, Any]


class AnchorTask(vf.Task[AnchorData, vf.State, vf.TaskConfig]):
    """An anchorgym episode; :class:`AnchorVerifiersEnv` plays and scores it."""


class AnchorTaskset(vf.Taskset[AnchorTask, AnchorTasksetConfig]):
    """One task per ``(seed, task, episode)``, in ``anchorgym eval``'s order, with the harness's env seeds."""

    def load(self) -> Iterator[AnchorTask]:
        """Yield the episodes of the config (a benchmark spec's, or the env's split)."""
        env_id, rows, settings = self.config.episodes()
        for row in rows:
            name = f"{row['task_id']} (seed {row['seed']}, episode {row['episode']})"
            data = AnchorData(name=name, prompt=None, info=row, env_id=env_id, settings=settings)
            yield AnchorTask(data, self.config.task)


class AnchorHarnessConfig(vf.HarnessConfig):
    """No options: one chat completion per turn."""


class AnchorHarness(vf.Harness[AnchorHarnessConfig]):
    """Answer each turn with one model call on that turn's messages alone (the env's fresh prompt).

    Runs in-process: the request goes to the rollout's interception endpoint, so verifiers records
    and samples it as any harness's, with the run's sampling settings.
    """

    APPENDS_SYSTEM_PROMPT = True
    SUPPORTS_RESUME = True
    EXECUTES_CODE = False
    NEEDS_CONTAINER = False

    async def launch(
        self,
        ctx: vf.ModelContext,
        trace: vf.Trace,
        runtime: vf.Runtime,
        endpoint: str,
        secret: str,
        mcp_urls: dict[str, str],
        data: vf.TaskData,
        **kwargs: Any,
    ) -> ProgramResult:
        """Answer a prompted task's opening prompt (anchorgym's tasks are opened by the env instead)."""
        system, prompt = self.resolve_prompt(data)
        messages = [] if system is None else [{"role": "system", "content": system}]
        messages += [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt or [])
        return await _chat(ctx, endpoint, secret, messages)

    async def resume(
        self,
        ctx: vf.ModelContext,
        trace: vf.Trace,
        runtime: vf.Runtime,
        endpoint: str,
        secret: str,
        mcp_urls: dict[str, str],
        data: vf.TaskData,
        messages: vf.Messages,
        tool_interception_url: str | None = None,
    ) -> ProgramResult:
        """Answer the turn's messages only: the env sends a complete fresh prompt every turn."""
        return await _chat(ctx, endpoint, secret, messages)


async def _chat(ctx: vf.ModelContext, endpoint: str, secret: str, messages: Any) -> ProgramResult:
    from openai import AsyncOpenAI

    wire = [m if isinstance(m, dict) else {"role": m.role, "content": m.content} for m in messages]
    client = AsyncOpenAI(base_url=endpoint, api_key=secret, max_retries=0)
    try:
        await client.chat.completions.create(model=ctx.model, messages=wire)
    finally:
        await client.close()
    return ProgramResult(exit_code=0, stdout="", stderr="")


class AnchorEnvConfig(vf.EnvConfig):
    """The env's one role: the model playing the episode, in-process (the harness runs no program)."""

    player: vf.AgentConfig = vf.AgentConfig(runtime=vf.SubprocessConfig())


class AnchorEnvFailure(vf.EnvError):
    """The episode's anchorgym env raised in ``reset`` or ``step``; verifiers records it on the episode.

    Like ``anchorgym eval``'s errored episodes, the episode ends there and the others go on.
    """


class AnchorVerifiersEnv(vf.Env[AnchorEnvConfig]):
    """Play one anchorgym episode per task: the env is the user, each turn a fresh prompt."""

    async def run(self, task: AnchorTask, agents: vf.Agents) -> None:
        """Reset the episode's env, then step it with the action parsed from each model answer until it ends."""
        from anchorgym.policies.prompting import template_for

        data, settings = task.data, task.data.settings
        template, history_length = template_for(data.env_id), settings["history_length"]
        env = self._make_env(data)
        anchor: dict[str, Any] = {"history": []}
        steps: list[dict[str, Any]] = []
        try:
            options = {"task_id": str(data.info["task_id"])}
            observation, info = _env_call(env.reset, "reset", seed=int(data.info["env_seed"]), options=options)
            anchor.update(observation=observation, info=info)

            def fresh() -> tuple[Any, list[dict[str, str]]]:
                agent_input = common.agent_input(data.env_id, anchor, str(data.info["task_id"]), history_length)
                return agent_input, common.prompt_messages(template, data.env_id, agent_input, history_length)

            agent_input, prompt = fresh()
            async with agents.player.interaction(task) as interaction:
                interaction.trace.info["anchorgym_steps"] = steps  # filled in as the episode goes on
                segment = await interaction.turn(prompt)
                while not segment.terminated:
                    text = _reply(segment)
                    action = common.parse_answer(template, text, agent_input, bool(settings["repair"]))
                    observation, _, terminated, truncated, info = _env_call(env.step, "step", action)
                    anchor["history"].append((anchor["observation"], action))
                    steps.append({"observation": anchor["observation"], "text": text, "action": action})
                    anchor["observation"], anchor["info"] = observation, {**anchor["info"], **info}
                    if terminated or truncated:
                        break
                    agent_input, prompt = fresh()
                    segment = await interaction.turn(prompt)
        finally:
            env.close()
        trace = interaction.trace
        reward = settings["reward"]
        trace.record_reward("success", common.success(anchor["info"]), float(reward == "won"))
        trace.record_reward("score", common.score(anchor["info"]), float(reward == "score"))

    def _make_env(self, data: AnchorData) -> Any:
        settings = data.settings
        args = (settings["split"], settings["max_steps"], settings["env_kwargs"])
        env = common.make_env(data.env_id, *args, settings["url"], settings["remote_options"] or {})
        if settings["url"] is not None:  # the server must play these episodes
            state = _env_call(env.state, "state")
            common.check_server(env, settings["url"], data.env_id, settings["split"], settings["max_steps"], state)
        return env


def _reply(segment: Any) -> str:
    """The segment's last assistant text, unstripped (``anchorgym eval`` records and parses the raw answer)."""
    for message in reversed(segment.messages):
        if getattr(message, "role", None) == "assistant":
            return message.content if isinstance(message.content, str) else ""
    return ""


def _env_call(method: Any, name: str, *args: Any, **kwargs: Any) -> Any:
    """Call the env's ``reset``, ``step`` or ``state``; turn an exception into :class:`AnchorEnvFailure`."""
    try:
        return method(*args, **kwargs)
    except Exception as error:
        raise AnchorEnvFailure(f"the env raised in {name}: {type(error).__name__}: {error}") from error


def load_environment(env_id: str | None = None, benchmark: str | None = None, **kwargs: Any) -> AnchorVerifiersEnv:
    """Return a verifiers 0.4 environment playing ``env_id``, or the episodes of a benchmark spec.

    Args:
        env_id: registered anchorgym env id (optional with ``benchmark``; it must then be the spec's).
        benchmark: a benchmark id or ``FILE.json[#ID]``: its tasks, split, seeds, step limit, history and env kwargs.
        **kwargs: :class:`AnchorTasksetConfig` fields: ``seeds``, ``reward``, ``repair``, ``url``,
            ``remote_options``; without a benchmark also ``split``, ``num_tasks`` or ``task_ids``,
            ``episodes_per_task``, ``max_steps``, ``history_length``; other keywords are env kwargs.

    Returns:
        An :class:`AnchorVerifiersEnv` whose taskset has one task per episode.

    Raises:
        ConfigError: neither ``env_id`` nor ``benchmark`` is given, they disagree, or no episode is left.
        UnknownNameError: an unknown env id, benchmark or reward.
    """
    fields = set(AnchorTasksetConfig.model_fields) - set(vf.TasksetConfig.model_fields)
    env_kwargs = {**kwargs.pop("env_kwargs", {}), **{k: kwargs.pop(k) for k in list(kwargs) if k not in fields}}
    taskset = AnchorTasksetConfig(id=TASKSET_ID, env=env_id, benchmark=benchmark, env_kwargs=env_kwargs, **kwargs)
    taskset.episodes()  # bad arguments fail here, with anchorgym's errors
    return vf.load_environment(AnchorEnvConfig(taskset=taskset))
