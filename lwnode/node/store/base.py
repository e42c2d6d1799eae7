"""The `Store` interface and the rows it keeps.

What a node keeps, and why:

- **records**: the latest signed record (announcement or tombstone) per
  (owner, learnware id), its own and its peers', byte-exact as signed (kept
  deflated on disk: `packing`), so it can gossip them, answer anti-entropy and
  rebuild its catalog. A few fields of the semantic spec are copied into columns so
  listings filter in SQL.
- **own learnwares**: the packages this node hosts (blob, size, check report,
  status). An active one always has its blob and its signed announcement.
- **sequences**: the last sequence number this node issued (per owner id, so a
  node that changes key starts a new series).
- **peers**: nodes met on the network.
- **pins**: organization names pinned to the first key seen using them (trust on
  first use: another key claiming a pinned name is refused).

The store holds bytes and plain values; it neither signs nor decodes (the service
does), so it stays small and its crash behaviour is easy to test.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from lwnode.node.diskbudget import Tally
from lwnode.node.store.blobs import BlobWriter
from protocol.replication import ReplicationFilter

RecordKind = Literal["announcement", "withdrawal"]
ANNOUNCEMENT: RecordKind = "announcement"
WITHDRAWAL: RecordKind = "withdrawal"


@dataclass(frozen=True)
class RecordRow:
    """One signed record as the store keeps it.

    `envelope` is the encoded signed envelope; the other fields repeat what it says
    (the service fills them from the verified record). Withdrawals leave the
    descriptive fields empty.
    """

    owner: str
    learnware_id: str
    sequence: int
    kind: RecordKind
    envelope: bytes
    received_at: int
    organization: str = ""
    name: str = ""
    data_type: str = ""
    task_type: str = ""
    library: str = ""
    license: str = ""
    scenarios: tuple[str, ...] = ()
    package_size: int = 0


@dataclass(frozen=True)
class OwnLearnware:
    """A package this node hosts."""

    learnware_id: str
    owner: str
    size: int
    status: Literal["active", "withdrawn"]
    report: str
    published_at: int
    sequence: int
    withdrawn_at: int | None = None


@dataclass(frozen=True)
class PeerRow:
    """A node met on the network (filled by the peer layer)."""

    node_id: str
    peer_id: str = ""
    organization: str = ""
    http_url: str = ""
    multiaddrs: tuple[str, ...] = ()
    first_seen: int = 0
    last_seen: int = 0


@dataclass(frozen=True)
class Pin:
    """An organization name pinned to the first owner (key) seen announcing under it."""

    organization: str
    owner: str
    public_key: bytes
    first_seen: int


@dataclass(frozen=True)
class RecordFilter:
    """Which announcements a listing returns; empty fields do not filter."""

    owner: str = ""
    data_type: str = ""
    task_type: str = ""
    library: str = ""
    license: str = ""
    scenarios: tuple[str, ...] = ()
    name: str = ""


@dataclass(frozen=True)
class Problem:
    """One inconsistency found by `Store.verify` (`kind` is a stable word)."""

    kind: str
    detail: str


@dataclass(frozen=True)
class Counts:
    own_active: int
    own_withdrawn: int
    announcements: int
    withdrawals: int
    owners: int
    peers: int


@dataclass(frozen=True)
class Page:
    rows: tuple[RecordRow, ...]
    next_cursor: str | None = None


@dataclass(frozen=True)
class Recovery:
    """What `open` cleaned up after an unclean stop."""

    temp_files: int = 0
    orphan_blobs: tuple[str, ...] = field(default=())


MakeRecord = Callable[[int], RecordRow]
"""Given the sequence number the store assigns, build (sign) the record."""


class ChangeFeed(ABC):
    """The records in the order they were written (the persisted catalog index reads
    them: `lwnode.node.segment`)."""

    @abstractmethod
    def changes_after(self, change: int, batch: int = 2000
                      ) -> Iterator[tuple[int, RecordRow]]:
        """(change number, record) of every record written after `change`, oldest first;
        `scenarios` is left empty (read the offer's semantic spec instead). Each write
        takes a number above every number kept, so a reader that saw everything up to
        `change` catches up with the records this yields."""

    @abstractmethod
    def change_mark(self) -> tuple[str, int]:
        """(epoch, last change number): the epoch is drawn once per database (a copy
        restored from a backup keeps it, with the history up to the backup)."""

    @abstractmethod
    def close(self) -> None: ...


class Store(ChangeFeed):
    """A node's persistent state (see the module doc). Thread-safe.

    Every method is short and synchronous; the service calls them from one
    store thread so the event loop never waits on a disk.
    """

    recovery: Recovery

    # -- own learnwares ---------------------------------------------------------------
    @abstractmethod
    def blob_writer(self) -> BlobWriter:
        """A temporary file for an upload (commit it with `add_own`, or discard it)."""

    @abstractmethod
    def add_own(self, writer: BlobWriter, owner: str, report: str, make_record: MakeRecord,
                now: int) -> tuple[OwnLearnware, bool]:
        """Make an upload a hosted learnware: blob, announcement and row, all or nothing.

        Idempotent by content id: if the learnware is already active, the upload is
        discarded and ``(existing, False)`` returned. Otherwise the blob is verified
        and made durable, then one transaction takes the owner's next sequence,
        calls ``make_record(sequence)`` and writes the record and the row; returns
        ``(learnware, True)``.
        """

    @abstractmethod
    def withdraw_own(self, learnware_id: str, make_record: MakeRecord, now: int
                     ) -> OwnLearnware:
        """Replace the announcement by a tombstone and delete the blob.

        Raises `NotFound` for an id this node does not host, `Gone` if it is
        already withdrawn.
        """

    @abstractmethod
    def renew_own(self, learnware_id: str, make_record: MakeRecord) -> RecordRow:
        """Sign an active own learnware's announcement again at the owner's next
        sequence (``make_record(sequence)``: the same statement, a new sequence) and keep
        it in place of the old one, in one transaction; returns the new row.

        Raises `NotFound` for an id this node does not host, `Gone` if it is withdrawn.
        """

    @abstractmethod
    def get_own(self, learnware_id: str) -> OwnLearnware | None: ...

    @abstractmethod
    def list_own(self) -> list[OwnLearnware]: ...

    @abstractmethod
    def blob_path(self, learnware_id: str) -> Path:
        """Path of an active learnware's package (raises `NotFound` / `Gone`)."""

    # -- records ------------------------------------------------------------------------
    @abstractmethod
    def put_record(self, row: RecordRow) -> bool:
        """Keep a peer's record if it is newer than the one held (replay rule).

        Returns False (and changes nothing) for a sequence not above the kept one.
        Records of this node's own learnwares are written by `add_own` and
        `withdraw_own` only.
        """

    @abstractmethod
    def put_records(self, rows: Sequence[RecordRow]) -> list[bool]:
        """`put_record` for many rows in one transaction (a sync page, a bulk load)."""

    @abstractmethod
    def get_record(self, owner: str, learnware_id: str) -> RecordRow | None: ...

    @abstractmethod
    def records_for(self, learnware_id: str) -> list[RecordRow]:
        """Every owner's latest record for a learnware id."""

    @abstractmethod
    def list_announcements(self, where: RecordFilter, limit: int, cursor: str | None = None
                           ) -> Page:
        """Announcements matching `where`, ordered by (learnware id, owner), paginated."""

    @abstractmethod
    def iter_announcements(self, batch: int = 1000) -> Iterator[RecordRow]:
        """Every announcement (for rebuilding the catalog at start-up)."""

    @abstractmethod
    def records_after(self, owner: str, after_sequence: int, limit: int,
                      filters: Sequence[ReplicationFilter] = ()) -> list[RecordRow]:
        """An owner's records with a higher sequence, in sequence order (anti-entropy),
        of those that pass every replication filter."""

    @abstractmethod
    def owner_sequences(self, owner: str, filters: Sequence[ReplicationFilter] = ()
                        ) -> list[tuple[str, int]]:
        """(learnware id, sequence) of every record kept for `owner` that passes every
        filter (digests)."""

    @abstractmethod
    def owners_changed_after(self, change: int) -> set[str]:
        """Owners with a record written after `change` (see `changes_after`)."""

    @abstractmethod
    def drop_not_kept(self, holds: ReplicationFilter, own: str) -> int:
        """Delete the stored announcements of peers' learnwares outside `holds` (not
        `own`'s, not withdrawals); returns how many. The store takes a new epoch when
        any goes, so the persisted catalog index is written anew."""

    @abstractmethod
    def drop_some_not_kept(self, holds: ReplicationFilter, own: str, after: int,
                           limit: int) -> tuple[int, int]:
        """`drop_not_kept` a part at a time (a running node's store serves other
        requests in between): at most `limit` of them, those with the lowest change
        numbers above `after`, in one transaction; returns how many, and the `after`
        of the next call (-1: none is left)."""

    @abstractmethod
    def tally(self, own: str, *, peers: bool = True) -> Tally:
        """The records counted by data type and tag, `own`'s apart (`diskbudget.Tally`):
        one pass over the store, for a node over its disk budget. Without `peers`, only
        `own`'s (a few rows; `records` and the peers' counts are then 0)."""

    @abstractmethod
    def disk_bytes(self) -> int:
        """Bytes of the database's pages in use, and of its write-ahead log (what it
        holds is on disk too, until a checkpoint copies it into the database). Pages
        freed by deletions are reused before the file grows: not counted."""

    @abstractmethod
    def reclaim(self, share: float = 0.25, *, force: bool = False) -> int:
        """Give the pages deletions freed back to the file system when they are more
        than `share` of the database, or always with `force` (a vacuum: a rewrite of
        what is kept, which also packs pages that deletions left part empty — rows
        deleted across the table free few whole pages); returns the bytes freed."""

    def settle_log(self) -> None:
        """Truncate the write-ahead log if the last `reclaim` could not: a reader
        holding an older view (the index rewrite's snapshot) keeps the vacuum's pages
        in the log, which the disk budget counts. Nothing to do without a log."""

    @abstractmethod
    def meta(self, key: str) -> str | None:
        """A small value the node keeps across restarts (None if unset)."""

    @abstractmethod
    def set_meta(self, key: str, value: str | None) -> None:
        """Keep (None: forget) a small value across restarts."""

    @abstractmethod
    def owners(self, filters: Sequence[ReplicationFilter] = ()) -> list[tuple[str, int, int]]:
        """(owner, max sequence, record count) of every owner, sorted by owner, counting
        the records that pass every filter (an owner with none is left out)."""

    @abstractmethod
    def last_sequence(self, owner: str) -> int:
        """The last sequence this node issued as `owner` (0 if none)."""

    # -- peers --------------------------------------------------------------------------
    @abstractmethod
    def upsert_peer(self, peer: PeerRow) -> None: ...

    @abstractmethod
    def list_peers(self) -> list[PeerRow]: ...

    @abstractmethod
    def remove_peer(self, node_id: str) -> None: ...

    # -- trust on first use ---------------------------------------------------------------
    @abstractmethod
    def pinned(self, organizations: Sequence[str]) -> dict[str, Pin]:
        """The pins of those organization names that have one."""

    @abstractmethod
    def pin(self, pins: Sequence[Pin]) -> None:
        """Pin organization names not pinned yet (an existing pin is never replaced)."""

    @abstractmethod
    def list_pins(self) -> list[Pin]: ...

    # -- upkeep -------------------------------------------------------------------------
    @abstractmethod
    def counts(self) -> Counts: ...

    @abstractmethod
    def verify(self, *, deep: bool = True) -> list[Problem]:
        """Every inconsistency between database and blobs (empty when sound).

        `deep` re-hashes every blob. Never repairs: see `recover`.
        """

    @abstractmethod
    def recover(self) -> Recovery:
        """Delete what an interrupted publish or withdrawal can leave: temporary
        uploads and blobs no active learnware owns. Run by `open`."""

    @abstractmethod
    def schema_version(self) -> int: ...

    def snapshot(self) -> ChangeFeed | None:
        """The records as they are now, readable from another thread while this store
        keeps writing (close it when done); None where the store cannot give one (in
        memory)."""
        return None

    def database_path(self) -> Path | None:
        """The database file, for another process to read a snapshot of (None: in
        memory)."""
        return None

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
