"""Soak: honest clients search a node while one hostile peer runs each attack in turn.

    python -m benchmarks.soak_hostile [--seconds 120] [--clients 50]

Issue 14's soak. A victim node V and an honest organization's node O, which hosts a few
real learnwares, each run as their own process (``lwnode run``: V's memory is its own,
and the load this script generates does not slow O); V joins O. `--clients` honest
users search V with V's token, without pause, for `--seconds`; meanwhile one hostile
peer M (a real libp2p host; a fresh identity for each attack, since a banned peer's
cheapest way back is a new key) runs the attacks below one after the other, each for
an equal share of the time:

============  ===============================================================
attack        what M does
============  ===============================================================
malformed     GossipSub frames that are not protobuf (finding 1), every 0.2 s,
              reconnecting after each disconnect
huge specs    signed announcements with 10,000-point specs (finding 2)
half-open     holds as many search streams open without a word as V lets it
              (finding 3)
flood         fresh identities announcing small learnwares as fast as it can
              (finding 8)
open search   an unauthenticated client sending 1,000-point searches as fast
              as it is answered (finding 6)
============  ===============================================================

Printed per attack: honest searches answered, honest errors (any non-200 or failed
request), the share of answers O took part in (V routes every search to its peers
within ``[p2p] search_deadline_ms``; a share below 100 % means O was missed and
the answer partial), p50 / p95 latency, V's peak resident memory in the phase, and V's
``/v1/health`` at the end of it. The first row is a quiet phase with no attack.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from pathlib import Path

import aiohttp
import numpy as np
from lwtesting import (
    announcement_row,
    region_centres,
    region_package,
    region_rows,
    tiny_semantic,
)

from benchmarks.common import machine, print_table
from engine.specification import RKMETableSpec, spec_from_dict
from lwnode.federation.p2p.base import wait_until
from lwnode.federation.p2p.rawpeer import MALFORMED_RPC, MESHSUB, RawPeer
from lwnode.home import NodeHome
from lwnode.http.jsonio import spec_json
from protocol.signing import Identity
from protocol.versions import ANNOUNCE_TOPIC, SEARCH_PROTOCOL

D, REGIONS = 5, 6
MiB = 1 << 20


def rss_mib(pid: int) -> float:
    """Resident memory of process `pid` (VmRSS), MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def requirement(centres: np.ndarray, region: int, n_points: int, seed: int) -> dict:
    x = region_rows(centres, region, max(200, 2 * n_points), seed=seed)
    spec = RKMETableSpec(n_points=n_points, refine_steps=0, random_state=seed).fit(x)
    return {"statistical": spec_json(spec), "max_mixture": 3, "k": 5}


def huge_announcement(identity: Identity, i: int, centres: np.ndarray):
    rng = np.random.default_rng(i)
    spec = spec_from_dict({
        "type": "rkme_table", "format": 1, "space": f"table/d={D}", "gamma": 0.5,
        "n_samples": 100_000, "points": centres[i % REGIONS] + rng.normal(size=(10_000, D)),
        "weights": rng.dirichlet(np.full(10_000, 5.0)), "params": {}})
    return announcement_row(identity, f"sha256:{0xdead0000 + i:064x}", 1,
                            organization="Mallory", semantic=tiny_semantic(f"huge {i}", D),
                            spec=spec)


class NodeProcess:
    """``lwnode run`` on a fresh home (its own process); stopped by SIGTERM."""

    def __init__(self, root: Path, name: str, organization: str,
                 bootstrap: str | None = None) -> None:
        self.home = NodeHome(root / name)
        self.home.init(organization)
        argv = [sys.executable, "-m", "lwnode.cli", "run", "--home", str(self.home.path),
                "--http", "127.0.0.1:0"]
        log = root / f"{name}.log"
        self.proc = subprocess.Popen(argv + (["--bootstrap", bootstrap] if bootstrap else []),
                                     stdout=subprocess.DEVNULL,
                                     stderr=open(log, "w"))
        url_file = self.home.path / "node.url"
        began = time.monotonic()
        while not url_file.exists():
            if self.proc.poll() is not None or time.monotonic() - began > 60:
                raise RuntimeError(f"node {name} did not start; see {log}")
            time.sleep(0.05)
        self.url = url_file.read_text().strip()
        self.token = self.home.token()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Phase:
    """What honest clients saw during one attack."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.latencies: list[float] = []
        self.errors = 0
        self.peak_rss = 0.0
        self.health = "-"
        self.defence = "-"
        self.from_owner = 0  # answers the honest peer took part in (routed search)


async def honest_client(session: aiohttp.ClientSession, victim: NodeProcess, bodies: list[dict],
                        honest_peer: str, phase: Callable[[], Phase], stop: asyncio.Event,
                        seed: int) -> None:
    rng = np.random.default_rng(seed)
    headers = {"Authorization": f"Bearer {victim.token}"}
    while not stop.is_set():
        body = bodies[int(rng.integers(len(bodies)))]
        began = time.perf_counter()
        try:
            async with session.post(f"{victim.url}/v1/search", json=body,
                                    headers=headers) as response:
                answer = await response.json() if response.status == 200 else None
        except (aiohttp.ClientError, asyncio.TimeoutError):
            answer = None
        current = phase()
        if answer is not None:
            current.latencies.append(time.perf_counter() - began)
            current.from_owner += honest_peer in answer.get("peers", {}).get("answered", [])
        else:
            current.errors += 1


async def attack_malformed(m: RawPeer, victim_peer: str, victim_addr: str, until: float) -> None:
    while time.monotonic() < until:
        with suppress(Exception):
            await m.connect(victim_addr)
            await m.send(victim_peer, MESHSUB, MALFORMED_RPC)
        await asyncio.sleep(0.2)


async def attack_huge(m: RawPeer, victim_addr: str, until: float, centres: np.ndarray) -> None:
    mallory = Identity.from_seed(os.urandom(32))
    i = 0
    with suppress(Exception):
        await m.connect(victim_addr)
    while time.monotonic() < until:
        row = await asyncio.to_thread(huge_announcement, mallory, i, centres)
        with suppress(Exception):
            await m.network.publish(ANNOUNCE_TOPIC, row.envelope)
        i += 1
        await asyncio.sleep(0.2)


async def attack_half_open(m: RawPeer, victim_peer: str, victim_addr: str,
                           until: float) -> None:
    while time.monotonic() < until:
        with suppress(Exception):
            await m.connect(victim_addr)
            await m.hold(victim_peer, SEARCH_PROTOCOL, 64)
        await asyncio.sleep(0.5)


async def attack_flood(m: RawPeer, victim_addr: str, until: float) -> None:
    with suppress(Exception):
        await m.connect(victim_addr)
    n = 0
    while time.monotonic() < until:
        identity = Identity.from_seed(os.urandom(32))
        for j in range(40):
            row = announcement_row(identity, f"sha256:{0xf100d000 + n * 64 + j:064x}", 1,
                                   organization=f"Sybil {n}", semantic=tiny_semantic(f"s{j}", D))
            with suppress(Exception):
                await m.network.publish(ANNOUNCE_TOPIC, row.envelope)
            if time.monotonic() >= until:
                return
        n += 1


async def attack_open_search(session: aiohttp.ClientSession, victim: NodeProcess, body: dict,
                             until: float, seen: dict[int, int]) -> None:
    async def one() -> None:
        while time.monotonic() < until:
            with suppress(aiohttp.ClientError, asyncio.TimeoutError):
                async with session.post(f"{victim.url}/v1/search", json=body) as response:
                    await response.read()
                    seen[response.status] = seen.get(response.status, 0) + 1

    await asyncio.gather(*(one() for _ in range(8)))


DEFENCE_COUNTERS = frozenset({
    "peer_faults", "peers_banned", "requests_refused", "rejected_too_many_points",
    "rejected_rate_limited", "rejected_over_quota", "gossip_dropped", "streams_silent"})
"""The victim's counters that show an attack being refused (shown when they move)."""


def counters_in(health: dict) -> dict[str, int]:
    """The peer layer's counters in a ``/v1/health`` answer."""
    return {k: v for k, v in health.get("peer_layer", {}).get("counters", {}).items()
            if isinstance(v, int)}


async def health_of(session: aiohttp.ClientSession, victim: NodeProcess,
                    honest_peer: str) -> tuple[str, dict[str, int]]:
    """V's health status and whether V is connected to O, and V's counters."""
    try:
        async with session.get(f"{victim.url}/v1/health") as response:
            data = await response.json()
            status = f"{response.status} {data.get('status', '?')}"
        async with session.get(f"{victim.url}/v1/peers") as response:
            peers = (await response.json()).get("peers", [])
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        return f"no answer ({type(exc).__name__})", {}
    linked = any(p["node_id"] == honest_peer and p["connected"] for p in peers)
    return f"{status}, O {'connected' if linked else 'NOT connected'}", counters_in(data)


async def run(seconds: float, clients: int, logs: Path | None = None) -> list[Phase]:
    centres = region_centres(REGIONS, D, seed=11)
    with tempfile.TemporaryDirectory(prefix="lwdock-soak-") as tmp:
        root = Path(tmp)
        owner = victim = None
        timeout = aiohttp.ClientTimeout(total=60)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session:
                owner = NodeProcess(root, "owner", "Honest Org")
                for region in range(REGIONS):
                    package = await asyncio.to_thread(region_package, centres, region)
                    async with session.post(f"{owner.url}/v1/learnwares", data=package,
                                            headers={"Authorization": f"Bearer {owner.token}",
                                                     "Content-Type": "application/zip"}) as r:
                        if r.status not in (200, 201):
                            raise RuntimeError(f"publish on the owner: {await r.text()}")
                async with session.get(f"{owner.url}/v1/health") as r:
                    owner_health = await r.json()
                victim = NodeProcess(root, "victim", "Victim",
                                     bootstrap=owner_health["peer_multiaddrs"][0])

                async def knows_all() -> bool:
                    async with session.get(f"{victim.url}/v1/learnwares") as r:
                        return r.status == 200 and len(
                            (await r.json()).get("items", [])) >= REGIONS

                await wait_until(knows_all, "the victim to know the honest learnwares", 60)
                async with session.get(f"{victim.url}/v1/health") as r:
                    health = await r.json()
                bodies = [requirement(centres, r, 30, seed=r) for r in range(REGIONS)]
                big_body = requirement(centres, 0, 1_000, seed=99)
                return await _soak(session, victim, health["node_id"],
                                   health["peer_multiaddrs"][0], owner_health["node_id"],
                                   bodies, big_body, centres, seconds, clients)
        finally:
            for node in (victim, owner):
                if node is not None:
                    node.stop()
            if logs is not None:  # the nodes' logs outlive the temporary homes
                logs.mkdir(parents=True, exist_ok=True)
                for log in root.glob("*.log"):
                    shutil.copy(log, logs / log.name)


async def _soak(session: aiohttp.ClientSession, victim: NodeProcess, victim_peer: str,
                victim_addr: str, honest_peer: str, bodies: list[dict], big_body: dict,
                centres: np.ndarray, seconds: float, clients: int) -> list[Phase]:
    names = ["quiet", "malformed", "huge specs", "half-open", "flood", "open search"]
    share = seconds / len(names)
    phases = [Phase(n) for n in names]
    current = [phases[0]]
    stop = asyncio.Event()
    workers = [asyncio.ensure_future(honest_client(session, victim, bodies, honest_peer,
                                                   lambda: current[0], stop, seed=i))
               for i in range(clients)]

    async def sample_rss() -> None:
        while not stop.is_set():
            with suppress(OSError, ValueError):
                current[0].peak_rss = max(current[0].peak_rss, rss_mib(victim.proc.pid))
            await asyncio.sleep(0.5)

    sampler = asyncio.ensure_future(sample_rss())
    attacker_seen: dict[int, int] = {}

    async def open_search(until: float) -> None:
        await attack_open_search(session, victim, big_body, until, attacker_seen)

    try:
        for phase in phases:
            current[0] = phase
            attacker_seen.clear()
            _, before = await health_of(session, victim, honest_peer)
            until = time.monotonic() + share
            # A fresh identity per attack: a banned peer is the attacker's cheapest reset.
            async with RawPeer() as m:
                attacks: dict[str, Callable[[float], Awaitable[None]]] = {
                    "quiet": lambda until: asyncio.sleep(max(0.0, until - time.monotonic())),
                    "malformed": lambda until: attack_malformed(m, victim_peer, victim_addr,
                                                                until),
                    "huge specs": lambda until: attack_huge(m, victim_addr, until, centres),
                    "half-open": lambda until: attack_half_open(m, victim_peer, victim_addr,
                                                                until),
                    "flood": lambda until: attack_flood(m, victim_addr, until),
                    "open search": open_search,
                }
                await attacks[phase.name](until)
                await asyncio.sleep(max(0.0, until - time.monotonic()))
            phase.health, after = await health_of(session, victim, honest_peer)
            moved = {k: after[k] - before.get(k, 0) for k in after
                     if k in DEFENCE_COUNTERS and after[k] > before.get(k, 0)}
            moved.update({f"HTTP {status}": n for status, n in sorted(attacker_seen.items())})
            phase.defence = ", ".join(f"{k} +{v}" for k, v in moved.items()) or "-"
    finally:
        stop.set()
        await asyncio.gather(*workers, sampler, return_exceptions=True)
    if victim.proc.poll() is not None:
        raise RuntimeError("the victim node died during the soak")
    return phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="whole soak (default 120)")
    parser.add_argument("--clients", type=int, default=50, help="honest searchers at once")
    parser.add_argument("--logs", type=Path, help="copy the two nodes' logs to this folder")
    args = parser.parse_args()
    logging.getLogger("libp2p").setLevel(logging.CRITICAL)  # the attacker's own failures
    phases = asyncio.run(run(args.seconds, args.clients, args.logs))
    rows = []
    for p in phases:
        lat = np.asarray(p.latencies) * 1000
        rows.append([p.name, len(lat), p.errors,
                     f"{100 * p.from_owner / max(1, len(lat)):.0f} %",
                     f"{np.percentile(lat, 50):.0f}" if len(lat) else "-",
                     f"{np.percentile(lat, 95):.0f}" if len(lat) else "-",
                     f"{p.peak_rss:.0f}", p.health, p.defence])
    print_table(f"Soak: {args.clients} honest searchers, {args.seconds:.0f} s, one hostile peer "
                f"({machine()})",
                ["attack", "searches", "errors", "answered with O", "p50 ms", "p95 ms",
                 "victim RSS MiB", "health after", "what the victim refused"], rows)


if __name__ == "__main__":
    main()
