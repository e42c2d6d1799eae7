"""Schema version and the versioned protocol ids of the network.

A protocol id is ``/lwdock/<name>/<major>.<minor>.<patch>`` (libp2p style). Every
message also carries its schema version ``[major, minor]``. The rules:

- *major*: incompatible change. A node refuses messages and protocol ids of a major
  it does not speak, with `UnsupportedVersionError`.
- *minor*: additive change (a new optional field, a new message type). A node reads
  a newer minor of its major and ignores body fields it does not know; it rejects
  unknown fields only in messages of its own or an older minor.
- *patch*: no wire change (documentation, clarified semantics).

Protocol ids change with the major only: libp2p negotiates a protocol id and a
gossip topic by exact string, so a minor in the id would split 1.0 and 1.1 nodes
apart, where the minor rule wants them to keep talking. Each message's own
``version`` says which minor wrote it.

History: 1.1 added ``SearchHit.mapping`` (the column map of a heterogeneous match);
1.2 added the optional ``privacy`` record inside a statistical spec (signed with it);
1.3 added the signed ``spec_summary`` record (gossiped on its own topic, kept and
synced like an announcement), ``spec_request``/``spec_response`` for full specs by
content id, and summaries as search hits; 1.4 added the optional ``range`` of a
semantic spec's feature (a column's declared [low, high]; a node drops the keys a newer
minor adds inside a semantic spec instead of refusing them) and replication filters
(``holds`` in a digest, ``filters`` in a sync request) for nodes that keep part of the
catalog; 1.5 added the optional ``addrs`` of a summary (the owner's p2p multiaddrs, so a
node that never met it can dial it for full specs; `protocol.owneraddrs`).
"""

from __future__ import annotations

import re
from typing import Final

from protocol.errors import ProtocolError, UnsupportedVersionError

SCHEMA_MAJOR: Final = 1
SCHEMA_MINOR: Final = 5
PATCH: Final = 0
SCHEMA_VERSION: Final = (SCHEMA_MAJOR, SCHEMA_MINOR)
VERSION_STRING: Final = f"{SCHEMA_MAJOR}.{SCHEMA_MINOR}.{PATCH}"
SCHEMA_STRING: Final = f"{SCHEMA_MAJOR}.{SCHEMA_MINOR}"
"""The protocol as a node reports it (``/v1/health``'s ``protocol``, ``lwnode status``,
``lwnode --version``): the schema, which is what nodes compare; the patch is not sent."""
PROTOCOL_ID_VERSION: Final = f"{SCHEMA_MAJOR}.0.0"
"""The version in protocol ids and topics: the major's first release (see above)."""


def protocol_id(name: str) -> str:
    """The id of protocol `name` for this node's major."""
    return f"/lwdock/{name}/{PROTOCOL_ID_VERSION}"


ANNOUNCE_TOPIC: Final = protocol_id("announce")
"""GossipSub topic: one signed envelope (announcement or withdrawal) per message."""

SYNC_PROTOCOL: Final = protocol_id("sync")
"""Stream protocol for anti-entropy: Digest <-> Digest, SyncRequest -> SyncResponse."""

SEARCH_PROTOCOL: Final = protocol_id("search")
"""Stream protocol for routed search: SearchRequest -> SearchResponse or ErrorReply."""

SUMMARY_TOPIC: Final = protocol_id("summary")
"""GossipSub topic (1.3): one signed envelope (summary or withdrawal) per message."""

SPECS_PROTOCOL: Final = protocol_id("specs")
"""Stream protocol (1.3) for full specs by content id: SpecRequest -> SpecResponse or
ErrorReply."""

PROTOCOL_IDS: Final = (ANNOUNCE_TOPIC, SYNC_PROTOCOL, SEARCH_PROTOCOL, SUMMARY_TOPIC,
                       SPECS_PROTOCOL)

SUMMARIES_SINCE: Final = (1, 3)
"""The first schema version whose nodes read `SpecSummary` records."""


def reads_summaries(version: tuple[int, int]) -> bool:
    """Whether the writer of a message of schema `version` can verify a `SpecSummary`.

    A node answering a request (`Message.version`: what its writer speaks) sends an
    older asker full announcements only: a 1.2 node refuses the unknown record type.
    """
    return tuple(version) >= SUMMARIES_SINCE

FILTERS_SINCE: Final = (1, 4)
"""The first schema version whose nodes honour replication filters in anti-entropy."""


def honours_filters(version: tuple[int, int]) -> bool:
    """Whether the writer of a message of schema `version` reads `Digest.holds` and
    `SyncRequest.filters` (an older node ignores them and answers for everything)."""
    return tuple(version) >= FILTERS_SINCE


_ID_RE = re.compile(r"/lwdock/([a-z][a-z0-9-]{0,31})/(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})"
                    r"\.(0|[1-9][0-9]{0,5})")


def parse_protocol_id(value: object) -> tuple[str, tuple[int, int, int]]:
    """Split a protocol id into its name and (major, minor, patch).

    Raises `ProtocolError` for anything that is not a well-formed lwdock id.
    """
    if not isinstance(value, str) or len(value) > 64:
        raise ProtocolError(f"protocol id: expected a string of at most 64 characters, "
                            f"got {value!r:.80}")
    match = _ID_RE.fullmatch(value)
    if match is None:
        raise ProtocolError(f"protocol id: {value!r} is not /lwdock/<name>/<major>.<minor>."
                            "<patch>")
    name, major, minor, patch = match.groups()
    return name, (int(major), int(minor), int(patch))


def check_protocol_id(value: object) -> str:
    """Return the protocol name if this node can speak `value`, else raise.

    A different major raises `UnsupportedVersionError`; any minor and patch of our
    major are accepted (minor changes are additive).
    """
    name, (major, _, _) = parse_protocol_id(value)
    if major != SCHEMA_MAJOR:
        raise UnsupportedVersionError(
            f"protocol id {value}: major version {major} is not supported "
            f"(this node speaks {SCHEMA_MAJOR}.x)")
    return name


def check_schema_version(value: object, where: str) -> tuple[int, int]:
    """Validate a message's ``[major, minor]`` and refuse an unknown major."""
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 65_535
                       for v in value)):
        raise ProtocolError(f"{where}.version: expected [major, minor] of integers in "
                            f"0..65535, got {value!r:.80}")
    major, minor = value
    if major != SCHEMA_MAJOR:
        raise UnsupportedVersionError(
            f"{where}: schema version {major}.{minor} is not supported (this node speaks "
            f"{SCHEMA_MAJOR}.x); the sender runs an incompatible lwdock")
    return major, minor
