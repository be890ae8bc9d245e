"""Train on anchorgym envs with verl (Ray, multi-GPU and multi-node, FSDP/Megatron, vLLM/SGLang rollouts).

* :mod:`~anchorgym.integrations.verl.rows`: verl dataset rows naming anchorgym episodes (one row is one
  episode group; verl's ``rollout.n`` copies share its task, env seed and ``uid``).
* :mod:`~anchorgym.integrations.verl.agent_loop`: :class:`AnchorAgentLoop`, verl's agent loop
  ``anchorgym_agent``, which plays one episode per trajectory and records each turn's token span,
  pre-step anchor, reward and validity.
* :mod:`~anchorgym.integrations.verl.advantage`: the hook that computes anchorgym's advantages
  (GiGPO, HGPO, ...) inside verl's trainer and spreads each step's over its turn's tokens.
* :mod:`~anchorgym.integrations.verl.main`: the launcher, ``python -m anchorgym.integrations.verl.main``
  with verl's Hydra overrides.

Needs verl 0.9.x (``pip install 'anchorgym[verl]'``, then ``pip install --no-deps 'verl==0.9.1'``: verl pins
``transformers<5.11``); see ``docs/integrations/verl.md``. Importing this
package alone imports nothing from verl.
"""

from __future__ import annotations

from pathlib import Path

from anchorgym.errors import DependencyError

VERL_REQUIREMENT = "verl==0.9.1"  # with --no-deps: its transformers<5.11 pin conflicts with our other extras
AGENT_LOOP_CONFIG = Path(__file__).with_name("agent_loop.yaml")
"""The file for verl's ``actor_rollout_ref.rollout.agent.agent_loop_config_path``: registers ``anchorgym_agent``."""


def missing_verl() -> DependencyError:
    """The error for a missing verl: how to install it."""
    return DependencyError(
        "verl is not installed. Install it with: "
        f"pip install 'anchorgym[verl]' && pip install --no-deps '{VERL_REQUIREMENT}'"
    )
