"""Evaluate or train on anchorgym envs with verifiers (``vf.MultiTurnEnv``), e.g. from prime-rl.

:func:`load_environment` returns an :class:`AnchorVerifiersEnv`: a verifiers multi-turn
environment whose rows are anchorgym episodes (task, env seed) and whose rollouts play one
in-process anchorgym env each. verifiers' ``evaluate`` and prime-rl drive it with any
OpenAI-compatible client::

    from openai import AsyncOpenAI
    from verifiers.clients import OpenAIChatCompletionsClient
    from anchorgym.integrations.verifiers import load_environment

    env = load_environment(benchmark="sokoban-6x6-1box/lm-smoke@v1")
    client = OpenAIChatCompletionsClient(AsyncOpenAI(base_url="http://127.0.0.1:8000/v1", api_key="none"))
    results = env.evaluate_sync(client, "smollm2", sampling_args={"temperature": 0.0, "max_tokens": 256})

Every turn is a *fresh* prompt, exactly as ``anchorgym eval`` builds it: the env's versioned
template (:func:`~anchorgym.policies.prompting.template_for`) renders the system message and
one user message with the instruction, the current observation, the admissible actions and
the last ``history_length`` ``(observation, action)`` steps. The model's turns are not
appended to a growing transcript, so a model sees what it sees under ``anchorgym eval``
and scores the same. Answers are parsed as :class:`~anchorgym.policies.chat.ChatPolicy`
parses them. The rollout's reward is the episode's success (``won``) or final score.

With ``benchmark=`` the rows, split, step limit, env kwargs, history and env seeds are the
benchmark spec's: row ``(seed, task, episode)`` resets its env with
``derive_seed(seed, task, episode)``, the seed ``anchorgym eval`` gives that episode.
Needs ``pip install 'anchorgym[verifiers]'`` (tested with verifiers 0.3.1, the classic
``vf.MultiTurnEnv`` API).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from anchorgym.errors import ConfigError, missing_extra
from anchorgym.integrations.verifiers import common
from anchorgym.integrations.verifiers.common import REWARDS, episode_rows

try:
    import verifiers as vf
except ImportError as error:  # pragma: no cover - depends on the installed extras
    raise missing_extra("verifiers", "verifiers") from error

__all__ = ["REWARDS", "AnchorEnvFailure", "AnchorVerifiersEnv", "episode_rows", "load_environment"]
_MESSAGE_TYPES = {"system": vf.SystemMessage, "user": vf.UserMessage}
"""verifiers' message type for each role of a template's messages."""


class AnchorVerifiersEnv(vf.MultiTurnEnv):
    """A verifiers multi-turn environment that plays one anchorgym episode per rollout.

    Each dataset row's ``info`` holds ``task_id``, ``env_seed``, ``seed`` and ``episode``. A rollout's
    state keeps ``anchorgym_steps``, one ``{"observation", "text", "action"}`` per step (JSON-able; ask
    for it with ``state_columns=["anchorgym_steps"]``), like the steps of ``anchorgym eval``'s records.

    Args:
        env_id: registered anchorgym env id.
        rows: one ``{"task_id", "env_seed", "seed", "episode"}`` dict per episode to play.
        split: task split.
        max_steps: step limit per episode (the env's own truncation ends the rollout).
        history_length: past ``(observation, action)`` steps shown in each prompt.
        reward: ``"won"`` (1.0 when the episode is won) or ``"score"`` (the final ``info["score"]``).
        repair: snap non-admissible answers to the closest admissible action, as ``repair=true`` policies do.
        env_kwargs: further env constructor arguments (e.g. Sokoban's ``dim_room``).
        url: play each rollout on this OpenEnv server (``anchorgym env serve ENV_ID --split SPLIT``) instead of
            in-process, through :class:`~anchorgym.integrations.openenv.remote.RemoteEnv`: every call has a
            deadline, and a session the server lost (idle timeout, restart) is reopened and the episode resumed
            by replay, a bounded number of times. The server must play ``env_id``, ``split`` and ``max_steps``.
        remote_options: :class:`RemoteEnv` arguments (``message_timeout_s``, ``retries``...).
        **kwargs: passed on to ``vf.MultiTurnEnv`` (e.g. ``max_workers``).
    """

    def __init__(
        self,
        env_id: str,
        rows: Sequence[dict[str, Any]],
        split: str = "test",
        max_steps: int | None = None,
        history_length: int = 2,
        reward: str = "won",
        repair: bool = False,
        env_kwargs: dict[str, Any] | None = None,
        url: str | None = None,
        remote_options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        from anchorgym.policies.prompting import template_for

        common.check_settings(history_length, max_steps, reward)
        self.anchor_env_id, self.split, self.max_steps = env_id, split, max_steps
        self.history_length, self.reward_kind, self.repair = history_length, reward, repair
        self.env_kwargs = dict(env_kwargs or {})
        self.url, self.remote_options, self._server_checked = url, dict(remote_options or {}), False
        self.template = template_for(env_id)
        rubric = vf.Rubric(funcs=[self.success, self.score], weights=[float(reward == "won"), float(reward == "score")])
        super().__init__(eval_dataset=_dataset(self.template.system, rows), rubric=rubric, **kwargs)

    def make_env(self) -> Any:
        """Make one anchorgym env with the split, step limit and kwargs of this environment (or a remote one)."""
        env = common.make_env(
            self.anchor_env_id, self.split, self.max_steps, self.env_kwargs, self.url, self.remote_options
        )
        if self.url is not None and not self._server_checked:  # once: the server must play these episodes
            state = _env_call(env.state, "state")
            common.check_server(env, self.url, self.anchor_env_id, self.split, self.max_steps, state)
            self._server_checked = True
        return env

    async def setup_state(self, state: vf.State) -> vf.State:
        """Make and reset the rollout's env (its row's task and env seed); build the first prompt."""
        info = state["info"]
        env = self.make_env()
        state["anchor_env"] = env
        options = {"task_id": str(info["task_id"])}
        observation, env_info = _env_call(env.reset, "reset", seed=int(info["env_seed"]), options=options)
        state["anchor"] = {"observation": observation, "info": env_info, "history": []}
        state["anchorgym_steps"] = []
        state["prompt"] = self.prompt(state)
        return state

    def agent_input(self, state: vf.State) -> Any:
        """Return the :class:`~anchorgym.policies.base.AgentInput` of the rollout's current step."""
        return common.agent_input(
            self.anchor_env_id, state["anchor"], str(state["info"]["task_id"]), self.history_length
        )

    def prompt(self, state: vf.State) -> vf.Messages:
        """Build the current step's fresh prompt: the template's messages (system and user; a protocol's user alone)."""
        messages = common.prompt_messages(
            self.template, self.anchor_env_id, self.agent_input(state), self.history_length
        )
        return [_MESSAGE_TYPES[m["role"]](content=m["content"]) for m in messages]

    def parse(self, text: str, state: vf.State) -> str:
        """Return the env action for the model's answer ``text`` (the harness's parsing rules, or the protocol's)."""
        return common.parse_answer(self.template, text, self.agent_input(state), self.repair)

    async def env_response(self, messages: vf.Messages, state: vf.State, **kwargs: Any) -> vf.Messages:
        """Step the env with the action parsed from the last model turn; return the next user message.

        When the episode ends, the final observation is returned as ``state["final_env_response"]``,
        which ends the rollout.
        """
        text = _text(messages[-1]) if messages else ""
        action = self.parse(text, state)
        observation, _, terminated, truncated, info = _env_call(state["anchor_env"].step, "step", action)
        anchor = state["anchor"]
        anchor["history"].append((anchor["observation"], action))
        state["anchorgym_steps"].append({"observation": anchor["observation"], "text": text, "action": action})
        anchor["observation"], anchor["info"] = observation, {**anchor["info"], **info}
        if terminated or truncated:
            final = [vf.UserMessage(content=observation)]
            state["final_env_response"] = final
            return final
        return self.prompt(state)[-1:]  # the user message

    async def get_prompt_messages(self, state: vf.State) -> vf.Messages:
        """Return the prompt of the next model turn: the first prompt, else a fresh one after the env's step."""
        if not state["trajectory"]:
            return state["prompt"]
        last = state["trajectory"][-1]
        response = await self.env_response(list(last["completion"]), state)
        if state.get("final_env_response") is not None:
            return response
        return [*self.prompt(state)[:-1], *response]  # the template's system message, where it sends one

    async def render_completion(self, state: vf.State) -> None:
        """Render the rollout as one transcript: each model turn, then the env's next observation message."""
        completion: list[Any] = []
        steps = state["trajectory"]
        for index, step in enumerate(steps):
            completion.extend(step["completion"])
            if index + 1 < len(steps):
                completion.append(step_prompt_user(steps[index + 1]["prompt"]))
        completion.extend(state.get("final_env_response") or [])
        state["completion"] = completion

    @vf.cleanup
    async def close_anchor_env(self, state: vf.State) -> None:
        """Close the rollout's env."""
        env = state.get("anchor_env")
        if env is not None:
            env.close()
            state["anchor_env"] = None

    async def success(self, state: vf.State) -> float:
        """1.0 when the episode was won (``info["won"]``), else 0.0."""
        return common.success(_final_info(state))

    async def score(self, state: vf.State) -> float:
        """The episode's final ``info["score"]`` (its success when the env reports no score)."""
        return common.score(_final_info(state))


class AnchorEnvFailure(vf.InfraError):
    """The rollout's anchorgym env raised in ``reset`` or ``step``; verifiers records it as the rollout's error.

    Like ``anchorgym eval``'s errored episodes, the rollout ends there and the others go on.
    """


def _env_call(method: Any, name: str, *args: Any, **kwargs: Any) -> Any:
    """Call the env's ``reset`` or ``step``; turn an exception into :class:`AnchorEnvFailure`."""
    try:
        return method(*args, **kwargs)
    except Exception as error:
        raise AnchorEnvFailure(f"the env raised in {name}: {type(error).__name__}: {error}") from error


def step_prompt_user(prompt: vf.Messages) -> Any:
    """Return the user message of one turn's fresh prompt (its last message)."""
    return prompt[-1]


def _final_info(state: vf.State) -> dict[str, Any]:
    anchor = state.get("anchor") or {}
    return anchor.get("info", {})


def _text(message: Any) -> str:
    content = message.get("content") if isinstance(message, dict) else getattr(message, "content", None)
    return content if isinstance(content, str) else ""


def _dataset(system: str, rows: Sequence[dict[str, Any]]) -> Any:
    """Build the evaluation dataset: a placeholder ``prompt`` (the first prompt needs the env's reset) and ``info``."""
    from datasets import Dataset

    if not rows:
        raise ConfigError("The verifiers environment has no episodes to play. Give at least one task.")
    return Dataset.from_list([{"prompt": [{"role": "system", "content": system}], "info": dict(row)} for row in rows])


def load_environment(env_id: str | None = None, benchmark: str | None = None, **kwargs: Any) -> AnchorVerifiersEnv:
    """Return a verifiers environment playing ``env_id``, or the episodes of a benchmark spec.

    Args:
        env_id: registered anchorgym env id (optional with ``benchmark``; it must then be the spec's).
        benchmark: a benchmark id (``sokoban-6x6-1box/test@v2``) or ``FILE.json[#ID]``: its tasks, split,
            seeds, step limit, history length and env kwargs.
        **kwargs: ``seeds`` (evaluation seeds; default the spec's, else ``[0]``), ``reward``, ``repair``,
            ``url`` (play on an OpenEnv server; see :class:`AnchorVerifiersEnv`), ``remote_options`` and
            any :class:`AnchorVerifiersEnv` argument; without a benchmark also ``split`` (default ``"test"``),
            ``num_tasks`` (the first this many tasks of the split, default 16) or ``task_ids``,
            ``episodes_per_task``, ``max_steps``, ``history_length`` and env constructor kwargs.

    Returns:
        An :class:`AnchorVerifiersEnv` with one evaluation row per episode.

    Raises:
        ConfigError: neither ``env_id`` nor ``benchmark`` is given, or they disagree.
        UnknownNameError: an unknown env id, benchmark or reward.
    """
    env_id, rows, settings = common.resolve_episodes(env_id, benchmark, **kwargs)
    return AnchorVerifiersEnv(env_id, rows, **settings)
