"""The Porter stemmer as Lucene's ``PorterStemFilter`` applies it.

Lucene ports Martin Porter's reference implementation, which departs from the
published algorithm (and from Snowball's ``porter``, which PyStemmer offers) in
three places: words of one or two letters are left alone, step 2 maps ``-bli``
to ``-ble`` (not ``-abli`` to ``-able``), and step 2 also maps ``-logi`` to
``-log``. So Lucene stems ``us`` to ``us`` and ``technology`` to ``technolog``
where Snowball gives ``u`` and ``technologi``. A non-ASCII letter counts as a
consonant, as in Lucene.

>>> [stem(w) for w in ["us", "technology", "assembly", "caresses", "ponies", "hopping", "generalization"]]
['us', 'technolog', 'assembl', 'caress', 'poni', 'hop', 'gener']
"""

from __future__ import annotations

from functools import lru_cache

VOWELS = frozenset("aeiou")

# Step 2 and 3 rules: (suffix, replacement), looked up by the suffix's second-to-last (step 2) or last (step 3)
# letter; the first suffix that ends the word decides, even when its measure condition then fails.
STEP2 = {
    "a": (("ational", "ate"), ("tional", "tion")),
    "c": (("enci", "ence"), ("anci", "ance")),
    "e": (("izer", "ize"),),
    "l": (("bli", "ble"), ("alli", "al"), ("entli", "ent"), ("eli", "e"), ("ousli", "ous")),
    "o": (("ization", "ize"), ("ation", "ate"), ("ator", "ate")),
    "s": (("alism", "al"), ("iveness", "ive"), ("fulness", "ful"), ("ousness", "ous")),
    "t": (("aliti", "al"), ("iviti", "ive"), ("biliti", "ble")),
    "g": (("logi", "log"),),
}
STEP3 = {
    "e": (("icate", "ic"), ("ative", ""), ("alize", "al")),
    "i": (("iciti", "ic"),),
    "l": (("ical", "ic"), ("ful", "")),
    "s": (("ness", ""),),
}
STEP4 = {
    "a": ("al",),
    "c": ("ance", "ence"),
    "e": ("er",),
    "i": ("ic",),
    "l": ("able", "ible"),
    "n": ("ant", "ement", "ment", "ent"),
    "o": ("ion", "ou"),
    "s": ("ism",),
    "t": ("ate", "iti"),
    "u": ("ous",),
    "v": ("ive",),
    "z": ("ize",),
}


def _consonant(word: str, i: int) -> bool:
    ch = word[i]
    if ch in VOWELS:
        return False
    if ch == "y":
        return i == 0 or not _consonant(word, i - 1)
    return True


def _measure(stem: str) -> int:
    """Return m, the number of vowel-consonant sequences in ``stem`` ([C](VC)^m[V])."""
    count, i, n = 0, 0, len(stem)
    while i < n and _consonant(stem, i):
        i += 1
    while i < n:
        while i < n and not _consonant(stem, i):
            i += 1
        if i >= n:
            break
        count += 1
        while i < n and _consonant(stem, i):
            i += 1
    return count


def _has_vowel(stem: str) -> bool:
    return any(not _consonant(stem, i) for i in range(len(stem)))


def _double_consonant(word: str) -> bool:
    return len(word) >= 2 and word[-1] == word[-2] and _consonant(word, len(word) - 1)


def _cvc(word: str) -> bool:
    """True when ``word`` ends consonant-vowel-consonant and the last is not w, x or y."""
    n = len(word)
    if n < 3 or not _consonant(word, n - 1) or _consonant(word, n - 2) or not _consonant(word, n - 3):
        return False
    return word[-1] not in "wxy"


def _step1ab(word: str) -> str:
    if word.endswith("s"):
        if word.endswith("sses"):
            word = word[:-2]
        elif word.endswith("ies"):
            word = word[:-3] + "i"
        elif not word.endswith("ss"):
            word = word[:-1]
    if word.endswith("eed"):
        return word[:-1] if _measure(word[:-3]) > 0 else word
    for suffix in ("ed", "ing"):
        if word.endswith(suffix) and _has_vowel(word[: -len(suffix)]):
            word = word[: -len(suffix)]
            if word.endswith(("at", "bl", "iz")):
                return word + "e"
            if _double_consonant(word):
                return word if word[-1] in "lsz" else word[:-1]
            if _measure(word) == 1 and _cvc(word):
                return word + "e"
            return word
    return word


def _replace(word: str, rules: tuple[tuple[str, str], ...]) -> str:
    for suffix, replacement in rules:
        if word.endswith(suffix):
            stem = word[: -len(suffix)]
            return stem + replacement if _measure(stem) > 0 else word
    return word


def _step4(word: str) -> str:
    for suffix in STEP4.get(word[-2] if len(word) >= 2 else "", ()):
        if not word.endswith(suffix):
            continue
        stem = word[: -len(suffix)]
        if suffix == "ion" and not stem.endswith(("s", "t")):
            continue  # -ion only after s or t; -ou may still apply
        return stem if _measure(stem) > 1 else word
    return word


def _step5(word: str) -> str:
    if word.endswith("e"):
        m = _measure(word[:-1])
        if m > 1 or (m == 1 and not _cvc(word[:-1])):
            word = word[:-1]
    if word.endswith("ll") and _measure(word) > 1:
        word = word[:-1]
    return word


@lru_cache(maxsize=1 << 16)
def stem(word: str) -> str:
    """Return Lucene's Porter stem of a lower-cased ``word``."""
    if len(word) <= 2:
        return word
    word = _step1ab(word)
    if word.endswith("y") and _has_vowel(word[:-1]):
        word = word[:-1] + "i"
    if len(word) >= 2:
        word = _replace(word, STEP2.get(word[-2], ()))
    word = _replace(word, STEP3.get(word[-1], ()))
    word = _step4(word)
    return _step5(word)
