"""What both verifiers integrations share: the episodes to play, each turn's fresh prompt, and answer parsing.

Nothing here imports verifiers, so the classic (0.3, ``vf.MultiTurnEnv``) and the ``verifiers.v1`` (0.4)
integrations build the same rows, prompts and actions as ``anchorgym eval``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from anchorgym.errors import ConfigError, unknown

REWARDS = ("won", "score")


def check_settings(history_length: int, max_steps: int | None, reward: str) -> None:
    """Raise on a reward, history length or step limit the environments cannot use."""
    if reward not in REWARDS:
        raise unknown("reward", reward, REWARDS)
    if history_length < 0 or (max_steps is not None and max_steps < 1):
        raise ConfigError(f"history_length must be >= 0 and max_steps >= 1, got {history_length} and {max_steps}.")


def episode_rows(tasks: Sequence[str], seeds: Sequence[int], episodes_per_task: int = 1) -> list[dict[str, Any]]:
    """Return one row per ``(seed, task, episode)``, in ``anchorgym eval``'s order, with the harness's env seeds.

    >>> from anchorgym.harness.plan import derive_seed
    >>> [row["env_seed"] for row in episode_rows(["1000000000"], [0])] == [derive_seed(0, "1000000000", 0)]
    True
    """
    from anchorgym.harness.plan import derive_seed

    return [
        {"task_id": str(task), "env_seed": derive_seed(seed, task, episode), "seed": int(seed), "episode": episode}
        for seed in seeds
        for task in tasks
        for episode in range(episodes_per_task)
    ]


def resolve_episodes(env_id: str | None, benchmark: str | None, **kwargs: Any) -> tuple[str, list[dict], dict]:
    """Resolve ``load_environment``'s arguments into ``(env_id, rows, settings)``.

    ``settings`` holds the keyword arguments of the integration's environment class (``split``,
    ``max_steps``, ``history_length``, ``env_kwargs``, ``reward``, ``repair``, ``url``...).

    Raises:
        ConfigError: neither ``env_id`` nor ``benchmark`` is given, or they disagree.
    """
    if benchmark is not None:
        return _from_benchmark(env_id, benchmark, **kwargs)
    if env_id is None:
        raise ConfigError("load_environment needs an env id or a benchmark, e.g. benchmark='sokoban-6x6-1box/test@v2'.")
    return _from_env(env_id, **kwargs)


def _from_benchmark(env_id: str | None, benchmark: str, seeds: Sequence[int] | None = None, **kwargs: Any) -> Any:
    from anchorgym.harness.runner import template_info
    from anchorgym.harness.specs import load_benchmark

    spec = load_benchmark(benchmark)
    if env_id is not None and env_id != spec.env_id:
        raise ConfigError(f"Benchmark {spec.id} plays {spec.env_id}, not {env_id}. Leave env_id out or fix it.")
    template_info(spec)  # the installed prompt template must be the one the spec pins
    tasks = spec.resolve_tasks(task_ids(spec.env_id, spec.split, spec.env_kwargs))
    rows = episode_rows(tasks, spec.seeds if seeds is None else seeds, spec.episodes_per_task)
    settings = {"split": spec.split, "max_steps": spec.max_steps, "history_length": spec.history_length}
    return spec.env_id, rows, {"env_kwargs": spec.env_kwargs, **settings, **kwargs}


def _from_env(
    env_id: str,
    split: str = "test",
    num_tasks: int | None = 16,
    task_ids: Sequence[str] | None = None,
    seeds: Sequence[int] = (0,),
    episodes_per_task: int = 1,
    max_steps: int | None = None,
    history_length: int = 2,
    reward: str = "won",
    repair: bool = False,
    url: str | None = None,
    remote_options: dict[str, Any] | None = None,
    **env_kwargs: Any,
) -> Any:
    if task_ids is None:
        task_ids = list(_split_task_ids(env_id, split, env_kwargs)[:num_tasks])
    rows = episode_rows([str(t) for t in task_ids], seeds, episodes_per_task)
    settings = {"max_steps": max_steps, "history_length": history_length, "reward": reward, "repair": repair}
    remote = {"url": url, "remote_options": remote_options}
    return env_id, rows, {"split": split, "env_kwargs": env_kwargs, **settings, **remote}


def task_ids(env_id: str, split: str, env_kwargs: dict[str, Any]) -> Sequence[str]:
    """Return the task ids of ``split`` (read from one env)."""
    from anchorgym.envs.registry import make

    env = make(env_id, split=split, **env_kwargs)
    try:
        return env.task_ids()
    finally:
        env.close()


_split_task_ids = task_ids  # _from_env's ``task_ids`` argument shadows the function's name


def make_env(
    env_id: str, split: str, max_steps: int | None, env_kwargs: dict[str, Any], url: str | None, remote: dict
) -> Any:
    """Make one anchorgym env (in-process, or a RemoteEnv on the OpenEnv server at ``url``)."""
    from anchorgym.envs.registry import make

    if url is None:
        limit = {} if max_steps is None else {"max_steps": max_steps}
        return make(env_id, split=split, **limit, **env_kwargs)
    from anchorgym.integrations.openenv.remote import RemoteEnv

    return RemoteEnv(url, **remote)


def check_server(env: Any, url: str, env_id: str, split: str, max_steps: int | None, state: dict[str, Any]) -> None:
    """Raise (closing ``env``) unless the OpenEnv server's ``state`` plays ``env_id``, ``split`` and ``max_steps``."""
    wanted = (env_id, split, max_steps or state.get("max_steps"))
    served = (state.get("env_id"), state.get("split"), state.get("max_steps"))
    if served != wanted:
        env.close()
        raise ConfigError(
            f"The OpenEnv server at {url} plays {served[0]} (split {served[1]}, max_steps {served[2]}); "
            f"these rollouts need {wanted[0]} (split {wanted[1]}, max_steps {wanted[2]}). Serve it with: "
            f"anchorgym env serve {wanted[0]} --split {wanted[1]} --max-steps {wanted[2]}"
        )


def agent_input(env_id: str, anchor: dict[str, Any], task_id: str, history_length: int) -> Any:
    """Return the :class:`~anchorgym.policies.base.AgentInput` of an episode's current step.

    ``anchor`` holds the episode's ``observation``, merged ``info`` and ``history`` of ``(observation, action)``.
    """
    from anchorgym.policies.base import AgentInput

    info = anchor["info"]
    history = anchor["history"][-history_length:] if history_length > 0 else []
    actions = info.get("admissible_actions")
    return AgentInput(
        env_id=env_id,
        instruction=str(info.get("instruction", "")),
        observation=anchor["observation"],
        admissible_actions=None if actions is None else [str(a) for a in actions],
        history=list(history),
        step=int(info.get("step", len(anchor["history"]))),
        task_type=str(info.get("task_type", "")),
        full_history=list(anchor["history"]),
        task_id=task_id,
    )


def prompt_messages(template: Any, env_id: str, agent_input: Any, history_length: int) -> list[dict[str, str]]:
    """Build the current step's fresh prompt: the template's messages (system and user; a protocol's user alone)."""
    messages = template.messages(agent_input, history_length=history_length)
    if messages[-1]["role"] == "assistant":  # a one-turn protocol: the model writes on in its own message
        raise ConfigError(
            f"The verifiers environment cannot play {env_id}: its protocol continues one assistant "
            "message (Search-R1's), which verifiers' multi-turn rollouts cannot. Evaluate it with anchorgym eval."
        )
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def parse_answer(template: Any, text: str, agent_input: Any, repair: bool) -> str:
    """Return the env action for the model's answer ``text``, read as every model policy reads it."""
    from anchorgym.policies.protocols import action_from_text

    return action_from_text(template, text, agent_input, repair).action


def success(info: dict[str, Any]) -> float:
    """1.0 when the episode was won (``info["won"]``), else 0.0."""
    return float(bool(info.get("won", False)))


def score(info: dict[str, Any]) -> float:
    """The episode's final ``info["score"]`` (its success when the env reports no score)."""
    return float(info.get("score", success(info)))
