"""The verl agent loop that plays one anchorgym episode per trajectory.

:class:`AnchorAgentLoop` is registered as ``anchorgym_agent``. For each verl sample it makes the
row's env (:class:`~anchorgym.integrations.verl.rows.EpisodeSpec`), resets it on the row's task
and env seed, and plays a multi-turn chat: the env's prompt template renders the system and user
messages, the server manager samples the model's turn, the harness's parser turns it into an
action, and the env's next observation becomes the next user turn. The result is verl's
multi-turn layout::

    prompt:        system + first user turn
    response:      | model turn 0 | env turn 1 | model turn 1 | ... | model turn T-1 |
    response_mask: |  1 1 ... 1   |  0 ... 0   |  1 1 ... 1   | ... |   1 1 ... 1    |

and ``extra_fields`` keep one entry per turn (:data:`TURN_FIELDS`): the span of its model tokens in
the response, the anchor of the state it acted from (``info["anchor"]`` before the step), the
env reward and the action's validity, which the advantage hook
(:mod:`anchorgym.integrations.verl.advantage`) turns into per-turn advantages. The trajectory's
``reward_score`` is its episode return, so verl's own estimators (``grpo``...) also work on it.
"""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import uuid4

from anchorgym.errors import ConfigError
from anchorgym.integrations.verl import missing_verl
from anchorgym.integrations.verl.rows import AGENT_NAME, EpisodeSpec

try:
    from verl.experimental.agent_loop.agent_loop import AgentLoopBase, AgentLoopOutput, register
except ImportError:  # pragma: no cover - depends on the installed extras
    # the module still imports (API docs, doctest collection); making the loop raises missing_verl()
    AgentLoopBase, AgentLoopOutput = object, None

    def register(_: str) -> Any:  # noqa: D103
        return lambda cls: cls


TURN_FIELDS = (
    "anchorgym_spans",  # [start, end) of each turn's model tokens in the response
    "anchorgym_anchors",  # info["anchor"] of the state each turn acted from
    "anchorgym_rewards",  # the env reward of each turn
    "anchorgym_valid",  # info["action_valid"] after each turn (a protocol template: its own validity flag)
)


class Turns:
    """The per-turn records of one trajectory, kept beside verl's token buffers."""

    def __init__(self) -> None:
        self.spans: list[list[int]] = []
        self.anchors: list[str] = []
        self.rewards: list[float] = []
        self.valid: list[bool] = []
        self.actions: list[str] = []

    def add(self, span: list[int], anchor: str, reward: float, valid: bool, action: str) -> None:
        """Record one turn."""
        self.spans.append(span)
        self.anchors.append(str(anchor))
        self.rewards.append(float(reward))
        self.valid.append(bool(valid))
        self.actions.append(action)

    def clip(self, length: int) -> None:
        """Cut the spans at ``length`` response tokens (verl keeps at most ``response_length``)."""
        self.spans = [[min(start, length), min(end, length)] for start, end in self.spans]

    def extra_fields(self, won: bool, task_id: str) -> dict[str, Any]:
        """The trajectory's ``extra_fields``."""
        return {
            "anchorgym_spans": self.spans,
            "anchorgym_anchors": self.anchors,
            "anchorgym_rewards": self.rewards,
            "anchorgym_valid": self.valid,
            "anchorgym_actions": self.actions,
            "anchorgym_won": bool(won),
            "anchorgym_task_id": task_id,
            "turn_scores": list(self.rewards),
            "tool_rewards": [],
        }


@register(AGENT_NAME)
class AnchorAgentLoop(AgentLoopBase):
    """Plays the row's anchorgym episode against verl's LLM server (see the module docs)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if AgentLoopOutput is None:
            raise missing_verl()
        super().__init__(*args, **kwargs)
        self.response_length = self.rollout_config.response_length

    async def run(self, sampling_params: dict[str, Any], **kwargs: Any) -> AgentLoopOutput:
        """Play one episode; return its tokens, masks, log-probs, reward and per-turn fields."""
        spec = EpisodeSpec.from_extra_info(kwargs.get("extra_info"))
        env = await asyncio.to_thread(_make_env, spec)
        try:
            return await self._play(env, spec, sampling_params)
        finally:
            env.close()

    async def _play(self, env: Any, spec: EpisodeSpec, sampling_params: dict[str, Any]) -> AgentLoopOutput:
        from anchorgym.policies.prompting import template_for

        template = template_for(spec.env_id)
        options = {"task_id": spec.task_id}
        observation, info = await asyncio.to_thread(env.reset, seed=spec.env_seed, options=options)
        history: list[tuple[str, str]] = []
        messages = _messages(template, spec, observation, info, history)
        runtime = await self.ct_build_initial_tokens(messages)
        prompt_length = len(runtime)
        mask: list[int] = []
        logprobs: list[float] | None = None
        turns, won, metrics = Turns(), False, {"generate_sequences": 0.0, "num_preempted": -1}
        while True:
            output = await self.server_manager.generate(
                request_id=uuid4().hex, prompt_ids=runtime, sampling_params=sampling_params
            )
            if output.log_probs and logprobs is None:
                logprobs = [0.0] * len(mask)
            merged, mask, logprobs = await self.ct_merge_assistant_token(
                runtime, output.token_ids, mask, logprobs, assistant_logprobs=output.log_probs or None
            )
            runtime = merged.token_ids
            span = [len(mask) - merged.appended_token_count, len(mask)]
            text = self.tokenizer.decode(output.token_ids, skip_special_tokens=True)
            action, protocol_valid = _parse(template, text, _agent_input(spec, observation, info, history))
            anchor = info["anchor"]  # the state this turn acted from
            observation_next, reward, terminated, truncated, step_info = await asyncio.to_thread(env.step, action)
            # a protocol's validity flag is its original's (verl-agent's is_action_valid), else the env's
            valid = step_info.get("action_valid", True) if protocol_valid is None else protocol_valid
            turns.add(span, anchor, reward, valid, action)
            won = bool(step_info.get("won", False))
            history.append((observation, action))
            observation, info = observation_next, {**info, **step_info}
            if terminated or truncated or len(mask) >= self.response_length:
                break
            previous = [*messages, {"role": "assistant", "content": text}]
            nxt = _messages(template, spec, observation, info, history)[-1]
            if nxt["role"] != "user":
                raise ConfigError(
                    f"verl's agent loop cannot play {spec.env_id}: its protocol continues one assistant message "
                    "(Search-R1's) instead of answering in a user turn. Train on the env without that protocol."
                )
            messages = [*previous, nxt]  # the env's answer as the next user turn
            merged, mask, logprobs = await self.ct_merge_context_msg(previous, messages, runtime, mask, logprobs)
            runtime = merged.token_ids
            turns.clip(len(mask))  # a merge may trim the tokens that close the last model turn
            if len(mask) >= self.response_length:
                break
        return self._output(runtime, prompt_length, mask, logprobs, turns, won, spec, metrics)

    def _output(
        self,
        runtime: list[int],
        prompt_length: int,
        mask: list[int],
        logprobs: list[float] | None,
        turns: Turns,
        won: bool,
        spec: EpisodeSpec,
        metrics: dict[str, Any],
    ) -> AgentLoopOutput:
        cap = self.response_length
        response = runtime[len(runtime) - len(mask) :]
        turns.clip(cap)
        return AgentLoopOutput(
            prompt_ids=runtime[: len(runtime) - len(mask)],
            response_ids=response[:cap],
            response_mask=mask[:cap],
            response_logprobs=logprobs[:cap] if logprobs is not None else None,
            reward_score=float(sum(turns.rewards)),
            num_turns=2 * len(turns.spans) + 1,
            metrics=metrics,
            extra_fields=turns.extra_fields(won, spec.task_id),
        )


def _make_env(spec: EpisodeSpec) -> Any:
    from anchorgym.envs.registry import make

    limit = {} if spec.max_steps is None else {"max_steps": spec.max_steps}
    return make(spec.env_id, split=spec.split, anchor_fn=spec.anchor_fn, **limit, **spec.env_kwargs)


def _messages(
    template: Any, spec: EpisodeSpec, observation: str, info: dict[str, Any], history: list[tuple[str, str]]
) -> list[dict[str, str]]:
    """The template's messages for the current step (system and user; a protocol's user message alone)."""
    return template.messages(_agent_input(spec, observation, info, history), history_length=spec.history_length)


def _agent_input(spec: EpisodeSpec, observation: str, info: dict[str, Any], history: list[tuple[str, str]]) -> Any:
    """The :class:`~anchorgym.policies.base.AgentInput` of the current step."""
    from anchorgym.policies.base import AgentInput

    actions = info.get("admissible_actions")
    return AgentInput(
        env_id=spec.env_id,
        instruction=str(info.get("instruction", "")),
        observation=observation,
        admissible_actions=None if actions is None else [str(a) for a in actions],
        history=history[-spec.history_length :] if spec.history_length > 0 else [],
        step=len(history),
        task_type=str(info.get("task_type", "")),
        full_history=list(history),
        task_id=spec.task_id,
    )


def _parse(template: Any, text: str, agent_input: Any) -> tuple[str, bool | None]:
    """The env action for the model's turn, under the harness's parsing rules (or the template's protocol).

    Returns the action and the protocol's validity flag (None when the env's own ``action_valid`` counts).
    """
    from anchorgym.policies.parsing import parse_action, raw_turn
    from anchorgym.policies.protocols import protocol_action

    projected = protocol_action(template, text, agent_input)
    if projected is not None:
        return projected.action, projected.parsed
    if template.raw_turns:
        return raw_turn(text, template.action_tags).action, None
    return parse_action(text, template.action_tags, agent_input.admissible_actions).action, None
