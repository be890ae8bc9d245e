import pytest

from anchorgym.envs.toolqa.metrics import (
    answer_metrics,
    best_f1,
    exact_match,
    gold_list,
    normalize_answer,
    substring_exact_match,
    token_f1,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The Beatles", "beatles"),
        ("  An  apple, a day! ", "apple day"),
        ("U.S.A.", "usa"),
        ("Theatre of the Absurd", "theatre of absurd"),
        ("", ""),
    ],
)
def test_normalize_answer(text, expected):
    assert normalize_answer(text) == expected


def test_exact_match_against_any_gold():
    assert exact_match("the beatles.", ["Rolling Stones", "Beatles"])
    assert not exact_match("Beatles band", ["Beatles"])
    assert not exact_match("anything", [])


def test_token_f1_hand_computed():
    # prediction tokens {paris, france}, gold {paris}: P = 1/2, R = 1, F1 = 2/3
    assert token_f1("Paris, France", "Paris") == pytest.approx(2 / 3)
    # "a b c d" vs "c d e": overlap 2, P = 2/4, R = 2/3, F1 = 2*(1/2)(2/3)/(1/2+2/3) = 4/7
    assert token_f1("a1 b1 c1 d1", "c1 d1 e1") == pytest.approx(4 / 7)
    # repeated tokens count with multiplicity: "x x y" vs "x y y": overlap x1 + y1 = 2, P = R = 2/3
    assert token_f1("x x y", "x y y") == pytest.approx(2 / 3)
    assert token_f1("The cat", "a cat") == 1.0
    assert token_f1("dog", "cat") == 0.0


def test_yes_no_score_only_on_exact_match():
    assert token_f1("yes", "yes") == 1.0
    assert token_f1("yes it is", "yes") == 0.0
    assert token_f1("no", "no way") == 0.0


def test_best_f1_takes_the_best_gold():
    assert best_f1("New York City", ["York", "New York City"]) == 1.0
    assert best_f1("New York", ["York", "Boston"]) == pytest.approx(2 / 3)
    assert best_f1("x", []) == 0.0


def test_a_bare_string_gold_is_one_answer():
    assert gold_list("Paris") == ["Paris"]
    assert exact_match("Paris", "Paris") is True  # was False: "Paris" was read as ["P", "a", "r", "i", "s"]
    assert exact_match("P", "Paris") is False
    assert substring_exact_match("the city of Paris", "Paris") is True
    assert substring_exact_match("P", "Paris") is False
    assert best_f1("Paris", "Paris") == 1.0
    assert best_f1("a", "a b") == 0.0  # "a" is an article: the prediction normalises to nothing


@pytest.mark.parametrize(
    ("prediction", "golds", "expected"),
    [
        ("Paris, France", ["Paris"], True),
        ("Parisian", ["Paris"], True),  # a character sub-string, as Search-R1's subem_check
        ("The Beatles!", ["beatles", "x"], True),
        ("France", ["Paris", "Lyon"], False),
        ("Pa ris", ["Paris"], False),
        ("", ["Paris"], False),
        ("anything", [], False),
        ("anything", ["The"], True),  # a gold that normalises to "" is in every prediction
    ],
)
def test_substring_exact_match(prediction, golds, expected):
    assert substring_exact_match(prediction, golds) is expected


def test_answer_metrics_report_em_subem_and_f1():
    assert answer_metrics("Paris, France", ["Paris"]) == {"em": 0.0, "subem": 1.0, "f1": 2 / 3}
    assert answer_metrics("the Paris", "Paris") == {"em": 1.0, "subem": 1.0, "f1": 1.0}
    assert answer_metrics("", ["Paris"]) == {"em": 0.0, "subem": 0.0, "f1": 0.0}
    assert answer_metrics(None, ["Paris"]) == {"em": 0.0, "subem": 0.0, "f1": 0.0}
