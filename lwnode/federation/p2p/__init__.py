"""The peer layer: the only code of the project that imports libp2p or trio.

=====================  ==========================================================
module                 what it holds
=====================  ==========================================================
`base`                 `PeerNetwork` (the interface federation uses), `PeerStatus`,
                       `GossipMessage`, `P2PSettings`
`errors`               `PeerError` and its subclasses (timeout, unreachable, ...)
`schedule`             pure timing rules: `Pacer` (publication pacing), `Backoff`
`faults`               pure fault book-keeping: `FaultBook` (faults -> bans), `LogBudget`
`hardened`             work-arounds for py-libp2p faults a peer could trigger
                       (`HardenedPubsub`, `guard_stream_handler`)
`memory`               `InProcessNetwork` on an `InProcessHub` (unit tests; faults)
`libp2p_network`       `Libp2pNetwork`: py-libp2p host (TCP, Noise, yamux, GossipSub)
`trio_bridge`          `TrioThread`: one trio loop in a thread, bridged to asyncio
`conformance`          the contract checks both implementations pass
`rawpeer`              `RawPeer`: a hostile peer writing raw bytes on any protocol
                       (the tests' and the soak benchmark's attacker)
=====================  ==========================================================

Importing this package does not import libp2p or trio (about 0.7 s and 100 MB):
``from lwnode.federation.p2p.libp2p_network import Libp2pNetwork`` does, when a node starts.
See docs/p2p.md for the design and the py-libp2p settings it depends on.
"""

from lwnode.federation.p2p.base import (
    GossipMessage,
    P2PSettings,
    PeerNetwork,
    PeerStatus,
    RequestHandler,
)
from lwnode.federation.p2p.errors import (
    Busy,
    FrameTooLarge,
    NetworkClosed,
    PeerError,
    PeerTimeout,
    PeerUnreachable,
    ProtocolNotSupported,
)
from lwnode.federation.p2p.memory import InProcessHub, InProcessNetwork

__all__ = [
    "Busy",
    "FrameTooLarge",
    "GossipMessage",
    "InProcessHub",
    "InProcessNetwork",
    "NetworkClosed",
    "P2PSettings",
    "PeerError",
    "PeerNetwork",
    "PeerStatus",
    "PeerTimeout",
    "PeerUnreachable",
    "ProtocolNotSupported",
    "RequestHandler",
]
