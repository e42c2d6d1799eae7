"""Anti-entropy and replay rules: what a receiver needs to keep its catalog right.

The rule. Every record an owner signs carries the owner's next `sequence` (a summary
carries its announcement's). Per (owner, learnware id) a receiver keeps only the
record with the highest sequence; a record whose sequence is not higher than the
kept one is a replay or stale and is dropped (`is_newer`). A withdrawal thus cannot
be undone by replaying the old announcement, and an old withdrawal cannot remove a
re-publication.

Catching up. Gossip is best-effort, so nodes periodically compare digests:

1. A sends B a `Digest` of the owners in a range; B answers with its own digest of
   the same range (`split_digests` pages the owner space).
2. A computes `wants_from(mine, theirs)` and sends `SyncRequest(wants)`; B answers
   `SyncResponse` pages (each record byte-exact as signed) until `next_cursor` is
   empty. A verifies each record and applies the rule above.

`wants_from` asks for records after A's own `max_sequence` when B is ahead, and for
all of an owner's records when the fingerprints differ at the same height (A missed
a record in the middle); two rounds always converge.

A summary carries the sequence of the announcement it summarises, and fingerprints
are over (learnware id, sequence) only, so a node keeping the summary and one
keeping the announcement of a learnware agree: either stands for the other here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence

from protocol import limits
from protocol.errors import ProtocolError
from protocol.messages import Digest, DigestEntry, Record, SyncWant
from protocol.validate import check_int
from protocol.wire import pack, unpack


def owner_fingerprint(records: Iterable[tuple[str, int]]) -> bytes:
    """sha256 of the lines ``"<learnware_id> <sequence>\\n"``, sorted by learnware id.

    `records` holds one (learnware id, sequence) per learnware of one owner: the
    sequence of the latest record kept (announcement, summary or withdrawal).
    """
    h = hashlib.sha256()
    for learnware_id, sequence in sorted(records):
        h.update(f"{learnware_id} {sequence}\n".encode())
    return h.digest()


def is_newer(sequence: int, known: int | None) -> bool:
    """True if a record with `sequence` supersedes the kept one (None: nothing kept)."""
    return known is None or sequence > known


class SequenceBook:
    """The latest sequence per (owner, learnware id): the replay rule, in memory.

    A node's store keeps the same numbers on disk; this class is the reference
    behaviour (and what tests and in-memory nodes use).
    """

    def __init__(self) -> None:
        self._latest: dict[str, dict[str, int]] = {}

    def accept(self, record: Record) -> bool:
        """Record `record` if it is newer than what is kept; False for a replay."""
        kept = self._latest.setdefault(record.owner, {})
        if not is_newer(record.sequence, kept.get(record.learnware_id)):
            return False
        kept[record.learnware_id] = record.sequence
        return True

    def sequence_of(self, owner: str, learnware_id: str) -> int | None:
        return self._latest.get(owner, {}).get(learnware_id)

    def entry(self, owner: str) -> DigestEntry | None:
        """This book's digest entry for `owner` (None if nothing is held)."""
        kept = self._latest.get(owner)
        if not kept:
            return None
        return DigestEntry(owner, max(kept.values()), len(kept),
                           owner_fingerprint(kept.items()))

    def entries(self) -> list[DigestEntry]:
        """Digest entries of every owner, sorted by owner."""
        return [e for owner in sorted(self._latest) if (e := self.entry(owner)) is not None]


def split_digests(node: str, entries: Sequence[DigestEntry],
                  per_digest: int = limits.MAX_DIGEST_ENTRIES) -> list[Digest]:
    """Cover the whole owner space with consecutive digests of at most `per_digest`.

    `entries` must be sorted by owner. The first digest starts at "" and the last
    ends at "" (no bound), so the ranges tile the space with no gap.
    """
    if not 1 <= per_digest <= limits.MAX_DIGEST_ENTRIES:
        raise ProtocolError(f"per_digest: expected 1..{limits.MAX_DIGEST_ENTRIES}")
    chunks = [tuple(entries[i:i + per_digest]) for i in range(0, len(entries), per_digest)]
    chunks = chunks or [()]
    out = []
    for i, chunk in enumerate(chunks):
        start = "" if i == 0 else chunk[0].owner
        end = "" if i == len(chunks) - 1 else chunks[i + 1][0].owner
        out.append(Digest(node, start, end, chunk))
    return out


def wants_from(mine: Mapping[str, DigestEntry], theirs: Digest) -> tuple[SyncWant, ...]:
    """What to request from the sender of `theirs`, given my entries by owner."""
    wants = []
    for entry in theirs.entries:
        own = mine.get(entry.owner)
        if own is None:
            wants.append(SyncWant(entry.owner, 0))
        elif own.fingerprint != entry.fingerprint:
            ahead = entry.max_sequence > own.max_sequence
            wants.append(SyncWant(entry.owner, own.max_sequence if ahead else 0))
    return tuple(wants[:limits.MAX_SYNC_WANTS])


def make_cursor(owner: str, sequence: int) -> bytes:
    """A resume point "after (owner, sequence)" for a responder's `next_cursor`.

    The cursor is opaque to the requester; responders may use any bytes up to
    `MAX_CURSOR_BYTES`. This is the format the reference node uses.
    """
    return pack([owner, sequence])


def read_cursor(cursor: bytes) -> tuple[str, int]:
    """Parse `make_cursor` bytes (from an untrusted requester)."""
    value = unpack(cursor, max_bytes=limits.MAX_CURSOR_BYTES, what="cursor")
    if not isinstance(value, list) or len(value) != 2 or not isinstance(value[0], str):
        raise ProtocolError("cursor: expected [owner, sequence]")
    return value[0], check_int(value[1], "cursor.sequence", 0, limits.MAX_SEQUENCE)
