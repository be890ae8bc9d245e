"""Anchor states: canonical, hashable identities of environment states.

GiGPO groups steps from different trajectories that act from the same state
(the *anchor state*). Each env returns ``info["anchor"]``, a digest that is the
same across processes, runs and machines (never Python's ``hash()``, which is
salted per process).

An *anchor function* maps an env to ``bytes`` or ``str``; its digest is the
anchor. Built-ins:

* ``"state"`` (default): the env's own :meth:`AnchorEnv.anchor_state`, its true
  symbolic state.
* ``"observation"``: the exact observation text (verl-agent's behaviour).
* ``"normalized_observation"``: the observation with case and whitespace folded
  and step counters stripped.

Users pass their own with ``anchorgym.make(env_id, anchor_fn=f)``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Union

from anchorgym.errors import ConfigError, unknown

if TYPE_CHECKING:
    from anchorgym.envs.core import AnchorEnv

AnchorFn = Callable[["AnchorEnv"], Union[bytes, str]]
DIGEST_BYTES = 16  # 128-bit blake2b: collisions are negligible at any batch size


def _jsonable(value: Any) -> Any:
    """Convert sets, tuples and nested containers to a canonical JSON-able form."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        items = [_jsonable(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return value.item()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise ConfigError(
        f"anchor_state() returned a {type(value).__name__}, which has no canonical form. "
        "Return only dicts, lists, tuples, sets, str, int, float, bool or None."
    )


def canonical_bytes(state: Any) -> bytes:
    """Encode a state as canonical JSON bytes (sorted keys, sets sorted, no spaces).

    >>> canonical_bytes({"b": (1, 2), "a": {3, 1}})
    b'{"a":[1,3],"b":[1,2]}'
    """
    if isinstance(state, bytes):
        return state
    if isinstance(state, str):
        return state.encode("utf-8")
    text = json.dumps(_jsonable(state), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def digest(data: bytes | str) -> str:
    """Return the stable hex digest used as ``info["anchor"]``.

    >>> digest("hello")
    '46fb7408d4f285228f4af516ea25851b'
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return hashlib.blake2b(raw, digest_size=DIGEST_BYTES).hexdigest()


def state_anchor(env: AnchorEnv) -> bytes:
    """Anchor on the env's true symbolic state (the default)."""
    return canonical_bytes(env.anchor_state())


def observation_anchor(env: AnchorEnv) -> str:
    """Anchor on the exact observation text, as verl-agent does."""
    return env.last_observation


_STEP_COUNTER = re.compile(r"\b(step|turn|round|move)s?\s*(\d+\s*(/|of)\s*)?\d+\b", re.IGNORECASE)


def normalize_text(text: str) -> str:
    r"""Fold case and whitespace and strip step counters such as 'Step 3/50'.

    >>> normalize_text("  You are at Step 3/50.\n  Nothing   happens. ")
    'you are at . nothing happens.'
    """
    return " ".join(_STEP_COUNTER.sub("", text).lower().split())


def normalized_observation_anchor(env: AnchorEnv) -> str:
    """Anchor on the normalised observation text."""
    return normalize_text(env.last_observation)


ANCHOR_FNS: dict[str, AnchorFn] = {
    "state": state_anchor,
    "observation": observation_anchor,
    "normalized_observation": normalized_observation_anchor,
}


def resolve_anchor_fn(anchor_fn: str | AnchorFn | None) -> AnchorFn:
    """Return the anchor function named by ``anchor_fn`` (a built-in name or a callable)."""
    if anchor_fn is None:
        return state_anchor
    if callable(anchor_fn):
        return anchor_fn
    if anchor_fn in ANCHOR_FNS:
        return ANCHOR_FNS[anchor_fn]
    raise unknown("anchor function", str(anchor_fn), ANCHOR_FNS, "Or pass a callable f(env) -> bytes|str.")
