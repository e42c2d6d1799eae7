"""Announcement rates and quotas: how much one peer or one owner may put in our store.

Identities are free: 50 fresh keys x 40 announcements were all accepted in 22 s and
spread network-wide (issue 14, finding 8). GossipSub's own spam protection cannot
help (it also drops our own publications, docs/p2p.md), so the intake does its own
accounting, after the signature check (an owner named in a forged record must not
use up the honest owner's allowance):

============================  ==================================================
limit                         what it bounds
============================  ==================================================
``gossip_rate`` / ``_burst``  records per second one *sending peer* may push to us
                              by gossip and in search answers (token bucket)
``owner_rate`` / ``_burst``   new records per second of one *owner* by gossip and
                              search answers (an owner's burst of publications)
``new_owners_per_minute`` /   owners never seen before that one sending peer may
``new_owners_burst``          introduce, by any route (fresh identities)
``max_records_per_owner``     records (learnwares, withdrawn ones included) kept
                              for one owner, by any route
============================  ==================================================

Anti-entropy is a pull this node asks for, so only the owner quota and the
new-owner rate apply to it: a joining node must catch up at full speed. A refusal
is a ``rate_limited`` or ``over_quota`` verdict, counted like the other refusals;
gossip is lossy anyway, and a rate-limited record comes back by the next sync round
once the bucket has refilled. Everything here is pure: the clock is an argument.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TokenBuckets:
    """One token bucket per key: `rate` tokens a second, at most `burst` saved."""

    rate: float
    burst: float
    max_keys: int = 100_000
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def take(self, key: str, now: float, n: float = 1.0) -> bool:
        """Spend `n` tokens of `key` if it has them."""
        tokens, at = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        if tokens < n:
            self._buckets[key] = (tokens, now)
            return False
        self._buckets[key] = (tokens - n, now)
        if len(self._buckets) > self.max_keys:  # forget the fullest (an idle key is full)
            self._forget(now)
        return True

    def _forget(self, now: float) -> None:
        for key in [k for k, (t, at) in self._buckets.items()
                    if t + (now - at) * self.rate >= self.burst]:
            del self._buckets[key]


@dataclass(frozen=True)
class QuotaSettings:
    """The limits of the module doc (``[peer_limits]`` in the node's config)."""

    gossip_rate: float = 20.0
    gossip_burst: int = 400
    owner_rate: float = 1.0
    owner_burst: int = 200
    new_owners_per_minute: float = 2.0
    new_owners_burst: int = 20
    max_records_per_owner: int = 1000


class AnnouncementQuotas:
    """The buckets and the quota of one node's intake (used in the store thread)."""

    def __init__(self, settings: QuotaSettings | None = None) -> None:
        self.settings = s = settings or QuotaSettings()
        self._by_peer = TokenBuckets(s.gossip_rate, s.gossip_burst)
        self._by_owner = TokenBuckets(s.owner_rate, s.owner_burst)
        self._new_owners = TokenBuckets(s.new_owners_per_minute / 60.0, s.new_owners_burst)

    def peer_may_push(self, peer: str, now: float) -> bool:
        """One more record from `peer` by gossip or in a search answer."""
        return self._by_peer.take(peer, now)

    def owner_may_push(self, owner: str, now: float) -> bool:
        """One more new record of `owner` by gossip or in a search answer."""
        return self._by_owner.take(owner, now)

    def peer_may_introduce(self, peer: str, now: float) -> bool:
        """`peer` brings an owner this node holds nothing of."""
        return self._new_owners.take(peer, now)

    def owner_has_room(self, held: int) -> bool:
        """An owner holding `held` records here may get one more."""
        return held < self.settings.max_records_per_owner
