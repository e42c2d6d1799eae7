"""The seam between a node's service and its peers: `PeerLayer`, and `NoPeers`.

The service talks to the network only through this interface, so a node runs
alone today (`NoPeers`) and joins a dock network when federation (spec gossip,
anti-entropy, routed search, built on `lwnode.federation.p2p.PeerNetwork`) implements it:

- `start(service)` gets the service to call back into: `service.receive_record`
  for each gossiped or synced envelope, `service.search_local` to answer a peer's
  routed query, `service.store` for digests and sync pages.
- `announce(envelope, summary)` gossips an own announcement (and its signed
  summary, schema 1.3) or tombstone after it is stored (best-effort: anti-entropy
  repairs what gossip loses, so failures are logged, never returned to the
  publisher).
- `fetch_specs(wanted, timeout)` asks owners and peers for full specs by content id (those of
  learnwares the node knows only by summary); the service checks and caches them.
- `search(query, local)` routes a user's query to peers while `local` (this
  node's own answer, already running) completes, and merges the answers (marking
  the result partial when peers miss the deadline).
- `peers()`, `multiaddrs()` and `counters()` feed ``/v1/peers`` and ``/v1/health``;
  `problems()` names the parts that are down (``/v1/health`` then answers 503).
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from lwnode.node.searchtypes import SearchAnswer, SearchQuery

Service = TypeVar("Service")
"""The service a layer calls back into (`NodeService`); a type parameter so this
seam, which the service imports, never imports the service."""


@dataclass(frozen=True)
class PeerInfo:
    """One peer as ``/v1/peers`` shows it."""

    node_id: str
    connected: bool
    organization: str = ""
    http_url: str = ""
    multiaddrs: tuple[str, ...] = ()
    last_seen: float | None = None
    records_accepted: int = 0
    """Records from this peer (gossip, sync, search answers) admitted to the store."""
    records_rejected: int = 0
    """Records from this peer refused (bad signature, untrusted, spec mismatch, replay)."""


class PeerLayer(abc.ABC, Generic[Service]):
    """What the service needs from the network (see the module doc)."""

    enabled: bool = True

    @abc.abstractmethod
    async def start(self, service: Service) -> None: ...

    @abc.abstractmethod
    async def stop(self) -> None: ...

    @abc.abstractmethod
    async def announce(self, envelope: bytes, summary: bytes | None = None) -> None: ...

    async def fetch_specs(self, wanted: dict[str, tuple[str, ...]], timeout: float, *,
                          dial_owners: bool = True, sources: Mapping[str, str] | None = None
                          ) -> dict[str, bytes]:
        """Encoded full specs by content id from peers (`wanted`: id -> the owners that
        offer it, asked first; `dial_owners`: also owners not connected, at the addresses
        in their summaries of the learnwares `sources` names: spec id -> learnware id);
        ids not found within `timeout` seconds are left out."""
        return {}

    def own_addrs(self) -> tuple[str, ...]:
        """This node's p2p multiaddrs for its signed summaries (schema 1.5), each with
        its peer id; empty when it has none to give."""
        return ()

    @abc.abstractmethod
    async def search(self, query: SearchQuery, local: Awaitable[SearchAnswer]
                     ) -> SearchAnswer: ...

    @abc.abstractmethod
    async def peers(self) -> list[PeerInfo]: ...

    @abc.abstractmethod
    def multiaddrs(self) -> tuple[str, ...]: ...

    @abc.abstractmethod
    def counters(self) -> dict[str, int]: ...

    def problems(self) -> dict[str, str]:
        """Parts of the layer that are down now, with why (empty: all working)."""
        return {}


class NoPeers(PeerLayer[Any]):
    """A node on its own: nothing is sent, searches answer from the local catalog."""

    enabled = False

    def __init__(self) -> None:
        self.announced: list[bytes] = []

    async def start(self, service: Any) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def announce(self, envelope: bytes, summary: bytes | None = None) -> None:
        # Kept (not sent) so a node started alone can be inspected; bounded.
        self.announced = [*self.announced[-99:], envelope]

    async def search(self, query: SearchQuery, local: Awaitable[SearchAnswer]
                     ) -> SearchAnswer:
        return await local

    async def peers(self) -> list[PeerInfo]:
        return []

    def multiaddrs(self) -> tuple[str, ...]:
        return ()

    def counters(self) -> dict[str, int]:
        return {}
