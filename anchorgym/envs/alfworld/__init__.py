"""ALFWorld: the real text benchmark on alfworld's and TextWorld's engine (``anchorgym/ALFWorld-v0``).

Splits as published: ``train`` (3,553 games), ``valid_seen`` (140, a.k.a.
eval in-distribution) and ``valid_unseen`` (134, eval out-of-distribution);
50 steps. Install the games with ``anchorgym data alfworld --from PATH``.
``anchorgym/ALFWorld-verl-agent-v0`` is the same env under verl-agent's prompt and projection, its
invalid commands answered as alfworld's engine answers them (the ``alfworld-verl-agent`` benchmarks).
"""

from __future__ import annotations

from anchorgym.envs.registry import EnvInfo, register

ENV_ID = "anchorgym/ALFWorld-v0"
VERL_AGENT_ENV_ID = "anchorgym/ALFWorld-verl-agent-v0"


def _register(env_id: str, description: str, entry_point: str = "anchorgym.envs.alfworld.env:AlfWorldEnv") -> None:
    register(
        EnvInfo(
            id=env_id,
            entry_point=entry_point,
            splits=("train", "valid_seen", "valid_unseen"),
            max_steps=50,
            extra="alfworld",
            requires=("alfworld", "textworld", "fast_downward"),
            description=description,
            data="alfworld",
            data_installer="anchorgym.envs.alfworld.data:install",
            data_check="anchorgym.envs.alfworld.data:games_root",
        )
    )


_register(ENV_ID, "ALFWorld text games (json_2.1.1) on the real engine; handcoded and planner experts.")
_register(
    VERL_AGENT_ENV_ID,
    "ALFWorld-v0 under verl-agent's prompt and projection (GiGPO's evaluation); invalid commands: Nothing happens.",
    "anchorgym.envs.alfworld.verl_agent:VerlAgentAlfWorldEnv",
)


def _register_prompt() -> None:
    from anchorgym.envs.alfworld.prompts import ALFWORLD_TEMPLATE, ALFWORLD_VERL_AGENT_TEMPLATE
    from anchorgym.policies.prompting import register_template

    register_template(ENV_ID, ALFWORLD_TEMPLATE)
    register_template(VERL_AGENT_ENV_ID, ALFWORLD_VERL_AGENT_TEMPLATE)


_register_prompt()
