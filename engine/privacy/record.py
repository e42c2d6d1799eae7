"""The `privacy` record a spec carries: how it was made private, stated and signed.

A receiver cannot check from the points alone how a spec was made; the owner states
it, and the statement travels inside the spec map, so the owner's signature over the
announcement covers it (changing it breaks the signature). Keys, all present:

=======================  ===========================================================
``mechanism``            ``"group-means"`` (the default: every point stands for at
                         least m rows), ``"none"`` (the non-private fit: points may
                         be rows), or a differentially private mechanism's name
``min_rows_per_point``   m: no row weighs more than 1/m in any point (1 for "none")
``epsilon``, ``delta``   the (epsilon, delta) of a differentially private release,
                         else nil (group means are not differential privacy)
``library``              what implemented the mechanism (this engine, or the DP
                         library that drew the noise and did the accounting)
``version``              that library's version
=======================  ===========================================================

A spec without the record (written before it existed) states nothing: a receiver
must treat it as ``"none"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.errors import SpecError
from engine.params import Constraints, Interval, Options, check_params

MECHANISMS = ("none", "group-means", "gaussian-rff")
KEYS = ("delta", "epsilon", "library", "mechanism", "min_rows_per_point", "version")
LIBRARY = "lwdock"
_MAX_TEXT = 64

FIELD_CONSTRAINTS: Constraints = {
    "mechanism": [Options(MECHANISMS)],
    "min_rows_per_point": [Interval(int, 1, 1_000_000)],
    "epsilon": [Interval(float, 0, None, closed="neither"), None],
    "delta": [Interval(float, 0, 1, closed="neither"), None],
}
"""Each field alone (`engine.params`); how they go together is checked below."""


def engine_version() -> str:
    """This engine's installed version (the `library` version of its own mechanisms)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(LIBRARY)
    except PackageNotFoundError:
        return "0+unknown"


def privacy_record(mechanism: str, min_rows_per_point: int, *, epsilon: float | None = None,
                   delta: float | None = None, library: str = LIBRARY,
                   version: str | None = None) -> dict[str, Any]:
    """A validated record (see the module docstring)."""
    return check_privacy_record({
        "mechanism": mechanism, "min_rows_per_point": min_rows_per_point,
        "epsilon": None if epsilon is None else float(epsilon),
        "delta": None if delta is None else float(delta),
        "library": library, "version": engine_version() if version is None else version})


def check_privacy_record(value: object, where: str = "spec.privacy") -> dict[str, Any]:
    """Validate a record from any source (it may be hostile); return a clean copy."""
    if not isinstance(value, Mapping):
        raise SpecError(f"{where}: expected a mapping, got {type(value).__name__}")
    missing = sorted(set(KEYS) - set(value))
    unknown = sorted(set(map(str, value)) - set(KEYS))
    if missing or unknown:
        raise SpecError(f"{where}: missing field(s) {missing}, unknown field(s) {unknown}")
    check_params(value, FIELD_CONSTRAINTS, SpecError, where=f"{where}.")
    mechanism, m = value["mechanism"], value["min_rows_per_point"]
    if mechanism == "none" and m != 1:
        raise SpecError(f"{where}: mechanism 'none' states min_rows_per_point 1, got {m}")
    if mechanism == "group-means" and m < 2:
        raise SpecError(f"{where}: mechanism 'group-means' needs min_rows_per_point >= 2")
    epsilon, delta = (None if value[k] is None else float(value[k]) for k in ("epsilon", "delta"))
    dp = mechanism == "gaussian-rff"
    if (dp and (epsilon is None or delta is None)) or (
            not dp and (epsilon is not None or delta is not None)):
        raise SpecError(f"{where}: epsilon and delta are set exactly for a differentially "
                        f"private mechanism (got mechanism {mechanism!r}, epsilon {epsilon!r}, "
                        f"delta {delta!r})")
    for key in ("library", "version"):
        text = value[key]
        if not isinstance(text, str) or not 1 <= len(text) <= _MAX_TEXT:
            raise SpecError(f"{where}.{key}: expected a string of 1..{_MAX_TEXT} characters")
    return {"delta": delta, "epsilon": epsilon, "library": value["library"],
            "mechanism": mechanism, "min_rows_per_point": m, "version": value["version"]}
