"""How a model turn becomes an action: Search-R1's rules (``protocol="search-r1"``) and the @v1 rules.

The expected values follow Search-R1's ``generation.py``: ``_postprocess_responses`` cuts the turn
after its first ``</search>`` (else its first ``</answer>``), then ``postprocess_predictions`` takes the
first match of ``<(search|answer)>(.*?)</\\1>`` (case-sensitive, DOTALL) and strips its content.
"""

import pytest

from anchorgym.envs.toolqa.protocol import (
    INVALID_ACTION_MESSAGE,
    canonical,
    check_protocol,
    cut_turn,
    parse_legacy,
    parse_search_r1,
    parse_turn,
    split_canonical,
)
from anchorgym.errors import ConfigError, UnknownNameError

# (turn, Search-R1's action, the @v1 action)
TURNS = [
    ("<think>t</think><search> Paris </search>", ("search", "Paris"), ("search", "Paris")),
    ("<search>a</search><answer>b</answer>", ("search", "a"), ("answer", "b")),
    ("<answer>b</answer><search>a</search>", ("answer", "b"), ("search", "a")),
    ("<answer>b</answer> then <answer>c</answer>", ("answer", "b"), ("answer", "c")),
    ("<search>a</search><search>b</search>", ("search", "a"), ("search", "b")),
    ("<think><answer>draft</answer></think><search>q</search>", ("answer", "draft"), ("search", "q")),
    ("<Search>a</Search>", None, ("search", "a")),
    ("<ANSWER>b</ANSWER>", None, ("answer", "b")),
    ("<SEARCH>a</SEARCH><answer>b</answer>", ("answer", "b"), ("answer", "b")),
    ("<answer></answer>", ("answer", ""), None),
    ("<answer> \n </answer>", ("answer", ""), None),
    ("<search></search>", ("search", ""), None),
    ("<search>  </search> <answer>x</answer>", ("search", ""), ("answer", "x")),
    ("Paris", None, None),
    ("", None, None),
    ("<search>unclosed", None, None),
    ("<answer>a</search>", None, None),
    ("<search>x</answer> more", None, None),
    ("<answer>multi\nline</answer>", ("answer", "multi\nline"), ("answer", "multi\nline")),
    ("<search>a<search>b</search>", ("search", "a<search>b"), ("search", "a<search>b")),
    # Search-R1 cuts at the first </search> even after an </answer>: the search holds the answer block
    ("<search>q <answer>a</answer> </search>", ("search", "q <answer>a</answer>"), ("search", "q <answer>a</answer>")),
    ("stray </answer> <search>q</search>", ("search", "q"), ("search", "q")),
]


@pytest.mark.parametrize(("turn", "search_r1", "legacy"), TURNS)
def test_turns_read_as_search_r1_and_v1_read_them(turn, search_r1, legacy):
    assert parse_search_r1(turn) == search_r1
    assert parse_turn(turn, "search-r1") == search_r1
    assert parse_legacy(turn) == legacy
    assert parse_turn(turn, "legacy") == legacy


def test_the_two_protocols_differ_on_half_of_these_turns():
    differ = [turn for turn, search_r1, legacy in TURNS if search_r1 != legacy]
    assert len(differ) == 11 and len(TURNS) == 22


@pytest.mark.parametrize(
    ("turn", "cut"),
    [
        ("<search>a</search> and more <answer>b</answer>", "<search>a</search>"),
        ("<answer>b</answer> x <search>a</search> y", "<answer>b</answer> x <search>a</search>"),
        ("<answer>b</answer> and more", "<answer>b</answer>"),
        ("no tag at all", "no tag at all"),
    ],
)
def test_cut_turn_keeps_text_up_to_searches_first_closing_tag(turn, cut):
    assert cut_turn(turn) == cut


def test_a_stop_sequence_cut_reads_the_same_action():
    # text generated with stop sequences at </search> and </answer> ends at its first closing tag
    for turn, search_r1, _ in TURNS:
        ends = [turn.index(tag) + len(tag) for tag in ("</search>", "</answer>") if tag in turn]
        stopped = turn[: min(ends)] if ends else turn
        nested = turn.startswith(("<search>q <answer>", "stray </answer>"))
        assert (parse_search_r1(stopped) == search_r1) != nested, turn


def test_invalid_action_message_is_search_r1s_text():
    assert INVALID_ACTION_MESSAGE == (
        "My previous action is invalid. If I want to search, I should put the query between <search> and </search>."
        " If I want to give the final answer, I should put the answer between <answer> and </answer>. Let me try again."
    )


@pytest.mark.parametrize(("tag", "content"), [("search", ""), ("answer", "a </answer> b"), ("search", "x<search>y")])
def test_canonical_round_trips(tag, content):
    assert split_canonical(canonical(tag, content)) == (tag, content)


def test_unknown_protocol_is_refused_with_a_suggestion():
    assert check_protocol("search-r1") == "search-r1"
    with pytest.raises(UnknownNameError) as error:
        check_protocol("search_r1")
    assert str(error.value.args[0]) == (
        "Unknown tool-QA protocol 'search_r1'. Did you mean 'search-r1'? Known: legacy, search-r1."
    )
    with pytest.raises(ConfigError, match=r"^protocol must be one of search-r1, legacy, got 1.$"):
        check_protocol(1)
