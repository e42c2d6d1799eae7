"""Several real nodes in this process on loopback: the demo's (and tests') network.

Each node is what ``lwnode run`` starts — store, service, HTTP API and the libp2p
peer layer (its own trio thread) — on 127.0.0.1 with ephemeral ports, in its own
home under `root`. `local_cluster` starts them so that node i dials the nodes
`links(i)` started before it, waits until those links are up, and stops them all
on exit, in reverse order.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

from lwnode.daemon import RunningNode, peer_layer_for, running_node
from lwnode.federation.layer import Federation
from lwnode.federation.p2p.base import PeerNetwork
from lwnode.home import NodeHome

LINK_WAIT = 15.0


def chain(i: int) -> list[int]:
    """Node i dials node i - 1: a line, so messages must be relayed."""
    return [i - 1] if i else []


@asynccontextmanager
async def local_node(root: Path, name: str, organization: str,
                     bootstrap: Sequence[str] = (), *,
                     wrap: Callable[[PeerNetwork], PeerNetwork] | None = None,
                     p2p: dict[str, Any] | None = None, **overrides: dict[str, Any]
                     ) -> AsyncIterator[RunningNode]:
    """One node with its home at ``root / name`` (created on first use).

    `p2p` adds ``[p2p]`` settings, `overrides` settings of other sections (merged into
    the defaults here: ``http={"open_reads": False}`` keeps port 0); `wrap` replaces
    the peer layer's network by a wrapper of it (tests record or drop traffic).
    """
    home = NodeHome(root / name)
    if not home.key_path.exists():
        home.init(organization)
    sections: dict[str, dict[str, Any]] = {
        "http": {"port": 0}, "log": {"access_log": False},
        "p2p": {"bootstrap": list(bootstrap), **(p2p or {})}}
    for section, values in overrides.items():
        sections[section] = {**sections.get(section, {}), **values}
    config = home.config(env={}, overrides=sections)
    layer = peer_layer_for(home, config)
    if wrap is not None:
        assert isinstance(layer, Federation), "wrap needs the peer layer enabled"
        layer.network = wrap(layer.network)
    async with running_node(home, config, peers=layer) as node:
        yield node


def federation_of(node: RunningNode) -> Federation:
    peers = node.service.peers
    assert isinstance(peers, Federation), "the node runs without a peer layer"
    return peers


@asynccontextmanager
async def local_cluster(root: Path, organizations: Sequence[str], *,
                        names: Sequence[str] | None = None,
                        links: Callable[[int], list[int]] = chain,
                        wrap: Callable[[str, PeerNetwork], PeerNetwork] | None = None,
                        **overrides: Any) -> AsyncIterator[list[RunningNode]]:
    """Start one node per organization, linked by `links`; stop them all on exit.

    Node i's home is ``root / names[i]`` (default ``node<i>``); `wrap(name, network)`
    wraps each node's network, `overrides` go to every `local_node`.
    """
    names = list(names) if names is not None else [f"node{i}" for i in
                                                   range(len(organizations))]
    async with AsyncExitStack() as stack:
        nodes: list[RunningNode] = []
        for i, (name, org) in enumerate(zip(names, organizations, strict=True)):
            bootstrap = [federation_of(nodes[j]).multiaddrs()[0] for j in links(i)]
            nodes.append(await stack.enter_async_context(local_node(
                root, name, org, bootstrap,
                wrap=None if wrap is None else functools.partial(wrap, name), **overrides)))
        for i in range(len(nodes)):
            for j in links(i):
                await federation_of(nodes[i]).network.wait_connected(
                    str(nodes[j].service.node_id), LINK_WAIT)
        yield nodes
