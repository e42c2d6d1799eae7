"""Downloading a package from a URL a peer announced, as if the peer were hostile.

A package URL comes from an owner's signed announcement: the owner chose it, and
any node can be an owner. Four things are bounded here (issue 14):

- **where** (`resolve_target`): only ``http(s)://HOST[:PORT][/prefix]/v1/learnwares/
  <id>/package`` on the owner's advertised host (the host of the first URL of its
  signed announcement), no credentials or query; the name is resolved once and
  every address it resolves to must be public — loopback, private, link-local and
  other non-global ranges only when `FetchLimits` allows them (``[fetch]
  private_network``; loopback also when the node's own URL is loopback). The
  connection goes to the checked address (a second lookup could answer
  differently: DNS rebinding), with the name in ``Host`` and TLS SNI.
- **how long** (`Deadline`, `download`): one overall deadline for a fetch over
  every owner tried, a longest silence per read, and a throughput floor once a
  grace period has passed, so a server trickling a byte every few seconds is
  dropped within ~`stall_seconds`.
- **how much** (`check_room`, `download`): at most what the owner signed and the
  node's own package limit, and never so much that less than the reserve of free
  disk is left; both refused before a byte is written.
- **what comes back**: a remote error body is never shown to the caller (it is
  logged); `DownloadFailed` says which kind of failure and the status class.
"""

from __future__ import annotations

import http.client
import ipaddress
import logging
import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING
from urllib.parse import urlsplit

from lwnode.errors import NodeError

if TYPE_CHECKING:
    from lwnode.config import NodeConfig

log = logging.getLogger("lwnode.fetch")

CHUNK_BYTES = 1 << 16
LOGGED_BODY_BYTES = 200
DEADLINE_SLACK_SECONDS = 0.1
"""A read timing out this close to the deadline was cut by it (not by a silent server)."""
Progress = Callable[[int], None]


class DownloadFailed(NodeError):
    """A package could not be fetched from one owner (the message never carries what the
    remote server said: that is in the log)."""

    code = "fetch_failed"


class UrlRefused(DownloadFailed):
    """A package URL the node will not contact (another host, a private address, ...)."""

    code = "url_refused"


class NoRoom(DownloadFailed):
    """A package larger than the node's limit, or than the free disk leaves room for."""

    code = "too_large"


@dataclass(frozen=True)
class FetchLimits:
    """The bounds of one fetch (see the module doc); `from_config` reads ``[fetch]``."""

    deadline_seconds: float = 300.0
    min_bytes_per_second: int = 16384
    stall_seconds: float = 15.0
    max_package_bytes: int = 512 << 20
    disk_reserve_bytes: int = 1 << 30
    allow_private: bool = False
    allow_loopback: bool = False

    @classmethod
    def from_config(cls, config: NodeConfig, node_url: str | None = None) -> FetchLimits:
        """The limits of `config`; loopback is allowed when private networks are, or when
        `node_url` (default: the node's own public URL) is on loopback: such a node is
        reachable from this machine only, so every owner it knows is on it too."""
        f = config.fetch
        own = node_url if node_url is not None else config.public_url()
        return cls(deadline_seconds=f.deadline_seconds,
                   min_bytes_per_second=f.min_bytes_per_second,
                   stall_seconds=f.stall_seconds,
                   max_package_bytes=config.http.max_upload_bytes,
                   disk_reserve_bytes=f.disk_reserve_bytes, allow_private=f.private_network,
                   allow_loopback=f.private_network or is_loopback_url(own))


class Deadline:
    """A point in time (monotonic clock) that a whole fetch must finish by."""

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds
        self.seconds = seconds

    def left(self) -> float:
        return self.at - time.monotonic()

    def check(self, slack: float = 0.0) -> float:
        """The seconds left; `DownloadFailed` when fewer than `slack` are."""
        left = self.left()
        if left <= slack:
            raise DownloadFailed(f"the fetch did not finish within its deadline of "
                                 f"{self.seconds:g} s ([fetch] deadline_seconds)")
        return left


# -- where -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """A checked package URL and the one address the connection goes to."""

    url: str
    scheme: str
    host: str
    port: int
    address: str
    path: str


def is_loopback_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return _plain(ipaddress.ip_address(host)).is_loopback
    except ValueError:
        return False


def _plain(ip: ipaddress.IPv4Address | ipaddress.IPv6Address
           ) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An IPv4 address written as IPv6 (``::ffff:127.0.0.1``) is that IPv4 address."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def address_refusal(address: str, limits: FetchLimits) -> str | None:
    """Why `address` may not be contacted under `limits` (None: it may)."""
    ip = _plain(ipaddress.ip_address(address.split("%", 1)[0]))
    if ip.is_unspecified or ip.is_multicast:
        return "an unspecified or multicast address"
    if ip.is_loopback:
        return None if limits.allow_loopback else (
            "a loopback address (allowed only to a node whose own URL is loopback, or "
            "with [fetch] private_network = true)")
    if not ip.is_global:
        return None if limits.allow_private else (
            "a private, link-local or reserved address (allowed only with [fetch] "
            "private_network = true)")
    return None


def owner_host(first_url: str) -> str:
    """The owner's advertised host: that of the first URL of its signed announcement."""
    return (urlsplit(first_url).hostname or "").lower()


def resolve_target(url: str, learnware_id: str, host: str, limits: FetchLimits, *,
                   resolve: Callable[[str, int], list[str]] | None = None) -> Target:
    """Check `url` (see the module doc) and resolve its host once; `UrlRefused` if not."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        raise UrlRefused(f"package URL {url!r}: not a valid port") from None
    name = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not name:
        raise UrlRefused(f"package URL {url!r}: not an http(s) URL")
    if parts.username is not None or parts.password is not None or parts.query \
            or parts.fragment:
        raise UrlRefused(f"package URL {url!r}: credentials, a query or a fragment")
    if not parts.path.endswith(f"/v1/learnwares/{learnware_id}/package"):
        raise UrlRefused(f"package URL {url!r}: not a package URL of {learnware_id}")
    if name != host:
        raise UrlRefused(f"package URL {url!r}: not on its owner's host {host!r}")
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = (resolve or _resolve)(name, port)
    except OSError as exc:
        raise DownloadFailed(f"package URL {url!r}: the host does not resolve "
                             f"({exc.strerror or exc})") from None
    if not addresses:
        raise DownloadFailed(f"package URL {url!r}: the host does not resolve")
    for address in addresses:  # all of them: a round-robin name must not hide one
        why = address_refusal(address, limits)
        if why is not None:
            raise UrlRefused(f"package URL {url!r}: its host is {why}")
    return Target(url, parts.scheme, name, port, addresses[0], parts.path)


def _resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


# -- how much ----------------------------------------------------------------------------------
def check_room(folder: Path, size: int, have: int, limits: FetchLimits) -> None:
    """Refuse a package of `size` bytes (`have` of them already on disk) that is larger
    than the node's package limit or would leave less free disk than the reserve."""
    if size > limits.max_package_bytes:
        raise NoRoom(f"its owner announced {size} bytes, more than this node's package "
                     f"limit of {limits.max_package_bytes} ([http] max_upload_bytes)")
    free = shutil.disk_usage(folder).free
    if free - (size - have) < limits.disk_reserve_bytes:
        raise NoRoom(f"{size - have} more bytes would leave less than the reserve of "
                     f"{limits.disk_reserve_bytes} bytes free on the disk ([fetch] "
                     "disk_reserve_bytes)")


# -- how long ----------------------------------------------------------------------------------
class _Pinned(http.client.HTTPConnection):
    """HTTP to `address`, with the URL's host name in ``Host``."""

    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = target.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedTls(http.client.HTTPSConnection):
    """HTTPS to `address`; the certificate is checked against the URL's host name."""

    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = target.address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def download(target: Target, out: IO[bytes], *, offset: int, limit: int, deadline: Deadline,
             limits: FetchLimits, progress: Progress | None = None) -> int:
    """Write the package at `target` to `out` (from `offset`, with Range); its size.

    Raises `DownloadFailed` for an HTTP error, a stall, a transfer slower than the
    floor, the deadline; `NoRoom` (before writing) for more than `limit` bytes.
    """
    left = deadline.check()
    cls = _PinnedTls if target.scheme == "https" else _Pinned
    conn = cls(target, timeout=min(limits.stall_seconds, left))
    headers = {"Accept": "application/zip", "User-Agent": "lwnode-fetch"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        conn.request("GET", target.path, headers=headers)
        response = conn.getresponse()
        if response.status not in (200, 206):  # redirects are not followed either
            body = response.read(LOGGED_BODY_BYTES)
            log.info("fetch %s: HTTP %d %s", target.url, response.status, body)
            raise DownloadFailed(f"its owner's server answered an error (HTTP "
                                 f"{response.status // 100}xx)")
        if offset and response.status != 206:
            out.seek(0)
            out.truncate()
            offset = 0
        length = response.getheader("Content-Length")
        if length is not None and length.isdigit() and offset + int(length) > limit:
            raise NoRoom(f"its owner's server sends {offset + int(length)} bytes, more than "
                         f"the {limit} its owner signed")
        return _stream(conn, response, out, offset, limit, deadline, limits, progress)
    except (OSError, http.client.HTTPException) as exc:
        if isinstance(exc, TimeoutError | socket.timeout):
            if deadline.left() < DEADLINE_SLACK_SECONDS:  # the read was cut by the deadline
                deadline.check(slack=DEADLINE_SLACK_SECONDS)
            raise DownloadFailed(f"its owner's server was silent for more than "
                                 f"{limits.stall_seconds:g} s ([fetch] stall_seconds)"
                                 ) from None
        log.info("fetch %s: %s", target.url, exc)
        raise DownloadFailed(f"no answer from its owner's server ({type(exc).__name__})"
                             ) from None
    finally:
        conn.close()


def _stream(conn: http.client.HTTPConnection, response: http.client.HTTPResponse,
            out: IO[bytes], offset: int, limit: int, deadline: Deadline, limits: FetchLimits,
            progress: Progress | None) -> int:
    began, got, written = time.monotonic(), 0, offset
    while True:
        left = deadline.check()
        if conn.sock is not None:
            conn.sock.settimeout(min(limits.stall_seconds, left))
        chunk = response.read1(CHUNK_BYTES)  # what has arrived: read() would wait for all
        if not chunk:
            return written
        got += len(chunk)
        written += len(chunk)
        if written > limit:
            raise NoRoom(f"its owner's server sent more than the {limit} bytes its owner "
                         "signed")
        out.write(chunk)
        if progress:
            progress(len(chunk))
        elapsed = time.monotonic() - began
        if elapsed > limits.stall_seconds and got < limits.min_bytes_per_second * elapsed:
            raise DownloadFailed(f"its owner's server sent {got} bytes in {elapsed:.0f} s, "
                                 f"slower than {limits.min_bytes_per_second} bytes/s "
                                 "([fetch] min_bytes_per_second)")
