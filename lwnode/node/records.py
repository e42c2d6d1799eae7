"""Signed records <-> store rows: the node's one bridge to the wire format.

The service signs announcements and tombstones with the node's `Identity` and
keeps them as `RecordRow`s; the catalog and the API read them back. Rows are
decoded without re-checking the signature (it was checked before the row was
written: own records are signed here, peers' are verified on receipt).
"""

from __future__ import annotations

from engine.specification.rkme import RKMESpec
from engine.specification.semantic import SemanticSpec
from lwnode.node.store.base import ANNOUNCEMENT, WITHDRAWAL, RecordRow
from protocol.codec import decode_envelope, decode_message, encode_envelope
from protocol.messages import SignedEnvelope, SpecAnnouncement, Withdrawal
from protocol.signing import Identity, verify


def _value(x: object) -> str:
    return "" if x is None else str(getattr(x, "value", x))


def row_of(envelope: SignedEnvelope, record: SpecAnnouncement | Withdrawal,
           received_at: int) -> RecordRow:
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


def sign_withdrawal(identity: Identity, *, learnware_id: str, sequence: int, now: int
                    ) -> RecordRow:
    """Sign this node's tombstone for a learnware and return its row."""
    record = Withdrawal(learnware_id, identity.node_id, sequence, now)
    return row_of(identity.sign(record), record, now)


def envelope_of(row: RecordRow) -> SignedEnvelope:
    return decode_envelope(row.envelope)


def announcement_of(row: RecordRow) -> SpecAnnouncement:
    """The announcement a row holds (raises `ProtocolError` if it holds something else)."""
    record: SpecAnnouncement = decode_message(envelope_of(row).payload, SpecAnnouncement)
    return record


def verified_row(data: bytes, received_at: int) -> tuple[RecordRow, SpecAnnouncement | Withdrawal]:
    """Verify a peer's envelope bytes; the row to store and the record.

    Raises `SignatureError` / `ProtocolError` for anything that cannot be trusted.
    """
    envelope = decode_envelope(data)
    record = verify(envelope)
    return row_of(envelope, record, received_at), record
