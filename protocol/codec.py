"""Messages <-> canonical bytes.

A message on the wire is the canonical msgpack map (see `protocol.wire`)::

    {"body": {...fields...}, "type": "<message type>", "version": [major, minor]}

Statistical specs travel as their `to_dict()` form with `points` and `weights` as
float32 arrays: measured on fitted table specs, the rounding changes MMD^2 between
two specs by at most ~3e-7 relative (docs/protocol.md), far below any ranking
difference, and halves the bytes. Scalars (gamma, scores) stay 64-bit floats.

Decoding is strict for messages of this node's schema version: besides the schema
checks, the decoded message must encode back to the very same bytes, so every valid
message has exactly one encoding (``encode(decode(b)) == b``): what is signed is what
is hashed is what is compared. Messages of a newer minor version are decoded
leniently (unknown fields ignored) and kept as the bytes their sender signed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from engine.errors import SpecError
from engine.specification import spec_from_dict
from engine.specification.rkme import RKMESpec
from engine.specification.semantic import (
    FEATURE_FIELDS,
    INPUT_FIELDS,
    OUTPUT_FIELDS,
    SEMANTIC_FIELDS,
    SemanticSpec,
)
from protocol import limits
from protocol.content import check_content_id, content_id
from protocol.errors import ProtocolError, SignatureError
from protocol.messages import (
    MESSAGE_TYPES,
    RECORD_TYPES,
    Digest,
    DigestEntry,
    ErrorReply,
    Message,
    MixtureHit,
    Requirement,
    SearchHit,
    SearchRequest,
    SearchResponse,
    SignedEnvelope,
    SpecAnnouncement,
    SpecRef,
    SpecRequest,
    SpecResponse,
    SpecSummary,
    SyncRequest,
    SyncResponse,
    SyncWant,
    Withdrawal,
    mapping_from_wire,
)
from protocol.owneraddrs import owner_addrs
from protocol.replication import ReplicationFilter
from protocol.sketch import sketch_from_wire, sketch_to_wire
from protocol.validate import MapReader
from protocol.versions import SCHEMA_MAJOR, SCHEMA_MINOR, check_schema_version
from protocol.wire import array_from_wire, array_to_wire, pack, unpack

SPEC_ARRAY_DTYPE = "float32"
"""Wire dtype of a statistical spec's points and weights."""

M = TypeVar("M")
T = TypeVar("T")

# Errors the engine's from_dict may raise on hostile input; all become ProtocolError.
_ENGINE_INPUT_ERRORS = (SpecError, ValueError, TypeError, KeyError, IndexError, AttributeError,
                        OverflowError, ImportError)


def max_bytes_for(cls: type[Any]) -> int:
    """The byte limit of one encoded message of type `cls`."""
    return limits.MAX_SIGNED_PAYLOAD_BYTES if cls in RECORD_TYPES else limits.MAX_MESSAGE_BYTES


def _with_path(where: str, exc: ProtocolError) -> ProtocolError:
    return type(exc)(f"{where}: {exc}")


# -- specs ------------------------------------------------------------------------------------
def spec_to_wire(spec: RKMESpec, where: str = "spec") -> dict[str, Any]:
    """Wire map of a fitted statistical spec (its `to_dict()` with float32 arrays)."""
    try:
        data = dict(spec.to_dict())
    except SpecError as exc:
        raise ProtocolError(f"{where}: {exc}") from None
    data["points"] = array_to_wire(data["points"], SPEC_ARRAY_DTYPE, f"{where}.points")
    data["weights"] = array_to_wire(data["weights"], SPEC_ARRAY_DTYPE, f"{where}.weights")
    return data


SPEC_KEYS = frozenset({"type", "format", "space", "gamma", "n_samples", "points", "weights",
                       "params", "privacy"})
"""Keys of a spec map this version knows (``privacy`` since 1.2, optional)."""


def encode_spec(spec: RKMESpec) -> bytes:
    """Canonical bytes of a statistical spec's wire map: what `spec_id` names."""
    return pack(spec_to_wire(spec))


def spec_id(spec: RKMESpec) -> str:
    """Content id of a statistical spec (sha256 of `encode_spec`): how a `SpecSummary`
    names the full spec a node fetches, and how the fetcher checks what it got."""
    return content_id(encode_spec(spec))


def decode_spec(data: object, expected_id: str, *, checked: bool = False) -> RKMESpec:
    """A full spec from untrusted bytes that must have content id `expected_id`.
    `checked`: bytes this node checked before (its spec cache's), whose content id and
    canonical form are not checked again; the spec itself is validated as always."""
    check_content_id(expected_id, "expected spec id")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ProtocolError(f"spec: expected bytes, got {type(data).__name__}")
    if len(data) > limits.MAX_SPEC_BYTES:  # before hashing what a peer sent
        raise ProtocolError(f"spec: {len(data)} bytes, at most {limits.MAX_SPEC_BYTES} allowed")
    if not checked and content_id(data) != expected_id:
        raise SignatureError(f"spec: its content id is not the signed {expected_id}")
    return spec_from_wire(unpack(data, max_bytes=limits.MAX_SPEC_BYTES, what="spec",
                                 canonical=not checked))


def offer_fingerprint(semantic: SemanticSpec, spec_ids: Sequence[str]) -> bytes:
    """sha256 of a learnware's semantic spec and its statistical specs' content ids.

    Every offer of one learnware id (an announcement, whose spec ids are the hashes of
    its specs, or a summary, which states them) must agree on it; a fetched package's
    own specs must agree with its owner's offer (as they travel: float32 arrays).
    """
    tree = {"semantic": semantic.to_dict(), "specs": list(spec_ids)}
    return hashlib.sha256(pack(tree)).digest()


def spec_from_wire(value: object, where: str = "spec", *, lenient: bool = False) -> RKMESpec:
    """Rebuild a statistical spec from its wire map; any defect is a `ProtocolError`.

    `lenient` (a message of a newer minor): keys this version does not know are
    dropped, as for body fields, instead of refused.
    """
    if not isinstance(value, dict):
        raise ProtocolError(f"{where}: expected a map, got {type(value).__name__}")
    data = {k: v for k, v in value.items() if not lenient or k in SPEC_KEYS}
    for key, ndim in (("points", 2), ("weights", 1)):
        if key not in data:
            raise ProtocolError(f"{where}: missing field {key}")
        data[key] = array_from_wire(data[key], f"{where}.{key}", dtype=SPEC_ARRAY_DTYPE,
                                    ndim=ndim)
    try:
        return spec_from_dict(data)
    except _ENGINE_INPUT_ERRORS as exc:
        raise ProtocolError(f"{where}: {exc}") from None


def _semantic_from_wire(value: object, where: str, *, lenient: bool = False) -> SemanticSpec:
    """A semantic spec map; `lenient` (a message of a newer minor): keys this version
    does not know, in the spec, its input, output or features, are dropped (since 1.4;
    1.3 refused them, as 1.1 refused a spec's ``privacy``)."""
    if not isinstance(value, dict):
        raise ProtocolError(f"{where}: expected a map, got {type(value).__name__}")
    try:
        return SemanticSpec.from_dict(_known_semantic(value) if lenient else value)
    except _ENGINE_INPUT_ERRORS as exc:
        raise ProtocolError(f"{where}: {exc}") from None


def _known_semantic(value: dict[str, Any]) -> dict[str, Any]:
    """`value` with only the keys this version reads, at every level of the map."""
    out = {k: v for k, v in value.items() if k in SEMANTIC_FIELDS}
    if "input" in out:
        out["input"] = inp = _only(out["input"], INPUT_FIELDS)
        if isinstance(inp, dict) and isinstance(inp.get("features"), list):
            inp["features"] = [_only(f, FEATURE_FIELDS) for f in inp["features"]]
    if "output" in out:
        out["output"] = _only(out["output"], OUTPUT_FIELDS)
    return out


def _only(part: object, keys: Sequence[str]) -> object:
    """A map's `keys`; anything else as it is (the schema check refuses it)."""
    return {k: v for k, v in part.items() if k in keys} if isinstance(part, dict) else part


# -- envelopes ------------------------------------------------------------------------------
def _envelope_to_wire(env: SignedEnvelope) -> dict[str, Any]:
    return {"payload": env.payload, "public_key": env.public_key, "signature": env.signature}


def _envelope_from_wire(value: object, where: str) -> SignedEnvelope:
    try:
        r = MapReader(value, where)
        env = SignedEnvelope(r.take("payload"), r.take("public_key"), r.take("signature"))
        r.done()
    except SignatureError as exc:
        raise _with_path(where, exc) from None
    except ProtocolError as exc:
        raise SignatureError(str(exc)) from None
    return env


def encode_envelope(envelope: SignedEnvelope) -> bytes:
    """Canonical bytes of a signed envelope (what the announce topic carries)."""
    if not isinstance(envelope, SignedEnvelope):
        raise ProtocolError(f"expected a SignedEnvelope, got {type(envelope).__name__}")
    return pack(_envelope_to_wire(envelope))


def decode_envelope(data: object, *, checked: bool = False) -> SignedEnvelope:
    """Parse envelope bytes (not yet verified); any defect raises `SignatureError`.
    `checked`: bytes this node checked before (its store's), whose canonical form is
    not checked again."""
    try:
        value = unpack(data, max_bytes=limits.MAX_ENVELOPE_BYTES, what="envelope",
                       canonical=not checked)
    except ProtocolError as exc:
        raise SignatureError(str(exc)) from None
    return _envelope_from_wire(value, "envelope")


# -- bodies: to wire -------------------------------------------------------------------------
def _items(values: Sequence[T], where: str, each: Callable[[T, str], Any]) -> list[Any]:
    return [each(v, f"{where}[{i}]") for i, v in enumerate(values)]


def _requirement_to_wire(req: Requirement) -> dict[str, Any]:
    return {"semantic": None if req.semantic is None else req.semantic.to_dict(),
            "spec": None if req.spec is None else spec_to_wire(req.spec, "requirement.spec")}


def _hit_to_wire(hit: SearchHit) -> dict[str, Any]:
    out = {"announcement": _envelope_to_wire(hit.announcement),
           "learnware_id": hit.learnware_id, "mmd2": hit.mmd2, "owner": hit.owner,
           "package_url": hit.package_url, "score": hit.score, "size": hit.size}
    if hit.mapping is not None:  # an optional field (1.1) is absent, not nil, when unset
        out["mapping"] = hit.mapping.to_dict()
    return out


_TO_WIRE: dict[type[Any], Callable[[Any], dict[str, Any]]] = {
    SpecAnnouncement: lambda m: {
        "created_at": m.created_at, "learnware_id": m.learnware_id,
        "organization": m.organization, "owner": m.owner, "package_size": m.package_size,
        "package_urls": list(m.package_urls), "semantic": m.semantic.to_dict(),
        "sequence": m.sequence,
        "statistical": _items(m.statistical, "statistical", spec_to_wire)},
    Withdrawal: lambda m: {"created_at": m.created_at, "learnware_id": m.learnware_id,
                           "owner": m.owner, "sequence": m.sequence},
    DigestEntry: lambda e: {"count": e.count, "fingerprint": e.fingerprint,
                            "max_sequence": e.max_sequence, "owner": e.owner},
    Digest: lambda m: {"entries": [_TO_WIRE[DigestEntry](e) for e in m.entries],
                       "node": m.node, "range_end": m.range_end, "range_start": m.range_start,
                       **({} if m.holds.keeps_all else {"holds": m.holds.to_dict()})},
    SyncWant: lambda w: {"after_sequence": w.after_sequence, "owner": w.owner},
    SyncRequest: lambda m: {"cursor": m.cursor,
                            "wants": [_TO_WIRE[SyncWant](w) for w in m.wants],
                            **({"filters": [f.to_dict() for f in m.filters]}
                               if m.filters else {})},
    SyncResponse: lambda m: {"next_cursor": m.next_cursor,
                             "records": [_envelope_to_wire(e) for e in m.records]},
    Requirement: _requirement_to_wire,
    SearchRequest: lambda m: {
        "deadline_ms": m.deadline_ms, "k": m.k, "max_mixture": m.max_mixture,
        "query_id": m.query_id, "requirement": _requirement_to_wire(m.requirement),
        "ttl": m.ttl, "visited": list(m.visited)},
    SearchHit: _hit_to_wire,
    MixtureHit: lambda x: {"ids": list(x.ids), "mmd2": x.mmd2, "score": x.score,
                           "weights": list(x.weights)},
    SearchResponse: lambda m: {
        "hits": [_hit_to_wire(h) for h in m.hits], "missed": list(m.missed),
        "mixture": None if m.mixture is None else _TO_WIRE[MixtureHit](m.mixture),
        "partial": m.partial, "query_id": m.query_id, "responder": m.responder},
    ErrorReply: lambda m: {"code": m.code, "message": m.message},
    SignedEnvelope: _envelope_to_wire,
    SpecRef: lambda r: {"id": r.id, "points": r.points, "privacy": r.privacy,
                        "sketch": sketch_to_wire(r.sketch), "type": r.type},
    SpecSummary: lambda m: {
        "created_at": m.created_at, "learnware_id": m.learnware_id,
        "organization": m.organization, "owner": m.owner, "package_size": m.package_size,
        "package_urls": list(m.package_urls), "semantic": m.semantic.to_dict(),
        "sequence": m.sequence, "specs": [_TO_WIRE[SpecRef](r) for r in m.specs],
        **({"addrs": list(m.addrs)} if m.addrs else {})},  # 1.5: absent when none
    SpecRequest: lambda m: {"ids": list(m.ids), "ttl": m.ttl},
    SpecResponse: lambda m: {"specs": list(m.specs)},
}


def to_wire(obj: object) -> dict[str, Any]:
    """The wire map of a message body or of a nested message part."""
    convert = _TO_WIRE.get(type(obj))
    if convert is None:
        raise ProtocolError(f"{type(obj).__name__} is not a protocol message")
    return convert(obj)


def wire_bytes(obj: object) -> bytes:
    """Canonical bytes of `to_wire(obj)` (used for equality of spec-carrying messages)."""
    return pack(to_wire(obj))


# -- bodies: from wire -----------------------------------------------------------------------
def _build(cls: Callable[..., T], where: str, **fields: Any) -> T:
    try:
        return cls(**fields)
    except ProtocolError as exc:
        raise _with_path(where, exc) from None


def _list(value: object, where: str, each: Callable[[object, str], T]) -> list[T]:
    if not isinstance(value, list):
        raise ProtocolError(f"{where}: expected a list, got {type(value).__name__}")
    return [each(v, f"{where}[{i}]") for i, v in enumerate(value)]


class _Reader:
    """Decoders of every body, sharing the leniency of the enclosing message."""

    def __init__(self, lenient: bool) -> None:
        self.lenient = lenient

    def fields(self, value: object, where: str, keys: Sequence[str],
               optional: Sequence[str] = ()) -> dict[str, Any]:
        """The map's `keys` (each required) and those of `optional` it has."""
        r = MapReader(value, where, lenient=self.lenient)
        out = {key: r.take(key) for key in keys}
        out.update((key, r.take(key)) for key in optional if r.has(key))
        r.done()
        return out

    def spec_announcement(self, value: object, where: str) -> SpecAnnouncement:
        f = self.fields(value, where, ("learnware_id", "owner", "organization", "semantic",
                                       "statistical", "package_size", "package_urls",
                                       "sequence", "created_at"))
        f["semantic"] = _semantic_from_wire(f["semantic"], f"{where}.semantic",
                                            lenient=self.lenient)
        f["statistical"] = _list(f["statistical"], f"{where}.statistical",
                                 lambda v, w: spec_from_wire(v, w, lenient=self.lenient))
        return _build(SpecAnnouncement, where, **f)

    def spec_ref(self, value: object, where: str) -> SpecRef:
        f = self.fields(value, where, ("id", "type", "points", "privacy", "sketch"))
        f["sketch"] = sketch_from_wire(f["sketch"], f"{where}.sketch")
        return _build(SpecRef, where, **f)

    def spec_summary(self, value: object, where: str) -> SpecSummary:
        f = self.fields(value, where, ("learnware_id", "owner", "organization", "semantic",
                                       "specs", "package_size", "package_urls", "sequence",
                                       "created_at"), optional=("addrs",))
        f["semantic"] = _semantic_from_wire(f["semantic"], f"{where}.semantic",
                                            lenient=self.lenient)
        f["specs"] = _list(f["specs"], f"{where}.specs", self.spec_ref)
        if "addrs" in f:  # 1.5; a newer minor's address forms this node cannot read are
            # dropped, an address of another node refuses the record (`owner_addrs`)
            f["addrs"] = owner_addrs(f["addrs"], str(f["owner"]), f"{where}.addrs",
                                     lenient=self.lenient)
        return _build(SpecSummary, where, **f)

    def withdrawal(self, value: object, where: str) -> Withdrawal:
        f = self.fields(value, where, ("learnware_id", "owner", "sequence", "created_at"))
        return _build(Withdrawal, where, **f)

    def digest_entry(self, value: object, where: str) -> DigestEntry:
        f = self.fields(value, where, ("owner", "max_sequence", "count", "fingerprint"))
        return _build(DigestEntry, where, **f)

    def replication_filter(self, value: object, where: str) -> ReplicationFilter:
        return _build(ReplicationFilter, where,
                      **self.fields(value, where, ("data_types", "scenarios")))

    def digest(self, value: object, where: str) -> Digest:
        f = self.fields(value, where, ("node", "range_start", "range_end", "entries"),
                        optional=("holds",))
        f["entries"] = _list(f["entries"], f"{where}.entries", self.digest_entry)
        if "holds" in f:  # 1.4: absent means every learnware
            f["holds"] = self.replication_filter(f["holds"], f"{where}.holds")
        return _build(Digest, where, **f)

    def sync_want(self, value: object, where: str) -> SyncWant:
        return _build(SyncWant, where, **self.fields(value, where, ("owner", "after_sequence")))

    def sync_request(self, value: object, where: str) -> SyncRequest:
        f = self.fields(value, where, ("wants", "cursor"), optional=("filters",))
        f["wants"] = _list(f["wants"], f"{where}.wants", self.sync_want)
        if "filters" in f:  # 1.4
            f["filters"] = _list(f["filters"], f"{where}.filters", self.replication_filter)
        return _build(SyncRequest, where, **f)

    def sync_response(self, value: object, where: str) -> SyncResponse:
        f = self.fields(value, where, ("records", "next_cursor"))
        f["records"] = _list(f["records"], f"{where}.records", _envelope_from_wire)
        return _build(SyncResponse, where, **f)

    def requirement(self, value: object, where: str) -> Requirement:
        f = self.fields(value, where, ("semantic", "spec"))
        if f["semantic"] is not None:
            f["semantic"] = _semantic_from_wire(f["semantic"], f"{where}.semantic",
                                                lenient=self.lenient)
        if f["spec"] is not None:
            f["spec"] = spec_from_wire(f["spec"], f"{where}.spec", lenient=self.lenient)
        return _build(Requirement, where, **f)

    def search_request(self, value: object, where: str) -> SearchRequest:
        f = self.fields(value, where, ("query_id", "requirement", "k", "max_mixture", "ttl",
                                       "visited", "deadline_ms"))
        f["requirement"] = self.requirement(f["requirement"], f"{where}.requirement")
        return _build(SearchRequest, where, **f)

    def search_hit(self, value: object, where: str) -> SearchHit:
        f = self.fields(value, where, ("learnware_id", "owner", "mmd2", "score", "package_url",
                                       "size", "announcement"), optional=("mapping",))
        f["announcement"] = _envelope_from_wire(f["announcement"], f"{where}.announcement")
        if "mapping" in f:
            f["mapping"] = mapping_from_wire(f["mapping"], f"{where}.mapping")
        return _build(SearchHit, where, **f)

    def mixture_hit(self, value: object, where: str) -> MixtureHit:
        return _build(MixtureHit, where,
                      **self.fields(value, where, ("ids", "weights", "mmd2", "score")))

    def search_response(self, value: object, where: str) -> SearchResponse:
        f = self.fields(value, where, ("query_id", "responder", "hits", "mixture", "partial",
                                       "missed"))
        f["hits"] = _list(f["hits"], f"{where}.hits", self.search_hit)
        if f["mixture"] is not None:
            f["mixture"] = self.mixture_hit(f["mixture"], f"{where}.mixture")
        return _build(SearchResponse, where, **f)

    def spec_request(self, value: object, where: str) -> SpecRequest:
        return _build(SpecRequest, where, **self.fields(value, where, ("ids", "ttl")))

    def spec_response(self, value: object, where: str) -> SpecResponse:
        return _build(SpecResponse, where, **self.fields(value, where, ("specs",)))

    def error_reply(self, value: object, where: str) -> ErrorReply:
        return _build(ErrorReply, where, **self.fields(value, where, ("code", "message")))


# -- messages ----------------------------------------------------------------------------------
def _message_wire(message: Message) -> dict[str, Any]:
    return {"body": to_wire(message), "type": message.TYPE,
            "version": [SCHEMA_MAJOR, SCHEMA_MINOR]}


def encode_message(message: Message) -> bytes:
    """Canonical bytes of a message; refuses one over its byte limit."""
    if type(message) not in MESSAGE_TYPES.values():
        raise ProtocolError(f"{type(message).__name__} is not a top-level message")
    data = pack(_message_wire(message))
    limit = max_bytes_for(type(message))
    if len(data) > limit:
        raise ProtocolError(f"{message.TYPE}: encodes to {len(data)} bytes, at most {limit} "
                            "allowed")
    return data


def decode_message(data: object, expected: type[M] | tuple[type[Any], ...] | None = None,
                   *, checked: bool = False) -> M:
    """Decode and validate a message from untrusted bytes.

    Parameters
    ----------
    data
        The bytes as received.
    expected
        A message class (or tuple of classes) the caller accepts; another type is
        refused. None accepts every type.
    checked
        The bytes were checked by this node before (a record of its own store): the
        schema is validated as always, the canonical and normal forms are not
        re-encoded to be compared again (~40 % of decoding a stored summary).

    Raises
    ------
    UnsupportedVersionError
        The message's major schema version is not this node's.
    ProtocolError
        Anything else wrong, naming the field.
    """
    classes: tuple[Any, ...] = (expected if isinstance(expected, tuple) else (expected,)
                                if expected is not None else tuple(MESSAGE_TYPES.values()))
    limit = max(max_bytes_for(c) for c in classes)
    value = unpack(data, max_bytes=limit, what="message", canonical=not checked)
    top = MapReader(value, "message")
    kind, version, body = top.take("type"), top.take("version"), top.take("body")
    top.done()
    if not isinstance(kind, str):
        raise ProtocolError(f"message.type: expected a string, got {type(kind).__name__}")
    where = kind if len(kind) <= 40 else kind[:40] + "..."
    major, minor = check_schema_version(version, where)
    cls = MESSAGE_TYPES.get(kind)
    if cls is None:
        raise ProtocolError(f"message.type: {where!r} is not a known message type (sender "
                            f"speaks {major}.{minor}, this node {SCHEMA_MAJOR}.{SCHEMA_MINOR})")
    if cls not in classes:
        names = ", ".join(c.TYPE for c in classes)
        raise ProtocolError(f"message.type: expected {names}, got {kind}")
    assert isinstance(data, bytes | bytearray | memoryview)
    if len(data) > max_bytes_for(cls):
        raise ProtocolError(f"{kind}: {len(data)} bytes, at most {max_bytes_for(cls)} allowed")
    message = getattr(_Reader(lenient=minor > SCHEMA_MINOR), kind)(body, f"{kind}.body")
    if not checked and minor == SCHEMA_MINOR and pack(_message_wire(message)) != bytes(data):
        raise ProtocolError(f"{kind}: not in normal form (a field decodes to a value that "
                            "encodes differently, e.g. unsorted tags or a missing default)")
    # Who wrote it, not a field: a responder answers an older asker in its terms.
    object.__setattr__(message, "version", (major, minor))
    return message


def encoded_message_size(message: Message) -> int:
    """Bytes of the canonical encoding, without the limit check (for paging)."""
    return len(pack(_message_wire(message)))


def fit_prefix(build: Callable[[tuple[T, ...]], Message], items: Sequence[T],
               max_bytes: int | None = None) -> int:
    """The largest n such that ``build(items[:n])`` encodes within the byte limit.

    Use it to page a `SyncResponse` or to cut a `SearchResponse`'s hits: the items
    are in priority order and `build` makes the message from a prefix of them.
    """
    lo, hi = 0, len(items)
    probe = build(tuple(items[:0]))
    limit = max_bytes_for(type(probe)) if max_bytes is None else max_bytes
    if encoded_message_size(probe) > limit:
        raise ProtocolError(f"{probe.TYPE}: even an empty page exceeds {limit} bytes")
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if encoded_message_size(build(tuple(items[:mid]))) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return lo
