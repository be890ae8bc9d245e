"""Bridges from anchorgym environments to other tools.

* :mod:`anchorgym.integrations.openenv`: serve any registered env in Meta's OpenEnv
  protocol (``anchorgym env serve ENV_ID``) and talk to such servers.
* :mod:`anchorgym.integrations.trl`: train with TRL's ``GRPOTrainer`` on an anchorgym env.
* :mod:`anchorgym.integrations.verifiers`: an anchorgym env as a verifiers environment.
* :mod:`anchorgym.integrations.verl`: train with verl 0.9 on many GPUs: an agent loop that plays
  anchorgym episodes, and GiGPO/HGPO advantages inside verl's trainer.

Each needs its own extra (``pip install 'anchorgym[openenv]'``, ``[trl]``, ``[verifiers]``), or for
verl ``pip install 'verl==0.9.1'``; nothing here is imported by ``import anchorgym``.
"""
