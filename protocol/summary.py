"""Compact announcements (schema 1.3 draft): an announcement's summary and its specs by id.

A `SpecAnnouncement` carries every full statistical spec (K x d floats: 4 KB for a
10-column table, ~150 KB for a text spec); a `SpecSummary` carries, per spec, its
content id, type, number of points, privacy record and a sketch (about 500 bytes in
all), signed by the owner like the announcement. A node holding only the summary
ranks the learnware by its sketch and fetches a full spec by id when it needs it,
from the owner or any node that kept it: `decode_spec` refuses bytes whose content
id is not the signed one, so whoever serves them cannot change them.

`summary_of` is a pure function of the announcement: the sketches are computed from
the specs *as they travel* (float32 points, decoded), so every node derives the same
summary from the same announcement, bit for bit on one platform. The node does not
send or accept summaries yet (docs/protocol.md, section 12).
"""

from __future__ import annotations

from engine.search.sketch import DEFAULT_SKETCH_FEATURES, make_sketch
from engine.specification.rkme import RKMESpec
from protocol.codec import decode_spec, encode_spec
from protocol.content import content_id
from protocol.messages import SpecAnnouncement, SpecRef, SpecSummary

__all__ = ["ref_of", "summary_of"]


def ref_of(spec: RKMESpec, *, n_features: int = DEFAULT_SKETCH_FEATURES) -> SpecRef:
    """The `SpecRef` of one statistical spec (id and sketch of its wire form)."""
    data = encode_spec(spec)
    spec_id = content_id(data)
    travelled = decode_spec(data, spec_id)
    return SpecRef(id=spec_id, type=travelled.kind,
                   points=len(travelled.points_), privacy=travelled.privacy_,
                   sketch=make_sketch(travelled, n_features=n_features))


def summary_of(announcement: SpecAnnouncement, *,
               n_features: int = DEFAULT_SKETCH_FEATURES) -> SpecSummary:
    """The summary of an announcement: same owner, id, sequence and semantic spec."""
    a = announcement
    return SpecSummary(
        learnware_id=a.learnware_id, owner=a.owner, organization=a.organization,
        semantic=a.semantic, specs=tuple(ref_of(s, n_features=n_features) for s in a.statistical),
        package_size=a.package_size, package_urls=a.package_urls, sequence=a.sequence,
        created_at=a.created_at)

