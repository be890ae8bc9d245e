"""The episode loop shared by evaluation and training.

:func:`rollout` resets an :class:`~anchorgym.envs.vector.AnchorVectorEnv`, asks a
:class:`~anchorgym.policies.base.Policy` for one action per *active* sub-env,
steps the vector env and records every step until all episodes have ended.
It returns one :class:`Episode` per sub-env (in sub-env order), each holding
its :class:`StepRecord` list with everything a trainer or a result file needs:
the observation acted on, the raw model text, the parsed action, validity,
reward, the anchor of the state acted *from*, done flags and, for model
policies, the exact token ids and log-probs that were sampled.

Example::

    envs = anchorgym.make_vec("anchorgym/Sokoban-v0", num_tasks=4, split="test")
    policy = make_policy("expert")
    episodes = rollout(envs, policy, seed=0)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from anchorgym.errors import ConfigError, PolicyError
from anchorgym.harness.plan import step_seed
from anchorgym.policies.base import AgentInput, EpisodeStart, Policy, PolicyOutput, TokenCounts, as_outputs


@dataclass
class StepRecord(TokenCounts):
    """One step of one episode.

    Attributes:
        step: index of the step within its episode (0-based).
        observation: the observation the policy acted on.
        anchor: ``info["anchor"]`` of the state the action was taken *from*.
        text: the raw policy output.
        action: the action sent to ``env.step``.
        parsed: whether the policy could extract an action from ``text``.
        action_valid: ``info["action_valid"]`` after the step (parsed and admissible).
        reward: the env reward for this step.
        terminated: the episode ended by reaching a terminal state.
        truncated: the episode was cut off (env ``max_steps`` or the rollout's ``max_steps``).
        prompt_token_ids: the exact prompt tokens (model policies), else None.
        response_token_ids: the sampled response tokens (model policies), else None.
        logprobs: per-token log-probs of ``response_token_ids`` under the sampling policy.
        usage: ``(prompt, response)`` token counts the policy reported without ids (hosted APIs).
    """

    step: int
    observation: str
    anchor: str
    text: str
    action: str
    parsed: bool
    action_valid: bool
    reward: float
    terminated: bool
    truncated: bool
    prompt_token_ids: list[int] | None = None
    response_token_ids: list[int] | None = None
    logprobs: list[float] | None = None
    usage: tuple[int, int] | None = None


@dataclass
class Episode:
    """One finished episode of one sub-env.

    Attributes:
        env_index: index of the sub-env in the vector env.
        task_id: the task played.
        task_type: ``info["task_type"]`` of the task.
        group_id: the GRPO group (sub-envs playing the same task and seed).
        traj_id: unique trajectory id given by the vector env.
        instruction: the task text.
        steps: every step, in order.
        won: ``info["won"]`` at the end.
        score: ``info["score"]`` at the end, in [0, 1].
        final_observation: the observation after the last step.
        error: why the episode ended early when its env failed (``"<ExceptionType>: <message>"`` from
            ``infos["error"]``: the env raised in ``reset`` or ``step``, or its worker died), else None.
            An errored episode keeps the steps taken before the failure; it is neither won nor done.
        final_info: the env's info after the last step (JSON-able values; not part of :meth:`to_json`).
    """

    env_index: int
    task_id: str
    task_type: str
    group_id: int
    traj_id: int
    instruction: str
    steps: list[StepRecord] = field(default_factory=list)
    won: bool = False
    score: float = 0.0
    final_observation: str = ""
    error: str | None = None
    final_info: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def episode_return(self) -> float:
        """Sum of the step rewards."""
        return float(sum(step.reward for step in self.steps))

    @property
    def length(self) -> int:
        """Number of steps taken."""
        return len(self.steps)

    @property
    def terminated(self) -> bool:
        """Whether the episode reached a terminal state."""
        return bool(self.steps and self.steps[-1].terminated)

    @property
    def truncated(self) -> bool:
        """Whether the episode was cut off by a step limit."""
        return bool(self.steps and self.steps[-1].truncated)

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-able dict (the fields plus return, length and done flags)."""
        record = asdict(self)
        del record["final_info"]
        record.update(
            episode_return=self.episode_return,
            length=self.length,
            terminated=self.terminated,
            truncated=self.truncated,
        )
        return record


EpisodeCallback = Callable[[Episode], None]
ProgressCallback = Callable[[int, int, Sequence[PolicyOutput]], None]
"""Called after each batched step with (envs still active, episodes finished so far, the step's policy outputs)."""


def env_info_at(infos: dict[str, Any], index: int) -> dict[str, Any]:
    """Return sub-env ``index``'s info dict from a batched vector info (numpy scalars made plain).

    >>> infos = {"won": np.array([False, True]), "_won": np.array([True, True])}
    >>> env_info_at(infos, 1)
    {'won': True}
    """
    out = {}
    for key, values in infos.items():
        if key.startswith("_"):
            continue
        mask = infos.get(f"_{key}")
        if mask is not None and not mask[index]:
            continue
        if isinstance(values, dict):
            out[key] = env_info_at(values, index)
            continue
        value = values[index]
        out[key] = value.item() if isinstance(value, np.generic) else value
    return out


class _Loop:
    """State of one :func:`rollout` call: current infos, histories and episode records."""

    def __init__(
        self,
        envs: Any,
        observations: list[str],
        infos: dict[str, Any],
        history_length: int,
        policy_seeds: Sequence[int] | None = None,
    ) -> None:
        self.envs = envs
        self.history_length = history_length
        self.policy_seeds = None if policy_seeds is None else [int(s) for s in policy_seeds]
        self.observations = list(observations)
        self.infos = [env_info_at(infos, i) for i in range(envs.num_envs)]
        self.history: list[list[tuple[str, str]]] = [[] for _ in range(envs.num_envs)]
        self.episodes = [self._new_episode(i) for i in range(envs.num_envs)]

    def _new_episode(self, index: int) -> Episode:
        info = self.infos[index]
        return Episode(
            env_index=index,
            task_id=str(info.get("task_id", self.envs.task_ids[index])),
            task_type=str(info.get("task_type", "")),
            group_id=int(info.get("group_id", self.envs.group_id[index])),
            traj_id=int(info.get("traj_id", self.envs.traj_id[index])),
            instruction=str(info.get("instruction", "")),
        )

    def agent_input(self, index: int) -> AgentInput:
        info = self.infos[index]
        keep = self.history[index][-self.history_length :] if self.history_length > 0 else []
        return AgentInput(
            env_id=self.envs.env_id,
            instruction=str(info.get("instruction", "")),
            observation=self.observations[index],
            admissible_actions=_as_list(info.get("admissible_actions")),
            history=list(keep),
            step=int(info.get("step", len(self.episodes[index].steps))),
            env_index=index,
            task_type=str(info.get("task_type", "")),
            full_history=list(self.history[index]),
            task_id=self.episodes[index].task_id,
            seed=self.step_seed(index),
        )

    def step_seed(self, index: int) -> int | None:
        """Return the seed of sub-env ``index``'s next step (from its episode's policy seed), or None."""
        if self.policy_seeds is None:
            return None
        return step_seed(self.policy_seeds[index], len(self.episodes[index].steps))

    def episode_start(self, index: int) -> EpisodeStart:
        """Describe sub-env ``index``'s new episode for :meth:`Policy.on_episode_start`."""
        episode = self.episodes[index]
        seed = None if self.policy_seeds is None else self.policy_seeds[index]
        return EpisodeStart(
            index, episode.task_id, episode.task_type, episode.instruction, self.observations[index], seed
        )

    def fail(self, index: int, error: str) -> Episode:
        """End sub-env ``index``'s episode because its env failed (``error`` from ``infos["error"]``)."""
        episode = self.episodes[index]
        episode.error = error
        episode.final_observation = self.observations[index]
        return episode

    def record(self, index: int, output: PolicyOutput, result: tuple, forced_stop: bool) -> Episode | None:
        """Record one step of sub-env ``index``; return its Episode when that step ended it."""
        obs, reward, terminated, truncated, info = result
        episode = self.episodes[index]
        truncated = bool(truncated or (forced_stop and not terminated))
        episode.steps.append(
            StepRecord(
                step=len(episode.steps),
                observation=self.observations[index],
                anchor=str(self.infos[index].get("anchor", "")),
                text=output.text,
                action=output.action,
                parsed=bool(output.parsed),
                action_valid=bool(info.get("action_valid", True)),
                reward=float(reward),
                terminated=bool(terminated),
                truncated=truncated,
                prompt_token_ids=_plain_list(output.prompt_token_ids),
                response_token_ids=_plain_list(output.response_token_ids),
                logprobs=_plain_list(output.logprobs),
                usage=output.usage,
            )
        )
        self.history[index].append((self.observations[index], output.action))
        self.observations[index] = obs
        self.infos[index] = {**self.infos[index], **info}
        if not (terminated or truncated):
            return None
        episode.won = bool(info.get("won", False))
        episode.score = float(info.get("score", float(episode.won)))
        episode.final_observation = obs
        episode.final_info = self.infos[index]
        return episode


def _as_list(value: Any) -> list[str] | None:
    return None if value is None else [str(v) for v in value]


def _plain_list(values: Sequence[Any] | None) -> list | None:
    if values is None:
        return None
    return [v.item() if isinstance(v, np.generic) else v for v in values]


def rollout(
    envs: Any,
    policy: Policy,
    *,
    history_length: int = 2,
    max_steps: int | None = None,
    task_ids: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    seed: int | None = None,
    policy_seeds: Sequence[int] | None = None,
    skip: Sequence[int] = (),
    on_episode: EpisodeCallback | None = None,
    on_step: ProgressCallback | None = None,
) -> list[Episode]:
    """Play one episode in every sub-env of ``envs`` with ``policy``.

    After the reset the policy's :meth:`~anchorgym.policies.base.Policy.on_episode_start` hears which
    sub-envs start an episode. A sub-env that fails (``infos["error"]`` from the vector env: its env
    raised in ``reset`` or ``step``, or its worker died) ends its episode there with ``Episode.error``
    set, keeping the steps taken before; every other episode goes on unaffected.

    Args:
        envs: an :class:`~anchorgym.envs.vector.AnchorVectorEnv` (``autoreset=False``).
        policy: the agent; :meth:`~anchorgym.policies.base.Policy.bind` is called with ``envs`` first.
        history_length: how many past ``(observation, action)`` pairs each input's ``history`` window
            carries (``full_history`` always holds the whole episode).
        max_steps: optional cap on steps per episode on top of the env's own limit; episodes cut
            off by it are recorded as truncated.
        task_ids: one task per group (``envs.num_tasks`` ids); None lets the env sample tasks.
        seeds: one env seed per group; None lets the env draw them.
        seed: reseeds the vector env's task sampler (see ``AnchorVectorEnv.reset``).
        policy_seeds: one policy stream seed per sub-env (e.g. :func:`~anchorgym.harness.plan.episode_policy_seed`
            of its episode): each input then carries ``seed``, :func:`~anchorgym.harness.plan.step_seed` of it
            and the step, so the policy's draws for an episode do not depend on the rest of the batch.
            None: inputs carry no seed and the policy uses its own stream.
        skip: sub-env indices not to play (e.g. padding of a last, partial batch); their
            episodes are omitted from the result.
        on_episode: called with each :class:`Episode` as soon as it finishes.
        on_step: called after each batched step with ``(envs still active, episodes finished, the step's
            policy outputs)`` (progress: steps and generated tokens).

    Returns:
        The finished episodes (errored ones included), ordered by sub-env index.

    Raises:
        ConfigError: ``envs`` autoresets, or the arguments are inconsistent.
        PolicyError: the policy returned something other than one output per input.
        PolicyFailure: the policy raised (the message names the hook, step and tasks).
    """
    if getattr(envs, "autoreset", False):
        raise ConfigError("rollout needs a vector env made with autoreset=False.")
    if history_length < 0 or (max_steps is not None and max_steps < 1):
        raise ConfigError(f"history_length must be >= 0 and max_steps >= 1, got {history_length} and {max_steps}.")
    if policy_seeds is not None and len(policy_seeds) != envs.num_envs:
        raise ConfigError(f"policy_seeds needs one seed per sub-env ({envs.num_envs}), got {len(policy_seeds)}.")
    options = {key: list(value) for key, value in (("task_ids", task_ids), ("seeds", seeds)) if value is not None}
    observations, infos = envs.reset(seed=seed, options=options or None)
    for index in skip:
        envs.active[int(index)] = False
    policy.bind(envs)
    loop = _Loop(envs, observations, infos, history_length, policy_seeds)
    finished: list[Episode] = []
    skipped = {int(i) for i in skip}
    for index in range(envs.num_envs):
        reason = _error(infos, index)
        if reason is not None and index not in skipped:
            _finish(loop, loop.fail(index, reason), finished, on_episode)
    starts = [loop.episode_start(int(i)) for i in np.flatnonzero(envs.active)]
    _call_policy(policy, "on_episode_start", loop, [s.env_index for s in starts], starts)
    while envs.active.any():
        outputs = _step_once(loop, policy, max_steps, finished, on_episode)
        if on_step is not None:
            on_step(int(envs.active.sum()), len(finished), outputs)
    return sorted(finished, key=lambda episode: episode.env_index)


def _step_once(
    loop: _Loop, policy: Policy, max_steps: int | None, finished: list[Episode], on_episode: EpisodeCallback | None
) -> list[PolicyOutput]:
    """Act for every active sub-env, step the vector env, record the results; return the policy's outputs."""
    envs = loop.envs
    running = [int(i) for i in np.flatnonzero(envs.active)]
    inputs = [loop.agent_input(i) for i in running]
    outputs = as_outputs(policy, _call_policy(policy, "act", loop, running, inputs), len(running))
    actions = [""] * envs.num_envs
    for index, output in zip(running, outputs, strict=True):
        actions[index] = output.action
    observations, rewards, terminated, truncated, infos = envs.step(actions)
    for index, output in zip(running, outputs, strict=True):
        reason = None if terminated[index] else _error(infos, index)  # an env may end an episode with an error
        if reason is not None:
            _finish(loop, loop.fail(index, reason), finished, on_episode)
            continue
        forced = max_steps is not None and len(loop.episodes[index].steps) + 1 >= max_steps
        result = (observations[index], rewards[index], terminated[index], truncated[index], env_info_at(infos, index))
        episode = loop.record(index, output, result, forced)
        if episode is not None:
            _finish(loop, episode, finished, on_episode)
    return outputs


def _finish(loop: _Loop, episode: Episode, finished: list[Episode], on_episode: EpisodeCallback | None) -> None:
    loop.envs.active[episode.env_index] = False  # a rollout cap or an env failure may end it before the env does
    finished.append(episode)
    if on_episode is not None:
        on_episode(episode)


def _error(infos: dict[str, Any], index: int) -> str | None:
    """Return ``infos["error"][index]`` when the vector env reports that sub-env failed, else None.

    The vector env reports a sub-env that raised (or whose worker died) with ``infos["error"]``, not
    terminated and truncated. An env that *terminates* an episode with an ``error`` info (AppWorld's
    crashed world) played a real last step: that episode is recorded as played, not errored.
    """
    errors, mask = infos.get("error"), infos.get("_error")
    if errors is None or (mask is not None and not mask[index]) or errors[index] is None:
        return None
    return str(errors[index])


class PolicyFailure(PolicyError):
    """A policy raised inside :meth:`~anchorgym.policies.base.Policy.act` (or another hook) during a rollout.

    Attributes:
        policy: the policy's spec (or class name).
        hook: the method that raised (``act`` or ``on_episode_start``).
        step: the step the episodes were at (0: their first action).
        task_ids: the tasks of the sub-envs the call was for.
    """

    def __init__(self, policy: str, hook: str, step: int, task_ids: Sequence[str], cause: BaseException) -> None:
        self.policy, self.hook, self.step, self.task_ids = policy, hook, step, list(task_ids)
        reason = " ".join(f"{type(cause).__name__}: {cause}".split())  # one line, whatever the message
        tasks = ", ".join(self.task_ids[:8]) + (f" and {len(self.task_ids) - 8} more" if len(self.task_ids) > 8 else "")
        super().__init__(f"Policy {policy} raised {reason} in {hook}() at step {step} (tasks {tasks})")


def _call_policy(policy: Policy, hook: str, loop: _Loop, indices: Sequence[int], arguments: list) -> Any:
    """Call ``policy.<hook>(arguments)``; turn any exception into a :class:`PolicyFailure` saying where."""
    method = getattr(policy, hook, None)
    if method is None and hook != "act":  # a duck-typed policy without the optional hook
        return None
    try:
        return method(arguments)
    except Exception as error:
        step = max((len(loop.episodes[i].steps) for i in indices), default=0)
        name = policy.spec or type(policy).__name__
        raise PolicyFailure(name, hook, step, [loop.episodes[i].task_id for i in indices], error) from error
