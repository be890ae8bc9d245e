"""Train with TRL's ``GRPOTrainer`` on an anchorgym env, through TRL's ``environment_factory``.

TRL (>= 1.x) documents ``environment_factory`` as its environment path (its OpenEnv guide
wraps an OpenEnv client the same way): each rollout gets an environment object whose
``reset(**row)`` returns the text appended to the prompt, whose public methods are the tools
the model calls, and whose ``get_reward()`` scores the finished rollout. :class:`AnchorTRLEnv`
is that object for one anchorgym episode, played in-process or on an OpenEnv server
(``anchorgym env serve``); its one tool is :meth:`AnchorTRLEnv.act`.

::

    from trl import GRPOConfig, GRPOTrainer
    from anchorgym.integrations.trl import environment_factory, task_dataset

    dataset = task_dataset("anchorgym/Sokoban-v1", split="train", num_tasks=256)
    trainer = GRPOTrainer(
        model="Qwen/Qwen3-0.6B",
        args=GRPOConfig(num_generations=8, max_completion_length=1024),
        train_dataset=dataset,
        environment_factory=environment_factory("anchorgym/Sokoban-v1", url="http://127.0.0.1:8000"),
    )
    trainer.train()

Every member of a GRPO group is reset with the same ``task_id`` and ``seed`` (the row's), so
the group shares its initial state, as anchorgym's own trainer does. Needs
``pip install 'anchorgym[trl]'``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from anchorgym.errors import ConfigError, unknown

REWARDS = ("success", "score", "return")
ENDED = "The episode has ended; no more actions are taken."


class AnchorTRLEnv:
    """One anchorgym episode for TRL's ``environment_factory``: ``reset``, the ``act`` tool and ``get_reward``.

    The rollout's reward is its outcome, so that a rollout that never acts cannot outscore one that tries:

    * ``"success"`` (default): 1.0 when the episode is won, else 0.0;
    * ``"score"``: the final ``info["score"]`` (0.0 before any action; partial credit where the env gives it);
    * ``"return"``: the sum of the env's rewards. Beware: with per-step costs (Sokoban's -0.1) a rollout that
      never calls the tool scores 0 and beats every one that acts without winning, so GRPO learns not to act.

    ``invalid_penalty`` is subtracted once per *invalid action taken* (``info["action_valid"]`` false), so it
    can only push a model from malformed actions towards valid ones, never towards not acting.

    Args:
        env_id: registered anchorgym env id.
        url: an OpenEnv server playing ``env_id`` (``anchorgym env serve``); None plays in-process. Remote play
            goes through :class:`~anchorgym.integrations.openenv.remote.RemoteEnv`: every call has a deadline,
            and a lost session (idle timeout, restart) is reopened and the episode resumed, a bounded number of
            times.
        split: task split (in-process; a server plays its own).
        reward: ``"success"``, ``"score"`` or ``"return"`` (see above).
        invalid_penalty: subtracted from the reward for each invalid action taken (default 0).
        remote_options: :class:`RemoteEnv` arguments (``message_timeout_s``, ``retries``...).
        **env_kwargs: further env constructor arguments (in-process).
    """

    def __init__(
        self,
        env_id: str,
        url: str | None = None,
        split: str = "train",
        reward: str = "success",
        invalid_penalty: float = 0.0,
        remote_options: dict[str, Any] | None = None,
        **env_kwargs: Any,
    ) -> None:
        if reward not in REWARDS:
            raise unknown("reward", reward, REWARDS)
        if invalid_penalty < 0:
            raise ConfigError(f"invalid_penalty is subtracted per invalid action; give it >= 0, got {invalid_penalty}.")
        self._env_id, self._reward_kind, self._url = env_id, reward, url
        self._invalid_penalty = float(invalid_penalty)
        if url is None:
            from anchorgym.envs.registry import make

            self._env = make(env_id, split=split, **env_kwargs)
        else:
            from anchorgym.integrations.openenv.remote import RemoteEnv

            self._env = RemoteEnv(url, **(remote_options or {}))
        self._done, self._return, self._invalid, self._info = False, 0.0, 0, {}

    def reset(self, task_id: str | None = None, seed: int | None = None, **row: Any) -> str:
        """Start the episode of the dataset row (its ``task_id`` and ``seed``); return the first observation."""
        options = {"task_id": str(task_id)} if task_id is not None else None
        obs, info = self._env.reset(seed=seed, options=options)
        self._done, self._return, self._invalid, self._info = False, 0.0, 0, info
        return _describe(obs, info)

    def act(self, action: str) -> str:
        """Take one action in the environment and return what happens next.

        Args:
            action: the action, exactly as the task describes them (e.g. one of the admissible actions).

        Returns:
            The next observation, with the actions that are admissible now.
        """
        if self._done:
            return ENDED
        obs, reward, terminated, truncated, info = self._env.step(str(action))
        self._return += float(reward)
        self._invalid += not info.get("action_valid", True)
        self._done, self._info = bool(terminated or truncated), info
        return _describe(obs, info) + (f"\n{ENDED}" if self._done else "")

    def get_reward(self) -> float:
        """Return the rollout's reward (see the class docs), less ``invalid_penalty`` per invalid action taken."""
        if self._reward_kind == "success":
            outcome = float(bool(self._info.get("won", False)))
        elif self._reward_kind == "score":
            outcome = float(self._info.get("score", 0.0)) if self._steps else 0.0
        else:
            outcome = self._return
        return outcome - self._invalid_penalty * self._invalid

    @property
    def _steps(self) -> int:
        return int(self._info.get("step", 0))

    def __del__(self) -> None:
        if getattr(self, "_env", None) is not None:
            self._env.close()


def _describe(obs: str, info: dict[str, Any]) -> str:
    actions = info.get("admissible_actions")
    return obs if not actions else f"{obs}\nAdmissible actions: {', '.join(actions)}"


def environment_factory(env_id: str, url: str | None = None, **kwargs: Any) -> Callable[[], AnchorTRLEnv]:
    """Return the ``environment_factory`` for ``GRPOTrainer``: each call makes one :class:`AnchorTRLEnv`."""
    return functools.partial(AnchorTRLEnv, env_id, url, **kwargs)


def task_dataset(
    env_id: str,
    split: str = "train",
    num_tasks: int | None = None,
    task_ids: Sequence[str] | None = None,
    seed: int = 0,
    system_prompt: str | None = None,
    **env_kwargs: Any,
) -> Any:
    """Build the training dataset: one row per task with a conversational ``prompt``, ``task_id`` and ``seed``.

    The prompt holds the task's instruction; the env's first observation is appended by ``reset``.

    Args:
        env_id: registered anchorgym env id.
        split: task split.
        num_tasks: the first this many tasks of the split (default all, or ``task_ids``).
        task_ids: the tasks, instead of the first ``num_tasks``.
        seed: the env seed of every row.
        system_prompt: an optional system message.
        **env_kwargs: env constructor arguments (to read the instructions).

    Returns:
        A :class:`datasets.Dataset`.
    """
    from datasets import Dataset

    from anchorgym.envs.registry import make

    env = make(env_id, split=split, **env_kwargs)
    try:
        tasks = list(task_ids) if task_ids is not None else list(env.task_ids()[: num_tasks or None])
        if not tasks:
            raise ConfigError(f"task_dataset got no tasks for {env_id} split {split}; pass num_tasks or task_ids.")
        rows = []
        for task in tasks:
            _, info = env.reset(seed=seed, options={"task_id": str(task)})
            system = [{"role": "system", "content": system_prompt}] if system_prompt else []
            prompt = [*system, {"role": "user", "content": f"{info['instruction']}\nUse the act tool to act.\n"}]
            rows.append({"prompt": prompt, "task_id": str(task), "seed": int(seed)})
    finally:
        env.close()
    return Dataset.from_list(rows)
