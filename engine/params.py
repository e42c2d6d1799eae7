"""Parameter constraints, declared once per class and checked by one function.

In the spirit of scikit-learn's ``_param_validation``. A class lists what each of
its constructor parameters may be, and which error a bad value raises::

    class RKMESpec:
        _parameter_constraints: ClassVar[Constraints] = {
            "n_points": [Interval(int, 1, MAX_POINTS)],
            "gamma": [Options(("auto",)), Interval(float, 0, None, closed="neither")],
            "epsilon": [Interval(float, 0, None, closed="neither"), None],
        }
        _parameter_error: ClassVar[type[Exception]] = SpecError

and calls ``validate_params(self)`` where it used to check by hand (at the top of
``fit``, scikit-learn style: ``__init__`` only stores). A value is valid when any
constraint of its list accepts it; otherwise the class's error is raised with one
message format, ``"<name>: expected <what the list accepts>, got <value!r>"``.

=====================================  ==============================================
constraint                             accepts
=====================================  ==============================================
``Interval(int, lo, hi)``              an ``int`` (never a ``bool``) within the bounds
``Interval(float, lo, hi, closed=)``   a finite ``int`` or ``float`` (not ``bool``)
                                       within the bounds; ``closed`` says which bounds
                                       belong to it ("both", "left", "right",
                                       "neither")
``Options((a, b, ...))``               a hashable value equal to one of the options
``InstanceOf(cls)``                    an instance of ``cls``
``None``                               ``None``
=====================================  ==============================================

Checks that relate two parameters (a differentially private fit needs a public
gamma) or depend on the data stay in the code that knows them. `check_params`
checks any mapping against constraints (fields of a record read from the wire);
`check_param` one value (a function's argument).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

Closed = Literal["both", "left", "right", "neither"]


@dataclass(frozen=True)
class Interval:
    """Integers (``kind=int``) or finite real numbers (``kind=float``) in a range;
    ``None`` for a bound means unbounded on that side."""

    kind: type[int] | type[float]
    left: float | None
    right: float | None
    closed: Closed = "both"

    def __post_init__(self) -> None:
        if self.kind not in (int, float):
            raise TypeError(f"Interval kind: expected int or float, got {self.kind!r}")

    def accepts(self, value: object) -> bool:
        if isinstance(value, bool):
            return False
        if self.kind is int:
            if not isinstance(value, int):
                return False
        elif not isinstance(value, int | float) or not math.isfinite(value):
            return False
        assert isinstance(value, int | float)
        if self.left is not None and (value < self.left if self._left_closed()
                                      else value <= self.left):
            return False
        return self.right is None or (value <= self.right if self._right_closed()
                                      else value < self.right)

    def _left_closed(self) -> bool:
        return self.closed in ("both", "left")

    def _right_closed(self) -> bool:
        return self.closed in ("both", "right")

    def describe(self) -> str:
        lo, hi = _number(self.left), _number(self.right)
        if self.kind is int:
            # integer bounds are shown closed: "an integer in 1..10000", "an integer >= 0"
            if self.left is not None and not self._left_closed():
                lo = _number(math.floor(self.left) + 1)
            if self.right is not None and not self._right_closed():
                hi = _number(math.ceil(self.right) - 1)
            if self.left is not None and self.right is not None:
                return f"an integer in {lo}..{hi}"
            if self.left is not None:
                return f"an integer >= {lo}"
            return "an integer" if self.right is None else f"an integer <= {hi}"
        if self.left is not None and self.right is not None:
            return (f"a number in {'[' if self._left_closed() else '('}{lo}, {hi}"
                    f"{']' if self._right_closed() else ')'}")
        if self.left is not None:
            return f"a finite number {'>=' if self._left_closed() else '>'} {lo}"
        if self.right is not None:
            return f"a finite number {'<=' if self._right_closed() else '<'} {hi}"
        return "a finite number"


@dataclass(frozen=True)
class Options:
    """One of a few values, compared with ``==`` (so ``True`` also admits ``1``, as
    Python's ``in`` always did here); unhashable values (arrays, lists) never match."""

    values: tuple[Any, ...]

    def accepts(self, value: object) -> bool:
        return isinstance(value, Hashable) and value in self.values

    def describe(self) -> str:
        shown = [repr(v) for v in self.values]
        return f"one of {', '.join(shown)}" if len(shown) > 2 else _either(shown)


@dataclass(frozen=True)
class InstanceOf:
    """An instance of a class (for ``bool``: exactly True or False)."""

    cls: type

    def accepts(self, value: object) -> bool:
        return isinstance(value, self.cls)

    def describe(self) -> str:
        if self.cls is bool:
            return "True or False"
        name = self.cls.__name__
        return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


Constraint: TypeAlias = Interval | Options | InstanceOf | None
Constraints: TypeAlias = Mapping[str, Sequence[Constraint]]


def accepts(constraint: Constraint, value: object) -> bool:
    return value is None if constraint is None else constraint.accepts(value)


def describe(constraints: Sequence[Constraint]) -> str:
    """What a list of constraints accepts, in words ("'auto' or a finite number > 0")."""
    parts = ["None" if c is None else c.describe() for c in constraints]
    return _either(parts)


def check_param(name: str, value: object, constraints: Sequence[Constraint],
                error: type[Exception]) -> None:
    """Raise `error` unless some constraint accepts `value` (the one message format)."""
    if not any(accepts(c, value) for c in constraints):
        raise error(f"{name}: expected {describe(constraints)}, got {value!r}")


def check_params(values: Mapping[str, object], constraints: Constraints,
                 error: type[Exception], where: str = "") -> None:
    """Check every constrained name in `values`, in declaration order; `where`
    prefixes the names in messages (e.g. ``"spec.privacy."``)."""
    for name, allowed in constraints.items():
        if name in values:
            check_param(f"{where}{name}", values[name], allowed, error)


def validate_params(obj: object, values: Mapping[str, object] | None = None) -> None:
    """Check `obj`'s parameters against its class's ``_parameter_constraints`` and
    raise its ``_parameter_error``. The values are `obj`'s attributes of the same
    names unless given (a constructor that checks before storing)."""
    cls = type(obj)
    constraints: Constraints = cls._parameter_constraints  # type: ignore[attr-defined]
    error: type[Exception] = cls._parameter_error  # type: ignore[attr-defined]
    if values is None:
        values = {name: getattr(obj, name) for name in constraints}
    check_params(values, constraints, error)


def _number(x: float | None) -> str:
    return "" if x is None else f"{x:g}" if isinstance(x, float) else str(x)


def _either(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} or {parts[-1]}"


__all__ = [
    "Constraint",
    "Constraints",
    "InstanceOf",
    "Interval",
    "Options",
    "accepts",
    "check_param",
    "check_params",
    "describe",
    "validate_params",
]
