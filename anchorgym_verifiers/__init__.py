"""verifiers 0.4's plugin id for anchorgym: ``vf-eval anchorgym-verifiers --env.taskset.benchmark ID``.

verifiers' loader imports a taskset id as a top-level module and takes its exported ``Taskset``,
``Env`` and ``Harness`` subclasses; they live in :mod:`anchorgym.integrations.verifiers._v1`.
"""

from anchorgym.integrations.verifiers._v1 import AnchorHarness, AnchorTaskset, AnchorVerifiersEnv, load_environment

__all__ = ["AnchorHarness", "AnchorTaskset", "AnchorVerifiersEnv", "load_environment"]
