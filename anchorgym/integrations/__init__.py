"""Bridges from anchorgym environments to other tools.

* :mod:`anchorgym.integrations.openenv`: serve any registered env in Meta's OpenEnv
  protocol (``anchorgym env serve ENV_ID``) and talk to such servers.
* :mod:`anchorgym.integrations.trl`: train with TRL's ``GRPOTrainer`` on an anchorgym env.
* :mod:`anchorgym.integrations.verifiers`: an anchorgym env as a verifiers environment.

Each needs its own extra (``pip install 'anchorgym[openenv]'``, ``[trl]``, ``[verifiers]``);
nothing here is imported by ``import anchorgym``.
"""
