"""Process-wide speed-ups of TextWorld's PDDL engine that leave every output byte unchanged.

Profiling ALFWorld's engine (textworld 1.7) shows most of a step spent in TatSu
re-parsing the same short grammar strings: every admissible command template and
every feedback rule is parsed again on every step, and every rule condition is
re-parsed as a conjunctive query. A reset re-translates the PDDL problem with
Fast Downward twice. These are pure functions of their string arguments, so we
memoise them:

* ``textgen._parse_and_convert`` (grammar right-hand sides): cached, and a deep
  copy handed out each time because derivation mutates the symbols' contexts;
* ``Rule.parse_conjunctive_query`` (grammar conditions and queries): cached; the
  returned rule is only read;
* ``fast_downward.pddl2sas`` (the translator run by every ``PddlState``): cached
  per (domain, problem, options); its task object is only read.

:func:`enable` installs them and :func:`disable` restores the originals (the
caches survive), so stock and fast engines can run and be compared in one process.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Callable
from functools import lru_cache
from typing import Any

SAS_CACHE_SIZE = 64  # translated problems kept per process (a few hundred KB each)

_originals: dict[str, Any] = {}
_memoised: dict[str, Any] = {}  # built once, so caches survive disable()/enable()
_enabled = False


def is_enabled() -> bool:
    """Return whether the speed-ups are installed in this process."""
    return _enabled


def _targets() -> tuple[Any, Any, Any]:
    import fast_downward
    import textworld.envs.pddl.textgen as textgen
    from textworld.logic import Rule

    if not _originals:
        _originals.update(
            symbols=textgen._parse_and_convert,
            query=Rule.__dict__["parse_conjunctive_query"],
            pddl2sas=fast_downward.pddl2sas,
        )
        _memoised.update(
            symbols=_memo_symbols(_originals["symbols"]),
            query=classmethod(lru_cache(maxsize=None)(_originals["query"].__func__)),
            pddl2sas=_memo_pddl2sas(_originals["pddl2sas"]),
        )
    return textgen, Rule, fast_downward


def _install(functions: dict[str, Any]) -> None:
    textgen, rule, fast_downward = _targets()
    textgen._parse_and_convert = functions["symbols"]
    rule.parse_conjunctive_query = functions["query"]
    fast_downward.pddl2sas = functions["pddl2sas"]


def enable() -> None:
    """Install the memoised parsers and translator (cheap when already installed)."""
    global _enabled
    if not _enabled:
        _targets()
        _install(_memoised)
        _enabled = True


def disable() -> None:
    """Restore TextWorld's own functions (cheap when already restored)."""
    global _enabled
    if _enabled:
        _install(_originals)
        _enabled = False


def _memo_symbols(parse: Callable[..., Any]) -> Callable[..., Any]:
    """Memoise the grammar parser; callers get a private deep copy (derivation mutates symbols)."""
    cache: dict[tuple, Any] = {}

    def parse_cached(text: str, rule_name: str = "symbols", **kwargs: Any) -> Any:
        key = (text, rule_name, tuple(sorted(kwargs.items())))
        if key not in cache:
            cache[key] = parse(text, rule_name=rule_name, **kwargs)
        return copy.deepcopy(cache[key])

    return parse_cached


def _memo_pddl2sas(translate: Callable[..., Any]) -> Callable[..., Any]:
    """Memoise Fast Downward's PDDL-to-SAS translation, keeping the most recent problems."""
    cache: OrderedDict[tuple, Any] = OrderedDict()

    def translate_cached(domain: str, problem: str, **kwargs: Any) -> Any:
        key = (domain, problem, tuple(sorted(kwargs.items())))
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
        result = cache[key] = translate(domain, problem, **kwargs)
        if len(cache) > SAS_CACHE_SIZE:
            cache.popitem(last=False)
        return result

    return translate_cached
