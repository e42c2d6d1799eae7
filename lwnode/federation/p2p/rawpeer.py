"""A hostile libp2p peer for the tests and the soak benchmark: writes whatever bytes it likes.

`RawPeer` is a real py-libp2p host (a `Libp2pNetwork` with its own trio thread and
Ed25519 identity, so the node accepts its connection) that opens streams on any
protocol id and writes raw bytes on them, or holds them open without a word: the
attacks of issue 14 (a malformed GossipSub frame, half-open request streams).
"""

from __future__ import annotations

import os
from typing import Any

from lwnode.federation.p2p.libp2p_network import Libp2pNetwork

MESHSUB = "/meshsub/1.1.0"


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


MALFORMED_RPC = varint(20) + b"\xff" * 20
"""One varint-prefixed frame that is not a protobuf ``RPC`` (issue 14, finding 1)."""


class RawPeer:
    """A peer that sends raw bytes (see the module doc); an async context manager."""

    def __init__(self, key: bytes | None = None) -> None:
        self.network = Libp2pNetwork(key or os.urandom(32))
        self._held: list[Any] = []

    @property
    def node_id(self) -> str:
        return self.network.node_id

    async def __aenter__(self) -> RawPeer:
        await self.network.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.network.stop()

    async def connect(self, addr: str) -> str:
        return await self.network.connect(addr, keep=False, timeout=5)

    async def send(self, peer: str, protocol_id: str, data: bytes) -> None:
        """Open a stream on `protocol_id`, write `data`, keep the stream open."""
        await self.hold(peer, protocol_id, 1, data)

    async def hold(self, peer: str, protocol_id: str, n: int, data: bytes = b"") -> int:
        """Open `n` streams on `protocol_id` (writing `data` on each) and keep them open;
        returns how many were accepted (protocol negotiated)."""
        net = self.network

        async def opener() -> int:
            import trio
            from libp2p.custom_types import TProtocol

            assert net._host is not None
            record = net._peers[peer]
            opened = 0
            for _ in range(n):
                try:
                    with trio.fail_after(5):
                        stream = await net._host.new_stream(record.peer_id,
                                                            [TProtocol(protocol_id)])
                        if data:
                            await stream.write(data)
                except Exception:  # refused (reset) or timed out: try the next one
                    continue
                self._held.append(stream)
                opened += 1
            return opened

        return await net._bridge.call(opener)
