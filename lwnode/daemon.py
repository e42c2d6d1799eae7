"""Running a node: store + service + HTTP server, started and stopped as one.

`running_node(home, config, peers=...)` is an async context manager that opens
(and locks) the store, then builds the peer layer if given a factory of it, rebuilds
the catalog, starts the peer layer, binds the API (port 0 picks
a free port), writes ``node.url`` into the home, and undoes all of it on exit;
tests and benchmarks use it directly. `peer_layer_for` builds the peer layer the
config asks for (`Federation` on libp2p, or `NoPeers`). `serve` is ``lwnode run``:
all of it until SIGINT or SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiohttp import web

from lwnode.config import LogSection, NodeConfig
from lwnode.errors import ConfigError
from lwnode.federation.p2p.base import P2PSettings
from lwnode.federation.stableport import stable_listen
from lwnode.home import NodeHome
from lwnode.http.app import make_app
from lwnode.http.server import GuardedAppRunner
from lwnode.node.peering import NoPeers, PeerLayer
from lwnode.node.service import NodeService
from lwnode.node.store.sqlite import FileStore

log = logging.getLogger("lwnode")


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log collectors."""

    def format(self, record: logging.LogRecord) -> str:
        out = {"time": round(record.created, 3), "level": record.levelname.lower(),
               "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out)


def configure_logging(section: LogSection) -> None:
    """Log to stderr at the configured level and format (replaces earlier handlers)."""
    handler = logging.StreamHandler(sys.stderr)
    if section.format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: "
                                               "%(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(section.level.upper())
    logging.getLogger("lwnode.access").setLevel(
        logging.INFO if section.access_log else logging.WARNING)
    # libp2p logs every failed dial at ERROR; a dead peer re-dialled every 2 s would
    # flood the log. Our own peer-layer messages are under the lwnode.federation loggers.
    logging.getLogger("libp2p").setLevel(
        logging.DEBUG if section.level == "debug" else logging.CRITICAL)


def peer_layer_for(home: NodeHome, config: NodeConfig) -> PeerLayer:
    """The peer layer of ``[p2p]``: a `Federation` on libp2p (the node key is its libp2p
    identity), or `NoPeers` when ``enabled = false``. Nothing starts until the node does."""
    if not config.p2p.enabled:
        return NoPeers()
    from lwnode.federation.layer import Federation
    from lwnode.federation.p2p.libp2p_network import Libp2pNetwork, load_node_key

    key = load_node_key(home.key_path)
    listen = stable_listen(home.path, config.p2p.listen) if config.p2p.keep_port else \
        config.p2p.listen
    try:
        own = Libp2pNetwork(key, listen=listen).peer_id
        bootstrap = [a for a in config.p2p.bootstrap
                     if not a.rstrip("/").endswith(f"/p2p/{own}")]  # ourselves: skip
        network = Libp2pNetwork(key, listen=listen, bootstrap=bootstrap,
                                settings=p2p_settings(config))
    except ValueError as exc:
        raise ConfigError(f"[p2p]: {exc}") from None
    return Federation(network)


def p2p_settings(config: NodeConfig) -> P2PSettings:
    """The peer layer's settings from ``[peer_limits]`` (the rest keep their defaults)."""
    limits = config.peer_limits
    return P2PSettings(max_inbound_per_peer=limits.max_inbound_per_peer,
                       max_outbound_per_peer=limits.max_outbound_per_peer,
                       first_frame_timeout=limits.first_frame_timeout,
                       max_peer_faults=limits.max_faults, fault_window=limits.fault_window,
                       peer_ban_seconds=limits.ban_seconds)


@dataclass
class RunningNode:
    """A node serving on `url`."""

    url: str
    service: NodeService
    home: NodeHome
    token: str
    app: web.Application


@asynccontextmanager
async def running_node(home: NodeHome, config: NodeConfig, *,
                       peers: PeerLayer | Callable[[], PeerLayer] | None = None
                       ) -> AsyncIterator[RunningNode]:
    """Start a node in this event loop; stop it (cleanly) on exit.

    `peers` is the peer layer, or a function that builds it, called once the store is
    locked: a second start of a running home fails on the lock before it touches the
    home's kept p2p port (`peer_layer_for`).
    """
    identity = home.identity()
    token = home.token()
    store_dir = home.store_dir(config)
    store = FileStore(store_dir)  # its lock: one node per home
    try:
        if callable(peers):
            peers = peers()
        service = NodeService(config, identity, store, peers, scratch=store_dir / "scratch")
        app = make_app(service, config, token)
        access = logging.getLogger("lwnode.access") if config.log.access_log else None
        # aiohttp's runner with header/body deadlines and connection caps ([http])
        runner = GuardedAppRunner(app, config.http, access_log=access, handle_signals=False,
                                  shutdown_timeout=5.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, config.http.host, config.http.port)
            await site.start()
            port = runner.addresses[0][1]
            service.public_url = config.public_url(port)
            home.write_url(service.public_url)
            log.info("node %s (%s) serving %s", identity.node_id, service.organization,
                     service.public_url)
            try:
                yield RunningNode(service.public_url, service, home, token, app)
            finally:
                home.clear_url()
        finally:
            await runner.cleanup()
    finally:
        store.close()


async def serve(home: NodeHome, config: NodeConfig, *, ready: asyncio.Event | None = None
                ) -> None:
    """Run until SIGINT or SIGTERM, then stop cleanly (``lwnode run``)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    began = time.perf_counter()
    async with running_node(home, config, peers=lambda: peer_layer_for(home, config)) as node:
        print(f"lwnode: node {node.service.node_id} serving {node.url} "
              f"(started in {time.perf_counter() - began:.1f} s; Ctrl-C stops)", flush=True)
        for addr in node.service.peers.multiaddrs():
            print(f"lwnode: peers reach it at {addr}", flush=True)
        if ready is not None:
            ready.set()
        await stop.wait()
        log.info("stopping")
    print("lwnode: stopped", flush=True)
