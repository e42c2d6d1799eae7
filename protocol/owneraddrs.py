"""An owner's p2p addresses in its signed summary (schema 1.5).

A node can dial only a peer whose address it knows; a summary names its owner by node
id, not by address. Since 1.5 the owner may list, in the optional `addrs` of its
`SpecSummary`, up to `MAX_OWNER_ADDRS` multiaddrs where it listens, so a node that never
met it can fetch its full specs directly (`lwnode.federation.ownerfetch`).

An address is accepted only in one strict form, which a hostile owner cannot bend into
something else to dial::

    /ip4/<dotted quad>/tcp/<port>/p2p/<peer id>
    /ip6/<compressed RFC 5952 form>/tcp/<port>/p2p/<peer id>

(no IPv4 inside /ip6: its text form differs between Python versions; use /ip4)

with a port in 1..65535 and the peer id of the owner's own key: the base58btc identity
multihash of its Ed25519 public key (``12D3KooW...``), whose node id must be the
summary's `owner` (the signer). A dial to it is Noise-authenticated against that peer id,
so a hostile owner can make nodes dial a host and port of its choosing but never reach
another node under its name; which hosts a node dials at all (public ones only, unless
configured for a private network) is `dialable`.
"""

from __future__ import annotations

import ipaddress
import re

from protocol import limits
from protocol.errors import ProtocolError
from protocol.node_id import node_id_from_public_key

__all__ = ["dialable", "loopback_only", "own_addrs", "owner_addr_parts", "owner_addrs",
           "peer_id_of_key"]

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_ED25519_PREFIX = bytes([0x00, 0x24, 0x08, 0x01, 0x12, 0x20])
"""Identity multihash of 36 bytes: the protobuf PublicKey {Type: Ed25519, Data: 32 bytes}."""

_ADDR_RE = re.compile(r"/(ip4|ip6)/([0-9a-f.:]{2,39})/tcp/([1-9][0-9]{0,4})/p2p/"
                      r"([1-9A-HJ-NP-Za-km-z]{46,52})")


def _b58encode(data: bytes) -> str:
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = _B58[r] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def _b58decode(text: str) -> bytes:
    n = 0
    for ch in text:
        n = n * 58 + _B58.index(ch)
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return b"\0" * (len(text) - len(text.lstrip("1"))) + body


def peer_id_of_key(public_key: bytes) -> str:
    """The libp2p peer id (base58btc) of a raw 32-byte Ed25519 public key."""
    if len(public_key) != 32:
        raise ProtocolError("peer id: expected a 32-byte Ed25519 public key")
    return _b58encode(_ED25519_PREFIX + public_key)


def _key_of_peer_id(peer_id: str) -> bytes | None:
    raw = _b58decode(peer_id)
    if len(raw) != 38 or not raw.startswith(_ED25519_PREFIX) or _b58encode(raw) != peer_id:
        return None
    return raw[len(_ED25519_PREFIX):]


def owner_addr_parts(addr: object, where: str) -> tuple[str, int, str]:
    """``(host, port, node id)`` of an address in the strict form above, or `ProtocolError`.

    The host is the IP literal as written (its canonical form: ``str(ip_address(host))``),
    the node id that of the key the peer id embeds."""
    if not isinstance(addr, str) or not 1 <= len(addr) <= limits.MAX_ADDR_CHARS:
        raise ProtocolError(f"{where}: expected a multiaddr of 1..{limits.MAX_ADDR_CHARS} "
                            f"characters, got {addr!r:.120}")
    match = _ADDR_RE.fullmatch(addr)
    if match is None:
        raise ProtocolError(f"{where}: {addr!r} is not /ip4|ip6/<host>/tcp/<port>/p2p/"
                            "<peer id>")
    family, host, port, peer_id = match.groups()
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise ProtocolError(f"{where}: {host!r} is not an IP address") from None
    if (ip.version == 4) != (family == "ip4") or str(ip) != host or (
            isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None):
        raise ProtocolError(f"{where}: {host!r} is not the canonical /{family} form (an "
                            "IPv4 address travels as /ip4)")
    if int(port) > 65_535:
        raise ProtocolError(f"{where}: port {port} is above 65535")
    key = _key_of_peer_id(peer_id)
    if key is None:
        raise ProtocolError(f"{where}: {peer_id!r} is not the peer id of an Ed25519 key")
    return host, int(port), node_id_from_public_key(key)


def owner_addrs(value: object, owner: str, where: str, *, lenient: bool = False
                ) -> tuple[str, ...]:
    """A summary's `addrs`: 1..`MAX_OWNER_ADDRS` unique addresses of `owner` (the
    signer). Strict: any bad address refuses the record. `lenient` (a summary of a newer
    minor, which may know address forms this node does not): addresses this node cannot
    parse are dropped, but one that names another node is still refused."""
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple) \
            or not 1 <= len(value) <= limits.MAX_OWNER_ADDRS:
        raise ProtocolError(f"{where}: expected 1..{limits.MAX_OWNER_ADDRS} addresses")
    out: list[str] = []
    for i, addr in enumerate(value):
        try:
            _, _, node = owner_addr_parts(addr, f"{where}[{i}]")
        except ProtocolError:
            if lenient:
                continue
            raise
        if node != owner:
            raise ProtocolError(f"{where}[{i}]: {addr!r} is the address of {node}, not of "
                                f"the signer {owner}")
        if addr in out:
            raise ProtocolError(f"{where}: duplicate entries")
        out.append(addr)
    return tuple(out)


def dialable(addr: str, *, private: bool, loopback: bool = False) -> bool:
    """Whether this node may dial `addr` (an owner's address): a public host; a loopback
    one if `loopback` or `private`; another private, link-local or reserved one only if
    `private` (the node is configured for a private network, ``[fetch]
    private_network``). Never an unspecified or multicast host, nor an invalid address."""
    try:
        host, _, _ = owner_addr_parts(addr, "addr")
    except ProtocolError:
        return False
    ip = ipaddress.ip_address(host)
    if ip.is_unspecified or ip.is_multicast:
        return False
    if ip.is_loopback:
        return loopback or private
    return private or ip.is_global


def loopback_only(addrs: object) -> bool:
    """Whether `addrs` (a node's listen multiaddrs) are all on loopback hosts (a
    this-machine-only node, which may dial owners on loopback too); False if empty."""
    if not isinstance(addrs, list | tuple) or not addrs:
        return False
    for addr in addrs:
        parts = addr.split("/") if isinstance(addr, str) else []
        if len(parts) < 3 or parts[1] not in ("ip4", "ip6"):
            return False
        try:
            if not ipaddress.ip_address(parts[2]).is_loopback:
                return False
        except ValueError:
            return False
    return True


_BASE_RE = re.compile(r"(/(?:ip4|ip6)/[^/]{1,39}/tcp/[0-9]{1,5})(?:/p2p/([^/]{1,60}))?")


def own_addrs(bases: object, peer_id: str, *, strict: bool = True) -> tuple[str, ...]:
    """The `addrs` an owner of libp2p `peer_id` puts in its summaries, from `bases`:
    multiaddrs ``/ip4|ip6/<host>/tcp/<port>``, with or without ``/p2p/<peer_id>`` (the
    node's ``[p2p] announce_addrs``, or its listen addresses). Hosts 0.0.0.0 and :: (an
    address to listen on, not to dial) and port 0 are left out, repeats too, and at most
    `MAX_OWNER_ADDRS` are kept.

    `strict` (a setting a person wrote): an address of another form, of another peer id,
    an unspecified host or port 0, or more than `MAX_OWNER_ADDRS` of them, raise
    `ProtocolError` instead. With an empty `peer_id` only the forms are checked."""
    if isinstance(bases, str | bytes) or not isinstance(bases, list | tuple):
        raise ProtocolError("expected a list of multiaddrs")
    if strict and len(bases) > limits.MAX_OWNER_ADDRS:
        raise ProtocolError(f"at most {limits.MAX_OWNER_ADDRS} addresses, got {len(bases)}")
    check_id = peer_id or peer_id_of_key(bytes(32))
    out: list[str] = []
    for base in bases:
        match = _BASE_RE.fullmatch(base) if isinstance(base, str) else None
        try:
            if match is None:
                raise ProtocolError(f"{base!r:.120} is not /ip4|ip6/<host>/tcp/<port>")
            stem, named = match.groups()
            if named is not None and peer_id and named != peer_id:
                raise ProtocolError(f"{base!r} names another peer id than this node's")
            addr = f"{stem}/p2p/{check_id}"
            host, port, _ = owner_addr_parts(addr, repr(base))
            if port == 0 or ipaddress.ip_address(host).is_unspecified:
                raise ProtocolError(f"{base!r}: host {host} port {port} cannot be dialled")
        except ProtocolError:
            if strict:
                raise
            continue
        if addr not in out and len(out) < limits.MAX_OWNER_ADDRS:
            out.append(addr)
    return tuple(out) if peer_id else ()
