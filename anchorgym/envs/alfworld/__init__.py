"""ALFWorld: the real text benchmark on alfworld's and TextWorld's engine (``anchorgym/ALFWorld-v0``).

Splits as published: ``train`` (3,553 games), ``valid_seen`` (140, a.k.a.
eval in-distribution) and ``valid_unseen`` (134, eval out-of-distribution);
50 steps. Install the games with ``anchorgym data alfworld --from PATH``.
"""

from __future__ import annotations

from anchorgym.envs.registry import EnvInfo, register

ENV_ID = "anchorgym/ALFWorld-v0"

register(
    EnvInfo(
        id=ENV_ID,
        entry_point="anchorgym.envs.alfworld.env:AlfWorldEnv",
        splits=("train", "valid_seen", "valid_unseen"),
        max_steps=50,
        extra="alfworld",
        requires=("alfworld", "textworld", "fast_downward"),
        description="ALFWorld text games (json_2.1.1) on the real engine; handcoded and planner experts.",
        data="alfworld",
        data_installer="anchorgym.envs.alfworld.data:install",
        data_check="anchorgym.envs.alfworld.data:games_root",
    )
)


def _register_prompt() -> None:
    from anchorgym.envs.alfworld.prompts import ALFWORLD_TEMPLATE
    from anchorgym.policies.prompting import register_template

    register_template(ENV_ID, ALFWORLD_TEMPLATE)


_register_prompt()
