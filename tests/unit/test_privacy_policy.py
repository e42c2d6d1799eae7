"""[privacy]: a node refuses peers' announcements below its policy, by their signed
record, and counts the refusals like any other (``rejected_below_privacy``)."""

from __future__ import annotations

import hashlib
from types import SimpleNamespace

import numpy as np
import pytest
from lwtesting import announcement_row

from engine.specification import RKMETableSpec
from lwnode.config import NodeConfig, PrivacySection, load_config
from lwnode.federation.intake import Checked, Intake, check_envelopes
from lwnode.federation.trust import TrustPolicy
from lwnode.node.catalog import NodeCatalog
from protocol.signing import Identity

ROWS = np.random.default_rng(0).normal(size=(400, 3))
OWNER = Identity.from_seed(hashlib.sha256(b"owner").digest())
DP = {"gamma": 0.5, "bounds": (-4, 4), "delta": 1e-5, "n_points": 10}


def announced(spec: RKMETableSpec, i: int) -> Checked:
    row = announcement_row(OWNER, "sha256:" + hashlib.sha256(bytes([i])).hexdigest(), i + 1,
                           spec=spec)
    (out,) = check_envelopes([row.envelope])
    assert isinstance(out, Checked)
    return out


@pytest.fixture(scope="module")
def records() -> dict[str, Checked]:
    return {
        "none": announced(RKMETableSpec(min_rows_per_point=1, n_points=10).fit(ROWS), 0),
        "m10": announced(RKMETableSpec(random_state=0).fit(ROWS), 1),
        "dp1": announced(RKMETableSpec(epsilon=1.0, random_state=0, **DP).fit(ROWS), 2),
        "dp8": announced(RKMETableSpec(epsilon=8.0, random_state=0, **DP).fit(ROWS), 3)}


def outcomes(records, **policy) -> dict[str, str]:
    config = NodeConfig(privacy=PrivacySection(**policy))
    # _within_budget reads only the config and the catalog (can it index a summary?)
    intake = Intake(SimpleNamespace(config=config, catalog=NodeCatalog()),
                    TrustPolicy.from_config(config.trust, "lwn1me"))
    names = list(records)
    got = intake._within_budget([records[n] for n in names])
    return {n: "kept" if isinstance(g, Checked) else g.outcome
            for n, g in zip(names, got, strict=True)}


def test_the_default_policy_takes_every_record(records):
    assert set(outcomes(records).values()) == {"kept"}


def test_a_minimum_of_rows_per_point_refuses_the_non_private_fit(records):
    assert outcomes(records, min_rows_per_point=10) == {
        "none": "below_privacy", "m10": "kept", "dp1": "kept", "dp8": "kept"}
    assert outcomes(records, min_rows_per_point=11)["m10"] == "below_privacy"


def test_require_dp_and_max_epsilon(records):
    assert outcomes(records, require_dp=True, max_epsilon=2.0) == {
        "none": "below_privacy", "m10": "below_privacy", "dp1": "kept", "dp8": "below_privacy"}


def test_the_refusal_is_a_counted_reason_and_a_documented_setting(tmp_path):
    from lwnode.federation.intake import REJECTIONS

    assert "below_privacy" in REJECTIONS
    path = tmp_path / "node.toml"
    path.write_text("[privacy]\nmin_rows_per_point = 10\nrequire_dp = true\n")
    config = load_config(path)
    assert config.privacy.min_rows_per_point == 10 and config.privacy.require_dp
