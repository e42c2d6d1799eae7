"""Signed records <-> store rows: the node's one bridge to the wire format.

The service signs announcements and tombstones with the node's `Identity` and
keeps them as `RecordRow`s; the catalog and the API read them back. Rows are
decoded without re-checking the signature or the canonical encoding (both were
checked before the row was written: own records are signed here, peers' are
verified on receipt); the schema is validated as always.

An *offer* is what an owner signs to offer a learnware: a full `SpecAnnouncement`
or its compact `SpecSummary` (schema 1.3: specs by id and sketch). A node keeps one
record per (owner, learnware id), whichever of the two reached it first at the
highest sequence: both are stored with kind ``announcement``. An owner keeps the
full announcement of its own learnwares and derives their summary (`own_summary`).
"""

from __future__ import annotations

from dataclasses import replace

from engine.specification.rkme import RKMESpec
from engine.specification.semantic import SemanticSpec
from lwnode.node.store.base import ANNOUNCEMENT, WITHDRAWAL, RecordRow
from protocol.codec import decode_envelope, decode_message, encode_envelope, offer_fingerprint
from protocol.messages import (
    RECORD_TYPES,
    Record,
    SignedEnvelope,
    SpecAnnouncement,
    SpecSummary,
    Withdrawal,
)
from protocol.signing import Identity, verify
from protocol.summary import spec_ids_of, summary_of

Offer = SpecAnnouncement | SpecSummary
OFFER_TYPES = (SpecAnnouncement, SpecSummary)


def _value(x: object) -> str:
    return "" if x is None else str(getattr(x, "value", x))


def row_of(envelope: SignedEnvelope, record: Record, received_at: int) -> RecordRow:
    """The store row of a signed record (already verified or signed here)."""
    data = encode_envelope(envelope)
    if isinstance(record, Withdrawal):
        return RecordRow(record.owner, record.learnware_id, record.sequence, WITHDRAWAL, data,
                         received_at)
    sem = record.semantic
    return RecordRow(record.owner, record.learnware_id, record.sequence, ANNOUNCEMENT, data,
                     received_at, organization=record.organization, name=sem.name,
                     data_type=_value(sem.data_type), task_type=_value(sem.task_type),
                     library=_value(sem.library), license=_value(sem.license),
                     scenarios=sem.scenarios, package_size=record.package_size)


def sign_announcement(identity: Identity, *, learnware_id: str, organization: str,
                      semantic: SemanticSpec, spec: RKMESpec, size: int, urls: tuple[str, ...],
                      sequence: int, now: int) -> RecordRow:
    """Sign this node's announcement of a learnware and return its row."""
    record = SpecAnnouncement(learnware_id, identity.node_id, organization, semantic, (spec,),
                              size, urls, sequence, now)
    return row_of(identity.sign(record), record, now)


def sign_again(identity: Identity, announcement: SpecAnnouncement, *, sequence: int,
               now: int) -> RecordRow:
    """This node's own `announcement` signed again at a new `sequence`: the same
    statement (its learnware, specs, URLs and time of publication), a newer version
    for the replay rule, so that the summary derived from it reaches peers that hold
    the one of the old sequence (`NodeService.renew_summaries`)."""
    record = replace(announcement, sequence=sequence)
    return row_of(identity.sign(record), record, now)


def sign_withdrawal(identity: Identity, *, learnware_id: str, sequence: int, now: int
                    ) -> RecordRow:
    """Sign this node's tombstone for a learnware and return its row."""
    record = Withdrawal(learnware_id, identity.node_id, sequence, now)
    return row_of(identity.sign(record), record, now)


def envelope_of(row: RecordRow) -> SignedEnvelope:
    return decode_envelope(row.envelope, checked=True)


def announcement_of(row: RecordRow) -> SpecAnnouncement:
    """The full announcement a row holds (raises `ProtocolError` if it holds something
    else, a summary included: see `offer_of`)."""
    record: SpecAnnouncement = decode_message(envelope_of(row).payload, SpecAnnouncement,
                                              checked=True)
    return record


def offer_of(row: RecordRow) -> Offer:
    """The offer a row holds: a full announcement or a summary."""
    record: Offer = decode_message(envelope_of(row).payload, OFFER_TYPES, checked=True)
    return record


def points_of(offer: Offer) -> list[int]:
    """Points of each statistical spec of an offer (a summary states them)."""
    if isinstance(offer, SpecSummary):
        return [ref.points for ref in offer.specs]
    return [len(s.points_) for s in offer.statistical]


def content_key(offer: Offer) -> tuple[bytes, int]:
    """What every offer of one learnware id must agree on, whoever signed it and in
    whichever form (announcement or summary): semantic spec, spec ids and size."""
    return offer_fingerprint(offer.semantic, spec_ids_of(offer)), offer.package_size


def own_summary(identity: Identity, announcement: SpecAnnouncement,
                addrs: tuple[str, ...] = ()) -> bytes:
    """The signed summary of an own announcement, with its sequence and the owner's p2p
    `addrs` (envelope bytes).

    A pure function of the announcement, the addresses and the key (Ed25519 signatures
    are deterministic), so it is derived when needed rather than stored.
    """
    return encode_envelope(identity.sign(summary_of(announcement, addrs=addrs)))


def verified_row(data: bytes, received_at: int) -> tuple[RecordRow, Record]:
    """Verify a peer's envelope bytes; the row to store and the record.

    Raises `SignatureError` / `ProtocolError` for anything that cannot be trusted.
    """
    envelope = decode_envelope(data)
    record = verify(envelope, RECORD_TYPES)
    return row_of(envelope, record, received_at), record
