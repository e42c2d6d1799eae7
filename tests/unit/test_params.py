"""Parameter constraints (`engine.params`): the constraint types, and every class that
declares constraints, driven from its declaration.

For each declared parameter, values drawn outside the declaration must make the
class's real entry point (``fit``, or the constructor for `Catalog`) raise the
class's error with the one message format; values drawn inside must get past the
parameter checks to the next thing the entry point looks at (the input, or the
learnwares), which is fed something deliberately wrong so nothing heavy runs.
Inside and outside are generated from the declaration by this file's own reading of
each constraint (`inside` below), not by the code under test.
"""

from __future__ import annotations

import importlib
import inspect
import math
import pkgutil
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import ReuseError, SearchError, SpecError
from engine.params import (
    Constraints,
    InstanceOf,
    Interval,
    Options,
    check_param,
    check_params,
    describe,
    validate_params,
)
from engine.reuse.base import Reuser
from engine.search.catalog import Catalog
from engine.specification.rkme import RKMESpec
from engine.specification.semantic import InputSpec

PACKAGES = ("specification", "reuse", "search", "hetero", "privacy")


def declaring_classes() -> list[type]:
    """Every class in the engine packages above with a non-empty declaration."""
    found: dict[str, type] = {}
    for package in PACKAGES:
        pkg = importlib.import_module(f"engine.{package}")
        for info in pkgutil.iter_modules(pkg.__path__, f"{pkg.__name__}."):
            module = importlib.import_module(info.name)
            for _, cls in inspect.getmembers(module, inspect.isclass):
                if cls.__module__.startswith("engine.") and getattr(
                        cls, "_parameter_constraints", None):
                    found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return [found[k] for k in sorted(found)]


CLASSES = declaring_classes()


def entry(cls: type) -> tuple[Callable[[dict[str, Any]], object], str | None]:
    """How to run `cls` with some parameters, and the field the run must then fail on
    (None: it succeeds)."""
    if issubclass(cls, RKMESpec):
        field = {"rkme_image": "images", "rkme_text": "texts"}.get(cls.kind, "X")
        return (lambda params: cls(**params).fit(None)), field
    if issubclass(cls, Reuser):
        return (lambda params: cls(**params).fit(None, None)), "learnwares"
    if cls is Catalog:
        return (lambda params: cls(**params)), None
    raise AssertionError(f"{cls.__qualname__} declares parameter constraints: tell this "
                         "test how to run it (its entry point and what it checks next)")


# --- this test's reading of each constraint ----------------------------------------------

INSTANCES = {bool: st.booleans(), InputSpec: st.just(InputSpec(2))}


def inside(constraint: Any, value: object) -> bool:
    if constraint is None:
        return value is None
    if isinstance(constraint, InstanceOf):
        return isinstance(value, constraint.cls)
    if isinstance(constraint, Options):
        return not isinstance(value, list | dict | np.ndarray) and any(
            value == v for v in constraint.values)
    assert isinstance(constraint, Interval)
    number = int if constraint.kind is int else (int, float)
    if isinstance(value, bool) or not isinstance(value, number):
        return False
    assert isinstance(value, int | float)
    if not math.isfinite(value):
        return False
    lo, hi, closed = constraint.left, constraint.right, constraint.closed
    above = lo is None or (value >= lo if closed in ("both", "left") else value > lo)
    below = hi is None or (value <= hi if closed in ("both", "right") else value < hi)
    return above and below


def values_inside(constraint: Any) -> st.SearchStrategy[Any]:
    if constraint is None:
        return st.none()
    if isinstance(constraint, InstanceOf):
        return INSTANCES[constraint.cls]
    if isinstance(constraint, Options):
        return st.sampled_from(constraint.values)
    lo, hi = constraint.left, constraint.right
    if constraint.kind is int:
        ints = st.integers(None if lo is None else math.ceil(lo),
                           None if hi is None else math.floor(hi))
        return ints.filter(lambda v: inside(constraint, v))
    reals = st.floats(lo, hi, allow_nan=False, allow_infinity=False,
                      exclude_min=lo is not None and constraint.closed in ("right", "neither"),
                      exclude_max=hi is not None and constraint.closed in ("left", "neither"))
    return st.one_of(reals, st.integers(-10**6, 10**6)).filter(
        lambda v: inside(constraint, v))


OUTSIDERS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=6),
    st.sampled_from(["auto", "AUTO", "soft", "greedy", "linear", "kde", "1", "1.0", "yes"]),
    st.lists(st.integers(), max_size=2), st.just({"a": 1}),
    st.builds(np.int64, st.integers(-5, 5)), st.builds(np.float32, st.floats(-5, 5)))


def values_outside(constraints: list[Any]) -> st.SearchStrategy[Any]:
    near: list[Any] = []
    for c in constraints:
        if isinstance(c, Interval):
            for bound in (c.left, c.right):
                if bound is not None:
                    near += [bound, bound - 1, bound + 1, bound - 0.5, bound + 0.5,
                             float(bound), -bound]
            near += [math.nan, math.inf, -math.inf]
    candidates = st.one_of(OUTSIDERS, st.sampled_from(near)) if near else OUTSIDERS
    return candidates.filter(lambda v: not any(inside(c, v) for c in constraints))


PARAMS = [(cls, name) for cls in CLASSES for name in cls._parameter_constraints]
IDS = [f"{cls.__name__}.{name}" for cls, name in PARAMS]
FAST = settings(max_examples=12, deadline=None,
                suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])


def test_the_declaring_classes_are_the_ones_this_file_knows_how_to_run():
    assert {c.__name__ for c in CLASSES} >= {
        "RKMETableSpec", "RKMEImageSpec", "JobSelector", "Averaging", "EnsemblePruning",
        "FeatureAugment", "HeteroReuser", "Catalog"}
    for cls in CLASSES:
        entry(cls)
        params = inspect.signature(cls.__init__).parameters
        assert set(cls._parameter_constraints) <= set(params), cls
        assert issubclass(cls._parameter_error, ValueError)


@pytest.mark.parametrize("cls, name", PARAMS, ids=IDS)
@FAST
@given(data=st.data())
def test_a_value_outside_the_declaration_is_refused_by_the_entry_point(cls, name, data):
    constraints = cls._parameter_constraints[name]
    value = data.draw(values_outside(constraints), label=name)
    run, _ = entry(cls)
    with pytest.raises(cls._parameter_error) as info:
        run({name: value})
    assert str(info.value) == f"{name}: expected {describe(constraints)}, got {value!r}"


@pytest.mark.parametrize("cls, name", PARAMS, ids=IDS)
@FAST
@given(data=st.data())
def test_a_value_inside_the_declaration_passes_to_the_next_check(cls, name, data):
    constraints = cls._parameter_constraints[name]
    value = data.draw(st.one_of(*map(values_inside, constraints)), label=name)
    run, then = entry(cls)
    if then is None:
        run({name: value})
        return
    with pytest.raises(ValueError) as info:
        run({name: value})
    assert str(info.value).startswith(f"{then}:"), str(info.value)


# --- the constraint types themselves --------------------------------------------------------

@pytest.mark.parametrize("constraint, good, bad", [
    (Interval(int, 1, 3), [1, 2, 3], [0, 4, True, 2.0, "2", np.int64(2), None]),
    (Interval(int, 0, None), [0, 10**30], [-1, False, 0.5]),
    (Interval(int, 0, 3, closed="neither"), [1, 2], [0, 3]),
    (Interval(float, 0, None, closed="neither"), [1e-300, 3, 2.5, np.float64(2)],
     [0, 0.0, -1, math.inf, math.nan, True, "1", np.float32(1)]),
    (Interval(float, 0, 1, closed="neither"), [0.5], [0, 1, 1.0, math.nan]),
    (Interval(float, 0, 1, closed="left"), [0, 0.0, 0.99], [1, -0.0001]),
    (Options(("soft", "hard")), ["soft", "hard"], ["SOFT", None, ["soft"], 1]),
    (Options((True, False, "auto")), [True, False, "auto", 1, 0], ["yes", None, 2]),
    (InstanceOf(bool), [True, False], [0, 1, "True", None]),
])
def test_constraints_accept_what_they_say(constraint, good, bad):
    for value in good:
        check_param("p", value, [constraint], SearchError)
    for value in bad:
        with pytest.raises(SearchError, match=r"^p: expected .*, got "):
            check_param("p", value, [constraint], SearchError)


@pytest.mark.parametrize("constraints, words", [
    ([Interval(int, 1, 10_000)], "an integer in 1..10000"),
    ([Interval(int, 0, None)], "an integer >= 0"),
    ([Interval(int, 0, 5, closed="neither")], "an integer in 1..4"),
    ([Options(("auto",)), Interval(float, 0, None, closed="neither")],
     "'auto' or a finite number > 0"),
    ([Interval(float, 0, 1, closed="neither"), None], "a number in (0, 1) or None"),
    ([Options(("linear", "kernel", "mean"))], "one of 'linear', 'kernel', 'mean'"),
    ([Options((True, False, "auto"))], "one of True, False, 'auto'"),
    ([InstanceOf(InputSpec), None], "an InputSpec or None"),
    ([InstanceOf(bool)], "True or False"),
])
def test_one_message_format(constraints, words):
    assert describe(constraints) == words
    with pytest.raises(ReuseError) as info:
        check_param("x", object, constraints, ReuseError)
    assert str(info.value) == f"x: expected {words}, got {object!r}"


def test_check_params_checks_declared_names_in_order_with_a_prefix():
    declared = {"a": [Interval(int, 0, None)], "b": [Options(("y",))]}
    check_params({"b": "y", "other": object()}, declared, SpecError)
    with pytest.raises(SpecError, match=r"^rec\.a: expected an integer >= 0, got -1$"):
        check_params({"a": -1, "b": "n"}, declared, SpecError, where="rec.")


def test_validate_params_reads_attributes_unless_given_values():
    class Thing:
        _parameter_constraints: ClassVar[Constraints] = {"k": [Interval(int, 1, None)]}
        _parameter_error = SearchError

        def __init__(self, k: object) -> None:
            self.k = k

    validate_params(Thing(1))
    with pytest.raises(SearchError, match=r"^k: "):
        validate_params(Thing(0))
    with pytest.raises(SearchError, match=r"^k: "):
        validate_params(Thing(1), {"k": 0})


def test_reusers_answer_scikit_learns_hook_with_these_constraints():
    from engine.reuse import Averaging

    Averaging(voting="hard")._validate_params()
    with pytest.raises(ReuseError, match=r"^voting: expected 'soft' or 'hard', got 'x'$"):
        Averaging(voting="x")._validate_params()
