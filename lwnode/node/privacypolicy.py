"""The node's `[privacy]` policy: which peers' specs it takes, by their signed record.

A spec's `privacy` record (`engine.privacy.record`) is its owner's signed statement
of how its points were made. A node that must not hold specs made less privately
than it requires refuses such announcements at intake, like any other refusal: the
reason ``below_privacy`` is counted (``rejected_below_privacy`` in /v1/health) and
logged. A spec without a record states nothing and counts as ``"none"``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.specification.rkme import RKMESpec
    from lwnode.config import PrivacySection
    from lwnode.node.records import Offer

BELOW_PRIVACY = "below_privacy"


def spec_refusal(spec: RKMESpec, settings: PrivacySection) -> str | None:
    """Why `spec` falls short of the policy, or None when it meets it."""
    return record_refusal(getattr(spec, "privacy_", None), settings)


def record_refusal(privacy: dict[str, Any] | None, settings: PrivacySection) -> str | None:
    """Why a spec with this signed `privacy` record (None: no record) falls short."""
    record = privacy or {"mechanism": "none", "min_rows_per_point": 1}
    dp = record["mechanism"] == "gaussian-rff"
    if settings.require_dp and not dp:
        return (f"[privacy] require_dp: the spec is {record['mechanism']!r}, not differentially "
                "private")
    if dp and settings.max_epsilon and record["epsilon"] > settings.max_epsilon:
        return (f"[privacy] max_epsilon {settings.max_epsilon:g}: the spec states epsilon "
                f"{record['epsilon']:g}")
    if not dp and record["min_rows_per_point"] < settings.min_rows_per_point:
        return (f"[privacy] min_rows_per_point {settings.min_rows_per_point}: the spec states "
                f"{record['min_rows_per_point']} ({record['mechanism']!r})")
    return None


def routing_refusal(spec: RKMESpec | None, settings: PrivacySection) -> str | None:
    """Why a user's requirement must not leave for peers, or None (``require_dp_requirements``)."""
    if not settings.require_dp_requirements or spec is None:
        return None
    record = getattr(spec, "privacy_", None) or {}
    if record.get("mechanism") == "gaussian-rff":
        return None
    return ("[privacy] require_dp_requirements: the requirement's spec is not differentially "
            "private (make it with --epsilon)")


def announcement_refusal(record: Offer, settings: PrivacySection) -> str | None:
    """The first statistical spec's refusal, naming which, or None (a summary states
    each spec's privacy record beside its id)."""
    from protocol.messages import SpecSummary

    records = ([ref.privacy for ref in record.specs] if isinstance(record, SpecSummary)
               else [getattr(s, "privacy_", None) for s in record.statistical])
    for i, privacy in enumerate(records):
        why = record_refusal(privacy, settings)
        if why is not None:
            return f"statistical[{i}]: {why}"
    return None
