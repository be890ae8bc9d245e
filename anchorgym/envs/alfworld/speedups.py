"""Process-wide speed-ups of TextWorld's PDDL engine that leave every output byte unchanged.

Profiling ALFWorld's engine (textworld 1.7) shows most of a step spent in TatSu
re-parsing the same short grammar strings: every admissible command template and
every feedback rule is parsed again on every step, every rule condition is
re-parsed as a conjunctive query, and each derivation deep-copies its context
(entity infos and all) once per symbol. A reset re-translates the PDDL problem with Fast Downward twice.
These are pure functions of their string arguments, so we memoise them:

* ``textgen._parse_and_convert`` (grammar right-hand sides): cached, and a deep
  copy handed out each time because derivation mutates the symbols' contexts;
* ``ContextSensitiveGrammar.derive``: a text made only of literals and
  ``{expression}`` symbols (every command template, most feedback) depends on
  the action's variables alone, so it is compiled once into a plan and
  evaluated directly; anything with ``#rules#``, conditions or lists takes
  TextWorld's own path;
* ``textgen.copy_context``: shallow copies of the two dicts derivation extends
  instead of deep copies (see :func:`_copy_context`);
* ``Rule.parse_conjunctive_query`` (grammar conditions and queries): cached; the
  returned rule is only read;
* ``fast_downward.pddl2sas`` (the translator, run twice by every ``PddlState``
  and most of a game's load time): cached per (domain, problem, options) in
  memory and, compressed, on disk (:func:`sas_cache_dir`), so a game is
  translated once per machine; its task object is only read.

:func:`enable` installs them and :func:`disable` restores the originals (the
caches survive), so stock and fast engines can run and be compared in one process.
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import os
import pickle
import tempfile
import zlib
from collections import OrderedDict
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from anchorgym.cache import cache_root

# Cache bounds keep a long-lived worker's memory flat: texts and queries recur across games
# (a few thousand distinct ones over all of ALFWorld), translated problems are per game.
TEXT_CACHE_SIZE = 20_000
SAS_CACHE_SIZE = 64  # translated problems kept per process (a few hundred KB each)
SAS_CACHE_ENV = "ANCHORGYM_SAS_CACHE"  # folder of the on-disk translation cache, or "off"

# (module, attribute path) of each function we replace.
TARGETS = {
    "symbols": ("textworld.envs.pddl.textgen", "_parse_and_convert"),
    "derive": ("textworld.envs.pddl.textgen", "ContextSensitiveGrammar.derive"),
    "copy_context": ("textworld.envs.pddl.textgen", "copy_context"),
    "query": ("textworld.logic", "Rule.parse_conjunctive_query"),
    "pddl2sas": ("fast_downward", "pddl2sas"),
}

_originals: dict[str, Any] = {}
_memoised: dict[str, Any] = {}  # built once, so caches survive disable()/enable()
_enabled = False


def is_enabled() -> bool:
    """Return whether the speed-ups are installed in this process."""
    return _enabled


def _owner(name: str) -> tuple[Any, str]:
    module, path = TARGETS[name]
    owner: Any = importlib.import_module(module)
    *parents, attribute = path.split(".")
    for parent in parents:
        owner = getattr(owner, parent)
    return owner, attribute


def _prepare() -> None:
    if _originals:
        return
    for name in TARGETS:
        owner, attribute = _owner(name)
        _originals[name] = owner.__dict__[attribute] if isinstance(owner, type) else getattr(owner, attribute)
    _memoised.update(
        symbols=_memo_symbols(_originals["symbols"]),
        derive=_plan_derive(_originals["derive"]),
        copy_context=_copy_context,
        query=classmethod(lru_cache(maxsize=TEXT_CACHE_SIZE)(_originals["query"].__func__)),
        pddl2sas=_memo_pddl2sas(_originals["pddl2sas"], sas_cache_dir()),
    )


def _install(functions: dict[str, Any]) -> None:
    for name, function in functions.items():
        owner, attribute = _owner(name)
        setattr(owner, attribute, function)


def enable() -> None:
    """Install the memoised parsers and translator (cheap when already installed)."""
    global _enabled
    if not _enabled:
        _prepare()
        _install(_memoised)
        _enabled = True


def disable() -> None:
    """Restore TextWorld's own functions (cheap when already restored)."""
    global _enabled
    if _enabled:
        _install(_originals)
        _enabled = False


class _Lru:
    """A bounded least-recently-used cache."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[Any, Any] = OrderedDict()

    def get(self, key: Any, compute: Callable[[], Any]) -> Any:
        """Return the cached value of ``key``, computing and storing it on a miss."""
        if key in self.items:
            self.items.move_to_end(key)
            return self.items[key]
        value = self.items[key] = compute()
        if len(self.items) > self.size:
            self.items.popitem(last=False)
        return value


def _memo_symbols(parse: Callable[..., Any]) -> Callable[..., Any]:
    """Memoise the grammar parser; callers get a private deep copy (derivation mutates symbols)."""
    cache = _Lru(TEXT_CACHE_SIZE)

    def parse_cached(text: str, rule_name: str = "symbols", **kwargs: Any) -> Any:
        key = (text, rule_name, tuple(sorted(kwargs.items())))
        return copy.deepcopy(cache.get(key, lambda: parse(text, rule_name=rule_name, **kwargs)))

    return parse_cached


def _plan(start: str) -> tuple[tuple[bool, Any], ...] | None:
    """Compile ``start`` into ``(is_expression, literal_or_code)`` parts, or None if it needs the full path."""
    from textworld.envs.pddl import textgen

    parts = []
    for symbol in textgen._parse_and_convert(start, rule_name="symbols"):
        if isinstance(symbol, textgen.TerminalSymbol):
            parts.append((False, str(symbol.symbol)))
        elif (
            isinstance(symbol, textgen.ConditionalSymbol)
            and not symbol.given
            and type(symbol.expression) is textgen.EvalSymbol
        ):
            parts.append((True, compile(symbol.expression.expression, "<string>", "eval")))
        else:
            return None
    return tuple(parts)


def _plan_derive(derive: Callable[..., str]) -> Callable[..., str]:
    """Derive literal/expression-only texts from a cached plan; everything else as TextWorld does."""
    plans = _Lru(TEXT_CACHE_SIZE)

    def derive_planned(self: Any, start: str, context: dict = {}) -> str:  # noqa: B006 - TextWorld's signature
        plan = plans.get(start, lambda: _plan(start))
        if plan is None or not context:
            return derive(self, start, context)
        from textworld.envs.pddl import textgen

        names = {**context["variables"], "context": context}  # the names TextWorld's eval sees
        return "".join(str(eval(part, textgen.__dict__, names)) if is_code else part for is_code, part in plan)

    return derive_planned


def _copy_context(context: dict[str, Any]) -> dict[str, Any]:
    """TextWorld's ``copy_context`` without deep copies.

    Derivation only ever adds keys to a context's ``variables`` and ``mapping``
    dicts (``query`` updates them); it never mutates the entity infos and logic
    variables they hold, so fresh top-level dicts isolate contexts exactly as the
    deep copy did, at a fraction of the cost (deep copies were most of a step).
    """
    return {
        "state": context["state"],
        "facts": context["facts"],
        "variables": dict(context["variables"]),
        "mapping": dict(context["mapping"]),
        "entity_infos": context["entity_infos"],
    }


def sas_cache_dir() -> Path | None:
    """Folder of the on-disk translation cache (``$ANCHORGYM_SAS_CACHE``; ``off`` disables it)."""
    setting = os.environ.get(SAS_CACHE_ENV)
    if setting == "off":
        return None
    if setting:
        return Path(setting)
    return cache_root() / "alfworld-sas"


def _memo_pddl2sas(translate: Callable[..., Any], disk: Path | None = None) -> Callable[..., Any]:
    """Memoise Fast Downward's PDDL-to-SAS translation in memory (recent problems) and on disk (all)."""
    cache = _Lru(SAS_CACHE_SIZE)

    def translate_cached(domain: str, problem: str, **kwargs: Any) -> Any:
        key = (domain, problem, tuple(sorted(kwargs.items())))
        return cache.get(key, lambda: _translate_on_disk(translate, disk, domain, problem, kwargs))

    return translate_cached


def _translate_on_disk(
    translate: Callable[..., Any], disk: Path | None, domain: str, problem: str, kwargs: dict[str, Any]
) -> Any:
    """Read a translation from the disk cache, or translate and store it (atomically)."""
    if disk is None:
        return translate(domain, problem, **kwargs)
    name = hashlib.blake2b(repr((domain, problem, sorted(kwargs.items()))).encode(), digest_size=20).hexdigest()
    path = disk / _translator_version() / f"{name}.pkl.z"
    if path.is_file():
        try:
            return pickle.loads(zlib.decompress(path.read_bytes()))
        except (OSError, zlib.error, pickle.UnpicklingError, EOFError, AttributeError):
            pass  # a damaged entry: translate again and overwrite it
    result = translate(domain, problem, **kwargs)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, suffix=".tmp") as handle:
            handle.write(zlib.compress(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL), 1))
        os.replace(handle.name, path)
    except OSError:
        pass  # a read-only cache only costs speed
    return result


@lru_cache(maxsize=1)
def _translator_version() -> str:
    from importlib.metadata import version

    return f"fast-downward-textworld-{version('fast-downward-textworld')}"
