"""Pure timing rules of the peer layer: publication pacing and re-dial back-off.

Both take the clock as an argument (no sleeping, no I/O), so they are unit-tested
exactly and shared by every `PeerNetwork` implementation.
"""

from __future__ import annotations

from dataclasses import dataclass


class Pacer:
    """Generic cell rate algorithm: at most `rate` messages per second, bursts of `burst`.

    libp2p GossipSub queues 32 outbound messages per peer and drops the rest
    silently (docs/p2p.md); a node that publishes faster than its peers drain
    loses messages, so every publication first asks the pacer how long to wait.
    """

    def __init__(self, rate: float, burst: int) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"Pacer: rate {rate} must be > 0 and burst {burst} >= 1")
        self.interval = 1.0 / rate
        self.tolerance = self.interval * (burst - 1)
        self._tat: float | None = None  # theoretical arrival time of the next message

    def reserve(self, now: float) -> float:
        """Book the next slot; return how many seconds to wait before sending."""
        tat = now if self._tat is None else max(self._tat, now)
        wait = max(0.0, tat - self.tolerance - now)
        self._tat = tat + self.interval
        return wait


@dataclass
class Backoff:
    """Exponential back-off between re-dials of one peer, reset by a success.

    A restarted peer must be re-dialled within seconds (the federation target is
    reconnection within 5 s), so the ceiling is low: a dead peer on a LAN costs one
    refused TCP connection every `ceiling` seconds. A peer that stays unreachable
    for `slow_after` seconds (gone for good, or down for maintenance) is re-dialled
    every `slow_ceiling` seconds instead.
    """

    floor: float
    ceiling: float
    slow_ceiling: float = 0.0
    slow_after: float = 0.0
    delay: float = 0.0
    next_at: float = 0.0
    failing_since: float | None = None

    def due(self, now: float) -> bool:
        """True when a dial may be attempted at time `now`."""
        return now >= self.next_at

    def failed(self, now: float) -> None:
        """A dial failed at `now`: wait longer before the next one."""
        if self.failing_since is None:
            self.failing_since = now
        ceiling = self.ceiling
        if self.slow_ceiling > ceiling and now - self.failing_since >= self.slow_after:
            ceiling = self.slow_ceiling
        self.delay = self.floor if self.delay == 0 else min(self.delay * 2, ceiling)
        self.next_at = now + self.delay

    def succeeded(self) -> None:
        """Connected: the next loss is re-dialled at once."""
        self.delay = 0.0
        self.next_at = 0.0
        self.failing_since = None
