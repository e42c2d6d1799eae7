"""Public choices of the DP mode's gamma and bounds (`engine.privacy.public`,
`lwnode.userside.privacy.resolve_dp`): they read the data's shape and the market's
public gammas, never a row, and an explicit value always wins."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.privacy.public import dimension_gamma, market_gamma, power_of_two
from lwnode.errors import InputError
from lwnode.userside.local import dp_choices
from lwnode.userside.privacy import parse_dp, resolve_dp
from lwnode.userside.tabular import Table

EPS_ONLY = {"epsilon": 1.0, "delta": 1e-5, "gamma": None, "bounds": None}


@pytest.mark.parametrize(("dim", "unit", "gamma"), [
    (1, False, 1.0), (3, False, 0.25), (17, False, 2.0**-4), (30, False, 2.0**-5),
    (784, False, 2.0**-10), (384, True, 1.0), (2, True, 1.0)])
def test_the_data_free_rule_is_a_power_of_two_from_the_dimension(dim, unit, gamma):
    assert dimension_gamma(dim, unit_norm=unit) == gamma
    # the convention benchmarks.privacy_bench declares for standardised data
    if not unit:
        assert gamma == float(2.0 ** round(np.log2(1.0 / dim)))


def test_the_market_convention_is_the_most_common_gamma_ties_to_the_rule():
    assert market_gamma({0.25: 5, 0.5: 2}) == 0.25
    assert market_gamma({0.25: 2, 1.0: 2}, prefer=0.5) == 0.25  # |log2| 1 each: the smaller
    assert market_gamma({0.125: 2, 1.0: 2}, prefer=1.0) == 1.0
    # nothing usable: a hostile or empty view chooses nothing
    assert market_gamma({}) is None
    assert market_gamma({float("nan"): 3, 0.0: 2, -1.0: 9, 0.5: 0}) is None
    assert power_of_two(0.0625) == "2^-4" and power_of_two(0.3) == "0.3"


def test_the_market_wins_over_the_rule_and_an_explicit_gamma_over_both():
    dp, notes = resolve_dp({**EPS_ONLY, "bounds": (-3.0, 3.0)}, kind="table", dim=17,
                           space="table/d=17", market={0.25: 3, 0.0625: 1})
    assert dp is not None and dp["gamma"] == 0.25 and dp["bounds"] == (-3.0, 3.0)
    assert notes == ["gamma 2^-2 (public): the market's convention (3 of the 4 spec(s) in "
                     "table/d=17 your node knows use it); --gamma G chooses another"]
    dp, notes = resolve_dp({**EPS_ONLY, "gamma": 0.5, "bounds": (-3.0, 3.0)}, kind="table",
                           dim=17, space="table/d=17", market={0.25: 3})
    assert dp is not None and dp["gamma"] == 0.5 and notes == []


def test_text_embeddings_have_public_bounds_and_gamma():
    dp, notes = resolve_dp(dict(EPS_ONLY), kind="text", dim=384, space="text/x", market={})
    assert dp is not None and (dp["gamma"], dp["bounds"]) == (1.0, (-1.0, 1.0))
    assert notes[1] == ("bounds -1,1 (public): every coordinate of a unit-norm embedding "
                        "lies in them")


def test_images_without_a_market_need_a_declared_gamma_and_the_page_says_it_in_its_words():
    with pytest.raises(InputError, match=r"^gamma: no public rule for image/x: no node "
                       r"answered .* pass gamma G"):
        resolve_dp(dict(EPS_ONLY), kind="image", dim=128, space="image/x",
                   name=lambda field: field)


def test_dp_choices_read_the_shape_and_ask_the_market_for_that_space_only():
    table = Table(values=np.full((40, 5), np.nan), columns=tuple(f"c{i}" for i in range(5)))
    asked: list[str] = []

    def market(space: str) -> dict[float, int]:
        asked.append(space)
        return {0.5: 1}

    dp, _ = dp_choices(table, None, parse_dp(1, None, None, "-1,1"), market=market)
    # NaN rows: a rule that read a value would fail or differ; this one reads the shape
    assert asked == ["table/d=5"] and dp is not None and dp["gamma"] == 0.5
    dp, _ = dp_choices(table, None, parse_dp(1, None, 2, "-1,1"), market=market)
    assert asked == ["table/d=5"] and dp is not None and dp["gamma"] == 2.0  # not asked


def test_the_catalog_counts_the_live_gammas_of_a_space_only():
    from engine.search import Catalog
    from engine.specification import RKMETableSpec
    from engine.specification.semantic import SemanticSpec

    rng = np.random.default_rng(0)
    catalog = Catalog()
    for i, gamma in enumerate((0.25, 0.25, 0.5)):
        spec = RKMETableSpec(n_points=5, gamma=gamma, min_rows_per_point=1).fit(
            rng.normal(size=(30, 3)))
        catalog.add(f"lw{i}", SemanticSpec(), spec)
    catalog.add("other", SemanticSpec(), RKMETableSpec(
        n_points=5, gamma=1.0, min_rows_per_point=1).fit(rng.normal(size=(30, 4))))
    assert catalog.gammas("table/d=3") == {0.25: 2, 0.5: 1}
    catalog.remove("lw0")
    assert catalog.gammas("table/d=3") == {0.25: 1, 0.5: 1}
    assert catalog.gammas("table/d=9") == {}


# -- bounds per column, from the ranges the semantic spec declares ----------------------------
def _columns(**ranges):
    from engine.specification.semantic import InputSpec

    return InputSpec.from_columns(list(ranges), ranges={k: v for k, v in ranges.items() if v})


def test_declared_ranges_are_per_column_bounds_and_partial_ones_name_the_rest():
    from engine.errors import SpecError
    from engine.privacy.public import declared_bounds

    assert declared_bounds(None) is None and declared_bounds(_columns(a=None, b=None)) is None
    assert declared_bounds(_columns(age=(0, 120), z=(-4, 4))) == ((0.0, -4.0), (120.0, 4.0))
    with pytest.raises(SpecError, match=r"^bounds: 2 of the 3 columns declare no range: b, c$"):
        declared_bounds(_columns(a=(0, 1), b=None, c=None))


def test_declared_ranges_bound_a_table_and_the_rule_is_said():
    declared = _columns(age=(0, 120), z=(-4, 4), t=(-6, -2))
    dp, notes = resolve_dp({**EPS_ONLY, "gamma": 0.25}, kind="table", dim=3, space="table/d=3",
                           declared=declared, declared_in="sem.toml")
    assert dp is not None and dp["bounds"] == ((0.0, -4.0, -6.0), (120.0, 4.0, -2.0))
    assert notes == ["bounds per column (public): the ranges sem.toml declares for its 3 "
                     "columns (age 0..120, z -4..4, t -6..-2); --bounds=LOW,HIGH sets one "
                     "range for all"]


def test_declared_ranges_set_the_data_free_gamma_of_columns_not_standardised():
    """Ages and incomes are not standardised columns: the rule reads their scale from
    the declared ranges (variance of a uniform draw over each), not from the width."""
    from engine.privacy.public import range_gamma

    assert range_gamma((-3.0, -3.0), (3.0, 3.0)) == 2.0**-3  # s = 2 x 36/12 = 6
    declared = _columns(age=(0, 120), income=(0, 500_000))
    dp, notes = resolve_dp(EPS_ONLY, kind="table", dim=2, space="table/d=2", market={},
                           declared=declared, declared_in="sem.toml")
    scale = (120**2 + 500_000**2) / 12
    assert dp is not None and dp["gamma"] == 2.0 ** round(math.log2(1 / scale)) == 2.0**-34
    assert "declared ranges" in notes[0] and "your node knows no spec in table/d=2" in notes[0]
    # the market's convention still wins over the rule
    dp, _ = resolve_dp(EPS_ONLY, kind="table", dim=2, space="table/d=2", market={0.5: 3},
                       declared=declared, declared_in="sem.toml")
    assert dp is not None and dp["gamma"] == 0.5
    # only some columns declare a range: the standardised rule, and the bounds refuse
    with pytest.raises(InputError, match="declare no range"):
        resolve_dp(EPS_ONLY, kind="table", dim=2, space="table/d=2", market={},
                   declared=_columns(a=(0, 1), b=None), declared_in="sem.toml")


def test_an_explicit_bounds_wins_over_the_declared_ranges():
    dp, notes = resolve_dp({**EPS_ONLY, "gamma": 0.25, "bounds": (-9.0, 9.0)}, kind="table",
                           dim=2, space="table/d=2", declared=_columns(a=(0, 1), b=(0, 2)),
                           declared_in="sem.toml")
    assert dp is not None and dp["bounds"] == (-9.0, 9.0) and notes == []


def test_some_columns_without_a_range_are_named_in_the_callers_words():
    with pytest.raises(InputError, match=r"^bounds: differential privacy \(epsilon\) needs the "
                       r"range of every column; in cols.toml, 1 of the 2 columns declare no "
                       r"range: b: give each a range = \[LOW, HIGH\], or pass bounds=LOW,HIGH "
                       r"for all$"):
        resolve_dp({**EPS_ONLY, "gamma": 0.25}, kind="table", dim=2, space="table/d=2",
                   declared=_columns(a=(0, 1), b=None), declared_in="cols.toml",
                   name=lambda field: field)


def test_without_ranges_the_refusal_says_where_they_could_be_declared():
    with pytest.raises(InputError, match=r"or, per column, range = \[LOW, HIGH\] beside each "
                       r"in \[input.columns\] of a --semantic TOML: what the columns are"):
        resolve_dp({**EPS_ONLY, "gamma": 0.25}, kind="table", dim=2, space="table/d=2",
                   declared_in="a --semantic TOML")
    # where nothing can declare them (the page's pack), nothing suggests it
    with pytest.raises(InputError) as nowhere:
        resolve_dp({**EPS_ONLY, "gamma": 0.25}, kind="table", dim=2, space="table/d=2")
    assert "per column" not in str(nowhere.value)
    # image features are not the declared columns (pixels): their ranges are not used
    with pytest.raises(InputError, match="needs the range your 128 columns"):
        resolve_dp({**EPS_ONLY, "gamma": 0.25}, kind="image", dim=128, space="image/x",
                   declared=_columns(a=(0, 1)), declared_in="sem.toml")
