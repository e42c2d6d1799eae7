"""An owner's p2p addresses in its signed summary (schema 1.5, `protocol.owneraddrs`).

Bounds, the strict form, the peer id that must be the signer's, what a node of another
minor makes of them, and which of them a node dials.
"""

from __future__ import annotations

import dataclasses

import pytest
from test_protocol_samples import OWNER, raw, spec_summary

from protocol import limits
from protocol.codec import decode_envelope, decode_message, encode_envelope, to_wire
from protocol.errors import ProtocolError
from protocol.messages import SignedEnvelope, SpecSummary
from protocol.owneraddrs import (
    dialable,
    loopback_only,
    own_addrs,
    owner_addr_parts,
    owner_addrs,
    peer_id_of_key,
)
from protocol.signing import ENVELOPE_CONTEXT, Identity, verify
from protocol.versions import SCHEMA_MAJOR, SCHEMA_MINOR

PEER = peer_id_of_key(OWNER.public_key)
OTHER = Identity.from_seed(bytes(range(1, 33)))
OTHER_PEER = peer_id_of_key(OTHER.public_key)


def addr(host: str = "203.0.113.7", port: int = 4001, peer: str = PEER) -> str:
    family = "ip6" if ":" in host else "ip4"
    return f"/{family}/{host}/tcp/{port}/p2p/{peer}"


def with_addrs(*addrs: str) -> SpecSummary:
    return dataclasses.replace(spec_summary(), addrs=tuple(addrs))


def signed(payload: bytes, who: Identity = OWNER) -> bytes:
    """An envelope of `payload` as it is, signed by `who` (bytes no constructor makes)."""
    return encode_envelope(SignedEnvelope(payload, who.public_key,
                                          who.sign_detached(payload, ENVELOPE_CONTEXT)))


def test_the_peer_id_is_libp2ps_own_for_the_key() -> None:
    libp2p = pytest.importorskip("libp2p.peer.id")
    ed25519 = pytest.importorskip("libp2p.crypto.ed25519")
    for ident in (OWNER, OTHER, Identity.generate()):
        key = ed25519.Ed25519PublicKey.from_bytes(ident.public_key)
        assert peer_id_of_key(ident.public_key) == libp2p.ID.from_pubkey(key).to_base58()
    assert PEER.startswith("12D3KooW") and len(PEER) == 52


def test_a_summary_with_addresses_is_signed_and_verified_with_them() -> None:
    summary = with_addrs(addr(), addr("2001:db8::7", 4002))
    record = verify(encode_envelope(OWNER.sign(summary)))
    assert isinstance(record, SpecSummary)
    assert record.addrs == summary.addrs
    assert owner_addr_parts(record.addrs[1], "a") == ("2001:db8::7", 4002, OWNER.node_id)


def test_no_address_is_no_key_and_the_bytes_of_before() -> None:
    plain = spec_summary()
    assert "addrs" not in to_wire(plain)
    assert "addrs" in to_wire(with_addrs(addr()))
    body = {**to_wire(plain), "addrs": []}  # never an empty list
    with pytest.raises(ProtocolError, match="addrs"):
        decode_message(raw(plain, body), SpecSummary)


def test_at_most_four_addresses_of_at_most_the_limit_each() -> None:
    four = [addr(port=4001 + i) for i in range(limits.MAX_OWNER_ADDRS)]
    assert with_addrs(*four).addrs == tuple(four)
    with pytest.raises(ProtocolError, match=r"1\.\.4 addresses"):
        with_addrs(*four, addr(port=5000))
    longest = addr("1234:5678:9abc:def0:1234:5678:9abc:def1", 65535)
    assert len(longest) == 111 <= limits.MAX_ADDR_CHARS
    assert with_addrs(longest).addrs == (longest,)
    with pytest.raises(ProtocolError, match="characters"):
        owner_addr_parts("/ip4/" + "1" * limits.MAX_ADDR_CHARS, "a")
    with pytest.raises(ProtocolError, match="duplicate"):
        with_addrs(addr(), addr())


def test_an_address_of_another_node_is_refused_even_signed() -> None:
    theirs = addr(peer=OTHER_PEER)
    with pytest.raises(ProtocolError, match="not of the signer"):
        with_addrs(addr(), theirs)
    # Spelled on the wire by a hostile owner and signed by it: refused at verification.
    body = {**to_wire(spec_summary()), "addrs": [addr(), theirs]}
    with pytest.raises(ProtocolError, match="not of the signer"):
        verify(signed(raw(spec_summary(), body)))
    # ... also by a node of an older minor reading a newer one leniently.
    newer = raw(spec_summary(), body, version=[SCHEMA_MAJOR, SCHEMA_MINOR + 1])
    with pytest.raises(ProtocolError, match="not of the signer"):
        verify(signed(newer))


@pytest.mark.parametrize("bad", [
    "/ip4/203.0.113.7/tcp/4001",                      # no peer id
    f"/ip4/203.0.113.7/udp/4001/p2p/{PEER}",          # not tcp
    f"/dns4/example.org/tcp/4001/p2p/{PEER}",         # a name, not an address
    f"/ip4/203.0.113.07/tcp/4001/p2p/{PEER}",         # not canonical
    f"/ip4/203.0.113.256/tcp/4001/p2p/{PEER}",        # not an address
    f"/ip6/2001:DB8::7/tcp/4001/p2p/{PEER}",          # upper case
    f"/ip6/2001:db8:0::7/tcp/4001/p2p/{PEER}",        # not compressed
    f"/ip6/::ffff:102:304/tcp/4001/p2p/{PEER}",       # IPv4 inside /ip6
    f"/ip4/2001:db8::7/tcp/4001/p2p/{PEER}",          # family mismatch
    f"/ip4/203.0.113.7/tcp/0/p2p/{PEER}",             # port 0
    f"/ip4/203.0.113.7/tcp/65536/p2p/{PEER}",         # port too high
    f"/ip4/203.0.113.7/tcp/4001/p2p/{PEER[:-1]}",     # not a whole peer id
    f"/ip4/203.0.113.7/tcp/4001/p2p/{PEER}/ws",       # more after the peer id
    "/ip4/203.0.113.7/tcp/4001/p2p/QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N",  # RSA
])
def test_only_the_strict_form_is_accepted(bad: str) -> None:
    with pytest.raises(ProtocolError):
        with_addrs(bad)


def test_a_newer_minor_may_add_address_forms_this_node_drops() -> None:
    future = f"/dns4/owner.example.org/tcp/4001/p2p/{PEER}"
    body = {**to_wire(spec_summary()), "addrs": [future, addr()], "future_field": 1}
    newer = raw(spec_summary(), body, version=[SCHEMA_MAJOR, SCHEMA_MINOR + 1])
    record = verify(signed(newer))
    assert isinstance(record, SpecSummary)
    assert record.addrs == (addr(),)
    assert record.version == (SCHEMA_MAJOR, SCHEMA_MINOR + 1)
    # of this node's own minor, the same form refuses the record
    with pytest.raises(ProtocolError):
        verify(signed(raw(spec_summary(), {**body, "future_field": None} | {
            "addrs": [future, addr()]})))
    assert owner_addrs([future], OWNER.node_id, "a", lenient=True) == ()


def test_an_older_verifier_checks_the_signature_over_the_bytes_as_sent() -> None:
    """A 1.4 node drops `addrs` when it decodes the payload (an unknown key of a newer
    minor), but the signature covers the payload bytes, which it verifies first and
    relays unchanged: the same record, and a 1.5 node behind it still sees the
    addresses. Here as a 1.4 reader does it: the 1.4 body without the field, read from
    a payload whose extra key it does not know."""
    envelope = encode_envelope(OWNER.sign(with_addrs(addr())))
    payload = decode_envelope(envelope).payload
    older_body = {k: v for k, v in to_wire(with_addrs(addr())).items() if k != "addrs"}
    assert to_wire(spec_summary()) == older_body  # what the 1.4 node keeps of it
    assert verify(envelope).addrs == (addr(),)  # and the relayed bytes still carry them
    tampered = payload.replace(b"203.0.113.7", b"203.0.113.8")
    with pytest.raises(Exception, match="signature"):
        verify(encode_envelope(SignedEnvelope(tampered, OWNER.public_key,
                                              decode_envelope(envelope).signature)))


def test_own_addresses_from_listen_or_announce_settings() -> None:
    listen = (f"/ip4/127.0.0.1/tcp/4001/p2p/{PEER}", f"/ip4/0.0.0.0/tcp/4001/p2p/{PEER}",
              f"/ip6/::/tcp/4001/p2p/{PEER}", "/memory/x", f"/ip4/10.0.0.2/tcp/4001/p2p/{PEER}")
    assert own_addrs(listen, PEER, strict=False) == (
        f"/ip4/127.0.0.1/tcp/4001/p2p/{PEER}", f"/ip4/10.0.0.2/tcp/4001/p2p/{PEER}")
    assert own_addrs([f"/ip4/127.0.0.1/tcp/1/p2p/{OTHER_PEER}"], PEER, strict=False) == ()
    many = [f"/ip4/198.51.100.{i}/tcp/4001" for i in range(1, 7)]
    assert len(own_addrs(many, PEER, strict=False)) == limits.MAX_OWNER_ADDRS
    # a setting a person wrote: any defect is an error
    assert own_addrs(many[:4], "") == ()
    for bad in (many, ["/ip4/0.0.0.0/tcp/4001"], ["/ip4/198.51.100.1/tcp/0"],
                ["/dns4/example.org/tcp/1"], [f"/ip4/198.51.100.1/tcp/1/p2p/{OTHER_PEER}"]):
        with pytest.raises(ProtocolError):
            own_addrs(bad, PEER)


def test_which_addresses_a_node_dials() -> None:
    public, private, loop = addr("93.184.216.34"), addr("10.1.2.3"), addr("127.0.0.1")
    assert not dialable(addr(), private=False)  # 203.0.113.0/24 is for documentation
    assert dialable(public, private=False)
    assert not dialable(private, private=False) and dialable(private, private=True)
    assert not dialable(loop, private=False)
    assert dialable(loop, private=False, loopback=True) and dialable(loop, private=True)
    assert not dialable(addr("fe80::1"), private=False)
    for never in (addr("0.0.0.0"), addr("224.0.0.1"), "/ip4/203.0.113.7/tcp/1"):
        assert not dialable(never, private=True, loopback=True)
    assert loopback_only([f"/ip4/127.0.0.1/tcp/1/p2p/{PEER}", "/ip6/::1/tcp/2"])
    assert not loopback_only([f"/ip4/127.0.0.1/tcp/1/p2p/{PEER}", "/ip4/10.0.0.1/tcp/2"])
    assert not loopback_only([])
