"""Pure book-keeping of misbehaving peers: faults counted in a window, then a ban.

A peer that sends something the layer cannot parse (a malformed GossipSub frame, a
stream that never delivers its request) costs *that peer*, never the node: each
fault is counted, and `limit` faults within `window` seconds ban the peer for
`ban_seconds` (its connection is closed, new ones are dropped, it is not re-dialled).
The clock is an argument (no sleeping, no I/O), so the rules are unit-tested exactly.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field


class Holds:
    """Keys held until a time each (a ban, a "do not dial"); a hold is forgotten once
    looked at after it expired. At most `kept` are remembered (None: no bound), the
    oldest hold going first."""

    def __init__(self, kept: int | None = None) -> None:
        self.kept = kept
        self._until: dict[str, float] = {}

    def hold(self, key: str, until: float) -> None:
        self._until.pop(key, None)  # re-inserted last: the dict keeps holds in order
        self._until[key] = until
        while self.kept is not None and len(self._until) > self.kept:
            del self._until[next(iter(self._until))]

    def held(self, key: str, now: float) -> bool:
        until = self._until.get(key)
        if until is None:
            return False
        if now >= until:
            del self._until[key]
            return False
        return True

    def keys(self, now: float) -> list[str]:
        """The keys held at `now`, sorted."""
        return sorted(k for k in list(self._until) if self.held(k, now))


@dataclass
class FaultBook:
    """Faults per peer and the bans they earned (see the module doc)."""

    limit: int
    window: float
    ban_seconds: float
    totals: Counter[str] = field(default_factory=Counter)
    _recent: dict[str, deque[float]] = field(default_factory=dict)
    _bans: Holds = field(default_factory=Holds)

    def __post_init__(self) -> None:
        if self.limit < 1 or self.window <= 0 or self.ban_seconds <= 0:
            raise ValueError(f"FaultBook: limit {self.limit} must be >= 1, window "
                             f"{self.window} and ban_seconds {self.ban_seconds} > 0")

    def fault(self, peer: str, now: float) -> bool:
        """Count one fault of `peer` at `now`; True when it earns (or renews) a ban."""
        self.totals[peer] += 1
        recent = self._recent.setdefault(peer, deque())
        recent.append(now)
        while recent and recent[0] <= now - self.window:
            recent.popleft()
        if len(recent) >= self.limit:
            recent.clear()
            self._bans.hold(peer, now + self.ban_seconds)
            return True
        return False

    def banned(self, peer: str, now: float) -> bool:
        """True while `peer` serves a ban (expired bans are forgotten)."""
        return self._bans.held(peer, now)

    def bans(self, now: float) -> list[str]:
        """Peers banned at `now`."""
        return self._bans.keys(now)


@dataclass
class LogBudget:
    """At most one log line per key every `interval` seconds; the rest are counted.

    A dead bootstrap peer re-dialled every few seconds, or a peer sending garbage in a
    loop, must not flood the node's log (issue 14: 543 lines in 18 minutes).
    """

    interval: float
    _last: dict[str, float] = field(default_factory=dict)
    _skipped: Counter[str] = field(default_factory=Counter)

    def allow(self, key: str, now: float) -> tuple[bool, int]:
        """(log now?, lines skipped for `key` since the last one logged)."""
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            self._skipped[key] += 1
            return False, 0
        self._last[key] = now
        skipped = self._skipped.pop(key, 0)
        return True, skipped
