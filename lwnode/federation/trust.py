"""Whose signed records a node accepts: `TrustPolicy` (``[trust]`` in the config).

A signature proves only that a record's owner holds the key its node id is derived
from; which owners to believe is a policy. Two are offered:

- **tofu** (trust on first use, the default): any owner whose signature verifies,
  but an organization *name* belongs to the first key seen announcing under it. The
  pin is kept in the store (``pins``); another key claiming a pinned name is
  refused, so a newcomer cannot pass itself off as a known organization. The node's
  own name is pinned to its own key at start.
- **allowlist**: only the owners listed in ``[trust] allow`` (node ids, or Ed25519
  public keys as 64 hex digits). The node itself is always trusted. A closed
  consortium also keeps its queries among members: such a node sends search
  requests and sync pulls only to listed peers, and answers only theirs
  (`talks_to`); gossip, being signed public announcements, still flows.

Node ids are derived from the public key (``protocol.node_id``), so a key cannot
change under a node id: pinning the key of an *owner* would add nothing, pinning
the key behind a *name* does.

`decide` is pure; the caller (`lwnode.federation.intake`) loads and writes the pins.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from lwnode.config import TrustSection
from lwnode.errors import ConfigError
from lwnode.node.store.base import Pin
from protocol.errors import ProtocolError
from protocol.messages import SpecAnnouncement, SpecSummary, Withdrawal
from protocol.node_id import check_node_id, node_id_from_public_key

_HEX_KEY = re.compile(r"[0-9a-fA-F]{64}")


def owner_of_entry(entry: str, where: str) -> str:
    """A node id from an allowlist entry: a node id or a 64-hex Ed25519 public key."""
    text = entry.strip()
    if _HEX_KEY.fullmatch(text):
        return node_id_from_public_key(bytes.fromhex(text))
    try:
        return check_node_id(text, where)
    except ProtocolError as exc:
        raise ConfigError(f"{exc}, nor an Ed25519 public key (64 hex digits)") from None


@dataclass(frozen=True)
class TrustPolicy:
    """Decides whether an owner's verified record is believed (see the module doc)."""

    mode: Literal["tofu", "allowlist"]
    allowed: frozenset[str]
    node_id: str

    @classmethod
    def from_config(cls, section: TrustSection, node_id: str) -> TrustPolicy:
        allowed = frozenset(owner_of_entry(e, f"[trust] allow[{i}]")
                            for i, e in enumerate(section.allow))
        return cls(section.mode, allowed | {node_id}, node_id)

    def talks_to(self, peer: str) -> bool:
        """Does this node exchange requests (search, sync) with `peer`? Everyone under
        tofu; only the listed nodes under an allowlist (a user's requirement is not
        sent to, and the catalog not served to, nodes outside it)."""
        return self.mode != "allowlist" or peer in self.allowed

    def decide(self, record: SpecAnnouncement | SpecSummary | Withdrawal, public_key: bytes,
               pins: Mapping[str, Pin]) -> str | None:
        """None if `record` is trusted, else why not (for the log and the counters).

        `pins` maps organization names to their pins (those the store holds plus
        those this batch will add).
        """
        owner = record.owner
        if self.mode == "allowlist":
            if owner not in self.allowed:
                return f"owner {owner} is not in [trust] allow"
            return None
        if isinstance(record, (SpecAnnouncement, SpecSummary)):
            pin = pins.get(record.organization)
            if pin is not None and pin.owner != owner:
                return (f"organization {record.organization!r} is pinned to owner {pin.owner} "
                        f"(trust on first use); {owner} claims it")
        return None

    def new_pin(self, record: SpecAnnouncement | SpecSummary | Withdrawal, public_key: bytes,
                pins: Mapping[str, Pin], now: int) -> Pin | None:
        """The pin an accepted record creates (tofu, first use of its name), if any."""
        if self.mode != "tofu" or not isinstance(record, (SpecAnnouncement, SpecSummary)):
            return None
        if record.organization in pins:
            return None
        return Pin(record.organization, record.owner, public_key, now)
