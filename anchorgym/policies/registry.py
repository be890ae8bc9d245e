"""Make a policy from a URI-like spec string.

Specs name a back-end and its target::

    random                                  uniform over admissible actions
    expert                                  the env's own expert (``expert_action``)
    hf:PATH_OR_ALIAS                        a local transformers causal LM (``hf:smollm2``)
    hf:RUN/iter_N                           a checkpoint of ``anchorgym train``, played in its run's format
    openai:http://host:port/v1?model=NAME   any OpenAI-compatible chat-completions server
    vllm:PATH                               an in-process vLLM engine (GPU)
    package.module:callable                 your own factory returning a Policy, called as
                                            ``callable(generation=..., **options)``; the working
                                            directory is searched last (``my_agent:make``)

Back-ends live in :data:`BACKENDS` as string entry points, so parsing a spec
imports nothing heavy; a back-end is imported only when it is used. Your own
back-ends join with :func:`register_backend`, called from a module named by
``--import`` or from an entry point in the ``anchorgym.policies`` group (see
:mod:`anchorgym.plugins`); those load when the first spec is parsed.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import sys
from typing import Any

from anchorgym import plugins
from anchorgym.errors import PolicyError, suggest
from anchorgym.policies.base import GenerationConfig, Policy

BACKENDS: dict[str, str] = {
    "random": "anchorgym.policies.scripted:RandomPolicy",
    "expert": "anchorgym.policies.scripted:ExpertPolicy",
    "hf": "anchorgym.policies.hf:HFPolicy",
    "openai": "anchorgym.policies.openai:OpenAIPolicy",
    "vllm": "anchorgym.policies.vllm:VLLMPolicy",
}
"""Back-end name -> ``"module:Class"``; each class is built as ``Class(target, generation, **options)``."""

BUILTIN_BACKENDS = frozenset(BACKENDS)
TARGETLESS: set[str] = {"random", "expert"}
SPEC_FORMS = (
    "random",
    "expert",
    "hf:PATH_OR_ALIAS (e.g. hf:./my-model or hf:smollm2)",
    "openai:http://HOST:PORT/v1?model=NAME",
    "vllm:PATH",
    "package.module:callable",
)
_MODULE_PATH = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")


def register_backend(name: str, entry_point: str, needs_target: bool = True) -> None:
    """Register a policy back-end ``name`` whose class is at ``entry_point`` (``"module:Class"``).

    Args:
        name: the spec's scheme: ``name:TARGET``, or just ``name`` when ``needs_target`` is False.
        entry_point: ``"module:Class"``; the class is built as ``Class(target, generation, **options)``,
            or ``Class(generation, **options)`` without a target.
        needs_target: whether specs name a target after the colon.
    """
    BACKENDS[name] = entry_point
    TARGETLESS.discard(name)
    if not needs_target:
        TARGETLESS.add(name)


def parse_spec(spec: str) -> tuple[str, str]:
    """Split a spec into ``(backend, target)``; user factories give ``("module", "pkg.mod:fn")``.

    Raises:
        PolicyError: the spec matches none of the accepted forms.

    >>> parse_spec("openai:http://127.0.0.1:8000/v1?model=m")
    ('openai', 'http://127.0.0.1:8000/v1?model=m')
    >>> parse_spec("mypkg.agents:make")
    ('module', 'mypkg.agents:make')
    """
    plugins.load(plugins.POLICY_GROUP)
    spec = spec.strip()
    if spec in TARGETLESS:
        return spec, ""
    scheme, sep, target = spec.partition(":")
    if sep and scheme in BACKENDS and scheme not in TARGETLESS and target:
        return scheme, target
    if sep and scheme not in BACKENDS and _MODULE_PATH.match(scheme) and _MODULE_PATH.match(target):
        return "module", spec
    raise malformed(spec)


def malformed(spec: str) -> PolicyError:
    """Build the error for a spec that matches no accepted form."""
    head = spec.partition(":")[0]
    added = [name if name in TARGETLESS else f"{name}:TARGET" for name in sorted(set(BACKENDS) - BUILTIN_BACKENDS)]
    forms = "; ".join([*SPEC_FORMS, *added])
    note = plugins.failure_note(plugins.POLICY_GROUP)
    message = f"Malformed policy spec {spec!r}.{suggest(head, BACKENDS)} Accepted forms: {forms}."
    return PolicyError(f"{message} {note}".strip())


def make_policy(spec: str, generation: GenerationConfig | None = None, **options: Any) -> Policy:
    """Build the policy named by ``spec``.

    Args:
        spec: see the module docs for the accepted forms.
        generation: sampling settings (model policies; ``random`` uses its seed).
        **options: back-end specific keyword arguments (e.g. ``history_length``, ``device``).

    Returns:
        The policy, with ``spec`` and ``generation`` recorded on it.

    Raises:
        PolicyError: the spec is malformed or the user factory does not return a Policy.
    """
    generation = generation or GenerationConfig()
    backend, target = parse_spec(spec)
    checkpoint = _trained_checkpoint(target) if backend == "hf" else None
    if checkpoint is not None:  # an `anchorgym train` checkpoint: evaluated in the format it learnt
        from anchorgym.policies.trained import TrainedPolicy

        policy = TrainedPolicy(checkpoint, generation, **options)
    elif backend == "module":
        policy = _from_factory(target, generation, options)
    else:
        cls = _load(BACKENDS[backend], spec)
        policy = cls(target, generation, **options) if backend not in TARGETLESS else cls(generation, **options)
    policy.spec, policy.generation = spec, generation
    return policy


def _trained_checkpoint(target: str) -> Any:
    from anchorgym.policies.trained import trained_checkpoint

    return trained_checkpoint(target)


def _from_factory(target: str, generation: GenerationConfig, options: dict[str, Any]) -> Policy:
    if os.getcwd() not in sys.path and "" not in sys.path:
        # the `anchorgym` script does not put the working directory on the path; a user's my_agent.py lives there
        sys.path.append(os.getcwd())
    factory = _load(target, target)
    try:
        inspect.signature(factory).bind(generation=generation, **options)
    except TypeError as error:
        given = ", ".join(["generation=...", *(f"{key}=..." for key in options)])
        raise PolicyError(
            f"Policy factory {target!r} cannot be called as {target.partition(':')[2]}({given}): {error}. "
            "Give it a `generation` keyword argument (a GenerationConfig) and one per policy option."
        ) from error
    except ValueError:  # no introspectable signature (e.g. a C extension); just call it
        pass
    policy = factory(generation=generation, **options)
    if not isinstance(policy, Policy):
        raise PolicyError(
            f"Policy factory {target!r} returned {type(policy).__name__}, not an anchorgym Policy. "
            "Make it return an instance of anchorgym.policies.base.Policy."
        )
    return policy


def _load(entry_point: str, spec: str) -> Any:
    module_name, _, attr = entry_point.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        raise PolicyError(f"Cannot import module {module_name!r} for policy spec {spec!r}: {error}.") from error
    if not hasattr(module, attr):
        names = [n for n in dir(module) if not n.startswith("_")]
        raise PolicyError(f"Module {module_name!r} has no attribute {attr!r}.{suggest(attr, names)}")
    return getattr(module, attr)
