"""ALFWorld as verl-agent plays it (``anchorgym/ALFWorld-verl-agent-v0``).

verl-agent sends every projected action to alfworld's engine, admissible or not (a turn without an
action block sends its last 30 characters). The engine answers a command it cannot run with
``Nothing happens.`` and the turn counts as a step; ``ALFWorld-v0`` shows the previous observation
again instead. Everything else is ``ALFWorld-v0``.
"""

from __future__ import annotations

from anchorgym.envs.alfworld.env import AlfWorldEnv

NOTHING_HAPPENS = "Nothing happens."
"""alfworld's answer to a command that is not admissible (checked on its engine, any such command)."""


class VerlAgentAlfWorldEnv(AlfWorldEnv):
    """:class:`AlfWorldEnv` whose invalid actions observe the engine's ``Nothing happens.``."""

    invalid_action_observation = NOTHING_HAPPENS
