"""`Libp2pNetwork`: the peer layer on real py-libp2p hosts (TCP, Noise, yamux, GossipSub).

py-libp2p 0.8.1 has defaults that silently drop messages, crash on start or accept
plaintext (docs/p2p.md has the measurements); each setting below is the fix for
one of them:

=========================================  ============================================
setting                                    trap it avoids
=========================================  ============================================
``sec_opt`` = Noise only                   default also offers TLS, SECIO and
                                           **plaintext**: a plaintext peer connected
``ConnectionConfig(max_connections_per_    250 ms "happy eyeballs" wait on every dial
peer=1)``
GossipSub ``spam_protection_enabled=       10 msgs/s per topic, own publishes
False`` + our `Pacer`                      included, dropped silently
subscription drained at once into an       the subscription channel holds 32 messages
asyncio queue
no ``new_host(bootstrap=...)``; we dial    crash with pubsub (``'Pubsub' object has no
after ``pubsub.wait_until_ready()``        attribute '_manager'``)
own keep-connected loop,                   built-in bootstrap gives up after 3
``unblock_peer`` before each re-dial       failures; a failed dial blocks the peer 60 s
own framing (`protocol.framing`) with a    ``read_varint_prefixed_bytes`` fails above
read loop and a size cap                   ~1-7 MB and has no cap
``trio.fail_after`` / ``move_on_after``    reads have no timeout: a silent peer blocks
on every remote call                       forever
swarm ``auto_connector`` stopped           (found here) dials up to 200 peerstore
                                           peers every 30 s and on every disconnect,
                                           racing the keep-connected loop
``retry_config = RetryConfig(max_retries   (found here) each failed dial is retried 3
=0)``                                      times: 0.7 s lost per call to a dead peer
re-dial only after pubsub forgot the peer; (found here) a peer that reconnects within
reset connections with a stale pubsub      ~0.1 s of a disconnect keeps a dead pubsub
stream (`_repair`)                         stream: gossip to it stops for good
`HardenedPubsub` + `guard_stream_handler`  (issue 14) one malformed GossipSub frame
(`lwnode.federation.p2p.hardened`)                    ended the swarm and the trio thread
=========================================  ============================================

A peer that misbehaves (a frame pubsub cannot parse, a stream that never delivers its
request) is charged a fault (`lwnode.federation.p2p.faults`); repeated faults disconnect and ban
it for a while. Inbound requests are limited per peer as well as in total, so one
peer holding streams open cannot starve the others. If the trio thread ends anyway,
`down` says why and `restart` brings the layer back on the same port.

Identity: the libp2p key pair *is* the node's Ed25519 key (no second key file).
The peer id then embeds the node's public key, so a peer's node id follows from
the peer id that Noise authenticated, and gossip origins and request peers are
node ids without any extra handshake. Signatures stay apart by their prefixes:
libp2p signs ``noise-libp2p-static-key:...``, ``libp2p-pubsub:...`` and
length-prefixed ``libp2p-peer-record`` envelopes; lwdock signs
``lwdock/envelope/1\\x00...`` (`protocol.signing`), so no signature made for one
can pass as another. Peers whose id does not embed an Ed25519 key are dropped.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import multiaddr
import trio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from libp2p import new_host
from libp2p.abc import IHost, INetConn, INetStream, INetwork, INotifee
from libp2p.crypto.ed25519 import Ed25519PrivateKey as Libp2pEd25519PrivateKey
from libp2p.crypto.keys import KeyPair, KeyType
from libp2p.crypto.x25519 import create_new_key_pair as create_new_x25519_key_pair
from libp2p.custom_types import TProtocol
from libp2p.exceptions import BaseLibp2pError
from libp2p.network.config import ConnectionConfig, RetryConfig
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo, info_from_p2p_addr
from libp2p.pubsub.gossipsub import PROTOCOL_ID as GOSSIPSUB_10
from libp2p.pubsub.gossipsub import PROTOCOL_ID_V11 as GOSSIPSUB_11
from libp2p.pubsub.gossipsub import GossipSub
from libp2p.pubsub.score import ScoreParams
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_PROTOCOL_ID
from libp2p.stream_muxer.yamux.yamux import Yamux
from libp2p.tools.anyio_service import background_trio_service

from protocol import framing
from protocol.errors import ProtocolError
from protocol.node_id import node_id_from_public_key
from protocol.signing import Identity

from .base import GossipInbox, GossipMessage, P2PSettings, PeerNetwork, PeerStatus, check_timeout
from .errors import (
    FrameTooLarge,
    NetworkClosed,
    PeerError,
    PeerTimeout,
    PeerUnreachable,
    ProtocolNotSupported,
)
from .faults import FaultBook, LogBudget
from .hardened import HardenedPubsub, guard_stream_handler
from .schedule import Backoff, Pacer
from .trio_bridge import TrioThread

log = logging.getLogger(__name__)

DEFAULT_LISTEN = ("/ip4/127.0.0.1/tcp/0",)
READ_CHUNK = 64 * 1024
STOP_TIMEOUT = 10.0
LOG_INTERVAL = 300.0
"""Seconds between two log lines about the same unreachable or faulty peer."""
SCORE_GATE = 50.0
"""GossipSub behaviour penalty above which a peer's messages are ignored (publish and
gossip thresholds at -SCORE_GATE, graylist at twice that); see `score_params`."""
SCORE_DECAY = 0.98
"""Per heartbeat (1 s): a penalty halves in ~35 s, so a steady refusal a second keeps a
peer at the gate and a one-off burst is forgiven within minutes."""
FAULT_PENALTY = 10.0
"""Score penalty of one fault (malformed frame, silent stream)."""


def score_params() -> ScoreParams:
    """GossipSub v1.1 peer scoring on our own accounting (docs/p2p.md, "Peer scoring").

    py-libp2p 0.8.1 gates an inbound message on the forwarder's *topic* score plus its
    behaviour penalty (P5); topic scores need topic validators and P6/P7 do not enter
    that gate. So only P5 is weighted, fed by this layer (faults) and by the intake
    (records refused), through `Libp2pNetwork.penalize`.
    """
    return ScoreParams(p5_behavior_penalty_weight=1.0, p5_behavior_penalty_threshold=0.0,
                       p5_behavior_penalty_decay=SCORE_DECAY, publish_threshold=-SCORE_GATE,
                       gossip_threshold=-SCORE_GATE, graylist_threshold=-2 * SCORE_GATE)


# -- identity ---------------------------------------------------------------------------------
def libp2p_key_pair(private_key: Ed25519PrivateKey) -> KeyPair:
    """The libp2p key pair of a node key: the same Ed25519 key (see the module docs)."""
    raw = private_key.private_bytes(serialization.Encoding.Raw,
                                    serialization.PrivateFormat.Raw,
                                    serialization.NoEncryption())
    key = Libp2pEd25519PrivateKey.from_bytes(raw)
    return KeyPair(key, key.get_public_key())


def load_node_key(path: str | Path) -> Ed25519PrivateKey:
    """Read the node's key file with the checks of `protocol.signing.Identity.load`.

    The file must be an unencrypted PKCS#8 PEM Ed25519 key with mode 0600.
    """
    Identity.load(path)  # mode, size, format and key type checks
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    return key


def node_id_of(peer_id: ID) -> str | None:
    """The node id of a libp2p peer id, or None if it does not embed an Ed25519 key."""
    try:
        key = peer_id.extract_public_key()
    except Exception:  # malformed multihash: not one of ours
        return None
    if key is None or key.get_type() != KeyType.Ed25519:
        return None
    return node_id_from_public_key(key.to_bytes())


def _peer_info(addr: str) -> tuple[ID, multiaddr.Multiaddr]:
    try:
        maddr = multiaddr.Multiaddr(addr)
        info = info_from_p2p_addr(maddr)
    except Exception as exc:
        raise ValueError(f"address: {addr!r:.120} is not a multiaddr ending in /p2p/<peer id> "
                         f"({exc})") from None
    return info.peer_id, maddr


# -- framing over a libp2p stream -----------------------------------------------------------
async def _read_exactly(stream: INetStream, n: int) -> bytes:
    """Read `n` bytes (libp2p reads return what is there: loop until full)."""
    parts: list[bytes] = []
    need = n
    while need:
        chunk = await stream.read(min(need, READ_CHUNK))
        if not chunk:
            raise PeerUnreachable("stream ended in the middle of a frame")
        parts.append(chunk)
        need -= len(chunk)
    return b"".join(parts)


async def read_frame(stream: INetStream, max_bytes: int) -> bytes:
    """One length-prefixed frame; the length is checked before the body is read."""
    header = await _read_exactly(stream, framing.FRAME_HEADER_BYTES)
    try:
        length = framing.frame_length(header, max_bytes)
    except ProtocolError as exc:
        raise FrameTooLarge(str(exc)) from None
    return await _read_exactly(stream, length)


@dataclass
class _Peer:
    """Book-keeping of one peer (trio thread only)."""

    peer_id: ID
    addrs: tuple[str, ...] = ()
    last_seen: float | None = None
    backoff: Backoff | None = None  # set when the keep-connected loop re-dials it
    dialing: bool = False


class _Notifee(INotifee):
    """Connection events -> peer book-keeping; peers that are not lwdock nodes are dropped."""

    def __init__(self, network: Libp2pNetwork) -> None:
        self._network = network

    async def connected(self, network: INetwork, conn: INetConn) -> None:
        self._network._on_connected(conn.muxed_conn.peer_id)

    async def disconnected(self, network: INetwork, conn: INetConn) -> None:
        self._network._seen(conn.muxed_conn.peer_id)

    async def opened_stream(self, network: INetwork, stream: INetStream) -> None:
        await trio.lowlevel.checkpoint()

    async def closed_stream(self, network: INetwork, stream: INetStream) -> None:
        await trio.lowlevel.checkpoint()

    async def listen(self, network: INetwork, multiaddr: multiaddr.Multiaddr) -> None:
        await trio.lowlevel.checkpoint()

    async def listen_close(self, network: INetwork, multiaddr: multiaddr.Multiaddr) -> None:
        await trio.lowlevel.checkpoint()


class Libp2pNetwork(PeerNetwork):
    """A `PeerNetwork` on a py-libp2p host run in this process's trio thread.

    Parameters
    ----------
    private_key
        The node's Ed25519 key (`load_node_key`), or its 32-byte seed; it is also
        the libp2p identity, so the peer id is stable across restarts.
    listen
        Multiaddrs to listen on; port 0 picks a free port (`listen_addrs` reports
        the real one).
    bootstrap
        Multiaddrs (with ``/p2p/<peer id>``) dialed after start and kept connected.
    settings
        Timeouts, caps and pacing (`P2PSettings`).
    """

    def __init__(self, private_key: Ed25519PrivateKey | bytes, *,
                 listen: Iterable[str] = DEFAULT_LISTEN, bootstrap: Iterable[str] = (),
                 settings: P2PSettings | None = None) -> None:
        super().__init__(settings)
        if isinstance(private_key, bytes):
            private_key = Ed25519PrivateKey.from_private_bytes(private_key)
        self._key_pair = libp2p_key_pair(private_key)
        self._peer_id = ID.from_pubkey(self._key_pair.public_key)
        node_id = node_id_of(self._peer_id)
        assert node_id is not None
        self._node_id = node_id
        self._listen = [multiaddr.Multiaddr(a) for a in listen]
        self._bootstrap = [_peer_info(a) for a in bootstrap]
        self._bridge = TrioThread(f"libp2p-{node_id[:12]}")
        self._listen_addrs: tuple[str, ...] = ()
        self._started = False
        self._closing = False
        # Set in the trio thread by _serve; used only there.
        self._host: IHost | None = None
        self._pubsub: HardenedPubsub | None = None
        self._router: GossipSub | None = None
        self._tasks: trio.Nursery | None = None
        self._peers: dict[str, _Peer] = {}
        self._pacer = Pacer(self.settings.publish_rate, self.settings.publish_burst)
        self._publish_lock: trio.Lock | None = None
        self._inbound: trio.CapacityLimiter | None = None
        self._inbound_by_peer: dict[str, int] = {}
        self._outbound_by_peer: dict[str, trio.CapacityLimiter] = {}  # trio thread only
        self._short_lived: dict[str, int] = {}  # node id -> requests on a short-lived conn
        settings = self.settings
        self._faults = FaultBook(settings.max_peer_faults, settings.fault_window,
                                 settings.peer_ban_seconds)
        self._log_budget = LogBudget(LOG_INTERVAL)

    @classmethod
    def from_key_file(cls, path: str | Path, **kwargs: Any) -> Libp2pNetwork:
        """A network whose identity is the node key file at `path` (mode 0600)."""
        return cls(load_node_key(path), **kwargs)

    # -- identity -----------------------------------------------------------------------
    @property
    def node_id(self) -> str:
        return self._node_id

    @property
    def peer_id(self) -> str:
        """The libp2p peer id (base58), derived from the same key as `node_id`."""
        return self._peer_id.to_base58()

    @property
    def listen_addrs(self) -> tuple[str, ...]:
        return self._listen_addrs

    # -- lifecycle ----------------------------------------------------------------------
    async def start(self) -> None:
        if self._started:
            raise NetworkClosed(f"{self._node_id}: a network starts once")
        self._started = True
        await self._bridge.start(self._serve)

    @property
    def down(self) -> str | None:
        if not self._started or self._closing or self._bridge.running:
            return None
        error = self._bridge.error
        cause = "stopped" if error is None else f"{type(error).__name__}: {error}"
        return f"libp2p thread ended ({cause})"[:500]

    async def restart(self) -> None:
        """A new trio thread and host after the old one ended (see `PeerNetwork.restart`).

        The port is kept (a listen address with port 0 now names the port it got), so
        peers that keep this node connected find it again; wanted peers are re-dialled
        by the keep-connected loop of the new host.
        """
        if self._closing or not self._started:
            raise NetworkClosed(f"{self._node_id}: stopped")
        await self._bridge.stop(STOP_TIMEOUT)
        if self._listen_addrs:
            suffix = multiaddr.Multiaddr(f"/p2p/{self._peer_id}")
            self._listen = [multiaddr.Multiaddr(a).decapsulate(suffix)
                            for a in self._listen_addrs]
        self._host = self._pubsub = self._router = self._tasks = None
        self._inbound_by_peer.clear()
        self._outbound_by_peer.clear()  # trio objects belong to the run that made them
        for peer in self._peers.values():
            peer.dialing = False
        self._counters["restarts"] += 1
        self._bridge = TrioThread(self._bridge.name)
        await self._bridge.start(self._serve)

    async def stop(self) -> None:
        if self._bridge.running and not self._closing:
            # Close the swarm while it runs: cancelling it instead leaves its sockets
            # open (its own clean-up is cancelled too), so peers would go on listing
            # this node as connected and ask it in vain (found by the federation tests).
            self._closing = True
            try:
                await asyncio.wait_for(self._bridge.call(self._close_trio), STOP_TIMEOUT / 2)
            except Exception as exc:  # best-effort: cancelling follows anyway
                log.debug("%s: closing the swarm: %s", self._node_id, exc)
        await self._bridge.stop(STOP_TIMEOUT)

    async def _close_trio(self) -> None:
        if self._host is not None:
            await self._host.get_network().close()

    async def _serve(self, nursery: trio.Nursery, ready: Any) -> None:
        """The trio side: build the host, run it, start background tasks, wait."""
        settings = self.settings
        host = new_host(
            key_pair=self._key_pair,
            sec_opt={NOISE_PROTOCOL_ID: NoiseTransport(
                self._key_pair, noise_privkey=create_new_x25519_key_pair().private_key)},
            muxer_opt={TProtocol(YAMUX_PROTOCOL_ID): Yamux},
            listen_addrs=self._listen,
            connection_config=ConnectionConfig(
                max_connections_per_peer=1,
                dial_timeout=settings.dial_timeout,
                inbound_upgrade_timeout=settings.dial_timeout,
                outbound_upgrade_timeout=settings.dial_timeout),
            negotiate_timeout=max(1, math.ceil(settings.dial_timeout)),
        )
        # The swarm retries a failed dial 3 times (0.1 + 0.2 + 0.4 s): a dead peer would
        # cost 0.7 s per call. The keep-connected loop owns retrying, with its back-off.
        host.get_network().retry_config = RetryConfig(max_retries=0)  # type: ignore[attr-defined]
        # Any error of an inbound stream's handler ends there (lwnode.federation.p2p.hardened).
        swarm = host.get_network()
        swarm.set_stream_handler(guard_stream_handler(
            swarm.common_stream_handler, self._on_fault))  # type: ignore[attr-defined]
        router = GossipSub(protocols=[GOSSIPSUB_11, GOSSIPSUB_10], degree=6, degree_low=4,
                           degree_high=12, heartbeat_interval=1,
                           spam_protection_enabled=False, score_params=score_params())
        pubsub = HardenedPubsub(host, router)
        pubsub.on_fault = self._on_fault
        host.get_network().register_notifee(_Notifee(self))
        for protocol_id in self._handlers:
            host.set_stream_handler(TProtocol(protocol_id), self._handle_stream)
        async with host.run(self._listen), background_trio_service(pubsub), \
                background_trio_service(router):
            # The swarm's auto-connector dials up to 200 peerstore peers every 30 s and
            # after every disconnect, racing our keep-connected loop: switch it off.
            await host.get_network().auto_connector.stop()  # type: ignore[attr-defined]
            await pubsub.wait_until_ready()
            self._host, self._pubsub, self._router = host, pubsub, router
            self._publish_lock = trio.Lock()
            self._inbound = trio.CapacityLimiter(settings.max_inbound_requests)
            self._listen_addrs = tuple(str(a) for a in host.get_addrs())
            async with trio.open_nursery() as tasks:
                self._tasks = tasks
                for inbox in list(self._inboxes.values()):
                    await self._subscribe_trio(inbox)
                for peer_id, maddr in self._bootstrap:
                    self._want(peer_id, (str(maddr),))
                tasks.start_soon(self._keep_connected)
                ready()
                await trio.sleep_forever()

    # -- peers (trio side) --------------------------------------------------------------
    def _record(self, peer_id: ID) -> _Peer | None:
        node_id = node_id_of(peer_id)
        if node_id is None or node_id == self._node_id:
            return None
        peer = self._peers.get(node_id)
        if peer is None:
            peer = self._peers[node_id] = _Peer(peer_id)
        return peer

    def _seen(self, peer_id: ID) -> None:
        peer = self._record(peer_id)
        if peer is not None:
            peer.last_seen = time.time()

    def _on_connected(self, peer_id: ID) -> None:
        node_id = node_id_of(peer_id)
        if node_id is None or self._faults.banned(node_id, time.monotonic()):
            # not an lwdock node (no Ed25519 identity), or banned for its faults
            self._drop(peer_id)
            return
        self._seen(peer_id)

    def _drop(self, peer_id: ID) -> None:
        """Close every connection of a peer (from the trio thread, without waiting)."""
        if self._tasks is not None and self._host is not None:
            self._tasks.start_soon(self._disconnect, self._host, peer_id)

    async def _disconnect(self, host: IHost, peer_id: ID) -> None:
        with trio.move_on_after(self.settings.dial_timeout):
            try:
                await host.disconnect(peer_id)
            except Exception as exc:  # already gone
                log.debug("%s: disconnecting %s: %s", self._node_id, peer_id, exc)

    def _on_fault(self, peer_id: ID, where: str, exc: BaseException) -> None:
        """A peer sent something the layer cannot take: charge it, ban it after repeats."""
        node_id = node_id_of(peer_id) or str(peer_id)
        now = time.monotonic()
        self._counters["peer_faults"] += 1
        if self._faults.banned(node_id, now):
            # Still banned: it got in again before the connection was dropped (its
            # streams are served while the drop is under way). No new ban, no log line.
            self._drop(peer_id)
            return
        self._penalize_trio(peer_id, FAULT_PENALTY)
        banned = self._faults.fault(node_id, now)
        ok, skipped = self._log_budget.allow(f"fault {node_id}", now)
        if ok or banned:
            more = f" ({skipped} more not logged)" if skipped else ""
            log.warning("%s: fault of peer %s on %s: %s: %.200s%s", self._node_id, node_id,
                        where, type(exc).__name__, exc, more)
        if banned:
            self._counters["peers_banned"] += 1
            log.warning("%s: peer %s disconnected and banned for %.0f s after %d faults",
                        self._node_id, node_id, self.settings.peer_ban_seconds,
                        self.settings.max_peer_faults)
            self._drop(peer_id)

    def _penalize_trio(self, peer_id: ID, amount: float) -> None:
        router = self._router
        if router is not None and router.scorer is not None:
            router.scorer.penalize_behavior(peer_id, amount)

    def penalize(self, peer: str, amount: float) -> None:
        def run() -> None:
            record = self._peers.get(peer)
            if record is not None:
                self._penalize_trio(record.peer_id, amount)

        self._bridge.soon(run)

    async def score_of(self, peer: str) -> float | None:
        """`peer`'s GossipSub score on our topics (None: not known)."""
        def score() -> float | None:
            record, router = self._peers.get(peer), self._router
            if record is None or router is None or router.scorer is None:
                return None
            return float(router.scorer.score(record.peer_id, list(self._inboxes)))

        async def call() -> float | None:
            return score()

        return await self._bridge.call(call)

    def banned_peers(self) -> list[str]:
        """Node ids banned now for their faults (read from any thread: a snapshot)."""
        return self._faults.bans(time.monotonic())

    def _want(self, peer_id: ID, addrs: tuple[str, ...]) -> str:
        peer = self._record(peer_id)
        if peer is None:
            raise ValueError(f"{peer_id}: not an lwdock node id or this node itself")
        peer.addrs = tuple(dict.fromkeys(peer.addrs + addrs))
        if peer.backoff is None:
            settings = self.settings
            peer.backoff = Backoff(settings.redial_min, settings.redial_max,
                                   settings.redial_slow, settings.redial_slow_after)
        node_id = node_id_of(peer_id)
        assert node_id is not None
        return node_id

    def _is_connected(self, peer_id: ID) -> bool:
        assert self._host is not None
        return bool(self._host.get_network().get_connections(peer_id))

    def _pubsub_stale(self, peer_id: ID) -> bool:
        """Pubsub still holds a stream of a connection that is gone.

        py-libp2p handles a disconnect ~0.1 s after the connection is removed, and
        skips it if a new connection to the same peer exists by then: the peer keeps
        a dead pubsub stream and the new connection never gets one (gossip to that
        peer stops). So we re-dial a peer only after pubsub forgot it, and drop a
        connection that came back too early (`_repair`).
        """
        assert self._host is not None and self._pubsub is not None
        stream = self._pubsub.peers.get(peer_id)
        if stream is None:
            return False
        live = {id(c.muxed_conn) for c in self._host.get_network().get_connections(peer_id)}
        return id(getattr(stream, "muxed_conn", None)) not in live

    async def _ready_to_dial(self, peer_id: ID, timeout: float) -> None:
        """Wait (up to `timeout`) until pubsub has forgotten an old connection of the peer."""
        with trio.move_on_after(timeout):
            while self._pubsub_stale(peer_id) and not self._is_connected(peer_id):
                await trio.sleep(0.01)

    async def _repair(self) -> None:
        """Drop connections whose pubsub state is stale (see `_pubsub_stale`)."""
        assert self._host is not None and self._pubsub is not None
        for peer_id in list(self._pubsub.peers):
            if self._is_connected(peer_id) and self._pubsub_stale(peer_id):
                log.info("%s: pubsub lost %s on a reconnect; resetting the connection",
                         self._node_id, node_id_of(peer_id))
                with trio.move_on_after(self.settings.dial_timeout):
                    await self._host.disconnect(peer_id)

    async def _dial(self, peer: _Peer, timeout: float) -> None:
        """Dial once: clear libp2p's 60 s negative cache first, give up after `timeout`."""
        assert self._host is not None
        host = self._host
        start = trio.current_time()
        await self._ready_to_dial(peer.peer_id, timeout)
        timeout = max(0.001, timeout - (trio.current_time() - start))
        self._counters["dials"] += 1
        host.get_network().unblock_peer(peer.peer_id)  # type: ignore[attr-defined]
        info_addrs = [multiaddr.Multiaddr(a).decapsulate(
            multiaddr.Multiaddr(f"/p2p/{peer.peer_id}")) for a in peer.addrs]
        host.get_peerstore().add_addrs(peer.peer_id, info_addrs, 3600)
        try:
            with trio.fail_after(timeout):
                await host.connect(PeerInfo(peer.peer_id, info_addrs))
        except trio.TooSlowError:
            self._counters["dials_failed"] += 1
            raise PeerTimeout(f"{node_id_of(peer.peer_id)}: dial timed out after "
                              f"{timeout} s") from None
        except Exception as exc:  # libp2p raises many types (and groups): all mean "no"
            self._counters["dials_failed"] += 1
            raise PeerUnreachable(f"{node_id_of(peer.peer_id)}: dial failed ({exc})") from None
        peer.last_seen = time.time()

    async def _keep_connected(self) -> None:
        """Re-dial every wanted peer whose connection is gone, with back-off; drop banned
        peers that got a connection in (one opened while the ban began, say)."""
        while True:
            if self._closing:  # stopping: no new connections
                await trio.sleep_forever()
            await self._repair()
            now = trio.current_time()
            for node_id in self._faults.bans(time.monotonic()):
                banned = self._peers.get(node_id)
                if banned is not None and self._is_connected(banned.peer_id):
                    self._drop(banned.peer_id)
            for peer in list(self._peers.values()):
                backoff = peer.backoff
                if backoff is None or peer.dialing:
                    continue
                if self._is_connected(peer.peer_id):
                    backoff.succeeded()
                elif self._faults.banned(node_id_of(peer.peer_id) or "", time.monotonic()):
                    continue
                elif backoff.due(now) and not self._pubsub_stale(peer.peer_id):
                    peer.dialing = True
                    assert self._tasks is not None
                    self._tasks.start_soon(self._redial, peer)
            await trio.sleep(self.settings.keepalive_interval)

    async def _redial(self, peer: _Peer) -> None:
        assert peer.backoff is not None
        try:
            await self._dial(peer, self.settings.dial_timeout)
        except PeerError as exc:
            peer.backoff.failed(trio.current_time())
            ok, skipped = self._log_budget.allow(f"dial {peer.peer_id}", time.monotonic())
            if ok:  # a dead peer is re-dialled every few seconds: one line per LOG_INTERVAL
                more = f"; {skipped} more failed re-dials not logged" if skipped else ""
                log.info("%s: cannot reach %s, re-dialling with back-off: %s%s",
                         self._node_id, node_id_of(peer.peer_id), exc, more)
        else:
            peer.backoff.succeeded()
        finally:
            peer.dialing = False

    async def _connect_trio(self, peer_id: ID, addr: str, keep: bool, timeout: float) -> str:
        if keep:
            node_id = self._want(peer_id, (addr,))
        else:
            peer = self._record(peer_id)
            if peer is None:
                raise ValueError(f"{addr}: not an lwdock node address or this node itself")
            peer.addrs = tuple(dict.fromkeys((*peer.addrs, addr)))
            node_id = node_id_of(peer_id)  # type: ignore[assignment]
        peer = self._peers[node_id]
        if not self._is_connected(peer_id):
            await self._dial(peer, timeout)
        return node_id

    def _peer_list(self) -> list[PeerStatus]:
        return [PeerStatus(node_id=node_id, connected=self._is_connected(peer.peer_id)
                           and node_id not in self._short_lived,
                           last_seen=peer.last_seen, addrs=peer.addrs or self._listens(peer),
                           wanted=peer.backoff is not None)
                for node_id, peer in sorted(self._peers.items())]

    def _listens(self, peer: _Peer) -> tuple[str, ...]:
        """Where a peer that dialled us listens (identify told the peerstore): kept in
        the store, so this node can dial it after a restart."""
        assert self._host is not None
        suffix = f"/p2p/{peer.peer_id}"
        try:
            addrs = self._host.get_peerstore().addrs(peer.peer_id)
        except Exception:  # not in the peerstore (yet)
            return ()
        out = []
        for a in addrs:
            text = str(a)
            if "/tcp/" in text:
                out.append(text if text.endswith(suffix) else text + suffix)
        return tuple(dict.fromkeys(out))

    async def _peers_trio(self) -> list[PeerStatus]:
        return self._peer_list()

    # -- peers (asyncio side) -----------------------------------------------------------
    async def connect(self, addr: str, *, keep: bool = True,
                      timeout: float | None = None) -> str:
        peer_id, _ = _peer_info(addr)
        deadline = check_timeout(timeout, self.settings.dial_timeout)
        return await self._bridge.call(self._connect_trio, peer_id, addr, keep, deadline)

    async def peers(self) -> list[PeerStatus]:
        return await self._bridge.call(self._peers_trio)

    # -- gossip -------------------------------------------------------------------------
    async def _subscribe(self, inbox: GossipInbox) -> None:
        if self._bridge.running or self._bridge.finished:
            await self._bridge.call(self._subscribe_trio, inbox)  # NetworkClosed once stopped
        # before start: `_serve` subscribes every inbox once pubsub is ready

    async def _subscribe_trio(self, inbox: GossipInbox) -> None:
        assert self._pubsub is not None and self._tasks is not None
        with trio.fail_after(self.settings.request_timeout):  # announces to every peer
            subscription = await self._pubsub.subscribe(inbox.topic)
        self._tasks.start_soon(self._drain, subscription, inbox)

    async def _drain(self, subscription: Any, inbox: GossipInbox) -> None:
        """Move every message to the asyncio queue at once (libp2p's channel holds 32)."""
        async for message in subscription:
            origin_id = ID(message.from_id)
            origin = node_id_of(origin_id)
            if origin is None or origin == self._node_id:
                continue
            if len(message.data) > self.settings.max_gossip_bytes:
                self._counters["gossip_dropped"] += 1
                continue
            self._seen(origin_id)
            self._bridge.to_asyncio_soon(
                inbox.deliver, GossipMessage(inbox.topic, bytes(message.data), origin))

    async def _publish(self, topic: str, data: bytes) -> None:
        await self._bridge.call(self._publish_trio, topic, data)

    async def _publish_trio(self, topic: str, data: bytes) -> None:
        assert self._pubsub is not None and self._publish_lock is not None
        async with self._publish_lock:  # one at a time, in order, at the paced rate
            wait = self._pacer.reserve(trio.current_time())
            if wait:
                await trio.sleep(wait)
            try:
                with trio.fail_after(self.settings.request_timeout):
                    await self._pubsub.publish(topic, data)
            except trio.TooSlowError:
                raise PeerTimeout(f"publish on {topic} blocked for "
                                  f"{self.settings.request_timeout} s") from None

    # -- request / response ---------------------------------------------------------------
    def _handler_added(self, protocol_id: str) -> None:
        if self._bridge.running:
            self._bridge.soon(lambda: self._host and self._host.set_stream_handler(
                TProtocol(protocol_id), self._handle_stream))

    async def _request(self, peer: str, protocol_id: str, data: bytes,
                       timeout: float) -> bytes:
        return await self._bridge.call(self._request_trio, peer, protocol_id, data, timeout)

    async def _request_direct(self, peer: str, protocol_id: str, data: bytes,
                              timeout: float, addrs: tuple[str, ...]) -> bytes:
        return await self._bridge.call(self._request_direct_trio, peer, protocol_id, data,
                                       timeout, addrs)

    async def _request_direct_trio(self, peer: str, protocol_id: str, data: bytes,
                                   timeout: float, addrs: tuple[str, ...]) -> bytes:
        """Over the connection if there is one, else over a short-lived one: dialled at
        `addrs` (or where the peer was known to listen), closed after the answer unless
        the peer is wanted or another short-lived request still uses it."""
        assert self._host is not None
        record = self._peers.get(peer)
        if record is not None and self._is_connected(record.peer_id) \
                and peer not in self._short_lived:
            return await self._request_trio(peer, protocol_id, data, timeout)
        target = _Peer(record.peer_id, record.addrs + self._listens(record)) \
            if record is not None else None
        for addr in addrs:
            try:
                peer_id, _ = _peer_info(addr)
            except ValueError:
                continue
            if node_id_of(peer_id) != peer:
                continue  # an address of someone else
            if target is None:
                target = _Peer(peer_id)
            target.addrs = tuple(dict.fromkeys((*target.addrs, addr)))
        if target is None or not target.addrs:
            raise PeerUnreachable(f"{peer}: not connected and no address known")
        self._short_lived[peer] = self._short_lived.get(peer, 0) + 1
        try:
            return await self._request_trio(peer, protocol_id, data, timeout, target)
        finally:
            self._short_lived[peer] -= 1
            if not self._short_lived[peer]:
                del self._short_lived[peer]
                kept = self._peers.get(peer)
                if kept is not None and kept.backoff is None:  # not a wanted peer
                    await self._disconnect(self._host, target.peer_id)

    async def _request_trio(self, peer: str, protocol_id: str, data: bytes,
                            timeout: float, short_lived: _Peer | None = None) -> bytes:
        assert self._host is not None
        record = short_lived or self._peers.get(peer)
        if record is None:
            raise PeerUnreachable(f"{peer}: unknown peer (never connected)")
        frame = framing.encode_frame(data, self.settings.max_frame_bytes)
        stream: INetStream | None = None
        slots = self._outbound_by_peer.get(peer)
        if slots is None:
            slots = self._outbound_by_peer[peer] = trio.CapacityLimiter(
                self.settings.max_outbound_per_peer)
        try:
            with trio.fail_after(timeout):
                # Wait for one of our slots to this peer rather than exceed its per-peer
                # share (it would reset the excess at once: see P2PSettings).
                async with slots:
                    if not self._is_connected(record.peer_id):
                        await self._dial(record, timeout)
                    try:
                        stream = await self._host.new_stream(record.peer_id,
                                                             [TProtocol(protocol_id)])
                    except BaseLibp2pError as exc:
                        raise _open_error(peer, protocol_id, exc) from None
                    await stream.write(frame)
                    response = await read_frame(stream, self.settings.max_frame_bytes)
        except trio.TooSlowError:
            raise PeerTimeout(f"{peer}: no answer on {protocol_id} within {timeout} s") from None
        except PeerError:
            raise
        except Exception as exc:  # any failure of the stream (EOF, reset, closed, groups)
            raise PeerError(f"{peer}: stream on {protocol_id} failed "
                            f"({type(exc).__name__}: {exc})") from None
        finally:
            if stream is not None:
                await _close_quietly(stream)
        record.last_seen = time.time()
        return response

    async def _handle_stream(self, stream: INetStream) -> None:
        """Serve one request: read a frame, run the asyncio handler, write the answer."""
        assert self._inbound is not None
        peer = node_id_of(stream.muxed_conn.peer_id)
        protocol_id = str(stream.get_protocol())
        handler = self._handlers.get(protocol_id)
        if peer is None or handler is None or self._faults.banned(peer, time.monotonic()):
            await _close_quietly(stream, reset=True)
            return
        # Per peer first, then all peers: one peer's open streams take only its own slots.
        if self._inbound_by_peer.get(peer, 0) >= self.settings.max_inbound_per_peer:
            self._counters["requests_refused"] += 1
            await _close_quietly(stream, reset=True)
            return
        try:
            self._inbound.acquire_nowait()
        except trio.WouldBlock:
            self._counters["requests_refused"] += 1
            await _close_quietly(stream, reset=True)
            return
        self._inbound_by_peer[peer] = self._inbound_by_peer.get(peer, 0) + 1
        try:
            with trio.fail_after(self.settings.handler_timeout):
                try:
                    with trio.fail_after(self.settings.first_frame_timeout):
                        request = await read_frame(stream, self.settings.max_frame_bytes)
                except trio.TooSlowError:
                    # Reset and counted, but not a fault: an honest asker whose own
                    # deadline cancels it while the stream opens leaves one just as
                    # silent (the soak saw a busy node banned by its peer for that).
                    # The per-peer share bounds what silence can hold.
                    self._counters["streams_silent"] += 1
                    raise
                self._seen(stream.muxed_conn.peer_id)
                response = await self._answer_unless_abandoned(stream, handler, peer, request)
                if response is None:  # the asker gave up: no answer, no more work
                    self._counters["requests_abandoned"] += 1
                    await _close_quietly(stream, reset=True)
                    return
                await stream.write(framing.encode_frame(response,
                                                        self.settings.max_frame_bytes))
        except Exception as exc:  # anything: the asker sees a reset, we keep serving
            self._counters["requests_refused"] += 1
            log.info("%s: request from %s on %s refused: %s: %s", self._node_id, peer,
                     protocol_id, type(exc).__name__, exc)
            await _close_quietly(stream, reset=True)
        else:
            self._counters["requests_served"] += 1
            await _close_quietly(stream)
        finally:
            self._inbound.release()
            left = self._inbound_by_peer.get(peer, 1) - 1
            if left > 0:
                self._inbound_by_peer[peer] = left
            else:
                self._inbound_by_peer.pop(peer, None)


    async def _answer_unless_abandoned(self, stream: INetStream, handler: Any, peer: str,
                                       request: bytes) -> bytes | None:
        """The handler's answer, or None if the asker closed or reset the stream first.

        An asker whose own deadline passed cancels its request and closes the stream;
        answering it anyway is work for nobody. Under load that is how a node went on
        serving its peer's abandoned searches and missed every live one (the soak
        benchmark: a flood tipped it over and it never caught up). So the stream is
        watched while the handler runs: end of stream cancels the handler (the asker
        sends nothing after its one frame, so any read returning means it is gone).
        """
        answer: list[bytes] = []
        async with trio.open_nursery() as nursery:
            async def watch() -> None:
                try:
                    await stream.read(1)
                except Exception:  # reset or closed: gone as well
                    pass
                nursery.cancel_scope.cancel()

            async def serve() -> None:
                answer.append(await self._bridge.run_in_asyncio(handler, peer, request))
                nursery.cancel_scope.cancel()

            nursery.start_soon(watch)
            nursery.start_soon(serve)
        return answer[0] if answer else None


def _open_error(peer: str, protocol_id: str, exc: BaseException) -> PeerError:
    """Map a failure to open a stream to the error the caller reacts to."""
    cause = exc.__cause__
    text = f"{exc} ({cause})" if cause else str(exc)
    if "protocols not supported" in text:
        return ProtocolNotSupported(f"{peer} does not serve {protocol_id}")
    return PeerUnreachable(f"{peer}: cannot open a stream on {protocol_id} ({text})")


async def _close_quietly(stream: INetStream, *, reset: bool = False) -> None:
    """Close (or reset) a stream without raising or waiting more than a second."""
    with trio.CancelScope(shield=True), trio.move_on_after(1.0):
        try:
            await (stream.reset() if reset else stream.close())
        except Exception:
            pass
