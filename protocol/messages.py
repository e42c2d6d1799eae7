"""The typed messages of the wire format (frozen dataclasses).

Every message validates its fields at construction, so an invalid message cannot
exist, whether a node built it or `protocol.codec` decoded it from a peer. Field
names are the wire keys (see ``docs/protocol.md``).

=======================  =======================================================
message                  purpose
=======================  =======================================================
`SpecAnnouncement`       an owner's signed statement: "learnware X, with these
                         specs, is fetchable here" (gossiped in an envelope)
`SpecSummary`            the same statement with each spec as a content id and a
                         sketch (1.3; gossiped on the summary topic)
`Withdrawal`             the owner's signed tombstone for a learnware
`Digest`                 what a node holds from each owner, over a range of owners
`SyncRequest`            "send me the records of these owners after sequence n"
`SyncResponse`           one page of signed records, plus a cursor for the next
`SearchRequest`          a routed query: requirement (specs only, never data), k,
                         mixture size, hops left, nodes visited, time budget
`SearchResponse`         ranked hits carrying the owners' signed announcements
`SpecRequest`            "send me the full specs with these content ids" (1.3)
`SpecResponse`           the specs asked for that the responder holds, as bytes
`ErrorReply`             a stable error code and a human message
=======================  =======================================================

Signed records (`RECORD_TYPES`: `SpecAnnouncement`, `SpecSummary`, `Withdrawal`)
carry the owner's per-owner `sequence`: an owner numbers everything it signs 1, 2,
3, ... so a receiver keeps the highest-sequence record per (owner, learnware id) and
drops replays of older ones (see `protocol.sync`). A summary carries the sequence of
the announcement it summarises: either stands for that version of the learnware.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar

from engine.errors import SearchError, SpecError
from engine.hetero.mapping import ColumnMapping
from engine.privacy.record import check_privacy_record
from engine.search.sketch import Sketch
from engine.specification.rkme import MAX_POINTS, RKMESpec
from engine.specification.semantic import SemanticSpec
from protocol import limits
from protocol.content import CONTENT_ID_PREFIX, check_content_id
from protocol.errors import ProtocolError, SignatureError
from protocol.node_id import PUBLIC_KEY_BYTES, check_node_id, node_id_from_public_key
from protocol.owneraddrs import owner_addrs
from protocol.replication import KEEP_ALL, MAX_FILTERS, ReplicationFilter
from protocol.validate import (
    check_bool,
    check_bytes,
    check_code,
    check_float,
    check_int,
    check_items,
    check_query_id,
    check_str,
    check_unique,
    check_url,
)
from protocol.versions import SCHEMA_VERSION

SIGNATURE_BYTES = 64
WEIGHT_SUM_TOLERANCE = 1e-6


class Message:
    """Base of the top-level messages; `TYPE` is the wire name of the message type.

    `version` is the schema version ``(major, minor)`` of the message's writer:
    `protocol.codec.decode_message` sets it to the version it read (so a node can
    answer an older asker in its terms, `protocol.versions.reads_summaries`); a
    message built here has this node's. It is not a body field: equality and
    encoding ignore it, and the encoder always writes this node's version.
    """

    TYPE: ClassVar[str] = ""
    version: tuple[int, int] = SCHEMA_VERSION


class _ComparedOnWire:
    """Equality and hash by canonical wire bytes.

    Specs have no value equality (`RKMESpec` compares by identity), and two messages
    are the same message exactly when their canonical encodings are equal.
    """

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        from protocol.codec import wire_bytes

        return wire_bytes(self) == wire_bytes(other)

    def __hash__(self) -> int:
        from protocol.codec import wire_bytes

        return hash(wire_bytes(self))


def new_query_id() -> str:
    """A fresh random query id (128 bits as 32 lowercase hex digits)."""
    return secrets.token_hex(16)


def now_ms() -> int:
    """Milliseconds since the Unix epoch, the unit of every timestamp on the wire."""
    return time.time_ns() // 1_000_000


def _semantic(value: object, where: str, *, complete: bool) -> SemanticSpec:
    if not isinstance(value, SemanticSpec):
        raise ProtocolError(f"{where}: expected a SemanticSpec, got {type(value).__name__}")
    if complete:
        try:
            value.require_complete()
        except SpecError as exc:
            raise ProtocolError(f"{where}: {exc}") from None
    return value


def _statistical(value: object, where: str) -> RKMESpec:
    if not isinstance(value, RKMESpec):
        raise ProtocolError(f"{where}: expected a fitted RKME spec, got {type(value).__name__}")
    points = getattr(value, "points_", None)
    if points is None:
        raise ProtocolError(f"{where}: the spec is not fitted")
    if points.size > limits.MAX_ARRAY_ELEMENTS:
        raise ProtocolError(f"{where}.points: {points.shape[0]} x {points.shape[1]} values, at "
                            f"most {limits.MAX_ARRAY_ELEMENTS} allowed")
    return value


def _sequence(value: object, where: str) -> int:
    return check_int(value, where, 1, limits.MAX_SEQUENCE)


def _timestamp(value: object, where: str) -> int:
    return check_int(value, where, 0, limits.MAX_TIMESTAMP_MS)


def _node_ids(value: object, where: str, max_items: int) -> tuple[str, ...]:
    items = check_items(value, where, max_items)
    for i, item in enumerate(items):
        check_node_id(item, f"{where}[{i}]")
    check_unique(items, where)
    return items


def _content_ids(value: object, where: str, max_items: int) -> tuple[str, ...]:
    items = check_items(value, where, max_items, min_items=1)
    for i, item in enumerate(items):
        check_content_id(item, f"{where}[{i}]")
    check_unique(items, where)
    return items


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)


# -- signed envelope ------------------------------------------------------------------------
@dataclass(frozen=True)
class SignedEnvelope:
    """Canonical payload bytes, the signer's raw Ed25519 public key and the signature.

    Construction checks only the shape (sizes); `protocol.signing.verify` checks the
    signature and that the payload's owner is the signer. Any defect of the envelope
    itself raises `SignatureError`: such an envelope cannot be verified.
    """

    payload: bytes
    public_key: bytes
    signature: bytes

    def __post_init__(self) -> None:
        try:
            check_bytes(self.payload, "SignedEnvelope.payload", limits.MAX_SIGNED_PAYLOAD_BYTES,
                        min_len=1)
            check_bytes(self.public_key, "SignedEnvelope.public_key", PUBLIC_KEY_BYTES,
                        min_len=PUBLIC_KEY_BYTES)
            check_bytes(self.signature, "SignedEnvelope.signature", SIGNATURE_BYTES,
                        min_len=SIGNATURE_BYTES)
        except SignatureError:
            raise
        except ProtocolError as exc:
            raise SignatureError(str(exc)) from None

    @property
    def signer(self) -> str:
        """Node id of the public key (not yet proof of anything: see `verify`)."""
        return node_id_from_public_key(self.public_key)


# -- signed records -------------------------------------------------------------------------
def _check_offer(offer: Any, w: str) -> None:
    """The fields an announcement and its summary share (all but the specs)."""
    check_content_id(offer.learnware_id, f"{w}.learnware_id")
    check_node_id(offer.owner, f"{w}.owner")
    check_str(offer.organization, f"{w}.organization", limits.MAX_ORGANIZATION_CHARS,
              min_chars=1)
    _semantic(offer.semantic, f"{w}.semantic", complete=True)
    check_int(offer.package_size, f"{w}.package_size", 1, limits.MAX_PACKAGE_BYTES)
    urls = check_items(offer.package_urls, f"{w}.package_urls", limits.MAX_PACKAGE_URLS,
                       min_items=1)
    for i, url in enumerate(urls):
        check_url(url, f"{w}.package_urls[{i}]", limits.MAX_URL_CHARS)
    check_unique(urls, f"{w}.package_urls")
    _set(offer, "package_urls", urls)
    _sequence(offer.sequence, f"{w}.sequence")
    _timestamp(offer.created_at, f"{w}.created_at")


@dataclass(frozen=True, eq=False)
class SpecAnnouncement(_ComparedOnWire, Message):
    """An owner's signed announcement of one learnware.

    Parameters
    ----------
    learnware_id
        Content id (``sha256:<hex>``) of the package archive.
    owner
        Node id of the owner; must be the node id of the signing key.
    organization
        The owner's organization name, for people (not an identity: see `owner`).
    semantic
        The complete semantic spec.
    statistical
        One or more fitted statistical specs (1..`MAX_STATISTICAL_SPECS`).
    package_size
        Bytes of the package archive.
    package_urls
        Where the owner serves the package (absolute http(s) URLs on its API).
    sequence
        The owner's sequence number (>= 1, increasing over all its signed records).
    created_at
        Milliseconds since the Unix epoch (UTC), when the owner signed it.
    """

    TYPE: ClassVar[str] = "spec_announcement"

    learnware_id: str
    owner: str
    organization: str
    semantic: SemanticSpec
    statistical: tuple[RKMESpec, ...]
    package_size: int
    package_urls: tuple[str, ...]
    sequence: int
    created_at: int

    def __post_init__(self) -> None:
        w = "SpecAnnouncement"
        _check_offer(self, w)
        specs = check_items(self.statistical, f"{w}.statistical", limits.MAX_STATISTICAL_SPECS,
                            min_items=1)
        for i, spec in enumerate(specs):
            _statistical(spec, f"{w}.statistical[{i}]")
        _set(self, "statistical", specs)


@dataclass(frozen=True)
class Withdrawal(Message):
    """The owner's signed tombstone: learnware `learnware_id` is no longer offered.

    It supersedes every record of the same (owner, learnware id) with a lower
    sequence; re-publishing needs a new announcement with a higher sequence.
    """

    TYPE: ClassVar[str] = "withdrawal"

    learnware_id: str
    owner: str
    sequence: int
    created_at: int

    def __post_init__(self) -> None:
        check_content_id(self.learnware_id, "Withdrawal.learnware_id")
        check_node_id(self.owner, "Withdrawal.owner")
        _sequence(self.sequence, "Withdrawal.sequence")
        _timestamp(self.created_at, "Withdrawal.created_at")


SignedRecord = SpecAnnouncement | Withdrawal
SIGNED_TYPES: tuple[type[SpecAnnouncement], type[Withdrawal]] = (SpecAnnouncement, Withdrawal)
"""The record types of 1.2: what a node older than 1.3 can verify (see `RECORD_TYPES`)."""


# -- compact announcements (1.3) ------------------------------------------------------------
SPEC_TYPES = ("rkme_image", "rkme_table", "rkme_text")


@dataclass(frozen=True)
class SpecRef:
    """One statistical spec of a `SpecSummary`: its content id, size, privacy and sketch.

    `id` is the content id of the full spec's canonical wire map (`protocol.codec.spec_id`):
    a node that fetches the full spec checks it against this signed id. `sketch` ranks
    the learnware without the full spec (`engine.search.sketch`); its `space` and `gamma`
    are the full spec's.
    """

    id: str
    type: str
    points: int
    privacy: dict[str, Any] | None
    sketch: Sketch

    def __post_init__(self) -> None:
        check_content_id(self.id, "SpecRef.id")
        if self.type not in SPEC_TYPES:
            raise ProtocolError(f"SpecRef.type: {self.type!r} is not one of {list(SPEC_TYPES)}")
        check_int(self.points, "SpecRef.points", 1, MAX_POINTS)
        if self.privacy is not None:
            try:
                _set(self, "privacy", check_privacy_record(self.privacy, "SpecRef.privacy"))
            except SpecError as exc:
                raise ProtocolError(str(exc)) from None
        if not isinstance(self.sketch, Sketch):
            raise ProtocolError("SpecRef.sketch: expected a Sketch")


@dataclass(frozen=True)
class SpecSummary(Message):
    """An owner's signed compact announcement: a `SpecAnnouncement` whose statistical
    specs are replaced by `SpecRef`s (ids and sketches, a few hundred bytes each).

    Since schema 1.3 (docs/protocol.md, 5.9 and section 12). The owner signs it with
    the sequence of the full announcement it summarises, keeps that announcement (for
    1.2 askers and for `spec_request`s) and gossips the summary on the summary topic.

    `addrs` (1.5; absent: none given) are the owner's p2p multiaddrs, each ending in the
    peer id of the signing key (`protocol.owneraddrs`), so a node that never met the
    owner can dial it for the full specs.
    """

    TYPE: ClassVar[str] = "spec_summary"

    learnware_id: str
    owner: str
    organization: str
    semantic: SemanticSpec
    specs: tuple[SpecRef, ...]
    package_size: int
    package_urls: tuple[str, ...]
    sequence: int
    created_at: int
    addrs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        w = "SpecSummary"
        _check_offer(self, w)
        if self.addrs:  # 1.5: absent (empty) means no address given
            _set(self, "addrs", owner_addrs(self.addrs, self.owner, f"{w}.addrs"))
        elif not isinstance(self.addrs, tuple):
            raise ProtocolError(f"{w}.addrs: expected a tuple of multiaddrs")
        refs = check_items(self.specs, f"{w}.specs", limits.MAX_STATISTICAL_SPECS, min_items=1)
        for i, ref in enumerate(refs):
            if not isinstance(ref, SpecRef):
                raise ProtocolError(f"{w}.specs[{i}]: expected a SpecRef")
        check_unique(tuple(ref.id for ref in refs), f"{w}.specs[].id")
        _set(self, "specs", refs)


Record = SpecAnnouncement | SpecSummary | Withdrawal
RECORD_TYPES: tuple[type[SpecAnnouncement], type[SpecSummary], type[Withdrawal]] = (
    SpecAnnouncement, SpecSummary, Withdrawal)
"""What an owner signs and nodes keep, one per (owner, learnware id): since 1.3 a
summary as well as an announcement or a withdrawal."""


# -- anti-entropy -------------------------------------------------------------------------
@dataclass(frozen=True)
class DigestEntry:
    """What a node holds from one owner.

    `max_sequence` is the highest sequence held, `count` the number of records (one
    per learnware id: the latest announcement or tombstone), `fingerprint` the
    `protocol.sync.owner_fingerprint` of those records.
    """

    owner: str
    max_sequence: int
    count: int
    fingerprint: bytes

    def __post_init__(self) -> None:
        check_node_id(self.owner, "DigestEntry.owner")
        _sequence(self.max_sequence, "DigestEntry.max_sequence")
        check_int(self.count, "DigestEntry.count", 1, limits.MAX_SEQUENCE)
        check_bytes(self.fingerprint, "DigestEntry.fingerprint", 32, min_len=32)


@dataclass(frozen=True)
class Digest(Message):
    """A node's summary of the owners in ``[range_start, range_end)`` (end "" = no end).

    Entries are sorted by owner and unique. A digest that would hold more than
    `MAX_DIGEST_ENTRIES` owners is split into consecutive ranges.

    `holds` (1.4; absent: every learnware) is what the sender replicates
    (`protocol.replication`). An answer's entries cover only the records that match
    both the asker's `holds` and its own (its own learnwares: the asker's only), so
    both sides compare the same part (docs/protocol.md 8.1).
    """

    TYPE: ClassVar[str] = "digest"

    node: str
    range_start: str
    range_end: str
    entries: tuple[DigestEntry, ...]
    holds: ReplicationFilter = KEEP_ALL

    def __post_init__(self) -> None:
        check_node_id(self.node, "Digest.node")
        if not isinstance(self.holds, ReplicationFilter):
            raise ProtocolError("Digest.holds: expected a ReplicationFilter")
        check_str(self.range_start, "Digest.range_start", 64)
        check_str(self.range_end, "Digest.range_end", 64)
        if self.range_end and self.range_end <= self.range_start:
            raise ProtocolError(f"Digest.range_end: {self.range_end!r} is not after "
                                f"range_start {self.range_start!r}")
        entries = check_items(self.entries, "Digest.entries", limits.MAX_DIGEST_ENTRIES)
        previous = None
        for i, entry in enumerate(entries):
            if not isinstance(entry, DigestEntry):
                raise ProtocolError(f"Digest.entries[{i}]: expected a DigestEntry")
            if previous is not None and entry.owner <= previous:
                raise ProtocolError(f"Digest.entries[{i}]: owners must be sorted and unique")
            if entry.owner < self.range_start or (self.range_end
                                                  and entry.owner >= self.range_end):
                raise ProtocolError(f"Digest.entries[{i}]: owner {entry.owner} is outside the "
                                    "digest's range")
            previous = entry.owner
        _set(self, "entries", entries)


@dataclass(frozen=True)
class SyncWant:
    """Ask for every record of `owner` with a sequence above `after_sequence`."""

    owner: str
    after_sequence: int

    def __post_init__(self) -> None:
        check_node_id(self.owner, "SyncWant.owner")
        check_int(self.after_sequence, "SyncWant.after_sequence", 0, limits.MAX_SEQUENCE)


@dataclass(frozen=True)
class SyncRequest(Message):
    """Pull records; `cursor` is empty at first, then the last response's `next_cursor`.

    `filters` (1.4; absent: none): the asker's replication filter: the answerer sends
    only the records that match every one and, but for its own learnwares, its own
    `holds` (`protocol.replication`, docs/protocol.md 8.1).
    """

    TYPE: ClassVar[str] = "sync_request"

    wants: tuple[SyncWant, ...]
    cursor: bytes = b""
    filters: tuple[ReplicationFilter, ...] = ()

    def __post_init__(self) -> None:
        filters = check_items(self.filters, "SyncRequest.filters", MAX_FILTERS)
        for i, item in enumerate(filters):
            if not isinstance(item, ReplicationFilter):
                raise ProtocolError(f"SyncRequest.filters[{i}]: expected a ReplicationFilter")
        _set(self, "filters", filters)
        wants = check_items(self.wants, "SyncRequest.wants", limits.MAX_SYNC_WANTS, min_items=1)
        for i, want in enumerate(wants):
            if not isinstance(want, SyncWant):
                raise ProtocolError(f"SyncRequest.wants[{i}]: expected a SyncWant")
        check_unique(tuple(w.owner for w in wants), "SyncRequest.wants")
        _set(self, "wants", wants)
        check_bytes(self.cursor, "SyncRequest.cursor", limits.MAX_CURSOR_BYTES)


@dataclass(frozen=True)
class SyncResponse(Message):
    """One page of signed records (byte-exact envelopes as their owners signed them).

    `next_cursor` is empty on the last page. The records are not verified by
    decoding: the receiver verifies each with `protocol.signing.verify`.
    """

    TYPE: ClassVar[str] = "sync_response"

    records: tuple[SignedEnvelope, ...]
    next_cursor: bytes = b""

    def __post_init__(self) -> None:
        records = check_items(self.records, "SyncResponse.records", limits.MAX_SYNC_RECORDS)
        for i, record in enumerate(records):
            if not isinstance(record, SignedEnvelope):
                raise ProtocolError(f"SyncResponse.records[{i}]: expected a SignedEnvelope")
        _set(self, "records", records)
        check_bytes(self.next_cursor, "SyncResponse.next_cursor", limits.MAX_CURSOR_BYTES)


# -- search -----------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Requirement(_ComparedOnWire):
    """What a user searches with: a partial semantic spec and/or an RKME of their data.

    Never raw data: the statistical spec carries only the reduced set (K weighted
    points), computed on the user's machine.
    """

    semantic: SemanticSpec | None = None
    spec: RKMESpec | None = None

    def __post_init__(self) -> None:
        if self.semantic is not None:
            _semantic(self.semantic, "Requirement.semantic", complete=False)
        if self.spec is not None:
            _statistical(self.spec, "Requirement.spec")


@dataclass(frozen=True, eq=False)
class SearchRequest(_ComparedOnWire, Message):
    """A routed search query.

    Parameters
    ----------
    query_id
        32 lowercase hex digits (128 random bits, `new_query_id`); nodes answer a
        repeated query id from cache or not at all, which stops loops.
    requirement
        The user's `Requirement`.
    k
        How many single learnwares to return (1..`MAX_K`).
    max_mixture
        Most learnwares in the returned mixture (0 = no mixture).
    ttl
        Hops the query may still travel (0 = answer locally only).
    visited
        Node ids that already have the query (the asker first); not to be asked again.
    deadline_ms
        Time budget in milliseconds from receipt. A budget, not a wall-clock time,
        because the nodes' clocks are not synchronised; each hop forwards what is
        left minus its own margin.
    """

    TYPE: ClassVar[str] = "search_request"

    query_id: str
    requirement: Requirement
    k: int
    max_mixture: int
    ttl: int
    visited: tuple[str, ...]
    deadline_ms: int

    def __post_init__(self) -> None:
        w = "SearchRequest"
        check_query_id(self.query_id, f"{w}.query_id")
        if not isinstance(self.requirement, Requirement):
            raise ProtocolError(f"{w}.requirement: expected a Requirement")
        check_int(self.k, f"{w}.k", 1, limits.MAX_K)
        check_int(self.max_mixture, f"{w}.max_mixture", 0, limits.MAX_MIXTURE)
        check_int(self.ttl, f"{w}.ttl", 0, limits.MAX_TTL)
        _set(self, "visited", _node_ids(self.visited, f"{w}.visited", limits.MAX_VISITED))
        check_int(self.deadline_ms, f"{w}.deadline_ms", 1, limits.MAX_DEADLINE_MS)


@dataclass(frozen=True)
class SearchHit:
    """One learnware in a search answer.

    `learnware_id`, `owner` and `size` repeat what the signed `announcement` says so
    that a hit can be shown without decoding it; `protocol.signing.verify_hit`
    checks both agree. `package_url` is where to fetch it (the owner's URL, or a node
    holding a verified copy); the fetched bytes must have content id `learnware_id`.
    `mmd2` is None when the query had no statistical spec; `score` is in [0, 1],
    higher is better. `mapping` (since 1.1; None when absent) is set for a
    heterogeneous match, a learnware over other columns than the requirement's:
    which of the requirement's columns feed which of the learnware's
    (`engine.hetero.ColumnMapping`); its learnware side must name the announcement's
    columns (`protocol.signing.verify_hit`).
    """

    learnware_id: str
    owner: str
    mmd2: float | None
    score: float
    package_url: str
    size: int
    announcement: SignedEnvelope
    mapping: ColumnMapping | None = None

    def __post_init__(self) -> None:
        check_content_id(self.learnware_id, "SearchHit.learnware_id")
        check_node_id(self.owner, "SearchHit.owner")
        if self.mmd2 is not None:
            check_float(self.mmd2, "SearchHit.mmd2", lo=0.0)
        check_float(self.score, "SearchHit.score", lo=0.0, hi=1.0)
        check_url(self.package_url, "SearchHit.package_url", limits.MAX_URL_CHARS)
        check_int(self.size, "SearchHit.size", 1, limits.MAX_PACKAGE_BYTES)
        if not isinstance(self.announcement, SignedEnvelope):
            raise ProtocolError("SearchHit.announcement: expected a SignedEnvelope")
        if self.mapping is not None:
            _check_mapping(self.mapping, "SearchHit.mapping")

    @property
    def sha256(self) -> str:
        """Hex sha256 of the package: the learnware id is its content id."""
        return self.learnware_id[len(CONTENT_ID_PREFIX):]


def _check_mapping(mapping: object, where: str) -> None:
    if not isinstance(mapping, ColumnMapping):
        raise ProtocolError(f"{where}: expected a ColumnMapping or None")
    for side in ("user_columns", "learnware_columns"):
        names = getattr(mapping, side)
        check_items(names, f"{where}.{side}", limits.MAX_MAPPED_COLUMNS, min_items=1)
        for i, name in enumerate(names):
            check_str(name, f"{where}.{side}[{i}]", limits.MAX_COLUMN_NAME_CHARS)
    for i, pair in enumerate(mapping.pairs):
        check_float(pair.similarity, f"{where}.pairs[{i}].similarity", lo=-1.0, hi=1.0)


def mapping_from_wire(value: object, where: str) -> ColumnMapping:
    """A `ColumnMapping` from its wire map (`ColumnMapping.to_dict`), bounds checked."""
    if isinstance(value, dict):
        for side in ("user_columns", "learnware_columns", "pairs"):
            items = value.get(side)
            if isinstance(items, list) and len(items) > limits.MAX_MAPPED_COLUMNS:
                raise ProtocolError(f"{where}.{side}: {len(items)} items, at most "
                                    f"{limits.MAX_MAPPED_COLUMNS} allowed")
    try:
        mapping = ColumnMapping.from_dict(value)  # type: ignore[arg-type]
    except SearchError as exc:  # its messages start "mapping": name the field once
        text = str(exc)
        text = text[len("mapping"):] if text.startswith("mapping") else f": {text}"
        raise ProtocolError(f"{where}{text}") from None
    _check_mapping(mapping, where)
    return mapping


@dataclass(frozen=True)
class MixtureHit:
    """A weighted set of hits whose mixed RKME fits the requirement best."""

    ids: tuple[str, ...]
    weights: tuple[float, ...]
    mmd2: float
    score: float

    def __post_init__(self) -> None:
        ids = _content_ids(self.ids, "MixtureHit.ids", limits.MAX_MIXTURE)
        weights = check_items(self.weights, "MixtureHit.weights", len(ids), min_items=len(ids))
        for i, weight in enumerate(weights):
            check_float(weight, f"MixtureHit.weights[{i}]", lo=0.0, hi=1.0)
        if abs(sum(weights) - 1.0) > WEIGHT_SUM_TOLERANCE:
            raise ProtocolError(f"MixtureHit.weights: sum to {sum(weights)!r}, expected 1")
        _set(self, "ids", ids)
        _set(self, "weights", weights)
        check_float(self.mmd2, "MixtureHit.mmd2", lo=0.0)
        check_float(self.score, "MixtureHit.score", lo=0.0, hi=1.0)


@dataclass(frozen=True)
class SearchResponse(Message):
    """A node's answer: its merged ranking, best mixture, and what it could not reach.

    `partial` is True when some peers missed the deadline (listed in `missed`) or
    when hits were cut to keep the message within `MAX_MESSAGE_BYTES`. Every id of
    `mixture` is also a hit, so the asker holds its signed announcement.
    """

    TYPE: ClassVar[str] = "search_response"

    query_id: str
    responder: str
    hits: tuple[SearchHit, ...]
    mixture: MixtureHit | None = None
    partial: bool = False
    missed: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        w = "SearchResponse"
        check_query_id(self.query_id, f"{w}.query_id")
        check_node_id(self.responder, f"{w}.responder")
        hits = check_items(self.hits, f"{w}.hits", limits.MAX_HITS)
        for i, hit in enumerate(hits):
            if not isinstance(hit, SearchHit):
                raise ProtocolError(f"{w}.hits[{i}]: expected a SearchHit")
        ids = tuple(hit.learnware_id for hit in hits)
        check_unique(ids, f"{w}.hits")
        _set(self, "hits", hits)
        if self.mixture is not None:
            if not isinstance(self.mixture, MixtureHit):
                raise ProtocolError(f"{w}.mixture: expected a MixtureHit or None")
            absent = sorted(set(self.mixture.ids) - set(ids))
            if absent:
                raise ProtocolError(f"{w}.mixture: id(s) {', '.join(absent)} are not hits")
        check_bool(self.partial, f"{w}.partial")
        _set(self, "missed", _node_ids(self.missed, f"{w}.missed", limits.MAX_VISITED))


# -- full specs by content id (1.3) -------------------------------------------------------------
@dataclass(frozen=True)
class SpecRequest(Message):
    """Ask a node for full statistical specs by content id (`protocol.codec.spec_id`),
    the ids a `SpecSummary`'s `SpecRef`s name.

    `ttl` is how many more hops the answering node may forward the ids it does not
    hold (to the owner or its peers); 0 = answer from what it holds.
    """

    TYPE: ClassVar[str] = "spec_request"

    ids: tuple[str, ...]
    ttl: int

    def __post_init__(self) -> None:
        _set(self, "ids", _content_ids(self.ids, "SpecRequest.ids", limits.MAX_SPEC_IDS))
        check_int(self.ttl, "SpecRequest.ttl", 0, limits.MAX_SPEC_TTL)


@dataclass(frozen=True)
class SpecResponse(Message):
    """The specs of a `SpecRequest` the responder holds, each as the canonical bytes
    `protocol.codec.encode_spec` makes (what its content id names), in any order; ids
    it does not hold are left out, and the message stays within `MAX_MESSAGE_BYTES`
    (`protocol.summary.pack_spec_response` puts in as many as fit).

    Items are not decoded here: the asker names each by hashing it and keeps those it
    asked for (`protocol.summary.specs_of_response`). A stray or repeated item is not
    refused with the message, which would throw the good items away with it.
    """

    TYPE: ClassVar[str] = "spec_response"

    specs: tuple[bytes, ...]

    def __post_init__(self) -> None:
        specs = check_items(self.specs, "SpecResponse.specs", limits.MAX_SPEC_IDS)
        for i, data in enumerate(specs):
            check_bytes(data, f"SpecResponse.specs[{i}]", limits.MAX_SPEC_BYTES, min_len=1)
        _set(self, "specs", specs)


class ErrorCode(str, Enum):
    """Stable error codes; a newer peer may send codes this list does not have yet."""

    BAD_REQUEST = "bad_request"
    UNSUPPORTED_VERSION = "unsupported_version"
    TOO_LARGE = "too_large"
    NOT_FOUND = "not_found"
    BUSY = "busy"
    TIMEOUT = "timeout"
    INTERNAL = "internal"
    FORBIDDEN = "forbidden"
    """Since 1.1: the node answers only the peers its trust policy lists."""

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class ErrorReply(Message):
    """An error in place of a response: `code` for programs, `message` for people."""

    TYPE: ClassVar[str] = "error_reply"

    code: str
    message: str

    def __post_init__(self) -> None:
        code = self.code.value if isinstance(self.code, ErrorCode) else self.code
        _set(self, "code", check_code(code, "ErrorReply.code", limits.MAX_ERROR_CODE_CHARS))
        check_str(self.message, "ErrorReply.message", limits.MAX_ERROR_MESSAGE_CHARS)


MESSAGE_TYPES: dict[str, type[Any]] = {
    cls.TYPE: cls
    for cls in (SpecAnnouncement, Withdrawal, Digest, SyncRequest, SyncResponse, SearchRequest,
                SearchResponse, ErrorReply, SpecSummary, SpecRequest, SpecResponse)
}
"""Wire type name -> message class."""

AnyMessage = (SpecAnnouncement | Withdrawal | Digest | SyncRequest | SyncResponse | SearchRequest
              | SearchResponse | ErrorReply | SpecSummary | SpecRequest | SpecResponse)
