"""A stable p2p port: port 0 in ``[p2p] listen`` is resolved once and kept in the home.

Peers re-dial a node at the address they last knew. With a new ephemeral port at
every start, a restarted node was never found again (its peers re-dialled the old
port forever; issue 14, finding 9). So a listen address with ``/tcp/0`` gets the
port kept in ``<home>/p2p.port``; the first start picks a free one and writes it.

If the kept port is taken at start (another program, or another node on it), a new
free port is picked, kept, and a warning says so: peers that knew the old port find
the node again only through the peers that dial it, or when an operator gives them
the new address. To choose a port yourself, write it in ``[p2p] listen`` (e.g.
``/ip4/0.0.0.0/tcp/4001``); to get a new one, delete ``p2p.port``.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger("lwnode")

PORT_FILE = "p2p.port"


def _host_of(addr: str) -> tuple[int, str] | None:
    """(address family, host) of a ``/ip4|ip6/<host>/tcp/0`` multiaddr, else None."""
    parts = addr.strip("/").split("/")
    if len(parts) < 4 or parts[2] != "tcp" or parts[3] != "0":
        return None
    if parts[0] == "ip4":
        return socket.AF_INET, parts[1]
    if parts[0] == "ip6":
        return socket.AF_INET6, parts[1]
    return None


def _free(family: int, host: str, port: int) -> int | None:
    """The port if a listener can bind it now (port 0: a free one), else None."""
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return None
        return int(s.getsockname()[1])


def _kept(path: Path) -> int | None:
    try:
        port = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    return port if 0 < port < 65536 else None


def stable_listen(home: Path, listen: Sequence[str]) -> tuple[str, ...]:
    """`listen` with every ``/tcp/0`` replaced by the node's kept port (see the module doc)."""
    hosts = [h for h in map(_host_of, listen) if h is not None]
    if not hosts:
        return tuple(listen)
    path = home / PORT_FILE
    port = _kept(path)
    if port is not None and not all(_free(f, h, port) for f, h in hosts):
        log.warning("the p2p port %d kept in %s is in use; listening on a new port (peers "
                    "that knew the old one must be given the new address); set [p2p] listen "
                    "to choose a port", port, path)
        port = None
    if port is None:
        for _ in range(20):  # a free port for every address
            family, host = hosts[0]
            candidate = _free(family, host, 0)
            if candidate and all(_free(f, h, candidate) for f, h in hosts[1:]):
                port = candidate
                break
        if port is None:
            return tuple(listen)  # leave it to libp2p: port 0
        path.write_text(f"{port}\n")
    out = []
    for addr in listen:
        if _host_of(addr) is None:
            out.append(addr)
        else:
            parts = addr.strip("/").split("/")
            parts[3] = str(port)
            out.append("/" + "/".join(parts))
    return tuple(out)
