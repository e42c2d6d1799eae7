"""Real nodes on loopback for the integration tests: the one way the tests start nodes.

`lone_node` starts one node without a peer layer; `cluster(n, root)` starts n nodes
in this process, linked by `links` (a chain by default), each a real `NodeService` +
HTTP API + `Libp2pNetwork` (its own trio thread) on 127.0.0.1 ephemeral ports, wired
as ``lwnode run`` wires them — both are `lwnode.demo.cluster`'s, the demo's network,
with the tests' settings (`TEST_P2P`). `NodeProcess` runs one node as a ``lwnode run``
subprocess, for the tests that must SIGKILL or SIGSTOP a node.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp

from lwnode.daemon import RunningNode
from lwnode.demo.cluster import chain, local_cluster, local_node
from lwnode.federation.layer import Federation
from lwnode.federation.p2p.base import PeerNetwork
from lwnode.home import NodeHome

ENV = {**{k: v for k, v in os.environ.items() if not k.startswith("LWDOCK_")},
       "LWDOCK_LOG_ACCESS_LOG": "false", "LWDOCK_CHECKS_ISOLATION": "thread"}
TEST_P2P: dict[str, Any] = {"search_deadline_ms": 60_000}
"""A routed search waits for its peers' answers, not for the clock: with the default
1 s budget a loaded machine's peer answered empty (its local search timed out) and the
test saw no hit. Tests of the deadline itself give ``deadline_ms`` in the request."""
TEST_CHECKS = {"isolation": "thread"}

Wrap = Callable[[str, PeerNetwork], PeerNetwork]


@dataclass
class Node:
    """One running node of a cluster."""

    name: str
    home: NodeHome
    running: RunningNode

    @property
    def url(self) -> str:
        return self.running.url

    @property
    def service(self) -> Any:
        return self.running.service

    @property
    def id(self) -> str:
        return str(self.running.service.node_id)

    @property
    def federation(self) -> Federation:
        peers = self.running.service.peers
        assert isinstance(peers, Federation)
        return peers

    @property
    def multiaddr(self) -> str:
        return self.federation.multiaddrs()[0]

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.running.token}"}

    def counters(self) -> dict[str, int]:
        return self.federation.counters()


@asynccontextmanager
async def lone_node(root: Path, organization: str, *, name: str = "home",
                    **overrides: dict[str, Any]) -> AsyncIterator[RunningNode]:
    """One node without a peer layer, its home at ``root / name``; `overrides` are
    config sections merged into the tests' defaults (port 0, no access log)."""
    p2p = {"enabled": False, **overrides.pop("p2p", {})}
    async with local_node(root, name, organization, p2p=p2p, **overrides) as running:
        yield running


@asynccontextmanager
async def start_node(root: Path, name: str, bootstrap: Sequence[str] = (), *,
                     wrap: Wrap | None = None, **p2p: Any) -> AsyncIterator[Node]:
    """One node named `name` (organization "Org <name>") with its home under `root`."""
    async with local_node(root, name, f"Org {name}", bootstrap, p2p={**TEST_P2P, **p2p},
                          wrap=None if wrap is None else partial(wrap, name),
                          checks=TEST_CHECKS) as running:
        yield Node(name, running.home, running)


@asynccontextmanager
async def cluster(n: int, root: Path, *, links: Callable[[int], list[int]] = chain,
                  wrap: Wrap | None = None, names: str = "ABCDEFGH",
                  organizations: Sequence[str] | None = None, **p2p: Any
                  ) -> AsyncIterator[list[Node]]:
    """Start `n` nodes, each dialing the nodes `links(i)` started before it; stop all.
    Node i is named ``names[i]``; its organization is ``organizations[i]`` (default
    "Org <name>")."""
    named = list(names[:n])
    orgs = list(organizations) if organizations is not None else [f"Org {x}" for x in named]
    async with local_cluster(root, orgs, names=named, links=links,
                             wrap=wrap, p2p={**TEST_P2P, **p2p}, checks=TEST_CHECKS
                             ) as running:
        yield [Node(x, r.home, r) for x, r in zip(named, running, strict=True)]


async def status_of(http: aiohttp.ClientSession, url: str) -> int:
    async with http.get(url) as r:
        await r.read()
        return r.status


async def publish(http: aiohttp.ClientSession, node: Node, package: bytes) -> str:
    async with http.post(f"{node.url}/v1/learnwares", data=package, headers=node.auth) as r:
        body = await r.json()
        assert r.status in (200, 201), body
        return str(body["id"])


class NodeProcess:
    """A node as ``lwnode run`` in a subprocess (to be SIGKILLed, SIGSTOPped, restarted).

    The first start picks a free libp2p port; restarts listen on the same one, so
    peers that keep it connected find it again.
    """

    def __init__(self, root: Path, name: str, bootstrap: Sequence[str] = ()) -> None:
        self.home = NodeHome(root / name)
        if not self.home.key_path.exists():
            self.home.init(f"Org {name}")
        self.bootstrap = list(bootstrap)
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.multiaddr = ""
        self.id = ""

    def start(self) -> float:
        """Start and wait until the API answers; returns the seconds it took."""
        began = time.perf_counter()
        self.home.url_path.unlink(missing_ok=True)
        argv = [sys.executable, "-m", "lwnode.cli", "run", "--home", str(self.home.path),
                "--http", "127.0.0.1:0", "--p2p", f"/ip4/127.0.0.1/tcp/{self.port}"]
        if self.bootstrap:
            argv += ["--bootstrap", *self.bootstrap]
        self.proc = subprocess.Popen(argv, env=ENV, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        end = time.monotonic() + 60
        while not self.home.url_path.exists():
            if self.proc.poll() is not None or time.monotonic() > end:
                raise RuntimeError(f"{self.home.path}: the node did not start")
            time.sleep(0.02)
        self.url = self.home.read_url() or ""
        health = json.loads(urllib.request.urlopen(f"{self.url}/v1/health", timeout=10).read())
        self.multiaddr = health["peer_multiaddrs"][0]
        self.id = health["node_id"]
        self.port = int(self.multiaddr.split("/tcp/")[1].split("/")[0])
        return time.perf_counter() - began

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)
        self.home.url_path.unlink(missing_ok=True)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
