"""The privacy a user chooses for a spec, and the words that say what was sent.

- `parse_dp`: the differentially private mode's options as a user gives them. The
  command line (``--epsilon --delta --gamma --bounds=LOW,HIGH`` on ``pack``, ``spec
  make`` and ``search``) and the web page (form fields ``epsilon``, ``delta``,
  ``gamma``, ``bounds`` on ``/v1/web/requirement`` and ``/v1/web/pack``) take the same
  values and refuse the same ones with the same words; only the field's name is the
  caller's (``--bounds`` there, ``bounds`` on the page: `name`). Values are checked
  against the spec's own declared constraints (`RKMESpec._parameter_constraints`)
  before any row is read, so a typo costs no fit.
- `privacy_note`: what a fitted spec reveals, in one clause, from its signed record.

gamma and bounds are *public* inputs the user declares: reading them from the rows
would spend privacy the (epsilon, delta) does not account for (`engine.privacy.dp`).
Left out, `resolve_dp` fills them from public facts and says which: gamma from the
market or the dimension, a table's bounds from the ``range`` each column declares in
the semantic TOML (one box per column), a text embedding's from the unit sphere.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from engine.errors import SpecError
from engine.params import Interval, check_param
from engine.specification.rkme import RKMESpec
from engine.specification.semantic import InputSpec
from lwnode.errors import InputError

DEFAULT_DELTA = 1e-5
FIELDS = ("epsilon", "delta", "gamma", "bounds")
Name = Callable[[str], str]


def cli_name(field: str) -> str:
    """``--epsilon``: a field as the command line spells it."""
    return f"--{field}"


def parse_dp(epsilon: float | str | None, delta: float | str | None,
             gamma: float | str | None, bounds: str | None, *,
             name: Name = cli_name) -> dict[str, Any] | None:
    """The ``dp`` settings of `lwnode.userside.local.make_spec`, or None (the private
    default) when no epsilon is given; an `InputError` naming the field otherwise.

    Numbers arrive as text (the page's form) or already parsed (argparse); `bounds` is
    ``"LOW,HIGH"``; an empty `delta` is `DEFAULT_DELTA`. delta, gamma or bounds without
    an epsilon are refused: whoever typed them meant a DP spec, and would get another.
    """
    eps = _number(epsilon, "epsilon", name)
    if eps is None:
        given = [f for f, v in (("delta", delta), ("gamma", gamma), ("bounds", bounds))
                 if _given(v)]
        if given:
            raise InputError(f"{name(given[0])}: only for differential privacy: give "
                             f"{name('epsilon')} too, or leave {name(given[0])} out")
        return None
    d = _number(delta, "delta", name)
    if str(gamma).strip().lower() == "auto":
        raise InputError(f"{name('gamma')}: 'auto' would choose it from the rows (spending "
                         f"privacy): leave {name('gamma')} out for a public choice, or give "
                         "a number")
    values = {"epsilon": eps, "delta": DEFAULT_DELTA if d is None else d,
              "gamma": _number(gamma, "gamma", name)}
    for field, value in values.items():  # the spec's own ranges, not a copy of them
        if value is None:
            continue  # gamma left out: `resolve_dp` chooses it from public facts
        allowed = [c for c in RKMESpec._parameter_constraints[field] if isinstance(c, Interval)]
        check_param(name(field), value, allowed, InputError)
    return {**values, "bounds": _bounds(str(bounds), name) if _given(bounds) else None}


def resolve_dp(dp: dict[str, Any] | None, *, kind: str, dim: int, space: str,
               market: Mapping[float, int] | None = None, name: Name = cli_name,
               declared: InputSpec | None = None, declared_in: str | None = None
               ) -> tuple[dict[str, Any] | None, list[str]]:
    """`dp` (from `parse_dp`) with gamma and bounds filled from public facts, and one
    line per value saying where it came from; an `InputError` saying exactly what to
    pass when no public rule can supply one. Nothing here reads a row: `dim` and
    `space` are the data's shape, `market` the gammas ({gamma: specs}) of the specs of
    `space` the user's node knows (public: each travels signed), None when not asked,
    `declared` the columns of the semantic spec, whose ``range``s are the owner's
    statement, and `declared_in` where the caller can write them (a file, "a --semantic
    TOML"; None: nowhere, so no error suggests it).

    An explicit value always wins. gamma: the market's convention, else the data-free
    rule for the dimension (tables and text; image features have none); bounds: the
    ranges a table's columns declare, the unit-norm range for text embeddings; a
    table's range only its owner can state (`engine.privacy.public`).
    """
    if dp is None:
        return None, []
    from engine.privacy.public import power_of_two

    out = dict(dp)
    notes: list[str] = []
    source = ""
    ranges, missing = _declared_ranges(kind, declared)
    if out.get("gamma") is None:
        out["gamma"], source = _public_gamma(kind, dim, space, market, name, ranges)
        notes.append(f"gamma {power_of_two(out['gamma'])} (public): {source}; "
                     f"{name('gamma')} G chooses another")
    if out.get("bounds") is None:
        out["bounds"], note = _public_bounds(kind, dim, declared, ranges, missing,
                                             declared_in, name, gamma=out["gamma"],
                                             source=source)
        notes.append(note)
    return out, notes


Ranges = tuple[tuple[float, ...], tuple[float, ...]]


def _declared_ranges(kind: str, declared: InputSpec | None
                     ) -> tuple[Ranges | None, str | None]:
    """A table's per-column ranges as its semantic spec declares them (None: not every
    column declares one, or not a table), and, when only some do, the words naming
    the columns that do not."""
    from engine.privacy.public import declared_bounds

    if kind != "table":
        return None, None
    try:
        return declared_bounds(declared), None
    except SpecError as exc:  # only some columns declare one
        return None, str(exc).removeprefix("bounds: ")


def _public_gamma(kind: str, dim: int, space: str, market: Mapping[float, int] | None,
                  name: Name, ranges: Ranges | None) -> tuple[float, str]:
    """The market's convention, else the data-free rule (from the columns' declared
    `ranges` when a table declares them), and the words saying which."""
    from engine.privacy.public import dimension_gamma, market_gamma, range_gamma

    rule = (None if kind == "image" else range_gamma(*ranges) if ranges is not None
            else dimension_gamma(dim, unit_norm=kind == "text"))
    asked = ("your node knows no spec in " + space if market is not None
             else "no node answered for the market's convention")
    chosen = market_gamma(market or {}, rule)
    if chosen is not None:
        assert market is not None
        return chosen, (f"the market's convention ({int(market[chosen])} of the "
                        f"{sum(int(c) for c in market.values())} spec(s) in {space} your "
                        "node knows use it)")
    if rule is not None and ranges is not None:
        return rule, (f"the data-free rule for the {dim} columns' declared ranges, "
                      "2^round(log2(1/s)) with s the sum of (high - low)^2 / 12, as "
                      f"{asked}")
    if rule is not None:
        return rule, ("the data-free rule for unit-norm vectors, 2^round(log2(1))"
                      if kind == "text" else f"the data-free rule for {dim} standardised "
                      f"columns, 2^round(log2(1/{dim})), as {asked}")
    raise InputError(f"{name('gamma')}: no public rule for {space}: {asked} and image "
                     f"features have no data-free rule; pass {name('gamma')} G (a "
                     "number you choose without reading the images)")


def _public_bounds(kind: str, dim: int, declared: InputSpec | None, per_column: Ranges | None,
                   missing: str | None, declared_in: str | None, name: Name, *,
                   gamma: float, source: str) -> tuple[Any, str]:
    """Bounds no row chose, and the words saying which rule chose them: the columns'
    declared ranges (tables, `_declared_ranges`), the unit-norm range (text); else
    what to pass."""
    from engine.privacy.public import UNIT_NORM_BOUNDS, power_of_two

    if kind == "text":
        return UNIT_NORM_BOUNDS, ("bounds -1,1 (public): every coordinate of a unit-norm "
                                  "embedding lies in them")
    where = declared_in or "the semantic spec"
    needs = f"{name('bounds')}: differential privacy ({name('epsilon')}) needs"
    if missing is not None:
        raise InputError(f"{needs} the range of every column; in {where}, {missing}: give "
                         f"each a range = [LOW, HIGH], or pass {name('bounds')}=LOW,HIGH "
                         "for all")
    if per_column is not None and len(per_column[0]) == dim:
        return per_column, (f"bounds per column (public): the ranges {where} declares for "
                            f"its {dim} columns ({_shown_ranges(declared)}); "
                            f"{name('bounds')}=LOW,HIGH sets one range for all")
    per_column_hint = (f" or, per column, range = [LOW, HIGH] beside each in "
                       f"[input.columns] of {declared_in}" if kind == "table" and declared_in
                       else "")
    suggest = (f"; {name('gamma')} can stay out: {power_of_two(gamma)}, {source}"
               if source else "")
    raise InputError(f"{needs} the range your {dim} columns can take, as "
                     f"{name('bounds')}=LOW,HIGH (e.g. -3,3 for standardised columns, 0,1 "
                     f"for pixels){per_column_hint}: what the columns are, stated by you, not "
                     f"read from the rows (that would spend privacy){suggest}")


def _shown_ranges(declared: InputSpec | None, at_most: int = 3) -> str:
    """"age 0..120, income 0..1e+06, ... (12 in all)": the first declared ranges."""
    assert declared is not None
    shown = [f"{f.name} {f.range[0]:g}..{f.range[1]:g}" for f in declared.features[:at_most]
             if f.range is not None]
    more = len(declared.features) - at_most
    return ", ".join(shown) + (f", ... ({len(declared.features)} in all)" if more > 0 else "")


def _given(value: object) -> bool:
    return value is not None and str(value).strip() != ""


def _number(value: float | str | None, field: str, name: Name) -> float | None:
    if not _given(value):
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except ValueError:
        raise InputError(f"{name(field)}: expected a number, got {str(value)[:40]!r}"
                         ) from None


def _bounds(text: str, name: Name) -> tuple[float, float]:
    from engine.privacy.dp import check_bounds

    try:
        low, high = (float(v) for v in text.split(","))
    except ValueError:
        raise InputError(f"{name('bounds')}: expected LOW,HIGH, got {text[:40]!r}") from None
    try:
        check_bounds((low, high), 1)
    except SpecError as exc:  # "bounds: need finite low < high ..."
        raise InputError(str(exc).replace("bounds", name("bounds"), 1)) from None
    return low, high


def privacy_note(spec: RKMESpec) -> str:
    """What `spec` reveals of the rows, in one clause, read from its signed record (so
    it is true of what is sent): the command line prints it, the page shows it."""
    record = getattr(spec, "privacy_", None) or {}
    if record.get("mechanism") == "gaussian-rff":
        return (f"differentially private at epsilon {record['epsilon']:g}, delta "
                f"{record['delta']:g}: synthetic points fitted to a noisy random-feature mean")
    if spec.min_rows_per_point <= 1:
        return "NOT private: its points may be rows"
    return (f"no row is in it: each point stands for at least {spec.min_rows_per_point} rows; "
            f"peers see the row count only as ~{spec.n_samples_}")
