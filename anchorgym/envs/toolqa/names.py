"""Pronounceable fictional names from random syllables (no real-world entity can match)."""

from __future__ import annotations

import random

ONSETS = "b br d dr f g gr h k kl l m n p r s st t tr v z th".split()
VOWELS = "a e i o u ae ei ou ia".split()
CODAS = ["", "", "n", "r", "l", "s", "th", "m", "x"]
ORG_KINDS = "Institute Foundry Guild Company Press Observatory Bank Conservatory Shipyard Mills".split()
COUNTRY_SUFFIXES = ["ia", "land", "or", "istan", "avia"]
OCCUPATIONS = (
    "cartographer navigator glassblower composer botanist shipwright librarian bookbinder "
    "painter linguist clockmaker surgeon sculptor chemist weaver"
).split()


def word(rng: random.Random, syllables: tuple[int, int] = (2, 3)) -> str:
    """A capitalised pseudo-word of 2-3 syllables."""
    count = rng.randint(*syllables)
    parts = [rng.choice(ONSETS) + rng.choice(VOWELS) for _ in range(count)]
    return ("".join(parts) + rng.choice(CODAS)).capitalize()


def unique(rng: random.Random, taken: set[str], make: callable) -> str:  # noqa: ANN001
    """Call ``make(rng)`` until it yields a name not in ``taken``; record and return it."""
    while True:
        name = make(rng)
        if name not in taken:
            taken.add(name)
            return name


def people(rng: random.Random, count: int, distractor_level: int, taken: set[str]) -> list[str]:
    """``count`` full names; surnames are shared by about ``1 + distractor_level`` people."""
    surname_count = max(1, -(-count // (1 + distractor_level)))
    surnames = [unique(rng, taken, word) for _ in range(surname_count)]
    order = [surnames[i % surname_count] for i in range(count)]
    rng.shuffle(order)
    return [unique(rng, taken, lambda r, s=surname: f"{word(r, (1, 2))} {s}") for surname in order]


def places(rng: random.Random, count: int, taken: set[str], suffixes: list[str] | None = None) -> list[str]:
    """``count`` distinct place names, optionally with a country-like suffix."""
    if suffixes is None:
        return [unique(rng, taken, word) for _ in range(count)]
    return [unique(rng, taken, lambda r: word(r, (1, 2)) + r.choice(suffixes)) for _ in range(count)]


def organisations(rng: random.Random, count: int, cities: list[str], taken: set[str]) -> list[str]:
    """``count`` organisation names; some borrow a city's name, as real ones do."""

    def make(r: random.Random) -> str:
        stem = r.choice(cities) if r.random() < 0.4 else word(r)
        return f"{stem} {r.choice(ORG_KINDS)}"

    return [unique(rng, taken, make) for _ in range(count)]
