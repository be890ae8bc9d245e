"""verl dataset rows that name anchorgym episodes, and the parquet files verl's ``RLHFDataset`` reads.

One row is one episode group: verl repeats it ``actor_rollout_ref.rollout.n`` times and gives the
copies one ``uid``, and every copy resets its env with the row's task and env seed, so a group's
trajectories start from the same state (GiGPO's episode group). The agent loop reads the episode
from ``extra_info["anchorgym"]`` (a JSON string, so parquet keeps one flat schema for every env).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from anchorgym.errors import ConfigError

AGENT_NAME = "anchorgym_agent"  # the name the agent loop is registered under
EXTRA_KEY = "anchorgym"


@dataclass(frozen=True)
class EpisodeSpec:
    """The episode one verl row plays.

    Attributes:
        env_id: registered anchorgym env id.
        task_id: the task to reset on.
        env_seed: the seed of ``env.reset``; equal for every trajectory of the row's group.
        split: the env's task split.
        max_steps: step limit per episode; None: the env's own.
        history_length: past ``(observation, action)`` steps repeated in each user turn (the
            conversation already holds every earlier turn, so 0 is the usual choice).
        anchor_fn: the env's anchor function (``"state"``, ``"observation"``: verl-agent's, ...).
        env_kwargs: further env constructor arguments.
    """

    env_id: str
    task_id: str
    env_seed: int
    split: str = "train"
    max_steps: int | None = None
    history_length: int = 0
    anchor_fn: str = "state"
    env_kwargs: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        """The spec as the JSON string stored in ``extra_info["anchorgym"]``."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_extra_info(cls, extra_info: Any) -> EpisodeSpec:
        """Read the spec back from a row's ``extra_info``.

        Raises:
            ConfigError: the row was not written by :func:`episode_rows`.
        """
        raw = extra_info.get(EXTRA_KEY) if isinstance(extra_info, dict) else None
        if raw is None:
            raise ConfigError(
                f"A verl row played by the {AGENT_NAME!r} agent loop needs extra_info['{EXTRA_KEY}']; "
                "write the dataset with anchorgym.integrations.verl.rows.write_parquet."
            )
        return cls(**(json.loads(raw) if isinstance(raw, str) else dict(raw)))


def episode_rows(
    env_id: str,
    task_ids: Sequence[str],
    seed: int = 0,
    episodes_per_task: int = 1,
    **settings: Any,
) -> list[dict[str, Any]]:
    """Return one verl row per ``(task, episode)``, each with its own env seed.

    Args:
        env_id: registered anchorgym env id.
        task_ids: the tasks to play.
        seed: base seed; each row's env seed is ``derive_seed(seed, task, episode)`` (``anchorgym eval``'s).
        episodes_per_task: rows per task (different env seeds).
        **settings: further :class:`EpisodeSpec` fields (``split``, ``max_steps``, ``history_length``,
            ``anchor_fn``, ``env_kwargs``).

    >>> row = episode_rows("anchorgym/Sokoban-v0", ["3"], split="test")[0]
    >>> row["agent_name"], EpisodeSpec.from_extra_info(row["extra_info"]).task_id
    ('anchorgym_agent', '3')
    """
    from anchorgym.harness.plan import derive_seed

    rows = []
    for task in task_ids:
        for episode in range(episodes_per_task):
            spec = EpisodeSpec(env_id, str(task), derive_seed(seed, str(task), episode), **settings)
            rows.append(
                {
                    "data_source": env_id,
                    # verl's dataset needs a chat prompt; the agent loop builds the real one after env.reset
                    "prompt": [{"role": "user", "content": f"{env_id} task {task}"}],
                    "agent_name": AGENT_NAME,
                    "reward_model": {"style": "rule", "ground_truth": ""},
                    "extra_info": {"index": len(rows), EXTRA_KEY: spec.to_json()},
                }
            )
    return rows


def write_parquet(path: str | Path, rows: Sequence[dict[str, Any]]) -> Path:
    """Write ``rows`` as the parquet file ``data.train_files`` / ``data.val_files`` point to (atomically)."""
    import pandas as pd

    if not rows:
        raise ConfigError("No verl rows to write: give at least one task.")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    pd.DataFrame(list(rows)).to_parquet(partial, index=False)
    partial.replace(path)
    return path
