"""The peer-layer contract on real py-libp2p hosts (127.0.0.1, ephemeral ports).

The same `lwnode.federation.p2p.conformance` checks as the in-process unit tests, plus what only
a real transport can show: a plaintext-only peer is refused both ways (with a
Noise peer built the same way as a positive control), and a node *process* killed
with SIGKILL fails requests at once and is re-dialled when it comes back.
"""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import subprocess
import sys
import threading
import time

import pytest
from lwtesting import until

from lwnode.federation.p2p import conformance
from lwnode.federation.p2p.base import P2PSettings, PeerNetwork
from lwnode.federation.p2p.errors import PeerError, PeerTimeout
from lwnode.federation.p2p.libp2p_network import Libp2pNetwork, libp2p_key_pair

pytestmark = pytest.mark.timeout(60)


def port_of(addr: str) -> int:
    return int(addr.split("/tcp/")[1].split("/")[0])


class Libp2pHarness(conformance.Harness):
    def __init__(self) -> None:
        super().__init__()
        self.keys: dict[str, bytes] = {}
        self.ports: dict[str, int] = {}

    async def start(self, name: str, settings: P2PSettings | None = None) -> PeerNetwork:
        key = self.keys.setdefault(name, os.urandom(32))
        port = self.ports.get(name, 0)  # a restart listens where the node listened before
        network = Libp2pNetwork(key, listen=[f"/ip4/127.0.0.1/tcp/{port}"], settings=settings)
        await conformance.prepare(network)
        await network.start()
        self.ports[name] = port_of(network.listen_addrs[0])
        self.nodes[name] = network
        return network


@pytest.fixture
async def harness():
    h = Libp2pHarness()
    yield h
    await h.aclose()


@pytest.mark.parametrize("check", conformance.CHECKS, ids=lambda c: c.__name__)
async def test_contract(check, harness):
    await check(harness)


async def test_listen_addrs_carry_the_real_port_and_peer_id(harness):
    a = await harness.start("a")
    (addr,) = a.listen_addrs
    assert addr.startswith("/ip4/127.0.0.1/tcp/") and port_of(addr) > 0
    assert addr.endswith("/p2p/" + a.peer_id)


async def test_identity_is_stable_across_restarts(harness):
    first = await harness.start("a")
    ids = first.node_id, first.peer_id
    await harness.kill("a")
    second = await harness.start("a")
    assert (second.node_id, second.peer_id) == ids


# -- security: Noise only -------------------------------------------------------------------
class ForeignHost:
    """A raw py-libp2p host offering exactly one security protocol, in its own trio thread."""

    def __init__(self, security: str, key: str = "ed25519") -> None:
        self.security = security
        self.key = key
        self._addr: queue.Queue[str] = queue.Queue()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._token = None
        self._stop = None

    def __enter__(self) -> ForeignHost:
        self._thread.start()
        self.addr = self._addr.get(timeout=20)
        return self

    def __exit__(self, *exc: object) -> None:
        import trio

        trio.from_thread.run_sync(self._stop.set, trio_token=self._token)
        self._thread.join(10)

    def _run(self) -> None:
        import trio

        trio.run(self._main)

    async def _main(self) -> None:
        import multiaddr
        import trio
        from libp2p import new_host
        from libp2p.crypto.x25519 import create_new_key_pair as x25519_pair
        from libp2p.security.insecure.transport import PLAINTEXT_PROTOCOL_ID, InsecureTransport
        from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
        from libp2p.security.noise.transport import Transport as NoiseTransport

        if self.key == "ed25519":
            key_pair = libp2p_key_pair_random()
        else:
            from libp2p.crypto.secp256k1 import create_new_key_pair as secp256k1_pair

            key_pair = secp256k1_pair()
        if self.security == "plaintext":
            sec = {PLAINTEXT_PROTOCOL_ID: InsecureTransport(key_pair)}
        else:
            sec = {NOISE_PROTOCOL_ID: NoiseTransport(key_pair,
                                                     noise_privkey=x25519_pair().private_key)}
        listen = [multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")]
        self.host = new_host(key_pair=key_pair, sec_opt=sec, listen_addrs=listen)
        self._token = trio.lowlevel.current_trio_token()
        self._stop = trio.Event()
        async with self.host.run(listen):
            self._addr.put(str(self.host.get_addrs()[0]))
            await self._stop.wait()

    def dial(self, addr: str) -> str:
        """Dial `addr` from this host; 'connected' or the error's class name."""
        import trio

        async def dial() -> str:
            import multiaddr
            from libp2p.peer.peerinfo import info_from_p2p_addr

            try:
                with trio.fail_after(5):
                    await self.host.connect(info_from_p2p_addr(multiaddr.Multiaddr(addr)))
            except Exception as exc:
                return type(exc).__name__
            return "connected"

        return trio.from_thread.run(dial, trio_token=self._token)


def libp2p_key_pair_random():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return libp2p_key_pair(Ed25519PrivateKey.generate())


async def test_plaintext_peer_is_refused_both_ways_noise_peer_is_not(harness):
    node = await harness.start("a")
    with ForeignHost("noise") as control:  # the same foreign host, with Noise: connects
        assert await asyncio.to_thread(control.dial, node.listen_addrs[0]) == "connected"
        assert len(await node.connect(control.addr, keep=False)) == 36
    with ForeignHost("plaintext") as foreign:
        outcome = await asyncio.to_thread(foreign.dial, node.listen_addrs[0])
        assert outcome != "connected"
        with pytest.raises(PeerError):
            await node.connect(foreign.addr, keep=False, timeout=5)
    assert all(p.node_id for p in await node.peers())


async def test_a_peer_without_an_ed25519_identity_is_dropped(harness):
    node = await harness.start("a")
    with ForeignHost("noise", key="secp256k1") as foreign:
        assert await asyncio.to_thread(foreign.dial, node.listen_addrs[0]) == "connected"

        def connected() -> bool:
            return bool(foreign.host.get_network().get_connections())

        for _ in range(200):  # the node hangs up on it
            if not await asyncio.to_thread(connected):
                break
            await asyncio.sleep(0.02)
        assert not await asyncio.to_thread(connected)
    assert await node.peers() == []


# -- a real process killed with SIGKILL, then restarted ------------------------------------------
PEER_PROCESS = """
import asyncio, sys
from lwnode.federation.p2p import conformance
from lwnode.federation.p2p.libp2p_network import Libp2pNetwork

async def main():
    network = Libp2pNetwork(bytes.fromhex(sys.argv[1]),
                            listen=[f"/ip4/127.0.0.1/tcp/{sys.argv[2]}"])
    await conformance.prepare(network)
    async with network:
        print(network.listen_addrs[0], flush=True)
        await asyncio.Event().wait()

asyncio.run(main())
"""


async def spawn_peer(key: bytes, port: int) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-c", PEER_PROCESS, key.hex(), str(port)],
                            stdout=subprocess.PIPE, text=True)
    line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 30)  # type: ignore[union-attr]
    assert line.startswith("/ip4/127.0.0.1/tcp/"), line
    return proc, line.strip()


async def test_sigkilled_process_fails_fast_and_is_redialled_on_restart(harness):
    a = await harness.start("a")
    key = os.urandom(32)
    proc, addr = await spawn_peer(key, 0)
    try:
        peer = await a.connect(addr)
        await a.request(peer, conformance.ECHO, b"warm", timeout=5)
        in_flight = asyncio.ensure_future(a.request(peer, conformance.SILENT, b"?", timeout=10))
        await asyncio.sleep(0.1)  # let the request reach the peer
        start = time.perf_counter()
        proc.send_signal(signal.SIGKILL)
        with pytest.raises(PeerError) as failure:
            await in_flight
        took = time.perf_counter() - start
        assert not isinstance(failure.value, PeerTimeout) and took < 2.0, took
    finally:
        proc.kill()
        proc.wait()
    proc, _ = await spawn_peer(key, port_of(addr))
    try:
        start = time.perf_counter()
        await a.wait_connected(peer, 5.0)
        answer = await a.request(peer, conformance.ECHO, b"back", timeout=5)
        assert answer.endswith(b"back") and time.perf_counter() - start < 5.0
    finally:
        proc.kill()
        proc.wait()


async def test_a_request_its_asker_gave_up_on_stops_being_served(harness):
    """An asker past its deadline closes the stream; the server used to run the
    handler to the end anyway (under load, a node served its peer's abandoned
    searches and missed every live one). Now the handler is cancelled."""
    a = await harness.start("a")
    b = await harness.start("b")
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def slow(peer: str, data: bytes) -> bytes:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return data

    b.set_handler("/lwdock/test-slow/1.0.0", slow)
    await a.connect(b.listen_addrs[0])
    with pytest.raises(PeerTimeout):
        await a.request(b.node_id, "/lwdock/test-slow/1.0.0", b"x", timeout=1.0)
    assert started.is_set()
    await asyncio.wait_for(cancelled.wait(), 5)
    # counted on the peer layer's side once the cancellation has unwound there
    await until(lambda: b.counters["requests_abandoned"] == 1, "the abandoned request counted",
                timeout=5)
