"""Which peer is asked for which full spec: the owners first, connected or not.

A node that keeps summaries ranks its sketch shortlist exactly on the candidates' full
specs, fetched by content id (`Federation.fetch_specs`). A connected owner is asked over
its link; the others were reached only through a relay tree (`SPEC_RELAYS` peers wide,
ttl 2), which brought 3 % of a shortlist's specs at 1,000 nodes (docs/scale.md). Here
up to ``[p2p] spec_owner_dials`` owners the node is not connected to, those of the best-ranked
candidates first, are asked directly over a short-lived connection each
(`PeerNetwork.request_direct`: not kept, not a gossip link), all at once, within the
fetch's time (a dial and its request take about three round trips: most of a 1 s budget
on links of 150 ms); the ids of an owner that cannot be reached (refused: nothing
listens there) go to the relays with the time left, and so do the ids of owners beyond
the bound, at once. Only a node's own user's search dials owners: a peer's routed
search is ranked at its asker, which dials them itself.

What comes back is checked as any fetched spec: kept only if its content id is one asked
for (the id is in the owner's signed summary), so an owner cannot pass off a spec its
summary does not name. No new message: an owner gets the `spec_request` (ttl 0) a
connected peer would send it.

An owner is dialled where the peer layer knows it listens (met before) or, never met,
at the addresses of its signed summary (schema 1.5, `protocol.owneraddrs`: each names
the owner's own peer id) that this node may dial (`NodeService.owner_addrs`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

from lwnode.federation.p2p.faults import Holds


@dataclass
class SpecPlan:
    """Spec ids by whom they are asked of (each list in the order the ids were wanted)."""

    linked: dict[str, list[str]] = field(default_factory=dict)
    """Connected owner -> ids, asked over the link."""
    dialled: dict[str, list[str]] = field(default_factory=dict)
    """Owner not connected -> ids, asked over a short-lived connection."""
    relayed: list[str] = field(default_factory=list)
    """Ids for the relays: no owner connected, and no dial left for one."""


def plan_fetch(wanted: Mapping[str, tuple[str, ...]], connected: Collection[str],
               dials: int, *, dialable: Callable[[str], bool] = lambda _: True) -> SpecPlan:
    """Split `wanted` (spec id -> its owners, best-ranked candidate first) by whom to ask:
    a connected owner; else an owner already dialled for an earlier id, or a new one
    while fewer than `dials` are; else the relays. Only `dialable` owners are dialled."""
    out = SpecPlan()
    for spec_id, owners in wanted.items():
        owner = next((o for o in owners if o in connected), None)
        if owner is not None:
            out.linked.setdefault(owner, []).append(spec_id)
            continue
        owner = next((o for o in owners if o in out.dialled), None)
        if owner is None and len(out.dialled) < dials:
            owner = next((o for o in owners if dialable(o)), None)
        if owner is not None:
            out.dialled.setdefault(owner, []).append(spec_id)
        else:
            out.relayed.append(spec_id)
    return out


UNREACHABLE_FOR = 300.0
"""Seconds an owner whose dial failed is not dialled again (its ids go to the relays at
once): an owner offline is not waited for search after search, and addresses a hostile
owner signs (any public host, `protocol.owneraddrs`) draw one attempt per node in that
time, not one per search."""
UNREACHABLE_KEPT = 4096
"""Owners remembered as unreachable at most (the oldest mark goes first)."""


class UnreachableOwners:
    """Owners not to dial until their mark expires; `now` is the caller's clock."""

    def __init__(self, hold: float = UNREACHABLE_FOR, kept: int = UNREACHABLE_KEPT) -> None:
        self.hold = hold
        self._marks = Holds(kept)  # the oldest mark goes first

    def mark(self, owner: str, now: float) -> None:
        self._marks.hold(owner, now + self.hold)

    def dialable(self, owner: str, now: float) -> bool:
        return not self._marks.held(owner, now)
