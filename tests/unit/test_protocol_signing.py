"""Signatures, identity, key files, replay detection, content ids, frames, protocol ids."""

from __future__ import annotations

import itertools
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from test_protocol_samples import (
    LEARNWARE_ID,
    OTHER,
    OWNER,
    PACKAGE,
    announcement,
    search_hit,
    withdrawal,
)

from protocol import limits
from protocol.codec import decode_envelope, encode_envelope, encode_message
from protocol.content import (
    ContentHasher,
    check_content_id,
    content_id,
    digest_of,
    file_content_id,
)
from protocol.errors import KeyFileError, ProtocolError, SignatureError, UnsupportedVersionError
from protocol.framing import FRAME_HEADER_BYTES, encode_frame, frame_length
from protocol.messages import SignedEnvelope, SpecAnnouncement, Withdrawal
from protocol.node_id import check_node_id, node_id_from_public_key
from protocol.signing import ENVELOPE_CONTEXT, Identity, verify, verify_detached, verify_hit
from protocol.sync import (
    SequenceBook,
    is_newer,
    make_cursor,
    owner_fingerprint,
    read_cursor,
    split_digests,
    wants_from,
)
from protocol.versions import (
    ANNOUNCE_TOPIC,
    SEARCH_PROTOCOL,
    SYNC_PROTOCOL,
    check_protocol_id,
    parse_protocol_id,
)


# -- envelopes ----------------------------------------------------------------------------------
def test_sign_and_verify_round_trip() -> None:
    env = OWNER.sign(announcement())
    assert verify(env) == announcement()
    assert verify(encode_envelope(env)) == announcement()
    assert verify(env, SpecAnnouncement) == announcement()
    assert env.signer == OWNER.node_id


@pytest.mark.parametrize("record", [withdrawal(), announcement()], ids=lambda r: r.TYPE)
def test_flipping_any_byte_of_a_signed_envelope_is_detected(record: object) -> None:
    data = encode_envelope(OWNER.sign(record))  # type: ignore[arg-type]
    assert verify(data) == record
    for i in range(len(data)):
        for flip in (0x01, 0x80):
            tampered = data[:i] + bytes([data[i] ^ flip]) + data[i + 1:]
            with pytest.raises(SignatureError):
                verify(tampered)


def test_a_valid_signature_by_another_key_is_rejected() -> None:
    payload = encode_message(withdrawal())
    forged = OTHER.sign_detached(payload, ENVELOPE_CONTEXT)
    env = SignedEnvelope(payload, OTHER.public_key, forged)
    with pytest.raises(SignatureError, match="did not sign it"):
        verify(env)
    # the other key's signature under the owner's public key does not verify either
    with pytest.raises(SignatureError, match="does not match"):
        verify(SignedEnvelope(payload, OWNER.public_key, forged))


def test_a_node_cannot_sign_for_another_owner() -> None:
    with pytest.raises(ProtocolError, match="is not this node"):
        OTHER.sign(withdrawal())


def test_only_records_are_signed_and_accepted() -> None:
    from protocol.messages import ErrorReply

    with pytest.raises(ProtocolError, match="only"):
        OWNER.sign(ErrorReply("busy", "x"))  # type: ignore[arg-type]
    payload = encode_message(ErrorReply("busy", "x"))
    env = SignedEnvelope(payload, OWNER.public_key,
                         OWNER.sign_detached(payload, ENVELOPE_CONTEXT))
    with pytest.raises(ProtocolError, match="expected spec_announcement, spec_summary, withdrawal"):
        verify(env)
    with pytest.raises(ProtocolError, match="expected spec_announcement, got withdrawal"):
        verify(OWNER.sign(withdrawal()), SpecAnnouncement)


def test_a_signed_payload_of_an_unknown_major_is_refused_as_such() -> None:
    from test_protocol_samples import raw

    payload = raw(withdrawal(), version=[9, 0])
    env = SignedEnvelope(payload, OWNER.public_key,
                         OWNER.sign_detached(payload, ENVELOPE_CONTEXT))
    with pytest.raises(UnsupportedVersionError):
        verify(env)


def test_signature_context_separates_uses() -> None:
    payload = encode_message(withdrawal())
    other_use = OWNER.sign_detached(payload, b"lwdock/manifest/1\x00")
    with pytest.raises(SignatureError):
        verify(SignedEnvelope(payload, OWNER.public_key, other_use))
    verify_detached(OWNER.public_key, payload, other_use, b"lwdock/manifest/1\x00")
    with pytest.raises(ProtocolError, match="context"):
        verify_detached(OWNER.public_key, payload, other_use, b"no-terminator")


def test_malformed_envelope_bytes_are_signature_errors() -> None:
    for data in (b"", b"\xc1", b"\x80", b"\x83\xa1a\x01\xa1b\x02\xa1c\x03", "text"):
        with pytest.raises(SignatureError):
            decode_envelope(data)
        with pytest.raises(SignatureError):
            verify(data)  # type: ignore[arg-type]


def test_verify_hit_checks_the_hit_against_the_signed_announcement() -> None:
    assert verify_hit(search_hit()) == announcement()
    for field, value in (("size", 999), ("owner", OTHER.node_id),
                         ("learnware_id", content_id(b"other"))):
        with pytest.raises(SignatureError, match=f"SearchHit.{field}"):
            verify_hit(search_hit(**{field: value}))
    forged = search_hit(announcement=OTHER.sign(announcement(owner=OTHER.node_id)))
    with pytest.raises(SignatureError, match=r"SearchHit\.owner"):
        verify_hit(forged)
    assert search_hit().sha256 == LEARNWARE_ID.removeprefix("sha256:")


# -- identity and key files -------------------------------------------------------------------
def test_node_id_is_stable_and_printable() -> None:
    assert OWNER.node_id == node_id_from_public_key(OWNER.public_key)
    assert Identity.from_seed(bytes(range(32))).node_id == OWNER.node_id
    assert check_node_id(OWNER.node_id) == OWNER.node_id
    assert len(OWNER.node_id) == 36 and OWNER.node_id.startswith("lwn1")
    assert OWNER.node_id.isascii() and OWNER.node_id.isalnum()
    assert OWNER.node_id != OTHER.node_id
    for bad in ("", "lwn1" + "A" * 32, "lwn1" + "a" * 31, "lwn2" + "a" * 32, None):
        with pytest.raises(ProtocolError):
            check_node_id(bad)


def test_key_file_round_trip_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    ident = Identity.generate()
    ident.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    loaded = Identity.load(path)
    assert loaded.node_id == ident.node_id and loaded.public_key == ident.public_key
    with pytest.raises(FileExistsError):
        ident.save(path)
    Identity.generate().save(path, overwrite=True)
    assert Identity.load(path).node_id != ident.node_id
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["node.key"]


def test_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    Identity.generate().save(path)
    os.chmod(path, 0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        Identity.load(path)


def test_key_file_of_another_kind_is_refused(tmp_path: Path) -> None:
    ec = generate_private_key(SECP256R1())
    path = tmp_path / "ec.key"
    path.write_bytes(ec.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    path.chmod(0o600)
    with pytest.raises(KeyFileError, match="expected an Ed25519 key"):
        Identity.load(path)
    path.write_bytes(b"not a key")
    with pytest.raises(KeyFileError, match="not an unencrypted PEM"):
        Identity.load(path)
    with pytest.raises(FileNotFoundError):
        Identity.load(tmp_path / "missing.key")


# -- replay and anti-entropy ------------------------------------------------------------------
def test_replayed_older_sequence_is_detected() -> None:
    book = SequenceBook()
    first = verify(OWNER.sign(announcement(sequence=1)))
    tombstone = verify(OWNER.sign(withdrawal(sequence=2)))
    assert book.accept(first)
    assert book.accept(tombstone)
    assert not book.accept(first), "replaying the old announcement must not resurrect it"
    assert not book.accept(tombstone), "a duplicate is not news"
    assert book.sequence_of(OWNER.node_id, LEARNWARE_ID) == 2
    assert book.accept(announcement(sequence=3)), "re-publishing needs a higher sequence"
    assert not book.accept(withdrawal(sequence=2))
    assert is_newer(5, None) and is_newer(5, 4) and not is_newer(4, 4)


def test_digests_converge_by_wants() -> None:
    lw2 = content_id(b"second")
    mine, theirs = SequenceBook(), SequenceBook()
    for book in (mine, theirs):
        book.accept(announcement(sequence=1))
    theirs.accept(announcement(learnware_id=lw2, sequence=2))
    theirs.accept(Withdrawal(LEARNWARE_ID, OWNER.node_id, 3, 0))
    theirs.accept(Withdrawal(LEARNWARE_ID, OTHER.node_id, 1, 0))
    their_digest = split_digests(OTHER.node_id, theirs.entries())[0]
    own = {e.owner: e for e in mine.entries()}
    wants = {w.owner: w.after_sequence for w in wants_from(own, their_digest)}
    assert wants == {OWNER.node_id: 1, OTHER.node_id: 0}
    # same height, different content: ask for everything from that owner
    mine.accept(announcement(learnware_id=lw2, sequence=3))
    own = {e.owner: e for e in mine.entries()}
    assert {w.owner: w.after_sequence for w in wants_from(own, their_digest)}[OWNER.node_id] == 0
    assert wants_from({e.owner: e for e in theirs.entries()}, their_digest) == ()
    entry = theirs.entry(OWNER.node_id)
    assert entry is not None and entry.max_sequence == 3 and entry.count == 2
    assert entry.fingerprint == owner_fingerprint([(lw2, 2), (LEARNWARE_ID, 3)])


def test_split_digests_tile_the_owner_space() -> None:
    book = SequenceBook()
    ids = [Identity.from_seed(bytes([i]) * 32).node_id for i in range(5)]
    for i, owner in enumerate(ids):
        book.accept(Withdrawal(LEARNWARE_ID, owner, i + 1, 0))
    digests = split_digests(OWNER.node_id, book.entries(), per_digest=2)
    assert [len(d.entries) for d in digests] == [2, 2, 1]
    assert digests[0].range_start == "" and digests[-1].range_end == ""
    for a, b in itertools.pairwise(digests):
        assert a.range_end == b.range_start
    assert [e.owner for d in digests for e in d.entries] == sorted(ids)
    assert len(split_digests(OWNER.node_id, [])) == 1


def test_cursor_round_trip_and_hostile_cursor() -> None:
    assert read_cursor(make_cursor(OWNER.node_id, 42)) == (OWNER.node_id, 42)
    for bad in (b"", b"\x90", b"\x92\x01\x02", make_cursor(OWNER.node_id, 1) + b"\x00"):
        with pytest.raises(ProtocolError, match="cursor"):
            read_cursor(bad)


# -- content ids ------------------------------------------------------------------------------
def test_content_ids(tmp_path: Path) -> None:
    assert content_id(b"") == ("sha256:e3b0c44298fc1c149afbf4c8996fb924"
                               "27ae41e4649b934ca495991b7852b855")
    path = tmp_path / "pkg.bin"
    data = os.urandom(3 * 1024 + 7)
    path.write_bytes(data)
    assert file_content_id(path, chunk_bytes=1000) == content_id(data) == file_content_id(path)
    hasher = ContentHasher()
    for i in range(0, len(PACKAGE), 5):
        hasher.update(PACKAGE[i:i + 5])
    assert hasher.matches(LEARNWARE_ID) and hasher.size == len(PACKAGE)
    assert len(digest_of(LEARNWARE_ID)) == 32
    for bad in ("sha256:" + "A" * 64, "sha1:" + "a" * 40, "sha256:" + "a" * 63, 5):
        with pytest.raises(ProtocolError):
            check_content_id(bad)
    with pytest.raises(ProtocolError):
        file_content_id(path, chunk_bytes=0)


# -- frames and protocol ids ------------------------------------------------------------------
def test_frames() -> None:
    frame = encode_frame(b"abc")
    assert frame == b"\x00\x00\x00\x03abc"
    assert frame_length(frame[:FRAME_HEADER_BYTES]) == 3
    top = limits.MAX_MESSAGE_BYTES
    assert frame_length(top.to_bytes(4, "big")) == top
    for header in ((top + 1).to_bytes(4, "big"), b"\x00\x00\x00\x00", b"\x00\x01"):
        with pytest.raises(ProtocolError, match="frame header"):
            frame_length(header)
    with pytest.raises(ProtocolError):
        encode_frame(b"")
    assert len(encode_frame(b"x" * top)) == top + 4
    with pytest.raises(ProtocolError):
        encode_frame(b"x" * (top + 1))


def test_protocol_ids() -> None:
    assert ANNOUNCE_TOPIC == "/lwdock/announce/1.0.0"
    assert SYNC_PROTOCOL == "/lwdock/sync/1.0.0"
    assert SEARCH_PROTOCOL == "/lwdock/search/1.0.0"
    assert parse_protocol_id("/lwdock/search/1.4.2") == ("search", (1, 4, 2))
    assert check_protocol_id("/lwdock/sync/1.9.0") == "sync"
    with pytest.raises(UnsupportedVersionError, match="major version 2"):
        check_protocol_id("/lwdock/sync/2.0.0")
    for bad in ("/lwdock/sync/1.0", "/other/sync/1.0.0", "/lwdock/Sync/1.0.0",
                "/lwdock/sync/01.0.0", 7):
        with pytest.raises(ProtocolError):
            parse_protocol_id(bad)
