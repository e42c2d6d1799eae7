"""Announcement rates, quotas and stray withdrawals in the intake (issue 14, findings 8, 14).

`lwnode.federation.intake.admit` runs against a real SQLite store (in memory) with real signed
records; the clock is the `now` argument, so every rate is checked exactly.
"""

from __future__ import annotations

import hashlib

import pytest
from lwtesting import announcement_row, tiny_semantic, tiny_spec, withdrawal_row

from lwnode.config import TrustSection
from lwnode.federation.intake import GOSSIP, SEARCH, SYNC, Checked, admit, check_envelopes
from lwnode.federation.quotas import AnnouncementQuotas, QuotaSettings, TokenBuckets
from lwnode.federation.trust import TrustPolicy
from lwnode.node.store.sqlite import MemoryStore
from protocol.signing import Identity

ME = Identity.from_seed(b"\x01" * 32)
T0 = 1_800_000_000_000  # ms


def ident(name: str) -> Identity:
    return Identity.from_seed(hashlib.sha256(name.encode()).digest())


def lid(i: int) -> str:
    return "sha256:" + hashlib.sha256(f"lw {i}".encode()).hexdigest()


def ann(identity: Identity, i: int, sequence: int = 1):
    return announcement_row(identity, lid(i), sequence, spec=tiny_spec(i),
                            semantic=tiny_semantic(f"model {i}"),
                            organization=f"org {identity.node_id[:8]}")


def checked(*rows) -> list[Checked]:
    out = check_envelopes([r.envelope for r in rows])
    assert all(isinstance(c, Checked) for c in out)
    return out  # type: ignore[return-value]


@pytest.fixture
def store():
    s = MemoryStore()
    yield s
    s.close()


POLICY = TrustPolicy.from_config(TrustSection(), ME.node_id)


def outcomes(store, rows, *, via=GOSSIP, quotas=None, peer="lwn1peer", now=T0) -> list[str]:
    return [v.outcome for v in admit(store, checked(*rows), POLICY, via=via, now=now,
                                     quotas=quotas, peer=peer)]


def test_a_withdrawal_of_an_id_never_announced_is_not_stored_by_gossip(store):
    owner = ident("owner")
    stray = withdrawal_row(owner, lid(1), 2)
    assert outcomes(store, [stray]) == ["stray"]
    assert outcomes(store, [stray], via=SEARCH) == ["stray"]
    assert store.get_record(owner.node_id, lid(1)) is None
    assert store.counts().withdrawals == 0
    # the control: a withdrawal of an announcement held is stored
    assert outcomes(store, [ann(owner, 2), withdrawal_row(owner, lid(2), 2)]) == \
        ["accepted", "accepted"]
    assert store.get_record(owner.node_id, lid(2)).kind == "withdrawal"


def test_by_sync_a_stray_withdrawal_is_kept_within_the_owner_quota(store):
    """Digests must converge (the peer holds it), but the owner's quota bounds them."""
    owner = ident("owner")
    quotas = AnnouncementQuotas(QuotaSettings(max_records_per_owner=2))
    rows = [withdrawal_row(owner, lid(i), 2) for i in range(3)]
    assert outcomes(store, rows, via=SYNC, quotas=quotas) == \
        ["accepted", "accepted", "over_quota"]


def test_an_owner_gets_at_most_its_quota_of_learnwares_by_any_route(store):
    owner = ident("prolific")
    quotas = AnnouncementQuotas(QuotaSettings(max_records_per_owner=3))
    assert outcomes(store, [ann(owner, i) for i in range(3)], quotas=quotas) == \
        ["accepted"] * 3
    assert outcomes(store, [ann(owner, 3)], via=SYNC, quotas=quotas) == ["over_quota"]
    assert outcomes(store, [ann(owner, 4)], quotas=quotas) == ["over_quota"]
    # a newer record of a learnware it holds is no new learnware: still taken
    assert outcomes(store, [withdrawal_row(owner, lid(0), 2)], quotas=quotas) == ["accepted"]
    assert len(store.owner_sequences(owner.node_id)) == 3


def test_one_peer_brings_new_owners_at_a_bounded_rate_by_any_route(store):
    quotas = AnnouncementQuotas(QuotaSettings(new_owners_burst=2, new_owners_per_minute=1.0))
    fresh = [ident(f"sybil {i}") for i in range(4)]
    rows = [ann(f, i) for i, f in enumerate(fresh[:3])]
    assert outcomes(store, rows, quotas=quotas, peer="evil") == \
        ["accepted", "accepted", "rate_limited"]
    # an owner it already brought is no new owner; another peer has its own allowance
    assert outcomes(store, [ann(fresh[0], 10)], quotas=quotas, peer="evil") == ["accepted"]
    assert outcomes(store, [ann(fresh[3], 11)], via=SYNC, quotas=quotas, peer="honest") == \
        ["accepted"]
    # a minute later, one more
    assert outcomes(store, [ann(fresh[2], 2)], quotas=quotas, peer="evil",
                    now=T0 + 60_000) == ["accepted"]


def test_an_owner_announcing_faster_than_its_rate_is_refused_by_gossip_not_by_sync(store):
    owner = ident("hasty")
    quotas = AnnouncementQuotas(QuotaSettings(owner_burst=2, owner_rate=0.5))
    assert outcomes(store, [ann(owner, i) for i in range(3)], quotas=quotas) == \
        ["accepted", "accepted", "rate_limited"]
    assert outcomes(store, [ann(owner, 2)], via=SYNC, quotas=quotas) == ["accepted"]
    assert outcomes(store, [ann(owner, 3)], quotas=quotas, now=T0 + 2000) == ["accepted"]


def test_token_buckets_refill_at_their_rate_up_to_the_burst():
    buckets = TokenBuckets(rate=2.0, burst=3)
    assert [buckets.take("k", 0.0) for _ in range(4)] == [True, True, True, False]
    assert buckets.take("k", 0.5) and not buckets.take("k", 0.5)
    assert [buckets.take("k", 100.0) for _ in range(4)] == [True, True, True, False]
    assert buckets.take("other", 0.0)
