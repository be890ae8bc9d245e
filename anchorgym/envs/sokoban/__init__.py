"""Sokoban: rooms generated from seeds by reverse play, an optimal solver and expert.

Two ids (fidelity table and puzzle counts: ``README.md`` beside this file):

* ``anchorgym/Sokoban-v1``: the published generator (gym-sokoban's, as GiGPO and
  RAGEN run it) and clean splits: no canonical board, up to rotation and
  reflection, is in both ``train`` and ``test``; anchors include the room's layout.
  The ``@v2`` benchmarks use it.
* ``anchorgym/Sokoban-v0``: anchorgym's own generator and seed-range splits,
  kept (anchors included) so that the ``@v1`` benchmarks replay exactly.
* ``anchorgym/Sokoban-verl-agent-v0``: ``Sokoban-v1`` played under verl-agent's protocol (its prompt
  and its projection of model text); the ``sokoban-6x6-1box-verl-agent`` benchmarks.

Both default to 6x6 rooms, one box and 15 steps. Task ids are seeds (see :mod:`.data`).
"""

from __future__ import annotations

from anchorgym.envs.registry import EnvInfo, register

ENV_ID = "anchorgym/Sokoban-v0"
CLEAN_ENV_ID = "anchorgym/Sokoban-v1"
VERL_AGENT_ENV_ID = "anchorgym/Sokoban-verl-agent-v0"

register(
    EnvInfo(
        id=ENV_ID,
        entry_point="anchorgym.envs.sokoban.env:SokobanEnv",
        splits=("train", "test"),
        max_steps=15,
        description="Sokoban 6x6, 1 box, anchorgym's reverse-play generator, seed-range splits (@v1 benchmarks).",
    )
)
register(
    EnvInfo(
        id=CLEAN_ENV_ID,
        entry_point="anchorgym.envs.sokoban.env:SokobanEnv",
        splits=("train", "test"),
        max_steps=15,
        description="Sokoban 6x6, 1 box, gym-sokoban's generator (GiGPO/RAGEN), train/test share no board.",
        kwargs={"generator": "gym-sokoban", "clean_split": True, "layout_anchor": True},
    )
)

register(
    EnvInfo(
        id=VERL_AGENT_ENV_ID,
        entry_point="anchorgym.envs.sokoban.env:SokobanEnv",
        splits=("train", "test"),
        max_steps=15,
        description="Sokoban-v1 under verl-agent's prompt and projection (GiGPO's evaluation).",
        kwargs={"generator": "gym-sokoban", "clean_split": True, "layout_anchor": True},
    )
)


def _register_prompt() -> None:
    from anchorgym.envs.sokoban.prompts import SOKOBAN_TEMPLATE, SOKOBAN_VERL_AGENT_TEMPLATE
    from anchorgym.policies.prompting import register_template

    register_template(ENV_ID, SOKOBAN_TEMPLATE)
    register_template(CLEAN_ENV_ID, SOKOBAN_TEMPLATE)
    register_template(VERL_AGENT_ENV_ID, SOKOBAN_VERL_AGENT_TEMPLATE)


_register_prompt()
