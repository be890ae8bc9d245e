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

REWARDS = ("return", "score")
ENDED = "The episode has ended; no more actions are taken."


class AnchorTRLEnv:
    """One anchorgym episode for TRL's ``environment_factory``: ``reset``, the ``act`` tool and ``get_reward``.

    Args:
        env_id: registered anchorgym env id.
        url: an OpenEnv server playing ``env_id`` (``anchorgym env serve``); None plays in-process.
        split: task split (in-process; a server plays its own).
        reward: ``"return"`` (the sum of the episode's env rewards) or ``"score"`` (the final ``info["score"]``).
        **env_kwargs: further env constructor arguments (in-process).
    """

    def __init__(
        self, env_id: str, url: str | None = None, split: str = "train", reward: str = "return", **env_kwargs: Any
    ) -> None:
        if reward not in REWARDS:
            raise unknown("reward", reward, REWARDS)
        self._env_id, self._reward_kind, self._url = env_id, reward, url
        if url is None:
            from anchorgym.envs.registry import make

            self._env, self._client = make(env_id, split=split, **env_kwargs), None
        else:
            from anchorgym.integrations.openenv.client import AnchorEnvClient

            self._env, self._client = None, AnchorEnvClient(base_url=url).sync()
        self._done, self._return, self._info = False, 0.0, {}

    def reset(self, task_id: str | None = None, seed: int | None = None, **row: Any) -> str:
        """Start the episode of the dataset row (its ``task_id`` and ``seed``); return the first observation."""
        if self._client is not None:
            data = {key: value for key, value in (("seed", seed), ("task_id", task_id)) if value is not None}
            result = self._client.reset(**data)
            obs, info = result.observation.text, result.observation.info
        else:
            obs, info = self._env.reset(seed=seed, options={"task_id": str(task_id)} if task_id is not None else None)
        self._done, self._return, self._info = False, 0.0, info
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
        if self._client is not None:
            from anchorgym.integrations.openenv.client import gym_step

            obs, reward, terminated, truncated, info = gym_step(self._client.step(action))
        else:
            obs, reward, terminated, truncated, info = self._env.step(action)
        self._return += float(reward)
        self._done, self._info = bool(terminated or truncated), info
        return _describe(obs, info) + (f"\n{ENDED}" if self._done else "")

    def get_reward(self) -> float:
        """Return the rollout's reward: the episode return, or its final score (see ``reward``)."""
        return self._return if self._reward_kind == "return" else float(self._info.get("score", 0.0))

    @property
    def _steps(self) -> int:
        return int(self._info.get("step", 0))

    def __del__(self) -> None:
        if getattr(self, "_client", None) is not None:
            self._client.close()
        elif getattr(self, "_env", None) is not None:
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
