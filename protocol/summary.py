"""Compact announcements (schema 1.3): an announcement's summary and its specs by id.

A `SpecAnnouncement` carries every full statistical spec (K x d floats: 4 KB for a
10-column table, ~150 KB for a text spec); a `SpecSummary` carries, per spec, its
content id, type, number of points, privacy record and a sketch (about 500 bytes in
all), signed by the owner like the announcement. A node holding only the summary
ranks the learnware by its sketch and fetches a full spec by id when it needs it
(`SpecRequest` -> `SpecResponse`), from the owner or any node that kept it:
`decode_spec` refuses bytes whose content id is not the signed one, so whoever
serves them cannot change them.

`summary_of` is a pure function of the announcement: the sketches are computed from
the specs *as they travel* (float32 points, decoded), so every node derives the same
summary from the same announcement, bit for bit on one platform.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from engine.search.sketch import DEFAULT_SKETCH_FEATURES, make_sketch
from engine.specification.rkme import RKMESpec
from protocol import limits
from protocol.codec import decode_spec, encode_spec, encoded_message_size, spec_id
from protocol.content import check_content_id, content_id
from protocol.errors import ProtocolError
from protocol.messages import SpecAnnouncement, SpecRef, SpecResponse, SpecSummary
from protocol.validate import check_int

__all__ = ["asked_items", "pack_spec_response", "ref_of", "spec_ids_of", "specs_of_response",
           "summary_of"]


def ref_of(spec: RKMESpec, *, n_features: int = DEFAULT_SKETCH_FEATURES) -> SpecRef:
    """The `SpecRef` of one statistical spec (id and sketch of its wire form)."""
    data = encode_spec(spec)
    spec_id = content_id(data)
    travelled = decode_spec(data, spec_id)
    return SpecRef(id=spec_id, type=travelled.kind,
                   points=len(travelled.points_), privacy=travelled.privacy_,
                   sketch=make_sketch(travelled, n_features=n_features))


def summary_of(announcement: SpecAnnouncement, *,
               n_features: int = DEFAULT_SKETCH_FEATURES,
               addrs: tuple[str, ...] = ()) -> SpecSummary:
    """The summary of an announcement: same owner, id, sequence and semantic spec;
    `addrs` (1.5, the owner's own summary only) where the owner listens."""
    a = announcement
    return SpecSummary(
        learnware_id=a.learnware_id, owner=a.owner, organization=a.organization,
        semantic=a.semantic, specs=tuple(ref_of(s, n_features=n_features) for s in a.statistical),
        package_size=a.package_size, package_urls=a.package_urls, sequence=a.sequence,
        created_at=a.created_at, addrs=addrs)


def spec_ids_of(offer: SpecAnnouncement | SpecSummary) -> tuple[str, ...]:
    """Content ids of an offer's statistical specs, in order (a summary states them; an
    announcement's are the hashes of its specs' wire form)."""
    if isinstance(offer, SpecSummary):
        return tuple(ref.id for ref in offer.specs)
    return tuple(spec_id(s) for s in offer.statistical)


def asked_items(response: SpecResponse, wanted: Iterable[str]
                ) -> tuple[dict[str, bytes], int]:
    """The items of a peer's `SpecResponse` whose content id was asked for, by id (named
    by hashing them, never by anything the peer says), and how many others it carried
    (not asked for, or repeated). The bytes are not decoded here."""
    if not isinstance(response, SpecResponse):
        raise ProtocolError(f"expected a SpecResponse, got {type(response).__name__}")
    asked = {check_content_id(sid, f"wanted[{i}]") for i, sid in enumerate(wanted)}
    found: dict[str, bytes] = {}
    dropped = 0
    for data in response.specs:  # each at most MAX_SPEC_BYTES: checked when decoded
        sid = content_id(data)
        if sid not in asked or sid in found:
            dropped += 1
        else:
            found[sid] = bytes(data)
    return found, dropped


def specs_of_response(response: SpecResponse, wanted: Iterable[str]
                      ) -> tuple[dict[str, RKMESpec], int]:
    """The specs of a peer's `SpecResponse` that were asked for, and how many items were not.

    Each item is named by hashing it, never by anything the peer says, so a peer cannot
    pass one spec off as another. An item whose content id is not in `wanted`, a second
    item of an id already taken, or one that does not decode as a spec is dropped and
    counted (a node may charge the peer for them).

    Returns ``(specs by content id, number of dropped items)``.
    """
    items, dropped = asked_items(response, wanted)
    found: dict[str, RKMESpec] = {}
    for sid, data in items.items():
        try:
            found[sid] = decode_spec(data, sid)
        except ProtocolError:
            dropped += 1
    return found, dropped


def pack_spec_response(encoded: Sequence[bytes], *, max_bytes: int | None = None
                       ) -> SpecResponse:
    """A `SpecResponse` of as many of `encoded` (specs as `encode_spec` makes them, in
    the responder's order of preference) as fit in `max_bytes` (default and at most
    `MAX_MESSAGE_BYTES`) and `MAX_SPEC_IDS` items.

    An item that does not fit is skipped and a later, smaller one may still go in; the
    asker asks again for the ids it did not get. Repeats are left out: the asker would
    count them against this node. An item over `MAX_SPEC_BYTES` (a spec no
    announcement can carry) raises `ProtocolError`.
    """
    limit = check_int(limits.MAX_MESSAGE_BYTES if max_bytes is None else max_bytes,
                      "max_bytes", 1, limits.MAX_MESSAGE_BYTES)
    taken: list[bytes] = []
    for data in encoded:
        if len(taken) == limits.MAX_SPEC_IDS:
            break
        if data in taken:
            continue
        if encoded_message_size(SpecResponse((*taken, data))) <= limit:
            taken.append(data)
    response = SpecResponse(tuple(taken))
    if encoded_message_size(response) > limit:
        raise ProtocolError(f"spec_response: even an empty response exceeds {limit} bytes")
    return response
