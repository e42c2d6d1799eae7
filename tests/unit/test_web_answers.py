"""`lwnode.http.web.answers.read_answer`: a search's answer the page sends back to
re-rank is hostile input, read down to what the re-rank uses; and the sentences both
front ends print about the labels' order (`lwnode.userside.rerank.why_this_order`)."""

from __future__ import annotations

import json

import pytest

from lwnode.errors import BadRequest
from lwnode.http.web.answers import read_answer
from lwnode.userside.rerank import labels_first, shortlist_ids, why_this_order

ONE, TWO, THREE = (f"sha256:{i:064x}" for i in (1, 2, 3))


def _read(answer: object) -> dict:
    return read_answer(json.dumps(answer), max_k=5, max_mixture=2)


def test_an_answer_of_v1_search_is_read_down_to_what_the_rerank_uses():
    answer = _read({"single": [
        {"id": ONE, "name": "a", "mmd2": 0.2, "score": 0.5, "organization": "x"},
        {"id": TWO, "name": "b" * 500, "mmd2": None, "heterogeneous": True,
         "mapping": {"lines": ["f0 <- g0"]}},
        {"id": THREE, "mmd2": 0.3}],
        "mixture": {"ids": [ONE, THREE], "weights": [0.25, 0.75], "mmd2": 0.1,
                    "members": [{"id": ONE, "name": "a"}, {"name": None}]},
        "notes": ["dropped"]})
    assert answer["single"][0] == {"id": ONE, "name": "a", "mmd2": 0.2, "mapping": None}
    assert answer["single"][1]["mapping"] is True and len(answer["single"][1]["name"]) == 200
    assert answer["single"][2]["name"] == THREE[7:19]
    assert [m["name"] for m in answer["mixture"]["members"]] == ["a", THREE[7:19]]
    assert "notes" not in answer
    # a hit over other columns is not fetched; the mixture's members are
    assert shortlist_ids(answer, 2) == [ONE, THREE]


@pytest.mark.parametrize(("answer", "words"), [
    ([], "expected {\"single\""),
    ({"single": []}, "answer.single: expected 1..5 hits, got 0"),
    ({"single": [{"id": ONE}] * 6}, "expected 1..5 hits, got 6"),
    ({"single": [{"id": ONE}, {"id": ONE}]}, "an id appears twice"),
    ({"single": ["x"]}, "answer.single[0]: expected an object"),
    ({"single": [{"id": ONE.upper()}]}, "answer.single[0].id"),
    ({"single": [{"id": ONE, "mmd2": "0.1"}]}, "answer.single[0].mmd2"),
    ({"single": [{"id": ONE, "mmd2": True}]}, "answer.single[0].mmd2"),
    ({"single": [{"id": ONE, "name": 3}]}, "answer.single[0].name: expected a string"),
    ({"single": [{"id": ONE}], "mixture": {"ids": [ONE, TWO, THREE], "weights": [1, 0, 0],
                                           "mmd2": 0}}, "1..2 ids"),
    ({"single": [{"id": ONE}], "mixture": {"ids": [ONE, TWO], "weights": [1], "mmd2": 0}},
     "expected 2 weights"),
    ({"single": [{"id": ONE}], "mixture": {"ids": [ONE, TWO], "weights": [0.5, 0.6],
                                           "mmd2": 0}}, "they sum to 1.1, not 1"),
    ({"single": [{"id": ONE}], "mixture": {"ids": [ONE, TWO], "weights": [1.5, -0.5],
                                           "mmd2": 0}}, "weights[1]: expected a finite"),
    ({"single": [{"id": ONE}], "mixture": {"ids": [ONE, TWO], "weights": [0.5, 0.5]}},
     "answer.mixture.mmd2"),
])
def test_a_wrong_answer_is_a_400_naming_the_field(answer, words):
    with pytest.raises(BadRequest) as exc:
        _read(answer)
    assert words in str(exc.value)


def test_text_that_is_not_json_or_missing_is_a_400():
    for text, words in (("", "send the search's answer"), ("{", "not valid JSON"),
                        ('{"single": [{"id": "' + ONE + '", "mmd2": NaN}]}', "finite")):
        with pytest.raises(BadRequest, match=words):
            read_answer(text, max_k=5, max_mixture=2)


def _entry(lid: str, name: str, mmd2_rank: int) -> dict:
    return {"id": lid, "name": name, "mmd2_rank": mmd2_rank}


def test_the_sentence_says_whether_the_first_or_only_the_rest_moved():
    answer = {"mixture": {"ids": [ONE, TWO], "weights": [0.5, 0.5]}}
    moved_first = {"n_folds": 5, "moved": True, "ranking": [
        _entry("mixture", "mixture of a, b", 2), _entry(ONE, "a", 1)]}
    assert why_this_order(moved_first).startswith("your labels put the mixture of a, b first: "
                                                  "it beats a (first by MMD²)")
    assert labels_first(moved_first, answer) == ([ONE, TWO], [0.5, 0.5])
    # the first kept but two below swapped: saying "the MMD² order is kept" was untrue
    moved_below = {"n_folds": 5, "moved": True, "ranking": [
        _entry(ONE, "a", 1), _entry(THREE, "c", 3), _entry(TWO, "b", 2)]}
    assert why_this_order(moved_below).startswith("your labels keep a first, as MMD² does, "
                                                  "and reorder the others")
    assert labels_first(moved_below, answer) == ([ONE], None)
    kept = {**moved_below, "moved": False, "ranking": moved_below["ranking"][:1]}
    assert why_this_order(kept).endswith("the MMD² order is kept")
    nothing = {"n_folds": 0, "moved": False, "ranking": []}
    assert why_this_order(nothing) is None and labels_first(nothing, answer) is None
