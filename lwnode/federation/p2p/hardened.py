"""Work-arounds for py-libp2p 0.8.1 faults that let one peer end the whole peer layer.

py-libp2p runs every inbound stream's handler in the connection's nursery; an
exception a handler does not catch ends that nursery, the swarm service and with it
the node's trio thread (issue 14, finding 1). Its pubsub reader is such a handler:
``Pubsub.continuously_read_stream`` calls ``RPC.ParseFromString`` on whatever a peer
sends and catches only stream and size errors, so one varint-prefixed frame of 20
bytes ``0xff`` on ``/meshsub/1.1.0`` raised protobuf's ``DecodeError`` and stopped
search, ``/v1/peers``, announcing and dial-in on the node.

Two layers of defence, both reporting to the network's `on_fault` (which counts the
fault against the sending peer and bans it after repeats, `lwnode.federation.p2p.faults`):

- `HardenedPubsub` catches any error of one pubsub stream's reader: that stream is
  reset and pubsub forgets it (it re-opens its own stream if the peer stays
  connected), as py-libp2p already does for stream errors;
- `guard_stream_handler` wraps the swarm's one entry point for inbound streams
  (protocol negotiation, then the protocol's handler), so an uncaught error of
  *any* handler (identify, ping, pubsub, ours) resets that stream and never
  reaches the connection's nursery.

Only ``Exception`` is caught: trio's ``Cancelled`` (a ``BaseException``) must pass
for the layer to stop.

A third fault is py-libp2p's own, between honest nodes: pubsub writes each RPC with
one ``stream.write``, but the yamux stream sends a large write in chunks as its send
window allows, taking its lock per chunk, not per write. Two tasks writing to one
peer's pubsub stream at once (relaying a message while the heartbeat sends control
messages) interleave their chunks, and the peer reads garbage: the soak benchmark
saw two honest nodes relaying 240 KB announcements under load fault — and ban — each
other with ``DecodeError``. `HardenedPubsub.write_msg` therefore writes one RPC at a
time per stream.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Awaitable, Callable

import trio
from libp2p.abc import INetStream
from libp2p.peer.id import ID
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.pubsub import Pubsub

log = logging.getLogger(__name__)

FaultHook = Callable[[ID, str, BaseException], None]
"""``on_fault(peer_id, where, error)``: called in the trio thread for each fault."""


def _ignore(peer_id: ID, where: str, exc: BaseException) -> None:
    return None


async def reset_quietly(stream: INetStream) -> None:
    """Reset a stream without raising or waiting more than a second."""
    with trio.CancelScope(shield=True), trio.move_on_after(1.0):
        try:
            await stream.reset()
        except Exception:
            pass


def _peer_of(stream: INetStream) -> ID | None:
    try:
        peer_id = stream.muxed_conn.peer_id
    except Exception:
        return None
    return peer_id if isinstance(peer_id, ID) else None


class HardenedPubsub(Pubsub):
    """`Pubsub` whose stream reader survives any malformed input (see the module doc)."""

    on_fault: FaultHook = staticmethod(_ignore)

    async def write_msg(self, stream: INetStream, rpc_msg: rpc_pb2.RPC) -> bool:
        """One RPC at a time per stream (see the module doc: yamux interleaves writes)."""
        locks: weakref.WeakKeyDictionary[INetStream, trio.Lock] = self.__dict__.setdefault(
            "_write_locks", weakref.WeakKeyDictionary())
        lock = locks.get(stream)
        if lock is None:
            lock = locks[stream] = trio.Lock()
        async with lock:
            return await super().write_msg(stream, rpc_msg)

    async def stream_handler(self, stream: INetStream) -> None:
        try:
            await super().stream_handler(stream)
        except Exception as exc:  # DecodeError, a bad control message, ...: the peer's
            peer_id = _peer_of(stream)
            await reset_quietly(stream)
            if peer_id is not None:
                try:
                    self._handle_dead_peer(peer_id)
                except Exception:  # best-effort clean-up of pubsub's own state
                    log.debug("pubsub clean-up after a fault of %s failed", peer_id,
                              exc_info=True)
                self.on_fault(peer_id, "pubsub", exc)


def guard_stream_handler(handler: Callable[[INetStream], Awaitable[None]],
                         on_fault: FaultHook) -> Callable[[INetStream], Awaitable[None]]:
    """`handler` (the swarm's inbound-stream entry point) that never raises an
    ``Exception``: a failing stream is reset and reported to `on_fault`."""

    async def guarded(stream: INetStream) -> None:
        try:
            await handler(stream)
        except Exception as exc:
            await reset_quietly(stream)
            peer_id = _peer_of(stream)
            if peer_id is not None:
                on_fault(peer_id, "stream", exc)
            else:
                log.info("inbound stream failed before its peer was known: %s: %s",
                         type(exc).__name__, exc)

    return guarded
