"""Evaluate or train on anchorgym envs with verifiers (prime-rl, ``vf-eval``): both of verifiers' APIs.

The installed verifiers picks the implementation:

* verifiers 0.4 (``verifiers.v1``, ``pip install 'anchorgym[verifiers-v1]'``): :mod:`._v1`, a taskset
  plugin. ``vf-eval anchorgym.integrations.verifiers --env.taskset.benchmark ID`` runs it, and
  :func:`load_environment` returns its ``vf.Env``.
* verifiers 0.3 (``vf.MultiTurnEnv``, ``pip install 'anchorgym[verifiers]'``): :mod:`._v03`.

Both play the same episodes as ``anchorgym eval``: the same rows and env seeds, a fresh prompt from the
env's versioned template every turn, the harness's answer parsing and the episode's success or score as
the reward.
"""

from __future__ import annotations

from anchorgym.errors import missing_extra

try:
    import verifiers
except ImportError as error:  # pragma: no cover - depends on the installed extras
    raise missing_extra("verifiers", "verifiers") from error

if hasattr(verifiers, "MultiTurnEnv"):  # verifiers 0.3: the classic API
    from anchorgym.integrations.verifiers._v03 import *  # noqa: F403
    from anchorgym.integrations.verifiers._v03 import __all__
else:  # verifiers 0.4: only verifiers.v1
    from anchorgym.integrations.verifiers._v1 import *  # noqa: F403
    from anchorgym.integrations.verifiers._v1 import __all__

__all__ = list(__all__)
